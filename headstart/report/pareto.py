"""Target accuracy against retention (``forgetting.png``): one point per arm and size, with both intervals, so the
trade the seed names — fit the new task, keep the old one — is read at a glance. Upper right is better on both."""

from __future__ import annotations

import io
from typing import Any

from headstart.analysis import format_n
from headstart.report.chart import _safe, metric_label


def pareto_png(summary: dict[str, Any], *, title: str) -> bytes | None:
    """PNG bytes, or None when the runs measured no retention (``compare --retain``)."""
    rows = summary.get("retention") or []
    if not rows:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = {(r["strategy"], r["n"]): r for r in summary["curves"]}
    k = summary["scale"]
    fig = Figure(figsize=(8, 5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for data in dict.fromkeys(r["data"] for r in rows):
        for r in (r for r in rows if r["data"] == data):
            target = curves.get((r["strategy"], r["n"]))
            if target is None:
                continue
            x, y = r["retention"], target["mean"] * k
            ax.errorbar(x, y, xerr=[[x - r["ci_low"]], [r["ci_high"] - x]],
                        yerr=[[y - target["ci_low"] * k], [target["ci_high"] * k - y]], fmt="o", capsize=3)
            ax.annotate(_safe(f"{r['strategy']} (n = {format_n(r['n'])}, {data})"), (x, y), textcoords="offset points",
                        xytext=(6, 4), fontsize="small")
    ax.axvline(1.0, color="#444", linestyle="--", linewidth=1, label="nothing forgotten (retention 1)")
    ax.set_xlabel("retention: probe accuracy on the retained task, adapted / original encoder")
    ax.set_ylabel(metric_label(summary))
    ax.set_title(_safe(f"{summary.get('experiment') or title} — target accuracy vs retention"))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
