"""Predicted vs measured backbone rankings: what a compare store measured per backbone, and Kendall's tau.

Pure functions over stored ``RunResult``s (no torch): ``measured`` reads a compare store's mean test score per
backbone for one arm at one labelled-set size; ``agreement`` sets a transferability score's ranking
(``headstart.rank``) against it with Kendall's tau.
"""

from __future__ import annotations

import math
from typing import Any

from headstart.analysis.arms import arm_name, experiments
from headstart.analysis.cells import current_runs
from headstart.analysis.flags import requested, size_key
from headstart.errors import ConfigError
from headstart.results import RunResult

PREFERRED_ARM = "linear-probe"  # trains on exactly the features the scores read


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
        ``{"arm", "size", "metric", "backbones": {backbone: {"mean", "seeds"}}}``, backbones by stored name.

    Raises:
        ConfigError: no finished run on this data, an arm or size not in the store (naming those that are).
    """
    runs = []
    for _, group in experiments([r for r in results if (r.spec.get("data") or {}).get("hash") == data_hash]):
        runs += [r for r in current_runs(group) if r.status == "done" and isinstance(r.metrics.get(metric), (int, float))]
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
    for r in runs:
        if requested(r.spec) == size:
            by_backbone.setdefault(str(r.spec.get("backbone")), []).append(float(r.metrics[metric]))
    return {"arm": arm, "size": size, "metric": metric,
            "backbones": {b: {"mean": math.fsum(v) / len(v), "seeds": len(v)} for b, v in sorted(by_backbone.items())}}


def agreement(predicted: dict[str, float], measured_means: dict[str, float]) -> dict[str, Any]:
    """Kendall's tau-b between a predicted score and the measured means, over the backbones both have.

    Returns:
        ``{"tau", "p_value", "backbones"}``; tau and p_value are None with fewer than two shared backbones or a
        constant side (no ranking to compare).
    """
    shared = [b for b in predicted if b in measured_means]
    if len(shared) < 2:
        return {"tau": None, "p_value": None, "backbones": len(shared)}
    from scipy.stats import kendalltau

    result = kendalltau([predicted[b] for b in shared], [measured_means[b] for b in shared])
    tau, p = float(result.statistic), float(result.pvalue)
    return {"tau": None if math.isnan(tau) else tau, "p_value": None if math.isnan(p) else p, "backbones": len(shared)}
