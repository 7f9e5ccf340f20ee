"""What the classical baselines share: a value grid searched on validation, and a convex linear fit copied into
the model's linear head.

The baselines (``embed-logreg``, ``embed-knn``, ``tfidf-logreg``) are closed-form phases (``Phase.solve``): no
optimiser steps. Each candidate (a C, a k) is fitted on the training rows, put into the head and judged by the
engine's ``Problem.rank`` on the validation rows — the run's selection metric, ties to the lower validation loss,
as when the engine picks a checkpoint. The test split is never part of the problem. scikit-learn is imported only
when a solver runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.errors import ConfigError, comma_entries
from headstart.linear_fit import fit_linear
from headstart.strategies.base import Problem

def check_grid(name: str, values: Any, *, integer: bool, example: str) -> tuple:
    """A grid option as a tuple of positive numbers (a single number is a one-value grid: no search)."""
    if isinstance(values, str):  # "1,5,15": how an [[arm]] table's list reaches an arm
        try:
            values = [float(v) for v in comma_entries(values, name=name, noun="value", flag=f"{name}=")]
        except ValueError:
            pass
    values = [values] if isinstance(values, (int, float)) else values
    ok = isinstance(values, (list, tuple)) and len(values) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 and (not integer or float(v).is_integer())
        for v in values)
    if not ok:
        kind = "positive integers" if integer else "positive numbers"
        raise ConfigError(f"{name} must be one or more {kind}, got {values!r}; try {name}={example}")
    return tuple(int(v) if integer else float(v) for v in values)


@dataclass(frozen=True)
class LinearOptions:
    """Options of the logistic-regression baselines."""

    grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)  # C tried (inverse L2 strength; regression: Ridge alpha = 1/C)
    max_iter: int = 1000  # lbfgs iterations; scikit-learn's default 100 stops short on 384-d or 10k-term features

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", check_grid("grid", self.grid, integer=False, example="[0.1,1,10]"))
        if not isinstance(self.max_iter, int) or isinstance(self.max_iter, bool) or self.max_iter < 1:
            raise ConfigError(f"max_iter must be a positive integer, got {self.max_iter!r}; try max_iter=1000")


def pick(values: Iterable[Any], rank: Callable[[Any], tuple[float, float]]) -> Any:
    """The value whose ``rank`` (validation score, -loss) is highest; the earliest on exact ties."""
    best, best_rank = None, None
    for value in values:
        r = rank(value)
        if best_rank is None or r > best_rank:
            best, best_rank = value, r
    return best


def head_outputs(model: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """(N, outputs) head outputs for (N, dim) features, on the CPU in fp32."""
    return model.head(features.to(model.head.weight.device)).float().cpu()


def solve_linear(model: nn.Module, problem: Problem, X: Any, options: LinearOptions) -> dict[str, Any]:
    """Fit ``fit_linear`` for every C of ``options.grid`` on the training features ``X``, keep the one validation
    ranks best, and leave it in ``model.head`` (an ``nn.Linear`` already ``X.shape[1]`` wide).

    Returns:
        ``{"C": C}`` (``{"alpha": 1/C}`` for regression).
    """
    y = problem.train_targets.numpy()
    val = problem.val_features()
    fits: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    def rank(C: float) -> tuple[float, float]:
        fits[C] = fit_linear(problem.task, X, y, C=C, outputs=model.head.out_features, max_iter=options.max_iter,
                             class_weights=problem.class_weights)
        set_linear(model.head, *fits[C])
        return problem.rank(head_outputs(model, val))

    C = pick(options.grid, rank)
    set_linear(model.head, *fits[C])
    return {"alpha": 1.0 / C} if problem.task == "regression" else {"C": C}


def set_linear(head: nn.Linear, weight: np.ndarray, bias: np.ndarray) -> None:
    """Copy a fitted (outputs, d) weight and (outputs,) bias into ``head`` in place."""
    head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
    head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
