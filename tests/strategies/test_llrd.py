"""llrd: block i of L trains at lr * decay ** (L - 1 - i); decay must be in (0, 1]."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headstart.errors import ConfigError
from headstart.model import TaskModel
from headstart.specs import TrainConfig
from headstart.strategies import Budget, get_strategy
from headstart.strategies.llrd import layer_decay_lrs


@given(st.integers(1, 24), st.floats(1e-6, 1.0), st.floats(0.01, 1.0))
def test_layer_decay_lrs_formula(num_blocks, lr, decay):
    lrs = layer_decay_lrs(num_blocks, lr, decay)
    assert len(lrs) == num_blocks
    assert lrs[-1] == lr  # the top block at the full lr
    for i, value in enumerate(lrs):
        assert value == lr * decay ** (num_blocks - 1 - i)
    assert all(a <= b for a, b in zip(lrs, lrs[1:]))


def test_plan_lrs_per_block(make_tiny):
    strategy = get_strategy("llrd")
    model = TaskModel(make_tiny(0), 2, seed=0)
    cfg = TrainConfig(lr=1e-3).with_defaults(strategy.defaults)
    (phase,) = strategy.plan(model, strategy.options({"decay": 0.5}), cfg, Budget(10, 2))
    blocks = model.backbone.blocks()
    for i, block in enumerate(blocks):
        (group,) = [g for g in phase.groups if {id(p) for p in g.params} == {id(p) for p in block.parameters()}]
        assert group.lr == 1e-3 * 0.5 ** (len(blocks) - 1 - i)
    head = [g for g in phase.groups if g.name == "head"]
    assert head[0].lr == 1e-3 and {id(p) for p in head[0].params} == {id(p) for p in model.head.parameters()}
    other = [g for g in phase.groups if g.name == "backbone other"]
    assert {id(p) for p in other[0].params} == {id(p) for p in model.backbone.norm.parameters()} and other[0].lr == 1e-3
    assert {id(p) for p in phase.params} == {id(p) for p in model.parameters()}


def test_defaults():
    strategy = get_strategy("llrd")
    assert strategy.options({}).decay == 0.7
    cfg = TrainConfig().with_defaults(strategy.defaults)
    assert (cfg.lr, cfg.head_lr) == (1e-4, 1e-3)


@pytest.mark.parametrize("decay", [0, 0.0, -0.5, 1.01, 2, float("nan"), "0.5"])
def test_decay_outside_range_is_an_error(decay):
    with pytest.raises(ConfigError, match=r"decay must be in \(0, 1\]"):
        get_strategy("llrd").options({"decay": decay})


@pytest.mark.parametrize("decay", [1e-3, 0.5, 1, 1.0])
def test_decay_in_range(decay):
    assert get_strategy("llrd").options({"decay": decay}).decay == decay
