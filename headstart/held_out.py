"""The validation score of a checkpoint choice, measured on rows that did not make the choice.

A run keeps the check that scored best on its validation split, and that best score is optimistic: the more checks
a run makes (and the more its checks differ) the more of it is the luck of the validation rows. Comparing runs on
those maxima favours the strategy that looked more often. ``cross_fitted`` removes the optimism from the same
forward passes: the validation rows are cut into two fixed halves; the check that one half would have chosen is
scored on the other, both ways, and the two scores are averaged. The run still restores the check chosen on all its
validation rows; the held-out score is what the report's choices between strategies read (``analysis.cells``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from headstart.evaluation import compute_metrics
from headstart.metrics import selection_score

MIN_ROWS = 20  # fewer validation rows than this: halves of under 10 rows say too little to score a check on


def halves(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Two fixed halves of ``count`` validation positions: the same for every run over the same validation rows
    (seeded with 0, not the run's seed), so two strategies' held-out scores are paired row for row."""
    order = np.random.default_rng(0).permutation(count)
    return np.sort(order[: count // 2]), np.sort(order[count // 2 :])


def cross_fitted(checks: list[np.ndarray], targets: np.ndarray, *, task: str, label_names: tuple[str, ...],
                 metric: str) -> dict[str, Any] | None:
    """Validation metrics of the checkpoint choice scored on held-out rows: each half's choice among ``checks``
    (ties to the lower loss, then the earlier check, as the run chooses; a score that is not finite never chosen, as
    the run never keeps one) scored on the other half, the two averaged by their rows (one check scores its accuracy
    on all rows: the majority line is met exactly).

    Args:
        checks: each validation check's predictions (``evaluation.outputs_to_predictions``), rows in ``targets`` order.
        targets: the validation rows' targets.
        metric: the metric the run chooses its checkpoint by.

    Returns:
        The scalar metrics (``accuracy``, ``loss`` ...) averaged over the two halves, with ``checks`` (how many were
        chosen among) and ``n`` (the rows scored, both halves); None with no checks or under ``MIN_ROWS`` rows.
    """
    if not checks or len(targets) < MIN_ROWS:
        return None

    def rank(metrics: dict[str, Any], i: int) -> tuple[float, float, int]:
        score, loss = selection_score(metrics, metric), metrics["loss"]
        return (score if math.isfinite(score) else -math.inf, -loss if math.isfinite(loss) else -math.inf, -i)

    a, b = halves(len(targets))
    scored, weights = [], []
    for chooser, scorer in ((a, b), (b, a)):
        on_chooser = [compute_metrics(task, c[chooser], targets[chooser], label_names) for c in checks]
        pick = max(range(len(checks)), key=lambda i: rank(on_chooser[i], i))
        scored.append(compute_metrics(task, checks[pick][scorer], targets[scorer], label_names))
        weights.append(len(scorer))
    out: dict[str, Any] = {k: math.fsum(w * s[k] for s, w in zip(scored, weights)) / len(targets)
                           for k, v in scored[0].items() if isinstance(v, float) and k != "n"}
    return {**out, "n": int(len(targets)), "checks": len(checks)}
