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


def test_probe_checks_validation_every_epoch_and_stops_on_a_plateau():
    """Validation on cached features is cheap: the probe checks once an epoch (30) and stops after 5 checks
    without improvement; other strategies keep 5 checks and patience 3; a value given explicitly wins."""
    probe = get_strategy("linear-probe").defaults
    assert (TrainConfig().with_defaults(probe).evals_per_phase, TrainConfig().with_defaults(probe).patience) == (30, 5)
    assert (TrainConfig(patience=0, evals_per_phase=2).with_defaults(probe).patience,
            TrainConfig(patience=0, evals_per_phase=2).with_defaults(probe).evals_per_phase) == (0, 2)
    ft = TrainConfig().with_defaults(get_strategy("full-finetune").defaults)
    assert (ft.evals_per_phase, ft.patience) == (5, 3)
