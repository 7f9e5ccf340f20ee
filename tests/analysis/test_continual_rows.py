"""``analysis.continual``: the matrix's numbers and their intervals, on hand-built chains."""

from __future__ import annotations

import pytest

from headstart.analysis.continual import continual_rows
from headstart.results import RunResult


def _step(arm: str, seed: int, step: int, test: list[float], steps: int = 2) -> RunResult:
    spec = {"seed": seed, "continual": {"arm": arm, "method": arm, "step": step, "steps": steps}}
    return RunResult(key=f"{arm}/{seed}/{step}", spec=spec, status="done", train_seconds=1.0,
                     record={"continual": {"test": test, "val": test}})


def test_intervals_over_two_far_apart_seeds_stay_within_what_the_numbers_can_take():
    """Two seeds that disagree widely: a t-interval over them reaches far past 0–100% (and past ±100 points for BWT);
    it is clipped, as compare's are."""
    runs = [_step("naive", 0, 0, [0.95]), _step("naive", 0, 1, [0.95, 0.9]),  # ACC 0.925, BWT 0
            _step("naive", 1, 0, [0.9]), _step("naive", 1, 1, [0.0, 0.05])]  # ACC 0.025, BWT -0.9
    (row,) = continual_rows(runs)["arms"]
    for name in ("acc", "plasticity"):
        assert 0.0 <= row[name]["ci_low"] <= row[name]["mean"] <= row[name]["ci_high"] <= 1.0, (name, row[name])
    assert row["acc"]["ci_low"] == 0.0 and row["acc"]["ci_high"] == 1.0, "clipped, not a normal interval's -4 to +5"
    assert -1.0 <= row["bwt"]["ci_low"] <= row["bwt"]["mean"] <= row["bwt"]["ci_high"] <= 1.0, row["bwt"]
    assert row["bwt"]["mean"] < -0.4 and row["bwt"]["ci_low"] == -1.0


def _chain(arm: str, seed: int, matrix: list[list[float]]) -> list[RunResult]:
    return [_step(arm, seed, i, row, steps=len(matrix)) for i, row in enumerate(matrix)]


def test_acc_bwt_plasticity_and_fwt_are_the_matrixs_numbers_as_the_module_defines_them():
    """Three tasks, two seeds, worked by hand. ACC = mean_j R[T-1][j]; BWT = mean_{j<T-1} (R[T-1][j] − R[j][j]);
    plasticity = mean_j R[j][j] (the diagonal, not the last row); FWT = mean_{j>=1} (R[j][j] − A_j), A_j the alone
    arm's score on task j of the same seed (task 0 left out: nothing came before it)."""
    runs = [*_chain("naive", 0, [[0.9], [0.5, 0.8], [0.3, 0.4, 0.7]]),  # ACC 0.4667, BWT -0.5, plasticity 0.8
            *_chain("alone", 0, [[0.95], [0.1, 0.6], [0.1, 0.2, 0.5]]),  # FWT ((0.8-0.6) + (0.7-0.5)) / 2 = 0.2
            *_chain("naive", 1, [[0.7], [0.2, 0.9], [0.1, 0.5, 0.6]]),  # ACC 0.4, BWT -0.5, plasticity 0.7333
            *_chain("alone", 1, [[0.8], [0.3, 0.5], [0.2, 0.3, 0.4]])]  # FWT ((0.9-0.5) + (0.6-0.4)) / 2 = 0.3
    rows = {row["arm"]: row for row in continual_rows(runs)["arms"]}
    naive = rows["naive"]
    assert naive["acc"]["mean"] == pytest.approx((1.4 / 3 + 1.2 / 3) / 2)
    assert naive["bwt"]["mean"] == pytest.approx(-0.5)
    assert naive["plasticity"]["mean"] == pytest.approx((0.8 + 2.2 / 3) / 2)
    assert naive["fwt"]["mean"] == pytest.approx(0.25), "paired by seed: 0.2 and 0.3"
    assert naive["acc_by_seed"] == {0: pytest.approx(1.4 / 3), 1: pytest.approx(0.4)}
    assert naive["matrix"][2] == [pytest.approx(0.2), pytest.approx(0.45), pytest.approx(0.65)], "R averaged over seeds"
    assert "fwt" not in rows["alone"] and "bwt" not in rows["alone"], "the reference has no transfer to itself to measure"
    assert rows["alone"]["plasticity"]["mean"] == pytest.approx((2.05 / 3 + 1.7 / 3) / 2)
