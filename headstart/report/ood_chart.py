"""In domain beside out of domain (``ood.png``): each arm's learning curve on the task's own test split, and on each
``--eval-data`` dataset's, on one y scale, so the gap and whether an arm's lead survives the shift read at a glance."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from headstart.analysis import format_n, size_key
from headstart.report.chart import _safe, metric_label


def ood_png(summary: dict[str, Any], *, title: str) -> bytes | None:
    """PNG bytes, or None when no run was scored out of domain (``compare --eval-data``)."""
    rows = summary.get("ood") or []
    if not rows:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    k = summary["scale"]
    datasets = list(dict.fromkeys(r["data"] for r in rows))
    fig = Figure(figsize=(5 * (1 + len(datasets)), 5), dpi=120)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 1 + len(datasets), sharey=True, squeeze=False)[0]
    arms = list(dict.fromkeys(r["strategy"] for r in rows))
    colors = {arm: f"C{i % 10}" for i, arm in enumerate(arms)}
    n_actual = {(c["strategy"], c["n"]): c["n_actual"] for c in summary["curves"]}
    panels = [("in domain", [c for c in summary["curves"] if c["strategy"] in colors])]
    panels += [(f"out of domain: {data}", [r for r in rows if r["data"] == data]) for data in datasets]
    for ax, (name, panel) in zip(axes, panels):
        for arm in arms:
            line = sorted((r for r in panel if r["strategy"] == arm), key=lambda r: size_key(r["n"]))
            x = [n_actual.get((arm, r["n"]), r["n"]) for r in line]
            ax.plot(x, [r["mean"] * k for r in line], marker="o", color=colors[arm], label=_safe(arm))
            ax.fill_between(x, [r["ci_low"] * k for r in line], [r["ci_high"] * k for r in line], color=colors[arm],
                            alpha=0.18, linewidth=0)
        ticks = {n_actual.get((r["strategy"], r["n"]), r["n"]): format_n(r["n"]) for r in panel}
        if ticks and all(isinstance(t, (int, float)) for t in ticks):
            ax.set_xscale("log")
            ax.set_xticks(list(ticks), list(ticks.values()))
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_title(_safe(name))
        ax.set_xlabel("labelled training examples (log scale)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel(metric_label(summary))
    axes[0].legend(title="arm (band: 95% CI)", fontsize="small", title_fontsize="small")
    fig.suptitle(_safe(f"{summary.get('experiment') or title} — in domain vs out of domain"))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def adaptation_chart(rows: list[dict[str, Any]], path: Path, *, source: str, target: str) -> Path | None:
    """``adaptation.png``: each method's target accuracy with its 95% interval, per size; source-only, the oracle and the
    target's majority class as lines. None without rows."""
    from matplotlib.figure import Figure

    sizes = list(dict.fromkeys(r["n"] for r in rows))
    if not sizes:
        return None
    fig = Figure(figsize=(max(5.5, 1.1 * len({r["method"] for r in rows}) + 2) * len(sizes), 4.2))
    axes = fig.subplots(1, len(sizes), squeeze=False)
    for ax, n in zip(axes[0], sizes):
        mine = [r for r in rows if r["n"] == n]
        xs = range(len(mine))
        means = [100 * r["mean"] for r in mine]
        errors = [[100 * (r["mean"] - r["ci_low"]) for r in mine], [100 * (r["ci_high"] - r["mean"]) for r in mine]]
        ax.bar(xs, means, yerr=errors, capsize=4, color=["#7f7f7f" if r["method"] == "source-only" else "#1f77b4" for r in mine])
        base = next((r for r in mine if r["method"] == "source-only"), None)
        if base is not None:
            ax.axhline(100 * base["mean"], color="#7f7f7f", linestyle=":", label="source-only")
        oracle = next((r["oracle"] for r in mine if r.get("oracle")), None)
        if oracle is not None:
            ax.axhline(100 * oracle["mean"], color="#2ca02c", linestyle="--", label="oracle (target labels)")
        majority = next((r["majority"] for r in mine if r.get("majority") is not None), None)
        if majority is not None:  # the floor: always answering the target's most frequent class
            ax.axhline(100 * majority, color="#d62728", linestyle="-.", label="majority class")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([r["method"] for r in mine], rotation=30, ha="right")
        ax.set_ylabel(f"accuracy on {target} test (%)")
        ax.set_title(f"{source} → {target}, n = {n}", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    from headstart.atomic import write_atomic

    write_atomic(path, buf.getvalue())
    return path
