"""How a metric reads: what it measures, which way is better, the units it is shown in, and how a size is written.

An out-of-domain score ``ood:DATA[+TTA]:M`` measures ``M`` (``base_metric``) and a choice on it reads ``M`` on the
run's own validation split, while ``retention:DATA`` has no validation score to choose on (``validation_metric``);
error measures (rmse, mae, loss) are better low (``higher_is_better``, ``resolve_direction``); fractions are shown in
percentage points (``is_percent``, ``scale``), and shares of rows (``FRACTION_METRICS``) take absolute margins;
``requested`` reads a run's requested size, ``size_key`` orders sizes and ``format_n`` writes one as the tables show it.
"""

from __future__ import annotations

from typing import Any

LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "loss", "log_loss"})
PERCENT_METRICS = frozenset({"accuracy", "balanced_accuracy", "macro_f1", "micro_f1", "weighted_f1", "f1",
                             "precision", "recall", "auc", "roc_auc"})
FRACTION_METRICS = frozenset({"accuracy", "balanced_accuracy", "macro_f1", "micro_f1"})  # a share of rows: 1 is perfect


def base_metric(metric: str) -> str:
    """What ``metric`` measures: ``M`` of an out-of-domain score ``ood:DATA[+TTA]:M``, else ``metric`` itself."""
    return metric.rsplit(":", 1)[1] if metric.startswith("ood:") else metric


def validation_metric(metric: str) -> str | None:
    """The validation score a choice on ``metric`` reads: the metric itself; for an out-of-domain score the same
    measure on the run's own (in-domain) validation split, all a practitioner holds before scoring the target; none
    for ``retention:DATA``, which no validation score measures (a choice on it would read test)."""
    return None if metric.startswith("retention:") else base_metric(metric)


def is_percent(metric: str) -> bool:
    """A fraction shown in percentage points (accuracy, f1 ..., out of domain too)."""
    return base_metric(metric) in PERCENT_METRICS


def higher_is_better(metric: str) -> bool:
    """True unless ``metric`` is an error measure (rmse, mae, mse, loss), in domain or out of it."""
    return base_metric(metric) not in LOWER_IS_BETTER


def scale(metric: str) -> float:
    """Display multiplier: 100 for fractions shown in percentage points, else 1."""
    return 100.0 if is_percent(metric) else 1.0


def format_n(n: int | str, n_actual: int | None = None) -> str:
    """``"64"``, or ``"all (5000)"`` for the full training set."""
    return f"all ({n_actual})" if n == "all" and n_actual is not None else str(n)


def resolve_direction(metric: str, better_high: bool | None) -> bool:
    return higher_is_better(metric) if better_high is None else better_high


def requested(spec: dict[str, Any]) -> int | str:
    """The requested size of a run (``spec["n_requested"]``; falls back to ``spec["n"]``)."""
    n = spec.get("n_requested", spec.get("n"))
    return "all" if n == "all" else int(n)


def size_key(n: int | str) -> tuple[int, int]:
    """Sort key for requested sizes: integers ascending, ``"all"`` last."""
    return (1, 0) if n == "all" else (0, int(n))
