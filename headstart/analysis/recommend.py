"""The recommendation: which strategy to use at each labelled-set size, decided on validation, quoted on test."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from headstart.analysis import flags
from headstart.analysis.cell_stats import cell_interval, delta_text, improvement, paired_cell, paired_over, signed_points
from headstart.analysis.cells import (BASELINE, CONFIDENCE, MARGIN_POINTS, MARGIN_RELATIVE, MIN_PAIRS, Cell,
                                      choice_order, choice_source, choosable, chosen_on, budget_flags, cells, counts, reference, REFERENCE_WORDS, sizes,
                                      tie_text)
from headstart.analysis.stats import missing_ci_text
from headstart.analysis.units import format_n, is_percent, resolve_direction, scale, validation_metric
from headstart.analysis.withheld import withheld_fix
from headstart.errors import ConfigError
from headstart.results import RunResult


# The validation interval of (best − cheaper) is over seeds alone: runs keep their validation scores, not their
# validation predictions, so the validation rows cannot be resampled as the test rows are.
VAL_SEEDS_ONLY = "over seeds only: the validation rows' sampling error is not in it"


# The store keeps each run's wall time (``train_seconds``), not its CPU time: what "cheaper" compares, said beside it.
WALL_TIME = ("wall time: the seconds each arm took to train on the machine that ran it, which a busy machine moves (runs "
             "store no CPU time)")


def _times(slow: float, fast: float) -> str:
    ratio = slow / fast if fast > 0 else math.inf
    return f"{ratio:.0f}×" if 10 <= ratio < math.inf else (f"{ratio:.1f}×" if ratio < math.inf else "much")


def _wall_time(group: list[dict[str, Any]]) -> str:
    """``"; wall time: the seconds ..."`` where the band calls an arm cheaper than another (a pick chosen as cheaper at
    any of its sizes, or a cheaper arm named as inconclusive: ``_band_text``, ``_later_sizes``), else ""."""
    compared = any(p["reason"] == "cheaper" for p in group) or group[0].get("undecided")
    return f"; {WALL_TIME}" if compared else ""


def _units(metric: str) -> str:
    return "points" if is_percent(metric) else metric


def _seconds(t: float) -> str:
    return f"{t:.0f} s" if t >= 10 else f"{t:.2g} s"


def _params(k: int) -> str:
    return next((f"{k / d:.3g}{u}" for d, u in ((1e9, "B"), (1e6, "M"), (1e3, "k")) if k >= d), str(k))


def margin(metric: str, best_mean: float, points: float | None = None) -> float:
    """How far (display units, ``scale``) a cheaper strategy may trail the best and still replace it:
    ``points`` (default ``MARGIN_POINTS``) for percent-like metrics, ``MARGIN_RELATIVE`` of the best mean otherwise
    (``points`` / 100 of it when given)."""
    if is_percent(metric):
        return MARGIN_POINTS if points is None else points
    return (MARGIN_RELATIVE if points is None else points / 100) * abs(best_mean) * scale(metric)


def _number(value: float, metric: str) -> str:
    """A score as the rest of the report writes it: points to one decimal for a share ("51.0"), else 3 significant
    digits ("0.311"); no unit (``_score``, ``_score_text`` add it)."""
    return f"{value * 100:.1f}" if scale(metric) == 100.0 else f"{value:.3g}"


def _score(value: float, metric: str) -> str:
    """``_number`` with the % a share's score carries in the report ("51.0%")."""
    return _number(value, metric) + ("%" if scale(metric) == 100.0 else "")


def _score_text(value: float, ci: dict[str, Any], metric: str) -> str:
    fmt = (lambda v: _number(v, metric))
    unit = "%" if scale(metric) == 100.0 else ""
    if ci.get("no_interval"):
        return f"{fmt(value)}{unit} (no interval: {ci['no_interval']})"
    if ci["p_value"] is None and ci["row_se"] is None:
        return f"{fmt(value)}{unit}"
    return f"{fmt(value)}{unit} (CI {fmt(ci['ci_low'])}–{fmt(ci['ci_high'])})"


