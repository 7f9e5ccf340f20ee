"""Multi-task vs single-task, per task: pure functions of the stored runs (``headstart multitask``'s report).

Each task's score under each weighting and alone is the mean over seeds with a 95% interval over seeds and test rows
(``stats.interval``: the test rows are the same for every run of a task, so they are resampled alike); the paired
difference multi − single is taken seed by seed (the same rows, head initialisation and seed in both) with its own
interval. ``gain`` orients it: multi − single for accuracy, single − multi for RMSE (lower is better), so a gain whose
interval lies below 0 is negative transfer whatever the metric.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.analysis.stats import (agreed_difference, difference_range, has_interval, interval, metric_draws, metric_range,
                                      one_seed, row_weights, score_cover)
from headstart.results import RunResult

SINGLE = "single-task"
LOWER_IS_BETTER = frozenset({"rmse", "mae"})


def _label(run: RunResult) -> str:
    return run.spec["multitask"]["weighting"] or SINGLE


def _scores(runs: list[RunResult]) -> dict[tuple[str, str], dict[int, dict[str, Any]]]:
    """``{(label, task): {seed: {"value", "predicted", "target", "metric"}}}`` of the finished runs."""
    out: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for run in runs:
        if run.status != "done":
            continue
        for task, rec in run.record.get("multitask", {}).get("tasks", {}).items():
            out.setdefault((_label(run), task), {})[int(run.spec["seed"])] = {
                "value": float(run.metrics[f"{task}:{rec['metric']}"]), "metric": rec["metric"],
                "predicted": rec["test"]["predicted"], "target": rec["test"]["target"]}
    return out


def _draws(cells: dict[int, dict[str, Any]], seeds: list[int], weights: np.ndarray | None) -> np.ndarray | None:
    """(DRAWS,) the seed mean of the metric on each resample of the test rows, or None when it cannot be resampled."""
    if weights is None:
        return None
    metric = cells[seeds[0]]["metric"]
    predicted = np.asarray([cells[s]["predicted"] for s in seeds], dtype=np.float64)
    target = np.asarray(cells[seeds[0]]["target"], dtype=np.float64)
    draws = metric_draws(metric, predicted, target, weights)
    return None if draws is None else draws.mean(axis=1)


def _cover(cells: dict[int, dict[str, Any]], seeds: list[int], rows: int) -> tuple[float, float] | None:
    """What the interval of ``cells``' score over ``seeds`` must contain where the seeds do not vary (``stats.score_cover``)."""
    first = cells[seeds[0]]
    return score_cover(first["metric"], sum(cells[s]["value"] for s in seeds) / len(seeds), rows, first["predicted"],
                       first["target"])


BELOW = "neither better than the constant reference"  # the reading where neither score beats a constant predictor (a tie included)


def _beats(value: float, reference: float, lower_is_better: bool) -> bool:
    return value < reference if lower_is_better else value > reference


def covers(cell: dict[str, Any]) -> str:
    """What ``cell``'s interval carries, in compare's words (``report.markdown``'s intervals): "seeds and test rows";
    "test rows" for one seed (its interval is the test set's sampling error alone: another seed may train otherwise);
    "seeds" where the test rows could not be resampled; "none" where it has no width (one seed and no rows, or every
    seed and resample agreed: ``no_interval`` says why, ``stats.has_interval``)."""
    if not has_interval(cell):
        return "none"
    if "pairs" not in cell:  # a cell from elsewhere that does not say how it was measured
        return "seeds and test rows"
    rows = cell.get("row_se") is not None
    if cell["pairs"] < 2:
        return "test rows" if rows else "none"
    return "seeds and test rows" if rows else "seeds"


NO_INTERVAL = "no interval"  # the reading of a difference with none to read (``stats.missing_ci_text`` says why)


def _reading(gain: dict[str, Any]) -> str:
    if not has_interval(gain):
        return NO_INTERVAL
    if gain["ci_low"] > 0:
        return "multi-task helps"
    if gain["ci_high"] < 0:
        return "negative transfer"
    return "no difference shown"


