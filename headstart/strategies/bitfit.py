"""bitfit: train only the backbone's bias terms and the head (Ben Zaken et al. 2022)."""

from __future__ import annotations

from headstart.strategies.base import Budget, ParamGroup, Phase, Strategy, head_group
from headstart.strategies.registry import register


class BitFit(Strategy):
    name = "bitfit"
    description = "biases of the backbone + the head trained, every weight matrix frozen (~0.1% of params)"
    defaults = {"lr": 5e-4, "head_lr": 1e-3}
    lr_grid = (1e-4, 5e-4, 1e-3)  # --tune lr candidates

    def plan(self, model, options, cfg, budget: Budget) -> list[Phase]:
        used = {id(p) for p in model.backbone_parameters()}  # not the pooler's, which the features never read
        biases = [p for n, p in model.backbone.named_parameters() if n.endswith("bias") and id(p) in used]
        return [Phase("bitfit", [ParamGroup("biases", biases, cfg.lr), head_group(model, cfg)], budget.steps)]


register(BitFit())