def val_mean(cell: Cell) -> float | None:
    """``cell``'s validation mean over the seeds that have one, or None."""
    return math.fsum(cell.val_by_seed.values()) / len(cell.val_by_seed) if cell.has_validation else None


def _pick(table: dict[tuple[str, int | str], Cell], n: int | str, metric: str, better_high: bool,
          confidence: float, margin_points: float | None = None, floor: float | None = None) -> dict[str, Any] | None:
    """The strategy to use at size n, decided on validation: the best validation mean (on an exact tie the simpler arm,
    ``choice_order``, with the tied arms in ``tied``), or the cheapest strategy whose paired validation interval of (best − it), over seeds only (``VAL_SEEDS_ONLY``), lies
    below the margin (at least ``MIN_PAIRS`` seeds) and that beats ``floor`` (the majority class's validation score) on its validation mean. The test scores of what was picked are
    attached. None where nothing may be chosen (``choice_basis`` "none")."""
    sign = 1.0 if better_high else -1.0
    at_n = [c for (_, m), c in table.items() if m == n]
    here = sorted(choosable(at_n), key=lambda c: choice_order(c, sign))
    if not here:
        return None
    best, pick, versus = here[0], here[0], []
    tied = [c for c in here[1:] if c.choice_score(sign) == best.choice_score(sign)]  # ranked below it by simplicity alone
    allowed = margin(metric, best.choice_score(sign) * sign, margin_points)  # on validation, never test
    equivalence, undecided = None, None
    def beats_floor(cell: Cell) -> bool:
        mean = val_mean(cell)
        return floor is None or mean is None or sign * (mean - floor) > 1e-12

    for cheaper in sorted((c for c in here[1:] if c.train_seconds < best.train_seconds and beats_floor(c) and not any(c is t for t in tied)),
                          key=lambda c: c.train_seconds):
        diff = paired_cell(table, best.strategy, cheaper.strategy, n, confidence, split="val")
        if diff is None or diff["pairs"] < MIN_PAIRS:
            continue
        val = improvement(diff, metric, better_high)
        if val["has_ci"] and val["ci"][1] <= allowed + 1e-9:  # a zero-width interval shows no more than its mean
            pick = cheaper
            test = paired_cell(table, best.strategy, cheaper.strategy, n, confidence, metric=metric)
            equivalence = {"val": val, "test": None if test is None else improvement(test, metric, better_high), "margin": allowed,
                           "paired_over": paired_over(table, best.strategy, cheaper.strategy, n)}
            break
        if undecided is None and val["points"] <= allowed + 1e-9:
            undecided = {"strategy": cheaper.strategy, "train_seconds": cheaper.train_seconds, "val": val, "margin": allowed}
    if pick is best:
        others = [c for c in here[1:2] if c.strategy != BASELINE] + [c for c in here[1:] if c.strategy == BASELINE]
        for other in others:
            diff = paired_cell(table, best.strategy, other.strategy, n, confidence, metric=metric)
            if diff is not None:
                versus.append({"strategy": other.strategy, "train_seconds": other.train_seconds,
                               **improvement(diff, metric, better_high),
                               "paired_over": paired_over(table, best.strategy, other.strategy, n)})
    ci = cell_interval(pick, metric, confidence)
    seeds = {c.strategy: tuple(sorted(c.val_by_seed or c.by_seed)) for c in here if not c.deterministic}
    return {"n": n, "n_actual": best.n_actual, "strategy": pick.strategy, "best": best.strategy,
            "unequal_seeds": seeds if len(set(seeds.values())) > 1 else None,
            "best_val_mean": val_mean(best), "best_label_free": best.label_free,
            "reason": "best" if pick is best else "cheaper", "mean": ci["mean"], "ci": [ci["ci_low"], ci["ci_high"]],
            "score_text": _score_text(ci["mean"], ci, metric), "chosen_on": chosen_on(at_n), **choice_source(at_n),
            "label_free": pick.label_free,
            "train_seconds": pick.train_seconds, "feature_seconds": pick.feature_seconds, "best_seconds": best.train_seconds,
            "trainable_params": pick.trainable_params, "versus": versus,
            "equivalence": equivalence, "undecided": undecided if pick is best else None,
            "tied": [c.strategy for c in tied] if pick is best else []}


