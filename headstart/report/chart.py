"""Static learning-curve chart (PNG): metric vs labelled-set size, one line and CI band per strategy.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend switch), imported inside
the function so that importing the report package stays cheap.
"""

from __future__ import annotations

import io
from typing import Any

from headstart.analysis import format_n, size_key


# One look per strategy, shared by chart.png and report.html: Okabe & Ito's colour-blind-safe palette ("Color Universal
# Design", 2008), and a marker and a dash pattern beside each colour, so no two strategies differ by hue alone.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v")  # circle, square, triangle, diamond, triangle down (report.html draws the same)
DASHES = ((), (6, 3), (2, 2), (8, 3, 2, 3), (4, 2, 1, 2))  # solid, dashed, dotted, dash-dot, short dash-dot


LEGEND_TITLE = "strategy (band: 95% CI)"  # both charts' legends


def strategy_styles(strategies: list[str]) -> dict[str, dict[str, Any]]:
    """Each strategy's ``{color, marker, dash}``, by its place in sorted order (the same strategy looks the same in
    chart.png and report.html); ``dash`` is on-off lengths in line widths' units, empty for a solid line."""
    ordered = sorted(set(strategies))
    return {s: {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)], "dash": list(DASHES[i % len(DASHES)])}
            for i, s in enumerate(ordered)}


def metric_label(summary: dict[str, Any]) -> str:
    """Axis label for the compared metric, e.g. ``"test accuracy (%)"`` or ``"test rmse (lower is better)"``."""
    metric = summary["metric"]
    if summary["scale"] == 100.0:
        return f"test {metric.replace('_', ' ')} (%)"
    return f"test {metric} ({'higher' if summary['higher_is_better'] else 'lower'} is better)"


def log_x(sizes: list[int]) -> dict[int, float]:
    """Where each labelled-set size sits on the log axis: itself, except n = 0 (zero-shot), which a log axis has no
    place for: a quarter of the smallest other size (two octaves to its left; 1 when there is none), labelled 0."""
    positive = [n for n in sizes if n > 0]
    return {n: float(n) if n > 0 else (min(positive) / 4 if positive else 1.0) for n in sizes}


def size_ticks(rows: list[dict[str, Any]]) -> dict[float, str]:
    """Each x-axis position (``log_x``) of ``rows`` (curves rows) and its label: ``format_n``'s, or, where sizes land
    on one x (56 and all (56)), one label naming each: ``"56 = all"``."""
    at = log_x([r["n_actual"] for r in rows])
    names: dict[float, dict[str, str]] = {}
    for r in sorted(rows, key=lambda r: size_key(r["n"])):
        names.setdefault(at[r["n_actual"]], {})[str(r["n"])] = format_n(r["n"], r["n_actual"])
    return {x: " = ".join(labels) if len(labels) > 1 else next(iter(labels.values())) for x, labels in names.items()}


def chart_png(summary: dict[str, Any], *, title: str) -> bytes:
    """The learning curves of ``summary["curves"]`` as PNG bytes (``chart_figure``)."""
    buf = io.BytesIO()
    chart_figure(summary, title=title).savefig(buf, format="png")
    return buf.getvalue()


def chart_figure(summary: dict[str, Any], *, title: str) -> Any:
    """Draw the learning curves of ``summary["curves"]``.

    Args:
        summary: the output of ``analysis.summarize``.
        title: chart title (plain text; matplotlib does not interpret HTML).

    Returns:
        A matplotlib Figure: log-x axis with the requested sizes as tick labels, mean line, shaded 95% CI, the
        majority-class rate as a dashed line, legend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    k = summary["scale"]
    fig = Figure(figsize=(8, 5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = summary["curves"]
    at = log_x([r["n_actual"] for r in rows])
    styles = strategy_styles([r["strategy"] for r in rows])
    for strategy, style in styles.items():
        line = sorted((r for r in rows if r["strategy"] == strategy), key=lambda r: size_key(r["n"]))
        x = [at[r["n_actual"]] for r in line]
        dash = (0, tuple(d / 2 for d in style["dash"])) if style["dash"] else "-"  # matplotlib counts in line widths (2)
        (drawn,) = ax.plot(x, [r["mean"] * k for r in line], marker=style["marker"], color=style["color"], linestyle=dash, linewidth=2,
                           label=_safe(strategy))
        ax.fill_between(x, [r["ci_low"] * k for r in line], [r["ci_high"] * k for r in line],
                        color=drawn.get_color(), alpha=0.18, linewidth=0)
        if len(set(x)) == 1:  # a band at one x is invisible (zero-shot at n = 0 alone, or 56 and all (56)): bars
            ax.errorbar(x, [r["mean"] * k for r in line], yerr=[[(r["mean"] - r["ci_low"]) * k for r in line],
                                                                [(r["ci_high"] - r["mean"]) * k for r in line]],
                        color=drawn.get_color(), capsize=4, linewidth=1.2, linestyle="none")
    ref = summary.get("reference")
    if rows and ref:  # past this line (below it, or above where lower is better) a strategy learned nothing
        unit = "%" if k == 100.0 else ""
        ax.axhline(ref["test"] * k, color="#444", linestyle="--", linewidth=1.2,
                   label=f"{ref['label']} ({ref['test'] * k:.1f}{unit})" if k == 100.0 else f"{ref['label']} ({ref['test']:.3g})")
    ticks = size_ticks(rows)
    if ticks:
        ax.set_xscale("log")
        ax.set_xticks(list(ticks), [t.replace(" (", "\n(") for t in ticks.values()])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.legend(title=LEGEND_TITLE, fontsize="small", title_fontsize="small")
    else:
        ax.text(0.5, 0.5, "no finished runs yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("labelled training examples (log scale)")
    ax.set_ylabel(metric_label(summary))
    ax.set_title(_safe(title))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def _safe(text: str) -> str:
    """Escape ``$`` so user strings are not parsed as mathtext (a stray ``$`` would raise)."""
    return str(text).replace("$", r"\$")
