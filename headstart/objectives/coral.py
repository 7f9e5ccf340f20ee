"""Deep CORAL (Sun & Saenko, ECCV 2016 workshops, "Deep CORAL: correlation alignment for deep domain adaptation"):
align the second-order statistics of the encoder's features on the source and the target domain,

    Ω = λ · ‖C_s − C_t‖²_F / (4 d²)

with C the (d, d) covariance of a batch's features. The target's inputs are unlabelled (``coral[data=NAME]``); each
step adds one source and one target batch through the encoder (``objectives.align``).
"""

from __future__ import annotations

import torch

from headstart.objectives.align import AlignOptions, DistanceTerm
from headstart.objectives.terms import register


def coral_distance(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖C_s − C_t‖²_F / (4 d²) of two (B, d) feature batches: 0 when their covariances agree."""
    def covariance(x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(0, keepdim=True)
        return centred.T @ centred / max(len(x) - 1, 1)

    d = source.shape[1]
    return (covariance(source) - covariance(target)).pow(2).sum() / (4 * d * d)


class CoralOptions(AlignOptions):
    term = "coral"  # λ: Sun & Saenko balance it so the two losses are about equal at the end of training


class Coral(DistanceTerm):
    name = "coral"
    description = "CORAL: λ·‖C_s − C_t‖²/4d² aligns the feature covariances of the task's and a target domain's inputs (coral[data=NAME])"
    Options = CoralOptions
    distance = staticmethod(coral_distance)


register(Coral())
