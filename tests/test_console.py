"""The ``headstart`` console script reads Ctrl-C and SIGTERM from its first instruction, while the commands import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The signal lands while the command line's modules import, as `kill` or a scheduler's limit lands in the second they
# take: sent by the process to itself as the first command module is looked up (a signal from outside races the import).
SCRIPT = """
import os, signal, sys

class SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == "headstart.cli.runs":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{signal})
        return None

sys.meta_path.insert(0, SignalOnImport())
sys.argv = ["headstart", "train", "--out", {out!r}]
{start}
"""


def console_script() -> str:
    """What pip's generated ``headstart`` script runs: pyproject.toml's entry point, imported, then called."""
    module, _, function = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["headstart"].partition(":")
    return f"from {module} import {function}\nsys.exit({function}())"


@pytest.mark.parametrize("start", ["console script", "python -m headstart"])
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_while_the_command_line_imports_says_nothing_was_stored(sig, start, tmp_path):
    """SIGTERM before ``main`` ran (the imports take a second, more from a cold disk) ended the command silent, exit 143;
    Ctrl-C there printed an import's traceback. Now one line, exit 130, --out not made."""
    out = tmp_path / "run"
    begin = console_script() if start == "console script" else 'import runpy\nrunpy.run_module("headstart", run_name="__main__")'

    def hear_signals() -> None:  # the default dispositions, as a terminal gives them (a test runner may not)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    done = subprocess.run([sys.executable, "-c", SCRIPT.format(signal=sig, out=str(out), start=begin)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
                          capture_output=True, text=True, timeout=120, preexec_fn=hear_signals)
    assert (done.returncode, done.stderr) == (130, "stopped before anything started; nothing was stored\n"), (done.returncode, done.stderr[-2000:])
    assert done.stdout == "" and not out.exists()


def test_the_command_line_runs_with_the_handlers_it_had(tmp_path):
    """The early handler is the imports' alone: ``headstart.cli.main`` meets Ctrl-C and SIGTERM as they were."""
    seen = subprocess.run([sys.executable, "-c", "import signal, headstart.cli, headstart.console\n"
                           "headstart.cli.main = lambda: print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, "
                           "signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)\nheadstart.console.main()"],
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
                          capture_output=True, text=True, timeout=120)
    assert (seen.returncode, seen.stdout) == (0, "True True\n"), seen.stderr[-2000:]


# The same, later: the command's own modules import torch (seconds) once it runs; the signal lands as torch is looked up.
IN_COMMAND = """
import os, signal, sys

class SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGTERM)
        return None

sys.meta_path.insert(0, SignalOnImport())
sys.argv = ["headstart", *{argv!r}]
import runpy
runpy.run_module("headstart", run_name="__main__")
"""


@pytest.mark.parametrize("argv", [["evaluate", "run"], ["predict", "run", "a fine film"],
                                  ["export", "run", "--out", "exported"]])
def test_a_command_stopped_by_sigterm_while_it_imports_torch_says_nothing_was_written(argv, tmp_path):
    """evaluate, predict, export (the commands that neither resume a store nor write a run folder) read SIGTERM from
    nowhere: stopped while their modules imported torch, they ended silent, exit 143. Now one line, exit 130."""
    def hear_sigterm() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    done = subprocess.run([sys.executable, "-c", IN_COMMAND.format(argv=argv)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
                          capture_output=True, text=True, timeout=120, preexec_fn=hear_sigterm)
    assert (done.returncode, done.stderr) == (130, "interrupted by SIGTERM before it wrote anything: nothing written; "
                                                   "run the same command again\n"), (done.returncode, done.stderr[-2000:])
    assert done.stdout == "" and list(tmp_path.iterdir()) == []
