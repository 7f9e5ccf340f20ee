"""format: packing keeps examples apart (each scores as it does alone), the unpacked batch is as it was, and a model
that lets packed examples see each other is refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from lm_fixtures import pref_csv, sft_csv, tiny_lm  # noqa: F401  (fixtures)

from headstart.errors import ConfigError
from headstart.llm.format import IGNORE, check_packing, collate, collate_packed, pack, response_loss, token_logps

VOCAB = 64


def tiny_causal_lm(arch: str, attention: str) -> torch.nn.Module:
    """A 2-layer (Gemma-3: 3-layer) 32-wide random causal LM in fp32; Gemma-3's sliding window (4 tokens) is shorter
    than the examples, so a mask that lost it would show."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    shape = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
                 max_position_embeddings=64, initializer_range=0.2, pad_token_id=0, attn_implementation=attention)
    if arch == "llama":
        return LlamaForCausalLM(LlamaConfig(num_hidden_layers=2, **shape)).eval()
    config = Gemma3TextConfig(num_hidden_layers=3, head_dim=8, sliding_window=4,
                              layer_types=["sliding_attention", "sliding_attention", "full_attention"], **shape)
    return Gemma3ForCausalLM(config).eval()


def made_up_examples(lengths: list[tuple[int, int]], seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """(ids, labels) of examples with (prompt, response) token counts ``lengths``, ids drawn with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    examples = []
    for p, r in lengths:
        ids = torch.randint(1, VOCAB, (p + r,), generator=g).tolist()
        examples.append((ids, [IGNORE] * p + ids[p:]))
    return examples


EXAMPLES = made_up_examples([(3, 4), (2, 6), (4, 2), (5, 5), (1, 3), (3, 3)])  # 7, 8, 6, 10, 4, 6 tokens


def alone(model: torch.nn.Module, ex: tuple[list[int], list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(L-1,) log-probs and counted mask of one example run by itself, unpadded."""
    logps, counted = token_logps(model, collate([ex], pad_id=0))
    return logps[0], counted[0]


def test_pack_groups_whole_examples_and_collate_packed_restarts_positions():
    examples = [([1, 2, 3], [IGNORE, 2, 3]), ([4, 5], [IGNORE, 5]), ([6, 7, 8, 9], [IGNORE, IGNORE, 8, 9])]
    rows = pack(examples, max_length=6)
    assert rows == [[examples[0], examples[1]], [examples[2]]], "whole examples, in order, a new row when one does not fit"
    batch = collate_packed(rows, pad_id=0)
    assert set(batch) == {"input_ids", "position_ids", "labels"}, "no attention mask: position ids mark the examples"
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]], "restart per example and on the padding"
    assert batch["labels"].tolist() == [[IGNORE, 2, 3, IGNORE, 5], [IGNORE, IGNORE, 8, 9, IGNORE]]
    first_scored = collate_packed([[([1, 2], [1, 2]), ([3, 4], [3, 4])]], pad_id=0)["labels"]
    assert first_scored.tolist() == [[IGNORE, 2, IGNORE, 4]], "no token is scored from the example before it"


def test_collate_of_unpacked_rows_is_unchanged():
    batch = collate([([1, 2, 3], [IGNORE, 2, 3]), ([4, 5], [IGNORE, 5])], pad_id=9)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 5, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3], [IGNORE, 5, IGNORE]]
    assert all(v.dtype == torch.long for v in batch.values())


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_a_packed_example_scores_as_it_does_alone(arch, attention):
    model = tiny_causal_lm(arch, attention)
    rows = pack(EXAMPLES, max_length=16)
    assert [len(r) for r in rows] == [2, 2, 2], "each row holds two examples, the shorter rows padded"
    with torch.no_grad():
        logps, counted = token_logps(model, collate_packed(rows, pad_id=0))
        for i, row in enumerate(rows):
            start = 0
            for ex in row:
                want, want_counted = alone(model, ex)
                span = slice(start, start + len(ex[0]) - 1)  # position t scores token t+1: L-1 positions per example
                assert torch.equal(counted[i, span], want_counted)
                assert torch.allclose(logps[i, span], want, atol=1e-5, rtol=0), f"row {i}, example at {start}"
                loss = -logps[i, span].sum() / counted[i, span].sum()
                assert abs(float(loss + want.sum() / want_counted.sum())) < 1e-5
                start += len(ex[0])
        flat = collate([(sum((x for x, _ in row), []), sum((y for _, y in row), [])) for row in rows], pad_id=0)
        crossed, _ = token_logps(model, flat)  # the old packing: one causal sequence per row, positions running on
    second = slice(len(rows[0][0][0]), len(rows[0][0][0]) + len(rows[0][1][0]) - 1)
    assert (crossed[0, second] - logps[0, second]).abs().max() > 1e-2, "attending across examples would show"
    check_packing(model)


def test_a_packed_batch_loss_is_the_token_weighted_mean_of_the_examples_alone():
    model = tiny_causal_lm("llama", "sdpa")
    with torch.no_grad():
        packed = float(response_loss(model, collate_packed(pack(EXAMPLES, max_length=16), pad_id=0)))
        sums, counts = zip(*[(float(-lp.sum()), int(c.sum())) for lp, c in (alone(model, ex) for ex in EXAMPLES)])
    assert counts == (4, 6, 2, 5, 3, 3), "every response token counts once, the first prompt token never"
    assert abs(packed - sum(sums) / sum(counts)) < 1e-5


def test_packing_is_refused_for_a_model_whose_examples_see_each_other():
    class RunningMean(torch.nn.Module):  # causal, but blind to position ids: every token mixes all before it
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, VOCAB)

        def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=None):
            h = self.embed(input_ids).cumsum(1) / torch.arange(1, input_ids.shape[1] + 1).unsqueeze(-1)
            return SimpleNamespace(logits=h)

    torch.manual_seed(0)
    with pytest.raises(ConfigError, match=r"RunningMean .* a packed example sees the one before it .* train without --packing"):
        check_packing(RunningMean())


@pytest.mark.parametrize("command,csv", [("sft", "sft_csv"), ("prefer", "pref_csv")])
def test_a_max_length_that_holds_no_prompt_with_its_answer_is_refused_before_training(
        tiny_lm, command, csv, tmp_path, monkeypatch, capsys, request):
    """--max-length 4 once started an sft run whose every example was cut inside its prompt; the shortest prompt here
    ("say hello", "review the film") takes 2 / 3 tokens (the MiniLM tokenizer adds no start token)."""
    import headstart.llm.loop
    from conftest import assert_user_error, run_cli

    def never(*args, **kwargs):
        raise AssertionError("trained before the refusal")

    monkeypatch.setattr(headstart.llm.loop, "train", never)
    shortest = {"sft": 2, "prefer": 3}[command]
    base = [command, "--data", str(request.getfixturevalue(csv)), "--backbone", str(tiny_lm), "--max-steps", "1",
            "--out", str(tmp_path / "o"), "-q"]
    assert_user_error(run_cli([*base, "--max-length", str(shortest)], monkeypatch, capsys),
                      f"--max-length {shortest} holds no prompt with its answer: the shortest training prompt takes "
                      f"{shortest} tokens as the model reads it", "nothing was trained: try --max-length 16")
    assert not (tmp_path / "o").exists()
