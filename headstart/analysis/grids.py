"""Where a choice on validation sat at one end of the grid it searched: the best value may lie beyond it.

A ``--tune`` grid, or a closed-form arm's own (embed-logreg / tfidf-logreg's C, embed-knn's k), whose choice lands on an
end more often than chance would put it there (``grid_edges``: a one-sided binomial test) says the grid was too narrow
for this data and budget, so the arm's scores may understate it; the flag suggests the grid moved one step past that
end (``widened``), written as the caller gives it (``grid_text``, ``option_grid_text``). Pure functions over stored
``RunResult``s, like the budget flags (``analysis.flags``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from headstart.analysis.arms import arm_name
from headstart.analysis.units import FRACTION_METRICS, requested, size_key
from headstart.results import RunResult
from headstart.surface import spoken

CONFIDENCE = 0.95


def grid_text(name: str, values: tuple[float, ...]) -> str:
    """A strategy's grid as the user gives it: ``--grid lora=0.001,0.003`` on the CLI, ``grids={'lora': (0.001, 0.003)}``
    to ``compare`` from Python."""
    return spoken(f"--grid {name}=" + ",".join(f"{v:g}" for v in values),
                  f"grids={{{name!r}: (" + ", ".join(f"{v:g}" for v in values) + ")}")


def widened(grid: tuple[float, ...], edge: str) -> tuple[float, ...]:
    """``grid`` moved one step outward past ``edge`` (its end ratio, 2 significant digits), keeping its length:
    (1e-5, 2e-5, 5e-5), top -> (2e-5, 5e-5, 1.3e-4)."""
    if edge == "top":
        return grid[1:] + (float(f"{grid[-1] * grid[-1] / grid[-2]:.2g}"),)
    return (float(f"{grid[0] * grid[0] / grid[1]:.2g}"),) + grid[:-1]


def searched(r: RunResult) -> tuple[str, tuple[float, ...], float] | None:
    """(parameter, grid, value chosen) of a run that chose a value on validation from a grid of 2+: its ``--tune`` grid,
    or a closed-form arm's own ``grid`` option (embed-logreg / tfidf-logreg's C, embed-knn's k, capped by n as the
    solver caps it); None otherwise. A regression's Ridge alpha is read as the C it came from (alpha = 1 / C)."""
    chosen = r.chosen or {}
    tune = r.spec.get("tune") or {}
    if len(tune.get("grid") or ()) > 1 and tune.get("param") in chosen:
        return tune["param"], tuple(sorted(float(v) for v in tune["grid"])), float(chosen[tune["param"]])
    grid = (r.spec.get("options") or {}).get("grid")
    if not isinstance(grid, (list, tuple)) or not all(isinstance(v, (int, float)) and v > 0 for v in grid):
        return None
    if "k" in chosen:
        grid, value = {float(min(k, r.spec.get("n") or k)) for k in grid}, float(chosen["k"])
    elif "C" in chosen or "alpha" in chosen:
        grid, value = set(map(float, grid)), float(chosen["C"]) if "C" in chosen else 1 / float(chosen["alpha"])
    else:
        return None
    return ("k" if "k" in chosen else "C", tuple(sorted(grid)), value) if len(grid) > 1 else None


