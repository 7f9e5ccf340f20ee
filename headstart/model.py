"""A backbone with a task head: the model every strategy adapts."""

from __future__ import annotations

import torch
from torch import nn

from headstart.backbones.base import unused_parameters


class TaskModel(nn.Module):
    """``backbone`` -> (B, dim) features -> linear ``head`` -> (B, outputs) logits or standardised values.

    Args:
        backbone: any ``headstart.backbones.Backbone``.
        outputs: number of classes (or labels, multilabel), or 1 for regression.
        seed: initialises the head (``nn.Linear``'s default init drawn from a seeded generator).
        target_mean / target_std: regression targets are standardised for training; predictions are
            mapped back with these (saved with the weights as buffers).
    """

    def __init__(self, backbone: nn.Module, outputs: int, *, seed: int, target_mean: float = 0.0, target_std: float = 1.0) -> None:
        super().__init__()
        self.backbone = backbone
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = nn.Linear(backbone.dim, outputs)
        self.register_buffer("target_mean", torch.tensor(float(target_mean)))
        self.register_buffer("target_std", torch.tensor(float(target_std)))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.backbone(batch))

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The backbone's parameters its features depend on: every one but ``unused_parameters`` (an encoder's pooler)."""
        unused = unused_parameters(self.backbone)
        return [p for p in self.backbone.parameters() if id(p) not in unused]
