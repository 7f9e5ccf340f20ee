"""Tests of the API's small helpers (headstart/api.py, api_compare.py, fit_checks.py): the plan line a compare says
first, the split names evaluate takes, and a single run's budget notes (a regression run is told about the mean, not
a majority class)."""

from __future__ import annotations

import dataclasses

import pytest

from headstart.api import split_name
from headstart.api_compare import plan_text
from headstart.fit_checks import budget_notes
from headstart.errors import ConfigError
from headstart.results import RunResult
from headstart.sweep_spec import SweepSpec


def test_the_plan_line_counts_the_product_and_what_the_store_already_holds():
    default = SweepSpec(strategies=("scratch", "linear-probe", "full-finetune"), sizes=(8, 16, 32, 64, 128, 256, None), seeds=5)
    assert plan_text(default, 105, 105) == "plan: 105 runs (3 strategies x 7 sizes x 5 seeds): 0 already stored, 105 to train"
    assert plan_text(default, 105, 5).endswith("): 100 already stored, 5 to train")
    one = SweepSpec(arms=("lora[rank=4]",), sizes=(16,), seeds=1, backbones=("a", "b"))
    assert plan_text(one, 2, 2) == "plan: 2 runs (2 backbones x 1 arm x 1 size x 1 seed): 0 already stored, 2 to train"
    zero = SweepSpec(strategies=("zero-shot", "linear-probe"), sizes=(0, 8), seeds=1)
    assert len(zero.cells()) == 2  # zero-shot at 0 only, the probe at 8 only: not 2 x 2
    assert "2 strategies x 2 sizes x 1 seed; label-free arms at size 0 only" in plan_text(zero, 2, 2)


def test_the_plan_line_says_a_label_free_arm_repeats_one_run_over_its_seeds():
    """README's smollm2 compare planned 5 identical zero-shot-prompt runs over the whole test split, unsaid."""
    sweep = SweepSpec(arms=("zero-shot-prompt", "icl[k=8]", "lora"), sizes=(0, 8, 64), seeds=5)
    assert plan_text(sweep, 25, 21, repeats=4).endswith(
        ": 0 already stored, 21 to train, 4 stored from the seed they repeat; size 0's zero-shot-prompt reads no labels "
        "and takes no step, so its 5 seeds are one run: trained once, stored for each (deterministic: 1 run, no seed "
        "interval)")
    assert "repeats" not in plan_text(dataclasses.replace(sweep, seeds=1), 5, 5)
    assert "repeats" not in plan_text(SweepSpec(arms=("icl[k=8]", "lora"), sizes=(8, 64), seeds=5), 20, 20)


def test_validation_is_another_name_for_the_val_split(tmp_path):
    import headstart

    assert split_name("validation") == "val" and split_name("val") == "val" and split_name("test") == "test"
    with pytest.raises(ConfigError, match=r"^--split must be 'test' or 'val' \('validation' too\), got 'dev'; e\.g\. --split val$"):
        split_name("dev")
    with pytest.raises(ConfigError, match=r"^split must be 'test' or 'val' \('validation' too\), got 'train'; e\.g\. split='val'$"):
        headstart.evaluate(tmp_path / "no-run", "train")  # refused before the run is read, in Python's words


def closed_form(task: str, val: dict[str, float], reference: dict[str, float], metric: str) -> RunResult:
    """A closed-form run (no steps: embed-logreg) scoring ``val`` on validation, where predicting from the training
    pool's labels alone (``evaluation.prior_predictions``) scores ``reference``."""
    record = {"history": [], "budget": {"planned_steps": 0, "steps": 0, "metric": metric}, "reference": {"val": reference}}
    spec = {"strategy": "embed-logreg", "n": 16, "n_requested": 16, "seed": 0, "data": {"name": "d", "task": task}}
    return RunResult(key="k", spec=spec, status="done", val_metrics=val, record=record)


def test_a_regression_run_that_learned_nothing_is_compared_with_the_mean_not_a_majority_class():
    """On regression the reference predicts the pool's mean (r2 0 on its own rows): no majority class to speak of."""
    (note,) = budget_notes(closed_form("regression", {"rmse": 0.8801}, {"rmse": 0.8786}, "rmse"))
    assert note["reason"] == "majority" and note["text"] == "never beat predicting the training pool's mean on validation"
    (note,) = budget_notes(closed_form("classification", {"accuracy": 0.5}, {"accuracy": 0.55}, "accuracy"))
    assert note["text"] == "never beat the majority-class rate on validation"
    assert budget_notes(closed_form("regression", {"rmse": 0.5}, {"rmse": 0.8786}, "rmse")) == []