def grid_edges(results: list[RunResult], confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Strategies whose choice on validation sat at one end of the grid searched more often than chance would put it
    there: a ``--tune`` grid, or a closed-form arm's own (``searched``).

    A value chosen at the end of a grid says the best may lie beyond it: the grid was too narrow for this data and
    budget, and the strategy's scores may understate it (on rotten-tomatoes the wider grid moved validation's choice
    but not test accuracy: docs/BENCHMARKS.md). With a 3-value grid an end is chosen a third of the time when
    the values are equally good, so an end is flagged only when a one-sided binomial test against 1 / grid size
    gives p < 1 - ``confidence`` (3 of 3 runs, 6 of 9; 2 of 2 on a 5-value grid). Only done runs of ``results``
    count (pass current runs), and not those at a perfect validation score (``perfect_score``): where every value scores
    100%, the tie goes to the lowest loss, often the grid's end, and no value beyond it could score more. A k grid's top is not flagged where it is the training rows' count (no larger k
    exists), nor its bottom at k = 1.

    Returns:
        ``{strategy, param, edge ("top" | "bottom"), value, count, runs, p_value, sizes, grid, suggested, text}`` per
        flagged strategy and grid; ``suggested`` is the grid moved one step past that end.
    """
    from scipy.stats import binomtest

    groups: dict[tuple[str, str, tuple[float, ...]], list[tuple[RunResult, float]]] = defaultdict(list)
    for r in results:
        found = searched(r) if r.status == "done" and not perfect_score(r) else None
        if found:
            param, grid, value = found
            groups[(arm_name(r), param, grid)].append((r, value))
    out = []
    for (strategy, param, grid), runs in sorted(groups.items()):
        for edge, value in (("top", grid[-1]), ("bottom", grid[0])):
            if param == "k" and (value == 1 or edge == "top" and any(value >= (r.spec.get("n") or 0) for r, _ in runs)):
                continue
            hits = [r for r, chosen in runs if math.isclose(chosen, value, rel_tol=1e-9)]
            p_value = float(binomtest(len(hits), len(runs), 1 / len(grid), alternative="greater").pvalue)
            if p_value >= 1 - confidence:
                continue
            at = sorted({requested(r.spec) for r in hits}, key=size_key)
            suggested = widened(grid, edge)
            if param == "k":  # whole neighbours, none past the training rows (the solver would cap them there)
                rows = min(float(r.spec.get("n") or math.inf) for r, _ in runs)
                suggested = tuple(sorted({min(rows, max(1.0, float(round(v)))) for v in suggested}))
            name = str(runs[0][0].spec.get("strategy"))
            text = (f"{strategy} chose {param} {value:g}, the {edge} of its grid ({', '.join(f'{v:g}' for v in grid)}), "
                    f"in {len(hits)} of {len(runs)} {'tuned ' if param not in ('C', 'k') else ''}runs (n = "
                    f"{', '.join(map(str, at))}; chance would give 1 in {len(grid)}, p = {p_value:.2g}): the best {param} "
                    f"may lie {'above' if edge == 'top' else 'below'} it, so its scores may understate it; try "
                    + (option_grid_text(name, suggested) if param in ("C", "k") else grid_text(name, suggested)))
            out.append({"strategy": strategy, "param": param, "edge": edge, "value": value, "count": len(hits),
                        "runs": len(runs), "p_value": p_value, "sizes": at, "grid": list(grid), "suggested": list(suggested), "text": text})
    return out


def perfect_score(result: RunResult) -> bool:
    """Whether the run's validation score on its selection metric (a share: accuracy, F1) is 1: nothing chosen beyond a
    grid could raise it (a first user saw every arm of an easy task flagged "may understate it" at 100%)."""
    metric = str(((result.record or {}).get("budget") or {}).get("metric") or "accuracy")
    score = (result.val_metrics or {}).get(metric)
    return metric in FRACTION_METRICS and isinstance(score, (int, float)) and score >= 1 - 1e-12


def option_grid_text(name: str, values: tuple[float, ...], call: str = "compare") -> str:
    """A closed-form arm's own grid as the user gives it to ``call``: to compare ``--option embed-logreg.grid=1,10,100``
    on the CLI, ``options={'embed-logreg': {'grid': (1, 10, 100)}}`` from Python; to fit (``headstart train``), whose
    options are its one strategy's, ``--option grid=1,10,100`` and ``options={'grid': (1, 10, 100)}``."""
    shown, given = ",".join(f"{v:g}" for v in values), "(" + ", ".join(f"{v:g}" for v in values) + ")"
    if call == "fit":
        return spoken(f"--option grid={shown}", f"options={{'grid': {given}}}")
    return spoken(f"--option {name}.grid={shown}", f"options={{{name!r}: {{'grid': {given}}}}}")
