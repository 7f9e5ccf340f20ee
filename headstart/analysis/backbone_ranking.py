"""Predicted vs measured backbone rankings: what a compare store measured per backbone, and Kendall's tau.

Pure functions over stored ``RunResult``s (no torch): ``measured`` reads a compare store's mean test score per
backbone for one arm at one labelled-set size; ``agreement`` sets a transferability score's ranking
(``headstart.rank``) against it with Kendall's tau; ``ranked_beside_measured`` is the report's section of both.
"""

from __future__ import annotations

import math
from typing import Any

from headstart.analysis.arms import arm_name, experiments
from headstart.analysis.cells import current_runs
from headstart.analysis.flags import budget_flags, requested, size_key
from headstart.analysis.stats import missing_ci_text
from headstart.data.memory import shown_name
from headstart.errors import ConfigError
from headstart.results import RunResult

PREFERRED_ARM = "linear-probe"  # trains on exactly the features the scores read
SCORES = ("logme", "h_score", "knn_loo")  # as headstart.rank computes them, higher is better for each
SCORE_LABELS = {"logme": "LogME", "h_score": "H-score", "knn_loo": "kNN-LOO"}


def measured(results: list[RunResult], *, data_hash: str, metric: str = "accuracy", arm: str | None = None,
             size: int | str | None = None) -> dict[str, Any]:
    """Mean test ``metric`` over seeds per backbone, for one arm at one requested size, on the data ``data_hash``.

    Args:
        results: a store's runs (any status), oldest first.
        data_hash: the dataset the ranking scored (runs on other data are left out).
        metric: the test metric.
        arm: the arm (``headstart runs`` / the report's label); default linear-probe when stored, else the only arm.
        size: the requested size (an int or "all"); default the largest stored for that arm.

    Returns:
        ``{"arm", "size", "metric", "backbones": {backbone: {"mean", "seeds", "values", "ci_low", "ci_high",
        "test_rows"}}}``, backbones by stored name; ``values`` are the per-seed scores (what ``agreement``'s interval
        resamples), ``ci_low``/``ci_high`` the test score's interval as the report's table gives it; ``"flagged"``: ``{backbone:
        reasons}`` for those whose runs the compare's report flags, and ``"image_sizes"``: ``{backbone: [sides]}``, the
        input sides an image backbone's runs read; each only when there is one.

    Raises:
        ConfigError: no finished run on this data, an arm or size not in the store (naming those that are).
    """
    runs = []
    for _, group in experiments([r for r in results if (r.spec.get("data") or {}).get("hash") == data_hash]):
        runs += [r for r in current_runs(group) if r.status == "done" and isinstance(r.metrics.get(metric), (int, float))
                 and math.isfinite(r.metrics[metric])]
    if not runs:
        names = sorted({str((r.spec.get("data") or {}).get("name")) for r in results if r.status == "done"})
        raise ConfigError(f"the store holds no finished run with test {metric} on this data (its runs are on "
                          f"{', '.join(names) or 'nothing finished'}); give the --data its compare used")
    arms = sorted({arm_name(r) for r in runs})
    if arm is None:
        if PREFERRED_ARM not in arms and len(arms) > 1:
            raise ConfigError(f"the store holds several arms ({', '.join(arms)}); choose one with --arm, e.g. --arm {arms[0]}")
        arm = PREFERRED_ARM if PREFERRED_ARM in arms else arms[0]
    if arm not in arms:
        raise ConfigError(f"arm {arm!r} is not in the store (its arms: {', '.join(arms)}); e.g. --arm {arms[0]}")
    runs = [r for r in runs if arm_name(r) == arm]
    sizes = sorted({requested(r.spec) for r in runs}, key=size_key)
    size = sizes[-1] if size is None else size
    if size not in sizes:
        raise ConfigError(f"{arm} has no finished run at size {size!r} in the store (its sizes: "
                          f"{', '.join(map(str, sizes))}); e.g. --size {sizes[-1]}")
    by_backbone: dict[str, list[float]] = {}
    runs_of: dict[str, list[RunResult]] = {}
    for r in runs:
        if requested(r.spec) == size:
            by_backbone.setdefault(str(r.spec.get("backbone")), []).append(float(r.metrics[metric]))
            runs_of.setdefault(str(r.spec.get("backbone")), []).append(r)
    # what the compare's report flags of these runs (still improving, ...): a mean that may understate its backbone,
    # and a tau with it (a ranking against under-trained runs read as settled)
    flagged = {b: sorted({f["reason"] for f in budget_flags(rs)}) for b, rs in sorted(runs_of.items())}
    # the input side each image backbone's runs read (the resolved spec's, after --image-size and the data's default):
    # a ranking set beside them reads the same (``headstart.rank``)
    sides = {b: sorted({side for r in rs if isinstance(side := (r.spec.get("backbone_config") or {}).get("image_size"), int)})
             for b, rs in sorted(runs_of.items())}
    return {"arm": arm, "size": size, "metric": metric,
            "backbones": {b: {"mean": math.fsum(v) / len(v), "seeds": len(v), "values": v, **_interval(runs_of[b], metric)}
                          for b, v in sorted(by_backbone.items())},
            **({"flagged": {b: r for b, r in flagged.items() if r}} if any(flagged.values()) else {}),
            **({"image_sizes": {b: s for b, s in sides.items() if s}} if any(sides.values()) else {})}


