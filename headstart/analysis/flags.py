"""Where a score may understate an arm: its learning rate chosen at the end of a grid, its budget ending while it was
still improving, a learning rate too small for its budget (the validation score barely moved in the first half of the
steps), or a model that never beat predicting the majority class.

The end of a grid is ``analysis.grids``' flag (``grid_edges``); the others are this module's (``run_flags`` per run,
``budget_flags`` per cell, each cell's budget worded by ``budgets.budget_text``).

Pure functions over stored ``RunResult``s. Each flag says where the evidence stops, not that a better setting
exists; the report names flagged arms beside the recommendation so that no arm loses it silently on such evidence.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from headstart.analysis.arms import arm_name
from headstart.analysis.budgets import budget_text, stopped_early, was_capped
from headstart.analysis.grids import grid_text, widened
from headstart.analysis.units import FRACTION_METRICS, requested, size_key
from headstart.python_checks import config_fields
from headstart.surface import on_cli, python_names, spoken
from headstart.metrics import selection_score
from headstart.results import RunResult

# A last check that beats every earlier one by less than this is a plateau: one point of accuracy is 3 of ~300
# validation reviews, about one standard error of the difference between two checkpoints that disagree on 5% of them
# (for rmse-like metrics: 1% of the score). At half a point the flag fired on converged runs (docs/BENCHMARKS.md).
IMPROVING_MIN = 0.01
# A run that made less than this share of its validation gain in the first half of its steps started learning late: at
# a rate too small for the budget, the warmup and the first half move the weights too little to change a prediction.
# Measured (docs/BENCHMARKS.md "A learning rate too small, seen in one run"): drug-reviews full-finetune and
# partial-freeze at 1e-5 made 0-13% of their gain by half-way, at 5e-5 33-82%.
SLOW_SHARE = 0.2
REASONS = {  # per run: why its score may understate what the arm can do
    "improving": "was still improving at its last validation check when its step budget ran out",
    "unchecked": "was validated only once, at the end of its step budget, so whether it was still improving is unknown",
    "slow": "made less than a fifth of its validation gain in the first half of its steps, the mark of a learning rate "
            "too small for its budget",
    "majority": "never beat the majority-class rate on validation",
}
SHORT = {"improving": "was still improving when its budget ran out", "unchecked": "was validated only at the end of its budget",
         "slow": "learned late, as at a learning rate too small",
         "majority": "never beat the majority-class rate on validation"}


REFERENCE_BY_TASK = {"regression": "predicting the training pool's mean",  # evaluation.prior_predictions
                     "multilabel": "predicting each label's training frequency"}


def keyword_settings(call: str) -> frozenset[str]:
    """The TrainConfig fields ``call`` (``"compare"`` or ``"fit"``) takes as keywords of its own: every one
    (``headstart.train_keywords``); tests/analysis/test_flags.py holds this to the functions' signatures."""
    from headstart.specs import TrainConfig

    return frozenset(f.name for f in dataclasses.fields(TrainConfig))


_KEYWORDS = {"compare": {"tune", "label_descriptions", "options", "sizes", "seeds"},
             "fit": {"tune", "label_descriptions", "options", "grid"}}


def asked(text: str, call: str = "compare") -> str:
    """``text`` as the caller of ``call`` (``"compare"`` or ``"fit"``) asks: the CLI's flags on the CLI; from Python,
    the function's arguments (``--seeds 5`` is ``seeds=5``, ``--max-steps 60`` ``max_steps=60``: every training
    setting is a keyword of both). ``--tune lr`` is ``tune='lr'`` wherever it stands: mid-sentence ("--tune lr searches
    one") ``python_names`` would keep the bare word."""
    if on_cli():
        return text
    from headstart.specs import TrainConfig

    train = {f.name for f in dataclasses.fields(TrainConfig)}
    own = keyword_settings(call)
    names = _KEYWORDS[call] | own | (config_fields() - train)
    return python_names(text.replace("--tune lr", "tune='lr'"), names, settings=train - own)


def reason_text(reason: str, task: str | None = None, *, short: bool = False) -> str:
    """``REASONS`` (``short``: ``SHORT``) of ``reason``, naming the constant reference as ``task`` computes it: the
    majority class, or on regression the pool's mean and on multilabel each label's frequency."""
    text = (SHORT if short else REASONS)[reason]
    if reason == "majority" and task in REFERENCE_BY_TASK:
        return f"never beat {REFERENCE_BY_TASK[task]} on validation"
    return text


