"""Reports of a run directory: PNG chart, self-contained interactive HTML, Markdown and results.json.

``render(store_dir)`` reads only the store; the parts (``chart``, ``html``, ``markdown``) are pure
functions from ``analysis.summarize``'s output to bytes or text.
"""

from __future__ import annotations

from pathlib import Path

from headstart.callable_module import make_callable
from headstart.report.render import render

__all__ = ["render", "report"]


def report(directory: str | Path, *, metric: str | None = None, margin: float | None = None) -> dict[str, Path]:
    """Mirrors ``headstart report``: re-render chart.png, report.html, report.md and results.json from the store in
    ``directory`` alone; returns each file's path by name.

    Args:
        metric: the metric to plot (default accuracy, rmse for regression).
        margin: points a cheaper strategy may trail the best (if not significantly worse) and be recommended instead
            (default 2; for rmse-like metrics, percent of the best).
    """
    from headstart.run_meta import as_run_path

    directory = as_run_path(directory, name="directory", what="a store folder (runs.sqlite)", example="headstart.report('runs/cmp')")
    return render(directory, metric=metric, margin=margin)


make_callable(__name__, report)  # headstart.report(DIR) mirrors headstart report DIR