def label_free(table: dict[tuple[str, int | str], Cell]) -> dict[tuple[str, int | str], Cell]:
    """``table`` with each arm that ran only at size 0 (zero-shot, a prompted LM: it reads no labels) also standing at
    every larger size, as its size-0 runs: a user who holds n labels can still use it, so the advice at n weighs it."""
    free = [c for (s, n), c in table.items() if n == 0 and all(m == 0 for t, m in table if t == s)]
    out = dict(table)
    for n in sizes(table):
        held = [c.n_actual for (_, m), c in table.items() if m == n]
        for c in free if n != 0 else ():
            out[(c.strategy, n)] = dataclasses.replace(c, n=n, n_actual=max(held), label_free=True)
    return out


def _where(first: dict[str, Any], last: dict[str, Any], only: bool, is_first: bool, is_last: bool) -> str:
    lo, hi = format_n(first["n"], first["n_actual"]), format_n(last["n"], last["n_actual"])
    return ("at every size tried" if only else f"with all {first['n_actual']} labelled examples" if first["n"] == "all"
            else "with no labelled examples" if last["n"] == 0 else f"up to {hi} labelled examples" if is_first else f"from {lo} labelled examples" if is_last
            else f"{lo} to {hi} labelled examples" if lo != hi else f"at {lo} labelled examples")


def _paired_and_untold(v: dict[str, Any]) -> str:
    """A test difference's seeds (``paired_over``) and, where its interval includes 0, that test does not tell the two
    apart: one bracket, not two side by side ("..., the 2 both ran (lp's mean in the table is over 3; an interval
    that includes 0: ...)")."""
    paired = v.get("paired_over", "")
    if not _spans_zero(v):
        return paired
    untold = "an interval that includes 0: on test the two are not told apart"
    return f"{paired[:-1]}; {untold})" if paired.endswith(")") else f"{paired} ({untold})"


def _spans_zero(difference: dict[str, Any]) -> bool:
    """Whether a paired test difference's interval (it has one: two seeds or more) reaches both sides of 0."""
    low, high = difference["ci"]
    return bool(difference.get("has_ci", difference.get("pairs", 0) >= 2)) and low < 0 < high


def _features_text(first: dict[str, Any]) -> str:
    """The note after its seconds where the pick trained on the backbone's cached features ("3.9 s of it computing the
    backbone's features ..."): every arm that reads them counts them at what they cost to compute, as it would pay run
    alone, whichever arm computed them."""
    features = first.get("feature_seconds") or 0.0
    return (f" ({_seconds(features)} of it computing the backbone's features, counted for every arm that reads them)"
            if features else "")


