"""``report.md`` of ``headstart multitask``: each task's score alone and under each weighting, the paired differences,
negative transfer in words, and the learned task weights (a pure function of ``analysis.multitask``'s rows)."""

from __future__ import annotations

from typing import Any

from headstart.analysis.multitask import BELOW, no_interval
from headstart.report.markdown import md_text

SINGLE = "single-task"


def _value(metric: str, x: float) -> str:
    return f"{100 * x:.1f}" if metric == "accuracy" else f"{x:.3f}"


def _unit(metric: str) -> str:
    return "accuracy, %" if metric == "accuracy" else f"{metric}, lower is better"


def _cell(metric: str, cell: dict[str, Any] | None) -> str:
    if not cell:
        return "–"
    if no_interval(cell):
        return f"{_value(metric, cell['mean'])} (one seed)"
    return f"{_value(metric, cell['mean'])} ({_value(metric, cell['ci_low'])}–{_value(metric, cell['ci_high'])})"


def _signed(metric: str, x: float) -> str:
    return f"{100 * x:+.1f}" if metric == "accuracy" else f"{x:+.3f}"


def _difference(metric: str, cell: dict[str, Any] | None) -> str:
    if not cell:
        return "–"
    span = "" if no_interval(cell) else f" ({_signed(metric, cell['ci_low'])} to {_signed(metric, cell['ci_high'])})"
    return f"{_signed(metric, cell['mean'])}{span}: {cell['reading']}"


def multitask_markdown(analysis: dict[str, Any], *, tasks: list[str], weightings: list[str], notes: list[str]) -> str:
    """The report as markdown."""
    lines = [f"# Multi-task learning: {', '.join(md_text(t) for t in tasks)}", ""]
    lines += [f"- {md_text(note)}" for note in notes] + [""]
    lines += ["## Each task's test score", "",
              "Mean over seeds, 95% interval over seeds and test rows in brackets; the reference is a constant predictor of "
              "the task's training pool (its majority class, or its mean for a regression).", "",
              "| task (metric) | reference | " + " | ".join([SINGLE, *weightings]) + " |", "|---" * (3 + len(weightings)) + "|"]
    for row in analysis["tasks"]:
        metric = row["metric"]
        reference = _value(metric, row["reference"]) if "reference" in row else "–"
        cells = [reference, _cell(metric, row.get("single")), *(_cell(metric, row["multi"].get(w)) for w in weightings)]
        lines.append(f"| {md_text(row['task'])} ({_unit(metric)}; {row['test_rows']} test rows) | " + " | ".join(cells) + " |")
    lines += ["", "## Multi-task − single-task, paired by seed", "",
              "The same seeds, training rows, head initialisation and budget in both; accuracy in points, RMSE in its "
              "units (a negative RMSE difference is multi-task doing better). 95% interval over seeds and test rows.", "",
              "| task (metric) | " + " | ".join(weightings) + " |", "|---" * (1 + len(weightings)) + "|"]
    for row in analysis["tasks"]:
        metric = row["metric"]
        lines.append(f"| {md_text(row['task'])} ({metric}) | " + " | ".join(_difference(metric, row["difference"].get(w))
                                                                          for w in weightings) + " |")
    lines += ["", "## In words", ""] + _words(analysis, weightings)
    if analysis.get("weights"):
        lines += ["", "## Learned weights", "",
                  "Each task's weight on its loss at the chosen checkpoint, mean over seeds (equal: 1 each; uncertainty: "
                  "c·exp(−s), c = ½ for a regression; gradnorm: w, summing to the number of tasks).", "",
                  "| weighting | " + " | ".join(md_text(t) for t in tasks) + " |", "|---" * (1 + len(tasks)) + "|"]
        for w, entry in analysis["weights"].items():
            lines.append(f"| {w} | " + " | ".join(f"{entry['weights'].get(t, float('nan')):.3f}" for t in tasks) + " |")
            if "log_vars" in entry:
                lines.append(f"| {w}: log-variance s | " + " | ".join(f"{entry['log_vars'].get(t, float('nan')):+.3f}" for t in tasks) + " |")
    if analysis.get("seconds"):
        lines += ["", "Mean training time a run: " + ", ".join(f"{label} {s:.0f} s" for label, s in analysis["seconds"].items()) + "."]
    return "\n".join(lines) + "\n"


def _words(analysis: dict[str, Any], weightings: list[str]) -> list[str]:
    """One line per finding: negative transfer first, then gains, then what showed no difference."""
    negative, helped, none, unread = [], [], [], []
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
            if cell["reading"] == "negative transfer":
                negative.append(f"- **Negative transfer**: {where}: {amount} than trained alone "
                                f"(difference {_difference(metric, cell).split(':')[0]}).")
            elif cell["reading"] == "multi-task helps":
                helped.append(f"- Multi-task helps {where}: {amount} than trained alone "
                              f"(difference {_difference(metric, cell).split(':')[0]}).")
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
    if none:
        lines.append(f"- No difference shown (the interval spans 0): {', '.join(none)}.")
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