def multitask_rows(runs: list[RunResult], tasks: list[str], weightings: list[str],
                   reference: dict[str, float] | None = None) -> dict[str, Any]:
    """Per task: the single-task score, each weighting's, and each paired difference from single-task.

    Args:
        runs: the runs of one multitask call (its planned keys only).
        tasks: the task names, in ``--tasks`` order.
        weightings: the weightings, in ``--weighting`` order.
        reference: each task's test metric of a constant predictor (the pool's majority class, or its mean), or None.

    Returns:
        ``{"tasks": [{task, metric, lower_is_better, test_rows, reference, single, multi: {w: interval}, difference: {w:
        interval + gain, reading, covers}}], "weights": {w: {task: mean weight}}, "seconds": {label: mean train seconds},
        "budget": {label: budget as run}, "capped": bool}``; an interval is ``stats.interval``'s dict with ``seeds``; a
        missing cell is absent; ``covers`` says what a difference's interval carries (one seed: the test rows alone, and
        ``caveat`` says so, never significant: ``stats.one_seed``); a cell whose seeds and resamples all agreed carries
        ``no_interval`` (why it has none, as ``stats.interval``) and reads "no interval".
    """
    scores = _scores(runs)
    rows = []
    for task in tasks:
        single = scores.get((SINGLE, task), {})
        metric = next((c["metric"] for (label, t), cells in scores.items() if t == task for c in cells.values()), None)
        if metric is None:
            continue
        n_rows = len(next(c for (label, t), cells in scores.items() if t == task for c in cells.values())["target"])
        weights = row_weights(n_rows) if n_rows > 1 else None
        row: dict[str, Any] = {"task": task, "metric": metric, "lower_is_better": metric in LOWER_IS_BETTER, "test_rows": n_rows,
                               "multi": {}, "difference": {}}
        if reference and task in reference:
            row["reference"] = reference[task]
        if single:
            seeds = sorted(single)
            values = [single[s]["value"] for s in seeds]
            row["single"] = {**interval(values, _draws(single, seeds, weights), bounds=metric_range(metric),
                                        cover=_cover(single, seeds, n_rows)), "seeds": seeds}
        for w in weightings:
            multi = scores.get((w, task), {})
            if not multi:
                continue
            seeds = sorted(multi)
            values = [multi[s]["value"] for s in seeds]
            row["multi"][w] = {**interval(values, _draws(multi, seeds, weights), bounds=metric_range(metric),
                                          cover=_cover(multi, seeds, n_rows)), "seeds": seeds}
            common = sorted(set(multi) & set(single))
            if not common:
                continue
            a, b = _draws(multi, common, weights), _draws(single, common, weights)
            diff = interval([multi[s]["value"] - single[s]["value"] for s in common], None if a is None or b is None else a - b,
                            bounds=difference_range(metric))
            agreed = a is not None and b is not None and all(multi[s]["predicted"] == single[s]["predicted"] for s in common)
            diff = agreed_difference(one_seed(diff, len(common)), metric, n_rows if agreed else None)
            sign = -1.0 if row["lower_is_better"] else 1.0
            gain = {**diff, "mean": sign * diff["mean"], "ci_low": sign * (diff["ci_high"] if sign < 0 else diff["ci_low"]),
                    "ci_high": sign * (diff["ci_low"] if sign < 0 else diff["ci_high"])}
            reading = _reading(gain)
            if "reference" in row and "single" in row and not any(
                    _beats(cell["mean"], row["reference"], row["lower_is_better"]) for cell in (row["single"], row["multi"][w])):
                reading = BELOW  # a difference between two scores that learned nothing a constant does not know
            row["difference"][w] = {**diff, "seeds": common, "gain": {k: gain[k] for k in ("mean", "ci_low", "ci_high")},
                                    "reading": reading, "covers": covers(diff)}
        rows.append(row)
    return {"tasks": rows, "weights": _weights(runs, weightings), "seconds": _seconds(runs), **_budget(runs)}


def _budget(runs: list[RunResult]) -> dict[str, Any]:
    """``{"budget": {label: budgets.budget_text}, "capped": whether max_steps cut what a run's rule asked}``, of the runs
    that recorded their budget (none before it was recorded: then ``{}``)."""
    from headstart.analysis.budgets import budget_text, was_capped

    by: dict[str, list[RunResult]] = {}
    for r in runs:
        if r.status == "done" and (r.record or {}).get("budget"):
            by.setdefault(_label(r), []).append(r)
    if not by:
        return {}
    return {"budget": {label: budget_text(group) for label, group in by.items()},
            "capped": any(was_capped(r.record["budget"]) for group in by.values() for r in group)}


def _weights(runs: list[RunResult], weightings: list[str]) -> dict[str, dict[str, Any]]:
    """Each weighting's weight on each task's loss at the chosen checkpoint, mean over seeds (and uncertainty's
    log-variances)."""
    out: dict[str, dict[str, Any]] = {}
    for w in weightings:
        done = [r for r in runs if r.status == "done" and _label(r) == w]
        if not done:
            continue
        states = [r.record["multitask"]["weighting"] for r in done]
        names = done[0].spec["multitask"]["members"]
        mean = np.mean([s["weights"] for s in states], axis=0).tolist()
        out[w] = {"weights": dict(zip(names, mean)), "runs": len(states)}
        if "log_vars" in states[0]:
            out[w]["log_vars"] = dict(zip(names, np.mean([s["log_vars"] for s in states], axis=0).tolist()))
    return out


def _seconds(runs: list[RunResult]) -> dict[str, float]:
    by: dict[str, list[float]] = {}
    for r in runs:
        if r.status == "done":
            by.setdefault(_label(r), []).append(r.train_seconds)
    return {label: float(np.mean(v)) for label, v in by.items()}