def tuned_run(value: float, *, val: float = 0.8, strategy: str = "linear-probe", param: str = "head_lr",
              grid: tuple = (0.001, 0.003, 0.01)) -> RunResult:
    spec = {"strategy": strategy, "n": 64, "n_requested": 64, "seed": 0, "tune": {"param": param, "grid": list(grid)},
            "data": {"name": "d", "task": "classification"}}
    return RunResult(key="k", spec=spec, status="done", val_metrics={"accuracy": val}, chosen={param: value},
                     record={"budget": {"metric": "accuracy"}})


def test_train_notes_a_choice_at_an_end_of_its_grid_as_compare_flags_its_runs(monkeypatch):
    """``train --tune lr`` chose head_lr 0.01, the top of its grid, and said nothing, where compare's report flags the
    same choice; one run is noted (chance included), with the grid moved past that end."""
    from headstart.fit_checks import grid_edge_note
    from headstart.surface import SURFACE_ENV

    monkeypatch.setenv(SURFACE_ENV, "cli")
    (note,) = grid_edge_note(tuned_run(0.01))
    assert note["reason"] == "grid-edge"
    assert note["text"] == ("chose head_lr 0.01, the top of its grid (0.001, 0.003, 0.01): the best head_lr may lie above "
                            "it (one run: an end is chosen 1 time in 3 when the values are equally good)")
    assert note["advice"] == "try --grid 0.003,0.01,0.033"
    assert grid_edge_note(tuned_run(0.001))[0]["text"].startswith("chose head_lr 0.001, the bottom of its grid")
    assert grid_edge_note(tuned_run(0.003)) == [] and grid_edge_note(tuned_run(0.01, val=1.0)) == []
    knn = RunResult(key="k", spec={"strategy": "embed-knn", "n": 64, "options": {"grid": [1, 5, 64]}}, status="done",
                    val_metrics={"accuracy": 0.8}, chosen={"k": 64}, record={})
    assert grid_edge_note(knn) == [], "k = n: no larger k exists"
    monkeypatch.setenv(SURFACE_ENV, "python")
    assert grid_edge_note(tuned_run(0.01))[0]["advice"] == "try grid=(0.003, 0.01, 0.033)"


def stepped(steps: int, *, planned: int = 30, max_steps: int = 30) -> RunResult:
    """A full fine-tune of ``planned`` steps capped by ``max_steps`` that took ``steps`` and never beat the majority class
    on validation (0.55 at every check, the majority 0.60)."""
    history = [{"step": s, "phase": "finetune", "val_score": 0.55} for s in (6, 12, 18, 24, 30) if s <= steps]
    record = {"history": history, "reference": {"val": {"accuracy": 0.60}},
              "budget": {"planned_steps": planned, "steps": steps, "max_steps": max_steps, "capped": True, "metric": "accuracy"}}
    spec = {"strategy": "full-finetune", "n": 32, "n_requested": 32, "seed": 0, "data": {"name": "d", "task": "classification"}}
    return RunResult(key="k", spec=spec, status="done", val_metrics={"accuracy": 0.55}, record=record)


def test_a_run_that_stopped_early_is_not_told_its_max_steps_capped_it(monkeypatch):
    """A user's --max-steps 30 cut the planned budget, but validation ended the run at step 24: the cap never bound,
    so train's advice says what compare says of such a cell (more steps would go unused), not "raise it first". The
    advice names fit's keywords to a Python caller, train's flags on the CLI."""
    from headstart.surface import SURFACE_ENV

    (capped,) = budget_notes(stepped(30))
    assert capped["reason"] == "majority" and "(max_steps=30 capped this run: raise it first)" in capped["advice"]
    monkeypatch.setenv(SURFACE_ENV, "cli")
    (capped,) = budget_notes(stepped(30))
    assert "(--max-steps 30 capped this run: raise it first)" in capped["advice"]
    monkeypatch.delenv(SURFACE_ENV)
    (early,) = budget_notes(stepped(24))
    assert "capped" not in early["advice"] and early["advice"].startswith("validation stopped improving before its budget ended")


