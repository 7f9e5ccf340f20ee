"""The boundary between training and everything after it: plain data, no torch.

The engine produces a ``RunResult``; the store saves it; analysis and reports read it back. Keeping it
plain JSON-able data means the store, the analysis and the report never import torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("pending", "running", "done", "failed", "diverged")
# Keys of a run's ``chosen`` that record what a closed-form phase did rather than what validation chose: setfit's pair
# steps on the encoder, a prompted LM's prompt length and chat template, how many of icl's k demonstrations fit.
RECORDED = ("pair_steps", "pair_steps_planned", "prompt_tokens", "chat", "demonstrations")


# Keys of a run's ``chosen`` that a closed-form fit takes from its own ``grid`` option: embed-logreg, tfidf-logreg and
# setfit's C (a regression's Ridge alpha = 1 / C), embed-knn's k (capped by the training rows, as the solver caps it).
GRID_KEYS = ("C", "alpha", "k")


def grid_values(options: dict[str, Any] | None) -> tuple[float, ...]:
    """The ``grid`` option as numbers, however it was given (a list, one number, ``"1,5,15"``); () when none or unreadable."""
    grid = (options or {}).get("grid")
    if isinstance(grid, str):
        grid = grid.split(",")
    grid = [grid] if isinstance(grid, (int, float)) else grid
    try:
        return tuple(float(v) for v in grid) if isinstance(grid, (list, tuple)) else ()
    except (TypeError, ValueError):
        return ()


def given(chosen: dict[str, Any] | None, options: dict[str, Any] | None, n: Any = None) -> dict[str, Any]:
    """The values of ``chosen`` that a one-value grid set (``GRID_KEYS``): the fit had one candidate, so validation
    chose nothing (embed-logreg with ``grid=[1.0]``: ``{"C": 1.0}``); {} otherwise. ``n``: the run's training rows."""
    found = {k: v for k, v in (chosen or {}).items() if k in GRID_KEYS}
    grid = grid_values(options)
    if not found or not grid:
        return {}
    cap = n if "k" in found and isinstance(n, int) and not isinstance(n, bool) and n > 0 else None
    return found if len({min(v, cap) if cap else v for v in grid}) == 1 else {}


def chosen_on_validation(chosen: dict[str, Any] | None, options: dict[str, Any] | None = None, n: Any = None) -> dict[str, Any]:
    """``chosen`` without the ``RECORDED`` facts nor what a one-value grid set (``given``, from the run's ``options`` and
    ``n``): the hyperparameters validation picked (lr, C, k ...)."""
    fixed = given(chosen, options, n)
    # a dict is a term's estimates, which runs stored before ``record["estimates"]`` kept here (``term_estimates``)
    return {k: v for k, v in (chosen or {}).items() if k not in RECORDED and k not in fixed and not isinstance(v, dict)}


def term_estimates(result: RunResult) -> dict[str, dict[str, Any]]:
    """What the run's objective terms estimated before training, by term (importance weighting's ``{"domain_accuracy",
    "ess", "clipped"}``): its ``record["estimates"]``, or, for a run stored before that was kept, the dicts its
    ``chosen`` held them in."""
    found = (result.record or {}).get("estimates")
    if isinstance(found, dict):
        return {term: values for term, values in found.items() if isinstance(values, dict)}
    return {term: values for term, values in (result.chosen or {}).items() if isinstance(values, dict)}


@dataclass(frozen=True)
class RunResult:
    """Outcome of one training run (one cell of a sweep).

    Attributes:
        key: stable hash of the run's full spec (see ``specs.RunSpec.key``).
        spec: the fully resolved spec as plain data. Always has ``strategy`` (str), ``n`` (int, the number
            of labelled training examples actually used), ``n_requested`` (int or ``"all"``), ``seed`` (int),
            ``backbone`` (str), ``data`` (dict with ``name`` and ``hash``), ``options`` (dict) and
            ``train`` (dict of resolved training hyperparameters, e.g. ``lr``, ``head_lr``, ``epochs``).
        status: ``"done"``, ``"failed"`` or ``"diverged"``.
        metrics: test-split metrics (classification: ``accuracy``, ``macro_f1``, ``balanced_accuracy``,
            ``loss``, ``per_class``; regression: ``rmse``, ``mae``, ``r2``, ``loss``). Empty unless done.
        val_metrics: validation metrics of the restored best weights.
        chosen: hyperparameters picked on validation (``{"lr": 2e-5}`` under --tune lr, ``{"C": 1.0}`` for embed-logreg),
            with what a closed-form phase recorded (``RECORDED``) and what a one-value grid set (``given``).
        train_seconds: wall time of training (excluding test evaluation), with the backbone's cached features counted
            at what computing them costs (``record["feature_seconds"]``), whether this run or an earlier one computed
            them: what the run costs alone on a cold cache, not what it cost after another arm cached its features.
        eval_seconds: wall time of the scoring after training (test split, retention, other datasets), with the
            backbone's cached features it read counted at what computing them costs (``record["eval_feature_seconds"]``),
            as ``train_seconds`` counts its own: the same whichever arm of a compare scored first.
        trainable_params: parameters updated by the strategy (head included).
        total_params: all parameters of the model (backbone + head).
        saved_bytes: what the run's weights take when saved: the head plus what trained (an adapter is small).
        steps: optimiser steps taken.
        best_step: the step whose weights were restored (chosen on validation).
        error: reason for ``failed`` / ``diverged`` (e.g. ``"loss became nan at step 12"``), else None.
        record: what the analysis needs beyond the scores (empty for runs stored before store schema 4):
            ``history`` (the validation checks: ``{step, phase, val_score}``), ``budget`` (``planned_steps``, ``epochs``,
            ``min_steps``, ``lr``, ``head_lr``, ``tuned``), ``reference`` (``{"val": metrics, "test": metrics}`` of a
            constant predictor of the training pool's majority class, or its mean for regression), ``held_out`` (the
            validation metrics of the checkpoint choice scored on rows that did not make it: ``held_out.choose``;
            absent for runs stored before it, or that validated otherwise), ``test``
            (``{"predicted": [...], "target": [...]}`` per test row, class indices, for intervals over test rows) and,
            under a ``max_test`` cap, ``test_split_rows`` (the test split's rows without it: whether the cap cut any);
            ``feature_seconds`` where it trained on the backbone's cached features (their part of ``train_seconds``;
            absent for runs stored before it, whose ``train_seconds`` is what they spent, features or none);
            ``eval_feature_seconds`` where scoring read cached features (their part of ``eval_seconds``; absent for runs
            stored before it, whose ``eval_seconds`` is what they spent);
            ``estimates`` where an objective term estimated something before training (importance weighting's weights:
            ``{"importance": {"domain_accuracy", "ess", "clipped"}}``; ``term_estimates`` reads older runs too).
    """

    key: str
    spec: dict[str, Any]
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    val_metrics: dict[str, Any] = field(default_factory=dict)
    chosen: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    saved_bytes: int = 0
    steps: int = 0
    best_step: int = 0
    error: str | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
