"""The multi-task analysis and report (``analysis/multitask.py``, ``report/multitask.py``): scores with intervals over
seeds and test rows, paired differences oriented so that negative transfer reads the same for accuracy and RMSE, and
negative transfer called out in words."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from headstart.analysis.multitask import multitask_rows
from headstart.report.multitask import multitask_markdown
from headstart.results import RunResult

TARGET_CLASS = [0, 1] * 50
TARGET_VALUE = list(np.linspace(-1, 1, 100))


def _run(label: str, seed: int, *, correct: int, error: float) -> RunResult:
    """A stored run: ``correct`` of 100 class rows right (task ``cls``), predictions off by ``error`` (task ``reg``)."""
    members = ["cls"] if label == "single-cls" else ["reg"] if label == "single-reg" else ["cls", "reg"]
    tasks, metrics = {}, {}
    if "cls" in members:
        predicted = [t if i < correct else 1 - t for i, t in enumerate(TARGET_CLASS)]
        tasks["cls"] = {"metric": "accuracy", "test": {"predicted": predicted, "target": TARGET_CLASS}}
        metrics["cls:accuracy"] = correct / 100
    if "reg" in members:
        tasks["reg"] = {"metric": "rmse", "test": {"predicted": [v + error * (1 if i % 2 else -1) for i, v in enumerate(TARGET_VALUE)],
                                                   "target": TARGET_VALUE}}
        metrics["reg:rmse"] = error
    weighting = None if label.startswith("single") else label
    return RunResult(key=f"{label}-{seed}", spec={"seed": seed, "multitask": {"members": members, "weighting": weighting}},
                     status="done", metrics=metrics, train_seconds=1.0,
                     record={"multitask": {"tasks": tasks, "weighting": {"weights": [1.0, 1.0]}}})


def test_a_multi_task_run_worse_on_both_tasks_is_negative_transfer_in_either_metrics_direction():
    runs = []
    for seed in range(3):
        runs += [_run("single-cls", seed, correct=90 + seed, error=0.0), _run("single-reg", seed, correct=0, error=0.2 + 0.01 * seed),
                 _run("equal", seed, correct=70 + seed, error=0.5 + 0.01 * seed), _run("gradnorm", seed, correct=90 + seed, error=0.2 + 0.01 * seed)]
    analysis = multitask_rows(runs, ["cls", "reg"], ["equal", "gradnorm"], {"cls": 0.5, "reg": 0.1})
    cls, reg = analysis["tasks"]
    assert cls["single"]["mean"] == pytest.approx(0.91) and cls["single"]["ci_low"] < 0.91 < cls["single"]["ci_high"]
    assert cls["difference"]["equal"]["mean"] == pytest.approx(-0.2) and cls["difference"]["equal"]["reading"] == "negative transfer"
    assert reg["difference"]["equal"]["mean"] > 0.29, "multi − single in RMSE's own units"
    assert reg["difference"]["equal"]["gain"]["mean"] < -0.29
    # reg's constant reference (0.1) beats both reg scores: no difference between them says anything about transfer
    assert reg["difference"]["equal"]["reading"] == reg["difference"]["gradnorm"]["reading"] == "neither better than the constant reference"
    assert cls["difference"]["gradnorm"]["reading"] == "no difference shown"
    assert reg["lower_is_better"] and not cls["lower_is_better"]
    text = multitask_markdown(analysis, tasks=["cls", "reg"], weightings=["equal", "gradnorm"], notes=["a note"])
    assert "**Negative transfer**: cls under equal: 20.0 points lower accuracy than trained alone" in text
    assert "- reg under equal: RMSE 0.300 higher than trained alone, but neither beats the constant reference" in text
    assert "| cls (accuracy, %; 100 test rows) | 50.0 | 91.0 (" in text and "-20.0 (" in text
    assert "reg trained alone (0.210) does not beat the constant reference (0.100) on rmse" in text
    assert "cls trained alone" not in text
    assert "No difference shown (the interval spans 0): cls under gradnorm." in text


def test_one_seed_has_no_seed_interval_but_keeps_the_test_rows_interval_and_a_missing_cell_is_a_dash():
    runs = [_run("single-cls", 0, correct=80, error=0.0), _run("equal", 0, correct=95, error=0.1)]
    analysis = multitask_rows(runs, ["cls", "reg"], ["equal", "uncertainty"])
    cls, reg = analysis["tasks"]
    assert cls["single"]["ci_low"] < 0.8 < cls["single"]["ci_high"], "test-row resampling alone"
    assert cls["difference"]["equal"]["reading"] == "multi-task helps"
    assert "single" not in reg and "equal" in reg["multi"] and not reg["difference"]
    text = multitask_markdown(analysis, tasks=["cls", "reg"], weightings=["equal", "uncertainty"], notes=[])
    assert "Multi-task helps cls under equal" in text and "| – |" in text
    assert "than trained alone (difference +15.0 (" in text, "the gain's interval is said beside it"


def test_a_verdict_on_one_seed_and_a_capped_budget_says_so_and_the_headers_say_what_the_intervals_cover(capsys, monkeypatch):
    """One seed, 3 steps where the rule asked 100: the interval is over the test rows alone and the budget was cut, so
    "Negative transfer" is not said bare (it was, with "95% interval over seeds and test rows" above it)."""
    from headstart.cli.multitask import multitask as cli_multitask
    from headstart.report.multitask import budget_note

    budget = {"planned_steps": 3, "steps": 3, "epochs": 3, "min_steps": 100, "max_steps": 3, "capped": True, "lr": 5e-5, "epoch_steps": 3,
              "head_lr": 1e-3, "tuned": False}
    runs = [_run("single-cls", 0, correct=90, error=0.0), _run("equal", 0, correct=70, error=0.1)]
    for r in runs:
        r.record["budget"] = budget
    analysis = multitask_rows(runs, ["cls"], ["equal"], {"cls": 0.5})
    assert analysis["tasks"][0]["difference"]["equal"]["covers"] == "test rows" and analysis["capped"]
    assert budget_note(analysis) == ("Budget as run, every run (alone and under each weighting): 3 steps (the rule: 3 epochs, at "
                                     "least 100 steps; capped at 3 by max_steps: 3 epochs run), lr 5e-05, head lr 0.001, untuned.")
    text = multitask_markdown(analysis, tasks=["cls"], weightings=["equal"], notes=[])
    assert "over seeds and test rows" not in text
    assert "One seed; in brackets a 95% interval over its test rows alone" in text
    assert "-20.0 (" in text and "): negative transfer on one seed |" in text
    assert "**Negative transfer**" not in text and "- **Negative transfer on one seed**: cls under equal: 20.0 points lower" in text
    assert ("- Caveat: these verdicts stand on one seed: their intervals cover its test rows alone, and another seed may "
            "train otherwise, so --seeds 3 or more before relying on them; the runs trained a budget that max\\_steps cut (3 "
            "steps (the rule: 3 epochs, at least 100 steps; capped at 3 by max\\_steps: 3 epochs run)") in text
    three = [_run(label, seed, correct=c + seed, error=0.1) for seed in range(3) for label, c in (("single-cls", 90), ("equal", 70))]
    text = multitask_markdown(multitask_rows(three, ["cls"], ["equal"], {"cls": 0.5}), tasks=["cls"], weightings=["equal"], notes=[])
    assert "Mean over seeds; 95% interval over seeds and test rows in brackets" in text and "Caveat" not in text
    assert "**Negative transfer**: cls under equal" in text, "three seeds and no budget cut: the verdict stands bare"

    result = SimpleNamespace(analysis=analysis, reports={"report.md": Path("report.md")}, trained=2, notes=[])
    monkeypatch.setattr("headstart.multitask.multitask", lambda *a, **k: result)  # the CLI's lines of what it returns
    cli_multitask(tasks="cls", weighting="equal", n="16", seeds=1, max_test="60", out=Path("out"), option=None, alpha=1.5,
                  weight_lr=0.025, text_column=None, lr=None, head_lr=None, epochs=None, min_steps=None, max_steps=3,
                  batch_size=None, quiet=True, as_json=False, backbone="tiny", strategy="full-finetune")
    printed = capsys.readouterr().out
    assert "; 1 seed: training randomness is not in the interval): negative transfer on one seed" in printed
    assert "note: these verdicts stand on one seed" in printed and "capped at 3 by max_steps" in printed


def test_predictions_that_agree_on_every_row_differ_by_at_most_the_bound_of_no_disagreement_not_by_exactly_zero():
    """Three seeds whose multi-task and single-task predictions agree on every row: every resample gives 0, which is
    not certainty (the rows could have disagreed): the interval is ± the Wilson bound of 0 disagreements in 100 rows
    (stats.agreement_bound, as compare says), and one run's accuracy keeps its Wilson interval on the rows."""
    from headstart.analysis.stats import agreement_bound, wilson

    runs = []
    for seed in range(3):
        runs += [_run("single-cls", seed, correct=80, error=0.0), _run("equal", seed, correct=80, error=0.1)]
    analysis = multitask_rows(runs, ["cls"], ["equal"])
    (cls,) = analysis["tasks"]
    diff = cls["difference"]["equal"]
    bound = agreement_bound(100)
    assert diff["mean"] == 0.0 and (diff["ci_low"], diff["ci_high"]) == (-bound, bound) and diff["agree_rows"] == 100
    assert diff["reading"] == "no difference shown"
    text = multitask_markdown(analysis, tasks=["cls"], weightings=["equal"], notes=[])
    assert f"| 0.0 (-{100 * bound:.1f} to +{100 * bound:.1f}): no difference shown" in text, text  # 0, not "+0.0"
    perfect = multitask_rows([_run("single-cls", 0, correct=100, error=0.0)], ["cls"], [])["tasks"][0]["single"]
    assert perfect["mean"] == 1.0 and perfect["ci_low"] == pytest.approx(wilson(1.0, 100)[0]) and perfect["ci_high"] == 1.0


