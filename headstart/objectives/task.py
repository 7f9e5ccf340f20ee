"""Task losses matched to the task: cross-entropy (optionally class-weighted), BCE, MSE."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

IMBALANCE_RATIO = 3.0  # "auto" weights classes only when the largest is more than 3x the smallest


def class_weights(targets: np.ndarray, num_classes: int, mode: str) -> torch.Tensor | None:
    """Per-class loss weights ``N / (C * count_c)`` ("balanced"), or None.

    Args:
        targets: (N,) int class ids of the training subsample.
        num_classes: C.
        mode: "none", "balanced" (always weight) or "auto" (weight when max/min count > 3).
    """
    if mode == "none":
        return None
    counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
    present = counts[counts > 0]
    if mode == "auto" and present.max() / present.min() <= IMBALANCE_RATIO:
        return None
    weights = np.where(counts > 0, len(targets) / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


@dataclass(frozen=True)
class TaskLoss:
    """The task's loss on model outputs.

    Args:
        task: "classification" (CE), "multilabel" (BCE with logits) or "regression" (MSE on standardised targets).
        weights: (C,) class weights for CE, or None.
    """

    task: str
    weights: torch.Tensor | None = None

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor, example_weights: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of a batch; ``example_weights`` (B,) scale each example's term (importance weighting): the mean
        becomes Σ s_i ℓ_i / B, or Σ s_i w_{y_i} ℓ_i / Σ w_{y_i} with class weights — the unweighted loss when s = 1."""
        outputs = outputs.float()  # losses in fp32 even under bf16 autocast
        if example_weights is None:
            if self.task == "classification":
                return F.cross_entropy(outputs, targets, weight=self.weights)
            if self.task == "multilabel":
                return F.binary_cross_entropy_with_logits(outputs, targets)
            return F.mse_loss(outputs.squeeze(-1), targets)
        s = example_weights.to(outputs.device)
        if self.task == "classification":
            each = F.cross_entropy(outputs, targets, weight=self.weights, reduction="none")
            return (s * each).sum() / (len(each) if self.weights is None else self.weights[targets].sum())
        if self.task == "multilabel":
            return (s * F.binary_cross_entropy_with_logits(outputs, targets, reduction="none").mean(1)).mean()
        return (s * (outputs.squeeze(-1) - targets).square()).mean()
