"""``report.md`` of ``headstart multitask``: each task's score alone and under each weighting, the paired differences,
negative transfer in words, and the learned task weights (a pure function of ``analysis.multitask``'s rows)."""

from __future__ import annotations

from typing import Any

from headstart.analysis.cell_stats import signed_points
from headstart.analysis.multitask import BELOW, NO_INTERVAL, covers
from headstart.analysis.stats import missing_ci_text, range_text
from headstart.report.mdtext import md_fence, md_text

SINGLE = "single-task"


def _value(metric: str, x: float) -> str:
    return f"{100 * x:.1f}" if metric == "accuracy" else f"{x:.3f}"


def _unit(metric: str) -> str:
    return "accuracy, %" if metric == "accuracy" else f"{metric}, lower is better"


def _cell(metric: str, cell: dict[str, Any] | None) -> str:
    """A score and its interval, ``"91.0 (86.2–95.8)"``, or why it has none (``stats.range_text``)."""
    if not cell:
        return "–"
    return f"{_value(metric, cell['mean'])} ({range_text(cell, lambda v: _value(metric, v), joiner='–')})"


def signed_text(metric: str, x: float) -> str:
    """A difference as the report and ``headstart multitask``'s lines write it: accuracy in points (``+1.2``, more
    decimals where one would read a non-zero difference as 0.0: ``cell_stats.signed_points``), else ``+0.123``."""
    return signed_points(100 * x) if metric == "accuracy" else f"{x:+.3f}"


def difference_text(metric: str, cell: dict[str, Any]) -> str:
    """A difference and its interval, ``"-20.0 (-27.1 to -12.9)"`` (with the one-seed caveat), or why it has none."""
    return f"{signed_text(metric, cell['mean'])} ({range_text(cell, lambda v: signed_text(metric, v), joiner=' to ')})"


def _difference(metric: str, cell: dict[str, Any] | None) -> str:
    if not cell:
        return "–"
    return f"{difference_text(metric, cell)}: {reading_text(cell)}"


ON_ONE_SEED = "on one seed"  # beside a verdict whose interval is over the test rows alone


def reading_text(cell: dict[str, Any]) -> str:
    """A difference's reading as said: a verdict that one seed's test rows carry says so ("negative transfer on one
    seed"): another seed may train otherwise, and its interval holds none of that (its ``caveat``)."""
    one = bool(cell.get("caveat")) and cell["reading"] in ("negative transfer", "multi-task helps")
    return f"{cell['reading']} {ON_ONE_SEED}" if one else cell["reading"]


def interval_words(analysis: dict[str, Any]) -> str:
    """What the report's intervals carry, true of every cell shown: over seeds and test rows, or over the test rows
    alone where one seed ran (``analysis.multitask.covers``)."""
    if _one_seed(analysis):
        return ("in brackets a 95% interval over its test rows alone (their sampling error, not how another seed trains; "
                "--seeds 3 or more adds that)")
    if _kinds(analysis) - {"none"} <= {"seeds and test rows"}:  # a cell with none says why itself
        return "95% interval over seeds and test rows in brackets"
    return ("95% interval over seeds and test rows in brackets (over the test rows alone where one seed ran, over seeds "
            "alone where the test rows could not be resampled)")


def _cells(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in analysis["tasks"] for c in (row.get("single"), *row["multi"].values(), *row["difference"].values()) if c]


def _kinds(analysis: dict[str, Any]) -> set[str]:
    return {covers(c) for c in _cells(analysis)}


def _one_seed(analysis: dict[str, Any]) -> bool:
    """Every cell is of one seed (a cell with no interval, whose seeds all agreed, is not)."""
    return all(c.get("pairs", len(c.get("seeds") or ())) < 2 for c in _cells(analysis))


def _weights_over(weights: dict[str, Any]) -> str:
    """What the learned-weights table's values are over: one seed's run, or the mean of each weighting's runs."""
    runs = {entry.get("runs") for entry in weights.values()}
    if runs == {1}:
        return "of one seed's run"
    if None in runs or len(runs) > 1:
        return "mean over each weighting's seeds"
    return f"mean over {runs.pop()} seeds"


