"""full-finetune: every weight trains; head 1e-3, backbone 5e-5 by default."""

from __future__ import annotations

from headstart.model import TaskModel
from headstart.specs import TrainConfig
from headstart.strategies import Budget, get_strategy


def plan(make_tiny, cfg=TrainConfig()):
    strategy = get_strategy("full-finetune")
    model = TaskModel(make_tiny(0), 2, seed=0)
    return model, strategy.plan(model, strategy.options({}), cfg.with_defaults(strategy.defaults), Budget(10, 2))


def test_all_params_train_with_default_lrs(make_tiny):
    model, phases = plan(make_tiny)
    assert len(phases) == 1
    assert {id(p) for p in phases[0].params} == {id(p) for p in model.parameters()}
    lrs = {g.name: g.lr for g in phases[0].groups}
    assert lrs == {"backbone": 5e-5, "head": 1e-3}
    by_group = {g.name: {id(p) for p in g.params} for g in phases[0].groups}
    assert by_group["head"] == {id(p) for p in model.head.parameters()}


def test_explicit_lrs_win(make_tiny):
    _, phases = plan(make_tiny, TrainConfig(lr=2e-4, head_lr=5e-3))
    assert {g.name: g.lr for g in phases[0].groups} == {"backbone": 2e-4, "head": 5e-3}
