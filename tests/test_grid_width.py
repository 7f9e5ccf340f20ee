"""benchmarks/grid_width.py on synthetic stores: the same cells under two grids, paired by seed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from headstart.results import RunResult

SPEC = importlib.util.spec_from_file_location("grid_width", Path(__file__).resolve().parents[1] / "benchmarks" / "grid_width.py")
grid_width = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(grid_width)


def result(n: int, seed: int, value: float, grid: tuple[float, ...], chosen: float) -> RunResult:
    spec = {"strategy": "full-finetune", "n": n, "n_requested": n, "seed": seed, "train": {},
            "tune": {"param": "lr", "grid": list(grid), "eta": 3, "trial_checks": "proportional"}}
    return RunResult(key=f"{n}/{seed}/{grid}", spec=spec, status="done", metrics={"accuracy": value},
                     chosen={"lr": chosen, "trials": [], "tune_seconds": 1.0})


def test_report_pairs_the_two_grids_by_seed_and_flags_what_is_still_at_an_edge():
    own, wider = (1e-5, 2e-5, 5e-5), (2e-5, 5e-5, 1.3e-4)
    base = [result(256, k, 0.70 + 0.01 * k, own, 5e-5) for k in range(3)]
    wide = [result(256, k, 0.72 + 0.01 * k + 0.01 * (k == 2), wider, 1.3e-4) for k in range(3)]
    text = grid_width.report(base, wide)
    row = next(line for line in text.splitlines() if line.startswith("| full-finetune | 256 |"))
    assert "| 1e-05, 2e-05, 5e-05 / 2e-05, 5e-05, 0.00013 |" in row
    assert "| 71.0 (68.5–73.5) | 73.3 (69.5–77.1) |" in row and "| +2.3 (" in row
    assert row.endswith("| lr 5e-05 / lr 0.00013 |")
    assert "Still at an edge of the wider grid more often than chance:" in text and "full-finetune chose lr 0.00013, the top of its grid" in text
