"""What a recommendation withheld for want of any arm that learned the task says to re-run with, in the flags the
caller passes (``withheld_fix``), from why it was withheld (``recommend.nothing_learned``)."""

from __future__ import annotations

from typing import Any

from headstart.analysis import flags
from headstart.analysis.cells import Cell


def withheld_fix(group: list[dict[str, Any]], whys: list[str], flagged: list[dict[str, Any]],
                 table: dict[tuple[str, int | str], Cell], *, last: bool) -> str:
    """What to re-run a band with no arm to recommend with, in the flags the caller passes (``flags.asked``), from why
    its best arm was withheld: the fix of its "majority" flag at each size (``budget_flags``' ``rerun``: a larger
    budget, ``--tune lr``, class descriptions), more labelled examples where the band is the sweep's last and its arm
    drew every row it asked for (``--sizes`` at twice its largest size), and more seeds where some seeds did beat the
    reference but not on its mean (``--seeds 5``; twice the seeds run from 5 on). Other strategies where nothing else applies.

    Args:
        group: the band's picks; whys: each pick's ``nothing_learned`` reason; flagged: ``budget_flags`` of the runs;
        table: the cells; last: the band is the sweep's largest sizes (a later band shows what more labels do).
    """
    parts: list[str] = []
    end = group[-1]
    best = table.get((end["best"], end["n"]))
    if last and isinstance(end["n"], int) and end["n"] > 0 and best is not None and best.n_actual >= end["n"] \
            and not end.get("best_label_free"):
        parts.append(f"more labelled examples (--sizes {2 * end['n']})")
    for p, why in zip(group, whys):
        majority = next((f for f in flagged if (f["strategy"], f["n"]) == (p["best"], 0 if p["best_label_free"] else p["n"])
                         and f["reason"] == "majority"), None)
        parts += (majority or {}).get("rerun") or []
        cell = table.get((p["best"], p["n"]))
        if cell is not None and (majority is None or majority["count"] < majority["runs"]):  # some seeds beat it
            seeds = len(cell.val_by_seed or cell.by_seed)
            parts.append(f"more seeds (--seeds {5 if seeds < 5 else 2 * seeds})")
    parts = list(dict.fromkeys(parts)) or ["other strategies (--strategies)"]
    said = ", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else parts[0]
    return flags.asked(f"re-run with {said}")
