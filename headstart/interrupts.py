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
from pathlib import Path
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process was when it came, as Ctrl-C raises KeyboardInterrupt."""


_READ = [0]  # SIGTERMs raised as ``Terminated`` in this process (``sigterms_read``)


def _raise(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process, as a second Ctrl-C would
    _READ[0] += 1
    raise Terminated("SIGTERM")


def sigterms_read() -> int:
    """How many SIGTERMs this process has raised as ``Terminated``: what the CLI's entry point says of an interrupt
    whose exception the parser turned into exit code 130 ("interrupted by SIGTERM" where one was read meanwhile)."""
    return _READ[0]


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


def kept_through(connect: Any) -> Any:
    """``connect()``'s value, with ``sigterm_as_interrupt``'s SIGTERM handler put back where ``connect`` replaced it
    (``ray.init`` installs one that exits with code 15: compare's and continual's Ray chains died on SIGTERM, silent)."""
    ours = signal.getsignal(signal.SIGTERM) is _raise
    value = connect()
    if ours and threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is not _raise:
        signal.signal(signal.SIGTERM, _raise)
    return value


def ended_by(interrupt: KeyboardInterrupt) -> str:
    """What a run stopped by ``interrupt`` says stopped it: "interrupted by SIGTERM" (``Terminated``) or "interrupted by Ctrl-C"."""
    return BY_SIGTERM if isinstance(interrupt, Terminated) else "interrupted by Ctrl-C"


def stopped_by(error: str | None) -> str:
    """What stopped a run whose recorded error is ``error`` (``llm.loop``'s): "SIGTERM" or "Ctrl-C" (older runs too)."""
    return "SIGTERM" if error and error.startswith(BY_SIGTERM) else "Ctrl-C"


BY_SIGTERM = "interrupted by SIGTERM"  # how a loop's error starts where SIGTERM stopped it


def interrupted_by(stop: KeyboardInterrupt) -> str:
    """"interrupted by SIGTERM" where SIGTERM stopped a loop of runs (raised as such, or inside a run, whose interrupt
    carries its ``ended_by``: the engine's ``StepsInterrupted``, ``ScoringInterrupted``), else "interrupted" (Ctrl-C)."""
    said = getattr(stop, "ended_by", None) or getattr(getattr(stop, "report", None), "ended_by", None) or ""
    return BY_SIGTERM if isinstance(stop, Terminated) or str(said).startswith(BY_SIGTERM) else "interrupted"


class StoreInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a command whose store a re-run resumes (continual, multitask), with how much of it the
    store holds: ``stored`` of ``total`` ``what`` ("runs"; None where only worker processes know); ``by`` says which ("interrupted by SIGTERM"). Compare's
    ``sweep.SweepInterrupted`` says the same of cells. A KeyboardInterrupt still: a script stops as it would."""

    def __init__(self, stored: int | None, total: int, what: str, by: str = "interrupted") -> None:
        self.stored, self.total, self.what, self.by = stored, total, what, by
        held = f"the {what} trained so far are" if stored is None else f"{stored} of {total} {what}"  # None: not counted
        super().__init__(f"{by}: {held} stored; run the same command again to resume (stored {what} are skipped)")

    def __reduce__(self):
        return type(self), (self.stored, self.total, self.what, self.by)


class NothingTrained(KeyboardInterrupt):
    """Ctrl-C or SIGTERM while an sft / prefer run set up (its command's modules imported and its settings read, its
    data read, its model loaded, prefer's reference log-probabilities computed), before its first step: nothing
    trained, nothing saved (``--out`` as it was). A KeyboardInterrupt still; its text is the CLI's line, worded as
    train's (``fit_result.NothingSaved``). Here, not beside the LLM runs: the CLI raises it before torch imports."""

    def __init__(self, interrupt: KeyboardInterrupt, command: str) -> None:
        super().__init__(f"{ended_by(interrupt)} while {command} set up, before its first step: nothing trained yet; "
                         "nothing saved; the same command starts again")


class MetaInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during meta-train: the arms saved so far stay in ``out`` (each loads as a backbone), unscored
    (meta.json is written once every arm is), and the same command keeps them; an ``out`` this run created and left
    empty is removed. A KeyboardInterrupt still, so a script stops as it would; its text is the one line the CLI prints.
    Here, not beside meta-train: the CLI raises it before torch imports."""

    def __init__(self, stop: KeyboardInterrupt, out: Path, saved: list[str], arms: int, *, created: bool) -> None:
        if not saved and created:
            try:
                out.rmdir()  # empty: nothing of this run's in it
            except OSError:
                pass
        kept = (f"{len(saved)} of {arms} arms trained and saved in {str(out)!r} ({', '.join(saved)}: each loads as "
                f"--backbone {str(out / saved[0])!r}), none scored (meta.json is written once every arm is)" if saved else
                "before any arm was saved: nothing kept")
        super().__init__(f"{interrupted_by(stop)}: {kept}; the same command "
                         + ("keeps them, trains the rest and scores every arm" if saved else "trains again from the start"))
        self.saved = saved


@contextmanager
def setting_up(command: str) -> Iterator[None]:
    """Within the block (a part of an sft / prefer run's setup), Ctrl-C or SIGTERM raises ``NothingTrained``."""
    try:
        with sigterm_as_interrupt():  # a scheduler's limit here says the same as Ctrl-C, not a silent kill
            yield
    except KeyboardInterrupt as stop:
        raise NothingTrained(stop, command) from None


@contextmanager
def signals_held(*, second_acts: bool = False) -> Iterator[None]:
    """Ctrl-C and SIGTERM noted inside the block and delivered when it ends, as they came. With ``second_acts`` only the
    first is held: a second acts as it would outside the block (a user who presses Ctrl-C twice during a long save
    wants out). Where the block fails, a held signal is delivered with the failure as its ``__context__`` (so the line
    it ends with can name it); where the block ends by a second signal, the first is not delivered again. Python runs
    signal handlers in the main thread only, so off it nothing can interrupt the block and nothing is changed; a handler
    installed outside Python is left alone. (Blocking the signals would not do: another thread takes the signal, and
    the main thread still raises at its next instruction.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)
        if second_acts:
            _restore(previous, hold)

    kinds = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]
    previous = {s: signal.signal(s, hold) for s in kinds}
    try:
        yield
    except KeyboardInterrupt:  # a second signal acted (second_acts): the first asked for the same
        _restore(previous, hold)
        raise
    except BaseException:
        _restore(previous, hold)
        for s in caught:
            signal.raise_signal(s)
        raise
    _restore(previous, hold)
    for s in caught:
        signal.raise_signal(s)


def _restore(previous: dict[int, Any], hold: Any) -> None:
    """Each signal's handler from before ``signals_held``, where the block's own (``hold``) is still installed."""
    for s, handler in previous.items():
        if signal.getsignal(s) is hold:
            signal.signal(s, handler)


def steps_interrupted(metrics: Any) -> str | None:
    """The ``ended_by`` of a saved run whose training steps an interrupt ended ("interrupted by SIGTERM at step 77 of
    100"), read from its metrics.json; None for a run that finished its steps, one interrupted while it was scored after
    them included (its metrics.json names what was ``not_scored``). The one reading of it: ``outdir.finished`` (never
    written over a finished run), ``saved.cut_short`` (evaluate's note) and the model card's "Stopped early"."""
    ended = metrics.get("ended_by") if isinstance(metrics, dict) else None
    return ended if isinstance(ended, str) and ended.startswith("interrupted") and "not_scored" not in metrics else None


# a saved run's statuses whose weights predict, evaluate, export and adapters read: a finished run's, and an
# interrupted one's (its best validation checkpoint so far, or the last step's weights)
USABLE = ("done", "interrupted")


def run_status(metrics: Any) -> str:
    """A saved run's status from its metrics.json: "interrupted" where an interrupt ended its steps (so a one-step model
    never reads as finished), including a run saved before that status existed ("done" with such an ``ended_by``);
    else the status written ("done", "diverged", ...), "done" where none is."""
    status = metrics.get("status", "done") if isinstance(metrics, dict) else "done"
    return "interrupted" if status == "done" and steps_interrupted(metrics) is not None else str(status)
