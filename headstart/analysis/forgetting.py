"""Forgetting in the summary: retention per arm, size and retained dataset (``headstart.retention`` measures it)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from headstart.analysis.arms import arm_name
from headstart.analysis.cells import CONFIDENCE, current_runs
from headstart.analysis.flags import requested, size_key
from headstart.analysis.stats import agreed_difference, difference_range, interval, kept, metric_draws, row_weights
from headstart.results import RunResult


REFERENCE_ARM = "full-finetune"  # the seed's claim: does plain full fine-tuning forget more than the other arms?


def retention_rows(results: list[RunResult], confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Forgetting per (arm, requested size, retained dataset): the mean over seeds of retention (adapted / original
    probe accuracy on the retained dataset's test split, ``headstart.retention``), with an interval over seeds and —
    where the runs stored their probes' predictions — over the retained test rows (``stats.interval``: the same
    bootstrap resamples for both probes of a seed, so the ratio's own noise is what is measured).

    Each other arm is also compared with ``full-finetune`` at the same size on the same retained data, paired by seed
    (the same labelled subset) and resampling the same retained rows for both: ``vs_full_finetune``.

    Returns:
        Rows ``{strategy, n, data, retention, ci_low, ci_high, interval, original, adapted, seeds, test_rows,
        vs_full_finetune}``; ``vs_full_finetune`` is ``{mean, ci_low, ci_high, p_value, significant, pairs}`` (this
        arm's retention minus full-finetune's) or None (no full-finetune runs, or this arm is it); a retention or
        difference whose seeds and resamples all agreed has no interval ("none"; ``no_interval`` says why, as
        ``stats.interval``).
    """
    groups: dict[tuple[str, int | str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in current_runs(results):
        if r.status == "done":
            for found in (r.record or {}).get("retention") or ():
                groups[(arm_name(r), requested(r.spec), str(found.get("data")))][int(r.spec.get("seed", 0))] = found
    rows = []
    for (arm, n, data), by_seed in sorted(groups.items(), key=lambda kv: (kv[0][0], size_key(kv[0][1]), kv[0][2])):
        found = list(by_seed.values())
        draws = _ratio_draws(found)
        ci = interval([float(f["retention"]) for f in found], draws, confidence)
        reference = groups.get((REFERENCE_ARM, n, data)) if arm != REFERENCE_ARM else None
        rows.append({"strategy": arm, "n": n, "data": data, "retention": ci["mean"], **kept(ci, ("ci_low", "ci_high")),
                     "interval": "none" if ci.get("no_interval") else "seeds and test rows" if draws is not None else "seeds",
                     "original": math.fsum(f["original"] for f in found) / len(found),
                     "adapted": math.fsum(f["adapted"] for f in found) / len(found), "seeds": len(found),
                     "test_rows": found[0].get("test_rows"), "folds": found[0].get("folds"),
                     "vs_full_finetune": _paired(by_seed, reference, confidence) if reference else None})
    return rows


def accuracy_difference(rows: dict[str, list[int]], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """One run's retained probe accuracy on the adapted encoder minus the original's, paired on the same retained test
    rows (``rows``: ``{target, original, adapted}``, one entry each, as ``retention`` stores them), with the interval
    the test-accuracy differences of arms have (``cell_stats.paired_cell``: both probes' predictions resampled on the
    same bootstrap rows, ``stats.interval``; where they agree on every row, ``stats.agreed_difference``'s bound).

    Returns:
        ``{mean, ci_low, ci_high, within_noise, confidence}`` as fractions; ``within_noise``: the interval holds 0.
    """
    target = np.asarray(rows["target"])
    predicted = np.stack([np.asarray(rows["adapted"]), np.asarray(rows["original"])])
    draws = metric_draws("accuracy", predicted, target, row_weights(len(target)))
    mean = float((predicted[0] == target).mean() - (predicted[1] == target).mean())
    ci = interval([mean], draws[:, 0] - draws[:, 1], confidence, bounds=difference_range("accuracy"))
    ci = agreed_difference(ci, "accuracy", len(target) if np.array_equal(predicted[0], predicted[1]) else None, confidence)
    return {"mean": mean, "ci_low": float(ci["ci_low"]), "ci_high": float(ci["ci_high"]),
            "within_noise": bool(ci["ci_low"] <= 0.0 <= ci["ci_high"]), "confidence": confidence}


def _paired(arm: dict[int, dict[str, Any]], reference: dict[int, dict[str, Any]], confidence: float) -> dict[str, Any] | None:
    """This arm's retention minus the reference arm's over their shared seeds, or None with fewer than two."""
    seeds = sorted(set(arm) & set(reference))
    if len(seeds) < 2:
        return None
    a, b = [arm[s] for s in seeds], [reference[s] for s in seeds]
    da, db = _ratio_draws(a), _ratio_draws(b)
    same_rows = da is not None and db is not None and a[0]["rows"]["target"] == b[0]["rows"]["target"]
    ci = interval([float(x["retention"]) - float(y["retention"]) for x, y in zip(a, b)], da - db if same_rows else None,
                  confidence)
    return kept(ci, ("mean", "ci_low", "ci_high", "p_value", "significant", "pairs"))


def _ratio_draws(found: list[dict[str, Any]]) -> np.ndarray | None:
    """(DRAWS,) the seed mean of adapted / original probe accuracy on resampled retained test rows, or None."""
    rows = [f.get("rows") or {} for f in found]
    if not all(r.get("target") for r in rows):
        return None
    target = np.asarray(rows[0]["target"])
    if any(len(r["target"]) != len(target) for r in rows):
        return None
    weights = row_weights(len(target))
    ratios = []
    for r in rows:
        kept = metric_draws("accuracy", np.stack([np.asarray(r["adapted"]), np.asarray(r["original"])]), np.asarray(r["target"]), weights)
        ratios.append(kept[:, 0] / np.maximum(kept[:, 1], 1e-12))
    return np.mean(ratios, axis=0)
