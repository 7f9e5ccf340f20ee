"""Domain adaptation in numbers (``headstart adapt``): each method's accuracy on the target's test split, what it adds
over the source-only model paired by seed, and the share of the source-only → oracle gap it closes.

Methods are read from the source experiment's out-of-domain scores (``analysis.ood``): an arm trained on the source
(source-only, an alignment term, another strategy) scored on the target, or the source-only arm scored after a
test-time adaptation ("TARGET after tent"). The oracle — the same strategy trained on the target's own labels — is the
ceiling only: its in-domain test score on the target (``curves`` of the oracle experiment). Selection never reads the
target's test labels: each run chooses on its own (source) validation split.

Every row carries the floor too: the share of the target's test rows in their most frequent class (what always
answering it scores). A method at or below it, or one that answered a single class for every target row (tent's
entropy minimum is one confident class), is flagged: its gain over source-only is then the class balance, not
adaptation.
"""

from __future__ import annotations

from typing import Any

from headstart.analysis.cell_stats import curves
from headstart.analysis.cells import CONFIDENCE
from headstart.analysis.flags import SHORT
from headstart.analysis.ood import first_rows, ood_groups, seed_mean_draws
from headstart.analysis.stats import agreed_difference, difference_range, interval, kept, metric_range, one_seed, score_cover
from headstart.metrics import one_class
from headstart.results import RunResult, term_estimates

FLAGS = {"majority": "at or below the majority-class rate",  # a row's flag codes, as the summary names them
         "one-class": "one class answered for every target row",
         "budget": "under-trained on the source"}
UNDER = ("improving", "slow", "unchecked")  # analysis.flags reasons that say a run's budget or rate held it back


