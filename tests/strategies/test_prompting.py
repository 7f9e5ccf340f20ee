"""The prompt arms (zero-shot-prompt, icl) and their scorer, on a tiny random causal LM (the real SmolLM2 when slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from headstart.backbones.verbalizer import PromptScorer, calibration
from headstart.errors import ConfigError
from headstart.recipe import setup, train
from headstart.specs import RunSpec, TrainConfig
from headstart.strategies.icl import pick_demonstrations

CFG = TrainConfig(precision="fp32", eval_batch_size=16)


def full_prompt_scores(scorer: PromptScorer, encoded: list[list[int]]) -> torch.Tensor:
    """The same scores without the cached prefix: each prompt + answer run whole through the LM."""
    from headstart.backbones.causal import lm_head_weight

    out = []
    for x in encoded:
        body = scorer._prefix + list(x) + scorer._tail
        row = []
        for answer in scorer._answers:
            ids = torch.as_tensor([body + answer])
            hidden = scorer.lm.model(input_ids=ids).last_hidden_state[0]
            logp = (hidden @ lm_head_weight(scorer.lm).T).log_softmax(-1)
            row.append(sum(logp[len(body) - 1 + j, t] for j, t in enumerate(answer)))
        out.append(torch.stack(row).log_softmax(-1))
    return torch.stack(out)


@pytest.mark.parametrize("words", [("bad", "good"), ("not at all good", "very good indeed")])
def test_the_cached_prefix_scores_as_the_whole_prompt_does(words):
    from conftest import tiny_llama

    scorer = PromptScorer(tiny_llama(0), seed=0)
    texts = ["a fine film", "the worst thing i have seen in years, long and loud", "ok"]
    encoded = scorer.encode(texts)
    scorer.set_prompt(words, instruction="Answer good or bad.", chat=False, demos=[(encoded[0], 1), (encoded[1], 0)])
    with torch.no_grad():
        cached = scorer(scorer.collate(encoded))
        whole = full_prompt_scores(scorer, encoded)
    assert cached.shape == (3, 2)
    assert torch.allclose(cached, whole, atol=1e-5), "one answer token or several, in a batch or alone"


def test_demonstrations_change_the_scores():
    from conftest import tiny_llama

    scorer = PromptScorer(tiny_llama(0), seed=0)
    encoded = scorer.encode(["a fine film", "a dull one"])
    scorer.set_prompt(("bad", "good"), instruction="", chat=False)
    with torch.no_grad():
        alone = scorer(scorer.collate(encoded))
        scorer.set_prompt(demos=[(encoded[0], 1), (encoded[1], 0)])
        shown = scorer(scorer.collate(encoded))
    assert scorer.prompt_tokens() > 0 and not torch.allclose(alone, shown)


def test_calibration_makes_content_free_inputs_uniform():
    from conftest import tiny_llama

    scorer = PromptScorer(tiny_llama(0), seed=0)
    scorer.set_prompt(("bad", "good", "fine"), instruction="Rate it.", chat=False)
    bias = calibration(scorer, device=torch.device("cpu"))
    with torch.no_grad():
        p = (scorer(scorer.collate(scorer.encode(["N/A", "", "[MASK]"]))) + bias).softmax(-1).mean(0)
    before = scorer(scorer.collate(scorer.encode(["N/A", "", "[MASK]"]))).exp().mean(0)
    assert before.max() - before.min() > 1e-3, "the tiny LM leans to some answer before calibration"
    assert torch.allclose(p, torch.full((3,), 1 / 3), atol=0.02)


def test_demonstrations_are_class_balanced_seeded_and_shuffled():
    targets = np.array([0] * 20 + [1] * 5 + [2] * 1)
    picked = pick_demonstrations(targets, 7, seed=3)
    counts = np.bincount(targets[picked], minlength=3)
    assert len(set(picked)) == 7 and counts.tolist() == [3, 3, 1], "in turn while a class has rows"
    assert picked == pick_demonstrations(targets, 7, seed=3)
    assert picked != pick_demonstrations(targets, 7, seed=4)
    assert len(pick_demonstrations(targets, 40, seed=0)) == 26, "never more than the rows"


def test_icl_keeps_the_prompt_under_its_token_budget(toy):
    from conftest import tiny_llama

    s = setup(RunSpec(data="toy", backbone="tiny-llama", strategy="icl", n=32, options={"k": 8, "max_prompt_tokens": 60},
                      train=CFG), data=toy, pretrained=tiny_llama(0))
    report = train(s)
    assert report.status == "done"
    k = report.chosen["demonstrations"]
    assert 0 < k < 8 and s.model.backbone.prompt_tokens() <= 60 == s.options.max_prompt_tokens
    assert len(s.model.backbone.demos) == k
    assert torch.equal(s.model.head.weight, torch.eye(2)), "the head is the identity on the classes' log-probabilities"


def test_icl_saves_its_demonstrations_and_predicts_the_same_after_loading(toy_csv, tiny_registry, tmp_path):
    from headstart.api import fit, predict

    out = tmp_path / "run"
    result = fit(str(toy_csv), "tiny-llama", strategy="icl", n=16, out=out, options={"k": 4, "calibrate": True}, config=CFG)
    assert (out / "demonstrations.json").exists()
    assert result.trainable_params == 0, "it picks demonstrations; its head stays the identity"
    texts = ["a good movie", "a bad movie, long and loud"]
    for a, b in zip(result.predict(texts), predict(out, texts)):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)


def test_zero_shot_prompt_runs_at_n_0_and_icl_needs_labels(toy, tiny_registry):
    from conftest import tiny_llama

    s = setup(RunSpec(data="toy", backbone="tiny-llama", strategy="zero-shot-prompt", n=0, train=CFG), data=toy,
              pretrained=tiny_llama(0))
    report = train(s)
    assert report.status == "done" and s.model.backbone.demos == []
    assert report.trainable_params == 0 and "head.weight" in report.trained  # nothing trains; the head is still saved
    with pytest.raises(ConfigError, match="n is 0"):
        setup(RunSpec(data="toy", backbone="tiny-llama", strategy="icl", n=0, train=CFG), data=toy, pretrained=tiny_llama(0))


def test_answer_words_come_from_the_descriptions_else_the_label_names(toy):
    from conftest import tiny_llama

    s = setup(RunSpec(data="toy", backbone="tiny-llama", strategy="zero-shot-prompt", n=0,
                      options={"descriptions": {toy.label_names[0]: "awful"}}, train=CFG), data=toy, pretrained=tiny_llama(0))
    assert s.model.backbone.words == ("awful", toy.label_names[1])
    with pytest.raises(ConfigError, match="not a label of the data"):
        setup(RunSpec(data="toy", backbone="tiny-llama", strategy="icl", n=8, options={"descriptions": {"nope": "x"}}, train=CFG),
              data=toy, pretrained=tiny_llama(0))


def test_an_encoder_is_refused_in_one_line(toy, make_tiny_bert):
    with pytest.raises(ConfigError, match="causal language model.*smollm2-135m"):
        setup(RunSpec(data="toy", backbone="tiny-bert", strategy="zero-shot-prompt", n=0, train=CFG), data=toy,
              pretrained=make_tiny_bert(0))


def test_compare_puts_the_prompt_arms_on_one_curve_with_the_trained_ones(tiny_registry, toy_csv, tmp_path):
    import json

    from typer.testing import CliRunner

    from headstart.cli import app

    out = tmp_path / "sweep"
    result = CliRunner().invoke(app, ["compare", "--data", str(toy_csv), "--backbone", "tiny-llama", "--arms",
                                      "zero-shot-prompt,icl[k=2],linear-probe", "--sizes", "0,8", "--seeds", "1",
                                      "--label-descriptions", "neg=bad,pos=good", "--max-steps", "2", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    cells = {(r["strategy"], r["n"]) for r in json.loads((out / "results.json").read_text())["curves"]}
    assert cells == {("zero-shot-prompt", 0), ("icl", 8), ("linear-probe", 8)}


def test_compare_refuses_a_prompt_arm_on_an_encoder_before_any_cell(tiny_registry, toy_csv, tmp_path, monkeypatch, capsys):
    """It stored every cell as failed, wrote an empty report and exited 1, the reason only in ``headstart runs``."""
    from conftest import assert_user_error, run_cli

    out = tmp_path / "sweep"
    code = run_cli(["compare", "--data", str(toy_csv), "--backbone", "tiny-bert", "--arms", "zero-shot-prompt,linear-probe",
                    "--sizes", "0,8", "--seeds", "1", "--out", str(out), "-q"], monkeypatch, capsys)
    assert_user_error(code, "prompting scores answer words with a causal language model; 'tiny-bert' is not one")
    assert not (out / "runs.sqlite").exists()


@pytest.mark.slow
def test_smollm2_in_context_learns_an_arbitrary_label_mapping():
    """What icl does that zero-shot cannot: answer words with no meaning of their own ("alpha" for positive) move
    toward the mapping the demonstrations show (the real SmolLM2-135M). A 135M model moves them by over half a nat of
    separation between the classes, not always enough to flip its label bias: that is measured, not asserted."""
    from headstart.backbones.registry import load_backbone

    scorer = PromptScorer(load_backbone("smollm2-135m"), seed=0)
    good = ["I loved it, a wonderful film.", "Brilliant, moving and funny.", "A delight from start to end.", "Superb acting, great story."]
    bad = ["I hated it, an awful film.", "Boring, dull and far too long.", "A mess from start to end.", "Terrible acting, weak story."]
    queries = ["A wonderful, brilliant film.", "An awful, boring film.", "Great fun, I loved it.", "Dull and terrible."]
    truth = np.array([1, 0, 1, 0])
    scorer.set_prompt(("beta", "alpha"), instruction="", chat=False)
    encoded = scorer.encode(good + bad + queries)
    with torch.no_grad():
        before = scorer(scorer.collate(encoded[8:]))
        demos = [(encoded[i], 1) for i in range(4)] + [(encoded[4 + i], 0) for i in range(4)]
        order = np.random.default_rng(0).permutation(8)
        scorer.set_prompt(demos=[demos[i] for i in order])
        after = scorer(scorer.collate(encoded[8:]))
    margin = lambda f: float((f[:, 1] - f[:, 0])[truth == 1].mean() - (f[:, 1] - f[:, 0])[truth == 0].mean())  # noqa: E731
    assert margin(after) > margin(before) + 0.5, (margin(before), margin(after))


def test_a_prompt_cell_counts_its_rows_on_the_bar_and_the_sweep_eta_paces_them(toy, tiny_registry):
    """A prompt arm takes no step: its minutes are the validation check's and the test split's forward passes, which
    said nothing, so its cell read "ETA ?" to its end. Both count rows scored, as one count out of validation + test,
    and the sweep's ETA paces the running cell by them."""
    from conftest import tiny_llama

    from headstart.recipe import run
    from headstart.sweep import _cell_progress
    from headstart.sweep_eta import SweepEta

    spec = RunSpec(data="toy", backbone="tiny-llama", strategy="zero-shot-prompt", n=0,
                   train=TrainConfig(precision="fp32", eval_batch_size=4))
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    eta = SweepEta([(spec, "cell", {"arm": "zero-shot-prompt"})], lambda resolved: resolved["arm"], clock=clock)
    eta.started("cell")
    seen: list[tuple[float, int, dict]] = []
    outcome = run(spec, data=toy, pretrained=tiny_llama(0),
                  progress=_cell_progress(eta.wrap(lambda done, total, info: seen.append((done, total, info))), 0, 1, "zsp"))
    assert outcome.result.status == "done" and outcome.result.metrics
    s = outcome.setup
    total = len(s.splits.val) + len(s.splits.test)
    counted = [int(info["rows"].split("/")[0]) for _, _, info in seen if "rows" in info]
    assert {info["rows"].split("/")[1] for _, _, info in seen if "rows" in info} == {str(total)}
    assert len(counted) > 2 and counted == sorted(counted) and counted[-1] == total, counted
    assert len(s.splits.val) in counted, "the validation check's rows, then the test split's on from them"
    assert not any("step" in info for _, _, info in seen), "no optimiser step to count"
    fractions = [done for done, _, info in seen if "rows" in info]
    assert fractions == sorted(fractions) and 0 <= fractions[0] < fractions[-1] < 1  # 0: the count's start, before a batch
    etas = [info["eta_s"] for _, _, info in seen if "rows" in info]
    assert any(isinstance(e, float) and math.isfinite(e) for e in etas), etas


