"""benchmarks/tuning_effect.py on synthetic stores: paired gains, rankings, embed-logreg vs probe, overhead."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from headstart.results import RunResult

SPEC = importlib.util.spec_from_file_location("tuning_effect", Path(__file__).resolve().parents[1] / "benchmarks" / "tuning_effect.py")
tuning_effect = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(tuning_effect)


def result(strategy: str, n: int, seed: int, value: float, *, tuned: bool = False, seconds: float = 10.0) -> RunResult:
    train = {"epochs": 1, "min_steps": 100, "batch_size": 16, "accumulate": 1, "precision": "fp32"}
    chosen = {}
    if tuned and strategy == "full-finetune":  # three trials of a third of the budget, then the final run
        chosen = {"lr": 5e-5, "trials": [{"lr": v, "steps": 33} for v in (1e-5, 2e-5, 5e-5)], "tune_seconds": seconds / 2}
    spec = {"strategy": strategy, "n": n, "n_requested": n, "seed": seed, "train": train}
    return RunResult(key=f"{strategy}/{n}/{seed}/{tuned}", spec=spec, status="done", metrics={"accuracy": value},
                     chosen=chosen, train_seconds=seconds)


def test_report_pairs_by_seed_ranks_and_measures_the_overhead():
    off = [result(s, 64, k, base + 0.01 * k) for s, base in (("full-finetune", 0.60), ("embed-logreg", 0.65), ("linear-probe", 0.62))
           for k in range(3)]
    on = [result("full-finetune", 64, k, 0.70 + 0.01 * k, tuned=True, seconds=20.0) for k in range(3)]
    on += [result(s, 64, k, base + 0.01 * k, tuned=True) for s, base in (("embed-logreg", 0.65), ("linear-probe", 0.63)) for k in range(3)]
    text = tuning_effect.report(off, on)
    assert "best without tuning: embed-logreg, with tuning: full-finetune (changed)" in text
    row = next(line for line in text.splitlines() if line.startswith("| full-finetune | 61.0"))
    agreed = "(no interval: every seed gave the same value"  # the same gain in every seed: no interval, no p
    assert "| 3 | 71.0" in row and f"+10.0 {agreed}" in row and "lr 5e-05" in row
    assert f"| no tuning | 64 | +3.0 {agreed}" in text and f"| tuned | 64 | +2.0 {agreed}" in text
    assert "to resample) | – |" in text
    overhead = next(line for line in text.splitlines() if line.startswith("| full-finetune | 10 | 20 |"))
    assert overhead == "| full-finetune | 10 | 20 | 2.00x | 2.00x | 1.99x |"  # wall: 20 s / (20 - 10); steps: (99 + 100) / 100
    assert "| embed-logreg | 10 | 10 | 1.00x | – (nothing to tune) | – |" in text


def test_only_sizes_in_both_stores_are_compared():
    off = [result("linear-probe", n, k, 0.6) for n in (16, 64) for k in range(2)]
    on = [result("linear-probe", 16, k, 0.6, tuned=True, seconds=30.0) for k in range(2)]
    text = tuning_effect.report(off, on)
    assert "### n = 16" in text and "### n = 64" not in text
    assert "Whole sweep: 20 s of training without tuning, 60 s with (3.00x)" in text


def test_a_missing_store_exits_with_a_message(tmp_path):
    with pytest.raises(SystemExit, match="no store"):
        tuning_effect.load(str(tmp_path))


def test_only_cells_done_in_both_stores_count():
    off = [result("full-finetune", n, k, 0.6, seconds=100.0 if n == 64 else 1000.0) for n in (64, 1000) for k in range(3)]
    on = [result("full-finetune", 64, k, 0.7, tuned=True, seconds=200.0) for k in range(3)]
    on += [result("embed-logreg", 1000, 0, 0.7, tuned=True)]  # only one strategy at this size, in one store
    text = tuning_effect.report(off, on)
    assert "### n = 1000" not in text, "a size with nothing done in both is left out"
    assert "| full-finetune | 100 | 200 | 2.00x |" in text, "the untuned n = 1000 runs stay out of the overhead"


def test_untimed_runs_keep_their_scores_but_leave_the_overhead():
    off = [result("full-finetune", 64, k, 0.6, seconds=100.0) for k in range(3)]
    on = [result("full-finetune", 64, k, 0.7, tuned=True, seconds=200.0 if k else 5000.0) for k in range(3)]
    text = tuning_effect.report(off, on, untimed=frozenset({on[0].key}))
    assert "| full-finetune | 61.0" not in text and "| full-finetune | 60.0 (60.0–60.0) | 1 | 70.0 (70.0–70.0)" in text
    assert "| full-finetune | 100 | 200 | 2.00x | 2.00x |" in text, "the paused seed's 5000 s stays out"
