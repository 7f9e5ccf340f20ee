"""From stored runs to the answer: learning curves, paired tests, head start, crossover and advice.

Pure functions over a list of ``RunResult``. Only ``done`` runs enter the statistics; ``failed`` and
``diverged`` runs are counted per cell (``counts``) and named in the recommendation.

Choices on validation, figures on test: which strategy is recommended, which transfer strategy the head start
quotes and where the crossover lies are decided on the runs' validation scores (``val_metrics``, what early stopping
and tuning already read); the test scores of what was chosen are then reported. Picking on test means would be
the winner's curse of a leaderboard (the best of 7 strategies x 3 seeds on one test set looks better than it is).

Statistics (per strategy and requested size n): the mean over seeds with an interval that carries the seed
variation and the test set's sampling error (``headstart.analysis.stats``). Comparisons are *paired*: seed s draws
the same nested labelled subset for every strategy, and every strategy is scored on the same test rows, so the
difference a − b is taken seed by seed and its test-row error is resampled on the same rows for both. A strategy
whose seeds all gave the same predictions (no random part: a closed-form baseline with every label) is one run.

Units: metric values are stored as they come (fractions in [0, 1] for accuracy-like metrics). ``curves``
and ``paired_differences`` keep those units; text, ``head_start`` and ``crossover`` give *points*
(× 100) for accuracy-like metrics. ``improvement`` fields are oriented so that positive means better,
also for lower-is-better metrics such as ``rmse``.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headstart.analysis import flags
from headstart.analysis.flags import budget_text, requested, run_flags, size_key
from headstart.analysis.stats import interval, mean_ci, metric_draws, paired_test, row_weights
from headstart.errors import ConfigError
from headstart.results import RunResult

__all__ = ["BASELINE", "CONFIDENCE", "MARGIN_POINTS", "MIN_PAIRS", "Cell", "budget_flags", "cells", "counts",
           "crossover", "current_runs", "curves", "format_n", "grid_edges", "head_start", "higher_is_better",
           "interval", "mean_ci", "paired_differences", "paired_test", "recommend", "reference", "requested",
           "run_flags", "scale", "size_key", "sizes", "summarize"]

CONFIDENCE = 0.95
BASELINE = "scratch"  # the from-scratch twin: what every transfer strategy is measured against
# A cheaper strategy replaces the best only on this many paired seeds: with two, a t-test has one degree of
# freedom and its interval is so wide (±36 points seen) that "no significant difference" holds for anything.
MIN_PAIRS = 3
# ... and only when the whole paired interval of (best − cheaper) on validation lies below this margin: "no
# significant difference" with 3 seeds also holds for a strategy 5 points behind (seen: embed-knn vs lora at n = 16).
MARGIN_POINTS = 2.0  # percent-like metrics, in points
MARGIN_RELATIVE = 0.02  # other metrics (rmse ...): this fraction of the best mean
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "loss", "log_loss"})
PERCENT_METRICS = frozenset({"accuracy", "balanced_accuracy", "macro_f1", "micro_f1", "weighted_f1", "f1",
                             "precision", "recall", "auc", "roc_auc"})


def higher_is_better(metric: str) -> bool:
    """True unless ``metric`` is an error measure (rmse, mae, mse, loss)."""
    return metric not in LOWER_IS_BETTER


def scale(metric: str) -> float:
    """Display multiplier: 100 for fractions shown in percentage points, else 1."""
    return 100.0 if metric in PERCENT_METRICS else 1.0


def format_n(n: int | str, n_actual: int | None = None) -> str:
    """``"64"``, or ``"all (5000)"`` for the full training set."""
    return f"all ({n_actual})" if n == "all" and n_actual is not None else str(n)


@dataclass(frozen=True)
class Cell:
    """Done runs of one strategy at one requested size: scores by seed (mean of duplicates), cost and test rows.

    ``predicted`` holds each seed's prediction per test row (``RunResult.record["test"]``) when every seed stored
    them on the same ``target``; ``deterministic`` is true when every seed gave the same predictions (or, without
    rows, the same score with every label), so the cell counts as one run.
    """

    strategy: str
    n: int | str
    n_actual: int
    by_seed: dict[int, float]
    train_seconds: float
    trainable_params: int
    saved_bytes: int = 0
    seconds_per_step: float = 0.0  # training wall time per optimiser step (validation passes included)
    chosen: str = ""  # what validation chose across seeds, e.g. "lr 2e-05 (2), 5e-05 (1)"
    val_by_seed: dict[int, float] = field(default_factory=dict)  # the same metric on validation, where stored
    predicted: dict[int, np.ndarray] = field(default_factory=dict)
    target: np.ndarray | None = None
    deterministic: bool = False
    budget: str = ""  # budget_text of its runs

    @property
    def values(self) -> list[float]:
        """Test scores by seed; one value for a deterministic cell."""
        ordered = [self.by_seed[s] for s in sorted(self.by_seed)]
        return ordered[:1] if self.deterministic else ordered

    @property
    def on_validation(self) -> bool:
        """Every seed has a validation score: choices use it (else they fall back to test, and say so)."""
        return bool(self.by_seed) and set(self.val_by_seed) >= set(self.by_seed)

    def choice_score(self, sign: float) -> float:
        """Oriented mean the choices rank by: validation when stored, else test."""
        values = self.val_by_seed if self.on_validation else self.by_seed
        return sign * math.fsum(values[s] for s in self.by_seed) / len(self.by_seed)


def current_runs(results: list[RunResult]) -> list[RunResult]:
    """The newest run of each (strategy, requested size, seed); ``results`` oldest first, as ``Store.results`` gives them.

    A store re-used with other settings (a changed default, another results version, ``--no-tune`` after
    ``--tune``) keeps its older runs under other keys. Averaging them with the new runs of the same cell would
    mix two experiments, so every figure uses the newest run of each cell and seed.
    """
    def cell(r: RunResult) -> tuple[str, int | str, int]:
        return str(r.spec.get("strategy")), requested(r.spec), int(r.spec.get("seed", 0))

    newest = {cell(r): r for r in results}
    return [r for r in results if newest[cell(r)] is r]


def _rows(runs: list[RunResult]) -> tuple[dict[int, np.ndarray], np.ndarray | None]:
    """Per-seed test predictions and the shared target, or ({}, None) unless every run stored them on one target."""
    tests = [(r.record or {}).get("test") or {} for r in runs]
    if not runs or not all(t.get("predicted") and t.get("target") for t in tests):
        return {}, None
    target = np.asarray(tests[0]["target"])
    if any(len(t["target"]) != len(target) or np.any(np.asarray(t["target"]) != target) for t in tests):
        return {}, None
    return {int(r.spec.get("seed", 0)): np.asarray(t["predicted"]) for r, t in zip(runs, tests)}, target


def cells(results: list[RunResult], metric: str = "accuracy") -> dict[tuple[str, int | str], Cell]:
    """Group the current (``current_runs``) done runs with a finite ``metric`` by (strategy, requested size)."""
    groups: dict[tuple[str, int | str], list[RunResult]] = defaultdict(list)
    for r in current_runs(results):
        value = r.metrics.get(metric) if r.status == "done" else None
        if isinstance(value, (int, float)) and math.isfinite(value):
            groups[(r.spec["strategy"], requested(r.spec))].append(r)
    out = {}
    for (strategy, n), runs in groups.items():
        by_seed: dict[int, list[float]] = defaultdict(list)
        val: dict[int, list[float]] = defaultdict(list)
        for r in runs:
            by_seed[int(r.spec.get("seed", 0))].append(float(r.metrics[metric]))
            v = (r.val_metrics or {}).get(metric)
            if isinstance(v, (int, float)) and math.isfinite(v):
                val[int(r.spec.get("seed", 0))].append(float(v))
        unique = list({int(r.spec.get("seed", 0)): r for r in runs}.values())  # one run per seed for the rows
        predicted, target = _rows(unique) if len(unique) == len(by_seed) else ({}, None)
        values = [v for vs in by_seed.values() for v in vs]
        same = len(by_seed) > 1 and (all(np.array_equal(p, next(iter(predicted.values()))) for p in predicted.values())
                                     if predicted else (n == "all" and len(set(values)) == 1))
        out[(strategy, n)] = Cell(
            strategy=strategy, n=n, n_actual=max(int(r.spec.get("n", 0)) for r in runs),
            by_seed={s: math.fsum(v) / len(v) for s, v in by_seed.items()},
            train_seconds=math.fsum(r.train_seconds for r in runs) / len(runs),
            trainable_params=max(r.trainable_params for r in runs),
            saved_bytes=max(r.saved_bytes for r in runs),
            seconds_per_step=math.fsum(r.train_seconds / r.steps for r in runs if r.steps) / max(1, sum(1 for r in runs if r.steps)),
            chosen=chosen_text(runs),
            val_by_seed={s: math.fsum(v) / len(v) for s, v in val.items()},
            predicted=predicted, target=target, deterministic=same, budget=budget_text(runs),
        )
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], size_key(kv[0][1]))))


def chosen_text(runs: list[RunResult]) -> str:
    """Hyperparameters picked on validation across a cell's runs: ``"lr 2e-05 (2), 5e-05 (1)"``; "" when none."""
    values: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in runs:
        for name, value in (r.chosen or {}).items():
            if isinstance(value, (int, float, str)) and not isinstance(value, bool) and name != "tune_seconds":
                values[name][f"{value:g}" if isinstance(value, float) else str(value)] += 1
    parts = []
    for name, counts in values.items():
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])
        parts.append(f"{name} " + ", ".join(v if len(counts) == 1 and c == len(runs) else f"{v} ({c})" for v, c in ordered))
    return "; ".join(parts)