def task_of(run: RunResult) -> str | None:
    data = run.spec.get("data")
    return data.get("task") if isinstance(data, dict) else None


def _selection(metrics: dict[str, Any], metric: str) -> float | None:
    """``metrics.selection_score`` (what the engine compared checkpoints by), or None when ``metric`` is absent."""
    return selection_score(metrics, metric) if isinstance(metrics.get(metric), (int, float)) else None


def run_flags(result: RunResult) -> list[str]:
    """Which of ``REASONS`` hold for one run, from its validation history (``RunResult.record``).

    ``improving``: it took every step of its budget (no early stop) and the last check of its final phase scored
    above every earlier check of that phase by at least ``IMPROVING_MIN``, or tied the check before it and both
    scored above every check before them by that much (a rise whose last two checks score alike). ``unchecked``: it took every step and its
    final phase was checked once. ``slow``: it took every step, and its final phase, checked at least four times,
    gained at least ``IMPROVING_MIN`` from its lowest check to its best, of which its checks in the phase's first half
    reached less than ``SLOW_SHARE``.
    ``majority``: its best validation score is no better than the majority-class predictor's (``record.reference``).
    A run of closed-form phases only (no steps) can be flagged "majority" alone, by its recorded validation score; runs
    stored without a record are never flagged.
    """
    record = result.record or {}
    history = [h for h in record.get("history") or () if not h.get("solved") and isinstance(h.get("val_score"), (int, float))]
    budget = record.get("budget") or {}
    if not budget:
        return []
    if not history:  # closed form (a zero-shot head, a solved probe): no budget to judge, but it may still learn nothing
        best = _selection(result.val_metrics or {}, str(budget.get("metric")))
        reference = _selection((record.get("reference") or {}).get("val") or {}, str(budget.get("metric")))
        return ["majority"] if best is not None and reference is not None and best <= reference + 1e-12 else []
    reasons = []
    final = [h for h in history if h.get("phase") == history[-1].get("phase")]
    if budget.get("steps") == budget.get("planned_steps"):
        if len(final) == 1:
            reasons.append("unchecked")
        else:
            # the last check beats every earlier one by the margin; or it ties the one before (validation scores move
            # in steps of one row: two checks on a rise can score alike) and both beat every check before them by it
            last = final[-1]["val_score"]
            before = max(h["val_score"] for h in final[:-1])
            least = IMPROVING_MIN if budget.get("metric") in FRACTION_METRICS else IMPROVING_MIN * abs(before)
            tie = len(final) > 2 and abs(last - final[-2]["val_score"]) <= 1e-12
            if last >= before + least or (tie and last >= before and last >= max(h["val_score"] for h in final[:-2]) + least):
                reasons.append("improving")
    if budget.get("steps") == budget.get("planned_steps") and _slow(final, budget):  # an early stop plateaued
        reasons.append("slow")
    reference = _selection((record.get("reference") or {}).get("val") or {}, str(budget.get("metric")))
    if reference is not None and max(h["val_score"] for h in history) <= reference + 1e-12:
        reasons.append("majority")
    return reasons


def _slow(final: list[dict[str, Any]], budget: dict[str, Any]) -> bool:
    """``run_flags``' "slow": the phase's first half (checks up to half of its steps) made under ``SLOW_SHARE`` of its gain."""
    if len(final) < 4:
        return False
    scores = [h["val_score"] for h in final]
    low, best = min(scores), max(scores)
    least = IMPROVING_MIN if budget.get("metric") in FRACTION_METRICS else IMPROVING_MIN * abs(best)
    if best - low < least:
        return False
    start = final[0]["step"] - (final[1]["step"] - final[0]["step"])  # the phase's first step, checks evenly spaced
    half = start + (final[-1]["step"] - start) / 2
    early = [h["val_score"] for h in final if h["step"] <= half]
    return bool(early) and max(early) - low < SLOW_SHARE * (best - low)


