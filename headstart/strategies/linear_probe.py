"""linear-probe: freeze the pre-trained encoder, train a linear head on its (cached) features."""

from __future__ import annotations

from headstart.strategies.base import Budget, Phase, Strategy, head_group
from headstart.strategies.registry import register


class LinearProbe(Strategy):
    name = "linear-probe"
    leaves_backbone = True
    description = "frozen encoder, linear head trained on features computed once and cached"
    # Steps on cached features cost little, so the probe can afford to converge; validation on cached features
    # costs little too, so it is checked once an epoch (30 checks) and stops after 5 checks without improvement.
    # At all labels on rotten-tomatoes that stops after ~12 of 30 epochs with the same test accuracy (2.4x fewer
    # steps; docs/BENCHMARKS.md, "Speed goals"). Never more than one check an epoch (evals_per_epoch): on a short
    # budget 30 checks would come every few steps and patience 5 would stop the probe before it has learnt.
    defaults = {"head_lr": 1e-3, "epochs": 30, "min_steps": 300, "evals_per_phase": 30, "evals_per_epoch": 1, "patience": 5}
    tune_param = "head_lr"
    lr_grid = (1e-3, 3e-3, 1e-2)  # --tune lr candidates

    def plan(self, model, options, cfg, budget: Budget) -> list[Phase]:
        return [Phase("probe", [head_group(model, cfg)], budget.steps)]


register(LinearProbe())
