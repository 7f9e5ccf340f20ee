"""scratch: a freshly initialised twin of the backbone, trained end to end."""

from __future__ import annotations

import torch

from headstart.model import TaskModel
from headstart.specs import TrainConfig
from headstart.strategies import Budget, get_strategy


def test_fresh_backbone_all_params_train(make_tiny):
    strategy = get_strategy("scratch")
    pretrained = make_tiny(0)
    backbone = strategy.backbone(pretrained, seed=3)
    assert backbone is not pretrained
    assert not torch.equal(backbone.embed.weight, pretrained.embed.weight)
    assert torch.equal(strategy.backbone(pretrained, seed=3).embed.weight, backbone.embed.weight)  # seeded
    model = TaskModel(backbone, 2, seed=0)
    (phase,) = strategy.plan(model, strategy.options({}), TrainConfig().with_defaults(strategy.defaults), Budget(10, 2))
    assert {id(p) for p in phase.params} == {id(p) for p in model.parameters()}
    assert {g.name: g.lr for g in phase.groups} == {"backbone": 3e-4, "head": 1e-3}
    assert not strategy.uses_pretrained
