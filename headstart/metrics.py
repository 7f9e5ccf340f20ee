"""Evaluation metrics as pure numpy functions: classification, multilabel and regression."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(targets: np.ndarray, probs: np.ndarray, label_names: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, macro-F1, balanced accuracy, per-class precision/recall/F1, log-loss.

    Conventions (kept as they are: stored runs were scored by them, and changing them would make old and new runs
    incomparable):
      - The predicted class is ``probs.argmax(1)``: a tie goes to the lowest class index ([0.5, 0.5] predicts class 0).
      - Macro-F1 and balanced accuracy average over the classes present in ``targets`` only. A class that is predicted
        but absent from the targets still costs the classes it was predicted for (their recall), but its own F1 of 0
        is not averaged in: targets [0, 0, 1, 1], predictions [0, 0, 1, 2] give macro-F1 0.833 (scikit-learn's
        ``f1_score(average="macro", labels=[0, 1])``), where scikit-learn's default (every label seen in either,
        ``labels=None``) gives 0.556.

    Args:
        targets: (N,) int class ids.
        probs: (N, C) class probabilities.
        label_names: C names.
    """
    pred = probs.argmax(1)
    C = len(label_names)
    per_class, f1s, recalls = {}, [], []
    for c in range(C):
        tp = int(((pred == c) & (targets == c)).sum())
        predicted, actual = int((pred == c).sum()), int((targets == c).sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label_names[c]] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
        if actual:  # classes absent from the evaluated split would drag macro scores to 0 for no reason
            f1s.append(f1)
            recalls.append(recall)
    eps = 1e-12
    loss = float(-np.log(np.clip(probs[np.arange(len(targets)), targets], eps, 1.0)).mean())
    return {
        "accuracy": float((pred == targets).mean()),
        "macro_f1": float(np.mean(f1s)),
        "balanced_accuracy": float(np.mean(recalls)),
        "loss": loss,
        "n": int(len(targets)),
        "per_class": per_class,
    }


def multilabel_metrics(targets: np.ndarray, probs: np.ndarray, label_names: tuple[str, ...]) -> dict[str, Any]:
    """Subset accuracy, macro / micro F1 at threshold 0.5, binary cross-entropy.

    Conventions (kept as they are, as ``classification_metrics``'): a label is predicted where its probability is
    >= 0.5; macro-F1 averages over every label, and a label with no positive rows and no positive predictions counts
    F1 = 0 (scikit-learn's ``zero_division=0``), unlike single-label macro-F1, which leaves a class absent from the
    targets out: 4 labels right on every row plus one that never occurs give 0.8, not 1.
    """
    pred = probs >= 0.5
    truth = targets >= 0.5
    tp = (pred & truth).sum(0)
    fp = (pred & ~truth).sum(0)
    fn = (~pred & truth).sum(0)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    micro = 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)
    p = np.clip(probs, 1e-12, 1 - 1e-12)
    loss = float(-(truth * np.log(p) + ~truth * np.log(1 - p)).mean())
    return {
        "accuracy": float((pred == truth).all(1).mean()),
        "macro_f1": float(f1.mean()),
        "micro_f1": float(micro),
        "loss": loss,
        "n": int(len(targets)),
        "per_class": {name: {"f1": float(f1[i]), "support": int(truth[:, i].sum())} for i, name in enumerate(label_names)},
    }


def regression_metrics(targets: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, R² and the mean squared error as ``loss``."""
    err = pred - targets
    mse = float((err**2).mean())
    var = float(((targets - targets.mean()) ** 2).mean())
    return {
        "rmse": mse**0.5,
        "mae": float(np.abs(err).mean()),
        "r2": 1 - mse / var if var > 0 else 0.0,
        "loss": mse,
        "n": int(len(targets)),
    }


def selection_score(metrics: dict[str, Any], metric: str) -> float:
    """Higher-is-better score used to pick the best checkpoint on validation."""
    if metric in ("rmse", "loss"):
        return -float(metrics[metric])
    return float(metrics[metric])


TASK_METRICS = {"classification": ("accuracy", "macro_f1", "balanced_accuracy", "loss"),
                "multilabel": ("accuracy", "macro_f1", "loss"), "regression": ("rmse", "loss")}  # what --metric may name


def check_metric(metric: str, task: str) -> None:
    """Refuse a ``--metric`` the task's validation scores do not hold (rmse of a classifier, accuracy of a regression).

    Raises:
        ConfigError: naming the metric, the task and the ones it has.
    """
    from headstart.errors import ConfigError

    allowed = TASK_METRICS.get(task, ())
    if metric != "auto" and allowed and metric not in allowed:
        raise ConfigError(f"--metric {metric} is not scored on a {task} task; use one of auto, {', '.join(allowed)}")


def selection_metric(cfg: Any, data: Any, train_rows: np.ndarray) -> str:
    """The validation metric a run selects checkpoints and hyperparameters by: ``cfg.metric``, or for "auto" RMSE
    (regression), macro-F1 (multilabel, or classes more than 3:1 imbalanced among ``train_rows``), else accuracy."""
    if cfg.metric != "auto":
        check_metric(cfg.metric, data.task)
        return cfg.metric
    if data.task == "regression":
        return "rmse"
    if data.task == "multilabel":
        return "macro_f1"
    counts = np.bincount(data.targets[train_rows].astype(np.int64), minlength=data.num_classes)
    return "macro_f1" if counts.max() > 3 * max(counts.min(), 1) else "accuracy"


def one_class(predicted: list[Any], label_names: tuple[str, ...] | list[str] | None = None) -> str | None:
    """The class a model answered for every one of two or more rows (its name, else its index), or None: such a score
    is that class's share of the rows, not what the model learned (tent's entropy minimum is one confident class)."""
    if len(predicted) < 2 or not all(isinstance(p, int) and not isinstance(p, bool) for p in predicted) or len(set(predicted)) > 1:
        return None
    index = predicted[0]
    return str(label_names[index]) if label_names is not None and 0 <= index < len(label_names) else str(index)
