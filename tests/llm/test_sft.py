"""sft: the response-only loss mask, a memorisable set learned, adapters saved and reloaded, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import assert_user_error, run_cli
from lm_fixtures import pref_csv, sft_csv, tiny_lm  # noqa: F401  (fixtures)

from headstart.llm.format import IGNORE, example, prompt_ids, response_ids
from headstart.outdir import foreign, held


def tokenizer_of(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_prompt_tokens_are_ignored_and_response_tokens_labelled(tiny_lm):
    tok = tokenizer_of(tiny_lm)
    ids, labels = example(tok, "say hello", "hello there", eos=102, max_length=64)
    prompt = prompt_ids(tok, "say hello")
    assert ids[: len(prompt)] == prompt
    assert labels[: len(prompt)] == [IGNORE] * len(prompt), "no loss on the prompt"
    assert labels[len(prompt):] == ids[len(prompt):], "the loss reads every response token"
    assert tok.decode(labels[len(prompt):-1]) == "hello there" and labels[-1] == 102, "the response ends with EOS"


def test_a_chat_template_masks_the_whole_rendered_prompt(tiny_lm):
    tok = tokenizer_of(tiny_lm)
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} [SEP] {% endfor %}"
                         "{% if add_generation_prompt %}<assistant> {% endif %}")
    prompt = prompt_ids(tok, "say hello")
    assert tok.decode(prompt) == "< user > say hello [SEP] < assistant >"
    ids, labels = example(tok, "say hello", "hello there", eos=None, max_length=64)
    assert labels.count(IGNORE) == len(prompt)
    assert tok.decode(response_ids(tok, "say hello", "hello there", eos=None)) == "hello there [SEP]", "the template's end of turn"


def test_truncation_keeps_a_response_token():
    class Chars:  # one token per character, no template
        chat_template = None
        bos_token_id = None

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

    ids, labels = example(Chars(), "x" * 45 + "tail", "abc", eos=0, max_length=10)
    assert ids == [ord(c) for c in "xtail\n"] + [97, 98, 99, 0], "the prompt's left is cut, the response kept"
    assert labels == [IGNORE] * 6 + [97, 98, 99, 0]
    ids, labels = example(Chars(), "hi", "a very long response", eos=0, max_length=10)
    assert ids[:3] == [104, 105, 10] and labels == [IGNORE] * 3 + [ord(c) for c in "a very "], "a long response loses its end"


def config(tiny_lm: Path, **overrides):
    from headstart.llm.sft import SftConfig

    base = dict(backbone=str(tiny_lm), strategy="lora", max_steps=30, batch_size=6, lr=3e-2, evals=3, patience=0,
                eval_rows=1, max_new_tokens=4, **({} if overrides.get("strategy") == "full-finetune" else {"rank": 4}))
    return SftConfig(**{**base, **overrides})


def train_loss(run, csv: Path) -> float:
    from headstart.llm.data import load_table
    from headstart.llm.lm import eos_id
    from headstart.llm.sft import mean_loss

    table = load_table(str(csv), {"prompt": "prompt", "response": "response"})
    rows = [example(run.tokenizer, table.columns["prompt"][r], table.columns["response"][r], eos=eos_id(run.model, run.tokenizer),
                    max_length=64) for r in table.rows("train")]
    return mean_loss(run.model, rows, pad_id=run.tokenizer.pad_token_id, batch_size=8)


@pytest.mark.parametrize("strategy", ["lora", "full-finetune"])
def test_sft_lowers_the_loss_on_a_memorisable_set(tiny_lm, sft_csv, strategy):
    from headstart.api_llm import sft

    lr, factor = (3e-2, 0.75) if strategy == "lora" else (3e-3, 0.5)  # rank-4 q,v updates move a 32-wide model less
    run = sft(str(sft_csv), config=config(tiny_lm, strategy=strategy, lr=lr))
    assert run.metrics["status"] == "done"
    assert run.metrics["val_loss"] < factor * run.metrics["val_loss_before"], run.metrics["history"]
    assert train_loss(run, sft_csv) < factor * run.metrics["val_loss_before"]
    test = run.metrics["test"]
    (sample,) = test["samples"]  # the test row: a trained pair, generated greedily by the trained model
    assert test["rows"] == 1 and sample["prompt"] == "say hello" and sample["reference"] == "hello there"
    assert test["exact_match"] == float(sample["generated"].strip() == "hello there"), "the score of the answer it shows"


def test_exact_match_is_the_share_of_answers_equal_to_their_reference_up_to_surrounding_whitespace():
    from headstart.llm.runs import exact_match

    assert exact_match([" hello there\n", "blue", "one two"], ["hello there", "blue ", "one two three"]) == pytest.approx(2 / 3)
    assert exact_match(["Blue"], ["blue"]) == 0.0, "case counts"


def test_progress_says_the_first_check_before_it_and_the_generation_after_the_last_step(tiny_lm, sft_csv):
    """A first check and greedy generation took minutes with nothing on screen: the bar now says both."""
    from headstart.api_llm import sft

    seen = []
    sft(str(sft_csv), config=config(tiny_lm, max_steps=3), progress=lambda done, total, info: seen.append((done, total, info)))
    assert seen[0] == (0, 3, {"setup": "validation loss before training (on 6 validation prompts)"}), "its rows, as the card's"
    assert (3, 3) in [s[:2] for s in seen]
    answering = [s for s in seen if "generating" in s[2]]
    assert seen[-len(answering):] == answering and {s[2]["generating"] for s in answering} == {"answers to 1 test prompt"}
    assert answering[0] == (0, 1, {"generating": "answers to 1 test prompt", "eta_s": None})
    assert answering[-1] == (1, 1, {"generating": "answers to 1 test prompt", "eta_s": 0.0})
    shares = [done for done, _, _ in answering[1:-1]]
    assert shares and shares == sorted(shares) and 0 < shares[0] and shares[-1] < 1, "the prompt's tokens move the count"


def test_generating_the_test_answers_counts_prompts_with_an_eta_of_its_own(tiny_lm, monkeypatch):
    """Generation ran 95 s under "ETA 0s" (the steps' bar, finished): it counts its prompts, each batch's time read."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import headstart.llm.sft
    from headstart.llm.runs import generate
    from headstart.llm.sft import answering

    clock = iter([100.0, 100.0, 110.0, 130.0, 150.0])  # the start, 0 answered, then after each batch of 2
    monkeypatch.setattr(headstart.llm.sft, "monotonic", lambda: next(clock))
    seen = []
    model, tok = AutoModelForCausalLM.from_pretrained(tiny_lm), AutoTokenizer.from_pretrained(tiny_lm)
    generate(model, tok, ["a", "b", "c", "d", "e", "f"], max_new_tokens=1, batch_size=2,
             progress=answering(lambda done, total, info: seen.append((done, total, info["eta_s"]))))
    assert seen == [(0, 6, None), (2, 6, 20.0), (4, 6, 15.0), (6, 6, 0.0)]


def test_a_lora_adapter_saves_in_peft_format_and_reloads_with_the_same_generations(tiny_lm, sft_csv, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from headstart.api_llm import generate, sft

    out = tmp_path / "run"
    run = sft(str(sft_csv), out=out, config=config(tiny_lm, max_steps=10))
    assert {"adapter_model.safetensors", "adapter_config.json", "spec.json", "metrics.json"} <= {p.name for p in out.iterdir()}
    assert held(out) == "lm-run", "every file it wrote is a run's: a second sft may replace it"
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == ["q_proj", "v_proj"] and adapter["task_type"] == "CAUSAL_LM"
    prompts = ["say hello", "count to three"]
    assert generate(run, prompts, max_new_tokens=6) == generate(out, prompts, max_new_tokens=6)
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(adapter["base_model_name_or_path"]), str(out)).eval()
    ids = torch.tensor([prompt_ids(run.tokenizer, "say hello")])
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids).logits, run.model(input_ids=ids).logits, atol=1e-5), "plain PEFT loads it"
    spec = json.loads((out / "spec.json").read_text())
    assert spec["kind"] == "sft" and spec["strategy"] == "lora" and spec["format"] == "plain" and spec["steps"] == 10
    card = (out / "README.md").read_text()  # headstart's card, not PEFT's empty template naming a cache path
    assert card.startswith("# headstart sft run") and "strategy: lora" in card and "10 steps" in card
    assert "headstart generate DIR --prompt TEXT" in card and "[More Information Needed]" not in card