def _band_text(first: dict[str, Any], where: str, metric: str, better_high: bool) -> str:
    name, at = first["strategy"], format_n(first["n"], first["n_actual"])
    if first.get("label_free") or first["n"] == 0:  # a head set from descriptions, or an LM asked in words: nothing learned
        cost = f"{_seconds(first['train_seconds'])} to set up, no weight learned from labels"
    else:
        cost = f"{_seconds(first['train_seconds'])} to train{_features_text(first)}, {_params(first['trainable_params'])} trainable parameters"
    on = first["chosen_on"]
    reads = "; it reads none of the labels: its n = 0 runs" if first.get("label_free") else ""
    if first["reason"] == "cheaper":
        eq, best = first["equivalence"], first["best"]
        units, allowed = _units(metric), eq["margin"]
        text = (f"{where}: {name} — {_times(first['best_seconds'], first['train_seconds'])} cheaper in wall time than {best}, the best "
                f"on {on}, and no worse by more than {allowed:.2g} {units} there ({best} − {name} on {on}: "
                f"{delta_text(eq['val'], metric, better_high)}, {eq['val']['pairs']} seeds, {VAL_SEEDS_ONLY}){reads}; {cost}; "
                f"test {first['score_text']} at n = {at}")
        test = eq["test"]
        if test is not None:
            inside = test.get("has_ci", True) and test["ci"][1] <= allowed + 1e-9
            text += (f"; on test {best} − {name}{eq.get('paired_over', '')}: {delta_text(test, metric, better_high)}, "
                     + ("inside the margin" if inside else f"an interval reaching past the {allowed:.2g}-{units} margin: "
                        "on test the evidence that it is no worse is inconclusive"))
        return text
    over = [f"{delta_text(v, metric, better_high)} over {v['strategy']}{_paired_and_untold(v)}" for v in first["versus"]]
    evidence = ("; on test " + ", ".join(over)) if over else ""
    tie = tie_text(first.get("tied") or [])
    text = f"{where}: {name} (best on {on}{tie}{reads}; test {first['score_text']} at n = {at}{evidence}; {cost})"
    other = first.get("undecided")
    if other:  # close on the mean, but the interval does not rule out a real loss: say so rather than pick it or hide it
        text += (f"; {other['strategy']} is {_times(first['train_seconds'], other['train_seconds'])} cheaper in wall time and trails on "
                 f"{on} by {delta_text(other['val'], metric, better_high).lstrip('+')} ({VAL_SEEDS_ONLY}): whether it is no worse than "
                 f"{other['margin']:.2g} {_units(metric)} behind is inconclusive; more seeds would tell")
    return text


def flagged_sizes(fs: list[dict[str, Any]]) -> str:
    """The sizes a flag fired at: "16, 64" when every seed there agrees; else each size with its own count, "16 (2 of 2
    seeds), 32 (1 of 2 seeds)", so that a count is never read as every size's. The recommendation's caveats and the
    readings' budget notes (``readings.budget_cut``) both say them so."""
    if all(f["count"] == f["runs"] for f in fs):
        return ", ".join(str(f["n"]) for f in fs)
    return ", ".join(f"{f['n']} ({f['count']} of {f['runs']} seed{'s' if f['runs'] != 1 else ''})" for f in fs)


def _caveats(group: list[dict[str, Any]], lost: list[dict[str, Any]], flagged: list[dict[str, Any]]) -> str:
    """Lost seeds and budget flags at the band's sizes, named so that no arm wins or loses silently on them."""
    at = {p["n"] for p in group}
    parts = []
    for c in lost:
        if c["n"] in at:
            gone = c["failed"] + c["diverged"]
            kinds = ", ".join(f"{c[k]} {k}" for k in ("diverged", "failed") if c[k])
            picked = any(p["strategy"] == c["strategy"] and p["n"] == c["n"] for p in group)
            total = gone + c["done"]
            parts.append(f"{c['strategy']} lost {gone} of {total} seed{'s' if total != 1 else ''} at n = {c['n']} ({kinds}"
                         + (f": {c['errors'][0]}" if c["errors"] else "") + ")"
                         + ("; it is recommended on the seeds that finished" if picked else ""))
    picked = {p["strategy"] for p in group}
    by_strategy: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for f in flagged:
        if f["n"] in at:
            by_strategy[f["strategy"]][f["reason"]].append(f)
    for strategy, reasons in by_strategy.items():
        what = "; ".join(f"{flags.reason_text(r, fs[0].get('task'), short=True)} at n = {flagged_sizes(fs)}"
                         for r, fs in reasons.items())
        if set(reasons) == {"majority"}:
            every = all(f["count"] == f["runs"] for f in reasons["majority"])
            verdict = ("within its budget it learned nothing there" if every else
                       "in those seeds it learned nothing within its budget")
        else:
            verdict = "its scores may understate it" + ("" if strategy in picked else ", so it may trail for want of budget, not of merit")
        parts.append(f"{strategy} {what}: {verdict} (flags below)")
    return "".join(f"; note: {p}" for p in parts)