@pytest.mark.parametrize("flag, fix", [("k=abc", "try --option k=8"), ("max_prompt_tokens=4", "try --option max_prompt_tokens=1024")])
def test_a_bad_icl_option_offers_the_fix_in_the_form_the_user_typed(flag, fix, tiny_registry, monkeypatch, capsys, tmp_path):
    """``train --option k=abc`` was answered "e.g. icl[k=8]", the arm form train does not take."""
    from tests.conftest import assert_user_error, run_cli

    assert_user_error(run_cli(["train", "--strategy", "icl", "--backbone", "tiny-llama", "--option", flag, "--n", "8",
                               "--out", str(tmp_path / "run")], monkeypatch, capsys), fix)


def test_a_long_icl_prompt_counts_its_rows_per_lm_call_not_per_eval_batch(toy, monkeypatch):
    """A batch of 128 rows under a ~1,000-token icl prompt is many LM calls: "0/44 rows" stood for 100 s on a CPU, then
    "44/44". The rows are batched as one call scores them, so the count moves per call, and the scores stay the same."""
    from conftest import tiny_llama

    from headstart.backbones import verbalizer
    from headstart.evaluation import model_outputs

    s = setup(RunSpec(data="toy", backbone="tiny-llama", strategy="icl", n=32, options={"k": 8}, train=CFG),
              data=toy, pretrained=tiny_llama(0))
    train(s)
    scorer = s.model.backbone
    rows = np.arange(12)
    items = [s.encoded[r] for r in rows]
    # the toy prompt is short: a call of the tokens of ~3 rows stands in for a real prompt's ~7 rows in 8,192 tokens
    monkeypatch.setattr(verbalizer, "TOKENS_PER_PASS", 3 * (scorer.prompt_tokens() + max(map(len, items)) + 8))
    per_call = scorer.inputs_per_pass(items)
    assert 1 <= per_call < len(rows), "the demonstrations make a call hold fewer inputs than the batch"
    told: list[int] = []
    with torch.no_grad():
        out = model_outputs(s.model, s.encoded, rows, batch_size=128, progress=told.append)
        alone = torch.cat([s.model(scorer.collate([x])).float() for x in items])
    assert told[0] == 0 and told[-1] == len(rows) and len(told) - 1 == math.ceil(len(rows) / per_call), told
    assert torch.allclose(out, alone, atol=1e-5)
