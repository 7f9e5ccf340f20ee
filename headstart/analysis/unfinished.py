"""What the store's last compare planned and has no result for: a compare stopped early (Ctrl-C, a crash, a machine
gone) left a report whose recommendation read "at every size tried" over the arms and sizes that had finished, the
rest named only as a count at the bottom. ``run_sweep`` records its plan (``Store.set_sweep``: each cell's key, size,
seed, backbone and arm settings); this says which of those cells have no result, grouped the way a reader asks: an
arm with no run at any size, a size with no run of any arm, then the rest; a cell another compare holds claimed now
is said apart (resuming is not what it needs), unless its claiming process is gone (``Store.abandoned``, what ``runs``
calls abandoned): then it waits for a compare like any other. Arms are labelled as the report labels them: over each experiment's
stored runs and its planned cells (``arms.label_arms``), so an untuned ``linear-probe`` planned beside a stored tuned
one is ``linear-probe[tuned=no]`` here and its neighbour ``linear-probe[..., tuned=yes]`` in the recommendation."""

from __future__ import annotations

from typing import Any

from headstart.analysis.arms import arm_key, experiments, label_arms, planned_cells
from headstart.analysis.units import format_n
from headstart.results import RunResult

FINISHED = ("done", "failed", "diverged")  # a result, good or bad: the rest of a plan is still to run
SHOWN = 6  # parts of the sentence before the rest is counted


def unfinished(plan: list[dict[str, Any]] | None, results: list[RunResult], *,
               abandoned: set[str] | frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """``{"planned", "missing", "claimed", "text"}`` for the cells of ``plan`` (``Store.sweep()["plan"]``) without a
    finished, failed or diverged result in ``results`` (``claimed``: those of them a compare holds ``running`` now, less
    the ``abandoned`` keys, ``Store.abandoned()``: running cells whose compare is gone); None when the plan is complete
    or not recorded (a store from before it was kept)."""
    if not isinstance(plan, list) or not plan:
        return None
    finished = {r.key for r in results if r.status in FINISHED}
    running = {r.key for r in results if r.status == "running"} - set(abandoned)
    cells = [c for c in plan if isinstance(c, dict) and isinstance(c.get("key"), str)]
    missing = [c for c in cells if c["key"] not in finished]
    if not missing:
        return None
    claimed = [c for c in missing if c["key"] in running]
    waiting = [c for c in missing if c["key"] not in running]
    total = f"{len(missing)} of the last compare's {len(cells)} planned run{'s' if len(cells) != 1 else ''}"
    text = f"{total} {'have' if len(missing) != 1 else 'has'} no result"
    if waiting:
        text += f": {_groups(cells, waiting, _labels(cells, results))}"
    if claimed:
        text += (f"{'; ' if waiting else ': '}{len(claimed)} {'are' if len(claimed) != 1 else 'is'} being trained now by a "
                 "compare into this store (headstart report once it ends)")
    text += ". The recommendation and the curves are over what finished"
    if waiting:
        text += "; run the same command again to resume (finished runs are skipped)"
    return {"planned": len(cells), "missing": len(missing), "claimed": len(claimed), "text": text}


def _labels(cells: list[dict[str, Any]], results: list[RunResult]) -> dict[str, str]:
    """Each planned cell's key -> its arm's label, as the report labels the arms of the cell's experiment (its stored
    runs with its planned cells, ``summarize``); a cell of no stored experiment by the plan's cells alone."""
    labels: dict[str, str] = {}
    for _, runs in experiments(results):
        mine = planned_cells(cells, runs)
        arms = label_arms(runs, planned=mine)
        labels.update({c["key"]: arms[arm_key(c)] for c in mine})
    rest = [c for c in cells if c["key"] not in labels]
    arms = label_arms([], planned=rest)
    return {**labels, **{c["key"]: arms[arm_key(c)] for c in rest}}


def _groups(cells: list[dict[str, Any]], missing: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """``missing`` as a reader asks for it: whole arms, whole sizes, then each arm and size with its seeds; each arm by
    its label (``labels``: a cell's key -> its arm's)."""
    backbones = {c.get("backbone") for c in cells}

    def where(c: dict[str, Any]) -> tuple[str, str]:
        arm = labels[c["key"]]
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
