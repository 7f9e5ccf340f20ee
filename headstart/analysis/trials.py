"""How much a tuned cell's learning-rate pick can be trusted: its trials' steps beside the final run's, and whether the
best trial beat the majority-class rate on validation.

``--tune lr`` scores each rate in a short trial (successive halving: a share of the final run's steps) and keeps the
best. Under a small budget a trial can be one step, and every trial can score at or below always predicting the most
frequent class: the pick is then a coin toss among rates that learned nothing yet. ``tuned_text`` says so beside
"tuned on validation" (``budgets.budget_text``), where the report names a cell's tuning. Pure; torch-free.
"""

from __future__ import annotations

from typing import Any

from headstart.analysis.units import higher_is_better
from headstart.results import RunResult


def _trials(result: RunResult) -> list[dict[str, Any]]:
    found = (result.chosen or {}).get("trials")
    return [t for t in found if isinstance(t, dict) and t.get("status", "done") == "done"] if isinstance(found, list) else []


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _final_steps(result: RunResult) -> int | None:
    steps = ((result.record or {}).get("budget") or {}).get("steps", result.steps)
    return int(steps) if _number(steps) and steps > 0 else None


def _no_better_than_majority(result: RunResult, trials: list[dict[str, Any]]) -> bool:
    """Whether the best trial's validation score is at or below the majority-class rate on validation (the run's
    ``record["reference"]["val"]`` in its selection metric); False where either is not recorded."""
    metric = ((result.record or {}).get("budget") or {}).get("metric") or "accuracy"
    majority = (((result.record or {}).get("reference") or {}).get("val") or {}).get(metric)
    scores = [t["val_score"] for t in trials if _number(t.get("val_score"))]
    if not scores or not _number(majority):
        return False
    high = higher_is_better(metric)
    best = max(scores) if high else min(scores)
    return best <= majority if high else best >= majority


def _span(values: set[int]) -> str:
    return "–".join(str(v) for v in sorted({min(values), max(values)}))


def tuned_text(runs: list[RunResult]) -> str:
    """``"tuned on validation"``, with what weakens the pick where it applies: ``"tuned on validation (trials of 1 step,
    the final run 4; the best trial no better than the majority-class rate on validation in 2 of 2 runs: a weak pick)"``.

    Args:
        runs: one cell's finished runs that tuned (``record["budget"]["tuned"]``), their trials in ``chosen["trials"]``.
    """
    short, weak, trial_steps, final = 0, 0, set(), set()
    recorded = [(r, t) for r in runs if (t := _trials(r))]
    for r, trials in recorded:
        steps = [int(t["steps"]) for t in trials if _number(t.get("steps"))]
        last = _final_steps(r)
        trial_steps.update(steps)
        if last is not None:
            final.add(last)
        short += bool(steps and last is not None and max(steps) < last)
        weak += _no_better_than_majority(r, trials)
    said = []
    if short:
        said.append(f"trials of {_span(trial_steps)} step{'' if trial_steps == {1} else 's'}, the final run "
                    f"{_span(final)}" + (f" (in {short} of {len(recorded)} runs)" if short < len(recorded) else ""))
    if weak:
        said.append(f"the best trial no better than the majority-class rate on validation in {weak} of {len(recorded)} runs")
    return "tuned on validation" + (f" ({'; '.join(said)}: a weak pick)" if said else "")