def sizes(table: dict[tuple[str, int | str], Cell]) -> list[int | str]:
    """The requested sizes present, ascending with ``"all"`` last."""
    return sorted({n for _, n in table}, key=size_key)


def _draws(cell: Cell, metric: str, seeds: list[int]) -> np.ndarray | None:
    """(DRAWS, len(seeds)) the metric of those seeds' predictions on resampled test rows, or None without rows."""
    if cell.target is None or not set(seeds) <= set(cell.predicted):
        return None
    return metric_draws(metric, np.stack([cell.predicted[s] for s in seeds]), cell.target, _weights(len(cell.target)))


@functools.lru_cache(maxsize=4)
def _weights(n_rows: int) -> np.ndarray:
    return row_weights(n_rows)


def cell_interval(cell: Cell, metric: str, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """``stats.interval`` of a cell's test scores: seeds (one run when deterministic) and test rows."""
    seeds = sorted(cell.by_seed)[:1] if cell.deterministic else sorted(cell.by_seed)
    draws = _draws(cell, metric, seeds)
    return interval(cell.values, None if draws is None else draws.mean(1), confidence)


def curves(results: list[RunResult], metric: str = "accuracy", *, confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Learning curves: one row per (strategy, requested size), in the metric's stored units.

    Returns:
        Rows ``{strategy, n, n_actual, mean, ci_low, ci_high, std, seeds, runs, val_mean, interval, train_seconds,
        trainable_params, saved_bytes, seconds_per_step, chosen, budget, note}``, sorted by strategy then size;
        ``interval`` says what the interval covers ("seeds and test rows", "test rows", "seeds", "none") and ``note``
        when a cell is one run.
    """
    rows = []
    for cell in cells(results, metric).values():
        ci = cell_interval(cell, metric, confidence)
        _, _, _, std = mean_ci(cell.values)
        covers = ([["seeds"] if len(cell.values) > 1 else []][0] + (["test rows"] if ci["row_se"] is not None else []))
        note = ("no random part: every seed gave the same result, counted as one run" if cell.deterministic
                else "1 seed" if len(cell.by_seed) == 1 else None)
        if note and ci["row_se"] is None:
            note += ": no confidence interval"
        rows.append({
            "strategy": cell.strategy, "n": cell.n, "n_actual": cell.n_actual, "mean": ci["mean"], "ci_low": ci["ci_low"],
            "ci_high": ci["ci_high"], "std": std, "seeds": len(cell.by_seed), "runs": len(cell.values),
            "val_mean": (math.fsum(cell.val_by_seed.values()) / len(cell.val_by_seed)) if cell.on_validation else None,
            "interval": " and ".join(covers) or "none", "train_seconds": cell.train_seconds,
            "trainable_params": cell.trainable_params, "saved_bytes": cell.saved_bytes, "seconds_per_step": cell.seconds_per_step,
            "chosen": cell.chosen, "budget": cell.budget, "note": note,
        })
    return rows


def _paired(table: dict[tuple[str, int | str], Cell], a: str, b: str, n: int | str, confidence: float, *,
            split: str = "test", metric: str = "accuracy") -> dict[str, Any] | None:
    """Paired difference a − b at n over shared seeds: on test with the test rows resampled for both, or on
    validation (seeds only: validation predictions are not stored)."""
    ca, cb = table.get((a, n)), table.get((b, n))
    if ca is None or cb is None:
        return None
    if split == "val":
        shared = sorted(set(ca.val_by_seed) & set(cb.val_by_seed))
        if not shared:
            return None
        return {"n": n, "n_actual": ca.n_actual, **interval([ca.val_by_seed[s] - cb.val_by_seed[s] for s in shared], None, confidence)}
    shared = sorted(set(ca.by_seed) & set(cb.by_seed))
    if not shared:
        return None
    da, db = _draws(ca, metric, shared), _draws(cb, metric, shared)
    same_rows = ca.target is not None and cb.target is not None and np.array_equal(ca.target, cb.target)
    draws = (da - db).mean(1) if da is not None and db is not None and same_rows else None
    diffs = [ca.by_seed[s] - cb.by_seed[s] for s in shared]
    if ca.deterministic and cb.deterministic:
        diffs = diffs[:1]
    return {"n": n, "n_actual": ca.n_actual, **interval(diffs, draws, confidence)}


def paired_differences(results: list[RunResult], a: str, b: str, metric: str = "accuracy", *,
                       confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Per requested size, the paired test difference a − b over the seeds both strategies finished.

    Returns:
        Rows ``{n, n_actual, mean, ci_low, ci_high, p_value, significant, pairs, seed_se, row_se}`` in stored units
        (not oriented: for rmse a negative mean favours ``a``), for each size where both share a seed.
    """
    table = cells(results, metric)
    rows = (_paired(table, a, b, n, confidence, metric=metric) for n in sizes(table))
    return [r for r in rows if r is not None]


def improvement(diff: dict[str, Any], metric: str, better_high: bool) -> dict[str, Any]:
    """Orient a paired difference (positive = better) and convert it to display units."""
    sign, k = (1.0 if better_high else -1.0), scale(metric)
    low, high = sorted((sign * diff["ci_low"] * k, sign * diff["ci_high"] * k))
    return {"points": sign * diff["mean"] * k, "ci": [low, high], "p_value": diff["p_value"],
            "significant": diff["significant"], "pairs": diff["pairs"], "has_ci": diff["p_value"] is not None}


def delta_text(imp: dict[str, Any], metric: str, better_high: bool) -> str:
    """``"+12.3 (95% CI +9.2 to +15.4) points"`` or ``"0.12 (0.09 to 0.15) lower rmse"``; notes a missing CI."""
    percent = metric in PERCENT_METRICS
    has_ci = imp.get("has_ci", imp["pairs"] >= 2)
    low, high = imp["ci"]
    if percent:
        ci = f" (CI {low:+.1f} to {high:+.1f})" if has_ci else ""
        text = f"{imp['points']:+.1f} points{ci}"
    else:
        word = ("higher" if better_high else "lower") if imp["points"] >= 0 else ("lower" if better_high else "higher")
        ci = f" (CI {low:+.2g} to {high:+.2g})" if has_ci else ""
        text = f"{abs(imp['points']):.3g} {word} {metric}{ci}"
    return text + ("" if has_ci else " (1 seed, no CI)")


def _resolve(metric: str, better_high: bool | None) -> bool:
    return higher_is_better(metric) if better_high is None else better_high


def _chosen_on(cells_: list[Cell]) -> str:
    return "validation" if all(c.on_validation for c in cells_) else "test (no validation scores stored)"


def head_start(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
               confidence: float = CONFIDENCE) -> dict[str, Any] | None:
    """The gain over ``scratch`` of the transfer strategy best *on validation*, at the smallest size where both ran,
    reported on test.

    Returns:
        ``{n, n_actual, strategy, points, ci: [lo, hi], p_value, significant, pairs, chosen_on, text}`` (points and ci
        oriented, in display units, on test), or None when scratch or every transfer strategy is absent.
    """
    better_high = _resolve(metric, higher_is_better)
    sign = 1.0 if better_high else -1.0
    table = cells(results, metric)
    for n in sizes(table):
        others = [c for (s, m), c in table.items() if m == n and s != BASELINE]
        if (BASELINE, n) not in table or not others:
            continue
        best = max(others, key=lambda c: c.choice_score(sign))
        diff = _paired(table, best.strategy, BASELINE, n, confidence, metric=metric)
        if diff is None:
            continue
        imp = improvement(diff, metric, better_high)
        on = _chosen_on(others)
        text = (f"with {format_n(n, best.n_actual)} labelled examples, {best.strategy} (best transfer strategy on {on}) "
                f"vs {BASELINE} on test: {delta_text(imp, metric, better_high)}")
        return {"n": n, "n_actual": best.n_actual, "strategy": best.strategy, **imp, "chosen_on": on, "text": text}
    return None


def crossover(results: list[RunResult], metric: str = "accuracy", a: str = "full-finetune", b: str = "linear-probe", *,
              higher_is_better: bool | None = None, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """The smallest size from which ``a``'s validation mean stays at least as good as ``b``'s at every larger size;
    the test comparison at that size is reported.

    Returns:
        ``{n, n_actual, a, b, points, ci, p_value, significant, chosen_on, text}`` (the paired test comparison at n),
        or ``{n: None, a, b, text}`` when ``a`` never settles ahead or one of them was not run.
    """
    better_high = _resolve(metric, higher_is_better)
    sign = 1.0 if better_high else -1.0
    table = cells(results, metric)
    both = [n for n in sizes(table) if (a, n) in table and (b, n) in table]
    if not both:
        return {"n": None, "a": a, "b": b, "text": f"{a} and {b} were not both run at any size"}
    on = _chosen_on([table[(s, n)] for n in both for s in (a, b)])
    ahead = [table[(a, n)].choice_score(sign) - table[(b, n)].choice_score(sign) >= 0 for n in both]
    if not ahead[-1]:
        return {"n": None, "a": a, "b": b, "chosen_on": on, "text": f"not within the sizes tried (on {on})"}
    i = len(ahead)
    while i > 0 and ahead[i - 1]:
        i -= 1
    n = both[i]
    out: dict[str, Any] = {"n": n, "n_actual": table[(a, n)].n_actual, "a": a, "b": b, "chosen_on": on}
    diff = _paired(table, a, b, n, confidence, metric=metric)
    where = f"from {format_n(n, out['n_actual'])} labelled examples on" if i else f"at every size tried (from {n})"
    if diff is None:
        return {**out, "points": None, "ci": None, "p_value": None, "significant": False,
                "text": f"{a} matches or beats {b} on {on} {where} (no shared seeds to test)"}
    imp = improvement(diff, metric, better_high)
    verdict = "significant" if imp["significant"] else "not significant"
    return {**out, **imp, "text": f"{a} matches or beats {b} on {on} {where}; on test at {format_n(n, out['n_actual'])}: "
                                   f"{delta_text(imp, metric, better_high)}, {verdict}"}


def _times(slow: float, fast: float) -> str:
    ratio = slow / fast if fast > 0 else math.inf
    return f"{ratio:.0f}×" if 10 <= ratio < math.inf else (f"{ratio:.1f}×" if ratio < math.inf else "much")


def _units(metric: str) -> str:
    return "points" if metric in PERCENT_METRICS else metric


def _seconds(t: float) -> str:
    return f"{t:.0f} s" if t >= 10 else f"{t:.2g} s"


def _params(k: int) -> str:
    return next((f"{k / d:.3g}{u}" for d, u in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if k >= d), str(k))


def margin(metric: str, best_mean: float, points: float | None = None) -> float:
    """How far (display units, ``scale``) a cheaper strategy may trail the best and still replace it:
    ``points`` (default ``MARGIN_POINTS``) for percent-like metrics, ``MARGIN_RELATIVE`` of the best mean otherwise
    (``points`` / 100 of it when given)."""
    if metric in PERCENT_METRICS:
        return MARGIN_POINTS if points is None else points
    return (MARGIN_RELATIVE if points is None else points / 100) * abs(best_mean) * scale(metric)


def _score_text(value: float, ci: dict[str, Any], metric: str) -> str:
    k = scale(metric)
    fmt = (lambda v: f"{v * k:.1f}") if k == 100.0 else (lambda v: f"{v:.3g}")
    unit = "%" if k == 100.0 else ""
    if ci["p_value"] is None and ci["row_se"] is None:
        return f"{fmt(value)}{unit}"
    return f"{fmt(value)}{unit} (CI {fmt(ci['ci_low'])}–{fmt(ci['ci_high'])})"


def _pick(table: dict[tuple[str, int | str], Cell], n: int | str, metric: str, better_high: bool,
          confidence: float, margin_points: float | None = None) -> dict[str, Any]:
    """The strategy to use at size n, decided on validation: the best validation mean, or the cheapest strategy whose
    paired validation interval of (best − it) lies below the margin (at least ``MIN_PAIRS`` seeds). The test scores
    of what was picked are attached."""
    sign = 1.0 if better_high else -1.0
    here = sorted((c for (_, m), c in table.items() if m == n), key=lambda c: -c.choice_score(sign))
    best, pick, versus = here[0], here[0], []
    allowed = margin(metric, mean_ci(best.values)[0], margin_points)
    equivalence, undecided = None, None
    for cheaper in sorted((c for c in here[1:] if c.train_seconds < best.train_seconds), key=lambda c: c.train_seconds):
        diff = _paired(table, best.strategy, cheaper.strategy, n, confidence, split="val")
        if diff is None or diff["pairs"] < MIN_PAIRS:
            continue
        val = improvement(diff, metric, better_high)
        if val["ci"][1] <= allowed + 1e-9:
            pick = cheaper
            test = _paired(table, best.strategy, cheaper.strategy, n, confidence, metric=metric)
            equivalence = {"val": val, "test": None if test is None else improvement(test, metric, better_high), "margin": allowed}
            break
        if undecided is None and val["points"] <= allowed + 1e-9:
            undecided = {"strategy": cheaper.strategy, "train_seconds": cheaper.train_seconds, "val": val, "margin": allowed}
    if pick is best:
        others = [c for c in here[1:2] if c.strategy != BASELINE] + [c for c in here[1:] if c.strategy == BASELINE]
        for other in others:
            diff = _paired(table, best.strategy, other.strategy, n, confidence, metric=metric)
            if diff is not None:
                versus.append({"strategy": other.strategy, "train_seconds": other.train_seconds,
                               **improvement(diff, metric, better_high)})
    ci = cell_interval(pick, metric, confidence)
    return {"n": n, "n_actual": best.n_actual, "strategy": pick.strategy, "best": best.strategy,
            "reason": "best" if pick is best else "cheaper", "mean": ci["mean"], "ci": [ci["ci_low"], ci["ci_high"]],
            "score_text": _score_text(ci["mean"], ci, metric), "chosen_on": _chosen_on(here),
            "train_seconds": pick.train_seconds, "best_seconds": best.train_seconds, "trainable_params": pick.trainable_params, "versus": versus,
            "equivalence": equivalence, "undecided": undecided if pick is best else None}


def _where(first: dict[str, Any], last: dict[str, Any], only: bool, is_first: bool, is_last: bool) -> str:
    lo, hi = format_n(first["n"], first["n_actual"]), format_n(last["n"], last["n_actual"])
    return ("at every size tried" if only else f"with all {first['n_actual']} labelled examples" if first["n"] == "all"
            else f"up to {hi} labelled examples" if is_first else f"from {lo} labelled examples" if is_last
            else f"{lo} to {hi} labelled examples" if lo != hi else f"at {lo} labelled examples")


def _band_text(first: dict[str, Any], where: str, metric: str, better_high: bool) -> str:
    name, at = first["strategy"], format_n(first["n"], first["n_actual"])
    cost = f"{_seconds(first['train_seconds'])} to train, {_params(first['trainable_params'])} trainable parameters"
    on = first["chosen_on"]
    if first["reason"] == "cheaper":
        eq, best = first["equivalence"], first["best"]
        units, allowed = _units(metric), eq["margin"]
        text = (f"{where}: {name} — {_times(first['best_seconds'], first['train_seconds'])} cheaper than {best}, the best "
                f"on {on}, and no worse by more than {allowed:.2g} {units} there ({best} − {name} on {on}: "
                f"{delta_text(eq['val'], metric, better_high)}, {eq['val']['pairs']} seeds); {cost}; test {first['score_text']} at n = {at}")
        test = eq["test"]
        if test is not None:
            inside = test.get("has_ci", True) and test["ci"][1] <= allowed + 1e-9
            text += (f"; on test {best} − {name}: {delta_text(test, metric, better_high)}, "
                     + ("inside the margin" if inside else f"an interval reaching past the {allowed:.2g}-{units} margin: "
                        "on test the evidence that it is no worse is inconclusive"))
        return text
    over = [f"{delta_text(v, metric, better_high)} over {v['strategy']}" for v in first["versus"]]
    evidence = ("; on test " + ", ".join(over)) if over else ""
    text = f"{where}: {name} (best on {on}; test {first['score_text']} at n = {at}{evidence}; {cost})"
    other = first.get("undecided")
    if other:  # close on the mean, but the interval does not rule out a real loss: say so rather than pick it or hide it
        text += (f"; {other['strategy']} is {_times(first['train_seconds'], other['train_seconds'])} cheaper and trails on "
                 f"{on} by {delta_text(other['val'], metric, better_high).lstrip('+')}: whether it is no worse than "
                 f"{other['margin']:.2g} {_units(metric)} behind is inconclusive; more seeds would tell")
    return text


def _caveats(group: list[dict[str, Any]], lost: list[dict[str, Any]], flagged: list[dict[str, Any]]) -> str:
    """Lost seeds and budget flags at the band's sizes, named so that no arm wins or loses silently on them."""
    at = {p["n"] for p in group}
    parts = []
    for c in lost:
        if c["n"] in at:
            gone = c["failed"] + c["diverged"]
            kinds = ", ".join(f"{c[k]} {k}" for k in ("diverged", "failed") if c[k])
            picked = any(p["strategy"] == c["strategy"] and p["n"] == c["n"] for p in group)
            parts.append(f"{c['strategy']} lost {gone} of {gone + c['done']} seeds at n = {c['n']} ({kinds}"
                         + (f": {c['errors'][0]}" if c["errors"] else "") + ")"
                         + ("; it is recommended on the seeds that finished" if picked else ""))
    picked = {p["strategy"] for p in group}
    by_strategy: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for f in flagged:
        if f["n"] in at:
            by_strategy[f["strategy"]][f["reason"]].append(f["n"])
    for strategy, reasons in by_strategy.items():
        what = "; ".join(f"{flags.SHORT[r]} at n = {', '.join(map(str, ns))}" for r, ns in reasons.items())
        parts.append(f"{strategy} {what}: its scores may understate it"
                     + ("" if strategy in picked else ", so it may trail here for want of budget, not of merit")
                     + " (flags below)")
    return "".join(f"; note: {p}" for p in parts)


def recommend(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
              confidence: float = CONFIDENCE, margin_points: float | None = None) -> list[dict[str, Any]]:
    """Which strategy to use, by labelled-set size, in plain words; decided on validation, figures from test.

    At each size take the best validation mean; if a cheaper strategy (less train time) trails it on validation by
    less than the margin with the whole paired interval (at least ``MIN_PAIRS`` seeds; 2 points, 2% for rmse-like
    metrics; ``margin_points`` changes it), take the cheapest such one. The test comparison of the pick is quoted and
    said to be inconclusive when its interval reaches past the margin. Seeds lost to failure or divergence and the
    budget flags (``flags.budget_flags``) at the band's sizes are named. Consecutive sizes with the same pick merge
    into one band; its text quotes the evidence at the band's first size.

    Returns:
        Bands ``{from_n, to_n, strategy, text, evidence}``; ``evidence`` holds the per-size picks with the
        paired comparisons (``versus``, ``equivalence``) and cost.
    """
    better_high = _resolve(metric, higher_is_better)
    table = cells(results, metric)
    if margin_points is not None and not (isinstance(margin_points, (int, float)) and 0 <= margin_points < math.inf):
        raise ConfigError(f"--margin must be a number of points >= 0, got {margin_points!r}; e.g. --margin 1")
    picks = [_pick(table, n, metric, better_high, confidence, margin_points) for n in sizes(table)]
    lost = [c for c in counts(results) if c["failed"] or c["diverged"]]
    flagged = budget_flags(results)
    groups: list[list[dict[str, Any]]] = []
    for p in picks:
        if groups and groups[-1][-1]["strategy"] == p["strategy"]:
            groups[-1].append(p)
        else:
            groups.append([p])
    bands = []
    for i, g in enumerate(groups):
        where = _where(g[0], g[-1], len(groups) == 1, i == 0, i == len(groups) - 1)
        text = _band_text(g[0], where, metric, better_high) + _caveats(g, lost, flagged)
        bands.append({"from_n": g[0]["n"], "to_n": g[-1]["n"], "strategy": g[0]["strategy"], "evidence": g, "text": text})
    return bands


def counts(results: list[RunResult]) -> list[dict[str, Any]]:
    """Per (strategy, requested size): how many runs are done, failed, diverged, pending or running.

    Returns:
        Rows ``{strategy, n, done, failed, diverged, pending, running, errors}`` (``errors``: up to three
        distinct failure reasons).
    """
    table: dict[tuple[str, int | str], dict[str, Any]] = {}
    for r in current_runs(results):
        key = (str(r.spec.get("strategy")), requested(r.spec))
        row = table.setdefault(key, {"strategy": key[0], "n": key[1], "done": 0, "failed": 0, "diverged": 0,
                                     "pending": 0, "running": 0, "errors": []})
        row[r.status] += 1
        if r.error and r.error not in row["errors"] and len(row["errors"]) < 3:
            row["errors"].append(r.error)
    return [table[k] for k in sorted(table, key=lambda k: (k[0], size_key(k[1])))]


def grid_edges(results: list[RunResult], confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """``flags.grid_edges`` over the current runs (``current_runs``)."""
    return flags.grid_edges(current_runs(results), confidence)


def budget_flags(results: list[RunResult]) -> list[dict[str, Any]]:
    """``flags.budget_flags`` over the current runs (``current_runs``)."""
    return flags.budget_flags(current_runs(results))


def reference(results: list[RunResult], metric: str = "accuracy") -> dict[str, Any] | None:
    """The score of predicting the training pool's majority class (its mean for regression) on test and validation,
    from the runs' records: the line below which a strategy learned nothing. None for stores without records.

    Returns:
        ``{test, val, label}`` in stored units; ``label`` is "majority class" or "predicting the mean".
    """
    found: dict[tuple[Any, Any], int] = defaultdict(int)
    for r in current_runs(results):
        ref = (r.record or {}).get("reference") or {}
        test, val = (ref.get("test") or {}).get(metric), (ref.get("val") or {}).get(metric)
        if isinstance(test, (int, float)):
            found[(test, val)] += 1
    if not found:
        return None
    test, val = max(found, key=found.get)
    label = "predicting the mean" if metric in ("rmse", "mae", "r2") else "majority class"
    return {"test": test, "val": val, "label": label}


def summarize(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
              a: str = "full-finetune", b: str = "linear-probe", confidence: float = CONFIDENCE,
              margin_points: float | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain JSON-able data (the ``results.json`` shape).

    Args:
        results: every stored run (any status).
        metric: the test metric to compare (``accuracy``; ``rmse`` for regression).
        higher_is_better: orientation; derived from ``metric`` when None.
        a, b: the pair whose crossover is reported.
        confidence: coverage of every interval.
        margin_points: how far a cheaper strategy may trail the best and be recommended instead (``recommend``).

    Returns:
        ``{metric, higher_is_better, scale, confidence, margin_points, reference, curves, head_start, crossover,
        recommendation, budget_flags, grid_edges, counts, totals}``.

    Raises:
        ConfigError: ``metric`` appears in no finished run while other metrics do.
    """
    done = [r for r in results if r.status == "done"]
    available = sorted({m for r in done for m, v in r.metrics.items() if isinstance(v, (int, float))})
    if done and metric not in available:
        raise ConfigError(f"metric {metric!r} is in no finished run; use one of {', '.join(available)} (e.g. --metric {available[0]})")
    better_high = _resolve(metric, higher_is_better)
    current = current_runs(results)
    totals = {s: sum(r.status == s for r in current) for s in ("done", "failed", "diverged", "pending", "running")}
    totals["superseded"] = len(results) - len(current)
    return {
        "metric": metric, "higher_is_better": better_high, "scale": scale(metric), "confidence": confidence,
        "margin_points": MARGIN_POINTS if margin_points is None else margin_points,
        "reference": reference(results, metric),
        "curves": curves(results, metric, confidence=confidence),
        "head_start": head_start(results, metric, higher_is_better=better_high, confidence=confidence),
        "crossover": crossover(results, metric, a, b, higher_is_better=better_high, confidence=confidence),
        "recommendation": recommend(results, metric, higher_is_better=better_high, confidence=confidence,
                                    margin_points=margin_points),
        "budget_flags": budget_flags(results), "grid_edges": grid_edges(results), "counts": counts(results), "totals": totals,
    }
