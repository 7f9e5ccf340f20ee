"""SIGTERM read as Ctrl-C inside ``sigterm_as_interrupt``, and nowhere else."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from headstart.interrupts import Terminated, sigterm_as_interrupt, stopped_by


pytestmark = pytest.mark.usefixtures("default_sigterm")  # tests/conftest.py


def test_sigterm_raises_a_keyboard_interrupt_inside_and_the_default_comes_back_after():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(KeyboardInterrupt) as stop:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
    assert isinstance(stop.value, Terminated)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "a second SIGTERM ends the process again"


def test_a_handler_someone_installed_is_left_alone():
    """A worker process's own handler: not replaced, and still there after."""
    seen = []
    mine = lambda signum, frame: seen.append(signum)  # noqa: E731
    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
        assert seen == [signal.SIGTERM] and signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_off_the_main_thread_it_does_nothing():
    raised = []

    def body():
        try:
            with sigterm_as_interrupt():
                raised.append(signal.getsignal(signal.SIGTERM))
        except Exception as e:  # noqa: BLE001 - signal.signal off the main thread raises ValueError
            raised.append(e)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert raised == [signal.SIG_DFL]


def test_what_stopped_a_run_is_read_from_its_error():
    assert stopped_by("interrupted by SIGTERM at step 22 of 60: ...") == "SIGTERM"
    assert stopped_by("interrupted at step 4 of 8: ...") == stopped_by(None) == "Ctrl-C"


def test_sigterm_stays_an_interrupt_through_a_ray_session_whose_init_installs_its_own_handler(monkeypatch):
    """``ray.init`` installs a SIGTERM handler that exits with code 15: continual's (and compare's) Ray chains died on
    SIGTERM, silent, exit 15. ``ray_backend.session`` puts ``sigterm_as_interrupt``'s back; outside it, Ray's stays."""
    import sys

    pytest.importorskip("ray")
    import headstart.ray_backend as ray_backend

    def connect(address):  # what ray.init does to the driver's SIGTERM, without starting Ray
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        return False

    monkeypatch.setattr(ray_backend, "connect", connect)
    with pytest.raises(Terminated):
        with sigterm_as_interrupt(), ray_backend.session(None):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with ray_backend.session(None):  # no sigterm_as_interrupt around it: Ray's own handler is left alone
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("command", [["sft", "--n", "8"], ["prefer", "--n", "8"], ["meta-train", "--episodes", "2"]])
def test_a_run_folder_command_stopped_by_sigterm_while_it_starts_says_so(command, monkeypatch, capsys, tmp_path):
    """sft, prefer and meta-train read SIGTERM as Ctrl-C only once their steps ran: killed while they started, they
    ended silent, exit 143. Now one line, exit 130, and their --out not made; sft and prefer, stopped in their command's
    part of the setup (their imports: seconds), said a bare "interrupted by SIGTERM", and now say what their setup says;
    meta-train, stopped at its claim, said the same bare line, and now says nothing was kept and what to run."""
    import headstart.cli.llm
    import headstart.outdir
    from conftest import run_cli

    def stop(out, kind, **kwargs):
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(headstart.outdir, "claim", stop)
    monkeypatch.setattr(headstart.cli.llm, "claim", stop)
    out = tmp_path / "out"
    code, printed, err = run_cli([*command, "--out", str(out)], monkeypatch, capsys)
    said = ("interrupted by SIGTERM: before any arm was saved: nothing kept; the same command trains again from the start"
            if command[0] == "meta-train" else f"interrupted by SIGTERM while {command[0]} set up, before its first "
            "step: nothing trained yet; nothing saved; the same command starts again")
    assert (code, err.splitlines()) == (130, [said]), (code, err)
    assert "Traceback" not in err and not out.exists() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


# A Python caller's sft / prefer, SIGTERM landing as their modules import (torch: seconds), sent by the process to itself
# as the module is looked up (a signal from outside races the import); test_console.py does the same for the CLI.
PYTHON_CALL = """
import os, signal, sys

class SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGTERM)
        return None

import headstart
sys.meta_path.insert(0, SignalOnImport())
try:
    headstart.{command}(out={out!r})
except KeyboardInterrupt as stop:
    print(type(stop).__name__, stop, signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""


@pytest.mark.parametrize("command, module", [("sft", "headstart.llm.sft"), ("prefer", "headstart.llm.dpo")])
def test_a_python_sft_or_prefer_reads_sigterm_from_its_first_line(command, module, tmp_path):
    """``headstart.sft(...)`` / ``headstart.prefer(...)`` read SIGTERM only from their run's setup: one during their
    imports (torch: about 4 s) or first checks ended the caller's process silent, exit 143, where ``fit`` raises its
    NothingSaved. Now the same handler as fit's spans the whole call: NothingTrained, nothing saved, default back."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"

    def hear_sigterm() -> None:  # the default disposition, as a script gets it (a test runner may not give it)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    done = subprocess.run([sys.executable, "-c", PYTHON_CALL.format(module=module, command=command, out=str(out))],
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])},
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, preexec_fn=hear_sigterm)
    assert (done.returncode, done.stdout) == (0, f"NothingTrained interrupted by SIGTERM while {command} set up, before "
                                                 "its first step: nothing trained yet; nothing saved; the same command "
                                                 "starts again True\n"), (done.returncode, done.stderr[-2000:])
    assert not out.exists()
