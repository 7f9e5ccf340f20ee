"""The budget flags on real validation histories of the engine (rotten-tomatoes, all-MiniLM-L6-v2).

``tests/analysis/histories.json`` holds the records (validation history, budget, majority reference) of real runs,
exported by ``python scripts/export_histories.py STORE...`` from two stores:
  ``old-demo``: the demo as it was before issue 17 (full fine-tuning 24 steps at its default lr 1e-5, one validation
                check): the full-finetune and linear-probe cells of
                ``headstart compare --config examples/demo-before-17.toml`` (run from a copy without the scratch table);
  ``tuned``:    the README's tuned store at n = 16, 64, 256
                (``headstart compare --config examples/tuning.toml --sizes 16,64,256``);
  ``rates``:    n = 256, 2 seeds, each strategy at a rate measured too small and at its default:
                ``headstart compare --data drug-reviews --arms "full-finetune[lr=1e-5],full-finetune,partial-freeze[lr=1e-5],partial-freeze"
                --sizes 256 --seeds 2 --no-tune --out runs/flag-calibration-drug`` and ``headstart compare --data
                rotten-tomatoes --arms "lora[lr=2e-4],lora" --sizes 256 --seeds 2 --no-tune --out runs/flag-calibration-rt``
                (the rates docs/BENCHMARKS.md "The defaults and what chose them" measured 4 to 29 points below the defaults).
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


def test_a_rate_too_small_is_flagged_and_the_defaults_are_not() -> None:
    """Every run at a too-small rate carries a flag (drug-reviews at 1e-5: "slow", learned late; LoRA at 2e-4: "slow"
    or "improving"); no run at a default rate is flagged slow."""
    small = {"full-finetune": 1e-5, "partial-freeze": 1e-5, "lora": 2e-4}
    runs = stored("rates")
    for r in runs:
        reasons = flags.run_flags(r)
        if r.record["budget"]["lr"] == small[r.spec["strategy"]]:
            assert reasons, (r.spec, r.record["history"])
            assert r.spec["strategy"] == "lora" or "slow" in reasons, (r.spec, reasons)
        else:
            assert "slow" not in reasons, (r.spec, r.record["budget"]["lr"], r.record["history"])
    import dataclasses

    arms = [dataclasses.replace(r, spec={**r.spec, "arm": f"{r.spec['strategy']}[lr={r.record['budget']['lr']:g}]"}) for r in runs]
    slow = {(f["strategy"], f["count"]) for f in flags.budget_flags(arms) if f["reason"] == "slow"}  # the pure function: the export drops the options that tell the arms apart
    assert {("full-finetune[lr=1e-05]", 2), ("partial-freeze[lr=1e-05]", 2)} <= slow, slow
    assert not {a for a, _ in slow} & {"full-finetune[lr=5e-05]", "partial-freeze[lr=5e-05]", "lora[lr=0.001]"}, slow


@pytest.mark.slow
def test_a_fresh_old_demo_cell_is_flagged() -> None:
    from headstart.data import SplitConfig
    from headstart.specs import RunSpec, TrainConfig
    from headstart.sweep_cell import run_cell

    spec = RunSpec(data="rotten-tomatoes", strategy="full-finetune", n=256, seed=0, tune=None,
                   split=SplitConfig(max_test=600), train=TrainConfig(lr=1e-5, epochs=1, min_steps=24, evals_per_phase=1))  # the old demo's rate
    result = run_cell(spec)
    assert result.status == "done"
    assert "unchecked" in flags.run_flags(result)
    budget = result.record["budget"]
    assert (budget["planned_steps"], budget["steps"], budget["lr"], budget["tuned"]) == (24, 24, 1e-5, False)
    assert result.record["reference"]["test"]["accuracy"] == pytest.approx(0.544)
    assert len(result.record["test"]["predicted"]) == 625
