"""What the store's last compare planned and has no result for: a compare stopped early (Ctrl-C, a crash, a machine
gone) left a report whose recommendation read "at every size tried" over the arms and sizes that had finished, the
rest named only as a count at the bottom. ``run_sweep`` records its plan (``Store.set_sweep``: each cell's key, arm,
size and seed); this says which of those cells have no result, grouped the way a reader asks: an arm with no run at
any size, a size with no run of any arm, then the rest."""

from __future__ import annotations

from typing import Any

from headstart.results import RunResult

FINISHED = ("done", "failed", "diverged")  # a result, good or bad: the rest of a plan is still to run
SHOWN = 6  # parts of the sentence before the rest is counted


def unfinished(plan: list[dict[str, Any]] | None, results: list[RunResult]) -> dict[str, Any] | None:
    """``{"planned", "missing", "text"}`` for the cells of ``plan`` (``Store.sweep()["plan"]``) without a finished,
    failed or diverged result in ``results``; None when the plan is complete or not recorded (a store from before it
    was kept)."""
    if not isinstance(plan, list) or not plan:
        return None
    finished = {r.key for r in results if r.status in FINISHED}
    cells = [c for c in plan if isinstance(c, dict) and isinstance(c.get("key"), str)]
    missing = [c for c in cells if c["key"] not in finished]
    if not missing:
        return None
    return {"planned": len(cells), "missing": len(missing), "text": _text(cells, missing)}


def _text(cells: list[dict[str, Any]], missing: list[dict[str, Any]]) -> str:
    def where(c: dict[str, Any]) -> tuple[str, str]:
        arm = str(c.get("arm"))
        return (f"{arm} on {c['backbone']}" if len(backbones) > 1 else arm), str(c.get("n"))

    backbones = {c.get("backbone") for c in cells}
    arms = list(dict.fromkeys(where(c)[0] for c in cells))
    sizes = list(dict.fromkeys(where(c)[1] for c in cells))
    planned: dict[tuple[str, str], int] = {}
    for c in cells:
        planned[where(c)] = planned.get(where(c), 0) + 1
    left: dict[tuple[str, str], int] = {}
    for c in missing:
        left[where(c)] = left.get(where(c), 0) + 1
    whole_arms = [a for a in arms if all(left.get((a, n)) == planned[(a, n)] for n in sizes if (a, n) in planned)]
    whole_sizes = [n for n in sizes if len(arms) > 1 and all(left.get((a, n)) == planned[(a, n)] for a in arms if (a, n) in planned)
                   and len(whole_arms) < len(arms)]
    parts = [f"{a} (no run at any size)" for a in whole_arms]
    parts += [f"n = {n} (no run of any arm)" for n in whole_sizes]
    for (a, n), count in left.items():
        if a not in whole_arms and n not in whole_sizes:
            parts.append(f"{a} at n = {n} ({count} of {planned[(a, n)]} seed{'s' if planned[(a, n)] != 1 else ''})")
    shown = "; ".join(parts[:SHOWN]) + (f"; and {len(parts) - SHOWN} more" if len(parts) > SHOWN else "")
    return (f"{len(missing)} of the last compare's {len(cells)} planned run{'s' if len(cells) != 1 else ''} "
            f"{'have' if len(missing) != 1 else 'has'} no result: {shown}. The recommendation and the curves are over "
            "what finished; run the same command again to resume (finished runs are skipped)")
