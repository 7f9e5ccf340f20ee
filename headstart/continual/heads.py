"""One linear head over a stream's whole label space, masked to the labels a prediction may choose from.

Class-incremental: the mask is every class seen so far (a head that grows as tasks arrive: rows of classes not yet
seen get no gradient and are never predicted). Task-incremental: the mask is the current task's own classes, which
no other task shares — a separate head per task, as rows of one matrix (a row only moves when its task trains).
"""

from __future__ import annotations

import torch
from torch import nn

MASKED = -1e4  # the logit of a class a prediction may not choose (finite: no NaN in a softmax over it under bf16)


class MaskedHead(nn.Module):
    """``linear`` restricted to ``allowed`` classes: other logits are set to ``MASKED``.

    Args:
        linear: the (dim → C) head over the stream's labels.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear
        self.register_buffer("allowed", torch.ones(linear.out_features, dtype=torch.bool), persistent=False)

    @property
    def weight(self) -> torch.Tensor:  # the engine reads the head's device from it
        return self.linear.weight

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def allow(self, mask: torch.Tensor) -> None:
        """Let predictions choose only the classes where ``mask`` ((C,) bool over the stream's labels) is True."""
        if mask.dtype != torch.bool or mask.shape != self.allowed.shape:
            raise ValueError(f"allow() takes a ({self.allowed.shape[0]},) bool mask, got {mask.dtype} {tuple(mask.shape)}")
        self.allowed = mask.to(self.allowed.device)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return masked(self.linear(features), self.allowed)


def masked(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """``logits`` with the classes outside ``allowed`` ((C,) or (B, C) bool) set to ``MASKED``."""
    return logits.masked_fill(~allowed.to(logits.device), MASKED)
