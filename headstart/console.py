"""The ``headstart`` console script (pyproject.toml's ``[project.scripts]``) and ``python -m headstart``.

Its first instruction reads Ctrl-C and SIGTERM: the command line's modules import next (typer, numpy and every
command's module: about a second, more from a cold disk), where SIGTERM ended the process silent, exit 143, and Ctrl-C
with an import's traceback. One that lands there says so in one line, exit 130; then ``headstart.cli.main`` runs with
the handlers as they were, and reads interrupts as each command does. ``python -m headstart.cli`` imports the commands
before anything of its own runs.
"""

from __future__ import annotations

import os
import signal
import sys

STOPPED_EARLY = "stopped before anything started; nothing was stored"


def main() -> None:
    """``headstart``: Ctrl-C and SIGTERM read as ``STOPPED_EARLY`` while the command line imports, then its ``main``.
    A handler someone else installed (SIGINT ignored under ``nohup``) is left alone."""
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    ours = [s for s, handler in defaults.items() if signal.getsignal(s) is handler]
    for s in ours:
        signal.signal(s, _stopped_early)
    from headstart.cli import main as command_line

    for s in ours:
        signal.signal(s, defaults[s])
    command_line()


def _stopped_early(signum: int, frame: object) -> None:
    """One line and exit 130, at once: nothing has run that a cleanup would undo."""
    sys.stderr.write(f"{STOPPED_EARLY}\n")
    sys.stderr.flush()
    os._exit(130)
