"""From stored runs to the answer: learning curves, paired tests, head start, crossover and advice.

Pure functions over a list of ``RunResult``. Only ``done`` runs enter the statistics; ``failed`` and
``diverged`` runs are counted per cell (``counts``) so the report can show them.

Statistics (per strategy and requested size n, over seeds):
  mean ± t_{0.975, k-1} · s / √k, the Student-t 95% confidence interval over k seeds (one seed: no CI).
Comparisons are *paired*: seed s draws the same nested labelled subset for every strategy, so the
difference a − b is taken seed by seed and tested with a paired t-test (``scipy.stats.ttest_rel``).

Units: metric values are stored as they come (fractions in [0, 1] for accuracy-like metrics). ``curves``
and ``paired_differences`` keep those units; text, ``head_start`` and ``crossover`` give *points*
(× 100) for accuracy-like metrics. ``improvement`` fields are oriented so that positive means better,
also for lower-is-better metrics such as ``rmse``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from headstart.errors import ConfigError
from headstart.results import RunResult

CONFIDENCE = 0.95
BASELINE = "scratch"  # the from-scratch twin: what every transfer strategy is measured against
# A cheaper strategy replaces the best only on this many paired seeds: with two, a t-test has one degree of
# freedom and its interval is so wide (±36 points seen) that "no significant difference" holds for anything.
MIN_PAIRS = 3
# ... and only when its mean trails the best by at most this much: with 3 seeds "not significantly worse" also holds
# for a strategy 5 points behind (seen: embed-knn vs lora at n = 16), which no one would call as good.
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


def size_key(n: int | str) -> tuple[int, int]:
    """Sort key for requested sizes: integers ascending, ``"all"`` last."""
    return (1, 0) if n == "all" else (0, int(n))


def format_n(n: int | str, n_actual: int | None = None) -> str:
    """``"64"``, or ``"all (5000)"`` for the full training set."""
    return f"all ({n_actual})" if n == "all" and n_actual is not None else str(n)


def mean_ci(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float, float | None]:
    """Mean and Student-t confidence interval.

    Args:
        values: one value per seed (at least one).
        confidence: two-sided coverage, default 0.95.

    Returns:
        ``(mean, ci_low, ci_high, std)``; with one value the interval has no width and ``std`` is None.
    """
    from scipy import stats

    k = len(values)
    mean = math.fsum(values) / k
    if k < 2:
        return mean, mean, mean, None
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (k - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, k - 1)) * std / math.sqrt(k)
    return mean, mean - half, mean + half, std


def paired_test(diffs: list[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Paired t-test on per-seed differences a − b.

    Args:
        diffs: one difference per shared seed.
        confidence: coverage of the interval; ``significant`` means p < 1 − confidence.

    Returns:
        ``{mean, ci_low, ci_high, p_value, significant, pairs}``; ``p_value`` is None (not significant)
        with fewer than two pairs. Identical non-zero differences count as significant (p = 0).
    """
    from scipy import stats

    mean, low, high, std = mean_ci(diffs, confidence)
    if std is None or std == 0.0:
        p = None if std is None else (1.0 if mean == 0.0 else 0.0)
    else:
        t = mean / (std / math.sqrt(len(diffs)))  # the paired t statistic, as scipy.stats.ttest_rel
        p = float(2 * stats.t.sf(abs(t), len(diffs) - 1))
    return {"mean": mean, "ci_low": low, "ci_high": high, "p_value": p,
            "significant": p is not None and p < 1 - confidence, "pairs": len(diffs)}


@dataclass(frozen=True)
class Cell:
    """Done runs of one strategy at one requested size: values by seed (mean of duplicates) and cost."""

    strategy: str
    n: int | str
    n_actual: int
    by_seed: dict[int, float]
    train_seconds: float
    trainable_params: int
    saved_bytes: int = 0
    seconds_per_step: float = 0.0  # training wall time per optimiser step (validation passes included)
    chosen: str = ""  # what validation chose across seeds, e.g. "lr 2e-05 (2), 5e-05 (1)"

    @property
    def values(self) -> list[float]:
        return [self.by_seed[s] for s in sorted(self.by_seed)]