def solver_steps(r: RunResult) -> int:
    """Optimiser steps a strategy's solve took outside the engine's budget (setfit's pair steps; 0 for a closed form)."""
    value = (r.chosen or {}).get("pair_steps")
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def capped_by_max_steps(result: RunResult) -> bool:
    """Whether ``max_steps`` bound the run: it cut the steps the epochs / min_steps asked for (``was_capped``) and the
    run took them all, validation not stopping it first (``stopped_early``); a solve outside the engine (setfit's pair
    steps) that took exactly ``max_steps``. What train's advice and compare's both read, so they agree on one run."""
    budget = (result.record or {}).get("budget") or {}
    if budget.get("planned_steps"):
        return was_capped(budget) and not stopped_early(result)
    solved = solver_steps(result)
    return bool(solved) and budget.get("max_steps") == solved


def budget_flags(results: list[RunResult]) -> list[dict[str, Any]]:
    """Cells (strategy, size) where at least half of the done seeds share a ``run_flags`` reason.

    Returns:
        ``{strategy, n, reason, count, runs, steps, capped, text}`` per flagged cell and reason (``capped``: the
        ``max_steps`` that cut every run's planned steps, ``was_capped``, else None; a "majority" flag's ``rerun``:
        each way its fix names with its flags, as the CLI spells them, ``["a larger budget (--max-steps 60)", "--tune lr"]``,
        [] where none would change it), ``text`` naming the arm,
        the size, the budget and the fix, e.g. "full-finetune was still improving ... at n = 256 (3 of 3 seeds):
        its scores may understate it; re-run with a larger budget (--min-steps 160 for every strategy, or min_steps = 160
        in [train_by_strategy.full-finetune] of a --config file ...)" (``larger_budget``: a run records its budget,
        not whether a flag or a file set it, so both ways are named)."""
    groups: dict[tuple[str, int | str], list[RunResult]] = defaultdict(list)
    for r in results:
        if r.status == "done":
            groups[(arm_name(r), requested(r.spec))].append(r)
    out = []
    for (strategy, n), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], size_key(kv[0][1]))):
        flags = [run_flags(r) for r in runs]
        for reason in REASONS:
            count = sum(reason in f for f in flags)
            if not count or count * 2 < len(runs):
                continue
            planned = max(int(r.record["budget"].get("planned_steps") or 0) for r in runs if (r.record or {}).get("budget"))
            tuned = any(r.record["budget"].get("tuned") for r in runs if (r.record or {}).get("budget"))
            name = str(runs[0].spec.get("strategy"))  # the arm's strategy, as the config and flags spell it
            capped = all(was_capped((r.record or {}).get("budget") or {}) for r in runs)  # max_steps cut the plan
            bound = all(capped_by_max_steps(r) for r, f in zip(runs, flags) if reason in f)  # and the flagged runs hit it
            caps = [int(c) for r in runs if isinstance(c := ((r.record or {}).get("budget") or {}).get("max_steps"), int)]
            cap = max(caps) if capped else planned
            # a floor raised past a cap set beside it is refused (TrainConfig.check_as_given): the cap rises with it
            keys = ("max_steps",) if capped else ("min_steps", "max_steps") if caps and min(caps) < 2 * cap else ("min_steps",)
            more = larger_budget(name, {key: 2 * cap for key in keys})
            # Runs that stopped early on a validation plateau would leave a larger budget unused: not the fix to offer.
            stopped = sum(stopped_early(r) for r, f in zip(runs, flags) if reason in f)
            plateau = stopped * 2 >= count
            closed = False
            tune = [] if tuned else ["--tune lr"]
            typed = " ".join(f"--{key.replace('_', '-')} {2 * cap}" for key in keys)  # ``more``'s flags alone
            rerun = [f"a larger budget ({typed})", *tune]  # the ways a "majority" flag's fix names, for the advice
            if planned == 0 and n == 0:  # reads no label: its class descriptions are all it has
                nothing = ("it reads no labels and takes no optimiser steps: describe the classes better "
                           "(--label-descriptions), or read it as: its descriptions do not separate these classes")
                rerun = ["better class descriptions (--label-descriptions)"]
            elif planned == 0 and any(solver_steps(r) for r in runs):  # setfit: its solve tunes the encoder on pairs
                steps = max(solver_steps(r) for r in runs)
                pairs = spoken(f"--option {name}.iterations=…", f"options={{{name!r}: {{'iterations': …}}}}")
                nothing = (f"max_steps {steps} capped its pair steps: raise it first ({larger_budget(name, {'max_steps': 2 * steps})}), "
                           "or read it as: this arm learned nothing here" if all(capped_by_max_steps(r) for r in runs)
                           else f"its encoder took {steps} pair steps: draw more pairs ({pairs})"
                           + ("" if tuned else " or --tune lr") + ", or read it as: this arm learned nothing here")
                rerun = ([f"a larger budget (--max-steps {2 * steps})"] if all(capped_by_max_steps(r) for r in runs)
                         else [f"more pairs ({pairs})", *tune])
            elif planned == 0:  # closed form: no budget would change it
                nothing = "it takes no optimiser steps, so no budget would change it: read it as: this arm learned nothing here"
                closed = True
                rerun = []
            elif plateau:
                nothing = ("validation stopped improving before the budget ended in "
                           + ("that seed" if count == 1 else f"{stopped} of these {count} seeds") + ", so "
                           "more steps would go unused; " + ("" if tuned else "re-run with --tune lr, or ")
                           + "read it as: this arm learned nothing here")
                rerun = tune
            else:
                nothing = (f"re-run with a larger budget ({more})" + ("" if tuned else " or --tune lr")
                           + ", or read it as: this arm learned nothing here")
            fix = {"improving": f"re-run with a larger budget ({more})",
                   "unchecked": ("re-run with more validation checks ("
                                 + spoken("evals_per_phase = 5", "config={'evals_per_phase': 5}") + f") or a larger budget ({more})"),
                   "slow": (f"max_steps {cap} capped these runs: raise it first ({more}); " if capped and bound else "")
                           + (f"re-run on a higher grid ({_higher_grid(runs, name)}, above the rates tried)" if tuned else
                              "re-run with a higher learning rate (--tune lr searches one on validation; or --lr)"),
                   "majority": nothing}[reason]
            lead = "" if reason == "majority" and closed else "its scores may understate it; "  # a closed form: nothing to raise
            task = task_of(runs[0])
            text = (f"{strategy} {reason_text(reason, task)} at n = {n} ({count} of {len(runs)} seed{'s' if len(runs) != 1 else ''}; budget: "
                    f"{budget_text(runs)}): {lead}{asked(fix)}")
            out.append({"strategy": strategy, "n": n, "reason": reason, "count": count, "runs": len(runs),
                        "steps": planned, "capped": cap if capped and planned else None, "text": text, "task": task,
                        **({"rerun": rerun} if reason == "majority" else {})})
    return out


