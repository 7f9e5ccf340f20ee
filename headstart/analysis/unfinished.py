"""What the store's last compare planned and has no result for: a compare stopped early (Ctrl-C, a crash, a machine
gone) left a report whose recommendation read "at every size tried" over the arms and sizes that had finished, the
rest named only as a count at the bottom. ``run_sweep`` records its plan (``Store.set_sweep``: each cell's key, size,
seed, backbone and arm settings); this says which of those cells have no result, grouped the way a reader asks: an
arm with no run at any size, a size with no run of any arm, then the rest; a cell another compare holds claimed now
is said apart (resuming is not what it needs). Arms are labelled as the report labels them (``arms.label_arms`` over
the plan's cells)."""

from __future__ import annotations

from typing import Any

from headstart.analysis.arms import arm_key, label_arms
from headstart.analysis.units import format_n
from headstart.results import RunResult

FINISHED = ("done", "failed", "diverged")  # a result, good or bad: the rest of a plan is still to run
SHOWN = 6  # parts of the sentence before the rest is counted


def unfinished(plan: list[dict[str, Any]] | None, results: list[RunResult]) -> dict[str, Any] | None:
    """``{"planned", "missing", "claimed", "text"}`` for the cells of ``plan`` (``Store.sweep()["plan"]``) without a
    finished, failed or diverged result in ``results`` (``claimed``: those of them a compare holds ``running`` now);
    None when the plan is complete or not recorded (a store from before it was kept)."""
    if not isinstance(plan, list) or not plan:
        return None
    finished = {r.key for r in results if r.status in FINISHED}
    running = {r.key for r in results if r.status == "running"}
    cells = [c for c in plan if isinstance(c, dict) and isinstance(c.get("key"), str)]
    missing = [c for c in cells if c["key"] not in finished]
    if not missing:
        return None
    claimed = [c for c in missing if c["key"] in running]
    waiting = [c for c in missing if c["key"] not in running]
    total = f"{len(missing)} of the last compare's {len(cells)} planned run{'s' if len(cells) != 1 else ''}"
    text = f"{total} {'have' if len(missing) != 1 else 'has'} no result"
    if waiting:
        text += f": {_groups(cells, waiting)}"
    if claimed:
        text += (f"{'; ' if waiting else ': '}{len(claimed)} {'are' if len(claimed) != 1 else 'is'} being trained now by a "
                 "compare into this store (headstart report once it ends)")
    text += ". The recommendation and the curves are over what finished"
    if waiting:
        text += "; run the same command again to resume (finished runs are skipped)"
    return {"planned": len(cells), "missing": len(missing), "claimed": len(claimed), "text": text}


def _groups(cells: list[dict[str, Any]], missing: list[dict[str, Any]]) -> str:
    """``missing`` as a reader asks for it: whole arms, whole sizes, then each arm and size with its seeds."""
    labels = label_arms([RunResult(c["key"], {k: v for k, v in c.items() if k != "key"}, "pending") for c in cells])
    backbones = {c.get("backbone") for c in cells}

    def where(c: dict[str, Any]) -> tuple[str, str]:
        arm = labels.get(arm_key(c)) or str(c.get("strategy"))
        return (f"{arm} on {c['backbone']}" if len(backbones) > 1 else arm), format_n(c.get("n"), c.get("n_actual"))

    arms = list(dict.fromkeys(where(c)[0] for c in cells))
    sizes = list(dict.fromkeys(where(c)[1] for c in cells))
    planned: dict[tuple[str, str], int] = {}
    for c in cells:
        planned[where(c)] = planned.get(where(c), 0) + 1
    left: dict[tuple[str, str], int] = {}
    for c in missing:
        left[where(c)] = left.get(where(c), 0) + 1
    whole_arms = [a for a in arms if all(left.get((a, n)) == planned[(a, n)] for n in sizes if (a, n) in planned)]
    whole_sizes = [n for n in sizes if len(arms) > 1 and len(whole_arms) < len(arms)
                   and all(left.get((a, n)) == planned[(a, n)] for a in arms if (a, n) in planned)]
    parts = [f"{a} (no run at any size)" for a in whole_arms]
    parts += [f"n = {n} (no run of any arm)" for n in whole_sizes]
    for (a, n), count in left.items():
        if a not in whole_arms and n not in whole_sizes:
            parts.append(f"{a} at n = {n} ({count} of {planned[(a, n)]} seed{'s' if planned[(a, n)] != 1 else ''})")
    return "; ".join(parts[:SHOWN]) + (f"; and {len(parts) - SHOWN} more" if len(parts) > SHOWN else "")
