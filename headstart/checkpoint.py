"""The best checkpoint of a fit: which weights scored best on validation, kept in memory and put back at the end.

The engine (``engine.fit``) offers every validation check's score; a check that beats the best so far (ties on the
metric, common on small validation sets, go to the lower validation loss) snapshots what has trained so far — every
phase's parameters and the buffers of modules in training mode, so BatchNorm statistics return with their weights.
At the end each kept tensor gets the best snapshot's value back, or its value from before training when it first
trained after the best check (a later phase's parameters). Each check's metrics on two fixed halves of the
validation rows are kept here as well: ``held_out.choose`` scores the choice on rows that did not make it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from headstart import held_out


@dataclass
class BestCheckpoint:
    """The checkpoint selection of one fit (see the module docstring).

    Attributes:
        score: the best check's selection score (higher is better); ``step``, ``metrics``: its step and validation
            metrics. -inf, 0 and {} before any check.
        neg_loss: the best check's validation loss, negated (the tie-break: higher is better, as for ``score``).
        kept: the tensors that trained in some phase (parameters and training-mode buffers), by ``id``.
        initial: each kept tensor's value when it was first kept.
        snapshot: the kept tensors' values at the best check, or None before one improved.
        checks: each validation check's ``held_out.on_halves`` (a solver's ranked candidates among them), in order.
    """

    score: float = -math.inf
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    neg_loss: float = -math.inf
    kept: dict[int, torch.Tensor] = field(default_factory=dict)
    initial: dict[int, torch.Tensor] = field(default_factory=dict)
    snapshot: dict[int, torch.Tensor] | None = None
    checks: list[held_out.Halves | None] = field(default_factory=list)

    def keep(self, tensors: list[torch.Tensor]) -> None:
        """Keep ``tensors`` (a phase's parameters and moving buffers) from now on, noting each one's value the first time."""
        for t in tensors:
            if id(t) not in self.kept:
                self.kept[id(t)] = t
                self.initial[id(t)] = t.detach().clone()

    def offer(self, score: float, metrics: dict[str, Any], *, step: int) -> bool:
        """Snapshot the kept tensors when (score, -metrics["loss"]) beats the best so far. Returns whether it did."""
        if (score, -metrics["loss"]) > (self.score, self.neg_loss):
            snapshot = {k: t.detach().clone() for k, t in self.kept.items()}  # taken first: a Ctrl-C while it is taken
            # leaves the last best whole, its step and score with it
            self.snapshot, self.score, self.step, self.metrics, self.neg_loss = snapshot, score, step, metrics, -metrics["loss"]
            return True
        return False

    def restore(self) -> None:
        """Put the best snapshot back, and their initial values in tensors it does not hold."""
        with torch.no_grad():
            for k, t in self.kept.items():
                t.copy_(self.snapshot[k] if self.snapshot is not None and k in self.snapshot else self.initial[k])