def multitask_markdown(analysis: dict[str, Any], *, tasks: list[str], weightings: list[str], notes: list[str],
                       command: str | None = None) -> str:
    """The report as markdown, ending with ``command``, the command that wrote it (under "Produced by": run again, it
    re-renders the report and trains nothing stored)."""
    lines = [f"# Multi-task learning: {', '.join(md_text(t) for t in tasks)}", ""]
    lines += [f"- {md_text(note)}" for note in notes] + [""]
    lines += ["## Each task's test score", "",
              f"{'One seed' if _one_seed(analysis) else 'Mean over seeds'}; {interval_words(analysis)}; the reference is a constant predictor of "
              "the task's training pool (its majority class, or its mean for a regression).", "",
              "| task (metric) | reference | " + " | ".join([SINGLE, *weightings]) + " |", "|---" * (3 + len(weightings)) + "|"]
    for row in analysis["tasks"]:
        metric = row["metric"]
        reference = _value(metric, row["reference"]) if "reference" in row else "–"
        cells = [reference, _cell(metric, row.get("single")), *(_cell(metric, row["multi"].get(w)) for w in weightings)]
        lines.append(f"| {md_text(row['task'])} ({_unit(metric)}; {row['test_rows']} test rows) | " + " | ".join(cells) + " |")
    lines += ["", "## Multi-task − single-task, paired by seed", "",
              "The same seeds, training rows, head initialisation and budget in both; accuracy in points, RMSE in its "
              "units (a negative RMSE difference is multi-task doing better); " + interval_words(analysis).replace("its test", "the test")
              + ".", "",
              "| task (metric) | " + " | ".join(weightings) + " |", "|---" * (1 + len(weightings)) + "|"]
    for row in analysis["tasks"]:
        metric = row["metric"]
        lines.append(f"| {md_text(row['task'])} ({metric}) | " + " | ".join(_difference(metric, row["difference"].get(w))
                                                                          for w in weightings) + " |")
    lines += ["", "## In words", ""] + _words(analysis, weightings)
    if analysis.get("weights"):
        lines += ["", "## Learned weights", "",
                  f"Each task's weight on its loss at the chosen checkpoint, {_weights_over(analysis['weights'])} (equal: 1 each; uncertainty: "
                  "c·exp(−s), c = ½ for a regression; gradnorm: w, summing to the number of tasks).", "",
                  "| weighting | " + " | ".join(md_text(t) for t in tasks) + " |", "|---" * (1 + len(tasks)) + "|"]
        for w, entry in analysis["weights"].items():
            lines.append(f"| {w} | " + " | ".join(f"{entry['weights'].get(t, float('nan')):.3f}" for t in tasks) + " |")
            if "log_vars" in entry:
                lines.append(f"| {w}: log-variance s | " + " | ".join(f"{entry['log_vars'].get(t, float('nan')):+.3f}" for t in tasks) + " |")
    if analysis.get("seconds"):
        lines += ["", "Mean training wall time a run: " + ", ".join(f"{label} {s:.0f} s" for label, s in analysis["seconds"].items()) + "."]
    if command:
        lines += ["", "## Produced by", "", md_fence(command)]
    return "\n".join(lines) + "\n"


