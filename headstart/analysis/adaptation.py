"""Domain adaptation in numbers (``headstart adapt``): each method's accuracy on the target's test split, what it adds
over the source-only model paired by seed, and the share of the source-only → oracle gap it closes.

Methods are read from the source experiment's out-of-domain scores (``analysis.ood``): an arm trained on the source
(source-only, an alignment term, another strategy) scored on the target, or the source-only arm scored after a
test-time adaptation ("TARGET after tent"). The oracle — the same strategy trained on the target's own labels — is the
ceiling only: its in-domain test score on the target (``curves`` of the oracle experiment). Selection never reads the
target's test labels: each run chooses on its own (source) validation split.
"""

from __future__ import annotations

from typing import Any

from headstart.analysis.cells import CONFIDENCE, curves
from headstart.analysis.ood import ood_groups, seed_mean_draws
from headstart.analysis.stats import interval, metric_range
from headstart.results import RunResult


def adaptation_rows(source_runs: list[RunResult], oracle_runs: list[RunResult], *, methods: dict[str, tuple[str, str]],
                    baseline: str, metric: str = "accuracy", confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """One row per (method, requested size).

    Args:
        source_runs: the runs trained on the source, scored on the target (``with_arms`` labels set).
        oracle_runs: the baseline strategy trained on the target's labels (may be empty: no ceiling).
        methods: ``{method: (arm label, where)}`` — which arm's which out-of-domain score is the method
            (``where``: the target's name, or "TARGET after tent").
        baseline: the method every other is compared with (``"source-only"``).

    Returns:
        Rows ``{method, n, mean, ci_low, ci_high, seeds, over_baseline, gap_closed, oracle, estimates, notes}``: ``over_baseline`` is the
        paired difference ``{mean, ci_low, ci_high, p_value, significant, pairs}`` over seeds and the target's test
        rows (the same rows for both), None for the baseline; ``gap_closed`` is (method − baseline) / (oracle −
        baseline) on the means, None without an oracle or when the oracle's interval reaches down to the baseline's mean;
        ``estimates`` what the method's terms estimated before training, mean over seeds (``estimates``); ``notes``
        the scores' own notes, each once (a label mapping, how a test-time adaptation treated BatchNorm).
    """
    groups = ood_groups(source_runs, metric)
    ceiling = {row["n"]: row for row in curves(oracle_runs, metric, confidence=confidence)} if oracle_runs else {}
    base_arm, base_where = methods[baseline]
    sizes = sorted({n for (arm, n, where) in groups if (arm, where) == (base_arm, base_where)}, key=lambda n: (isinstance(n, str), n))
    rows = []
    for n in sizes:
        reference = groups[(base_arm, n, base_where)]
        for method, (arm, where) in methods.items():
            by_seed = groups.get((arm, n, where))
            if not by_seed:
                continue
            seeds = sorted(by_seed)
            found = [by_seed[s][1] for s in seeds]
            values = [float(f["metrics"][metric]) for f in found]
            ci = interval(values, seed_mean_draws(metric, [f.get("rows") or {} for f in found], seed=1), confidence,
                          bounds=metric_range(metric))
            over = None
            if method != baseline:
                shared = [s for s in seeds if s in reference]
                if shared:
                    mine, theirs = [by_seed[s][1] for s in shared], [reference[s][1] for s in shared]
                    a = seed_mean_draws(metric, [f.get("rows") or {} for f in mine], seed=1)
                    b = seed_mean_draws(metric, [f.get("rows") or {} for f in theirs], seed=1)
                    diff = interval([float(x["metrics"][metric]) - float(y["metrics"][metric]) for x, y in zip(mine, theirs)],
                                    a - b if a is not None and b is not None else None, confidence)
                    over = {k: diff[k] for k in ("mean", "ci_low", "ci_high", "p_value", "significant", "pairs")}
            oracle = ceiling.get(n)
            base_mean = sum(float(reference[s][1]["metrics"][metric]) for s in reference) / len(reference)
            gap = None
            # a share of a gap only where there is one: the oracle's interval lies above the baseline's mean (a gap of a
            # point inside the noise made "closes -5264%" of it)
            above = oracle is not None and (oracle["ci_low"] if oracle.get("ci_low") is not None else oracle["mean"]) > base_mean
            if above:
                gap = (ci["mean"] - base_mean) / (oracle["mean"] - base_mean)
            rows.append({"method": method, "n": n, "mean": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                         "seeds": len(seeds), "over_baseline": over, "gap_closed": gap,
                         "oracle": None if oracle is None else {k: oracle[k] for k in ("mean", "ci_low", "ci_high", "seeds")},
                         "estimates": estimates([by_seed[s][0] for s in seeds]),
                         "notes": list(dict.fromkeys(f["note"] for f in found if f.get("note")))})
    return rows


def estimates(runs: list[RunResult]) -> dict[str, dict[str, float]]:
    """What the runs' terms estimated before training (``chosen[term]``, e.g. importance's domain classifier accuracy
    and effective sample size), averaged over seeds."""
    found: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        for term, values in (r.chosen or {}).items():
            if isinstance(values, dict):
                for key, value in values.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        found.setdefault(term, {}).setdefault(key, []).append(float(value))
    return {term: {key: sum(v) / len(v) for key, v in values.items()} for term, values in found.items()}