def recommend(results: list[RunResult], metric: str = "accuracy", *, higher_is_better: bool | None = None,
              confidence: float = CONFIDENCE, margin_points: float | None = None) -> list[dict[str, Any]]:
    """Which strategy to use, by labelled-set size, in plain words; decided on validation, figures from test.

    At each size take the best validation mean (on an exact tie the simpler arm, said in the text: fewer objective
    terms, then fewer trainable parameters, then the name; never the train time); if a cheaper strategy (less train
    wall time: runs store no CPU time, and the text says so) trails it on validation by less than the margin with the
    whole paired interval (over seeds only: validation predictions are not stored, so its rows are not resampled, and
    the text says so; at least ``MIN_PAIRS`` seeds; 2 points, 2% for rmse-like
    metrics; ``margin_points`` changes it), take the cheapest such one. The test comparison of the pick is quoted and
    said to be inconclusive when its interval reaches past the margin. Seeds lost to failure or divergence and the
    budget flags (``flags.budget_flags``) at the band's sizes are named. Where the best arm on validation learned
    nothing (``nothing_learned``), no arm is recommended at that size. Consecutive sizes with the same pick merge into
    one band, unless it learned nothing at one and learned at the other; the band's text quotes the evidence at its
    first size.

    Returns:
        Bands ``{from_n, to_n, strategy, text, evidence}``, with ``learned_nothing: True`` where no arm is recommended;
        ``evidence`` holds the per-size picks with the paired comparisons (``versus``, ``equivalence``) and cost.
    """
    better_high = resolve_direction(metric, higher_is_better)
    table = label_free(cells(results, metric))
    if margin_points is not None and not (isinstance(margin_points, (int, float)) and 0 <= margin_points < math.inf):
        raise ConfigError(f"--margin must be a number of points >= 0, got {margin_points!r}; e.g. --margin 1")
    ref = reference(results, validation_metric(metric) or metric) or {}
    floor, floor_label = ref.get("val"), ref.get("label", "majority class")
    chosen = {n: _pick(table, n, metric, better_high, confidence, margin_points, floor) for n in sizes(table)}
    picks = [p for p in chosen.values() if p is not None]
    if table and not picks:  # no validation score of this metric: a choice would read test
        if not any(c.validated for c in table.values()):
            text = ("nothing chosen: these runs stored no validation scores (a store written before they were kept), and "
                    "choosing on test scores would not be honest; their figures stand in the table and curves; run the "
                    "sweep into a new --out for a recommendation")
        else:
            text = (f"nothing chosen on {metric}: no validation score measures it, and choosing on its test scores "
                    "would not be honest; its figures stand in the table and curves, and the recommendation on the "
                    "task's own metric (the report without --metric) is the one chosen on validation")
        return [{"from_n": None, "to_n": None, "strategy": None, "evidence": [], "nothing_chosen": True, "text": text}]
    tally = counts(results)
    lost = [c for c in tally if c["failed"] or c["diverged"]]
    done = {(c["strategy"], c["n"]): c["done"] for c in tally}
    flagged = budget_flags(results)
    # The best arm on validation learned nothing (``nothing_learned``), so none did. A label-free arm stands at every
    # size on its n = 0 runs, flagged there. (A cheaper pick never sits at or below that line: ``_pick`` passes over
    # such arms.)
    why_nothing = nothing_learned(flagged, ref, metric, better_high)
    sign = 1.0 if better_high else -1.0
    line = REFERENCE_WORDS.get(floor_label, REFERENCE_WORDS["majority class"])[1]

    def learned_nothing(p: dict[str, Any]) -> str:
        return why_nothing(p["best"], 0 if p["best_label_free"] else p["n"], p["best_val_mean"])

    # A size where the pick learned nothing never joins one where it learned: merged by strategy alone, a band of
    # n = 16 (nothing learned) and 32 recommended linear-probe at every size, quoting its n = 16 test score.
    groups: list[list[dict[str, Any]]] = []
    whys: list[list[str]] = []
    for p in picks:
        why = learned_nothing(p)
        if groups and groups[-1][-1]["strategy"] == p["strategy"] and bool(whys[-1][-1]) == bool(why):
            groups[-1].append(p)
            whys[-1].append(why)
        else:
            groups.append([p])
            whys.append([why])

    bands = []
    for i, (g, why) in enumerate(zip(groups, whys)):
        where = _where(g[0], g[-1], len(groups) == 1, i == 0, i == len(groups) - 1)
        text = (_band_text(g[0], where, metric, better_high) + _later_sizes(g, metric, better_high) + _absent(g, table, tally)
                + _unequal_seeds(g) + _few_seeds(g, done) + _wall_time(g) + _caveats(g, lost, flagged))
        empty = all(why)
        if not empty and (validation_metric(metric) or metric) == metric:  # the reference's test score is on this metric
            text += _not_above_on_test(g, ref.get("test"), line, metric, sign)
        if empty:
            fix = withheld_fix(g, why, flagged, table, last=i == len(groups) - 1)
            text = (f"{where}: no arm to recommend — the best on validation, {g[0]['best']}, {why[0]}, so none learned "
                    f"the task within its budget; {fix} before choosing. Its figures: {text[len(where) + 2:]}")
        bands.append({"from_n": g[0]["n"], "to_n": g[-1]["n"], "strategy": g[0]["strategy"], "evidence": g, "text": text,
                      **({"learned_nothing": True} if empty else {})})
    unchosen = [n for n, p in chosen.items() if p is None]
    if unchosen:  # said, not silently left out of the advice
        at = ", ".join(format_n(n, max(c.n_actual for (_, m), c in table.items() if m == n)) for n in unchosen)
        bands[-1]["text"] += (f"; n = {at} {'is' if len(unchosen) == 1 else 'are'} left out of this advice: no run "
                              f"there stored a validation score of "
                              f"{metric}, and a choice on test would not be honest")
        bands[-1]["unchosen"] = unchosen
    return bands


