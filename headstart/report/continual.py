"""The continual report: ``continual.md``, ``continual.json``, the accuracy matrices as heat-maps (``continual.png``)
and the accuracy over the stream per arm (``continual-stream.png``) — a pure function of the stored runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from headstart.analysis.continual import REFERENCE, recommended_word, versus_text, withheld_text
from headstart.analysis.stats import range_text
from headstart.report.mdtext import bytes_text, md_fence, md_text


def ci_text(summary: dict[str, Any] | None, scale: float = 100.0, signed: bool = False) -> str:
    """``"18.2 (16.0 to 20.4)"``: a mean in points with its interval over seeds; one seed's mean alone. continual.html
    shows these same strings (``continual_html``)."""
    if not summary:
        return "–"
    sign = "+" if signed else ""
    if summary.get("seeds", 2) < 2:  # the interval is over seeds: one seed has none (not one of no width; said under the table)
        return f"{scale * summary['mean']:{sign}.1f}"
    return f"{scale * summary['mean']:{sign}.1f} ({range_text(summary, lambda v: f'{scale * v:{sign}.1f}', joiner=' to ')})"


def matrix_text(matrix: list[list[float | None]]) -> list[list[str]]:
    """R's cells in points, ``"70.2"``; a cell never scored (None, NaN: joint's earlier rows) is ``""``."""
    return [["" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}" for v in values]
            for values in matrix]


def continual_markdown(analysis: dict[str, Any], *, stream: str, scenario: str, tasks: list[str], notes: list[str],
                       command: str | None = None) -> str:
    """continual.md: the arms' table, the recommendation, each arm's accuracy matrix, the notes and ``command``, the
    command that wrote it (under "Produced by": run again, it re-renders the report and trains nothing stored)."""
    kind = "class-incremental (one head, no task id at test)" if scenario == "class" else "task-incremental (the task id given)"
    lines = [f"# Continual learning: {md_text(stream)}, {kind}", "",
             "Tasks in order, numbered from 0 as in R: " + " → ".join(f"{j} {md_text(t)}" for j, t in enumerate(tasks)) + ".", "",
             "R[i][j] is the accuracy (%) on task j's test split after training task i. ACC: mean of the last row; BWT: "
             "mean change on earlier tasks from just after learning them to the end (negative = forgetting); plasticity: "
             "mean R[j][j]; FWT: mean over tasks 1 on (task 0 has nothing before it to transfer from) of R[j][j] minus "
             "the default strategy trained on task j alone (`alone`), paired by seed (the gap to learning each task alone, "
             "not GEM's FWT, which scores a task before it is trained)"
             + ("; `alone` learns and is scored over task j's own classes only, so in this scenario FWT also counts the "
                "cost of telling them from the earlier tasks' classes. " if scenario == "class" else ". ") +
             "Intervals are 95% over seeds. Every checkpoint is chosen on the current task's validation split; the "
             "recommendation is the highest ACC on the tasks' validation splits (test scores never choose).", "",
             "| arm | ACC (%) | BWT (points) | plasticity (%) | FWT (points) | seeds | train s / stream | kept between tasks |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in analysis["arms"]:
        reference = " (reference)" if row.get("method") in REFERENCE else ""  # not candidates: never recommended
        lines.append(f"| {md_text(row['arm'])}{reference} | {ci_text(row['acc'])} | {ci_text(row.get('bwt'), signed=True)} | "
                     f"{ci_text(row.get('plasticity'))} | {ci_text(row.get('fwt'), signed=True)} | {row['acc']['seeds']} | "
                     f"{row['train_seconds']:.0f} | {bytes_text(row['kept_bytes'])} |")
    single = [md_text(row["arm"]) for row in analysis["arms"] if row["acc"]["seeds"] < 2]
    if single:  # said once here, not in every cell: an interval over seeds needs two of them
        lines += ["", f"{', '.join(single)}: one seed, so no interval (it is over seeds); --seeds 3 gives one."]
    if analysis.get("tried"):
        lines += ["", "Tried (--tune; a weight the validation ACC did not pick): " + "; ".join(
            f"{md_text(r['arm'])} validation ACC {100 * r['val_acc']['mean']:.1f}%, test {100 * r['acc']['mean']:.1f}%"
            for r in analysis["tried"]) + "."]
    if analysis["recommended"]:
        best = next(r for r in analysis["arms"] if r["arm"] == analysis["recommended"])
        caveat = analysis.get("recommended_caveat")
        against = versus_text(analysis.get("versus"))
        lines += ["", f"**{recommended_word(analysis)}: {md_text(best['arm'])}** — highest validation ACC "
                  f"({100 * best['val_acc']['mean']:.1f}%); its test ACC is {ci_text(best['acc'])}"
                  + (f"; {md_text(against)}" if against else "") + "."
                  + (f" **Caveat:** {md_text(caveat)}." if caveat else "")]
    elif analysis.get("withheld"):
        lines += ["", f"**Recommendation withheld:** {md_text(withheld_text(analysis['withheld']))}."]
    lines += ["", "## Accuracy matrices (mean over seeds, %)"]
    for row in analysis["arms"]:
        lines += ["", f"### {md_text(row['arm'])}", "", "| after \\ on | " + " | ".join(str(j) for j in range(len(tasks))) + " |",
                  "|---|" + "---:|" * len(tasks)]
        for i, cells in enumerate(matrix_text(row["matrix"])):
            lines.append(f"| {i} | " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {md_text(n)}" for n in notes]
    if command:
        lines += ["", "## Produced by", "", md_fence(command)]
    return "\n".join(lines) + "\n"


def _save(fig: Any, path: Path) -> None:
    """The figure as a PNG, drawn in memory and moved into place whole (``write_atomic``)."""
    import io

    from headstart.atomic import write_atomic

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(path, buf.getvalue())


def continual_charts(analysis: dict[str, Any], out: Path, *, tasks: list[str]) -> dict[str, Path]:
    """Heat-maps of every arm's mean R, and mean accuracy over the tasks seen so far after each step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = analysis["arms"]
    if not rows:
        return {}
    paths = {"continual.png": out / "continual.png", "continual-stream.png": out / "continual-stream.png"}
    cols = min(4, len(rows))
    fig, axes = plt.subplots(math.ceil(len(rows) / cols), cols, figsize=(3.2 * cols, 3.0 * math.ceil(len(rows) / cols)), squeeze=False)
    for ax in axes.flat[len(rows):]:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        grid = np.array([[np.nan if v is None else v for v in r] for r in row["matrix"]], dtype=float)
        ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
        ax.set_title(row["arm"], fontsize=9)
        ax.set_xlabel("on task")
        ax.set_ylabel("after task")
        ax.set_xticks(range(len(tasks)))
        ax.set_yticks(range(len(tasks)))
    fig.tight_layout()
    _save(fig, paths["continual.png"])
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for row in rows:
        if row["method"] == "joint":
            # joint's ACC after every task at once: a reference line, not a ceiling (a capped budget, or alone's
            # per-task models, can sit above it; the notes say where)
            ax.axhline(100 * row["acc"]["mean"], linestyle="--", color="grey", label=f"{row['arm']} (all tasks at once)")
            continue
        seen = [100 * float(np.nanmean([v for v in r if v is not None])) for r in row["matrix"]]
        ax.plot(range(1, len(seen) + 1), seen, marker="o", label=row["arm"])
    ax.set_xlabel("tasks learnt")
    ax.set_ylabel("mean test accuracy on tasks seen (%)")
    ax.set_xticks(range(1, len(tasks) + 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, paths["continual-stream.png"])
    plt.close(fig)
    return paths
