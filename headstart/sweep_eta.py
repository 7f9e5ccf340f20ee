"""A sweep's remaining time, weighing each cell by what its kind of cell has cost so far.

Cells of one sweep differ in cost by an order of magnitude and more: every size up to a few hundred labels trains the
``min_steps`` floor, "all" trains epochs over the whole pool, a linear probe's step costs a fraction of a fine-tune's,
and the first probe of a backbone pays for caching the features every later one reads. Counting every cell the same
(the bar's own estimate) swings a default compare's ETA from minutes to hours as the sweep reaches its larger cells.

Here a cell is predicted to take its arm's overhead (the median over its finished cells of wall time minus training
time: its setup, caching, evaluation) plus its planned optimiser steps (``strategies.base.budget_for`` on its resolved
settings) at its arm's training seconds per step. A running cell that reports its steps is extrapolated from the pace
of its steps once a tenth of them were seen (from its first step report: its setup is not a step), or a tuned cell
from its own time left (its trials' pace, ``progress.CELL_ETA_KEY``); that pace is its arm's until the arm has a finished
cell. A cell whose arm has no finished cell and no running cell with a pace counts at what the timed arm of its strategy
on its backbone slowest at that cell would take (an option grid's arms: a LoRA rank's step costs about another's), or,
where none of its strategy is timed, the timed arm slowest at that cell (its overhead with its pace, one arm's both): an estimate, low where that arm is slower (a probe's second on cached features once made a fine-tune of six
minutes read "ETA 5s"), that grows as the arms are timed; a sweep runs each size's arms before the next size, so every
arm is known after the first round ("ETA ?" for all of it read as no estimate at all). Only while nothing has been timed
is the time unknown. What a process pays once is no cell's overhead: the inline sweep loads a cell's data and backbone
before its clock starts, and a pool's or Ray's cell whose worker loaded them (its first: the process's start too) counts
its scoring alone as its overhead: a first cell's loading, counted as its arm's overhead, was carried into every cell
of that arm and, through the slowest timed arm, of every arm not yet timed, for the first third of a sweep. A cell past its prediction counts as long again as it has overrun. Cells run side by side divide
the sum.

A cell's scoring after its steps (the test split, retention, other datasets: ``then`` on its updates) is timed apart:
its arm's finished cells' scoring seconds are added to a running cell's steps paced on their own, and while the cell
scores, what is left is that time less what it has scored so far (a cell at its last step once read ~0 s for minutes of
scoring). An arm with no scoring timed yet counts the cell as its whole prediction, overhead included.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from headstart.progress import CELL_ETA_KEY, ETA_KEY

OWN_PACE = 0.1  # share of its steps seen after which a running cell's own pace predicts its end


def planned_steps(resolved: dict[str, Any]) -> int:
    """Optimiser steps the resolved spec plans (``budget_for`` on its train settings and size); 1 when unknown, and 1
    for a closed-form strategy (``solved``: embed-logreg, tfidf-logreg, embed-knn take no step, its solve counted as
    one), whose settings keep the step floor it never trains: 100 steps each at a fine-tune's pace read an ETA of 4,500 s
    for a sweep that ended 73 s later."""
    from headstart.strategies.base import budget_for
    from headstart.strategies.registry import STRATEGIES

    if getattr(STRATEGIES.get(str(resolved.get("strategy"))), "solved", False):
        return 1

    train = resolved.get("train") or {}
    try:
        cfg = SimpleNamespace(batch_size=int(train["batch_size"]), accumulate=int(train.get("accumulate") or 1),
                              epochs=int(train["epochs"]), min_steps=int(train.get("min_steps") or 0),
                              max_steps=train.get("max_steps"))
        return max(1, budget_for(cfg, int(resolved["n"])).steps)
    except (KeyError, TypeError, ValueError):
        return 1


class SweepEta:
    """Remaining wall seconds of the cells ``todo`` (``(spec, key, resolved)``, in the order they run), learnt from
    the cells ``finished`` so far; ``arm`` names a resolved spec's arm. As many cells as ever ran at once (workers, a
    Ray cluster's capacity) divide what is left.

    ``remaining`` is None until some cell has been timed (a finished cell, or the running cell's own pace): unknown.
    """

    def __init__(self, todo: list[tuple[Any, str, dict[str, Any]]], arm: Callable[[dict[str, Any]], str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock, self.width = clock, 1
        self.steps = {key: planned_steps(resolved) for _, key, resolved in todo}
        self.arm = {key: arm(resolved) for _, key, resolved in todo}
        self.left = list(self.steps)
        self.running: dict[str, float] = {}  # key -> when it started
        self.first_step: dict[str, tuple[float, float]] = {}  # key -> (when, share of steps) of its first step report
        self.trained: dict[str, list[float]] = {}  # arm -> [training seconds, steps] of its finished cells
        self.overheads: dict[str, list[float]] = {}  # arm -> each finished cell's wall minus training seconds
        self.failed: dict[str, list[float]] = {}  # arm -> the wall seconds of its cells that trained nothing (failed)
        self.scoring_since: dict[str, float] = {}  # key -> when the running cell's scoring after its steps began
        self.scored: dict[str, list[float]] = {}  # arm -> the seconds each finished cell scored after its steps
        self.paces: dict[str, tuple[float, float]] = {}  # key -> the running cell's own (overhead, seconds per step)
        # an arm's backbone and strategy: an arm not yet timed is costed as the timed arms of its kind before any other
        self.kind = {self.arm[key]: (resolved.get("backbone"), resolved.get("strategy")) for _, key, resolved in todo}

    def started(self, key: str) -> None:
        """A cell begins (in this process, or handed to a worker); one ``dropped`` while another compare held it, and
        taken on the sweep's retry (``sweep._claimed``), is this sweep's again."""
        if key in self.steps and key not in self.left:
            self.left.append(key)
        self.running[key] = self.clock()
        self.width = max(self.width, len(self.running))

    def finished(self, key: str, train_seconds: float, *, eval_seconds: float | None = None, loaded: bool = False) -> None:
        """A cell is recorded. A cell that trained teaches its arm's rate; its wall time (when its start was seen)
        the arm's overhead. A failed cell teaches no rate; its wall time is what its arm's cells are expected to take
        while none of them has trained (an arm whose every cell fails would otherwise leave the ETA unknown).

        Args:
            eval_seconds: the cell's scoring after training (``RunResult.eval_seconds``).
            loaded: the cell's worker loaded its data or backbone for it (a process's first cell): its wall time holds
                that one-off, so its overhead is its scoring alone (``eval_seconds``; none learnt without it).
        """
        began = self.running.pop(key, None)
        self.first_step.pop(key, None)
        self.paces.pop(key, None)
        scoring_since = self.scoring_since.pop(key, None)
        if key not in self.left:
            return
        self.left.remove(key)
        if scoring_since is not None and train_seconds > 0:
            self.scored.setdefault(self.arm[key], []).append(max(0.0, self.clock() - scoring_since))
        if train_seconds <= 0:
            self.failed.setdefault(self.arm[key], []).append(max(0.0, self.clock() - began) if began is not None else 0.0)
            return
        seconds_steps = self.trained.setdefault(self.arm[key], [0.0, 0.0])
        seconds_steps[0] += train_seconds
        seconds_steps[1] += self.steps[key]
        if began is None or (loaded and eval_seconds is None):
            return
        overhead = max(0.0, self.clock() - began - train_seconds)
        self.overheads.setdefault(self.arm[key], []).append(min(overhead, max(0.0, eval_seconds)) if loaded else overhead)

    def scoring(self) -> None:
        """The one running cell has ended its steps and scores (its first ``then`` update): its scoring is timed."""
        if len(self.running) == 1:
            self.scoring_since.setdefault(next(iter(self.running)), self.clock())

    def scoring_seconds(self, key: str) -> float | None:
        """Seconds ``key``'s arm's finished cells took to score after their steps (median); None until one was timed."""
        found = self.scored.get(self.arm[key])
        return statistics.median(found) if found else None

    def dropped(self, key: str) -> None:
        """A cell this sweep will not train (another compare claimed it)."""
        self.running.pop(key, None)
        self.scoring_since.pop(key, None)
        self.paces.pop(key, None)
        if key in self.left:
            self.left.remove(key)

    def predicted(self, key: str, rates: dict[str, tuple[float, float]] | None = None) -> float | None:
        """Wall seconds ``key`` should take: its arm's overhead plus its steps at its arm's rate; where its arm has only
        failed cells, what they took; None while its arm has no finished cell. ``rates``: ``_rates()`` already computed
        for this moment."""
        rates = rates if rates is not None else self._rates()
        if self.arm[key] not in rates:
            failed = self.failed.get(self.arm[key])
            return statistics.median(failed) if failed else None  # its cells fail: as long as they took to fail
        overhead, per_step = rates[self.arm[key]]
        return overhead + self.steps[key] * per_step

    def _rates(self) -> dict[str, tuple[float, float]]:
        """Each arm's (median overhead, seconds per step) from its finished cells (the overhead every finished cell's
        where its own were not timed): computed once per ``remaining`` (a sweep in this process asks at every step)."""
        pooled = [o for found in self.overheads.values() for o in found] or [0.0]
        return {arm: (statistics.median(self.overheads.get(arm) or pooled), s / n) for arm, (s, n) in self.trained.items()}

    def _running_rate(self, current: float, own: float | None) -> tuple[str, tuple[float, float]] | None:
        """The one running cell's arm and its (overhead, seconds per step) from the cell's own pace: its steps once a
        tenth of them were seen (its setup before its first step report the overhead), else its own time left
        (``own``: its tuning's ETA) over its planned steps; None without either. What a not yet timed arm costs."""
        if len(self.running) != 1:
            return None
        (key,), now = self.running, self.clock()
        if current > 0 and key not in self.scoring_since:
            when, share = self.first_step.setdefault(key, (now, current))  # its own pace, once a tenth was seen
            if current - share >= OWN_PACE:  # kept for its scoring after its steps, when its steps no longer move
                self.paces[key] = (when - self.running[key], (now - when) / ((current - share) * self.steps[key]))
        elif own is not None:
            self.paces[key] = (0.0, (now - self.running[key] + own) / self.steps[key])
        return (self.arm[key], self.paces[key]) if key in self.paces else None

    def remaining(self, current: float = 0.0, own: float | None = None) -> float | None:
        """Wall seconds left. ``current``: the share of its steps the running cell has done, when one cell runs in
        this process (a pool's workers report only when a cell ends: their running cells count by the clock).
        ``own``: that cell's own time left, where it says one (a tuned cell's trials at their pace).

        An arm not yet timed counts each cell at what the timed arm slowest at that cell would take, its overhead with
        its pace (its own running cell's pace where it runs): an estimate that grows as slower arms are timed, where "ETA ?" stood for the first half
        of a sweep. A cell past its prediction (its steps, or its scoring) counts as long again as it has overrun, not
        "?" (the whole read "?" mid-sweep) and not "0 s". None only while nothing at all has been timed."""
        if not self.left:
            return 0.0
        now = self.clock()
        rates = self._rates()
        running = self._running_rate(current, own)
        if running is not None and running[0] not in rates:
            rates[running[0]] = running[1]
        total = 0.0
        for key in self.left:
            scoring = self.scoring_seconds(key)
            if key in self.scoring_since and scoring is not None:  # past its steps: its arm's scoring less what it did
                spent = now - self.scoring_since[key]
                total += scoring - spent if spent <= scoring else spent - scoring
                continue
            alone = key in self.running and len(self.running) == 1 and key not in self.scoring_since
            if alone and own is not None:  # its own word on its time left (its tuning's), its arm's scoring after it
                total += own + (scoring or 0.0)
                continue
            if alone and current > 0:
                when, share = self.first_step.setdefault(key, (now, current))
                if current - share >= OWN_PACE:
                    total += (now - when) * (1 - min(current, 1.0)) / (current - share) + (scoring or 0.0)
                    continue
            expected = self.predicted(key, rates)
            if expected is None and rates:  # an arm not yet timed: what the timed arm slowest at this cell would take,
                kin = [rate for arm, rate in rates.items() if self.kind.get(arm) == self.kind[self.arm[key]]]  # of its kind
                expected = max(overhead + self.steps[key] * pace for overhead, pace in kin or rates.values())
            if expected is None:
                return None  # nothing timed yet: no number at all
            elapsed = now - self.running[key] if key in self.running else 0.0
            total += expected - elapsed if elapsed <= expected else elapsed - expected  # overrun: as long again
        return total / min(self.width, len(self.left))

    def wrap(self, progress: Callable[[float, int, dict[str, Any]], None] | None):
        """``progress`` with the ETA in its info (``ETA_KEY``): None while it is unknown, which the bar shows as such
        (its own count of cells a second would weigh a probe's cell as a fine-tune's); the running cell's own time
        left (``CELL_ETA_KEY``, a tuned cell's) is read, not shown. None stays None."""
        if progress is None:
            return None

        def update(done: float, total: int, info: dict[str, Any]) -> None:
            if "then" in info:  # the cell scores after its steps
                self.scoring()
            current = done - math.floor(done)
            own = info.get(CELL_ETA_KEY)
            info = {k: v for k, v in info.items() if k != CELL_ETA_KEY}
            left = self.remaining(current, own=own if isinstance(own, (int, float)) else None)
            progress(done, total, {**info, ETA_KEY: left})

        return update
