"""SIGTERM read as Ctrl-C where a loop keeps its best checkpoint on an interrupt (sft / prefer's, train's).

``timeout``, a batch scheduler's time limit (Slurm, Kubernetes) and ``kill`` stop a process with SIGTERM, whose default
action ends it at once: whatever a KeyboardInterrupt handler would have saved is lost. ``sigterm_as_interrupt``
raises ``Terminated`` (a KeyboardInterrupt) in the main thread instead, so one ``except KeyboardInterrupt`` keeps the
run either way. It leaves alone a handler someone else installed (a worker process's own), works only from the main
thread (the only one signal handlers run in), and restores the default on the way out, so a second SIGTERM, while
the interrupted run is saved, ends the process as it would have.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process was when it came, as Ctrl-C raises KeyboardInterrupt."""


def _raise(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process, as a second Ctrl-C would
    raise Terminated("SIGTERM")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread, where SIGTERM had its default action."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def ended_by(interrupt: KeyboardInterrupt) -> str:
    """What a run stopped by ``interrupt`` says stopped it: "interrupted by SIGTERM" (``Terminated``) or "interrupted by Ctrl-C"."""
    return BY_SIGTERM if isinstance(interrupt, Terminated) else "interrupted by Ctrl-C"


def stopped_by(error: str | None) -> str:
    """What stopped a run whose recorded error is ``error`` (``llm.loop``'s): "SIGTERM" or "Ctrl-C" (older runs too)."""
    return "SIGTERM" if error and error.startswith(BY_SIGTERM) else "Ctrl-C"


BY_SIGTERM = "interrupted by SIGTERM"  # how a loop's error starts where SIGTERM stopped it
