"""gradual-unfreeze: phase k trains the head and the top k blocks; the last phase trains everything."""

from __future__ import annotations

from headstart.model import TaskModel
from headstart.specs import TrainConfig
from headstart.strategies import Budget, get_strategy


def plan(make_tiny, budget=Budget(steps=40, steps_per_epoch=4)):
    strategy = get_strategy("gradual-unfreeze")
    model = TaskModel(make_tiny(0), 2, seed=0)
    cfg = TrainConfig().with_defaults(strategy.defaults)
    return model, strategy.plan(model, strategy.options({}), cfg, budget)


def test_phase_k_trains_top_k_blocks(make_tiny):
    model, phases = plan(make_tiny)
    blocks = model.backbone.blocks()
    assert len(phases) == len(blocks)
    head = {id(p) for p in model.head.parameters()}
    for k, phase in enumerate(phases, start=1):
        trains = {id(p) for p in phase.params}
        top = {id(p) for b in blocks[len(blocks) - k :] for p in b.parameters()}
        if k < len(blocks):
            assert trains == top | head, f"phase {k}"
            assert not phase.early_stopping  # a phase cut short would never unfreeze the rest
        else:
            assert trains == {id(p) for p in model.parameters()}
            assert phase.early_stopping


def test_lrs_and_budget(make_tiny):
    _, phases = plan(make_tiny)
    for phase in phases:
        assert {g.name: g.lr for g in phase.groups}["head"] == 1e-3
        assert all(g.lr == 1e-4 for g in phase.groups if g.name != "head")
    assert sum(p.steps for p in phases) == 40  # the run's budget, spread over the phases


def test_a_phase_lasts_at_least_an_epoch(make_tiny):
    _, phases = plan(make_tiny, Budget(steps=12, steps_per_epoch=5))
    assert all(p.steps >= 5 for p in phases)