def _interval(runs: list[RunResult], metric: str) -> dict[str, Any]:
    """One backbone's measured cell as the report's results table gives it: ``{ci_low, ci_high, test_rows}`` (the
    interval over seeds and test rows, ``cell_stats.curves``; ``no_interval`` where it has none)."""
    from headstart.analysis.cell_stats import curves
    from headstart.analysis.stats import SAID

    row = curves(runs, metric)[0]
    rows = {r.metrics.get("n") for r in runs} - {None}
    return {"ci_low": row["ci_low"], "ci_high": row["ci_high"], **{k: row[k] for k in SAID if row.get(k)},
            **({"test_rows": rows.pop()} if len(rows) == 1 else {})}


def flagged_notes(table: dict[str, Any], *, where: str) -> list[str]:
    """A line per backbone whose measured runs in ``table`` (``measured``'s) their compare's report flags: its mean
    may understate it, and the taus with it. ``where`` names the flags' place ("its report's budget flags")."""
    return [f"{backbone}'s measured runs are flagged in their compare ({', '.join(reasons)}: see {where}), so its mean "
            "may understate it, and the taus with it" for backbone, reasons in (table.get("flagged") or {}).items()]


def sides_text(sides: dict[str, int | None]) -> str:
    """The input sides of the image backbones in ``sides`` (name: side; None for a text backbone) as a phrase:
    "images read at 160x160 px", or per backbone when they differ ("images read at 160x160 px by efficientnet-lite0,
    28x28 px by mnist-cnn"); "" when none reads images."""
    read = {name: side for name, side in sides.items() if side is not None}
    if len(set(read.values())) == 1:
        side = next(iter(read.values()))
        return f"images read at {side}x{side} px"
    return ("images read at " + ", ".join(f"{side}x{side} px by {name}" for name, side in read.items())) if read else ""


def agreement(predicted: dict[str, float], measured_means: dict[str, float],
              per_seed: dict[str, list[float]] | None = None) -> dict[str, Any]:
    """Kendall's tau-b between a predicted score and the measured means, over the backbones both have, and how far the
    measured ranking's own seed variation moves it.

    Args:
        per_seed: each backbone's per-seed scores (``measured``'s ``values``): the interval resamples each backbone's
            seeds with replacement (``BOOTSTRAP`` times, seeded) and takes the 2.5th and 97.5th percentiles of tau.

    Returns:
        ``{"tau", "p_value", "backbones", "interval"}``; tau and p_value are None with fewer than two shared backbones or
        a constant side (no ranking to compare); interval (``[low, high]``) is None without per-seed scores, with one
        seed for any backbone (its mean would be held fixed: too narrow an interval), when under half the
        resamples rank anything, or when every resample gave the same tau (seeds that never overlap: then
        ``no_interval`` says so, as ``stats.interval``'s, rather than a zero-width interval shown as certain).
    """
    shared = [b for b in predicted if b in measured_means]
    if len(shared) < 2:
        return {"tau": None, "p_value": None, "backbones": len(shared), "interval": None}
    from scipy.stats import kendalltau

    result = kendalltau([predicted[b] for b in shared], [measured_means[b] for b in shared])
    tau, p = float(result.statistic), float(result.pvalue)
    interval, said = None, {}
    if not math.isnan(tau) and per_seed and all(per_seed.get(b) for b in shared) and min(len(per_seed[b]) for b in shared) > 1:
        interval = _seed_interval([predicted[b] for b in shared], [per_seed[b] for b in shared])
        if interval is not None and interval[0] == interval[1]:  # no resample moved the order: none seen, not certainty
            interval, said = None, {"no_interval": SAME_RANKING}
    return {"tau": None if math.isnan(tau) else tau, "p_value": None if math.isnan(p) else p, "backbones": len(shared),
            "interval": interval, **said}


SAME_RANKING = "every resample of the seeds gave the same tau"  # why a tau has no interval (after "no interval: ")
BOOTSTRAP = 2000  # resamples: the 2.5th / 97.5th percentiles of a few-backbone tau settle well before this, in ms


def _seed_interval(predicted: list[float], per_seed: list[list[float]]) -> list[float] | None:
    """95% percentile interval of tau-b when each backbone's mean is recomputed from its seeds drawn with replacement."""
    import numpy as np

    rng = np.random.default_rng(0)
    means = np.stack([rng.choice(np.asarray(v, dtype=float), size=(BOOTSTRAP, len(v))).mean(1) for v in per_seed], axis=1)
    i, j = np.triu_indices(len(predicted), k=1)
    p = np.asarray(predicted, dtype=float)
    dp = np.sign(p[i] - p[j])  # (pairs,)
    dm = np.sign(means[:, i] - means[:, j])  # (resamples, pairs)
    untied = np.count_nonzero(dp) * np.count_nonzero(dm, axis=1)
    ranked = untied > 0
    if ranked.sum() < BOOTSTRAP / 2:
        return None
    taus = (dm[ranked] * dp).sum(1) / np.sqrt(untied[ranked])
    low, high = np.percentile(taus, [2.5, 97.5])
    return [float(low), float(high)]


