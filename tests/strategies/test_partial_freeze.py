"""partial-freeze: bottom K blocks frozen (embeddings are block 0), the rest and the head train."""

from __future__ import annotations

import pytest

from headstart.errors import ConfigError
from headstart.model import TaskModel
from headstart.specs import TrainConfig
from headstart.strategies import Budget, get_strategy


def plan(make_tiny, **options):
    strategy = get_strategy("partial-freeze")
    model = TaskModel(make_tiny(0), 2, seed=0)
    cfg = TrainConfig().with_defaults(strategy.defaults)
    return model, strategy.plan(model, strategy.options(options), cfg, Budget(10, 2))


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
def test_bottom_k_blocks_frozen(make_tiny, k):
    model, phases = plan(make_tiny, freeze=k)
    blocks = model.backbone.blocks()
    trains = {id(p) for p in phases[0].params}
    for i, block in enumerate(blocks):
        ids = {id(p) for p in block.parameters()}
        assert (ids & trains == set()) if i < k else (ids <= trains), f"block {i} with freeze={k}"
    assert {id(p) for p in model.head.parameters()} <= trains
    # Parameters outside every block (a final norm) train unless everything below is frozen too.
    assert {id(p) for p in model.backbone.norm.parameters()} <= trains


def test_default_freezes_half(make_tiny):
    model, phases = plan(make_tiny)
    trains = {id(p) for p in phases[0].params}
    blocks = model.backbone.blocks()
    assert not {id(p) for b in blocks[:2] for p in b.parameters()} & trains
    assert {id(p) for b in blocks[2:] for p in b.parameters()} <= trains


def test_lrs(make_tiny):
    _, phases = plan(make_tiny, freeze=2)
    assert sorted(g.lr for g in phases[0].groups) == [5e-5, 1e-3]


@pytest.mark.parametrize("k", [-1, 5, 100, 1.5, "2"])
def test_freeze_outside_range_is_an_error(make_tiny, k):
    with pytest.raises(ConfigError, match=r"freeze must be an integer in \[0, 4\]") as e:
        plan(make_tiny, freeze=k)
    assert repr(k) in str(e.value)