def nothing_learned(flagged: list[dict[str, Any]], ref: dict[str, Any], metric: str,
                    better_high: bool) -> Callable[[str, int | str, float | None], str]:
    """Why an arm learned nothing at a size, or "": it never beat the majority class (the pool's mean, for an error) on
    validation in any seed (``flagged``: ``flags.budget_flags``), or does not beat it on its validation mean. What the
    recommendation, the crossover and the head start all read, so that none of them calls an arm ahead of another
    where both learned nothing.

    Args:
        flagged: ``budget_flags`` of the runs.
        ref: ``reference`` on the validation metric (``{val, label}``), or ``{}``.
        metric: the metric read; better_high: its direction.

    Returns:
        ``why(strategy, n, val_mean) -> str``: the reason in words ("never beat the majority-class rate there in any
        seed"), "" where the arm learned something.
    """
    nothing = {(f["strategy"], f["n"]) for f in flagged if f["reason"] == "majority" and f["count"] == f["runs"]}
    floor = ref.get("val")
    line = REFERENCE_WORDS.get(ref.get("label", "majority class"), REFERENCE_WORDS["majority class"])[1]
    sign = 1.0 if better_high else -1.0

    def why(strategy: str, n: int | str, mean: float | None) -> str:
        if (strategy, n) in nothing:
            return f"never beat {line} there in any seed"
        if isinstance(floor, (int, float)) and mean is not None and sign * (mean - floor) <= 1e-12:
            shown = validation_metric(metric) or metric
            return (f"scores {_score(mean, shown)} on validation on average, no better than {line} "
                    f"({_score(floor, shown)})")
        return ""

    return why


