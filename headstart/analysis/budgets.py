"""A cell's budget as run, in words: the steps planned and taken, the rule that set them (epochs, a step floor, a
``max_steps`` cap), the learning rates, and whether tuning chose them (``budget_text``: the report's budget column,
adapt's and multitask's budget lines, a single run's note), with the facts behind it (``stopped_early``,
``was_capped``, ``epochs_run``, a prompted LM's ``prompt_facts``). Pure functions over stored ``RunResult``s."""

from __future__ import annotations

import math
from typing import Any

from headstart.analysis.trials import tuned_text
from headstart.results import RunResult


def stopped_early(result: RunResult) -> bool:
    """Whether the run took fewer steps than its budget planned (early stopping on validation ended it)."""
    budget = (result.record or {}).get("budget") or {}
    return int(budget.get("steps") or 0) < int(budget.get("planned_steps") or 0)


def was_capped(budget: dict[str, Any]) -> bool:
    """Whether the run's ``max_steps`` cut what its epochs / min_steps asked for (any phase: lp-ft's two phases are each
    capped). Runs stored before the record said so: their planned steps equal to ``max_steps``."""
    if "capped" in budget:
        return bool(budget["capped"])
    return budget.get("max_steps") is not None and budget.get("max_steps") == budget.get("planned_steps")


def _span(values: set[int]) -> str:
    ordered = sorted(values)
    return f"{ordered[0]}" if len(ordered) == 1 else f"{ordered[0]}–{ordered[-1]}"


def prompt_facts(runs: list[RunResult]) -> list[str]:
    """What a prompted LM's runs measured (``results.RECORDED``, never chosen on validation): ``["193-token prompt",
    "4 demonstrations"]``, and why fewer than k were shown: "(of k=8: n = 4 labelled rows)" where only n < k rows
    exist, "(of k=8: more would not fit the prompt token limit)" where the limit cut them below min(k, n)."""
    found = [r.chosen or {} for r in runs]
    tokens = {int(c["prompt_tokens"]) for c in found if isinstance(c.get("prompt_tokens"), int)}
    shown = {int(c["demonstrations"]) for c in found if isinstance(c.get("demonstrations"), int)}
    facts = [f"{_span(tokens)}-token prompt"] if tokens else []
    if shown:
        asked = {int(k) for r in runs if isinstance(k := (r.spec.get("options") or {}).get("k"), int)}
        why = ""
        if len(asked) == 1 and min(shown) < (k := next(iter(asked))):
            rows = {int(r.spec["n"]) for r in runs if isinstance(r.spec.get("n"), int)}
            cut = any(isinstance(c.get("demonstrations"), int) and c["demonstrations"] < min(k, r.spec["n"] if isinstance(r.spec.get("n"), int) else k)
                      for r, c in zip(runs, found))  # below what the rows allowed: the token limit cut them
            few = len(rows) == 1 and next(iter(rows)) < k  # only n < k labelled rows to show
            why = (f" (of k={k}" + (f", n = {next(iter(rows))} labelled rows" if few and cut else
                                    f": n = {next(iter(rows))} labelled rows" if few else "")
                   + (": more would not fit the prompt token limit" if cut else "" if few else ": fewer labelled rows than k")
                   + ")")
        facts.append(f"{_span(shown)} demonstration{'' if shown == {1} else 's'}{why}")
    return facts


