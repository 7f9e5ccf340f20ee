"""Tests of headstart/analysis/cell_stats.py: a cell's interval and a paired difference where the test rows show no error."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from headstart.analysis.cell_stats import curves, delta_text, improvement, paired_cell, paired_differences
from headstart.analysis.cells import cells
from headstart.results import RunResult


def run(strategy: str, seed: int, predicted: list[int], target: list[int], *, n: int | str = 16) -> RunResult:
    """A done run of no steps (a closed form) at requested size ``n`` that predicted ``predicted`` on ``target``."""
    correct = float(np.mean(np.asarray(predicted) == np.asarray(target)))
    spec = {"strategy": strategy, "n": 16, "n_requested": n, "seed": seed, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    return RunResult(key=f"{strategy}/{seed}", spec=spec, status="done",
                     metrics={"accuracy": correct, "macro_f1": correct, "n": len(target)},
                     val_metrics={"accuracy": correct, "macro_f1": correct}, train_seconds=1.0,
                     record={"test": {"predicted": predicted, "target": target}})


def all_right(rows: int, strategies: tuple[str, ...] = ("a", "b"), seeds: int = 2) -> list[RunResult]:
    """Closed forms with every label (one run whatever the seed), right on all ``rows``."""
    target = [i % 2 for i in range(rows)]
    return [run(s, seed, target, target, n="all") for s in strategies for seed in range(seeds)]


def test_an_accuracy_right_on_every_row_is_not_certain() -> None:
    """The user's 120 rows all right: the report said 100.0–100.0 where evaluate says 96.9–100 (Wilson)."""
    rows = curves(all_right(120), "accuracy")
    assert all(r["ci_low"] == pytest.approx(0.9690, abs=1e-4) and r["ci_high"] == 1.0 for r in rows), rows
    assert [r["interval"] for r in rows] == ["test rows", "test rows"]  # seeds that all agree: one run


def test_a_balanced_accuracy_right_on_every_row_holds_the_mean_of_its_classes_wilson_intervals() -> None:
    """60 + 60 rows all right: every resample's balanced accuracy is 100%, and the report said 100.0–100.0; each
    class's recall is 60 of 60 (Wilson 94.0–100), so the cell's interval holds 94.0–100."""
    results = [dataclasses.replace(r, metrics={**r.metrics, "balanced_accuracy": 1.0}) for r in all_right(120)]
    rows = curves(results, "balanced_accuracy")
    assert all(r["ci_low"] == pytest.approx(0.9398, abs=1e-4) and r["ci_high"] == 1.0 for r in rows), rows


def test_two_arms_that_agree_on_every_row_are_said_to_with_the_most_they_could_differ() -> None:
    """Not "0.0 points (CI 0.0 to 0.0)": no disagreement on 3 rows leaves ±56 points."""
    (diff,) = paired_differences(all_right(3), "a", "b", "accuracy")
    assert diff["agree_rows"] == 3 and diff["mean"] == 0.0
    assert (diff["ci_low"], diff["ci_high"]) == pytest.approx((-0.5615, 0.5615), abs=1e-4)
    text = delta_text(improvement(diff, "accuracy", True), "accuracy", True)
    assert text == "0.0 points (CI -56.1 to +56.1: the two agree on all 3 test rows)"


def test_agreement_on_a_metric_that_is_no_share_is_said_without_an_interval() -> None:
    (diff,) = paired_differences(all_right(40), "a", "b", "macro_f1")
    text = delta_text(improvement(diff, "macro_f1", True), "macro_f1", True)
    assert text == "0.0 points (the two agree on all 40 test rows; no interval)"


def test_arms_that_disagree_somewhere_keep_their_bootstrap() -> None:
    target = [i % 2 for i in range(50)]
    wrong = [1 - t if i < 5 else t for i, t in enumerate(target)]
    results = [run("a", s, target, target, n="all") for s in range(2)] + [run("b", s, wrong, target, n="all") for s in range(2)]
    (diff,) = paired_differences(results, "a", "b", "accuracy")
    assert "agree_rows" not in diff and diff["ci_low"] < diff["mean"] < diff["ci_high"]
    assert cells(results, "accuracy")[("b", "all")].deterministic


def test_an_out_of_domain_curve_stays_inside_its_measures_range() -> None:
    metric = "ood:other:accuracy"
    results = [dataclasses.replace(r, metrics={**r.metrics, metric: value}, record={})
               for r, value in zip(all_right(10, ("a",)), (0.97, 0.99))]
    (row,) = curves(results, metric)
    assert row["mean"] == pytest.approx(0.98) and row["ci_high"] == 1.0 and row["ci_low"] == pytest.approx(0.853, abs=1e-3)


def test_a_difference_not_in_points_has_its_interval_in_the_frame_of_its_word() -> None:
    """a's rmse 0.05 above b's (worse): "0.05 higher rmse (CI -0.08 to -0.02)" read as a lower rmse in the interval."""
    worse = improvement({"mean": 0.05, "ci_low": 0.02, "ci_high": 0.08, "p_value": 0.01, "significant": True, "pairs": 3},
                        "rmse", False)
    assert delta_text(worse, "rmse", False) == "0.05 higher rmse (CI +0.02 to +0.08)"
    better = improvement({"mean": -0.05, "ci_low": -0.08, "ci_high": 0.01, "p_value": 0.2, "significant": False, "pairs": 3},
                         "rmse", False)
    assert delta_text(better, "rmse", False) == "0.05 lower rmse (CI -0.01 to +0.08)"
    gain = improvement({"mean": -0.5, "ci_low": -0.9, "ci_high": -0.1, "p_value": 0.01, "significant": True, "pairs": 3},
                       "r2", True)
    assert delta_text(gain, "r2", True) == "0.5 lower r2 (CI +0.1 to +0.9)"