def test_no_negative_transfer_is_said_only_of_the_tasks_where_it_can_be_read():
    """A task whose two scores never beat the constant reference, with its whole interval below 0, is no transfer to
    read: the summary said "no task's multi-task score is below its single-task score with the whole interval" over a
    table showing -7.0 (-11.8 to -2.2) for it."""
    runs = []
    for seed in range(3):
        runs += [_run("single-cls", seed, correct=90 + seed, error=0.0), _run("single-reg", seed, correct=0, error=0.2 + 0.01 * seed),
                 _run("gradnorm", seed, correct=90 + seed, error=0.5 + 0.01 * seed)]
    analysis = multitask_rows(runs, ["cls", "reg"], ["gradnorm"], {"cls": 0.5, "reg": 0.1})
    text = multitask_markdown(analysis, tasks=["cls", "reg"], weightings=["gradnorm"], notes=[])
    assert ("- No negative transfer shown where it can be read (not reg under gradnorm: their scores do not beat the "
            "constant reference, below): no task's multi-task score is below its single-task score with the whole interval "
            "among the tasks whose scores beat the constant reference.") in text
    alone = multitask_rows([r for r in runs if "cls" not in r.key], ["reg"], ["gradnorm"], {"reg": 0.1})
    assert "- No transfer can be read either way: no task's scores beat the constant reference (below)." in \
        multitask_markdown(alone, tasks=["reg"], weightings=["gradnorm"], notes=[])
    analysis = multitask_rows([r for r in runs if "reg" not in r.key or r.key.startswith("gradnorm")], ["cls"], ["gradnorm"], {"cls": 0.5})
    assert "- No negative transfer shown: no task's multi-task score is below its single-task score with the whole interval." in \
        multitask_markdown(analysis, tasks=["cls"], weightings=["gradnorm"], notes=[])