def requested(spec: dict[str, Any]) -> int | str:
    """The requested size of a run (``spec["n_requested"]``; falls back to ``spec["n"]``)."""
    n = spec.get("n_requested", spec.get("n"))
    return "all" if n == "all" else int(n)


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
        for r in runs:
            by_seed[int(r.spec.get("seed", 0))].append(float(r.metrics[metric]))
        out[(strategy, n)] = Cell(
            strategy=strategy, n=n, n_actual=max(int(r.spec.get("n", 0)) for r in runs),
            by_seed={s: math.fsum(v) / len(v) for s, v in by_seed.items()},
            train_seconds=math.fsum(r.train_seconds for r in runs) / len(runs),
            trainable_params=max(r.trainable_params for r in runs),
            saved_bytes=max(r.saved_bytes for r in runs),
            seconds_per_step=math.fsum(r.train_seconds / r.steps for r in runs if r.steps) / max(1, sum(1 for r in runs if r.steps)),
            chosen=chosen_text(runs),
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


def curves(results: list[RunResult], metric: str = "accuracy", *, confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Learning curves: one row per (strategy, requested size), in the metric's stored units.

    Returns:
        Rows ``{strategy, n, n_actual, mean, ci_low, ci_high, std, seeds, train_seconds, trainable_params,
        saved_bytes, seconds_per_step, chosen, note}``, sorted by strategy then size; ``note`` says when one seed leaves no interval.
    """
    rows = []
    for cell in cells(results, metric).values():
        mean, low, high, std = mean_ci(cell.values, confidence)
        rows.append({
            "strategy": cell.strategy, "n": cell.n, "n_actual": cell.n_actual, "mean": mean, "ci_low": low,
            "ci_high": high, "std": std, "seeds": len(cell.by_seed), "train_seconds": cell.train_seconds,
            "trainable_params": cell.trainable_params, "saved_bytes": cell.saved_bytes, "seconds_per_step": cell.seconds_per_step,
            "chosen": cell.chosen,
            "note": "1 seed: no confidence interval" if std is None else None,
        })
    return rows


def _paired(table: dict[tuple[str, int | str], Cell], a: str, b: str, n: int | str, confidence: float) -> dict[str, Any] | None:
    ca, cb = table.get((a, n)), table.get((b, n))
    if ca is None or cb is None:
        return None
    shared = sorted(set(ca.by_seed) & set(cb.by_seed))
    if not shared:
        return None
    return {"n": n, "n_actual": ca.n_actual, **paired_test([ca.by_seed[s] - cb.by_seed[s] for s in shared], confidence)}


def paired_differences(results: list[RunResult], a: str, b: str, metric: str = "accuracy", *,
                       confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Per requested size, the paired difference a − b over the seeds both strategies finished.

    Returns:
        Rows ``{n, n_actual, mean, ci_low, ci_high, p_value, significant, pairs}`` in stored units
        (not oriented: for rmse a negative mean favours ``a``), for each size where both share a seed.
    """
    table = cells(results, metric)
    rows = (_paired(table, a, b, n, confidence) for n in sizes(table))
    return [r for r in rows if r is not None]


def improvement(diff: dict[str, Any], metric: str, better_high: bool) -> dict[str, Any]:
    """Orient a paired difference (positive = better) and convert it to display units."""
    sign, k = (1.0 if better_high else -1.0), scale(metric)
    low, high = sorted((sign * diff["ci_low"] * k, sign * diff["ci_high"] * k))
    return {"points": sign * diff["mean"] * k, "ci": [low, high], "p_value": diff["p_value"],
            "significant": diff["significant"], "pairs": diff["pairs"]}


def delta_text(imp: dict[str, Any], metric: str, better_high: bool) -> str:
    """``"+12.3 ± 3.1 points"`` (percent metrics) or ``"0.12 ± 0.03 lower rmse"``; notes a missing CI."""
    width, percent = (imp["ci"][1] - imp["ci"][0]) / 2, metric in PERCENT_METRICS
    half = "" if imp["pairs"] < 2 else (f" ± {width:.1f}" if percent else f" ± {width:.2g}")
    if percent:
        text = f"{imp['points']:+.1f}{half} points"
    else:
        word = ("higher" if better_high else "lower") if imp["points"] >= 0 else ("lower" if better_high else "higher")
        text = f"{abs(imp['points']):.3g}{half} {word} {metric}"
    return text + (" (1 seed, no CI)" if imp["pairs"] < 2 else "")


def _resolve(metric: str, better_high: bool | None) -> bool:
    return higher_is_better(metric) if better_high is None else better_high


def head_start(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
               confidence: float = CONFIDENCE) -> dict[str, Any] | None:
    """The gain of the best transfer strategy over ``scratch`` at the smallest size where both ran.

    Returns:
        ``{n, n_actual, strategy, points, ci: [lo, hi], p_value, significant, pairs, text}`` (points and ci
        oriented, in display units), or None when scratch or every transfer strategy is absent.
    """
    better_high = _resolve(metric, higher_is_better)
    sign = 1.0 if better_high else -1.0
    table = cells(results, metric)
    for n in sizes(table):
        others = [c for (s, m), c in table.items() if m == n and s != BASELINE]
        if (BASELINE, n) not in table or not others:
            continue
        best = max(others, key=lambda c: sign * mean_ci(c.values)[0])
        diff = _paired(table, best.strategy, BASELINE, n, confidence)
        if diff is None:
            continue
        imp = improvement(diff, metric, better_high)
        text = (f"with {format_n(n, best.n_actual)} labelled examples, {best.strategy} vs {BASELINE}: "
                f"{delta_text(imp, metric, better_high)}")
        return {"n": n, "n_actual": best.n_actual, "strategy": best.strategy, **imp, "text": text}
    return None


def crossover(results: list[RunResult], metric: str = "accuracy", a: str = "full-finetune", b: str = "linear-probe", *,
              higher_is_better: bool | None = None, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """The smallest size from which ``a``'s mean stays at least as good as ``b``'s at every larger size.

    Returns:
        ``{n, n_actual, a, b, points, ci, p_value, significant, text}`` (the paired comparison at n), or
        ``{n: None, a, b, text}`` when ``a`` never settles ahead or one of them was not run.
    """
    better_high = _resolve(metric, higher_is_better)
    sign = 1.0 if better_high else -1.0
    table = cells(results, metric)
    both = [n for n in sizes(table) if (a, n) in table and (b, n) in table]
    if not both:
        return {"n": None, "a": a, "b": b, "text": f"{a} and {b} were not both run at any size"}
    ahead = [sign * (mean_ci(table[(a, n)].values)[0] - mean_ci(table[(b, n)].values)[0]) >= 0 for n in both]
    if not ahead[-1]:
        return {"n": None, "a": a, "b": b, "text": "not within the sizes tried"}
    i = len(ahead)
    while i > 0 and ahead[i - 1]:
        i -= 1
    n = both[i]
    out: dict[str, Any] = {"n": n, "n_actual": table[(a, n)].n_actual, "a": a, "b": b}
    diff = _paired(table, a, b, n, confidence)
    where = f"from {format_n(n, out['n_actual'])} labelled examples on" if i else f"at every size tried (from {n})"
    if diff is None:
        return {**out, "points": None, "ci": None, "p_value": None, "significant": False,
                "text": f"{a} matches or beats {b} {where} (no shared seeds to test)"}
    imp = improvement(diff, metric, better_high)
    verdict = "significant" if imp["significant"] else "not significant"
    return {**out, **imp, "text": f"{a} matches or beats {b} {where} ({delta_text(imp, metric, better_high)} "
                                   f"at {format_n(n, out['n_actual'])}, {verdict})"}


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
    """How far (display units, ``scale``) a cheaper strategy's mean may trail the best and still replace it:
    ``points`` (default ``MARGIN_POINTS``) for percent-like metrics, ``MARGIN_RELATIVE`` of the best mean otherwise
    (``points`` / 100 of it when given)."""
    if metric in PERCENT_METRICS:
        return MARGIN_POINTS if points is None else points
    return (MARGIN_RELATIVE if points is None else points / 100) * abs(best_mean) * scale(metric)


def _pick(table: dict[tuple[str, int | str], Cell], n: int | str, metric: str, better_high: bool,
          confidence: float, margin_points: float | None = None) -> dict[str, Any]:
    """The strategy to use at size n: the best mean, or the cheapest one that is not significantly worse (paired, at
    least ``MIN_PAIRS`` seeds) and trails it by at most ``margin``."""
    sign = 1.0 if better_high else -1.0
    here = sorted((c for (_, m), c in table.items() if m == n), key=lambda c: -sign * mean_ci(c.values)[0])
    best, pick, vs = here[0], here[0], []
    allowed, undecided = margin(metric, mean_ci(best.values)[0], margin_points), None
    for cheaper in sorted((c for c in here[1:] if c.train_seconds < best.train_seconds), key=lambda c: c.train_seconds):
        diff = _paired(table, best.strategy, cheaper.strategy, n, confidence)
        if diff is None or diff["pairs"] < MIN_PAIRS or diff["significant"]:
            continue
        imp = improvement(diff, metric, better_high)
        if imp["points"] <= allowed + 1e-9:
            pick, vs = cheaper, [(best, {**imp, "margin": allowed})]
            break
        undecided = undecided or {"strategy": cheaper.strategy, "train_seconds": cheaper.train_seconds, **imp}
    if pick is best:
        others = [c for c in here[1:2] if c.strategy != BASELINE]
        others += [c for c in here[1:] if c.strategy == BASELINE]
        for other in others:
            diff = _paired(table, best.strategy, other.strategy, n, confidence)
            if diff is not None:
                vs.append((other, improvement(diff, metric, better_high)))
    return {"n": n, "n_actual": best.n_actual, "strategy": pick.strategy, "best": best.strategy,
            "reason": "best" if pick is best else "cheaper", "mean": mean_ci(pick.values)[0],
            "train_seconds": pick.train_seconds, "trainable_params": pick.trainable_params,
            "versus": [{"strategy": c.strategy, "train_seconds": c.train_seconds, **imp} for c, imp in vs],
            "undecided": undecided if pick is best else None}


def _band_text(first: dict[str, Any], last: dict[str, Any], only: bool, is_first: bool, is_last: bool,
               metric: str, better_high: bool) -> str:
    lo, hi = format_n(first["n"], first["n_actual"]), format_n(last["n"], last["n_actual"])
    where = ("at every size tried" if only else f"with all {first['n_actual']} labelled examples" if first["n"] == "all"
             else f"up to {hi} labelled examples" if is_first else f"from {lo} labelled examples" if is_last
             else f"{lo} to {hi} labelled examples" if lo != hi else f"at {lo} labelled examples")
    name, at = first["strategy"], format_n(first["n"], first["n_actual"])
    cost = f"{_seconds(first['train_seconds'])} to train, {_params(first['trainable_params'])} trainable parameters"
    if first["reason"] == "cheaper":
        rival = first["versus"][0]
        times = _times(rival["train_seconds"], first["train_seconds"])
        diff = delta_text(rival, metric, better_high)
        return (f"{where}: {name} — within {rival['margin']:.2g} {_units(metric)} of {rival['strategy']} and not "
                f"significantly worse ({rival['strategy']} {diff}, p = {rival['p_value']:.2g}, at n = {at}); {name} is "
                f"{times} cheaper ({cost})")
    over = [f"{delta_text(v, metric, better_high)} over {v['strategy']}" for v in first["versus"]]
    evidence = (", ".join(over) + f" at n = {at}; ") if over else ""
    text = f"{where}: {name} ({evidence}{cost})"
    other = first.get("undecided")
    if other:  # not significantly worse, but too far behind for "as good": say so rather than pick it or hide it
        quoted = any(v["strategy"] == other["strategy"] for v in first["versus"])
        behind = "" if quoted else f", trailing by {delta_text(other, metric, better_high).lstrip('+')}"
        text += (f"; {other['strategy']} is {_times(first['train_seconds'], other['train_seconds'])} cheaper and not "
                 f"significantly worse{behind} (p = {other['p_value']:.2g}): more seeds would tell")
    return text


def recommend(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
              confidence: float = CONFIDENCE, margin_points: float | None = None) -> list[dict[str, Any]]:
    """Which strategy to use, by labelled-set size, in plain words.

    At each size take the best mean; if a cheaper strategy (less train time) is not significantly worse
    (paired CI overlaps zero, at least ``MIN_PAIRS`` shared seeds) and trails by at most ``margin`` (2 points;
    2% for rmse-like metrics; ``margin_points`` changes it), take the cheapest such one instead. Consecutive
    sizes with the same pick merge into one band; its text quotes the evidence at the band's first size.

    Returns:
        Bands ``{from_n, to_n, strategy, text, evidence}``; ``evidence`` holds the per-size picks with the
        paired comparisons (``versus``) and cost.
    """
    better_high = _resolve(metric, higher_is_better)
    table = cells(results, metric)
    if margin_points is not None and not (isinstance(margin_points, (int, float)) and 0 <= margin_points < math.inf):
        raise ConfigError(f"--margin must be a number of points >= 0, got {margin_points!r}; e.g. --margin 1")
    picks = [_pick(table, n, metric, better_high, confidence, margin_points) for n in sizes(table)]
    groups: list[list[dict[str, Any]]] = []
    for p in picks:
        if groups and groups[-1][-1]["strategy"] == p["strategy"]:
            groups[-1].append(p)
        else:
            groups.append([p])
    return [{"from_n": g[0]["n"], "to_n": g[-1]["n"], "strategy": g[0]["strategy"], "evidence": g,
             "text": _band_text(g[0], g[-1], len(groups) == 1, i == 0, i == len(groups) - 1, metric, better_high)}
            for i, g in enumerate(groups)]


def _suggest(grid: tuple[float, ...], edge: str) -> tuple[float, ...]:
    """``grid`` moved one step outward past ``edge`` (its end ratio, 2 significant digits), keeping its length:
    (1e-5, 2e-5, 5e-5), top -> (2e-5, 5e-5, 1.3e-4)."""
    if edge == "top":
        return grid[1:] + (float(f"{grid[-1] * grid[-1] / grid[-2]:.2g}"),)
    return (float(f"{grid[0] * grid[0] / grid[1]:.2g}"),) + grid[:-1]


def grid_edges(results: list[RunResult], confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Strategies whose ``--tune`` choice sat at one end of the grid searched more often than chance would put it there.

    A value chosen at the end of a grid says the best may lie beyond it: the grid was too narrow for this data and
    budget, and the strategy's scores may understate it (on rotten-tomatoes the wider grid moved validation's choice
    but not test accuracy: docs/BENCHMARKS.md). With a 3-value grid an end is chosen a third of the time when
    the values are equally good, so an end is flagged only when a one-sided binomial test against 1 / grid size
    gives p < 1 - ``confidence`` (3 of 3 runs, 6 of 9). Only current (``current_runs``) done runs count.

    Returns:
        ``{strategy, param, edge ("top" | "bottom"), value, count, runs, p_value, sizes, grid, suggested, text}`` per
        flagged strategy and grid; ``suggested`` is the grid moved one step past that end.
    """
    from scipy.stats import binomtest

    groups: dict[tuple[str, str, tuple[float, ...]], list[RunResult]] = defaultdict(list)
    for r in current_runs(results):
        tune = r.spec.get("tune") or {}
        if r.status == "done" and len(tune.get("grid") or ()) > 1 and tune.get("param") in (r.chosen or {}):
            groups[(str(r.spec.get("strategy")), tune["param"], tuple(sorted(float(v) for v in tune["grid"])))].append(r)
    out = []
    for (strategy, param, grid), runs in sorted(groups.items()):
        for edge, value in (("top", grid[-1]), ("bottom", grid[0])):
            hits = [r for r in runs if math.isclose(float(r.chosen[param]), value, rel_tol=1e-9)]
            p_value = float(binomtest(len(hits), len(runs), 1 / len(grid), alternative="greater").pvalue)
            if p_value >= 1 - confidence:
                continue
            at = sorted({requested(r.spec) for r in hits}, key=size_key)
            suggested = _suggest(grid, edge)
            values = ",".join(f"{v:g}" for v in suggested)
            text = (f"{strategy} chose {param} {value:g}, the {edge} of its grid ({', '.join(f'{v:g}' for v in grid)}), "
                    f"in {len(hits)} of {len(runs)} tuned runs (n = {', '.join(map(str, at))}; chance would give 1 in "
                    f"{len(grid)}, p = {p_value:.2g}): the best {param} may lie "
                    f"{'above' if edge == 'top' else 'below'} it, so its scores may understate it; "
                    f"try --grid {strategy}={values}")
            out.append({"strategy": strategy, "param": param, "edge": edge, "value": value, "count": len(hits),
                        "runs": len(runs), "p_value": p_value, "sizes": at, "grid": list(grid), "suggested": list(suggested), "text": text})
    return out


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
        ``{metric, higher_is_better, scale, confidence, margin_points, curves, head_start, crossover, recommendation,
        grid_edges, counts, totals}``.

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
        "curves": curves(results, metric, confidence=confidence),
        "head_start": head_start(results, metric, higher_is_better=better_high, confidence=confidence),
        "crossover": crossover(results, metric, a, b, higher_is_better=better_high, confidence=confidence),
        "recommendation": recommend(results, metric, higher_is_better=better_high, confidence=confidence,
                                    margin_points=margin_points),
        "grid_edges": grid_edges(results), "counts": counts(results), "totals": totals,
    }

