"""linear-probe: freeze the pre-trained encoder, train a linear head on its (cached) features."""

from __future__ import annotations

from headstart.strategies.base import Budget, Phase, Strategy, head_group
from headstart.strategies.registry import register


class LinearProbe(Strategy):
    name = "linear-probe"
    description = "frozen encoder, linear head trained on features computed once and cached"
    # Steps on cached features cost microseconds, so the probe can afford to converge.
    defaults = {"head_lr": 1e-3, "epochs": 30, "min_steps": 300}
    tune_param = "head_lr"
    lr_grid = (1e-3, 3e-3, 1e-2)  # --tune lr candidates

    def plan(self, model, options, cfg, budget: Budget) -> list[Phase]:
        return [Phase("probe", [head_group(model, cfg)], budget.steps)]


register(LinearProbe())
