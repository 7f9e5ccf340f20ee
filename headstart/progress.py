"""Progress bars with ETA (rich), as callbacks the engine and the sweep call."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

ProgressFn = Callable[[int, int, dict[str, Any]], None]


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[ProgressFn | None]:
    """Yield ``update(done, total, info)`` drawing a rich bar with ETA on stderr, or None when disabled.

    The bar appears at the first update, so a run that fails during setup prints only its error.
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    state: dict[str, Any] = {}
    with ExitStack() as stack:

        def update(done: int, total: int, info: dict[str, Any]) -> None:
            if "bar" not in state:
                state["bar"] = stack.enter_context(Progress(*columns, console=Console(file=sys.stderr)))
                state["task"] = state["bar"].add_task(description, total=total, info="")
            text = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
            state["bar"].update(state["task"], completed=done, total=total, info=text)

        yield update