def test_full_finetune_saves_a_transformers_folder_of_safetensors(tiny_lm, sft_csv, tmp_path):
    from headstart.api_llm import generate, sft

    out = tmp_path / "full"
    run = sft(str(sft_csv), out=out, config=config(tiny_lm, strategy="full-finetune", lr=1e-3, max_steps=3))
    assert (out / "model.safetensors").exists() and (out / "config.json").exists() and not list(out.glob("*.bin"))
    assert held(out) == "lm-run", f"every file it wrote is a run's, not {foreign(out)}"
    assert generate(run, ["say hello"], max_new_tokens=5) == generate(out, ["say hello"], max_new_tokens=5)


def test_qlora_trains_lora_on_an_nf4_base_and_reloads(tiny_lm, sft_csv, tmp_path, monkeypatch):
    """The base is read straight into NF4 (never loaded in fp32 first: that is the memory qlora exists to save), for
    training and for reloading the run."""
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb
    from transformers import AutoModelForCausalLM

    from headstart.api_llm import generate, sft

    def no_fp32_base(*args, **kwargs):
        raise AssertionError("qlora loaded the fp32 base")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", no_fp32_base)
    out = tmp_path / "q"
    run = sft(str(sft_csv), out=out, config=config(tiny_lm, strategy="qlora", max_steps=3, lr=1e-3))
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in run.model.modules())
    base = run.model.base_model.model
    recomputes = base.is_activation_checkpointing if hasattr(type(base), "is_activation_checkpointing") else base.is_gradient_checkpointing
    assert run.spec["optimizer"] == "adamw" and recomputes  # as train's qlora
    decoder = run.model.base_model.model.model.named_modules()
    assert not [n for n, m in decoder if type(m) is torch.nn.Linear and "lora_" not in n], "an fp32 linear left in the base"
    assert generate(run, ["say hello"], max_new_tokens=5) == generate(out, ["say hello"], max_new_tokens=5)