def imbalanced(class_weights: str | None) -> RunResult:
    """``stepped(30)`` on a 95%/5% file: it chose on macro-F1 ("auto": classes more than 3:1 imbalanced) and never beat
    the majority class's macro-F1, trained with ``class_weights`` (None: a spec that does not say)."""
    run = stepped(30)
    history = [{**h, "val_score": 0.48} for h in run.record["history"]]
    record = {**run.record, "history": history, "reference": {"val": {"accuracy": 0.95, "macro_f1": 0.487}},
              "budget": {**run.record["budget"], "metric": "macro_f1"}}
    train = {"metric": "auto"} | ({"class_weights": class_weights} if class_weights else {})
    return dataclasses.replace(run, spec={**run.spec, "train": train}, val_metrics={"accuracy": 0.95, "macro_f1": 0.48},
                               record=record)


def test_a_run_on_imbalanced_classes_without_class_weights_is_told_to_weigh_them(monkeypatch):
    """On a 95/5 file with class weights off, "never beat the majority-class rate" only suggested --tune lr or more
    steps; it names --class-weights now, and not where the classes were weighted or are balanced."""
    from headstart.surface import SURFACE_ENV

    monkeypatch.setenv(SURFACE_ENV, "cli")
    (note,) = budget_notes(imbalanced("none"))
    assert note["reason"] == "majority" and note["advice"].endswith(
        "; its classes are more than 3:1 imbalanced and the loss weighs them equally: try --class-weights balanced (or "
        "auto, which weights them only when imbalanced)")
    assert "--class-weights" in budget_notes(imbalanced(None))[0]["advice"]  # none is the default
    assert "class-weights" not in budget_notes(imbalanced("balanced"))[0]["advice"]
    assert "class-weights" not in budget_notes(stepped(30))[0]["advice"]  # the majority 60%: not imbalanced
    monkeypatch.setenv(SURFACE_ENV, "python")
    assert "try class_weights='balanced'" in budget_notes(imbalanced("none"))[0]["advice"]


@pytest.mark.parametrize("strategy, weighs", [("icl", False), ("embed-knn", False), ("embed-logreg", True), ("lora", True)])
def test_class_weights_are_suggested_only_to_an_arm_they_would_change(strategy, weighs):
    """icl was told "it takes no optimiser steps; ... try --class-weights balanced": a prompt and a kNN vote have no
    loss to weigh, so the flag cannot change them; a logistic fit and a loss can."""
    run = imbalanced("none")
    (note,) = budget_notes(dataclasses.replace(run, spec={**run.spec, "strategy": strategy}))
    assert note["reason"] == "majority" and ("class_weights" in note["advice"]) == weighs, note["advice"]


@pytest.mark.parametrize("imported", [False, True])
def test_importing_headstart_keeps_pefts_notice_to_its_maintainers_out_of_a_notebook(imported):
    """A LoRA fit from Python printed transformers' FutureWarning on ``is_gradient_checkpointing`` (read by PEFT on
    every PeftModel), which the CLI kept out; importing headstart now keeps it out, and only it (without the import,
    the same read warns: the check can fail)."""
    import subprocess
    import sys

    code = ("import transformers\n"
            "m = transformers.BertModel(transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,"
            " intermediate_size=8, vocab_size=50))\n"
            "m.is_gradient_checkpointing\n"
            "import warnings; warnings.warn('another notice', FutureWarning)\n")
    done = subprocess.run([sys.executable, "-W", "always", "-c", ("import headstart\n" if imported else "") + code],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ("is_gradient_checkpointing" in done.stderr) is not imported, done.stderr
    assert "another notice" in done.stderr


def test_fit_reads_max_test_all_as_compare_does(toy_csv, tiny_registry):
    """compare(max_test="all") and --max-test all were accepted, fit(max_test="all") refused as no integer: now the same
    run as no cap at all (one key), and anything else is refused in Python's words."""
    import headstart
    from headstart.specs import TrainConfig

    config = TrainConfig(max_steps=2, min_steps=2, batch_size=8, precision="fp32")
    runs = [headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=8, config=config, progress=False, **given)
            for given in ({}, {"max_test": "all"}, {"max_test": "ALL"})]
    assert len({run.key for run in runs}) == 1
    with pytest.raises(ConfigError, match=r"max_test must be a positive integer or 'all', got 'most'; e\.g\. max_test=1000"):
        headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=8, config=config, max_test="most")
