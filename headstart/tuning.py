"""``--tune lr``: every run picks its learning rate on the validation split, by successive halving over a small grid.

A comparison that gives every strategy one fixed learning rate measures the learning rate, not the strategy.
Each strategy declares a grid centred on its measured default (``Strategy.lr_grid``: on text, full fine-tuning
2e-5 to 1e-4, LoRA 3e-4 to 3e-3, heads around 1e-3, scratch higher; docs/BENCHMARKS.md "The defaults and what chose
them") and which rate it tunes
(``Strategy.tune_param``: ``lr``, or ``head_lr`` for head-only strategies). On an image backbone a strategy may
declare another grid (``Strategy.image_lr_grid``; CNNs fine-tune at 1e-5..1e-3), chosen by ``Strategy.grid_for``.

Successive halving (Jamieson & Talwalkar 2016): every candidate trains a short run of ``steps / ETA^k``
steps (k rungs to go), validating as often per step as the full run; the best ``1/ETA`` by validation score
(ties: lower validation loss) go on with ``ETA`` times the budget, until one is left, which trains the full
budget, and that run is the result.
A 3-value grid therefore costs two full runs, not three; probe-type strategies train on cached features,
so their trials cost little. Only validation is read: the caller scores the test split afterwards, as for
any run. Strategies that choose their own hyperparameters in closed form (``embed-logreg``'s C) have no grid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from headstart.errors import ConfigError
from headstart.specs import RunSpec

ETA = 3  # keep the best third at each rung
TRIAL_CHECKS = "proportional"  # in run keys: trials validate as often per step as the full run (was: as many times)
TUNABLE = ("lr",)  # what --tune accepts


def grid_for(strategy: Any, modality: str = "text") -> tuple[str, tuple[float, ...]] | None:
    """(parameter, values) a strategy tunes on a backbone of ``modality``, or None when it has no learning rate to tune."""
    grid = tuple(strategy.grid_for(modality) or ())
    return (strategy.tune_param, grid) if len(grid) > 1 else None


def plan_for(spec: RunSpec, strategy: Any, modality: str = "text") -> tuple[str, tuple[float, ...]] | None:
    """What ``spec`` tunes: nothing without ``--tune``, for a strategy without a grid, or when the user set that
    learning rate explicitly (a given value is kept, not searched); ``spec.grid`` replaces the strategy's values.

    Raises:
        ConfigError: ``spec.grid`` for a strategy with no learning rate to tune, or beside an explicit one.
    """
    plan = grid_for(strategy, modality) if spec.tune else None
    if spec.grid is not None:
        if plan is None:
            raise ConfigError(f"{strategy.name} has no learning rate to tune ({strategy.untuned_why}); drop --grid for it")
        if getattr(spec.train, plan[0]) is not None:
            raise ConfigError(f"--grid and --{plan[0].replace('_', '-')} both set {strategy.name}'s {plan[0]}; "
                              f"give one of them")
        return plan[0], spec.grid
    if plan is None or getattr(spec.train, plan[0]) is not None:
        return None
    return plan


def trial_spec(spec: RunSpec, param: str, value: float, max_steps: int | None, evals: int | None = None) -> RunSpec:
    """``spec`` with ``param`` set to ``value``, at most ``max_steps`` steps (and ``evals`` checks per phase), not tuning."""
    train = dataclasses.replace(spec.train, **{param: value}, max_steps=max_steps)
    if evals is not None:
        train = dataclasses.replace(train, evals_per_phase=evals)
    return dataclasses.replace(spec, train=train, tune=None, grid=None)


def _rank(report: Any) -> tuple[float, float]:
    if report.status != "done":
        return (-math.inf, -math.inf)
    return (report.best_score, -float(report.val_metrics.get("loss", math.inf)))


def trials_planned(values: int) -> int:
    """How many trials ``halve`` runs over a grid of ``values`` (every value, then the best third of them, ... until one
    is left): what a progress line counts them against."""
    return len(trial_steps(values, 1))


def trial_steps(values: int, full_steps: int) -> list[int]:
    """The steps of each trial ``halve`` runs over a grid of ``values``, in the order it runs them, for a full run of
    ``full_steps``: what the trials still to come cost, for the tuning's ETA."""
    planned, alive = [], values
    for steps in rung_steps(values, full_steps):
        planned += [steps] * alive
        alive = max(1, math.ceil(alive / ETA))
    return planned


def rung_steps(values: int, full_steps: int) -> list[int]:
    """The steps each trial of ``halve``'s rungs takes over a grid of ``values`` for a run of ``full_steps``: a third of
    the budget per rung still to go, at least 1 (a 3-value grid on 3 steps: ``[1]``, each trial a single step)."""
    rungs = 0
    while values > 1:  # how many times keeping the best third leaves one
        values, rungs = math.ceil(values / ETA), rungs + 1
    return [max(1, full_steps // ETA ** (rungs - rung)) for rung in range(rungs)]


def halve(grid: tuple[float, ...], *, param: str, full_steps: int, evals_per_phase: int,
          trial: Callable[[float, int, int], Any]) -> tuple[float, list[dict[str, Any]]]:
    """Successive halving over ``grid``: the value whose trials validate best, and every trial on the way.

    Args:
        full_steps / evals_per_phase: the full run's budget and validation checks per phase.
        trial: ``trial(value, steps, evals) -> FitReport``, a run at ``value`` for ``steps`` steps with ``evals``
            validation checks per phase (``recipe`` trains one; tests pass a fake).
    """
    alive, trials = list(grid), []
    for steps in rung_steps(len(grid), full_steps):
        # Validation checks in proportion to the trial's share of the budget (the full run's spacing): a third of the
        # steps with all of the checks made validation most of a short fine-tuning trial's time.
        evals = max(1, math.ceil(evals_per_phase * steps / full_steps))
        scored = []
        for value in alive:
            report = trial(value, steps, evals)
            trials.append({param: value, "steps": steps, "status": report.status, "val_score": report.best_score,
                           "val_loss": report.val_metrics.get("loss")})
            scored.append((_rank(report), -grid.index(value), value))
        scored.sort(reverse=True)  # best score, then lower loss, then the earlier grid value
        alive = [value for _, _, value in scored[: max(1, math.ceil(len(alive) / ETA))]]
    return alive[0], trials
