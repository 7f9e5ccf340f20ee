"""Reports of a run directory: PNG chart, self-contained interactive HTML, Markdown and results.json.

``render(store_dir)`` reads only the store; the parts (``chart``, ``html``, ``markdown``) are pure
functions from ``analysis.summarize``'s output to bytes or text.
"""

from __future__ import annotations

from headstart.report.render import render

__all__ = ["render"]
