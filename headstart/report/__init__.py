"""Reports of a run directory: PNG chart, self-contained interactive HTML, Markdown and results.json.

``render(store_dir)`` reads only the store; the parts (``chart``, ``html``, ``markdown``) are pure
functions from ``analysis.summarize``'s output to bytes or text.
"""

from __future__ import annotations

from pathlib import Path

from headstart.callable_module import make_callable
from headstart.report.render import render

__all__ = ["render", "report"]


def report(directory: str | Path, *, metric: str | None = None, margin: float | None = None,
           to: str | Path | None = None) -> dict[str, Path]:
    """Mirrors ``headstart report``: re-render chart.png, report.html, report.md and results.json from the store in
    ``directory`` alone; returns each file's path by name.

    Args:
        metric: the metric to plot (default accuracy, rmse for regression).
        margin: points a cheaper strategy may trail the best (if not significantly worse) and be recommended instead
            (default 2; for rmse-like metrics, percent of the best).
        to: the folder to write the report files into (made if missing), default ``directory``: a store in a folder
            that cannot be written is read where it is, e.g. ``headstart.report('/mnt/shared/cmp', to='cmp-report')``.
    """
    from headstart.run_meta import as_run_path

    directory = as_run_path(directory, name="directory", what="a store folder (runs.sqlite)", example="headstart.report('runs/cmp')")
    if to is not None:
        to = as_run_path(to, name="to", what="a folder for the report files",
                         example=f"headstart.report({str(directory)!r}, to='cmp-report')")
    return render(directory, metric=metric, margin=margin, to=to)


make_callable(__name__, report)  # headstart.report(DIR) mirrors headstart report DIR
