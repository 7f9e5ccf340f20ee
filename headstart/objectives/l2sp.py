"""L2-SP: keep fine-tuned weights near their starting point (Li, Grandvalet & Davoine, ICML 2018, "Explicit
inductive bias for transfer learning with convolutional networks").

    Ω(w) = (α / 2) · Σ_i ‖w_i − w_i⁰‖²

over every trained parameter outside the task head, w⁰ its value before training: the pre-trained weights for a
fine-tune, the initial adapter for LoRA (where it shrinks the update BA toward zero). The new head is not anchored
(it has no pre-trained value; weight decay covers it). The seed's "regularising weights toward initialisation".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from headstart.objectives.terms import Penalty, TermContext, check_weight, refuses_without_pretrained_backbone, register


def l2sp_penalty(params: list[torch.Tensor], anchors: list[torch.Tensor], alpha: float) -> torch.Tensor:
    """(α / 2) Σ ‖p − a‖² over matching ``params`` and ``anchors`` (same shapes); a scalar tensor."""
    return 0.5 * alpha * torch.stack([(p - a).pow(2).sum() for p, a in zip(params, anchors)]).sum()


@dataclass(frozen=True)
class L2SPOptions:
    # α: it trades fit for staying near w⁰. 1: MiniLM fine-tuned at its defaults (n = 64, 100 steps) drifted a
    # thirteenth as far from its pre-trained weights at no cost on validation; at 0.01 (Li et al.'s ImageNet-CNN
    # value, once this default) nearly as far as with no term (seed 0; seed 1 stopped early) (`python
    # benchmarks/ewc_weights.py --term l2sp`; docs/BENCHMARKS.md, "The l2sp term's default weight"). ewc's is 1 too: EWC is this penalty, each pull scaled by F
    weight: float = 1.0

    def __post_init__(self) -> None:
        check_weight("l2sp", self.weight, 1.0)


class L2SP:
    name = "l2sp"
    description = "L2-SP: (α/2)·Σ‖w − w⁰‖² pulls every trained non-head weight toward its value before training"
    Options = L2SPOptions

    def refuses(self, strategy) -> str | None:
        return refuses_without_pretrained_backbone(strategy)

    def build(self, model: nn.Module, options: L2SPOptions, context: TermContext) -> Penalty:
        head = {id(p) for p in model.head_parameters()}
        named = [(p, p.detach().clone()) for p in model.parameters() if id(p) not in head and p.is_floating_point()]

        def penalty() -> torch.Tensor | None:
            trained = [(p, a) for p, a in named if p.requires_grad]  # this phase's trained weights
            if not trained:
                return None
            return l2sp_penalty([p for p, _ in trained], [a for _, a in trained], float(options.weight))

        return penalty


register(L2SP())