def budget_text(runs: list[RunResult]) -> str:
    """An arm's budget as run: ``"80 steps (1 epoch, at least 80 steps), lr 5e-05, head lr 0.001, untuned"``; where
    ``max_steps`` cut it, the rule said as one and the epochs that ran: ``"3 steps (the rule: 30 epochs, at least 300
    steps; capped at 3 by max_steps: 3 epochs run), …"``; a tuned cell's weak pick said after "tuned on validation"
    (``trials.tuned_text``); "" without records."""
    budgets = [r.record.get("budget") for r in runs if (r.record or {}).get("budget")]
    if not budgets:
        return ""
    if not any(int(b.get("planned_steps") or 0) for b in budgets):
        # A solved phase may take steps of its own (SetFit's contrastive pairs on the encoder), recorded in what it chose
        inner = sorted({int(c["pair_steps"]) for c in (r.chosen or {} for r in runs) if isinstance(c.get("pair_steps"), int)})
        if inner:
            steps = f"{inner[0]}" if len(inner) == 1 else f"{inner[0]}–{inner[-1]}"
            asked = sorted({int(c["pair_steps_planned"]) for c in (r.chosen or {} for r in runs)
                            if isinstance(c.get("pair_steps_planned"), int)})
            cut = (f" (capped by max_steps: one epoch of its pairs is {asked[0]}" + (f"–{asked[-1]}" if len(asked) > 1 else "")
                   + " steps)") if asked else ""
            return f"{steps} encoder steps on sentence pairs{cut}, then a closed-form head"
        return "closed form (no optimiser steps)" + "".join(f", {fact}" for fact in prompt_facts(runs))
    planned = sorted({int(b.get("planned_steps") or 0) for b in budgets})
    steps = f"{planned[0]}" if len(planned) == 1 else f"{planned[0]}–{planned[-1]}"
    stopped = sum(stopped_early(r) for r in runs)
    rule = sorted({(b.get("epochs"), b.get("min_steps")) for b in budgets}, key=str)
    why = (f"{rule[0][0]} epoch{'' if rule[0][0] == 1 else 's'}, at least {rule[0][1]} step{'' if rule[0][1] == 1 else 's'}"
           if len(rule) == 1 and None not in rule[0] else "")
    phases = {_canonical_phases(b.get("phases")) for b in budgets}
    phased = next(iter(phases)) if len(phases) == 1 else None  # several stepping phases (lp-ft's probe, then finetune)
    recorded = {b.get("epoch_steps") for b in budgets}
    by_epochs = next(iter(recorded)) if len(recorded) == 1 and None not in recorded else \
        _epoch_steps(runs, rule[0][0]) if not phased else None  # a run stored before the record kept it: from its spec
    caps = {int(b["max_steps"]) for b in budgets if isinstance(b.get("max_steps"), int) and was_capped(b)}
    capped = bool(why) and len(caps) == 1 and len(planned) == 1  # the rule asked for more than ran: a rule, not a count
    floor = (why and not capped and by_epochs is not None and by_epochs < rule[0][1]
             and (phased is not None or rule[0][1] == planned[0]))  # the floor set the budget: "30 epochs" read as what ran
    if floor:
        why = f"the {rule[0][1]}-step floor, where {rule[0][0]} epoch{'' if rule[0][0] == 1 else 's'} would be {by_epochs}"
    if capped:  # "3 steps (30 epochs, …, capped at 3)" read as 30 epochs run: the rule is said as one, then what ran
        cap = next(iter(caps))
        ran = epochs_run(cap, rule[0][0], by_epochs)
        why = (f"the rule: {why}; capped at {cap} by max_steps" + ("" if planned[0] == cap else " in each phase")
               + (f": {ran} run" + ("" if planned[0] == cap else " in each") if ran else ""))
    if phased and why and len(planned) == 1:  # the budget is each phase's base: the phases say how it was spent
        shown = " + ".join(f"{name} {steps}" for name, steps in phased) if len(phased) <= 3 else f"{len(phased)} phases"
        why = f"{shown}; {why}" if capped else f"{shown}; budget: {why}"
    parts = [f"{steps} steps" + (f" ({why})" if why else "") + (f", {stopped} of {len(budgets)} stopped early" if stopped else "")]
    chosen = [(r.chosen or {}).get("lr") for r in runs]
    lrs = sorted({float(c) for c in chosen if isinstance(c, (int, float))} or
                 {float(b["lr"]) for b in budgets if isinstance(b.get("lr"), (int, float))})
    if lrs:
        parts.append("lr " + "/".join(f"{v:g}" for v in lrs))
    head = sorted({float(b["head_lr"]) for b in budgets if isinstance(b.get("head_lr"), (int, float))})
    if head:
        parts.append("head lr " + "/".join(f"{v:g}" for v in head))
    tuned = [r for r in runs if ((r.record or {}).get("budget") or {}).get("tuned")]
    parts.append(tuned_text(tuned) if tuned else "untuned")
    return ", ".join(parts)


def _canonical_phases(phases: Any) -> tuple[tuple[str, int], ...] | None:
    """A budget's ``phases`` (``[[name, steps], ...]`` in order) as a hashable tuple; None for one phase or none recorded."""
    if not isinstance(phases, list) or len(phases) < 2 or not all(isinstance(p, list) and len(p) == 2 for p in phases):
        return None
    return tuple((str(name), int(steps)) for name, steps in phases)


def epochs_run(steps: int, epochs: Any, by_epochs: Any) -> str:
    """``steps`` as epochs of the runs' rows ("3 epochs", "0.5 epochs"), from the steps ``epochs`` epochs take
    (``by_epochs``); "" where either is unknown."""
    if not (isinstance(epochs, int) and epochs > 0 and isinstance(by_epochs, int) and by_epochs > 0):
        return ""
    ran = steps * epochs / by_epochs
    shown = f"{ran:.0f}" if ran >= 10 or ran == int(ran) else f"{ran:.2g}"
    return f"{shown} epoch{'' if shown == '1' else 's'}"


def _epoch_steps(runs: list[RunResult], epochs: Any) -> int | None:
    """The steps ``epochs`` epochs take on the runs' rows (``budget_for``'s per-epoch count: n over batch times
    accumulation), where every run has the same n and batch; None otherwise."""
    shapes = {(r.spec.get("n"), (r.spec.get("train") or {}).get("batch_size"), (r.spec.get("train") or {}).get("accumulate") or 1)
              for r in runs}
    if len(shapes) != 1 or not isinstance(epochs, int):
        return None
    n, batch, accumulate = next(iter(shapes))
    if not all(isinstance(v, int) and v > 0 for v in (n, batch, accumulate)):
        return None
    return epochs * max(1, math.ceil(n / (batch * accumulate)))