def _not_above_on_test(group: list[dict[str, Any]], floor: float | None, line: str, metric: str, sign: float) -> str:
    """Where the pick, chosen above the reference line on validation, has a test mean no better than it: said, not
    acted on — test never chooses — with its interval, so that a pick whose validation lead did not hold on test is
    not read as a strategy that learned the task (full-finetune+l2sp at 53.6% beside a majority class of 54.2%). Only
    where the whole interval is on the wrong side is the lead said not to hold; else test cannot tell them apart."""
    if not isinstance(floor, (int, float)):
        return ""
    parts = []
    for p in group:
        mean, (low, high) = p.get("mean"), p.get("ci") or (None, None)
        if not isinstance(mean, (int, float)) or sign * (mean - floor) > 1e-12:
            continue
        at = f"; on test at n = {format_n(p['n'], p['n_actual'])} {p['strategy']} scores {_score(mean, metric)}"
        best_side = high if sign > 0 else low
        if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low != high:
            at += f" (CI {_number(low, metric)}–{_number(high, metric)})"
            could_be_above = sign * (best_side - floor) > 1e-12
        else:
            could_be_above = False
        ref = _score(floor, metric)
        parts.append(at + (f", not above {line} ({ref}): on test it cannot be told from it" if could_be_above else
                           f", no better than {line} ({ref}): its lead on validation did not hold there, so read "
                           "this pick with care"))
    return "".join(parts)


def _absent(group: list[dict[str, Any]], table: dict[tuple[str, int | str], Cell], tally: list[dict[str, Any]]) -> str:
    """The arms of the study with no finished run at a size of the band (a sweep stopped or still running, an arm not
    asked there): the choice there is among the others only, and a reader of "best on validation" should know."""
    arms = sorted({arm for arm, _ in table})
    waiting = {(c["strategy"], c["n"]): (c["running"], c["pending"]) for c in tally}
    parts = []
    for p in group:
        if p["n"] == 0:  # no labels: only the label-free arms run there, by design
            continue
        missing = [a for a in arms if (a, p["n"]) not in table]
        if missing:
            named = []
            for arm in missing:  # each arm's own state: one started and stopped, another never started
                started, planned = waiting.get((arm, p["n"]), (0, 0))
                said = [*([f"{started} started, not finished"] if started else []), *([f"{planned} not started"] if planned else [])]
                named.append(arm + (f" ({', '.join(said)})" if said else ""))
            parts.append(f"{', '.join(named)} {'has' if len(missing) == 1 else 'have'} no finished run at n = "
                         f"{format_n(p['n'], p['n_actual'])}, so the choice there is among the others")
    return "".join(f"; {part}" for part in parts)


def _unequal_seeds(group: list[dict[str, Any]]) -> str:
    """Where the arms at a size of the band ran on different seeds (a store grown by another compare, a sweep stopped
    early): their validation means, which the choice compares, average different draws, and one seed's luck can decide
    it; the paired differences quoted are over the seeds they share."""
    parts = []
    for p in group:
        if p.get("unequal_seeds"):
            shown = ", ".join(f"{arm} {len(s)} ({', '.join(map(str, s))})" for arm, s in p["unequal_seeds"].items())
            parts.append(f"the arms ran on different seeds at n = {format_n(p['n'], p['n_actual'])} ({shown}), so the "
                         "choice compares means over different draws; the paired differences are over the seeds they "
                         "share: run every arm on the same seeds to settle it")
    return "".join(f"; {part}" for part in parts)


def _few_seeds(group: list[dict[str, Any]], done: dict[tuple[str, int | str], int]) -> str:
    """Where the band's pick stands on two seeds, or a paired difference it quotes is over two shared seeds (the pick ran
    three, another arm two): its intervals span t(1) = 12.7 standard errors, so they decide little."""
    two = any(done.get((p["strategy"], p["n"])) == 2 for p in group)  # a label-free pick stands on its n = 0 runs: absent
    if not two and not any(v.get("pairs") == 2 for v in [*group[0]["versus"], *(v for _, v in _quoted_later(group))]):
        return ""
    return flags.asked("; note: on 2 seeds an interval spans 12.7 standard errors (t with 1 degree of freedom), so these "
                       "intervals decide little: --seeds 3 or more")


