"""Progress bars with ETA (rich), as callbacks the engine and the sweep call."""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from headstart.errors import ConfigError

ProgressFn = Callable[[int, int, dict[str, Any]], None]
LOG_EVERY = 15.0


ETA_KEY = "eta_s"  # an update's own ETA in seconds (``sweep_eta``): shown instead of the rate's; None: not known yet
# a sweep cell's own ETA (a tuned cell's trials at their pace), which the sweep's ETA reads for that cell; never shown
CELL_ETA_KEY = "cell_eta_s"
# a sweep's first update: its cells stored as another seed's run they repeat (``sweep_plan.seed_repeats``); never shown
REPEATS_KEY = "repeats"
CACHING = "caching the backbone's features"  # the part a feature cache's rows are counted under (``caching_part``)


def row_counter(progress: ProgressFn | None, total: int, *, before: int = 0) -> Callable[[int], None] | None:
    """``progress`` told rows scored, ``before`` plus those done, out of ``total``, labelled ``rows`` (``step`` is an
    optimiser step's): the bar of a run whose time is forward passes (the prompt arms), which a sweep's ETA then paces."""
    if progress is None:
        return None
    return lambda done: progress(before + done, total, {"rows": f"{before + done}/{total}"})


def pace(*, clock: Callable[[], float] = time.monotonic) -> Callable[[str, int, int], float | None]:
    """``left(what, done, total)``: the seconds that count has left at its own pace so far, None before its first
    batch (``done`` 0); its pace starts again at a count's 0 or at another ``what``.

    Rows are paced alike: weighed by their tokens instead (batches run the shortest first), a retention pass over 495
    reviews said ~131s left 10 s before it ended, its short rows' many small batches costing more than their tokens."""
    began: list[tuple[float, str]] = []  # (when, what) the count began

    def left(what: str, done: int, total: int) -> float | None:
        now = clock()
        if not began or done == 0 or began[0][1] != what:
            began[:] = [(now, what)]
        return (now - began[0][0]) * (total - done) / done if done else None

    return left


def paced(*, clock: Callable[[], float] = time.monotonic) -> Callable[..., str]:
    """``said(what, done, total, unit="rows")``: ``"what, done/total unit"`` with the time that count has left at its
    own pace so far (``pace``; rows differ in length, so "~"), unknown before its first batch. The words of every
    counted part that is no step (caching, scoring after the steps)."""
    left = pace(clock=clock)

    def said(what: str, done: int, total: int, unit: str = "rows") -> str:
        seconds = left(what, done, total)
        text = f"{what}, {done}/{total} {unit}"
        if 0 < done < total:
            text += f", ~{seconds:.0f}s left"
        elif done == 0:
            text += f", time left unknown until its first {'fit' if unit == 'fits' else 'batch'}"
        return text

    return said


def caching_counter(progress: ProgressFn | None, steps: int, *,
                    clock: Callable[[], float] = time.monotonic) -> Callable[[int, int], None] | None:
    """``progress`` told, at none of a run's ``steps`` done, that it caches its backbone's features (``setup``, which a
    sweep's bar shows beside its cell): a probe's first cell read "ETA ?" for minutes with no word of what it did. The
    time the caching has left is its own pace so far (``paced``).

    Returns:
        ``told(rows embedded, rows to embed)`` (``features.FeatureCache``'s ``progress``), or None without ``progress``.
    """
    if progress is None:
        return None
    said = paced(clock=clock)
    return lambda done, total: progress(0, steps, {"setup": said(CACHING, done, total)})


PartFn = Callable[..., None]  # ``told(what, done, total, unit="rows")``: a counted part of a stage (``scoring_counter``)


def scoring_counter(progress: ProgressFn | None, at: tuple[int, int] | None, *,
                    clock: Callable[[], float] = time.monotonic) -> PartFn | None:
    """``progress`` told, the bar still where the steps left it (``at``: done, total), what the scoring after them
    counts (``then``: "measuring retention on sst2, the adapted backbone's features, 120/872 rows"), and as the bar's
    ETA the time that part has left at its own pace (``pace``; unknown before its first batch, and the parts still to
    come have no pace yet): retention's feature pass and probe fits, the test split and other datasets (their
    test-time adaptation too) took longer than the steps with one line unchanged. One ETA: the line said "~490s left"
    beside "ETA ?".

    ``at`` None (``evaluate``: a scoring with no steps before it): the bar is each part's own count instead, the part
    named beside its unit ("120/2000 rows scoring the test split") and the bar's ETA the time it has left at its pace
    (``pace``), unknown before its first batch: 2,000 images took 30 s on a CPU with no word.

    Returns:
        ``told(what, done, total, unit="rows")`` (as ``paced``'s), or None without ``progress``.
    """
    if progress is None:
        return None
    if at is None:
        left = pace(clock=clock)
        return lambda what, done, total, unit="rows": progress(done, total, {unit: what, ETA_KEY: left(what, done, total)})
    left = pace(clock=clock)

    def told(what: str, done: int, total: int, unit: str = "rows") -> None:
        seconds = left(what, done, total)
        unknown = f", time left unknown until its first {'fit' if unit == 'fits' else 'batch'}" if done == 0 else ""
        progress(*at, {"then": f"{what}, {done}/{total} {unit}{unknown}", ETA_KEY: seconds})

    return told


