"""linear-probe: only the head trains, on cached features."""

from __future__ import annotations

from headstart.model import TaskModel
from headstart.specs import TrainConfig
from headstart.strategies import Budget, get_strategy


def test_only_the_head_trains(make_tiny):
    model = TaskModel(make_tiny(0), 2, seed=0)
    cfg = TrainConfig().with_defaults(get_strategy("linear-probe").defaults)
    phases = get_strategy("linear-probe").plan(model, get_strategy("linear-probe").options({}), cfg, Budget(10, 2))
    assert [p.name for p in phases] == ["probe"]
    assert {id(p) for p in phases[0].params} == {id(p) for p in model.head.parameters()}
    assert [g.lr for g in phases[0].groups] == [1e-3]


def test_defaults_let_the_probe_converge():
    cfg = TrainConfig().with_defaults(get_strategy("linear-probe").defaults)
    assert (cfg.head_lr, cfg.epochs, cfg.min_steps) == (1e-3, 30, 300)
