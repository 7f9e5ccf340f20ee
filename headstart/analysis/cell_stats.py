"""What a cell's scores say with their uncertainty: its interval, the learning curves, and paired differences.

A cell's interval carries its seeds' spread and the test rows' sampling error, resampled on the rows themselves
(``cell_interval``; ``curves`` gives one row per cell). Two arms at one size are compared seed by seed on the same
resampled rows (``paired_cell``, ``paired_differences``), and a difference is oriented so that positive is better
and said in display units (``improvement``, ``delta_text``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from headstart.analysis.cells import CONFIDENCE, Cell, cells, sizes
from headstart.analysis.stats import (agreed_difference, difference_range, interval, mean_ci, metric_draws, metric_range,
                                      missing_ci_text, one_seed, row_weights, score_cover)
from headstart.analysis.units import is_percent, scale
from headstart.results import RunResult


def _draws(cell: Cell, metric: str, seeds: list[int]) -> np.ndarray | None:
    """(DRAWS, len(seeds)) the metric of those seeds' predictions on resampled test rows, or None without rows."""
    if cell.target is None or not set(seeds) <= set(cell.predicted):
        return None
    return metric_draws(metric, np.stack([cell.predicted[s] for s in seeds]), cell.target, _weights(len(cell.target)))


@functools.lru_cache(maxsize=4)
def _weights(n_rows: int) -> np.ndarray:
    return row_weights(n_rows)


