"""embed-knn: k nearest neighbours by cosine similarity on the frozen encoder's cached features; k chosen on validation.

The head remembers the training rows: their L2-normalised features and their targets, as buffers saved in
``weights.safetensors``. A query's output is the mean vote of its k most similar training rows, as logits:
log((votes + ε) / (k + Cε)) for classes (softmax gives the vote fractions, ε keeps log-loss finite), their
log-odds for multilabel, the mean standardised target for regression. k is chosen from ``--option grid``
(capped by n) on validation, so evaluate and predict run the ordinary model unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from headstart.strategies.base import Budget, Phase, Problem, Strategy
from headstart.strategies.classical import check_grid, head_outputs, pick
from headstart.strategies.registry import register

MODES = ("classification", "multilabel", "regression")  # the task, stored as an index in the ``mode`` buffer
EPSILON = 1e-6  # pseudo-votes per outcome: probabilities stay within 1e-5 of scikit-learn's vote fractions


class KnnHead(nn.Module):
    """(B, dim) features -> (B, outputs): the mean vote of the k training rows most similar by cosine.

    Buffers: ``weight`` (N, dim) the L2-normalised training features (like a linear layer's weight with one output
    per remembered row: similarities are x̂ weightᵀ), ``votes`` (N, outputs) one-hot classes / multi-hot labels /
    standardised targets, ``k`` and ``mode`` (index into ``MODES``). Ties in similarity go to the earlier row.
    With no rows remembered the outputs are 0 (uniform).

    Args:
        dim: feature width. outputs: classes, labels or 1. rows: remembered rows (set by ``remember``).
    """

    def __init__(self, dim: int, outputs: int, rows: int = 0) -> None:
        super().__init__()
        self.in_features, self.out_features = dim, outputs
        self.register_buffer("weight", torch.zeros(rows, dim))
        self.register_buffer("votes", torch.zeros(rows, outputs))
        self.register_buffer("k", torch.tensor(1))
        self.register_buffer("mode", torch.tensor(0))

    def remember(self, features: torch.Tensor, votes: torch.Tensor, task: str) -> None:
        """Store (N, dim) training features (normalised here) and their (N, outputs) votes."""
        device = self.weight.device
        self.weight = F.normalize(features.float(), dim=-1).to(device)
        self.votes = votes.float().to(device)
        self.mode.fill_(MODES.index(task))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        rows = self.weight.shape[0]
        if rows == 0:
            return features.new_zeros(len(features), self.out_features, dtype=torch.float32)
        with torch.autocast(features.device.type, enabled=False):  # bf16 similarities would reorder near neighbours
            x = F.normalize(features.float(), dim=-1)
            k = min(int(self.k), rows)
            nearest = torch.sort(x @ self.weight.T, dim=1, descending=True, stable=True).indices[:, :k]
            mean = self.votes[nearest].mean(1)
            mode = MODES[int(self.mode)]
            if mode == "regression":
                return mean
            outcomes = self.out_features if mode == "classification" else 2
            p = (mean * k + EPSILON) / (k + outcomes * EPSILON)
            return p.log() if mode == "classification" else p.log() - (1 - p).log()


@dataclass(frozen=True)
class KnnOptions:
    grid: tuple[int, ...] = (1, 3, 5, 9, 15)  # k tried (capped by n); the best on validation is kept

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", check_grid("grid", self.grid, integer=True, example="[1,5,15]"))


def votes_of(task: str, targets: torch.Tensor, outputs: int) -> torch.Tensor:
    """(N, outputs) votes: one-hot classes, multi-hot labels, or the standardised target as one column."""
    if task == "classification":
        return F.one_hot(targets.long(), outputs).float()
    return targets.float().reshape(len(targets), outputs)


def solve(model: nn.Module, problem: Problem, *, options: KnnOptions) -> dict[str, Any]:
    """Remember the training rows, then keep the k whose outputs validation ranks best."""
    head = model.head
    features = problem.train_features()
    head.remember(features, votes_of(problem.task, problem.train_targets, head.out_features), problem.task)
    val = problem.val_features()

    def rank(k: int) -> tuple[float, float]:
        head.k.fill_(k)
        return problem.rank(head_outputs(model, val))

    k = pick(sorted({min(k, len(features)) for k in options.grid}), rank)
    head.k.fill_(k)
    return {"k": k}


class EmbedKnn(Strategy):
    name = "embed-knn"
    leaves_backbone = True
    solved = True
    weighs_classes = False  # its neighbours vote unweighted
    gradient_free_head = True  # predictions are votes of stored neighbours: nothing for tent's gradient to move
    description = "frozen encoder, k nearest neighbours (cosine) on cached features, k chosen on validation"
    loss_note = ("a kNN's probabilities are its k neighbours' vote shares, so a row whose neighbours give its class no "
                 "vote costs about 14 in loss (the log of a 1e-6 floor): the loss is mostly a count of such rows and "
                 "falls as k grows, and the held-out loss moves with the k each half picked by accuracy; compare kNN "
                 "runs by accuracy, not loss")
    Options = KnnOptions

    def attach(self, model, options, *, precision: str, seed: int = 0, directory: Any = None) -> None:
        """Swap the linear head for a kNN head: empty for training; for loading, as many rows as were saved."""
        rows = 0
        if directory is not None:
            from safetensors import safe_open

            try:
                with safe_open(str(Path(directory) / "weights.safetensors"), framework="pt") as f:
                    rows = f.get_slice("head.weight").get_shape()[0]
            except Exception:  # unreadable or foreign: the weights check in load_run names the problem
                rows = 0
        model.head = KnnHead(model.head.in_features, model.head.out_features, rows).to(model.head.weight.device)

    def plan(self, model, options: KnnOptions, cfg, budget: Budget) -> list[Phase]:
        return [Phase("knn", [], 0, solve=partial(solve, options=options))]


register(EmbedKnn())