def _words(analysis: dict[str, Any], weightings: list[str]) -> list[str]:
    """One line per finding: negative transfer first, then gains, then what showed no difference."""
    negative, helped, none, unread, unmeasured = [], [], [], [], []
    one_seed = False  # a verdict stands on one seed's test rows: said once, after the verdicts
    for row in analysis["tasks"]:
        metric = row["metric"]
        for w in weightings:
            cell = row["difference"].get(w)
            if not cell:
                continue
            gain = cell["gain"]
            amount = (f"{abs(100 * gain['mean']):.1f} points {'lower' if gain['mean'] < 0 else 'higher'} accuracy" if metric == "accuracy"
                      else f"RMSE {abs(gain['mean']):.3f} {'higher' if gain['mean'] < 0 else 'lower'}")
            where = f"{md_text(row['task'])} under {w}"
            one = reading_text(cell) != cell["reading"]
            one_seed |= one
            said = f" {ON_ONE_SEED}" if one else ""
            if cell["reading"] == "negative transfer":
                negative.append(f"- **Negative transfer{said}**: {where}: {amount} than trained alone "
                                f"(difference {difference_text(metric, cell)}).")
            elif cell["reading"] == "multi-task helps":
                helped.append(f"- Multi-task helps {where}{said}: {amount} than trained alone "
                              f"(difference {difference_text(metric, cell)}).")
            elif cell["reading"] == NO_INTERVAL:  # neither a difference shown nor none: nothing to read
                unmeasured.append(f"{where} ({missing_ci_text(cell)})")
            elif cell["reading"] == BELOW:
                unread.append(where)
                helped.append(f"- {where}: {amount} than trained alone, but neither beats the constant reference: "
                              "no transfer to read at this budget.")
            else:
                none.append(where)
    # a difference between two scores that never beat the constant reference is no transfer either way (BELOW)
    read = len(unread) < sum(1 for row in analysis["tasks"] for w in weightings if row["difference"].get(w))
    if negative:
        lines = negative
    elif unread and not read:
        lines = ["- No transfer can be read either way: no task's scores beat the constant reference (below)."]
    else:
        lines = [("- No negative transfer shown" + (f" where it can be read (not {', '.join(unread)}: their scores do not "
                                                     "beat the constant reference, below)" if unread else "")
                  + ": no task's multi-task score is below its single-task score with the whole interval"
                  + (" among the tasks whose scores beat the constant reference." if unread else "."))]
    lines += helped
    if one_seed or ((negative or helped) and analysis.get("capped")):
        lines.append("- " + md_text(verdict_caveat(analysis, one_seed=one_seed)))
    if none:
        lines.append(f"- No difference shown (the interval spans 0): {', '.join(none)}.")
    if unmeasured:
        lines.append(f"- No interval to read a difference from: {'; '.join(unmeasured)}.")
    for row in analysis["tasks"]:
        single, reference, metric = row.get("single"), row.get("reference"), row["metric"]
        if single is None or reference is None:
            continue
        beaten = single["mean"] < reference if row["lower_is_better"] else single["mean"] > reference
        if not beaten:
            lines.append(f"- {md_text(row['task'])} trained alone ({_value(metric, single['mean'])}) does not beat the constant reference "
                         f"({_value(metric, reference)}) on {metric}: at this budget it learned nothing a constant does not "
                         "know, so its differences say little about transfer.")
    return lines


def budget_note(analysis: dict[str, Any]) -> str | None:
    """The budget as run (``budgets.budget_text``: steps, the rule and any ``max_steps`` cap, rates), one line for every
    run when they ran the same; None for runs stored before their budget was recorded."""
    budget = analysis.get("budget") or {}
    if not budget:
        return None
    if len(set(budget.values())) == 1:
        return f"Budget as run, every run (alone and under each weighting): {next(iter(budget.values()))}."
    return "Budget as run: " + "; ".join(f"{label}: {text}" for label, text in budget.items()) + "."


def verdict_caveat(analysis: dict[str, Any], *, one_seed: bool) -> str:
    """What qualifies a verdict read above: one seed (its interval holds the test rows' sampling error, not another
    seed's training) and a budget that ``max_steps`` cut short of what the epochs / ``min_steps`` asked. Plain text:
    ``md_text`` it for Markdown."""
    parts = []
    if one_seed:
        parts.append("these verdicts stand on one seed: their intervals cover its test rows alone, and another seed may "
                     "train otherwise, so --seeds 3 or more before relying on them")
    if analysis.get("capped"):
        budget = analysis.get("budget") or {}
        shown = next(iter(budget.values())) if len(set(budget.values())) == 1 else "; ".join(f"{k}: {v}" for k, v in budget.items())
        parts.append(f"the runs trained a budget that max_steps cut ({shown}): a run trained to its rule may "
                     "read otherwise")
    return "Caveat: " + "; ".join(parts) + "."