def cell_interval(cell: Cell, metric: str, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """``stats.interval`` of a cell's test scores: seeds (one run when deterministic) and test rows; an accuracy whose
    seeds do not vary never narrower than its Wilson interval on the test rows (``stats.share_cover``; balanced
    accuracy: ``stats.recall_cover``)."""
    seeds = sorted(cell.by_seed)[:1] if cell.deterministic else sorted(cell.by_seed)
    draws = _draws(cell, metric, seeds)
    values = cell.values
    cover = None if draws is None else score_cover(metric, math.fsum(values) / len(values), len(cell.target),
                                                   cell.predicted[seeds[0]], cell.target, confidence)
    return interval(values, None if draws is None else draws.mean(1), confidence, bounds=metric_range(metric), cover=cover)


def curves(results: list[RunResult], metric: str = "accuracy", *, confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Learning curves: one row per (strategy, requested size), in the metric's stored units.

    Returns:
        Rows ``{strategy, n, n_actual, mean, ci_low, ci_high, std, seeds, runs, val_mean, interval, train_seconds,
        trainable_params, saved_bytes, seconds_per_step, feature_seconds (of train_seconds: the cached features),
        chosen, budget, note}``, sorted by strategy then size;
        ``interval`` says what the interval covers ("seeds and test rows", "test rows", "seeds", "none": one run with
        no rows, or every seed and resample agreed) and ``note`` when a cell is one run or has no interval; where it
        has none, ``no_interval`` says why, as ``stats.interval``'s ("one seed and no test predictions are stored to
        resample": a run stored before they were).
    """
    rows = []
    for cell in cells(results, metric).values():
        ci = cell_interval(cell, metric, confidence)
        _, _, _, std = mean_ci(cell.values)
        covers = ([["seeds"] if len(cell.values) > 1 else []][0] + (["test rows"] if ci["row_se"] is not None else []))
        note = ("no random part: every seed is the same run (no rows drawn by seed, no optimiser step), counted as one"
                if cell.deterministic
                else "1 seed" if len(cell.by_seed) == 1 else None)
        if ci.get("no_interval"):  # a zero-width interval is not certainty: none is shown
            covers, note = [], (f"{note}: " if note else "") + f"no interval: {ci['no_interval']}"
        elif note and ci["row_se"] is None:  # one run, stored before its test predictions were: none to resample
            note += ": no confidence interval"
            ci["no_interval"] = f"{'one run' if cell.deterministic else 'one seed'} and no test predictions are stored to resample"
        rows.append({
            "strategy": cell.strategy, "n": cell.n, "n_actual": cell.n_actual, "mean": ci["mean"], "ci_low": ci["ci_low"],
            "ci_high": ci["ci_high"], "std": std, "seeds": len(cell.by_seed), "runs": len(cell.values),
            "val_mean": (math.fsum(cell.val_by_seed.values()) / len(cell.val_by_seed)) if cell.has_validation else None,
            "interval": " and ".join(covers) or "none", "train_seconds": cell.train_seconds,
            "trainable_params": cell.trainable_params, "saved_bytes": cell.saved_bytes, "seconds_per_step": cell.seconds_per_step,
            "feature_seconds": cell.feature_seconds, "chosen": cell.chosen, "budget": cell.budget, "note": note,
            **({"no_interval": ci["no_interval"]} if ci.get("no_interval") else {}),
        })
    return rows


def paired_cell(table: dict[tuple[str, int | str], Cell], a: str, b: str, n: int | str, confidence: float, *,
            split: str = "test", metric: str = "accuracy") -> dict[str, Any] | None:
    """Paired difference a − b at n over shared seeds: on test with the test rows resampled for both, or on
    validation (seeds only: validation predictions are not stored). On one shared seed (of arms with a random part)
    the test interval covers the rows alone, not training randomness: the difference is never called significant
    and ``caveat`` says so (``stats.one_seed``); two arms with no random part (``Cell.deterministic``) need no second seed."""
    ca, cb = table.get((a, n)), table.get((b, n))
    if ca is None or cb is None:
        return None
    if split == "val":
        shared = sorted(set(ca.val_by_seed) & set(cb.val_by_seed))
        if not shared:
            return None
        diffs = [ca.val_by_seed[s] - cb.val_by_seed[s] for s in shared]
        if ca.deterministic and cb.deterministic:  # every seed the same run: one pair, as on test, not a zero-width CI
            diffs = diffs[:1]
        return {"n": n, "n_actual": ca.n_actual, **interval(diffs, None, confidence, split="val")}
    shared = sorted(set(ca.by_seed) & set(cb.by_seed))
    if not shared:
        return None
    da, db = _draws(ca, metric, shared), _draws(cb, metric, shared)
    same_rows = ca.target is not None and cb.target is not None and np.array_equal(ca.target, cb.target)
    draws = (da - db).mean(1) if da is not None and db is not None and same_rows else None
    diffs = [ca.by_seed[s] - cb.by_seed[s] for s in shared]
    if ca.deterministic and cb.deterministic:
        diffs = diffs[:1]
    out = one_seed({"n": n, "n_actual": ca.n_actual, **interval(diffs, draws, confidence, bounds=difference_range(metric))},
                   len(shared))
    agreed = draws is not None and all(np.array_equal(ca.predicted[s], cb.predicted[s]) for s in shared)
    return agreed_difference(out, metric, len(ca.target) if agreed else None, confidence)


def paired_differences(results: list[RunResult], a: str, b: str, metric: str = "accuracy", *,
                       confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Per requested size, the paired test difference a − b over the seeds both strategies finished.

    Returns:
        Rows ``{n, n_actual, mean, ci_low, ci_high, p_value, significant, pairs, seed_se, row_se}`` in stored units
        (not oriented: for rmse a negative mean favours ``a``), for each size where both share a seed.
    """
    table = cells(results, metric)
    rows = (paired_cell(table, a, b, n, confidence, metric=metric) for n in sizes(table))
    return [r for r in rows if r is not None]


def improvement(diff: dict[str, Any], metric: str, better_high: bool) -> dict[str, Any]:
    """Orient a paired difference (positive = better) and convert it to display units."""
    sign, k = (1.0 if better_high else -1.0), scale(metric)
    low, high = sorted((sign * diff["ci_low"] * k, sign * diff["ci_high"] * k))
    return {"points": sign * diff["mean"] * k, "ci": [low, high], "p_value": diff["p_value"],
            "significant": diff["significant"], "pairs": diff["pairs"], "has_ci": high > low,
            **({"agree_rows": diff["agree_rows"]} if diff.get("agree_rows") else {}),
            **({"no_interval": diff["no_interval"]} if diff.get("no_interval") else {}),
            **({"caveat": diff["caveat"]} if diff.get("caveat") else {})}


def delta_text(imp: dict[str, Any], metric: str, better_high: bool) -> str:
    """``"+12.3 points (CI +9.2 to +15.4)"`` or ``"0.12 lower rmse (CI +0.09 to +0.15)"``: a metric not in points is said
    as a size and a word, its interval signed in the word's frame (+: more of what the word says); notes a missing CI,
    an interval from one seed (``stats.ONE_SEED``: "(CI +10.3 to +23.7; 1 seed: training randomness is not in the
    interval)"), and two arms that agreed on every test row (``paired_cell``'s ``agree_rows``): no zero-width interval
    is shown as certain."""
    percent = is_percent(metric)
    has_ci = imp.get("has_ci", imp["pairs"] >= 2)
    low, high = imp["ci"]
    agree = imp.get("agree_rows")
    caveat = f"; {imp['caveat']}" if imp.get("caveat") and has_ci else ""  # one seed: the rows' error alone
    if agree:
        same = f"the two agree on all {agree} test rows"
        if high > low:  # an accuracy: bounded by the share of rows they could disagree on
            return f"{signed_points(imp['points'])} points (CI {signed_points(low)} to {signed_points(high)}: {same}{caveat})"
        return f"{signed_points(imp['points']) if percent else '0'} {'points' if percent else metric} ({same}; no interval)"
    if percent:
        ci = f" (CI {signed_points(low)} to {signed_points(high)}{caveat})" if has_ci else ""
        text = f"{signed_points(imp['points'])} points{ci}"
    else:
        word = ("higher" if better_high else "lower") if imp["points"] >= 0 else ("lower" if better_high else "higher")
        if imp["points"] < 0:  # the interval in the word's frame: "0.05 higher rmse (CI +0.02 to +0.08)", not -0.08 to -0.02
            low, high = -high, -low
        ci = f" (CI {low:+.2g} to {high:+.2g}{caveat})" if has_ci else ""
        text = f"{abs(imp['points']):.3g} {word} {metric}{ci}"
    return text + ("" if has_ci else f" ({missing_ci_text(imp)})")


# Per-seed differences that cancel leave float dust in their mean (0.1 + 0.2 - 0.3 = 5.6e-17): no difference of two
# scores over a split's rows is this small, so it is said as 0.
FLOAT_NOISE = 1e-9


def signed_points(points: float) -> str:
    """A difference in points as the report says it: ``+1.2`` / ``-0.3``, one decimal where that shows it, more where
    a non-zero one would read 0.0 (``+0.04``, ``-0.003``: a tiny lead is not said as none); ``0.0`` for zero (never
    ``-0.0``)."""
    if abs(points) < FLOAT_NOISE:
        return "0.0"
    places = 1
    while float(f"{abs(points):.{places}f}") == 0:
        places += 1
    return f"{points:+.{places}f}"


def paired_over(table: dict[tuple[str, int | str], Cell], a: str, b: str, n: int | str) -> str:
    """Where ``a`` and ``b`` ran different seeds at ``n``, which ones their paired difference is over and what the
    table's means are over instead (", paired over seeds 0 and 1, the 2 both ran (linear-probe's mean in the table is
    over 3)"): the difference of the means can be far from it (84.0 vs 81.3 in the table, +8.0 points paired). ""
    where both ran the same seeds, or where each is one run whatever its seeds (``Cell.deterministic``). The crossover,
    the head start and the recommendation's test differences all say it."""
    ca, cb = table[(a, n)], table[(b, n)]
    if set(ca.by_seed) == set(cb.by_seed) or (ca.deterministic and cb.deterministic):  # each the same run on every seed
        return ""
    shared = sorted(set(ca.by_seed) & set(cb.by_seed))
    named = (f"seed {shared[0]}, the one" if len(shared) == 1
             else f"seeds {', '.join(map(str, shared[:-1]))} and {shared[-1]}, the {len(shared)}")
    more = [f"{c.strategy}'s mean in the table is over {len(c.by_seed)}" for c in (ca, cb)  # one run's is over none
            if len(c.by_seed) > len(shared) and not c.deterministic]
    if not more:  # the arm that ran more seeds is one run on every seed: its mean is that run's
        return f", paired over {named} both ran"
    return f", paired over {named} both ran ({' and '.join(more)})"
