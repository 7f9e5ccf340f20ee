"""One optimiser step's objective: the task loss over its micro-batches, then Σ weight · term (``headstart.objectives``).

The loop (``engine``: phases, schedules, validation checks, best-weights restore) calls a ``Step`` once per optimiser
step with the step's micro-batches; the step computes the loss and leaves its gradients in ``.grad``. Its three ways
of reading a batch — a linear head on cached features in closed form (``headstep.linear_head_backward``), any head on
cached features through autograd, the whole model on collated inputs (frozen bottom blocks from the prefix cache) —
give the same gradients up to rounding; the objective terms need the full model, so they apply on the last two only
where weights outside the head train (a closed-form head phase has none for them to act on).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.headstep import linear_head_backward
from headstart.precision import under
from headstart.rowgrad import RowGradients


@dataclass
class Step:
    """The loss and gradients of one optimiser step (see the module docstring).

    Attributes:
        targets: every row's training target; ``train_features`` / ``train_targets``: the training rows' cached
            features and targets, indexed by position, when the phase trains a head on features.
        closed: the head's gradient in closed form (a linear head, fp32, a ``TaskLoss``).
        prefix: frozen bottom blocks' activations for the training rows (``activations.PrefixCache``), or None.
        penalty: Σ weight · term on the current weights (``objectives.Objective.penalty``), or None.
        rng: draws the augmentations of image batches (``augment`` other than "none").
        group: in a run across processes (``distributed.Group``), this rank computes its part of each micro-batch
            and rank 0 alone the penalty; the loop sums gradients and losses over ranks. None: the whole step here.
        row_grads: the fit's embedding-gradient buffers (``rowgrad.RowGradients``): the task loss's forward and
            backward run under its ``sparse()``. None: PyTorch's dense embedding backward.
    """

    model: nn.Module
    loss_fn: Callable
    data: Any  # engine.FitData
    targets: torch.Tensor
    device: torch.device
    autocast: Callable | None
    augment: str
    rng: np.random.Generator
    closed: bool = False
    on_features: bool = False
    train_features: torch.Tensor | None = None
    train_targets: torch.Tensor | None = None
    prefix: Any = None
    penalty: Callable[[], torch.Tensor | None] | None = None
    group: Any = None
    row_grads: RowGradients | None = None

    def __call__(self, micro_batches: list[np.ndarray]) -> float:
        """Backpropagate the step's loss over ``micro_batches`` (positions into the training rows), each weighted by
        its share of the step's examples, then the terms. Returns the loss, or the first non-finite value met (the
        loop reports the run diverged; nothing after it is computed)."""
        total = sum(len(b) for b in micro_batches)
        loss_value = 0.0
        for positions in micro_batches:
            share = len(positions) / total
            if self.group is not None:
                positions, share = self.group.part(positions, share, self.normaliser(positions))
                if not len(positions):
                    continue
            value = self.task_loss(positions, share)
            if not np.isfinite(value):
                return value
            loss_value += value * share
        if self.penalty is not None and not self.closed and (self.group is None or self.group.leads):
            extra = self.penalty()
            if extra is not None:
                value = extra.item()
                if not np.isfinite(value):
                    return value
                extra.backward()
                loss_value += value
        return loss_value

    def normaliser(self, positions: np.ndarray) -> np.ndarray | None:
        """(B,) each row's weight in its batch's loss normaliser: its label's class weight (``TaskLoss`` divides by their
        sum); None when the loss is a plain mean, each row counting 1."""
        weights = getattr(self.loss_fn, "weights", None)
        if weights is None:
            return None
        return weights.cpu().numpy()[self.targets[torch.as_tensor(self.data.train_rows[positions])].numpy()]

    def task_loss(self, positions: np.ndarray, share: float) -> float:
        """Backpropagate ``share`` × the task loss of one micro-batch; returns the (unscaled) loss."""
        if self.closed:
            index = torch.as_tensor(positions)
            return linear_head_backward(self.model.head, self.train_features[index], self.train_targets[index], self.loss_fn, share)
        rows = self.data.train_rows[positions]
        weighted = {} if self.data.example_weights is None else {"example_weights": self.data.example_weights[torch.as_tensor(positions)]}
        # The embeddings' backward is sparse only for this forward and its backward (rowgrad's module docstring)
        sparse = self.row_grads.sparse() if self.row_grads is not None and not self.on_features else nullcontext()
        with sparse:
            with under(self.autocast):
                if self.on_features:
                    index = torch.as_tensor(positions)
                    loss = self.loss_fn(self.model.head(self.train_features[index]), self.train_targets[index], **weighted)
                else:
                    batch = self.model.backbone.collate([self.data.encoded[r] for r in rows])
                    if self.augment != "none":  # training batches only: validation, features and evaluation never augment
                        batch = self.model.backbone.augment(batch, self.augment, self.rng)
                    batch = {k: v.to(self.device) for k, v in batch.items()}
                    with self.prefix.skipping(rows) if self.prefix is not None else nullcontext():
                        outputs = self.model(batch)
                    loss = self.loss_fn(outputs, self.targets[torch.as_tensor(rows)].to(self.device), **weighted)
            value = loss.item()  # one read of the loss: a head step is a few microsecond ops, a sync is not free
            if np.isfinite(value):
                (loss * share).backward()
        return value
