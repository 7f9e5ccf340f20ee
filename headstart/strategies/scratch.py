"""scratch: the same architecture randomly initialised and trained end to end (the no-transfer baseline)."""

from __future__ import annotations

from headstart.strategies.base import Budget, ParamGroup, Phase, Strategy, head_group
from headstart.strategies.registry import register


class Scratch(Strategy):
    name = "scratch"
    leaves_backbone = True
    description = "fresh randomly initialised twin of the backbone, all weights trained (no transfer)"
    # Random weights need far larger steps than pre-trained ones (1e-5 would barely move them).
    defaults = {"lr": 3e-4, "head_lr": 1e-3, "epochs": 3, "min_steps": 100}
    lr_grid = (1e-4, 3e-4, 1e-3)  # --tune lr candidates
    # A CNN from scratch learns faster with AdamW at 1e-3 (benchmarks/image_lr.py: EfficientNet-Lite0 on Fashion-MNIST,
    # n = 40, one seed, validation accuracy 39.0% at 3e-4 and 50.0% at 1e-3).
    image_defaults = {"lr": 1e-3}
    image_lr_grid = (3e-4, 1e-3, 3e-3)
    uses_pretrained = False

    def backbone(self, pretrained, *, seed):
        return pretrained.fresh(seed)

    def plan(self, model, options, cfg, budget: Budget) -> list[Phase]:
        return [Phase("train", [ParamGroup("backbone", model.backbone_parameters(), cfg.lr), head_group(model, cfg)], budget.steps)]


register(Scratch())