def test_a_score_or_difference_whose_seeds_and_resamples_all_agreed_has_no_interval_and_no_verdict():
    """RMSE of an error the same size on every row: every resample gives the same value, so single-task read "0.100
    (0.100–0.100)", multi-task "0.000 (0.000–0.000)", and the difference "-0.100 (-0.100 to -0.100): multi-task helps"
    — a verdict from no error seen. Now compare's "no interval", no p-value and no verdict, in the JSON and the words."""
    runs = [r for seed in range(2) for r in (_run("single-reg", seed, correct=0, error=0.1), _run("equal", seed, correct=90, error=0.0))]
    analysis = multitask_rows(runs, ["reg"], ["equal"], {"reg": 0.5})
    (reg,) = analysis["tasks"]
    why = "every seed and every resample of the test rows gave the same value"
    assert reg["single"]["no_interval"] == why and reg["multi"]["equal"]["no_interval"] == why
    diff = reg["difference"]["equal"]
    assert diff["no_interval"] == why and diff["p_value"] is None and not diff["significant"]
    assert diff["reading"] == "no interval" and diff["covers"] == "none"
    text = multitask_markdown(analysis, tasks=["reg"], weightings=["equal"], notes=[])
    assert f"| 0.100 (no interval: {why}) | 0.000 (no interval: {why}) |" in text
    assert "Mean over seeds; 95% interval over seeds and test rows in brackets" in text, "two seeds, not one"
    assert f"| -0.100 (no interval: {why}): no interval |" in text
    assert "Multi-task helps" not in text and "No difference shown" not in text
    assert f"- No interval to read a difference from: reg under equal (no interval: {why})." in text
    from headstart.multitask import MultitaskResult

    assert "equal better on 0, worse on 0" in repr(MultitaskResult(out=Path("out"), analysis=analysis))


