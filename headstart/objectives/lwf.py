"""LwF: learning without forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017): while the new task trains, keep the network's
outputs on the new inputs close to what the original network gave for them — no earlier data needed.

Here the earlier "task" is the pre-trained encoder itself (its new head has no earlier outputs), so what is distilled is
its representation: each training step draws a batch of reference inputs (by default the task's own training pool,
inputs only) and adds

    Ω = λ · mean_x ‖f_θ(x) − f_θ*(x)‖² / ‖f_θ*(x)‖²

the relative squared distance of the current features from the original ones (computed once before training). It
costs one more forward and backward pass of ``batch`` inputs a step. Distilling an earlier task's softened outputs,
the paper's own form, is ``headstart continual``'s ``lwf`` method (``continual.methods.LwF``), not this term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from headstart.objectives.terms import Penalty, TermContext, check_count, check_weight, cycle, refuses_without_pretrained_backbone, register


def feature_distance(current: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """mean over rows of ‖current − original‖² / ‖original‖²: 0 when unchanged, 1 when the features collapse to 0."""
    return ((current.float() - original).pow(2).sum(-1) / original.pow(2).sum(-1).clamp_min(1e-12)).mean()


@dataclass(frozen=True)
class LwFOptions:
    weight: float = 1.0  # λ: the distance is relative, so 1 weighs a feature change as much as a unit of task loss
    batch: int = 16  # reference inputs a step
    rows: int = 256  # reference inputs in all, cycled

    def __post_init__(self) -> None:
        check_weight("lwf", self.weight, 1.0)
        check_count("lwf", "batch", self.batch)
        check_count("lwf", "rows", self.rows)


class LwF:
    name = "lwf"
    description = "LwF: λ·‖f(x) − f*(x)‖²/‖f*(x)‖² keeps the encoder's features on reference inputs where they started"
    Options = LwFOptions

    def refuses(self, strategy) -> str | None:
        return refuses_without_pretrained_backbone(strategy)

    def build(self, model: nn.Module, options: LwFOptions, context: TermContext) -> Penalty:
        from headstart.modes import module_modes, restore_modes

        batches = context.reference(options.rows, options.batch)
        modes = module_modes(model)
        model.eval()
        try:
            with torch.no_grad():
                targets = [model.backbone(b).float() for b in batches]
        finally:
            restore_modes(modes)
        take = cycle(list(zip(batches, targets)))

        def penalty() -> torch.Tensor | None:
            if not any(p.requires_grad for p in model.backbone.parameters()):
                return None  # a phase that trains only the head (LP-FT's probe) leaves the features as they are
            batch, original = take()
            return float(options.weight) * feature_distance(model.backbone(batch), original)

        return penalty


register(LwF())
