"""Closed-form phases (``Phase.solve``: the classical baselines, SetFit, zero-shot and in-context heads), which take no
optimiser steps.

The engine (``engine.fit``) hands the solver a ``Problem`` — the training rows and targets, lazily computed features of
the training and validation rows, and ``rank``, a judge of validation outputs — then validates once, as after any
phase. A solver that ranks candidates on validation (a grid of C or k) makes looks like a run's checks: each one's
metrics on the two halves of the validation rows join the fit's ``checks`` (``held_out``), and the check after the
solve, the candidate it chose, is not counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart import held_out
from headstart.checkpoint import BestCheckpoint
from headstart.evaluation import compute_metrics, outputs_to_predictions
from headstart.features import embed_rows
from headstart.metrics import selection_score
from headstart.strategies.base import Phase, Problem


def solve_phase(model: nn.Module, phase: Phase, data: Any, *, on_features: bool, check: Callable[[], tuple[float, dict[str, Any]]],
                best: BestCheckpoint, history: list[dict[str, Any]], step: int, task: str, label_names: tuple[str, ...],
                metric: str, batch_size: int, autocast: Callable | None, progress: Callable | None,
                bar: tuple[int, int]) -> dict[str, Any]:
    """Run a closed-form phase: ``phase.solve`` on the training rows (``solve_problem``), then one validation check.

    Args:
        data: the fit's ``engine.FitData``.
        on_features: the backbone is frozen and still pre-trained: features come from ``data.features``.
        check: the engine's validation check of the model as it now is; ``best``: the fit's checkpoint selection, which
            gets the solver's ranked candidates, then the check.
        history / step: the report's history, which gets the check, and the steps taken before the phase.
        bar: (steps done, the bar's total) where ``progress`` stands, unless the solver looped and drew its own count.

    Returns:
        The hyperparameters the solver chose on validation.
    """
    looped_at: list[tuple[int, int]] = []  # what a looping solver last drew: the bar then stays there

    def looped(done: int, total: int) -> None:
        looped_at[:] = [(done, total)]
        progress(done, total, {"phase": phase.name})

    problem = solve_problem(model, data, on_features=on_features, task=task, label_names=label_names, metric=metric,
                            batch_size=batch_size, autocast=autocast, progress=looped if progress else None,
                            candidates=best.checks)
    before = len(best.checks)
    with torch.no_grad():
        chosen = phase.solve(model, problem)
    ranked = len(best.checks) - before  # candidates the solver ranked on validation
    score, metrics = check()
    if ranked and data.validate is None:
        best.checks.pop()  # the check after the solve is the candidate it chose, a look counted already
    history.append({"step": step, "phase": phase.name, "val_score": score, "chosen": chosen})
    best.offer(score, metrics, step=step)
    if progress:
        progress(*(looped_at[0] if looped_at else bar), {"phase": phase.name})
    return chosen


def solve_problem(model: nn.Module, data: Any, *, on_features: bool, task: str, label_names: tuple[str, ...], metric: str,
                  batch_size: int, autocast: Callable | None = None, progress: Callable[[int, int], None] | None = None,
                  candidates: list[held_out.Halves | None] | None = None) -> Problem:
    """The ``Problem`` a closed-form phase solves: training rows and targets, lazily computed features of the
    training and validation rows, and ``rank`` (selection score, -loss) of validation outputs. Test rows are
    not part of it.

    Args:
        on_features: read features from ``data.features`` (frozen, pre-trained backbone), else run ``model.backbone``.
        candidates: where each ranked candidate's ``held_out.on_halves`` is appended (a solver's grid of C or k is
            a choice on validation like a checkpoint's: ``held_out.choose`` scores it held out).
    """
    memo: dict[str, torch.Tensor] = {}

    def features(which: str) -> torch.Tensor:
        if which not in memo:
            if on_features:  # one pass (and one cache write) for train and validation rows together
                both = data.features(np.concatenate([data.train_rows, data.val_rows]))
                memo["train"], memo["val"] = both[: len(data.train_rows)], both[len(data.train_rows) :]
            else:
                rows = data.train_rows if which == "train" else data.val_rows
                memo[which] = backbone_features(model, data.encoded, rows, batch_size=batch_size, autocast=autocast)
        return memo[which]

    def rank(outputs: torch.Tensor) -> tuple[float, float]:
        predictions, targets = outputs_to_predictions(outputs.float().cpu(), task, model), data.raw_targets[data.val_rows]
        if candidates is not None:
            candidates.append(held_out.on_halves(predictions, targets, task=task, label_names=label_names))
        metrics = compute_metrics(task, predictions, targets, label_names)
        return selection_score(metrics, metric), -metrics["loss"]

    return Problem(task=task, train_inputs=[data.encoded[r] for r in data.train_rows], train_targets=data.targets[torch.as_tensor(data.train_rows)],
                   train_features=lambda: features("train"), val_features=lambda: features("val"), rank=rank,
                   class_weights=data.class_weights, autocast=autocast, progress=progress)


def backbone_features(model: nn.Module, encoded: list, rows: np.ndarray, *, batch_size: int, autocast: Callable | None = None) -> torch.Tensor:
    """(len(rows), dim) features of ``model.backbone`` as it is now (``features.embed_rows``).

    Unlike the feature cache, it runs on the head's device, so a backbone without parameters (TF-IDF) works too.
    """
    return embed_rows(model.backbone, encoded, rows, batch_size=batch_size, autocast=autocast, device=model.head.weight.device)
