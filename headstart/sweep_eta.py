"""A sweep's remaining time, weighing each cell by what its kind of cell has cost so far.

Cells of one sweep differ in cost by an order of magnitude and more: every size up to a few hundred labels trains the
``min_steps`` floor, "all" trains epochs over the whole pool, a linear probe's step costs a fraction of a fine-tune's,
and the first probe of a backbone pays for caching the features every later one reads. Counting every cell the same
(the bar's own estimate) swings a default compare's ETA from minutes to hours as the sweep reaches its larger cells.

Here a cell is predicted to take its arm's overhead (the median over its finished cells of wall time minus training
time: loading, caching, evaluation) plus its planned optimiser steps (``strategies.base.budget_for`` on its resolved
settings) at its arm's training seconds per step. A running cell that reports its steps is extrapolated from the pace
of its steps once a tenth of them were seen (from its first step report: its setup is not a step). A cell whose arm
has no finished cell, and no pace of its own yet, leaves the time unknown: another arm's pace says nothing of it (a
probe's second on cached features once made a fine-tune of six minutes read "ETA 5s"); a sweep runs each size's arms
before the next size, so every arm is known after the first round. Cells run side by side divide the sum.

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

from headstart.progress import ETA_KEY

OWN_PACE = 0.1  # share of its steps seen after which a running cell's own pace predicts its end


def planned_steps(resolved: dict[str, Any]) -> int:
    """Optimiser steps the resolved spec plans (``budget_for`` on its train settings and size); 1 when unknown."""
    from headstart.strategies.base import budget_for

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

    ``remaining`` is None until every arm left has a finished cell (or the running cell its own pace): unknown.
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

    def started(self, key: str) -> None:
        """A cell begins (in this process, or handed to a worker)."""
        self.running[key] = self.clock()
        self.width = max(self.width, len(self.running))

    def finished(self, key: str, train_seconds: float) -> None:
        """A cell is recorded. A cell that trained teaches its arm's rate; its wall time (when its start was seen)
        the arm's overhead. A failed cell teaches no rate; its wall time is what its arm's cells are expected to take
        while none of them has trained (an arm whose every cell fails would otherwise leave the ETA unknown)."""
        began = self.running.pop(key, None)
        self.first_step.pop(key, None)
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
        if began is not None:
            self.overheads.setdefault(self.arm[key], []).append(max(0.0, self.clock() - began - train_seconds))

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

    def remaining(self, current: float = 0.0) -> float | None:
        """Wall seconds left. ``current``: the share of its steps the running cell has done, when one cell runs in
        this process (a pool's workers report only when a cell ends: their running cells count by the clock)."""
        if not self.left:
            return 0.0
        now = self.clock()
        rates = self._rates()
        total = 0.0
        for key in self.left:
            scoring = self.scoring_seconds(key)
            if key in self.scoring_since and scoring is not None:  # past its steps: its arm's scoring less what it did
                spent = now - self.scoring_since[key]
                if spent > scoring:
                    return None  # scoring longer than its arm's did: it ends at a time nothing here knows
                total += scoring - spent
                continue
            if key in self.running and len(self.running) == 1 and current > 0 and key not in self.scoring_since:
                when, share = self.first_step.setdefault(key, (now, current))  # its own pace, once a tenth was seen
                if current - share >= OWN_PACE:
                    total += (now - when) * (1 - min(current, 1.0)) / (current - share) + (scoring or 0.0)
                    continue
            expected = self.predicted(key, rates)
            if expected is None:
                return None  # an arm not yet timed: no honest number for the whole
            if key in self.running and now - self.running[key] > expected:
                return None  # a cell past its prediction ends at a time nothing here knows: not "0 s"
            total += expected - (now - self.running[key]) if key in self.running else expected
        return total / min(self.width, len(self.left))

    def steps_left(self, current: float) -> float | None:
        """Wall seconds the one running cell's steps still take at their own pace (its scoring after them not
        included), once a tenth of them were seen since its first step report (``remaining`` marks that); else None."""
        if len(self.running) != 1 or current <= 0:
            return None
        (key,) = self.running
        when, share = self.first_step.get(key, (None, 0.0))
        if when is None or current - share < OWN_PACE:
            return None
        return (self.clock() - when) * (1 - min(current, 1.0)) / (current - share)

    def wrap(self, progress: Callable[[float, int, dict[str, Any]], None] | None):
        """``progress`` with the ETA in its info (``ETA_KEY``): None while it is unknown, which the bar shows as such
        (its own count of cells a second would weigh a probe's cell as a fine-tune's), the running cell's own steps
        then said apart (``steps left ~40s``: the first round of a sweep read "ETA ?" for minutes; a prompt arm's cell
        counts rows, ``rows left ~40s``); None stays None."""
        if progress is None:
            return None

        def update(done: float, total: int, info: dict[str, Any]) -> None:
            if "then" in info:  # the cell scores after its steps
                self.scoring()
            current = done - math.floor(done)
            left = self.remaining(current)
            counted = next((unit for unit in ("step", "rows") if unit in info), None)
            own = self.steps_left(current) if left is None and counted else None
            said = {f"{'rows' if counted == 'rows' else 'steps'} left": f"~{own:.0f}s"} if own is not None else {}
            progress(done, total, {**info, **said, ETA_KEY: left})

        return update
