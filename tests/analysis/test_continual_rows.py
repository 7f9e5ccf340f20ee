"""``analysis.continual``: the matrix's numbers and their intervals, on hand-built chains."""

from __future__ import annotations

from headstart.analysis.continual import continual_rows
from headstart.results import RunResult


def _step(arm: str, seed: int, step: int, test: list[float]) -> RunResult:
    spec = {"seed": seed, "continual": {"arm": arm, "method": arm, "step": step, "steps": 2}}
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
