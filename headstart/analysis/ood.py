"""Out of domain in the summary: each arm's score on another dataset's test split beside its in-domain score, and the
gap between them (``headstart.ood`` measures it; ``compare --eval-data``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from headstart.analysis.arms import arm_name
from headstart.analysis.cells import CONFIDENCE, current_runs
from headstart.analysis.flags import requested, size_key
from headstart.analysis.stats import (difference_range, interval, kept, metric_draws, metric_range, one_seed, row_weights,
                                      score_cover)
from headstart.metrics import one_class
from headstart.results import RunResult


def ood_rows(results: list[RunResult], metric: str = "accuracy", confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Per (arm, requested size, out-of-domain dataset — "DATA after tent" when scored after a test-time adaptation):
    the in-domain test mean, the out-of-domain mean with an
    interval over seeds and the out-of-domain test rows, and the gap (in-domain − out-of-domain) paired by seed, its
    interval carrying both test sets' sampling error (each resampled on its own rows).

    Returns:
        Rows ``{strategy, n, data, in_domain, mean, ci_low, ci_high, gap: {mean, ci_low, ci_high, p_value,
        significant, pairs}, seeds, test_rows, note, majority_note, one_class, one_class_note}`` in the metric's stored
        units; a score or gap whose seeds and resamples all agreed has no interval (``no_interval`` says why, as
        ``stats.interval``), and a gap on one seed is never significant (``caveat``: ``stats.one_seed``)
        (``note``: how the score was taken, e.g. a label mapping; ``majority_note``: what the dataset's most
        frequent class scores; ``one_class``: the seeds that answered one class for every row, ``one_class_note`` the
        warning that says so, None when none did); none when no run was scored
        out of domain or the metric is not among its scores.
    """
    groups = ood_groups(results, metric)
    rows = []
    for (arm, n, data), by_seed in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0], size_key(kv[0][1]))):
        seeds = sorted(by_seed)
        runs, found = [by_seed[s][0] for s in seeds], [by_seed[s][1] for s in seeds]
        inside = [float(r.metrics[metric]) for r in runs]
        outside = [float(f["metrics"][metric]) for f in found]
        # Two test sets: resampled independently (another bootstrap seed), whatever their sizes.
        draws_out = seed_mean_draws(metric, [f.get("rows") or {} for f in found], seed=1)
        draws_in = seed_mean_draws(metric, [(r.record or {}).get("test") or {} for r in runs], seed=0)
        ci = interval(outside, draws_out, confidence, bounds=metric_range(metric),
                      cover=score_cover(metric, sum(outside) / len(outside), found[0].get("test_rows"),
                                        *first_rows(found), confidence))
        gap = one_seed(interval([a - b for a, b in zip(inside, outside)],
                                draws_in - draws_out if draws_in is not None and draws_out is not None else None, confidence,
                                bounds=difference_range(metric)), len(seeds))
        note = found[0].get("note")
        single = [f.get("one_class") or one_class((f.get("rows") or {}).get("predicted") or []) for f in found]
        rows.append({"strategy": arm, "n": n, "data": data, "in_domain": sum(inside) / len(inside), "mean": ci["mean"],
                     "interval": ("none" if ci.get("no_interval") else "seeds and test rows"
                                  if draws_in is not None and draws_out is not None else "seeds"),
                     **kept(ci, ("ci_low", "ci_high")),
                     "gap": kept(gap, ("mean", "ci_low", "ci_high", "p_value", "significant", "pairs")),
                     "seeds": len(seeds), "test_rows": found[0].get("test_rows"), "note": note or None,
                     "majority_note": majority_note(data, found[0].get("rows") or {}),
                     # the constant answer's accuracy: a floor for accuracy only (its macro-F1 or AUC is another number)
                     "majority": majority_share(found[0].get("rows") or {}) if metric == "accuracy" else None,
                     "one_class": sum(bool(c) for c in single),
                     "one_class_note": one_class_note(arm, n, data, [c for c in single if c], len(seeds))})
    return rows


def first_rows(found: list[dict[str, Any]]) -> tuple[Any, Any]:
    """The first seed's stored out-of-domain (predicted, target), or (None, None) where it kept none."""
    rows = found[0].get("rows") or {}
    return rows.get("predicted"), rows.get("target")


def one_class_note(arm: str, n: int | str, data: str, answered: list[str], seeds: int) -> str | None:
    """The warning on an out-of-domain score where the model answered one class for every test row in some seed
    (``answered``: the class of each such seed): that score is the class's share, not what the arm learnt. None when
    no seed did."""
    if not answered:
        return None
    which = ", ".join(f"'{c}'" for c in dict.fromkeys(answered))
    tent = (" (tent's entropy minimum is one confident class: compare tent-episodic)"
            if data.endswith(" after tent") else "")
    return (f"{arm} (n = {n}) on {data} answered {which} for every test row in {len(answered)} of {seeds} seed(s): its "
            f"score there is that class's share, not what it learnt{tent}.")


def majority_share(rows: dict[str, Any]) -> float | None:
    """The share of the out-of-domain test rows' most frequent class, or None without integer targets."""
    target = rows.get("target")
    if not target or not all(isinstance(t, int) for t in target):
        return None
    return float(np.bincount(np.asarray(target)).max()) / len(target)


def majority_note(data: str, rows: dict[str, Any]) -> str | None:
    """What always answering the out-of-domain test rows' most frequent class scores (the shifted class balance is
    part of the shift): a classification arm below it does worse than that constant answer. None without the rows."""
    share = majority_share(rows)
    if share is None:
        return None
    return (f"{data.split(' after ')[0]}: {100 * share:.1f}% of its {len(rows['target'])} test rows are its most frequent class; an arm "
            "below that scores worse than always answering it.")


def ood_groups(results: list[RunResult], metric: str = "accuracy") -> dict[tuple[str, int | str, str], dict[int, tuple[RunResult, dict[str, Any]]]]:
    """The finished runs' out-of-domain scores by (arm, requested size, "DATA" or "DATA after TTA") and seed."""
    groups: dict[tuple[str, int | str, str], dict[int, tuple[RunResult, dict[str, Any]]]] = defaultdict(dict)
    for r in current_runs(results):
        if r.status == "done" and metric in r.metrics:
            for found in (r.record or {}).get("ood") or ():
                if metric in (found.get("metrics") or {}):
                    where = str(found["data"]) + (f" after {found['tta']}" if found.get("tta") else "")
                    groups[(arm_name(r), requested(r.spec), where)][int(r.spec.get("seed", 0))] = (r, found)
    return groups


def seed_mean_draws(metric: str, kept: list[dict[str, Any]], *, seed: int) -> np.ndarray | None:
    """(DRAWS,) the seed mean of ``metric`` on resampled test rows, or None without rows (or rows that differ)."""
    if not kept or not all(k.get("target") for k in kept):
        return None
    target = np.asarray(kept[0]["target"])
    if any(len(k["target"]) != len(target) for k in kept):
        return None
    draws = metric_draws(metric, np.stack([np.asarray(k["predicted"]) for k in kept]), target, row_weights(len(target), seed=seed))
    return None if draws is None else draws.mean(1)
