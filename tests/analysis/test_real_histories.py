"""The budget flags on real validation histories of the engine (rotten-tomatoes, all-MiniLM-L6-v2).

``tests/analysis/histories.json`` holds the records (validation history, budget, majority reference) of real runs,
exported by ``python scripts/export_histories.py STORE...`` from two stores:
  ``old-demo``: the demo as it was before issue 17 (full fine-tuning 24 steps at its default lr 1e-5, one validation
                check): the full-finetune and linear-probe cells of
                ``headstart compare --config examples/demo-before-17.toml`` (run from a copy without the scratch table);
  ``tuned``:    the README's tuned store at n = 16, 64, 256
                (``headstart compare --config examples/tuning.toml --sizes 16,64,256``).
The slow test trains one cell of the old demo afresh, so the flag is checked on what the engine records today.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headstart.analysis import budget_flags, flags
from headstart.results import RunResult

HISTORIES = Path(__file__).with_name("histories.json")


def stored(name: str) -> list[RunResult]:
    return [RunResult.from_dict(r) for r in json.loads(HISTORIES.read_text())[name]]


def test_the_flag_fires_on_the_old_demo() -> None:
    flagged = {(f["strategy"], f["n"], f["reason"]) for f in budget_flags(stored("old-demo"))}
    assert {("full-finetune", n, "unchecked") for n in (16, 64, 256)} <= flagged
    assert ("full-finetune", 16, "majority") in flagged


def test_the_budget_flag_does_not_fire_on_the_tuned_store() -> None:
    flagged = [f for f in budget_flags(stored("tuned")) if f["reason"] in ("improving", "unchecked")]
    assert flagged == [], [f["text"] for f in flagged]


@pytest.mark.slow
def test_a_fresh_old_demo_cell_is_flagged() -> None:
    from headstart.data import SplitConfig
    from headstart.specs import RunSpec, TrainConfig
    from headstart.sweep import run_cell

    spec = RunSpec(data="rotten-tomatoes", strategy="full-finetune", n=256, seed=0, tune=None,
                   split=SplitConfig(max_test=600), train=TrainConfig(lr=1e-5, epochs=1, min_steps=24, evals_per_phase=1))  # the old demo's rate
    result = run_cell(spec)
    assert result.status == "done"
    assert "unchecked" in flags.run_flags(result)
    budget = result.record["budget"]
    assert (budget["planned_steps"], budget["steps"], budget["lr"], budget["tuned"]) == (24, 24, 1e-5, False)
    assert result.record["reference"]["test"]["accuracy"] == pytest.approx(0.544)
    assert len(result.record["test"]["predicted"]) == 625