def test_qlora_refuses_an_fp32_base(tiny_lm):
    from headstart.llm.lm import load_lm, prepare

    model, _ = load_lm(tiny_lm, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="qlora needs a base loaded in 4 bits"):
        prepare(model, "qlora")


def test_targets_name_modules_exactly_as_the_encoder_methods_targets_do():
    """sft's ``--targets output.dense`` on a causal LM with BERT's layer (``BertLMHeadModel``): PEFT reaches a listed
    name by the end of a module's name, so each layer's attention output (``attention.output.dense``) took a LoRA too;
    the entry names the feed-forward output projection alone, as ``train --targets`` does, and ``dense`` is still
    every ``*.dense``."""
    from transformers import BertConfig, BertLMHeadModel

    from headstart.llm.lm import prepare

    def adapted(targets):
        config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            is_decoder=True)
        model, _ = prepare(BertLMHeadModel(config), "lora", rank=2, targets=targets)
        names = [name.removeprefix("base_model.model.").removesuffix(".lora_A") for name, _ in model.named_modules()
                 if name.endswith(".lora_A")]
        return {name.split(".layer.")[1].split(".", 1)[1] if ".layer." in name else name for name in names}

    assert adapted("output.dense") == {"output.dense"}
    assert adapted("attention.output.dense") == {"attention.output.dense"}
    assert adapted("dense") == {"attention.output.dense", "intermediate.dense", "output.dense", "cls.predictions.transform.dense"}


def test_sampling_is_seeded(tiny_lm, sft_csv):
    from headstart.api_llm import generate, sft

    run = sft(str(sft_csv), config=config(tiny_lm, max_steps=2, eval_rows=0))
    a = generate(run, ["say hello"] * 3, max_new_tokens=6, temperature=1.0, seed=3)
    assert a == generate(run, ["say hello"] * 3, max_new_tokens=6, temperature=1.0, seed=3)
    others = [generate(run, ["say hello"] * 3, max_new_tokens=6, temperature=1.0, seed=s) for s in (4, 5, 6)]
    assert any(o != a for o in others), "sampling ignores the seed (or the temperature)"


# ---- the command line --------------------------------------------------------------------------------------------


def test_a_missing_column_is_one_line_naming_the_columns(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    assert_user_error(run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--response-column", "answer",
                        "--out", str(tmp_path / "o"), "-q"], monkeypatch, capsys),
               "column 'answer' not in", "prompt, response, split", "--response-column")


