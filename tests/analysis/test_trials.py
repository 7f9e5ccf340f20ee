"""Tests of headstart/analysis/trials.py: a tuned cell whose trials trained fewer steps than its final run, or scored no
better than the majority class, says so where the report names its tuning (the budget column, results.json)."""

from __future__ import annotations

from headstart.analysis import curves
from headstart.analysis.trials import tuned_text
from headstart.results import RunResult


def run(seed: int, trial_scores: tuple[float, float], trial_steps: int = 1) -> RunResult:
    spec = {"strategy": "lora", "n": 8, "n_requested": 8, "seed": seed, "backbone": "tiny", "data": {"name": "d", "hash": "h"},
            "options": {}, "train": {}, "tune": {"param": "lr", "grid": [0.001, 0.003]}}
    trials = [{"lr": lr, "status": "done", "steps": trial_steps, "val_score": v} for lr, v in zip((0.001, 0.003), trial_scores)]
    record = {"budget": {"planned_steps": 4, "steps": 4, "epochs": 1, "min_steps": 4, "lr": 0.001, "tuned": True,
                         "metric": "accuracy"},
              "reference": {"val": {"accuracy": 0.6}, "test": {"accuracy": 0.5}}}
    return RunResult(key=f"lora/8/{seed}", spec=spec, status="done", metrics={"accuracy": 0.5, "n": 100},
                     val_metrics={"accuracy": 0.5}, steps=4, record=record,
                     chosen={"lr": 0.001 if trial_scores[0] >= trial_scores[1] else 0.003, "trials": trials})


def test_one_step_trials_below_the_majority_rate_are_called_a_weak_pick() -> None:
    """The report said "tuned on validation" of lr trials that ran 1 step of the final run's 4 and scored below always
    predicting the majority class (0.48 and 0.47 against 0.6)."""
    runs = [run(0, (0.48, 0.47)), run(1, (0.55, 0.61))]
    text = tuned_text(runs)
    assert text == ("tuned on validation (trials of 1 step, the final run 4; the best trial no better than the "
                    "majority-class rate on validation in 1 of 2 runs: a weak pick)")
    budget = curves(runs, "accuracy")[0]["budget"]  # the table's budget column and results.json's curves
    assert budget.endswith(text)


def test_trials_as_long_as_the_run_that_beat_the_majority_rate_are_plainly_tuned() -> None:
    assert tuned_text([run(0, (0.7, 0.65), trial_steps=4)]) == "tuned on validation"