def adaptation_rows(source_runs: list[RunResult], oracle_runs: list[RunResult], *, methods: dict[str, tuple[str, str]],
                    baseline: str, metric: str = "accuracy", confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """One row per (method, requested size).

    Args:
        source_runs: the runs trained on the source, scored on the target (``with_arms`` labels set).
        oracle_runs: the baseline strategy trained on the target's labels (may be empty: no ceiling).
        methods: ``{method: (arm label, where)}`` — which arm's which out-of-domain score is the method
            (``where``: the target's name, or "TARGET after tent").
        baseline: the method every other is compared with (``"source-only"``).

    Returns:
        Rows ``{method, n, mean, ci_low, ci_high, seeds, over_baseline, gap_closed, oracle, majority, one_class, flags,
        estimates, notes}``: ``over_baseline`` is the
        paired difference ``{mean, ci_low, ci_high, p_value, significant, pairs}`` over seeds and the target's test
        rows (the same rows for both), None for the baseline, on one shared seed never significant (``caveat``:
        ``stats.one_seed``); a score, difference or oracle whose seeds and resamples all agreed carries ``no_interval``
        (why it has none, as ``stats.interval``); ``gap_closed`` is (method − baseline) / (oracle −
        baseline) on the means, None without an oracle or when the oracle's interval reaches down to the baseline's mean;
        ``majority`` the share of the target's test rows in their most frequent class (None where the scores do not
        say: regression, another metric); ``one_class`` how many seeds answered one class for every target test row;
        ``flags`` the codes of ``FLAGS`` that apply (``flag_text`` words them);
        ``estimates`` what the method's terms estimated before training, mean over seeds (``estimates``); ``notes``
        the scores' own notes, each once (a label mapping, how a test-time adaptation treated BatchNorm).
    """
    groups = ood_groups(source_runs, metric)
    ceiling = {row["n"]: row for row in curves(oracle_runs, metric, confidence=confidence)} if oracle_runs else {}
    base_arm, base_where = methods[baseline]
    sizes = sorted({n for (arm, n, where) in groups if (arm, where) == (base_arm, base_where)}, key=lambda n: (isinstance(n, str), n))
    rows = []
    for n in sizes:
        reference = groups[(base_arm, n, base_where)]
        for method, (arm, where) in methods.items():
            by_seed = groups.get((arm, n, where))
            if not by_seed:
                continue
            seeds = sorted(by_seed)
            found = [by_seed[s][1] for s in seeds]
            values = [float(f["metrics"][metric]) for f in found]
            ci = interval(values, seed_mean_draws(metric, [f.get("rows") or {} for f in found], seed=1), confidence,
                          bounds=metric_range(metric),
                          cover=score_cover(metric, sum(values) / len(values), found[0].get("test_rows"),
                                            *first_rows(found), confidence))
            over = None
            if method != baseline:
                shared = [s for s in seeds if s in reference]
                if shared:
                    mine, theirs = [by_seed[s][1] for s in shared], [reference[s][1] for s in shared]
                    a = seed_mean_draws(metric, [f.get("rows") or {} for f in mine], seed=1)
                    b = seed_mean_draws(metric, [f.get("rows") or {} for f in theirs], seed=1)
                    diff = interval([float(x["metrics"][metric]) - float(y["metrics"][metric]) for x, y in zip(mine, theirs)],
                                    a - b if a is not None and b is not None else None, confidence,
                                    bounds=difference_range(metric))
                    agreed = a is not None and b is not None and all(
                        (x.get("rows") or {}).get("predicted") == (y.get("rows") or {}).get("predicted") for x, y in zip(mine, theirs))
                    diff = agreed_difference(one_seed(diff, len(shared)), metric, len(first_rows(mine)[1]) if agreed else None,
                                             confidence)
                    over = kept(diff, ("mean", "ci_low", "ci_high", "p_value", "significant", "pairs"))
            oracle = ceiling.get(n)
            base_mean = sum(float(reference[s][1]["metrics"][metric]) for s in reference) / len(reference)
            gap = None
            # a share of a gap only where there is one: the oracle's interval lies above the baseline's mean (a gap of a
            # point inside the noise made "closes -5264%" of it)
            above = oracle is not None and (oracle["ci_low"] if oracle.get("ci_low") is not None else oracle["mean"]) > base_mean
            if above:
                gap = (ci["mean"] - base_mean) / (oracle["mean"] - base_mean)
            majority = majority_share(found) if metric == "accuracy" else None
            one_class = sum(_one_class(f.get("rows") or {}) for f in found)
            under = under_trained([by_seed[s][0] for s in seeds])
            flags = [code for code, on in (("majority", majority is not None and ci["mean"] <= majority + 1e-9),
                                           ("one-class", one_class > 0), ("budget", bool(under))) if on]
            rows.append({"method": method, "n": n, "mean": ci["mean"], **kept(ci, ("ci_low", "ci_high")),
                         "seeds": len(seeds), "over_baseline": over, "gap_closed": gap,
                         "oracle": None if oracle is None else kept(oracle, ("mean", "ci_low", "ci_high", "seeds")),
                         "majority": majority, "one_class": one_class, "flags": flags, "under_trained": under,
                         "estimates": estimates([by_seed[s][0] for s in seeds]),
                         "notes": list(dict.fromkeys(f["note"] for f in found if f.get("note")))})
    return rows


def under_trained(runs: list[RunResult]) -> dict[str, int] | None:
    """``{reason: seeds}`` when at least half of the seeds' source runs carry a budget flag (``analysis.flags``: still
    improving, learned late, validated once), as the compare report counts a cell; else None."""
    from headstart.analysis.flags import run_flags

    reasons = [set(run_flags(r)) & set(UNDER) for r in runs]
    if not runs or sum(bool(r) for r in reasons) * 2 < len(runs):
        return None
    return {reason: sum(reason in r for r in reasons) for reason in UNDER if any(reason in r for r in reasons)}


def majority_share(found: list[dict[str, Any]]) -> float | None:
    """The share of the target's test rows in their most frequent class, as the scores recorded it (``majority``; the
    same rows for every seed), or None where none recorded it (a regression, a store written before it was kept)."""
    shares = [float(f["majority"]) for f in found if isinstance(f.get("majority"), (int, float))]
    return sum(shares) / len(shares) if shares else None


def _one_class(rows: dict[str, Any]) -> bool:
    """Whether a score's predictions (``rows["predicted"]``, class indices) are one class for every row."""
    return one_class(rows.get("predicted") or []) is not None


def flag_text(row: dict[str, Any]) -> str | None:
    """What the flags on an ``adaptation_rows`` row mean for reading its score, and what to try, in one sentence; None
    without flags. What to try names the CLI's flags (``--sizes``) on the CLI and ``adapt``'s arguments (``sizes``)
    from Python (``_asked``)."""
    flags = row.get("flags") or ()
    found = []
    if "majority" in flags:
        found.append(f"{100 * row['mean']:.1f}% on the target, at or below the {100 * row['majority']:.1f}% that always "
                     "answering the target's most frequent class scores")
    if "one-class" in flags:
        found.append(f"one class answered for every target test row in {row['one_class']} of {row['seeds']} seed(s)")
    said = "; ".join(f"{SHORT[reason]} in {count} of {row['seeds']} seed(s)"
                     for reason, count in (row.get("under_trained") or {}).items())
    if "budget" in flags and not found:  # trained too little on the source: the score may understate the method
        return _asked(f"{row['method']} (n = {row['n']}): on the source it {said}, so its target score may understate it; "
                      "re-run with more steps (--min-steps, --max-steps) or --tune")
    if not found:
        return None
    if "majority" in flags:
        verdict = "no better on the target than that constant answer" + (
            ", whatever its gain over source-only" if row.get("over_baseline") else "")
    else:
        verdict = "a score there is that class's share, not adaptation"
    if row["method"].startswith("tent") and "one-class" in flags:  # an entropy minimum is one confident class
        advice = ("entropy minimisation rewards confident answers, and one class for every row is the most confident; "
                  + ("compare tent-episodic (each batch adapted alone), or " if row["method"] == "tent" else "")
                  + "give the source model more labelled examples (--sizes)")
    else:
        advice = "try more labelled source examples (--sizes), more steps (--max-steps) or --tune"
    if "budget" in flags:
        advice += f" (on the source it {said})"
    return _asked(f"{row['method']} (n = {row['n']}): {' and '.join(found)}; {verdict}; {advice}")


def _asked(text: str) -> str:
    """``text`` as the caller of ``adapt`` asks: its flags on the CLI; from Python, ``adapt``'s arguments and its
    config's fields, as ``python_checks.python_named`` writes a public function's errors (``--tune`` is ``tune='lr'``)."""
    from headstart.python_checks import config_fields
    from headstart.surface import on_cli, python_names

    return text if on_cli() else python_names(text.replace("--tune", "--tune lr"), {"sizes", "tune"} | config_fields())


def estimates(runs: list[RunResult]) -> dict[str, dict[str, float]]:
    """What the runs' terms estimated before training (``results.term_estimates``, e.g. importance's domain classifier
    accuracy and effective sample size), averaged over seeds."""
    found: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        for term, values in term_estimates(r).items():
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    found.setdefault(term, {}).setdefault(key, []).append(float(value))
    return {term: {key: sum(v) / len(v) for key, v in values.items()} for term, values in found.items()}