def test_a_backbone_that_is_not_a_causal_lm_is_one_line(sft_csv, tmp_path, monkeypatch, capsys):
    assert_user_error(run_cli(["sft", "--data", str(sft_csv), "--backbone", "all-minilm-l6-v2", "--out", str(tmp_path / "o"), "-q"],
                       monkeypatch, capsys), "'all-minilm-l6-v2' is not a causal language model", "smollm2-135m")
    assert_user_error(run_cli(["sft", "--data", str(sft_csv), "--backbone", "no-such-lm", "--out", str(tmp_path / "o"), "-q"],
                       monkeypatch, capsys), "'no-such-lm' is not a causal language model")


@pytest.mark.parametrize("args,fragment", [(["--strategy", "lor"], "did you mean 'lora'"), (["--lr", "0"], "lr must be > 0"),
                                           (["--batch-size", "0"], "--batch-size must be a positive integer"),
                                           (["--targets", "q_proj,k_projj"],  # PEFT would adapt q_proj alone, silently
                                            "--targets 'k_projj' matches no module of this model; did you mean 'k_proj'?")])
def test_bad_settings_are_one_line(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys, args, fragment):
    assert_user_error(run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--out", str(tmp_path / "o"), "-q", *args],
                       monkeypatch, capsys), fragment)


def test_generate_refuses_what_is_not_an_sft_run(tmp_path, monkeypatch, capsys):
    assert_user_error(run_cli(["generate", str(tmp_path), "--prompt", "hi"], monkeypatch, capsys), "is not an sft / prefer run")
    nope = tmp_path / "nope"  # said as evaluate, predict and load say it, not as a folder without a spec.json
    assert_user_error(run_cli(["generate", str(nope), "--prompt", "hi"], monkeypatch, capsys),
                      f"{str(nope)!r} does not exist; give a run folder written by headstart sft or headstart prefer")


def test_sft_then_generate_on_the_command_line(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cli-run"
    code, stdout, _ = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "2", "--packing",
                               "--eval-rows", "1", "--out", str(out), "-q", "--json"], monkeypatch, capsys)
    assert code in (0, None) and json.loads(stdout)["steps"] == 2
    code, stdout, _ = run_cli(["generate", str(out), "--prompt", "say hello", "--max-new-tokens", "3", "--json"], monkeypatch, capsys)
    assert code in (0, None) and json.loads(stdout)[0]["prompt"] == "say hello"
    from headstart.llm.runs import load_run

    loaded, told = load_run(out), []  # progress=True drew nothing: True was called as the function, a TypeError
    assert len(loaded.generate(["say hello"], max_new_tokens=2, progress=True)) == 1
    loaded.generate(["a", "b"], max_new_tokens=2, progress=lambda done, total: told.append((done, total)))
    assert told and told[-1] == (2, 2), told
    code, table, _ = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "2", "--packing",
                              "--eval-rows", "1", "--out", str(tmp_path / "table-run"), "-q"], monkeypatch, capsys)
    lines = table.splitlines()
    assert code in (0, None) and "steps: 2" in lines and not table.lstrip().startswith("{"), "a table without --json"
    assert any(line.startswith("test (1 held-out prompt): exact_match ") for line in lines), table
    assert lines[-1] == f"saved to {tmp_path / 'table-run'}"


def test_examples_cut_to_max_length_are_counted_and_said(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """At --max-length 4 the examples do not fit: the run says how many were cut and where, in metrics.json and as a
    note; at a length they fit in, nothing is said."""
    from collections import Counter

    from headstart.llm.format import example

    code, table, _ = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--max-length", "4",
                              "--eval-rows", "0", "--val-rows", "2", "--out", str(tmp_path / "cut"), "-q"], monkeypatch, capsys)
    assert code in (0, None)
    found = json.loads((tmp_path / "cut" / "metrics.json").read_text())["truncated"]
    # every example is [CLS] prompt "\n" + response [SEP]: 5 tokens or more, so all 6 training and 2 validation rows
    assert found == {"examples": 8, "of": 8, "prompt": found["prompt"], "response": found["response"], "max_length": 4}
    assert 0 < found["prompt"] <= 8 and 0 < found["response"] <= 8
    assert f"note: {found['examples']} of {found['of']} training and validation examples were cut to --max-length 4 tokens" in table
    from headstart.llm.format import truncation_note

    one = {"examples": 1, "of": 2, "prompt": 1, "response": 0, "max_length": 4}
    assert truncation_note(one).startswith("1 of 2 training and validation examples was cut"), truncation_note(one)
    cuts: Counter = Counter()
    example(tokenizer_of(tiny_lm), "a prompt", "a reply", eos=None, max_length=10_000, cuts=cuts)
    assert not cuts
    code, table, _ = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--eval-rows", "0",
                              "--val-rows", "2", "--out", str(tmp_path / "whole"), "-q"], monkeypatch, capsys)
    assert "were cut" not in table and "truncated" not in json.loads((tmp_path / "whole" / "metrics.json").read_text())


