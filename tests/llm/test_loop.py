"""The sft / prefer loop: what its budget read and what ended it (metrics.json's rows_seen / epochs / ended_by)."""

from __future__ import annotations

import itertools

import pytest
import torch

from headstart.llm.loop import LoopConfig, LoopReport, budget, coverage, train
from lm_fixtures import sft_csv, tiny_lm  # noqa: F401  (fixtures)


@pytest.mark.parametrize("steps,expected", [(0, (0, 0.0)), (60, (240, 0.469)), (128, (512, 1.0)), (200, (512, 1.562))])
def test_coverage_counts_distinct_rows_and_passes(steps, expected):
    """README's sft: 60 steps of 4 read 240 of its 512 rows."""
    assert coverage(512, 4, steps) == expected


def test_coverage_counts_an_epochs_short_last_batch():
    assert coverage(10, 4, 3) == (10, 1.0), "3 batches of an epoch of 10: 4 + 4 + 2"
    assert coverage(10, 4, 4) == (10, 1.4)


def test_a_step_cap_that_leaves_rows_unread_is_named_and_one_that_reads_them_all_is_not():
    report = LoopReport(steps=60)
    assert budget(report, items=512, batch_size=4, planned=60, capped=True) == {
        "seen": 240, "epochs": 0.469, "planned_steps": 60, "ended_by": "max_steps"}
    assert budget(report, items=200, batch_size=4, planned=60, capped=True)["ended_by"] is None
    assert budget(report, items=512, batch_size=4, planned=60, capped=False)["ended_by"] is None, "--epochs chose it"


def test_the_loop_says_when_patience_stopped_it_before_its_steps():
    model = torch.nn.Linear(2, 1)
    params = list(model.parameters())
    batches = itertools.repeat(torch.ones(3, 2))
    loss = lambda x: model(x).pow(2).mean()  # noqa: E731
    report = train(model, params, batches, loss, lambda: 1.0, LoopConfig(steps=10, lr=1e-3, evals=10, patience=2))
    assert report.steps == 2 and report.stopped_early and report.status == "done"
    assert budget(report, items=6, batch_size=3, planned=10, capped=True)["ended_by"] == "early stopping"
    report = train(model, params, batches, loss, lambda: 1.0, LoopConfig(steps=3, lr=1e-3, evals=3, patience=3))
    assert report.steps == 3 and not report.stopped_early, "the last step's check ends it anyway"


def test_an_interrupt_just_after_an_optimiser_step_counts_that_step(tiny_lm, sft_csv, tmp_path, monkeypatch):
    """Ctrl-C right after the optimiser updated the weights (here in its zero_grad) was counted a step low: "interrupted
    at step 1" of weights that took two steps (the engine's fix, b0faf07, in the sft / prefer loop)."""
    import headstart
    from headstart.llm.runs import Interrupted

    from conftest import ctrl_c_after_optimiser_step

    ctrl_c_after_optimiser_step(monkeypatch, 2)
    with pytest.raises(Interrupted) as stopped:
        headstart.sft(str(sft_csv), out=tmp_path / "run", config={"backbone": str(tiny_lm), "max_steps": 4, "rank": 4,
                                                                 "eval_rows": 1})
    metrics = stopped.value.run.metrics
    assert metrics["steps"] == 2 and metrics["error"].startswith("interrupted by Ctrl-C at step 2 of 4: "), metrics