def test_a_macro_f1_right_on_every_row_of_one_run_has_no_interval_and_says_why() -> None:
    """30 rows all right, one seed: accuracy gets Wilson's 88.6–100, macro-F1 (no binomial floor) read 100.0–100.0."""
    (accuracy,), (f1,) = curves(all_right(30, ("a",), seeds=1), "accuracy"), curves(all_right(30, ("a",), seeds=1), "macro_f1")
    assert accuracy["ci_low"] == pytest.approx(0.8865, abs=1e-4) and accuracy["interval"] == "test rows"
    assert f1["interval"] == "none" and f1["note"] == "1 seed: no interval: every resample of the test rows gave the same value"


def test_a_difference_whose_seeds_all_agree_is_not_significant_and_shows_no_interval() -> None:
    """Three seeds each, no stored rows, every seed of a 85% and of b 80%: the difference read +5.0 (CI +5.0 to +5.0),
    p = 0, significant."""
    results = [dataclasses.replace(r, metrics={"accuracy": 0.85 if r.spec["strategy"] == "a" else 0.80, "n": 300},
                                   record={}) for r in [run(s, seed, [0], [0]) for s in ("a", "b") for seed in range(3)]]
    (diff,) = paired_differences(results, "a", "b", "accuracy")
    assert diff["p_value"] is None and not diff["significant"] and diff["no_interval"]
    imp = improvement(diff, "accuracy", True)
    assert not imp["has_ci"] and not imp["significant"]
    assert delta_text(imp, "accuracy", True) == ("+5.0 points (no interval: every seed gave the same value and no test "
                                                 "predictions are stored to resample)")
    assert [r["interval"] for r in curves(results, "accuracy")] == ["none", "none"]


def test_a_validation_difference_whose_seeds_all_agree_says_validation_predictions_are_not_stored() -> None:
    """Every seed of a 85% and of b 80% on validation: no interval, and the reason names validation's predictions (never
    stored), not test's (stored: ``paired_cell`` resamples them on test)."""
    results = [dataclasses.replace(r, val_metrics={"accuracy": 0.85 if r.spec["strategy"] == "a" else 0.80})
               for r in [run(s, seed, [0, 1], [0, 1]) for s in ("a", "b") for seed in range(3)]]
    diff = paired_cell(cells(results, "accuracy"), "a", "b", 16, 0.95, split="val")
    assert diff["no_interval"] == ("every seed gave the same value, and validation predictions are not stored to "
                                   "resample (test predictions are)")


def test_one_shared_seed_is_never_significant_but_two_arms_with_no_random_part_need_no_second() -> None:
    """a right on all 200 rows, b on 150: on one seed each the rows' interval excludes 0 but training randomness is
    not in it; where both arms gave the same predictions on every seed (no random part) there is none to leave out."""
    target = [i % 2 for i in range(200)]
    wrong = [1 - t if i < 50 else t for i, t in enumerate(target)]
    one = [run("a", 0, target, target), run("b", 0, wrong, target)]
    (diff,) = paired_differences(one, "a", "b", "accuracy")
    assert diff["ci_low"] > 0 and not diff["significant"] and diff["caveat"] == "1 seed: training randomness is not in the interval"
    assert delta_text(improvement(diff, "accuracy", True), "accuracy", True).endswith(
        "; 1 seed: training randomness is not in the interval)")
    fixed = [run(s, seed, p, target, n="all") for seed in (0, 1) for s, p in (("a", target), ("b", wrong))]
    (diff,) = paired_differences(fixed, "a", "b", "accuracy")
    assert diff["pairs"] == 1 and diff["significant"] and "caveat" not in diff


def test_a_tiny_difference_in_points_and_its_interval_never_read_as_zero() -> None:
    """A lead of 0.02 points with an interval of -0.01 to +0.04 read "0.0 points (CI 0.0 to 0.0)": no lead, certain.
    Each number now carries the decimals that show it; one decimal stays where it does; float dust still reads 0.0."""
    def text(points: float, low: float, high: float) -> str:
        return delta_text({"points": points, "ci": [low, high], "pairs": 3, "has_ci": high > low}, "accuracy", True)

    assert text(0.02, -0.01, 0.04) == "+0.02 points (CI -0.01 to +0.04)"
    assert text(0.003, 0.001, 0.0049) == "+0.003 points (CI +0.001 to +0.005)"
    assert text(1.23, 0.004, 2.7) == "+1.2 points (CI +0.004 to +2.7)"
    assert text(1.23, -0.3, 2.7) == "+1.2 points (CI -0.3 to +2.7)"
    assert text(100 * (0.1 + 0.2 - 0.3), -0.04, 0.04) == "0.0 points (CI -0.04 to +0.04)"