def test_sft_with_packing_on_the_command_line(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "packed"
    code, stdout, _ = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--packing", "--max-length", "24",
                               "--batch-size", "2", "--max-steps", "4", "--lr", "3e-2", "--eval-rows", "1", "--out", str(out),
                               "-q", "--json"], monkeypatch, capsys)
    metrics = json.loads(stdout)
    assert code in (0, None) and metrics["status"] == "done" and metrics["steps"] == 4
    assert 1 < metrics["train_sequences"] < metrics["train_rows"] == 6, "the six examples packed into fewer rows"
    assert metrics["val_loss"] < metrics["val_loss_before"], metrics
    assert json.loads((out / "spec.json").read_text())["packing"] is True


def test_the_validation_loss_is_said_with_the_prompts_it_is_over_and_an_older_run_without_them_still_reads(
        tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """Every held-out number of an sft run's card and summary came with its rows ("exact_match: 0 (on 4 test
    prompts)") but its validation loss, the number that chose the checkpoint: metrics.json records the validation
    prompts it is over (``val_rows``) and the card and the summary say them; a run saved before reads as it did."""
    from headstart.llm.runs import model_card

    out = tmp_path / "run"
    code, table, _ = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--rank", "4",
                              "--val-rows", "4", "--eval-rows", "0", "--out", str(out), "-q"], monkeypatch, capsys)
    metrics = json.loads((out / "metrics.json").read_text())
    assert code in (0, None) and metrics["val_rows"] == 4, metrics
    lines = table.splitlines()
    assert f"val_loss: {metrics['val_loss']:.4g} (on 4 validation prompts)" in lines, table
    assert f"val_loss_before: {metrics['val_loss_before']:.4g} (on 4 validation prompts)" in lines, table
    assert not any(line.startswith("val_rows") for line in lines), "said beside the losses, not as a line of its own"
    assert f"- validation loss: {metrics['val_loss']:.4g} (on 4 validation prompts)" in (out / "README.md").read_text()
    older = {k: v for k, v in metrics.items() if k != "val_rows"}
    card = model_card(json.loads((out / "spec.json").read_text()), older)
    assert f"- validation loss: {metrics['val_loss']:.4g}\n" in card, card


