"""Deep CORAL (Sun & Saenko, ECCV 2016 workshops, "Deep CORAL: correlation alignment for deep domain adaptation"):
align the second-order statistics of the encoder's features on the source and the target domain,

    Ω = λ · ‖C_s − C_t‖²_F / (4 d²)

with C the (d, d) covariance of a batch's features. The target's inputs are unlabelled (``coral[data=NAME]``); each
step adds one source and one target batch through the encoder (``objectives.align``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from headstart.objectives.align import check_target, feature_pairs
from headstart.objectives.terms import Penalty, TermContext, check_count, check_weight, refuses_with_fixed_features, register


def coral_distance(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖C_s − C_t‖²_F / (4 d²) of two (B, d) feature batches: 0 when their covariances agree."""
    def covariance(x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(0, keepdim=True)
        return centred.T @ centred / max(len(x) - 1, 1)

    d = source.shape[1]
    return (covariance(source) - covariance(target)).pow(2).sum() / (4 * d * d)


@dataclass(frozen=True)
class CoralOptions:
    data: str = ""  # the target domain: a built-in dataset or a file, read for its inputs only
    weight: float = 1.0  # λ; Sun & Saenko balance it so the two losses are about equal at the end of training
    batch: int = 16  # source and target inputs a step, each
    rows: int = 512  # of each domain in all, cycled

    def __post_init__(self) -> None:
        check_target("coral", self.data)
        check_weight("coral", self.weight, 1.0)
        check_count("coral", "batch", self.batch)
        check_count("coral", "rows", self.rows)


class Coral:
    name = "coral"
    description = "CORAL: λ·‖C_s − C_t‖²/4d² aligns the feature covariances of the task's and a target domain's inputs (coral[data=NAME])"
    Options = CoralOptions

    def refuses(self, strategy) -> str | None:
        return refuses_with_fixed_features(strategy)

    def build(self, model: nn.Module, options: CoralOptions, context: TermContext) -> Penalty:
        pair = feature_pairs(model, context, options.data, rows=options.rows, batch=options.batch, term=self.name)

        def penalty() -> torch.Tensor | None:
            features = pair()
            return None if features is None else float(options.weight) * coral_distance(*features)

        return penalty


register(Coral())
