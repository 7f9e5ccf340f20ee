"""Forgetting in the summary: retention per arm, size and retained dataset (``headstart.retention`` measures it)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from headstart.analysis.arms import arm_name
from headstart.analysis.cells import CONFIDENCE, current_runs
from headstart.analysis.flags import requested, size_key
from headstart.analysis.stats import mean_ci
from headstart.results import RunResult


def retention_rows(results: list[RunResult], confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Forgetting per (arm, requested size, retained dataset): the mean over seeds of retention (adapted / original
    probe accuracy on the retained dataset's test split, ``headstart.retention``) with a Student-t interval over seeds.

    Returns:
        Rows ``{strategy, n, data, retention, ci_low, ci_high, original, adapted, seeds}``, sorted like ``curves``.
    """
    groups: dict[tuple[str, int | str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in current_runs(results):
        if r.status == "done":
            for found in (r.record or {}).get("retention") or ():
                groups[(arm_name(r), requested(r.spec), str(found.get("data")))].append(found)
    rows = []
    for (arm, n, data), found in sorted(groups.items(), key=lambda kv: (kv[0][0], size_key(kv[0][1]), kv[0][2])):
        mean, low, high, _ = mean_ci([float(f["retention"]) for f in found], confidence)
        rows.append({"strategy": arm, "n": n, "data": data, "retention": mean, "ci_low": low, "ci_high": high,
                     "original": math.fsum(f["original"] for f in found) / len(found),
                     "adapted": math.fsum(f["adapted"] for f in found) / len(found), "seeds": len(found)})
    return rows
