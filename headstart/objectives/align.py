"""What the feature-alignment terms (``coral``, ``mmd``) share: a source and a target batch a step, through the
encoder as it is now, and the refusal when there is no target to align with.

Source inputs come from the task's own training pool (``TermContext.reference``: inputs only), target inputs from
another dataset's pool (``TermContext.unlabelled``: its labels are never read, its test split never touched), both
drawn with the run's seed and cycled, one batch of each a training step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.objectives.terms import Penalty, TermContext, check_count, check_weight, cycle, refuses_with_fixed_features


def check_target(term: str, data: object) -> None:
    if not isinstance(data, str) or not data:
        raise ConfigError(f"{term} aligns the features with a target domain's unlabelled inputs; name it, e.g. "
                          f"{term}[data=drug-reviews-sentiment] on text, {term}[data=opencv-digits] on images")


def feature_pairs(model: nn.Module, context: TermContext, data: str, *, rows: int, batch: int,
                  term: str) -> Callable[[], tuple[torch.Tensor, torch.Tensor] | None]:
    """``next()`` -> the encoder's features of this step's source and target batch, or None in a phase whose encoder
    is frozen (a probe phase: the features cannot move).

    Raises:
        ConfigError: no way to read another dataset here (a run without a data context).
    """
    if context.unlabelled is None:
        raise ConfigError(f"{term} needs the target dataset's inputs, which this run cannot load")
    take = cycle(list(zip(context.reference(rows, batch), context.unlabelled(data, rows, batch))))

    def pair() -> tuple[torch.Tensor, torch.Tensor] | None:
        if not any(p.requires_grad for p in model.backbone.parameters()):
            return None
        source, target = take()
        return model.backbone(source).float(), model.backbone(target).float()

    return pair


@dataclass(frozen=True)
class AlignOptions:
    """The options every alignment term takes (each subclass names its term in ``term``)."""

    term: ClassVar[str] = "align"
    data: str = ""  # the target domain: a built-in dataset or a file, read for its inputs only
    weight: float = 1.0  # λ
    batch: int = 16  # source and target inputs a step, each
    rows: int = 512  # of each domain in all, cycled

    def __post_init__(self) -> None:
        check_target(self.term, self.data)
        check_weight(self.term, self.weight, 1.0)
        check_count(self.term, "batch", self.batch)
        check_count(self.term, "rows", self.rows)


class DistanceTerm:
    """A term that adds ``weight · distance(f(x_source), f(x_target))`` each step (``coral``, ``mmd``)."""

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[AlignOptions]]
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def refuses(self, strategy) -> str | None:
        return refuses_with_fixed_features(strategy)

    def build(self, model: nn.Module, options: AlignOptions, context: TermContext) -> Penalty:
        pair = feature_pairs(model, context, options.data, rows=options.rows, batch=options.batch, term=self.name)
        distance = type(self).distance

        def penalty() -> torch.Tensor | None:
            features = pair()
            return None if features is None else float(options.weight) * distance(*features)

        return penalty
