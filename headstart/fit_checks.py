"""What a single ``fit`` (``headstart train``) refuses before it trains, a learning rate both searched and fixed or a
setting its strategy would ignore, and the budget flags it says after, each with what to try."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from headstart.errors import ConfigError
from headstart.surface import spoken
from headstart.specs import RunSpec


ADVICE = {  # what to try when a single run carries a budget flag (analysis.flags.REASONS)
    "improving": "give it more steps (--epochs, --min-steps) or a higher learning rate (--tune lr searches one on validation)",
    "unchecked": "validate more often (--evals-per-phase) to see whether it had converged",
    "slow": "try a higher learning rate (--tune lr searches one on validation, or --lr) or more steps",
    "majority": "try --tune lr, a higher --lr or more steps; with very few labels the head may need more of them",
}
TUNED = {  # the same flags on a run whose rate --tune lr chose on validation: steps are what is left to raise
    "improving": "give it more steps (--epochs, --min-steps)",
    "unchecked": ADVICE["unchecked"],
    "slow": "give it more steps (--epochs, --min-steps)",
    "majority": "give it more steps (--epochs, --min-steps); with very few labels the head may need more of them",
}
BUDGET_BOUND = ("improving", "slow", "majority")  # flags that say the run's budget, not its rate, held it back


def check_tune_and_rate(spec: RunSpec) -> None:
    """One run cannot both search its learning rate and fix it: ``--tune lr`` with ``--lr`` (``--head-lr`` for a head-only
    strategy) is refused, not silently left untuned. (A compare keeps a rate the user set for every arm, and tunes the
    arms whose rate it does not set.)

    Raises:
        ConfigError: both given.
    """
    from headstart.strategies import get_strategy
    from headstart.tuning import grid_for

    if not spec.tune or spec.grid is not None:  # --grid beside the rate: tuning.plan_for names that conflict
        return
    plan = grid_for(get_strategy(spec.strategy))
    if plan is not None and getattr(spec.train, plan[0]) is not None:
        flag = "--" + plan[0].replace("_", "-")
        raise ConfigError(f"--tune lr searches {spec.strategy}'s {plan[0]} on validation, and {flag} "
                          f"{getattr(spec.train, plan[0]):g} fixes it; give one of them (drop {flag}, or --tune)")


def check_settings_used(spec: RunSpec) -> None:
    """Refuse a setting ``train`` would silently ignore for its one strategy (``unread_settings``): ``--lr`` where
    nothing but the head trains (linear-probe: its rate is ``--head-lr``), a rate or step budget for a strategy fitted
    in closed form (embed-logreg, zero-shot ...), ``--augment`` for one that trains on the backbone's cached features
    (linear-probe: never an augmented image), ``--class-weights`` for one with no loss or fit to weigh (embed-knn,
    zero-shot, icl ...), and ``--tune lr`` for one with no learning rate to search. (A compare shares its settings
    across arms, each taking those it reads.)

    Raises:
        ConfigError: naming the setting, why it does nothing, and what to give instead.
    """
    from headstart.strategies import get_strategy
    from headstart.strategies.base import STEP_FIELDS, unread_settings
    from headstart.tuning import grid_for

    strategy = get_strategy(spec.strategy)
    unread = unread_settings(strategy, dataclasses.asdict(spec.train))
    steps = [f for f in unread if f in STEP_FIELDS]
    if steps == ["lr"] and not (strategy.solved and "lr" not in strategy.defaults):
        raise ConfigError(f"--lr sets the backbone's rate, and {spec.strategy} trains only its head; its rate is --head-lr "
                          f"(e.g. --head-lr {spec.train.lr:g})")
    if steps:
        flags = spoken(", ".join("--" + f.replace("_", "-") for f in steps), f"config's {', '.join(steps)}")
        raise ConfigError(f"{flags}: {spec.strategy} is fitted in closed form, with no learning rate and no steps; drop "
                          f"{'it' if len(steps) == 1 else 'them'}")
    if "class_weights" in unread:
        flag = spoken(f"--class-weights {spec.train.class_weights}", f"config's class_weights={spec.train.class_weights!r}")
        raise ConfigError(f"{flag}: {spec.strategy} has no loss or fit to weigh classes in (its answer is a vote, the "
                          "nearest description or a prompt's scores); drop it")
    if "augment" in unread:
        raise ConfigError(f"--augment {spec.train.augment}: {spec.strategy} trains only its head, on the backbone's features "
                          "computed once per image, so no training image is ever augmented; drop it, or use a strategy "
                          "that trains the backbone (full-finetune, lora, partial-freeze, ...)")
    if spec.tune and spec.grid is None and grid_for(strategy) is None:
        tune = spoken("--tune lr", "tune='lr'")
        raise ConfigError(f"{tune}: {spec.strategy} has no learning rate to search ({strategy.untuned_why}); drop "
                          + spoken("--tune", "tune"))


def budget_notes(result: Any) -> list[dict[str, str]]:
    """``analysis.flags.run_flags`` of one run, as ``{reason, text, advice}``: the same evidence the report flags, the
    advice naming ``headstart train``'s flags on the CLI and ``fit``'s arguments from Python (``flags.asked``)."""
    from headstart.analysis.budgets import stopped_early
    from headstart.analysis.flags import asked, capped_by_max_steps, reason_text, run_flags, solver_steps, task_of

    from headstart.analysis.grids import searched

    budget = (result.record or {}).get("budget") or {}
    tuned = searched(result) if budget.get("tuned") else None  # (param, grid, value): --tune lr chose the rate
    solved = solver_steps(result)  # setfit: the steps its solve took, outside the engine's budget
    planned = budget.get("planned_steps") or solved
    stopped = stopped_early(result)  # validation ended it before its budget did: no cap bound it, more steps go unused
    capped = capped_by_max_steps(result)  # as compare reads a cell's runs (analysis.flags.budget_flags)
    closed = not planned

    def advice(reason: str) -> str:
        if solved and not budget.get("planned_steps") and reason == "majority" and not capped:
            return ("draw more pairs (--option iterations=…)" + ("" if tuned else " or try --tune lr")
                    + "; with these labels it learned nothing so far")
        if closed and reason == "majority" and not result.spec.get("n"):  # reads no label: its descriptions are all it has
            return ("it reads no labels and takes no optimiser steps: describe the classes better (--label-descriptions) "
                    "or train a strategy on labels")
        if closed and reason == "majority":  # no steps to add: the arm itself is the question
            return "it takes no optimiser steps; with these labels it learned nothing: try another strategy"
        if stopped and reason == "majority" and tuned:
            return ("validation stopped improving before its budget ended, so more steps would go unused, and "
                    + _searched_text(tuned) + ": try another strategy; with very few labels the head may need more of them")
        if capped and reason in BUDGET_BOUND:  # the user's own --max-steps set the budget
            return _with_tuned(reason, tuned, cap=f" (--max-steps {budget['max_steps']} capped this run: raise it first)")
        if stopped and reason == "majority":  # as a compare says of such a cell (analysis.flags.budget_flags)
            return ("validation stopped improving before its budget ended, so more steps would go unused: try --tune lr "
                    "or a higher --lr; with very few labels the head may need more of them")
        return _with_tuned(reason, tuned)

    def weighted(reason: str) -> str:  # the rare classes weigh nothing in the loss: the head settles on the majority
        if reason == "majority" and result.spec.get("n") and weighs_classes(result) and imbalanced_unweighted(result):
            return (advice(reason) + "; its classes are more than 3:1 imbalanced and the loss weighs them equally: try "
                    "--class-weights balanced (or auto, which weights them only when imbalanced)")
        return advice(reason)

    return [{"reason": reason, "text": reason_text(reason, task_of(result)), "advice": asked(weighted(reason), "fit")}
            for reason in run_flags(result)]


def _searched_text(tuned: tuple[str, tuple[float, ...], float]) -> str:
    """"--tune lr already chose its lr (0.0003) on validation", of a tuned run's ``grids.searched``."""
    param, _, value = tuned
    return f"--tune lr already chose its {param} ({value:g}) on validation"