def tau_text(agree: dict[str, Any]) -> str:
    """``"+0.33 (p = 0.75, 4 backbones)"`` with the seed interval when there is one (``"+0.33 (95% CI over resampled seeds
    -0.33 to +1.00; p = 0.75, 4 backbones)"``) or why it has none where every resample agreed (``"+1.00 (no interval:
    every resample of the seeds gave the same tau; p = 0.33, 3 backbones)"``), or why there is no tau: fewer than two
    backbones measured, or one side constant (every backbone tied)."""
    if agree["tau"] is None:
        return "n/a: " + ("fewer than 2 backbones measured" if agree["backbones"] < 2 else "a constant ranking")
    interval = agree.get("interval")
    spread = (f"95% CI over resampled seeds {interval[0]:+.2f} to {interval[1]:+.2f}; " if interval else
              f"{missing_ci_text(agree)}; " if agree.get("no_interval") else "")
    return f"{agree['tau']:+.2f} ({spread}p = {agree['p_value']:.2f}, {agree['backbones']} backbones)"


def ranked_beside_measured(ranked: dict[str, Any], results: list[RunResult]) -> dict[str, Any] | None:
    """The report's "Backbones ranked before training": a ``rank.json`` (``headstart rank-backbones --out``) beside
    what the store measures now, with Kendall's tau per score.

    The measured side is recomputed from ``results`` (the ranking may be older than the store's last runs), for the arm
    and size the ranking was checked against when it was, else linear-probe at the largest size.

    Args:
        ranked: the parsed ``rank.json``.
        results: the store's runs.

    Returns:
        ``{"data", "n", "seed", "rows", "measured", "agreement", "text", "labels"}`` (rows best first by LogME, each with its
        measured mean or None; ``measured`` None when the store has no matching runs, with the reason in ``text``),
        or None when ``ranked`` is not a ranking (a damaged file must not stop the report).
    """
    try:
        rows = [{"name": str(b["name"]), **{score: float(b[score]) for score in SCORES}} for b in ranked["backbones"]]
        sides = {str(b["name"]): side if isinstance(side := b.get("image_size"), int) else None for b in ranked["backbones"]}
        data, data_hash = shown_name(str(ranked["data"])), str(ranked["data_hash"])  # a DataFrame's table as the report names it
        n, seed = int(ranked["n"]), int(ranked["seed"])
        asked = ranked.get("n_requested", n)
        checked = ranked.get("measured") or {}
        arm, size = checked.get("arm"), checked.get("size")
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not rows or not all(math.isfinite(r[score]) for r in rows for score in SCORES):
        return None
    rows.sort(key=lambda r: -r["logme"])
    read = sides_text(sides)  # a rank.json from before --image-size holds none: nothing said
    drawn = (f"Before training, headstart rank-backbones scored {n:,} pool rows of {data} (the rows train --n {asked} "
             f"--seed {seed} draws) by each backbone's frozen features{f' ({read})' if read else ''}; the test split was "
             "not read.")
    try:
        table = measured(results, data_hash=data_hash, arm=arm, size=size)
    except ConfigError as e:
        return {"data": data, "n": n, "seed": seed, "rows": [{**r, "measured": None} for r in rows], "measured": None,
                "agreement": {}, "text": f"{drawn} Nothing to set it beside: {e}", "labels": [SCORE_LABELS[s] for s in SCORES]}
    means = {b: v["mean"] for b, v in table["backbones"].items()}
    per_seed = {b: v.get("values") or [] for b, v in table["backbones"].items()}
    taus = {score: agreement({r["name"]: r[score] for r in rows}, means, per_seed) for score in SCORES}
    seeds = sorted({table["backbones"][r["name"]]["seeds"] for r in rows if r["name"] in means})
    text = (f"{drawn} Measured: {table['arm']} test {table['metric']} at n = {table['size']}, mean over "
            f"{'/'.join(map(str, seeds)) or 0} seed(s). Kendall's tau between each predicted ranking and the measured one: "
            + "; ".join(f"{SCORE_LABELS[s]} {tau_text(t)}" for s, t in taus.items()) + "."
            # as rank-backbones --measured says them, for the runs measured now (the taus' own)
            + "".join(f" Note: {note}." for note in flagged_notes(table, where="this report's budget flags")))
    return {"data": data, "n": n, "seed": seed,
            "rows": [{**r, "measured": means.get(r["name"]), **({"measured_ci": table["backbones"][r["name"]]} if r["name"] in means else {})}
                     for r in rows],
            "measured": table, "agreement": taus, "text": text, "labels": [SCORE_LABELS[s] for s in SCORES]}
