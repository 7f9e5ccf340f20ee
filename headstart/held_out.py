"""The validation score of a checkpoint choice, measured on rows that did not make the choice.

A run keeps the check that scored best on its validation split, and that best score is optimistic: the more checks
a run makes (and the more its checks differ) the more of it is the luck of the validation rows. Comparing runs on
those maxima favours the strategy that looked more often. ``cross_fitted`` removes the optimism from the same
forward passes: the validation rows are cut into two fixed halves; the check that one half would have chosen is
scored on the other, both ways, and the two scores are averaged. A run keeps each check's metrics on the two halves
(``on_halves``) as it makes them, and ``choose`` reads them when it ends. The run still restores the check chosen on all its
validation rows; the held-out score is what the report's choices between strategies read (``analysis.cells``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from headstart.metrics import selection_score

MIN_ROWS = 20  # fewer validation rows than this: halves of under 10 rows say too little to score a check on


@functools.lru_cache(maxsize=8)
def halves(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Two fixed halves of ``count`` validation positions: the same for every run over the same validation rows
    (seeded with 0, not the run's seed), so two strategies' held-out scores are paired row for row. Read-only (they
    are cached): views of immutable bytes, which no caller can make writable again (an array that owns its data, or
    its base, can be, by setting ``flags.writeable``)."""
    order = np.random.default_rng(0).permutation(count)
    both = np.frombuffer(np.concatenate([np.sort(order[: count // 2]), np.sort(order[count // 2 :])]).tobytes(), dtype=order.dtype)
    return both[: count // 2], both[count // 2 :]


Halves = tuple[dict[str, Any], dict[str, Any]]  # one check's metrics on each half


def on_halves(predictions: np.ndarray, targets: np.ndarray, *, task: str, label_names: tuple[str, ...]) -> Halves | None:
    """A check's metrics on each of the two halves: all that cross-fitting reads of it, so a run keeps these as its
    checks come, not its checks' predictions (which for a large validation split of many classes would be large).

    Returns:
        The two halves' scalar ``compute_metrics`` (``n`` among them); None under ``MIN_ROWS`` rows (nothing is held
        out).
    """
    from headstart.evaluation import compute_metrics  # torch: the analysis reads MIN_ROWS without it

    if len(targets) < MIN_ROWS:
        return None
    return tuple({k: v for k, v in compute_metrics(task, predictions[h], targets[h], label_names).items()
                  if isinstance(v, (int, float))} for h in halves(len(targets)))  # the scalars: no per-class tables


def choose(checks: list[Halves | None], *, metric: str) -> dict[str, Any] | None:
    """Validation metrics of the checkpoint choice scored on held-out rows: each half's choice among ``checks``
    (ties to the lower loss, then the earlier check, as the run chooses; a score that is not finite never chosen, as
    the run never keeps one) scored on the other half, the two averaged by their rows (one check scores its accuracy
    on all rows: the majority line is met exactly).

    Args:
        checks: each validation check's ``on_halves``, in the order the run made them.
        metric: the metric the run chooses its checkpoint by.

    Returns:
        The scalar metrics (``accuracy``, ``loss`` ...) averaged over the two halves, with ``checks`` (how many were
        chosen among) and ``n`` (the rows scored, both halves); None with no checks or under ``MIN_ROWS`` rows.
    """
    if not checks or any(c is None for c in checks):
        return None

    def rank(metrics: dict[str, Any], i: int) -> tuple[float, float, int]:
        score, loss = selection_score(metrics, metric), metrics["loss"]
        return (score if math.isfinite(score) else -math.inf, -loss if math.isfinite(loss) else -math.inf, -i)

    scored, weights = [], []
    for chooser, scorer in ((0, 1), (1, 0)):
        pick = max(range(len(checks)), key=lambda i: rank(checks[i][chooser], i))
        scored.append(checks[pick][scorer])
        weights.append(scored[-1]["n"])
    rows = sum(weights)
    out: dict[str, Any] = {k: math.fsum(w * s[k] for s, w in zip(scored, weights)) / rows
                           for k, v in scored[0].items() if isinstance(v, float) and k != "n"}
    return {**out, "n": int(rows), "checks": len(checks)}


def grid_name(steps: int | None, chosen: dict[str, Any] | None) -> str | None:
    """The setting a closed-form fit chose on validation among a grid of its values (embed-knn's ``k``,
    embed-logreg's ``C``): its checks are that grid's values, not checkpoints. None for a run that took steps."""
    from headstart.results import chosen_on_validation

    picked = chosen_on_validation(chosen) if steps == 0 else {}
    return next(iter(picked)) if len(picked) == 1 else None


def checks_text(count: int, grid: str | None) -> str:
    """``count`` checks as a run's words say them: "5 checks", or "5 values of k" (``grid_name``)."""
    return f"{count} values of {grid}" if grid else f"{count} check{'' if count == 1 else 's'}"


def cross_fitted(checks: list[np.ndarray], targets: np.ndarray, *, task: str, label_names: tuple[str, ...],
                 metric: str) -> dict[str, Any] | None:
    """``choose`` over checks given as their predictions (``evaluation.outputs_to_predictions``, rows in ``targets``
    order)."""
    return choose([on_halves(c, targets, task=task, label_names=label_names) for c in checks], metric=metric)