def _with_tuned(reason: str, tuned: tuple[str, tuple[float, ...], float] | None, *, cap: str = "") -> str:
    """``ADVICE[reason]``; for a run whose rate ``--tune lr`` chose (``tuned``: ``grids.searched``), ``TUNED[reason]``
    and what the search chose: not "a higher learning rate (--tune lr searches one)" once it has searched one. A run that
    learned late at a rate below its grid's top may search higher rates too (``--grid``); one that chose the grid's
    bottom is told why in its grid-edge note (``grid_edge_note``), which names the budget first. ``cap``: what the user's
    ``--max-steps`` did to it, said after the steps."""
    if tuned is None or reason not in TUNED:
        return ADVICE[reason] + cap
    param, grid, value = tuned
    higher = ""
    if reason == "slow" and not math.isclose(value, grid[0], rel_tol=1e-9):
        from headstart.analysis.grids import widened

        wider = widened(grid, "top")
        higher = " or rates above those it searched (" + spoken("--grid " + ",".join(f"{v:g}" for v in wider),
                                                                 "grid=(" + ", ".join(f"{v:g}" for v in wider) + ")") + ")"
    return TUNED[reason] + higher + cap + "; " + _searched_text(tuned)


def weighs_classes(result: Any) -> bool:
    """Whether ``result``'s strategy has a loss or a fit that --class-weights weighs (``Strategy.weighs_classes``): icl
    and kNN have neither, and "try --class-weights balanced" could not change them; an unknown strategy: True."""
    from headstart.strategies import get_strategy

    try:
        return get_strategy(result.spec.get("strategy")).weighs_classes
    except ConfigError:  # a stored run of a strategy this version lacks: the advice as for any trained arm
        return True