def test_a_difference_on_one_seed_is_not_significant_and_its_interval_says_training_randomness_is_not_in_it():
    runs = [_run("single-cls", 0, correct=80, error=0.0), _run("equal", 0, correct=95, error=0.1)]
    diff = multitask_rows(runs, ["cls"], ["equal"])["tasks"][0]["difference"]["equal"]
    assert diff["caveat"] == "1 seed: training randomness is not in the interval" and diff["significant"] is False
    text = multitask_markdown(multitask_rows(runs, ["cls"], ["equal"]), tasks=["cls"], weightings=["equal"], notes=[])
    assert "; 1 seed: training randomness is not in the interval): multi-task helps on one seed |" in text
    assert "than trained alone (difference +15.0 (" in text and "training randomness is not in the interval))." in text


def test_the_learned_weights_say_what_they_are_over_one_seed_or_the_seeds_mean():
    one = [_run("single-cls", 0, correct=80, error=0.0), _run("equal", 0, correct=95, error=0.1)]
    text = multitask_markdown(multitask_rows(one, ["cls"], ["equal"]), tasks=["cls"], weightings=["equal"], notes=[])
    assert "at the chosen checkpoint, of one seed's run (equal: 1 each" in text and "mean over" not in text.split("## Learned weights")[1]
    three = [_run(label, seed, correct=80 + seed, error=0.1) for seed in range(3) for label in ("single-cls", "equal")]
    text = multitask_markdown(multitask_rows(three, ["cls"], ["equal"]), tasks=["cls"], weightings=["equal"], notes=[])
    assert "at the chosen checkpoint, mean over 3 seeds (equal: 1 each" in text


def test_a_tiny_accuracy_difference_is_not_written_as_none() -> None:
    """A multi-task run 0.04 points above its task trained alone read "+0.0 (-0.0 to +0.1)": the difference now carries
    the decimals that show it (``cell_stats.signed_points``), as the compare report's differences do."""
    from headstart.report.multitask import difference_text

    cell = {"mean": 0.0004, "ci_low": -0.00003, "ci_high": 0.0009}
    assert difference_text("accuracy", cell) == "+0.04 (-0.003 to +0.1)"
    assert difference_text("accuracy", {"mean": -0.123, "ci_low": -0.2, "ci_high": -0.05}) == "-12.3 (-20.0 to -5.0)"


def test_the_mean_training_time_says_it_is_wall_time() -> None:
    """"Mean training time a run" is the runs' train_seconds, clock seconds (perf_counter) that a busy machine moves,
    as compare's report and its "cheaper in wall time" say of theirs; the line now says wall time too."""
    runs = [_run("single-cls", 0, correct=80, error=0.0), _run("equal", 0, correct=85, error=0.1)]
    analysis = multitask_rows(runs, ["cls"], ["equal"])
    text = multitask_markdown(analysis, tasks=["cls"], weightings=["equal"], notes=[])
    assert "Mean training wall time a run: " in text and "Mean training time" not in text, text
