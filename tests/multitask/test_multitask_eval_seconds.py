"""Tests of headstart/multitask/run.py: what a multi-task run's stored seconds count."""

from __future__ import annotations

import functools
import time

from mt_fixtures import job_for, write_tasks

COLD = 1000.0  # seconds the first read of the record's provenance takes in a process, on the test's clock


def test_eval_seconds_is_the_scoring_alone_whichever_run_a_process_scored_first(tmp_path, monkeypatch):
    """A multi-task run's eval_seconds ran its clock over the record's provenance too (git and package versions, read
    once a process: 0.03 s warm, seconds on a cold disk), so the first run a process scored was charged it and the
    next were not; a single-task run's eval_seconds is its scoring alone (``scoring.score``), cached features counted
    at their cost. Now the same run's eval_seconds is the same whichever run comes first, and counts its scoring."""
    import headstart.provenance as provenance
    from headstart.multitask.run import Plan, plan_key, run

    job = job_for(write_tasks(tmp_path / "tasks.csv"), ("label", "score"), steps=4)
    original = type(job.pretrained).forward
    monkeypatch.setattr(type(job.pretrained), "forward", lambda self, batch: time.sleep(0.02) or original(self, batch))
    real, real_clock, skipped = provenance.environment.__wrapped__, time.perf_counter, [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: real_clock() + skipped[0])

    @functools.lru_cache(maxsize=1)
    def cold() -> dict:  # the first call of a process pays, as environment() does: 1000 s on the clock the run reads
        skipped[0] += COLD  # (a real sleep of 0.6 s was within reach of a loaded machine's scoring)
        return real()

    monkeypatch.setattr(provenance, "environment", cold)
    plans = [Plan((0,), "equal", 0), Plan((0, 1), "equal", 0)]
    keyed = {plan: plan_key(job, plan) for plan in plans}
    seconds: dict[Plan, list[float]] = {plan: [] for plan in plans}
    for order in (plans, plans[::-1]):
        cold.cache_clear()  # another process
        for plan in order:
            seconds[plan].append(run(job, plan, *keyed[plan]).eval_seconds)
    for plan, (first, second) in seconds.items():
        assert first >= 0.02 and second >= 0.02, ("the test rows' forward passes are counted", plan, seconds)
        assert first < COLD and second < COLD, ("the record's provenance is not scoring", plan, seconds)
        assert abs(first - second) < COLD / 2, ("listed first or second, the same run costs the same", plan, seconds)