def _quoted_later(group: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The band's later sizes' test comparisons its text quotes beside its first size's: each one the pick trails, and
    each lead over an arm the first size had no comparison with (a label-free pick's band starts at n = 0, where no
    trained arm runs: its lead over linear-probe at n = 16 is quoted there, with its interval)."""
    first = {v["strategy"] for v in group[0]["versus"]}
    return [(p, v) for p in group[1:] for v in p["versus"] if v["points"] < 0 or v["strategy"] not in first]


def _leads_text(leads: list[tuple[dict[str, Any], dict[str, Any]]], metric: str, better_high: bool) -> str:
    """The pick's paired test leads over one arm at a band's later sizes, said once: the smallest size in full, each
    later one folded in with its own difference and interval ("at n = 16 on test +7.9 points (CI ...) over
    linear-probe, and at n = 32 +5.3 points (CI ...)"), and which of the intervals include 0."""
    (p, v), rest = leads[0], leads[1:]
    text = f"at n = {format_n(p['n'], p['n_actual'])} on test {delta_text(v, metric, better_high)} over {v['strategy']}"
    if not rest:
        return text + _paired_and_untold(v)
    text += v.get("paired_over", "") + "".join(
        f", and at n = {format_n(q['n'], q['n_actual'])} {delta_text(w, metric, better_high)}{w.get('paired_over', '')}"
        for q, w in rest)
    untold = [format_n(q["n"], q["n_actual"]) for q, w in leads if _spans_zero(w)]
    if len(untold) == len(leads):
        return text + " (intervals that include 0: on test the two are not told apart)"
    if untold:
        return text + f" (at n = {', '.join(untold)} an interval that includes 0: on test the two are not told apart there)"
    return text


def _later_sizes(group: list[dict[str, Any]], metric: str, better_high: bool) -> str:
    """Where, at a band's later sizes, the pick trails an arm on test, or leads one its first size was not compared
    with (the band's text quotes its first size's evidence; ``_quoted_later``)."""
    def gap(v: dict[str, Any]) -> str:  # the pick's shortfall, positive
        low, high = -v["ci"][1], -v["ci"][0]
        signed = signed_points if is_percent(metric) else (lambda x: f"{x:+.2g}")
        caveat = f"; {v['caveat']}" if v.get("caveat") else ""
        ci = (f" (CI {signed(low)} to {signed(high)}{caveat})" if v.get("has_ci", v["pairs"] >= 2)
              else f" ({missing_ci_text(v)})")
        return f"{signed(-v['points']).lstrip('+')} {_units(metric)}{ci}"

    quoted: list[str | tuple[str]] = []  # a lead's place is its arm, (name,): said once, at its first size, below
    leads: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}  # an arm the pick leads at sizes the first lacked
    for p, v in _quoted_later(group):
        if v["points"] < 0:
            quoted.append(f"at n = {format_n(p['n'], p['n_actual'])} it trails {v['strategy']} on test by {gap(v)}")
        else:
            if v["strategy"] not in leads:
                quoted.append((v["strategy"],))
            leads.setdefault(v["strategy"], []).append((p, v))
    parts = [_leads_text(leads[q[0]], metric, better_high) if isinstance(q, tuple) else q for q in quoted]
    for p in group[1:]:  # picked there as cheaper than the best, where the band's first size quotes another reason
        eq = p.get("equivalence")
        if p["reason"] != "cheaper" or eq is None or (group[0]["reason"] == "cheaper" and group[0]["best"] == p["best"]):
            continue
        name, best, on = p["strategy"], p["best"], p["chosen_on"]
        parts.append(f"at n = {format_n(p['n'], p['n_actual'])} {best} is the best on {on} and {name} "
                     f"{_times(p['best_seconds'], p['train_seconds'])} cheaper in wall time, no worse by more than {eq['margin']:.2g} "
                     f"{_units(metric)} there ({best} − {name}: {delta_text(eq['val'], metric, better_high)}, "
                     f"{eq['val']['pairs']} seeds, {VAL_SEEDS_ONLY})"
                     + (f"; on test {best} − {name}{eq.get('paired_over', '')}: {delta_text(eq['test'], metric, better_high)}"
                        if eq["test"] is not None else ""))
    return "".join(f"; {part}" for part in parts)