def test_evaluate_points_an_sft_run_that_drew_no_test_prompt_to_generate(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    from headstart.api_llm import sft

    out = tmp_path / "run"
    sft(str(sft_csv), out=out, config=config(tiny_lm, max_steps=1, eval_rows=0))
    assert_user_error(run_cli(["evaluate", str(out)], monkeypatch, capsys), "was trained with --eval-rows 0", "headstart generate")


def test_a_second_sft_into_the_same_folder_says_it_replaced_the_first(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    command = ["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--eval-rows", "0",
               "--out", str(tmp_path / "run"), "-q"]
    code, _, err = run_cli(command, monkeypatch, capsys)
    assert code in (0, None) and "replaced" not in err
    code, out, err = run_cli(command, monkeypatch, capsys)
    assert code in (0, None) and f"note: this run replaced the one that was in {str(tmp_path / 'run')!r}" in err
    assert (tmp_path / "run" / "README.md").read_text().startswith("# headstart sft run")


def test_python_sft_and_prefer_refuse_a_folder_of_the_users_files_before_training(tmp_path, monkeypatch):
    """As the CLI does: the refusal names the user's files, and nothing loads or trains first."""
    import headstart.llm.dpo
    import headstart.llm.sft
    from headstart.api_llm import prefer, sft
    from headstart.errors import ConfigError

    def never(*args, **kwargs):
        raise AssertionError("trained before the refusal")

    monkeypatch.setattr(headstart.llm.sft, "run_sft", never)
    monkeypatch.setattr(headstart.llm.dpo, "run_prefer", never)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    for call in (sft, prefer):
        with pytest.raises(ConfigError, match=r"holds files headstart did not write \(thesis.tex\)"):
            call(out=tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "x"


def test_ctrl_c_during_the_steps_saves_the_best_checkpoint_so_far_and_never_over_a_finished_run(
        tiny_lm, sft_csv, pref_csv, tmp_path, monkeypatch, capsys):
    """An sft run interrupted at its 5th step keeps the best check so far (step 4), saved untested with status
    "interrupted" and exit 130; into a folder holding a finished run it saves nothing and says that run was kept."""
    import headstart.llm.loop as loop

    command = ["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "8", "--lr", "3e-2", "--rank", "4",
               "--eval-rows", "1", "-q"]
    code, _, _ = run_cli([*command, "--out", str(tmp_path / "done")], monkeypatch, capsys)
    assert code in (0, None)
    finished = (tmp_path / "done" / "metrics.json").read_bytes()
    real = loop.lr_factor

    def ctrl_c_at_step_5(step, *args, **kwargs):
        if step == 4:
            raise KeyboardInterrupt
        return real(step, *args, **kwargs)

    monkeypatch.setattr(loop, "lr_factor", ctrl_c_at_step_5)
    code, printed, err = run_cli([*command, "--out", str(tmp_path / "cut")], monkeypatch, capsys)
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert code == 130 and metrics["status"] == "interrupted" and metrics["steps"] == 4, (code, metrics, err)
    assert "test" not in metrics and "interrupted by Ctrl-C at step 4 of 8" in err and "untested" in err, err
    checks = metrics["history"]
    assert [h["step"] for h in checks] == [0, 2, 4], checks
    assert metrics["best_step"] == min(checks, key=lambda h: h["val_loss"])["step"], "the best check so far is kept"
    assert err.count("interrupted") == 1, "one line says it, not that line and the bare 'interrupted' too"
    assert "stopped early: interrupted by Ctrl-C at step" in (tmp_path / "cut" / "README.md").read_text()
    code, _, err = run_cli(["generate", str(tmp_path / "cut"), "--prompt", "say hello", "--max-new-tokens", "2"], monkeypatch, capsys)
    assert code in (0, None), err
    code, _, err = run_cli([*command, "--out", str(tmp_path / "done")], monkeypatch, capsys)
    assert code == 130 and "not saved: " in err and "holds a finished run, kept as it was" in err, err
    assert (tmp_path / "done" / "metrics.json").read_bytes() == finished
    # Python: the run is saved, then the interrupt goes on (a script or a notebook stops), carrying the run
    from headstart.api_llm import sft
    from headstart.llm.runs import Interrupted

    with pytest.raises(Interrupted) as stopped:
        sft(str(sft_csv), out=tmp_path / "api", config=config(tiny_lm, max_steps=8, evals=4))
    assert isinstance(stopped.value, KeyboardInterrupt) and stopped.value.run.metrics["status"] == "interrupted"
    assert stopped.value.run.directory == tmp_path / "api" and (tmp_path / "api" / "spec.json").is_file()
    # a prefer run that starts from the interrupted one says so
    monkeypatch.setattr(loop, "lr_factor", real)
    code, _, err = run_cli(["prefer", "--data", str(pref_csv), "--sft", str(tmp_path / "cut"), "--max-steps", "1", "-q",
                            "--out", str(tmp_path / "dpo")], monkeypatch, capsys)
    assert code in (0, None) and "note: it starts from an sft run whose steps were cut short (interrupted by Ctrl-C at step 4 of 8" in err, err
    assert "which Ctrl-C stopped early" in (tmp_path / "dpo" / "README.md").read_text()


def test_ctrl_c_before_any_check_keeps_the_starting_weights_and_says_so(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    import headstart.llm.loop as loop

    real = loop.lr_factor
    monkeypatch.setattr(loop, "lr_factor", lambda step, *a, **k: (_ for _ in ()).throw(KeyboardInterrupt) if step == 1
                        else real(step, *a, **k))
    code, printed, err = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "8", "-q",
                                  "--out", str(tmp_path / "cut")], monkeypatch, capsys)
    assert code == 130 and "no check after a step had improved on the starting weights" in err, err
    assert "no step improved the validation loss" not in printed, "the done run's advice (more steps, --beta) is not this"


def test_an_sft_config_with_adapter_settings_for_full_finetune_is_refused():
    """SftConfig(strategy="full-finetune", rank=16) trained every weight and ignored the rank; the default rank is fine."""
    from headstart.errors import ConfigError
    from headstart.llm.sft import SftConfig

    SftConfig(strategy="full-finetune")
    with pytest.raises(ConfigError, match="^'rank' shapes a lora/qlora adapter, and full-finetune trains every weight"):
        SftConfig(strategy="full-finetune", rank=16)
    with pytest.raises(ConfigError, match="'alpha', 'targets' shape a lora/qlora adapter"):
        SftConfig(strategy="full-finetune", alpha=32.0, targets="all-linear")


def test_metrics_and_the_summary_say_what_rows_the_step_cap_left_unread(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """README's sft --n 512 --max-steps 60 --batch-size 4 read 240 of its 512 rows and said train_rows: 512 alone."""
    code, out, err = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "1", "--batch-size", "2",
                              "--eval-rows", "0", "--out", str(tmp_path / "o"), "-q"], monkeypatch, capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert (metrics["train_rows"], metrics["rows_seen"], metrics["epochs"], metrics["ended_by"]) == (6, 2, 0.333, "max_steps")
    assert ("note: --max-steps 1 ended the run after 2 of the 6 training rows (0.33 epochs): the rest were never read; "
            "raise --max-steps or lower --n") in out, out


def test_the_summary_says_early_stopping_ended_the_run():
    from headstart.llm.notes import ended as _ended

    metrics = {"status": "done", "steps": 3, "planned_steps": 4, "best_step": 1, "pairs_seen": 12, "train_pairs": 16,
               "ended_by": "early stopping"}
    assert _ended(metrics) == ("early stopping ended the run at step 3 of 4 (the validation loss had stopped improving), "
                               "after 12 of the 16 training pairs; the checkpoint kept is step 1")


@pytest.mark.usefixtures("default_sigterm")  # tests/conftest.py
def test_sigterm_during_the_steps_saves_the_best_checkpoint_as_ctrl_c_does(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """`timeout 480 headstart sft ...` stopped at step 22 of 60 left no folder and printed nothing."""
    import os
    import signal

    import headstart.llm.loop as loop

    real = loop.lr_factor

    def sigterm_at_step_5(step, *args, **kwargs):
        if step == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(step, *args, **kwargs)

    monkeypatch.setattr(loop, "lr_factor", sigterm_at_step_5)
    code, _, err = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "8", "--rank", "4",
                            "--eval-rows", "1", "-q", "--out", str(tmp_path / "cut")], monkeypatch, capsys)
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert code == 130 and metrics["status"] == "interrupted" and metrics["steps"] == 4, (code, metrics, err)
    assert "interrupted by SIGTERM at step 4 of 8" in err and "saved to" in err, err
    assert "stopped early: interrupted by SIGTERM at step" in (tmp_path / "cut" / "README.md").read_text()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the default is back once the steps are over"


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("signal_name", ["Ctrl-C", "SIGTERM"])
def test_a_stop_while_answering_the_test_prompts_keeps_the_trained_run(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys,
                                                                       signal_name):
    """Ctrl-C or SIGTERM while the test prompts were answered, after training finished, lost the whole run: it was
    saved only after the answers. Now it is saved trained first; the stop leaves it, says its test is not scored, exit 130."""
    import os
    import signal

    import headstart.llm.runs as runs

    real = runs.generate

    def stopped_after_one_batch(model, tokenizer, prompts, **kwargs):
        progress = kwargs.pop("progress", None) or (lambda done, total: None)
        progress(0, len(prompts))
        real(model, tokenizer, prompts[:1], **kwargs)
        progress(1, len(prompts))
        assert (tmp_path / "run" / "metrics.json").is_file(), "the trained run is saved before the test prompts are answered"
        saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert saved["status"] == "done" and "the process ended while answering its 1 test prompt," in saved["test_not_scored"]
        if signal_name == "Ctrl-C":
            raise KeyboardInterrupt
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            raise AssertionError("SIGTERM would end the process here, the run unsaved")
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(runs, "generate", stopped_after_one_batch)
    code, printed, err = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "2", "--rank", "4",
                                  "--eval-rows", "1", "--out", str(tmp_path / "run"), "-q"], monkeypatch, capsys)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    stop = "interrupted by Ctrl-C" if signal_name == "Ctrl-C" else "interrupted by SIGTERM"
    assert code == 130 and metrics["status"] == "done" and metrics["steps"] == 2 and "test" not in metrics, (code, metrics, err)
    assert metrics["test_not_scored"] == f"{stop} while answering the test prompts (1 of 1 answered), after training finished"
    assert f"{metrics['test_not_scored']}; saved to {tmp_path / 'run'}, trained, without its test exact match" in err, err
    assert f"headstart evaluate {tmp_path / 'run'} answers its test prompts" in err and "test_not_scored" not in printed
    assert "steps: 2" in printed
    assert f"test: not scored ({stop} while answering" in (tmp_path / "run" / "README.md").read_text()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.setattr(runs, "generate", real)
    code, _, err = run_cli(["generate", str(tmp_path / "run"), "--prompt", "say hello", "--max-new-tokens", "2"], monkeypatch, capsys)
    assert code in (0, None), err


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("command", ["sft", "prefer"])
def test_sigterm_while_the_trained_run_is_saved_waits_for_the_save(command, tiny_lm, sft_csv, pref_csv, tmp_path,
                                                                   monkeypatch, capsys):
    """SIGTERM after the last step, while the run was saved (``timeout`` landing there), lost the trained run and said
    a bare "interrupted by SIGTERM". Now the save finishes first: sft's run is kept without its test score (evaluate
    scores it), prefer's finished run is kept whole; one line, exit 130."""
    import signal

    import headstart.killpoints as killpoints

    monkeypatch.setattr(killpoints, "_HITS", {})
    monkeypatch.setenv(killpoints.ENV, "write:metrics.json")  # the save's metrics.json written, before its folder is in place
    monkeypatch.setenv(killpoints.SIGNAL_ENV, "TERM")
    out = tmp_path / "run"
    args = (["--data", str(sft_csv), "--rank", "4", "--eval-rows", "1"] if command == "sft" else ["--data", str(pref_csv)])
    code, printed, err = run_cli([command, *args, "--backbone", str(tiny_lm), "--max-steps", "2", "--out", str(out), "-q"],
                                 monkeypatch, capsys)
    assert code == 130 and (out / "spec.json").is_file(), (code, err)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "done" and metrics["steps"] == 2 and "test" not in metrics, metrics
    if command == "sft":
        assert metrics["test_not_scored"] == ("interrupted by SIGTERM after training finished, before its test prompts "
                                              "were answered"), metrics
        assert f"{metrics['test_not_scored']}; saved to {out}, trained, without its test exact match" in err, err
    else:
        assert err.splitlines()[-1] == "interrupted by SIGTERM after training finished, once the run was saved: nothing was lost"
        assert f"saved to {out}" in printed
    assert err.count("interrupted") == 1 and "Traceback" not in err, err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_the_test_answers_are_added_to_the_run_saved_before_them(tiny_lm, sft_csv, tmp_path):
    from headstart.api_llm import sft

    run = sft(str(sft_csv), out=tmp_path / "run", config=config(tiny_lm, max_steps=2))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "test_not_scored" not in saved and saved["test"] == run.metrics["test"] and saved["test"]["rows"] == 1
    assert "test exact_match" in (tmp_path / "run" / "README.md").read_text()


def test_qlora_sft_trains_without_transformers_warning_of_its_cache(tiny_lm, sft_csv, monkeypatch):
    """qlora recomputes activations, and a training forward with transformers' default use_cache=True under that printed
    "[transformers] `use_cache=True` is incompatible with gradient checkpointing" on every qlora sft: a training
    forward keeps no cache, so nothing is said."""
    pytest.importorskip("bitsandbytes")
    from transformers.utils import generic

    from headstart.api_llm import sft

    said = []
    monkeypatch.setattr(generic.logger, "warning_once", lambda message, *args, **kwargs: said.append(message))
    sft(str(sft_csv), config=config(tiny_lm, strategy="qlora", max_steps=2, lr=1e-3))
    assert not [m for m in said if "gradient checkpointing" in str(m)], said