def larger_budget(name: str, steps: dict[str, int]) -> str:
    """Where to give strategy ``name`` the budget ``steps`` (``{"max_steps": 60}``), each way that works. A run records
    the steps it was given, not where they were set (``--max-steps``, a ``--config`` file's ``[train]`` or
    ``[train_by_strategy.NAME]``), so both ways are named: the flag, for every strategy, and the file's table, for this
    one alone, with no flag typed beside it (a flag replaces the file's value: ``sweep_config.overridden``). From
    Python: ``train_by_strategy`` for it, compare's ``max_steps`` / ``min_steps`` keywords for every arm.
    """
    flags = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in steps.items())
    keys = " and ".join(f"{key} = {value}" for key, value in steps.items())
    typed = " or ".join(f"--{key.replace('_', '-')}" for key in steps)
    fields = ", ".join(f"{key!r}: {value}" for key, value in steps.items())
    keywords = ", ".join(f"{key}={value}" for key, value in steps.items())  # compare's keywords, as its flags
    return spoken(f"{flags} for every strategy, or {keys} in [train_by_strategy.{name}] of a --config file for {name} "
                  f"alone, with no {typed} typed, which would replace {'it' if len(steps) == 1 else 'them'} there",
                  f"train_by_strategy={{{name!r}: {{{fields}}}}}, or {keywords} for every arm")


def _higher_grid(runs: list[RunResult], name: str) -> str:
    """The runs' tuning grid moved one step up (``widened``) as the user gives it, e.g. "--grid lora=0.001,0.003,0.009"
    (from Python: "grids={'lora': (0.001, 0.003, 0.009)}"); RATES in place of the values when the runs do not record
    their grid."""
    grid = ((runs[0].spec or {}).get("tune") or {}).get("grid")
    if not grid or not all(isinstance(v, (int, float)) and v > 0 for v in grid) or len(grid) < 2:
        return spoken(f"--grid {name}=RATES", f"grids={{{name!r}: RATES}}")
    return grid_text(name, widened(tuple(float(v) for v in grid), "top"))
