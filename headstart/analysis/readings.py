"""Two readings of the curves: the head start over scratch at the smallest size, and where fine-tuning overtakes the probe.

Both choose on validation and report the paired comparison on test (``headstart.analysis`` says why). Neither calls
one arm ahead of another where both learned nothing (never beat the majority class on validation:
``recommend.nothing_learned``, as the recommendation reads it): the crossover leaves such sizes unread, the head start
says so beside its difference.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from headstart.analysis.cell_stats import delta_text, improvement, paired_cell, paired_over
from headstart.analysis.cells import (BASELINE, CONFIDENCE, REFERENCE_WORDS, Cell, budget_flags, cells, choice_basis,
                                      choice_order, choosable, chosen_on, reference, sizes, tie_text, tied_with)
from headstart.analysis import flags
from headstart.analysis.recommend import VAL_SEEDS_ONLY, flagged_sizes, nothing_learned, val_mean
from headstart.analysis.units import format_n, resolve_direction, validation_metric
from headstart.results import RunResult


def best_on_validation(cells_: list[Cell], sign: float) -> Cell:
    """The cell of ``cells_`` best on validation (``choosable``; a tie: the simpler arm, ``choice_order``, as ``recommend`` breaks it), or,
    where none has a validation score, the first (a reading then names that size unread)."""
    pick = choosable(cells_)
    return min(pick, key=lambda c: choice_order(c, sign)) if pick else cells_[0]


def head_start(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
               confidence: float = CONFIDENCE) -> dict[str, Any] | None:
    """The gain over ``scratch`` of the transfer strategy best *on validation*, at the smallest size where both ran,
    reported on test.

    Returns:
        ``{n, n_actual, strategy, points, ci: [lo, hi], p_value, significant, pairs, chosen_on, text}`` (points and ci
        oriented, in display units, on test), with ``tied`` (the arms whose validation mean equals the strategy's
        exactly, named in the text: the simpler arm is the one named, ``choice_order``), with ``caveat`` on one shared seed (never significant: the interval
        holds the test rows' error alone, ``stats.ONE_SEED``), or None when scratch or every transfer strategy
        is absent.
    """
    better_high = resolve_direction(metric, higher_is_better)
    sign = 1.0 if better_high else -1.0
    table = cells(results, metric)
    for n in sizes(table):
        from_scratch = {s: s == BASELINE or s.startswith(f"{BASELINE}[") for s, m in table if m == n}
        scratch = [table[(s, n)] for s, is_scratch in from_scratch.items() if is_scratch]
        others = [table[(s, n)] for s, is_scratch in from_scratch.items() if not is_scratch]
        if not scratch or not others:
            continue
        unchosen = others if not choosable(others) else scratch if len(scratch) > 1 and not choosable(scratch) else None
        if unchosen:  # no validation score measures the metric: nothing to choose the arms by
            return {"n": None, "strategy": None, "text": f"not read on {metric}: {chosen_on(unchosen).removeprefix('nothing: ')}"}
        best = best_on_validation(others, sign)
        # scratch's variants (scratch[tuned=yes], scratch[tuned=no]: an arm planned beside another) are chosen among as
        # the transfer strategy is, on validation
        base = best_on_validation(scratch, sign) if len(scratch) > 1 else scratch[0]
        diff = paired_cell(table, best.strategy, base.strategy, n, confidence, metric=metric)
        if diff is None:
            continue
        imp = improvement(diff, metric, better_high)
        on = chosen_on(others)
        tied, base_tied = tied_with(best, others, sign), tied_with(base, scratch, sign)
        named = (base.strategy if len(scratch) == 1 else
                 f"{base.strategy} (best of {len(scratch)} scratch arms on {on}{tie_text(base_tied)})")
        text = (f"with {format_n(n, best.n_actual)} labelled examples, {best.strategy} (best transfer strategy on {on}"
                f"{tie_text(tied)}) "
                f"vs {named} on test{paired_over(table, best.strategy, base.strategy, n)}: "
                f"{delta_text(imp, metric, better_high)}")
        why, _ = _nothing(results, metric, better_high)
        nothing = [why(c.strategy, n, val_mean(c)) for c in (best, base)]
        if all(nothing):  # a difference between two arms that learned nothing is no head start
            text += (f"; but neither learned the task there — {best.strategy} {nothing[0]}, {base.strategy} {nothing[1]} — "
                     "so this is no head start")
        # within its budget: an arm cut short is named, whether behind (the gap may be the budget's) or learned nothing
        text += budget_cut(budget_flags(results), [(best, imp["points"] <= 0 and not all(nothing)),
                                                   (base, imp["points"] > 0 and not all(nothing))])
        return {"n": n, "n_actual": best.n_actual, "strategy": best.strategy, **imp, "chosen_on": on, "text": text,
                **({"tied": tied} if tied else {}),
                **({"learned_nothing": True} if all(nothing) else {})}
    return None


def crossover(results: list[RunResult], metric: str = "accuracy", a: str = "full-finetune", b: str = "linear-probe", *,
              higher_is_better: bool | None = None, confidence: float = CONFIDENCE) -> dict[str, Any]:
    """The smallest size from which ``a``'s validation mean is ahead of ``b``'s at every larger size (a tie is level,
    not ahead); the paired validation difference at that size, with its interval over seeds, and the test comparison
    there are reported. It says "beats" only where the validation interval lies above 0 at every size from there on,
    else "ahead ... on the mean only" and "not resolved on validation" at the sizes where it includes 0 (or there is
    none), "resolved" at the others. Sizes the reading cannot use — one of the two has no finished run there, or no
    validation score — are named in its text.

    Returns:
        ``{n, n_actual, a, b, points, ci, p_value, significant, chosen_on, val, unresolved, text}`` (the paired test
        comparison at n; ``caveat`` on one shared seed, as ``head_start``; ``val`` the paired validation difference at
        n, oriented, or None; ``unresolved`` the sizes from n on where its interval includes 0 or there is none),
        or ``{n: None, a, b, text}`` when ``a`` never settles ahead, with ``measured: False`` when one of them was not
        run (the reports then leave the line out: it would name strategies the store does not hold), and
        ``learned_nothing: True`` when at every size both learned nothing (``recommend.nothing_learned``). Sizes where
        both learned nothing are left out of the reading and named in its text.
    """
    better_high = resolve_direction(metric, higher_is_better)
    sign = 1.0 if better_high else -1.0
    table, variants = _variants_chosen(cells(results, metric), (a, b), sign)
    out = _crossover(results, table, metric, a, b, better_high, confidence)
    if variants and out.get("measured", True):
        out["text"] += _variants_said(table, variants, out["n"], out.get("chosen_on", "validation"))
    return out


def _crossover(results: list[RunResult], table: dict[tuple[str, int | str], Cell], metric: str, a: str, b: str,
               better_high: bool, confidence: float) -> dict[str, Any]:
    """``crossover`` on ``table``, each of ``a`` and ``b`` one arm at every size (``_variants_chosen``)."""
    sign = 1.0 if better_high else -1.0
    both = [n for n in sizes(table) if (a, n) in table and (b, n) in table]
    if not both:
        return {"n": None, "a": a, "b": b, "text": f"{a} and {b} were not both run at any size", "measured": False}
    compared = [table[(s, n)] for n in both for s in (a, b)]
    on, basis = chosen_on(compared), choice_basis(compared)
    if basis == "none":
        return {"n": None, "a": a, "b": b, "chosen_on": on,
                "text": f"not read on {metric}: {on.removeprefix('nothing: ')}"}
    unread = _unread(table, a, b)
    both = [n for n in both if table[(a, n)].has_validation and table[(b, n)].has_validation]
    if not both:
        return {"n": None, "a": a, "b": b, "chosen_on": on, "text": f"{a} and {b} have no size where both have a validation score"}
    why, line = _nothing(results, metric, better_high)
    empty = [n for n in both if all(why(table[(s, n)].strategy, n, val_mean(table[(s, n)])) for s in (a, b))]
    if empty:  # which of two arms that learned nothing is ahead is noise, not a crossover
        at = ", ".join(format_n(n, table[(a, n)].n_actual) for n in empty)
        both = [n for n in both if n not in empty]
        if not both:
            cut = budget_cut(budget_flags(results), [(table[(s, m)], False) for m in empty for s in (a, b)])
            return {"n": None, "a": a, "b": b, "chosen_on": on, "learned_nothing": True,
                    "text": f"not read: neither {a} nor {b} beat {line} on validation at n = {at}, so neither learned "
                            f"the task there and neither is ahead{cut}{unread}"}
        unread += f"; not read at n = {at}: neither beat {line} on validation there, so neither learned the task"
    lead = [table[(a, n)].choice_score(sign) - table[(b, n)].choice_score(sign) for n in both]
    ahead = [d > 1e-12 for d in lead]  # level is not ahead: a tie at every size is no crossover
    if not ahead[-1]:
        level = (f": level with {b} at n = {format_n(both[-1], table[(a, both[-1])].n_actual)}, which is not overtaking it"
                 if abs(lead[-1]) <= 1e-12 else "")
        cut = budget_cut(budget_flags(results), [(table[(a, both[-1])], True), (table[(b, both[-1])], False)])
        return {"n": None, "a": a, "b": b, "chosen_on": on,
                "text": f"not within the sizes tried (on {on}){level}{cut}{unread}"}
    i = len(ahead)
    while i > 0 and ahead[i - 1]:
        i -= 1
    n = both[i]
    out: dict[str, Any] = {"n": n, "n_actual": table[(a, n)].n_actual, "a": a, "b": b, "chosen_on": on}
    where = f"from {format_n(n, out['n_actual'])} labelled examples on" if i or empty else f"at every size tried (from {n})"
    lead_text, out["val"], out["unresolved"] = _lead_on_validation(table, a, b, both[i:], on, metric, better_high,
                                                                   confidence)
    # the claim rests on every size from n on: an arm cut short at any of them is named there
    cut = budget_cut(budget_flags(results), [(table[(s, m)], s == b) for m in both[i:] for s in (a, b)])
    diff = paired_cell(table, a, b, n, confidence, metric=metric)
    if diff is None:
        return {**out, "points": None, "ci": None, "p_value": None, "significant": False,
                "text": f"{lead_text.format(where=where)} (no shared seeds to test){cut}{unread}"}
    imp = improvement(diff, metric, better_high)
    verdict = ("significant" if imp["significant"] else "not called significant on one seed" if imp.get("caveat")
               else "not significant")
    return {**out, **imp, "text": f"{lead_text.format(where=where)}; on test at {format_n(n, out['n_actual'])}"
                                   f"{paired_over(table, a, b, n)}: "
                                   f"{delta_text(imp, metric, better_high)}, {verdict}{cut}{unread}"}


def _lead_on_validation(table: dict[tuple[str, int | str], Cell], a: str, b: str, at: list[int | str], on: str,
                        metric: str, better_high: bool, confidence: float) -> tuple[str, dict[str, Any] | None, list[int | str]]:
    """The crossover's claim on validation at sizes ``at`` (from its size on, where ``a``'s mean is ahead at each), with
    the paired validation difference a − b at the first and its interval over seeds (``recommend.VAL_SEEDS_ONLY``,
    as the recommendation reads it): "beats" only where that interval lies above 0 at every size of ``at``; else "ahead
    on the mean only" at the sizes where it includes 0 (or there is none: one seed, or seeds that all agree), "not
    resolved on validation" there, each other size named as "resolved". Returns the text, with ``{where}`` for the
    sizes' words; the difference at ``at[0]`` (oriented, display units; None without shared seeds); and the sizes not
    resolved."""
    def on_val(m: int | str) -> dict[str, Any] | None:
        diff = paired_cell(table, a, b, m, confidence, split="val")
        return None if diff is None else improvement(diff, metric, better_high)

    diffs = {m: on_val(m) for m in at}
    unresolved = [m for m, d in diffs.items() if d is None or not d["has_ci"] or d["ci"][0] <= 0]
    first = diffs[at[0]]
    quoted = (f" ({a} − {b} on {on} at {format_n(at[0], table[(a, at[0])].n_actual)}: "
              f"{delta_text(first, metric, better_high)}, {VAL_SEEDS_ONLY})" if first is not None else "")
    if not unresolved:
        return f"{a} beats {b} on {on} {{where}}{quoted}", first, []
    sizes_ = ", ".join(format_n(m, table[(a, m)].n_actual) for m in unresolved)
    if len(unresolved) == len(at):
        text = (f"{a} is ahead of {b} on the {on} mean only, {{where}}{quoted}: not resolved on {on} (an interval "
                f"that includes 0, or none, at n = {sizes_})")
    else:  # each size named once, as resolved or not: "but on the mean only at 256" read as "ahead only at 256"
        resolved = ", ".join(format_n(m, table[(a, m)].n_actual) for m in at if m not in unresolved)
        text = (f"{a} is ahead of {b} on {on} {{where}}{quoted}: resolved at n = {resolved} (an interval above 0); "
                f"ahead on the mean only at n = {sizes_}, not resolved on {on} there (an interval that includes 0, or "
                "none)")
    return text, first, unresolved


def budget_cut(flagged: list[dict[str, Any]], read: list[tuple[Cell, bool]]) -> str:
    """The budget flags (``budget_flags``: what the recommendation's caveats read, ``recommend._caveats``) of the cells a
    reading rests on, said beside it, so that a result a budget cut may have made is not read as the arms' merit: each
    flagged arm, the ``max_steps`` that cut its steps where one did, why its scores may understate it and at which
    sizes ("; note: linear-probe capped at 10 steps by max_steps and was still improving when its budget ran out at
    n = 64: its scores may understate it, so the gap may be the budget's (flags below)"), or "".

    Args:
        flagged: ``budget_flags`` of the runs.
        read: the cells the reading compares, each with whether it is the arm behind there (whose cut may be the gap).
    """
    behind = {(c.strategy, c.n): is_behind for c, is_behind in read}
    by_arm: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for f in flagged:
        if (f["strategy"], f["n"]) in behind and f["reason"] != "majority":  # learning nothing: ``_nothing`` reads it
            by_arm[f["strategy"]][f["reason"]].append(f)
    parts = []
    for arm, reasons in by_arm.items():
        fs = [f for group in reasons.values() for f in group]
        caps = sorted({f["capped"] for f in fs if f.get("capped")})
        capped_at = sorted({f["n"] for f in fs if f.get("capped")}, key=str)
        every = len(capped_at) == len({f["n"] for f in fs})
        cap = (f" capped at {caps[0]} steps by max_steps" if len(caps) == 1 else " capped by max_steps" if caps else "")
        cap += "" if every or not caps else f" at n = {', '.join(map(str, capped_at))}"
        what = "; ".join(f"{flags.reason_text(r, group[0].get('task'), short=True)} at n = {flagged_sizes(group)}"
                         for r, group in reasons.items())
        gap = any(behind[(arm, f["n"])] for f in fs)
        parts.append(f"{arm}{cap}{' and' if cap else ''} {what}: its scores may understate it"
                     + (", so the gap may be the budget's" if gap else "") + " (flags below)")
    return "".join(f"; note: {p}" for p in parts)


def _variants_chosen(table: dict[tuple[str, int | str], Cell], names: tuple[str, ...],
                     sign: float) -> tuple[dict[tuple[str, int | str], Cell], dict[str, list[str]]]:
    """``table`` with each of ``names`` one arm at every size: where a name ran as variants — ``full-finetune[tuned=yes]``
    beside ``full-finetune[tuned=no]``, an arm planned twice in one store — its variant best on validation at that
    size stands for it (a tie: the faster), as the head start chooses among scratch's; a variant with no validation
    score is chosen only where none has one (the reading then says that size is unread). Returns the table and, by
    name, its variants (empty where the name ran as itself)."""
    out, variants = dict(table), {}
    for name in names:
        kin = sorted({s for s, _ in table if "[" not in name and s.startswith(f"{name}[")})
        if not kin:
            continue
        kin = ([name] if any(s == name for s, _ in table) else []) + kin  # a plain run beside them is one more
        variants[name] = kin
        for n in sizes(table):
            runs = [table[(s, n)] for s in kin if (s, n) in table]
            if runs:
                out[(name, n)] = best_on_validation(runs, sign)
    return out, variants


def _variants_said(table: dict[tuple[str, int | str], Cell], variants: dict[str, list[str]], n: int | str | None,
                   on: str) -> str:
    """The crossover's note on arms that ran as variants: which ones it chose among, and which stands for each at
    ``n`` (the size its test comparison is at), or "" where every arm ran as itself."""
    parts = []
    for name, kin in variants.items():
        at = f" (at n = {format_n(n, table[(name, n)].n_actual)}: {table[(name, n)].strategy})" if (name, n) in table else ""
        parts.append(f"{name} is {kin[0]}" if len(kin) == 1 else
                     f"{name} is, at each size, whichever of its {len(kin)} arms ({', '.join(kin)}) is best on {on}{at}")
    return "".join(f"; {p}" for p in parts)


def _nothing(results: list[RunResult], metric: str, better_high: bool) -> tuple[Any, str]:
    """``recommend.nothing_learned`` of ``results``, and the reference line in words ("the majority-class rate")."""
    ref = reference(results, validation_metric(metric) or metric) or {}
    line = REFERENCE_WORDS.get(ref.get("label", "majority class"), REFERENCE_WORDS["majority class"])[1]
    return nothing_learned(budget_flags(results), ref, metric, better_high), line


def _unread(table: dict[tuple[str, int | str], Cell], a: str, b: str) -> str:
    """The sizes the crossover cannot read, said rather than dropped: one of the two has no finished run there (a
    sweep stopped early), or no validation score to compare on."""
    other, parts = {a: b, b: a}, []
    alone = [f"{format_n(m, table[(s, m)].n_actual)} ({s} only)" for m in sizes(table) if m != 0
             for s in (a, b) if (s, m) in table and (other[s], m) not in table]
    if alone:
        parts.append(f"not read at n = {', '.join(alone)}: one of the two has no finished run there")
    blind = [f"{format_n(m, table[(a, m)].n_actual)} ({', '.join(s for s in (a, b) if not table[(s, m)].has_validation)})"
             for m in sizes(table) if (a, m) in table and (b, m) in table
             and not (table[(a, m)].has_validation and table[(b, m)].has_validation)]
    if blind:
        parts.append(f"not read at n = {', '.join(blind)}: no validation score stored there to compare on")
    return "".join(f"; {p}" for p in parts)
