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

from headstart.errors import ConfigError
from headstart.strategies.base import Problem

# |logit| of an outcome training never contradicts (a class absent from the training rows, a label that is always
# on or off): probability 0 or 1, as scikit-learn gives, which never predicts a class it did not see.
CERTAIN = 1e4


def check_grid(name: str, values: Any, *, integer: bool, example: str) -> tuple:
    """A grid option as a tuple of positive numbers (a single number is a one-value grid: no search)."""
    if isinstance(values, str):  # "1,5,15": how an [[arm]] table's list reaches an arm
        try:
            values = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            pass
    values = [values] if isinstance(values, (int, float)) else values
    ok = isinstance(values, (list, tuple)) and len(values) > 0 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 and (not integer or float(v).is_integer())
        for v in values)
    if not ok:
        kind = "positive integers" if integer else "positive numbers"
        raise ConfigError(f"{name} must be one or more {kind}, got {values!r}; try --option {name}={example}")
    return tuple(int(v) if integer else float(v) for v in values)


@dataclass(frozen=True)
class LinearOptions:
    """Options of the logistic-regression baselines."""

    grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)  # C tried (inverse L2 strength; regression: Ridge alpha = 1/C)
    max_iter: int = 1000  # lbfgs iterations; scikit-learn's default 100 stops short on 384-d or 10k-term features

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", check_grid("grid", self.grid, integer=False, example="[0.1,1,10]"))
        if not isinstance(self.max_iter, int) or isinstance(self.max_iter, bool) or self.max_iter < 1:
            raise ConfigError(f"max_iter must be a positive integer, got {self.max_iter!r}; try --option max_iter=1000")


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


def fit_linear(task: str, X: Any, y: np.ndarray, *, C: float, outputs: int, max_iter: int,
               class_weights: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An L2-regularised linear model on features, as the weight (outputs, d) and bias (outputs,) of a linear head.

    Classification: logistic regression (lbfgs; multinomial above two classes). A binary model's (w, b) becomes
    rows (-w/2, w/2) and biases (-b/2, b/2), so the head's softmax equals scikit-learn's sigmoid(w·x + b).
    Multilabel: one logistic regression per label (one-vs-rest). Regression: Ridge with alpha = 1/C on the
    standardised targets.

    Args:
        X: (N, d) features, dense float64 or scipy sparse.
        y: (N,) class ids, (N, C) multi-hot, or (N,) standardised values.
        class_weights: (C,) per-class weights of the loss (classification), or None.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, Ridge

    W, b = np.zeros((outputs, X.shape[1])), np.zeros(outputs)
    if task == "regression":
        ridge = Ridge(alpha=1.0 / C).fit(X, y)
        W[0], b[0] = ridge.coef_.ravel(), float(ridge.intercept_)
        return W, b
    # Weak penalties (large C) on separable data may stop at max_iter; validation decides whether they are kept.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if task == "multilabel":
            for j in range(outputs):
                on = y[:, j] >= 0.5
                if on.all() or not on.any():
                    b[j] = CERTAIN if on.all() else -CERTAIN
                    continue
                model = LogisticRegression(C=C, max_iter=max_iter).fit(X, on.astype(np.int64))
                W[j], b[j] = model.coef_[0], model.intercept_[0]
            return W, b
        present = np.unique(y)
        b[:] = -CERTAIN
        if len(present) == 1:
            b[present[0]] = 0.0
            return W, b
        weight = None if class_weights is None else {int(c): float(class_weights[int(c)]) for c in present}
        model = LogisticRegression(C=C, max_iter=max_iter, class_weight=weight).fit(X, y)
    if len(present) == 2:
        low, high = model.classes_
        W[low], W[high] = -model.coef_[0] / 2, model.coef_[0] / 2
        b[low], b[high] = -model.intercept_[0] / 2, model.intercept_[0] / 2
    else:
        W[model.classes_], b[model.classes_] = model.coef_, model.intercept_
    return W, b


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
