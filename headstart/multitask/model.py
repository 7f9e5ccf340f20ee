"""A head per task on one shared trunk: the heads, the multi-task loss, a batch of every task per step, and scoring.

The model is a ``TaskModel`` whose head is a ``MultiHead`` (one linear head per task; outputs side by side), so every
strategy plans it as it plans any run: the trunk per the strategy, the heads as the head. A training row of the
layout carries its task's index and its target (``targets[:, 0]``, ``targets[:, 1]``); the loss picks each task's
rows and columns, takes that task's own loss (``objectives.TaskLoss``: cross-entropy, or MSE on targets standardised
by the run's training rows) and hands the T losses to the weighting (``multitask.weighting``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.engine import train_batches
from headstart.evaluation import compute_metrics, model_outputs
from headstart.metrics import selection_score
from headstart.multitask.weighting import Weighting
from headstart.objectives import TaskLoss


class MultiHead(nn.Module):
    """One linear head per task over the trunk's (B, dim) features; forward gives (B, Σ_t C_t), task t's outputs at
    ``slices[t]`` (C_t classes, or 1 standardised value for a regression).

    Args:
        dim: the trunk's feature width.
        widths: C_t of each task.
        seeds: each head's initialisation seed (task t's head starts the same alone and with the others).
        means / stds: each task's target standardisation (0 / 1 for classification), to read predictions back.
    """

    def __init__(self, dim: int, widths: list[int], *, seeds: list[int], means: list[float], stds: list[float]) -> None:
        super().__init__()
        heads = []
        for width, seed in zip(widths, seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                heads.append(nn.Linear(dim, width))
        self.heads = nn.ModuleList(heads)
        bounds = np.concatenate([[0], np.cumsum(widths)]).tolist()
        self.slices = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self.register_buffer("target_mean", torch.tensor(means, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(stds, dtype=torch.float32))

    @property
    def weight(self) -> torch.Tensor:  # the engine reads the head's device from it
        return self.heads[0].weight

    @property
    def out_features(self) -> int:
        return self.slices[-1][1]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(features) for head in self.heads], dim=-1)


@dataclass
class MultiTaskLoss:
    """The loss of a batch holding rows of every task: each task's own loss on its rows and columns, combined by
    ``weighting``.

    Attributes:
        tasks: the task index (``targets[:, 0]``) of each head, in head order.
        kinds: "classification" or "regression", per head.
        losses: each head's ``TaskLoss``.
        slices: each head's output columns.
        shared: the last shared layer's parameters (gradnorm reads its gradients there).
    """

    tasks: tuple[int, ...]
    kinds: tuple[str, ...]
    losses: tuple[TaskLoss, ...]
    slices: list[tuple[int, int]]
    weighting: Weighting
    shared: Callable[[], list[nn.Parameter]]

    def per_task(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(T,) each task's loss on its rows of the batch (0 for a task with none)."""
        task_of = targets[:, 0].round().long()
        values = []
        for task, kind, loss, (a, b) in zip(self.tasks, self.kinds, self.losses, self.slices):
            mine = task_of == task
            if not bool(mine.any()):
                values.append(outputs.sum() * 0.0)
                continue
            y = targets[mine, 1]
            values.append(loss(outputs[mine, a:b], y.round().long() if kind == "classification" else y.float()))
        return torch.stack(values)

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.weighting.combine(self.per_task(outputs, targets), self.shared)


def last_shared(backbone: nn.Module) -> Callable[[], list[nn.Parameter]]:
    """The trainable parameters of the trunk's last block that has any (its last layer; a LoRA's there), read at
    each call: which parameters train is the engine's to set."""
    blocks = list(backbone.blocks()) if hasattr(backbone, "blocks") else [backbone]

    def params() -> list[nn.Parameter]:
        for block in reversed(blocks):
            live = [p for p in block.parameters() if p.requires_grad]
            if live:
                return live
        return []

    return params


def task_batches(lengths: list[np.ndarray], offsets: list[int], batch_size: int) -> Callable[[np.random.Generator], list[np.ndarray]]:
    """``batches(rng)``: one epoch of steps, each ``batch_size`` rows of every task side by side (positions into the
    run's training rows, task t's at ``offsets[t]``); each task's batches shuffled and bucketed by length as
    ``engine.train_batches`` draws one task's. A task with fewer rows repeats its batches to the longest task's count.

    Args:
        lengths: per task, (n_t,) the encoded length of each of its training rows.
    """
    def batches(rng: np.random.Generator) -> list[np.ndarray]:
        each = [train_batches(l, batch_size, rng, bucket=True) for l in lengths]
        count = max(len(b) for b in each)
        return [np.concatenate([b[i % len(b)] + off for b, off in zip(each, offsets)]) for i in range(count)]

    return batches


def score_tasks(model: nn.Module, encoded: list, rows: list[np.ndarray], targets: list[np.ndarray], kinds: tuple[str, ...],
                label_names: list[tuple[str, ...]], *, batch_size: int, autocast: Callable | None = None
                ) -> list[tuple[dict[str, Any], dict[str, list]]]:
    """Each head's metrics on its task's ``rows`` (of the layout's data; ``targets`` in the task's own units), and each
    row's prediction (class index, or value) beside its target: one forward pass over every task's rows."""
    outputs = model_outputs(model, encoded, np.concatenate(rows), batch_size=batch_size, autocast=autocast)
    head: MultiHead = model.head
    out, start = [], 0
    for t, (task_rows, y, kind) in enumerate(zip(rows, targets, kinds)):
        a, b = head.slices[t]
        mine = outputs[start : start + len(task_rows), a:b]
        start += len(task_rows)
        if kind == "classification":
            predictions = torch.softmax(mine, dim=-1).numpy()
            metrics = compute_metrics(kind, predictions, y, label_names[t])
            metrics.pop("per_class", None)
            out.append((metrics, {"predicted": predictions.argmax(1).tolist(), "target": y.astype(np.int64).tolist()}))
        else:
            values = (mine.squeeze(-1) * head.target_std[t].cpu() + head.target_mean[t].cpu()).numpy()
            metrics = compute_metrics(kind, values, y, ())
            out.append((metrics, {"predicted": [float(f"{v:.6g}") for v in values], "target": [float(v) for v in y]}))
    return out


def selection(kind: str, metric: str) -> str:
    """The validation metric a head is selected by: its task's (accuracy, or macro-F1 when imbalanced), or R² for a
    regression — RMSE's order on a fixed validation split, on a scale that averages with the others'."""
    return "r2" if kind == "regression" else metric


def validation(encoded: list, rows: list[np.ndarray], targets: list[np.ndarray], kinds: tuple[str, ...],
               label_names: list[tuple[str, ...]], metrics: list[str], names: list[str], *, batch_size: int,
               autocast: Callable | None = None) -> Callable[[nn.Module], tuple[float, dict[str, Any]]]:
    """``FitData.validate`` of a multi-head model: the mean of the heads' selection scores on their validation rows,
    ties to the lower mean loss; ``metrics`` of each task by name."""
    def validate(model: nn.Module) -> tuple[float, dict[str, Any]]:
        scored = score_tasks(model, encoded, rows, targets, kinds, label_names, batch_size=batch_size, autocast=autocast)
        scores = [selection_score(m, selection(kind, metric)) for (m, _), kind, metric in zip(scored, kinds, metrics)]
        return float(np.mean(scores)), {"loss": float(np.mean([m["loss"] for m, _ in scored])),
                                        "tasks": {name: m for name, (m, _) in zip(names, scored)}}

    return validate