def part_of(told: PartFn | None, doing: str) -> PartFn | None:
    """``told`` with each part named inside ``doing`` ("measuring retention on sst2, " + the part; ``doing`` alone for
    the part ""), or None without ``told``."""
    if told is None:
        return None
    return lambda what, done, total, unit="rows": told(f"{doing}, {what}" if what else doing, done, total, unit)


def caching_part(told: PartFn | None) -> Callable[[int, int], None] | None:
    """``told`` as a feature cache's ``progress(done, total)``: its rows counted as the part ``CACHING``; None without
    ``told``."""
    return None if told is None else lambda done, total: told(CACHING, done, total)


def scoring_part(told: PartFn | None, data: str, tta: str | None = None) -> PartFn | None:
    """``told`` with each part named inside "scoring DATA" ("scoring DATA after TTA" after a test-time adaptation):
    another dataset's scoring, by a trained run (``record``) or a loaded one (``loaded``)."""
    return part_of(told, f"scoring {data}" + (f" after {tta}" if tta else ""))


class Stages:
    """What an export or an sft / prefer merge does, told to ``progress(done, total, info)`` (None: nothing):
    ``said(stage)`` a stage that is not counted (``0/0``: the bar's ETA unknown; ``info["stage"]``), ``counter(what)``
    a count of sequences (``info["sequences"]``: what is counted; ``unit="inputs"``: ``info["inputs"]``, a
    classifier's texts), its time left at its own pace (``pace``; unknown before its first sequence)."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self.progress, self.left = progress, pace()

    def said(self, stage: str) -> None:
        if self.progress:
            self.progress(0, 0, {"stage": stage, ETA_KEY: None})

    def counter(self, what: str, unit: str = "sequences") -> Callable[[int, int], None] | None:
        if not self.progress:
            return None
        # the count is the bar's own ("4/64 sequences the run's logits"): said in the words too, a line showed it twice
        return lambda done, total: self.progress(done, total, {unit: what, ETA_KEY: self.left(what, done, total)})


def eta_by_kind(left: dict[str, int], seconds: dict[str, list[float]]) -> float:
    """Seconds the remaining units take, each kind at its own mean so far, a kind with none finished at the mean over
    every finished unit: continual's lwf tasks cost 3-6x naive's, and one mean over the first (naive) tasks said 202 s
    of a 683 s run.

    Args:
        left: units still to do, by kind (a continual arm). seconds: each finished unit's seconds, by kind.
    """
    done = [t for times in seconds.values() for t in times]
    overall = sum(done) / len(done) if done else 0.0
    return sum(n * (sum(seconds[k]) / len(seconds[k]) if seconds.get(k) else overall) for k, n in left.items() if n > 0)


def clock_text(seconds: float | None) -> str:
    """``"0:03:07"`` as rich's ``TimeRemainingColumn`` writes it; ``"-:--:--"`` when unknown."""
    if seconds is None:
        return "-:--:--"
    minutes, secs = divmod(int(math.ceil(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _log_lines(description: str) -> ProgressFn:
    """Plain progress lines for a log file. The ETA is the update's own (``ETA_KEY``: a sweep weighs its cells by
    what each kind has cost) or else the rate since the first update, or the last still at its count (setup before it,
    loading a model, or said at none of the steps, caching features, would otherwise count as the first step's time),
    "?" until the count has moved.

    ``done`` may be fractional (a sweep reports a cell's steps as a share of that cell); the line shows the whole units
    done, as the terminal bar does (rich's ``MofNCompleteColumn``), while the rate uses the fraction."""
    start = time.monotonic()
    printed: list[Any] = [-LOG_EVERY, None]  # when the last line was printed, and its words at a full count
    seen: list[tuple[float, int]] = []  # (done, total) of the last update
    first: list[tuple[float, float]] = []  # (time, done) at the first update, or the last one still at its count

    def update(done: float, total: int, info: dict[str, Any]) -> None:
        now = time.monotonic() - start
        if not first or done == first[0][1]:  # said at none of the steps (caching features): not the steps' time
            first[:] = [(now, done)]
        # a new count (sft's test answers after its steps) is said at once: minutes of it followed a line ending "ETA 0s"
        new_count = bool(seen) and (total != seen[-1][1] or done < seen[-1][0])
        seen[:] = [(done, total)]
        if new_count:  # its rate starts with it: the steps' units are not its units
            first[:] = [(now, done)]
        text = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()
                        if k not in (ETA_KEY, CELL_ETA_KEY))
        # at a full count (the last step, then the scoring after it, whose parts count their rows) a line is said at
        # once when its words change, numbers aside, not at every update: a line per batch of the retention pass
        words = re.sub(r"\d+", "#", text) if done >= total else None
        if now - printed[0] < LOG_EVERY and not new_count and (words is None or words == printed[1]):
            return
        printed[:] = [now, words]
        since, done_then = first[0]
        rate = (done - done_then) / (now - since) if done > done_then and now > since else 0.0
        eta = f"{(total - done) / rate:.0f}s" if rate > 0 else "0s" if done >= total else "?"
        if ETA_KEY in info:  # the update's own: a phase whose rate the earlier updates' would misstate
            eta = f"{info[ETA_KEY]:.0f}s" if isinstance(info[ETA_KEY], (int, float)) else "?"
        if total <= 0:  # nothing counted (a closed-form fit solves, it takes no steps): no count, no ETA to read
            print(" ".join(part for part in (f"{description}:", text, f"elapsed {now:.0f}s") if part), file=sys.stderr, flush=True)
            return
        print(" ".join(part for part in (f"{description}: {int(done)}/{total}", text, f"elapsed {now:.0f}s ETA {eta}") if part),
              file=sys.stderr, flush=True)

    return update


def progress_default(progress: bool | None) -> bool:
    """Whether a long Python call (compare, continual, multitask, adapt) shows progress: ``progress`` as given, and for
    None (their default) on where someone watches — stderr a terminal, or a Jupyter kernel's (there as a plain line
    every ``LOG_EVERY`` seconds, as in a log) — so a notebook's minutes-long call is not silent; off in a script's log."""
    if progress is not None:
        return bool(progress)
    stream = sys.stderr
    notebook = "ipykernel" in sys.modules and type(stream).__module__.startswith("ipykernel")
    return notebook or bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[ProgressFn | None]:
    """Yield ``update(done, total, info)`` drawing a rich bar with ETA on stderr, or None when disabled.

    The bar appears at the first update, so a run that fails during setup prints only its error.
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TextColumn("ETA"), _remaining_column()]
    state: dict[str, Any] = {}
    console = Console(file=sys.stderr)
    if not console.is_terminal:  # a log file: a plain line at most every LOG_EVERY seconds, with ETA
        yield _log_lines(description)
        return
    with ExitStack() as stack:

        def update(done: int, total: int, info: dict[str, Any]) -> None:
            if "bar" not in state:
                state["bar"] = stack.enter_context(Progress(*columns, console=console))
                state["task"] = state["bar"].add_task(description, total=total, info="", eta=None, after=False)
            eta = info.get(ETA_KEY)
            text = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()
                        if k not in (ETA_KEY, CELL_ETA_KEY))
            state["bar"].update(state["task"], completed=done, total=total, info=text, after="then" in info,
                                eta=float(eta) if isinstance(eta, (int, float)) else UNKNOWN if ETA_KEY in info else None)

        yield update


UNKNOWN = object()  # the bar's ETA where the update said it has none yet (``ETA_KEY``: None)


def _remaining_column():
    """rich's ``TimeRemainingColumn``, showing an update's own ETA (``ETA_KEY``) where it gave one."""
    from rich.progress import TimeRemainingColumn
    from rich.text import Text

    class Remaining(TimeRemainingColumn):
        def render(self, task: Any) -> Any:
            eta = task.fields.get("eta")
            if eta is None:
                return super().render(task)
            # unknown wins over finished, and so does a scoring part's own time left (``then``): after the last step
            # the bar is full while the scoring stages still run
            finished = task.finished and not task.fields.get("after")
            return Text(clock_text(None if eta is UNKNOWN else 0.0 if finished else eta), style="progress.remaining")

    return Remaining()


@contextmanager
def progress_callback(progress: Any, description: str) -> Iterator[ProgressFn | None]:
    """``progress`` as the callback ``evaluate``, ``sft`` and ``prefer`` tell: True draws the CLI's bar on stderr
    (``progress_bar(description)``), False or None none, a function ``(done, total, info)`` is used as it is.

    Raises:
        ConfigError: anything else, named.
    """
    check_progress(progress)
    if isinstance(progress, bool):
        with progress_bar(description, enabled=progress) as update:
            yield update
        return
    yield progress


@contextmanager
def shown_progress(progress: Any, description: str) -> Iterator[ProgressFn | None]:
    """``progress`` as the callback ``fit`` and ``compare`` tell: a function ``(done, total, info)`` used as it is;
    True, False or None as ``progress_bar(description)`` on or off (None: ``progress_default``'s choice).

    Raises:
        ConfigError: anything else, named.
    """
    check_progress(progress)
    if progress is not None and not isinstance(progress, bool):
        yield progress
        return
    with progress_bar(description, enabled=progress_default(progress)) as update:
        yield update


def check_progress(progress: Any) -> None:
    """Refuse a ``progress`` that is neither a bool, None nor a function (``progress_callback``'s), before anything runs."""
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise ConfigError(f"progress must be True (a bar on stderr), False, None or a function (done, total, info), got "
                          f"{type(progress).__name__} {progress!r:.40}; e.g. progress=True")
