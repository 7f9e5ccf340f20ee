"""A convex linear fit on features (scikit-learn), shaped as a linear head's weight and bias: the solver of the
classical baselines (``strategies.classical``), and of the probes that replay and retention fit on frozen features.
scikit-learn is imported only when a fit runs."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)  # notes on the fit; the CLI prints them as "note: ..." lines, once a command

# |logit| of an outcome training never contradicts (a class absent from the training rows, a label that is always
# on or off): probability 0 or 1, as scikit-learn gives, which never predicts a class it did not see.
CERTAIN = 1e4


def few_rows_note(rows: int, classes: int) -> str | None:
    """What to say where a classifier is fitted on fewer than two rows a class (scikit-learn warns above 20 rows with
    more classes than half of them), else None."""
    if rows <= 20 or classes <= round(0.5 * rows):
        return None
    return (f"{classes} classes among {rows} training rows (on average {rows / classes:.1f} a class): most classes are "
            "learned from one example, so a score at this size says little; a larger --n gives each class more rows")


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
    # scikit-learn's "more unique classes than half the samples: y could be a regression" is said as a note instead
    # (``few_rows_note``): the task is already decided, and a warning would print its source line once per fit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%", category=UserWarning)
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
        if (note := few_rows_note(len(y), len(present))) is not None:
            log.info("%s", note)
        weight = None if class_weights is None else {int(c): float(class_weights[int(c)]) for c in present}
        model = LogisticRegression(C=C, max_iter=max_iter, class_weight=weight).fit(X, y)
    if len(present) == 2:
        low, high = model.classes_
        W[low], W[high] = -model.coef_[0] / 2, model.coef_[0] / 2
        b[low], b[high] = -model.intercept_[0] / 2, model.intercept_[0] / 2
    else:
        W[model.classes_], b[model.classes_] = model.coef_, model.intercept_
    return W, b
