"""Tests of headstart/step.py: a micro-batch's task loss weights each training row by its own example weight."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from headstart.objectives.task import TaskLoss
from headstart.step import Step


class Model(nn.Module):
    """A linear head over inputs that are already features: the whole model, or the head on cached features."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = SimpleNamespace(collate=lambda rows: {"x": torch.stack(rows)})
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.head = nn.Linear(3, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(batch["x"])


@pytest.mark.parametrize("on_features", [False, True])
def test_the_task_loss_weights_each_row_by_its_own_example_weight(on_features):
    """Rows 10–15 of the dataset are the run's training rows, in positions 0–5 with weights 1–6; the micro-batch
    takes positions 4, 1, 5: its loss is Σ s_i ℓ_i / 3 over those rows' own weights (5, 2, 6), whatever the path."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(16, 3, generator=generator)
    targets = torch.randint(0, 2, (16,), generator=generator)
    train_rows = np.arange(10, 16)
    weights = torch.arange(1.0, 7.0)
    model = Model()
    data = SimpleNamespace(train_rows=train_rows, example_weights=weights, encoded=list(inputs))
    step = Step(model, TaskLoss("classification"), data, targets, torch.device("cpu"), None, "none", np.random.default_rng(0),
                on_features=on_features, train_features=inputs[train_rows], train_targets=targets[train_rows])
    positions = np.array([4, 1, 5])
    rows = train_rows[positions]
    each = F.cross_entropy(model.head(inputs[rows]), targets[rows], reduction="none").detach()
    expected = float((torch.tensor([5.0, 2.0, 6.0]) * each).sum() / 3)
    assert step.task_loss(positions, 1.0) == pytest.approx(expected, rel=1e-6)
    assert abs(expected - float(each.mean())) > 0.1 * float(each.mean()), "the weights change the loss here"