def imbalanced_unweighted(result: Any) -> bool:
    """A classification run trained with ``class_weights`` none on classes more than 3:1 imbalanced: its "auto" metric
    chose macro-F1 for that (``metrics.selection_metric``), or the majority class is over 3/4 of the validation rows
    (``record["reference"]``), which no less imbalanced split reaches."""
    from headstart.analysis.flags import task_of

    train = result.spec.get("train") or {}
    if task_of(result) != "classification" or train.get("class_weights", "none") != "none":
        return False
    record = result.record or {}
    auto = train.get("metric", "auto") == "auto" and (record.get("budget") or {}).get("metric") == "macro_f1"
    majority = ((record.get("reference") or {}).get("val") or {}).get("accuracy")
    return auto or isinstance(majority, float) and majority > 0.75


def grid_edge_note(result: Any) -> list[dict[str, str]]:
    """One run's choice at an end of the grid it searched (``--tune lr``, or a closed-form arm's own C or k), as
    ``{reason, text, advice}``: compare flags that when its runs do it more often than chance (``grids.grid_edges``);
    a single run cannot tell chance from a grid too narrow, so the note says both and names the wider grid to try.
    None at a perfect validation score (nothing beyond could score more), at k = 1 or k = n (nothing lies beyond)."""
    from headstart.analysis.flags import asked, capped_by_max_steps, reason_text, run_flags, task_of
    from headstart.analysis.grids import option_grid_text, perfect_score, searched, widened
    from headstart.tuning import rung_steps

    found = searched(result) if result.status == "done" and not perfect_score(result) else None
    if not found:
        return []
    param, grid, value = found
    edge = "top" if math.isclose(value, grid[-1], rel_tol=1e-9) else "bottom" if math.isclose(value, grid[0], rel_tol=1e-9) else None
    if edge is None or param == "k" and (value == 1 or value >= (result.spec.get("n") or 0)):
        return []
    name = str(result.spec.get("strategy"))
    wider = widened(grid, edge)
    if param == "k":
        wider = tuple(sorted({min(float(result.spec.get("n") or math.inf), max(1.0, float(round(v)))) for v in wider}))
    try_it = (option_grid_text(name, wider, "fit") if param in ("C", "k") else
              spoken("--grid " + ",".join(f"{v:g}" for v in wider), "grid=(" + ", ".join(f"{v:g}" for v in wider) + ")"))
    chose = f"chose {param} {value:g}, the {edge} of its grid ({', '.join(f'{v:g}' for v in grid)})"
    budget = (result.record or {}).get("budget") or {}
    held = [reason for reason in run_flags(result) if reason in BUDGET_BOUND] if budget.get("tuned") and edge == "bottom" else []
    if held:  # its budget flags say "more steps": the bottom chosen on trials that short says little of the rate
        trial = rung_steps(len(grid), int(budget.get("planned_steps") or 0))[0]
        raise_it = (f"raise --max-steps ({budget['max_steps']} capped this run)" if capped_by_max_steps(result)
                    else "give it more steps (--epochs, --min-steps)")
        text = (f"{chose}, on trials of {trial} step{'s' if trial != 1 else ''} each, and the run "
                + " and ".join(reason_text(reason, task_of(result), short=True) for reason in held)
                + f": on so short a budget the rates are hard to tell apart (a tie goes to the grid's first value), so "
                f"this says more about the budget than about the best {param}")
        return [{"reason": "grid-edge", "text": text,
                 "advice": asked(f"first {raise_it} and tune again; if it still chooses the bottom, try {try_it}", "fit")}]
    text = (f"{chose}: the best {param} may lie {'above' if edge == 'top' else 'below'} it (one run: an end is chosen 1 "
            f"time in {len(grid)} when the values are equally good)")
    return [{"reason": "grid-edge", "text": text, "advice": f"try {try_it}"}]
