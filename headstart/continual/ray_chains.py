"""Continual chains as Ray tasks: ``continual --backend ray [--address HOST:PORT|auto]`` (docs/SCALE.md).

A chain (one arm, one seed, every task of the stream in order) is the unit: its steps depend on each other, so one
task trains them all, declaring ``num_cpus=1`` (``num_gpus=1`` when the driver runs on CUDA). The worker loads the
stream and backbone once per process (``_PREPARED``, as the local pool does) and returns each step's ``RunResult`` as
plain data; the driver stores them, so it stays the store's only writer and no node needs the driver's disk. The
keys already stored go with the task, so a chain cut short in an earlier run resumes where its checkpoint (on the
worker's disk) allows, else starts again: every step is seeded, so a re-run gives the same rows.

A worker or node lost mid-chain (``WorkerCrashedError``, ``NodeDiedError``, ``OutOfMemoryError``, ``ObjectLostError``)
does not end the run: the chain is submitted again, up to ``MAX_ATTEMPTS`` times, and said in a warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
from typing import Any

from headstart.errors import HeadstartError
from headstart.results import RunResult

log = logging.getLogger("headstart")


class CollectingStore:
    """What ``run_chain`` needs of a store, in a worker: the keys already stored, and a list its results go to."""

    def __init__(self, done: set[str]) -> None:
        self.done = set(done)
        self.results: list[RunResult] = []

    def done_keys(self) -> set[str]:
        return set(self.done)

    def put(self, result: RunResult) -> None:
        self.results.append(result)
        if result.status == "done":
            self.done.add(result.key)


def _chain_task(job: dict[str, Any], arm: dict[str, Any], seed: int, done: list[str], threads: int, gpus: int) -> dict[str, Any]:
    """Runs on a Ray worker: one chain; its step results as plain data, its step keys, and where it ran."""
    import socket

    import ray
    import torch

    from headstart.continual import _chain_job
    from headstart.precision import DEVICE_ENV

    os.environ[DEVICE_ENV] = "cuda" if gpus else "cpu"  # the driver's device decides, as for compare's cells
    torch.set_num_threads(threads)
    store = CollectingStore(set(done))
    _, keys = _chain_job(job, arm, seed, False, store=store)
    return {"results": [r.to_dict() for r in store.results], "keys": keys,
            "node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid()}


def run_chains(chains: list[tuple[Any, int]], *, planned: set[str], job: dict[str, Any], address: str | None,
               progress: bool) -> int:
    """Train ``chains`` (``(ContinualArm, seed)``) on Ray, storing each step in ``job["out"]``; returns the steps
    trained and adds the chains' step keys to ``planned``.

    Raises:
        HeadstartError: a chain's worker died ``MAX_ATTEMPTS`` times, or a worker could not run the task at all.
    """
    from headstart.ray_backend import CELL_CPUS, MAX_ATTEMPTS, first_sentence, retryable_errors, session, wants_gpu
    from headstart.store import Store

    with session(address) as ray:
        gpus = 1 if wants_gpu() else 0
        task = ray.remote(_chain_task).options(num_cpus=CELL_CPUS, num_gpus=gpus, max_retries=0)
        with Store(job["out"]) as store:
            done = sorted(store.done_keys())
        retryable = retryable_errors(ray)
        clock, trained, finished = time.monotonic(), 0, 0

        def submit(arm: Any, seed: int, attempt: int) -> None:
            pending[task.remote(job, dataclasses.asdict(arm), seed, done, CELL_CPUS, gpus)] = (arm, seed, attempt)

        pending: dict[Any, tuple[Any, int, int]] = {}
        for arm, seed in chains:  # Ray queues what the cluster cannot run yet
            submit(arm, seed, 1)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    arm, seed, attempt = pending.pop(ref)
                    try:
                        reply = ray.get(ref)
                    except retryable as e:
                        if attempt >= MAX_ATTEMPTS:
                            raise HeadstartError(f"the worker running {arm.label} seed {seed} died {MAX_ATTEMPTS} times "
                                                 f"({first_sentence(e)}); the other chains are stored: run the same command again") from None
                        log.warning("lost the worker of %s seed %d (%s); running the chain again (attempt %d of %d)", arm.label, seed,
                                    first_sentence(e), attempt + 1, MAX_ATTEMPTS)
                        submit(arm, seed, attempt + 1)
                        continue
                    except ray.exceptions.RayTaskError as e:
                        cause = e.cause if getattr(e, "cause", None) is not None else e
                        raise HeadstartError(f"a Ray worker could not run {arm.label} seed {seed} ({type(cause).__name__}: {cause}); "
                                             "install the same headstart and Ray on every node of the cluster") from None
                    worker = {"backend": "ray", "node": reply["node"], "host": reply["host"], "pid": reply["pid"], "attempt": attempt}
                    with Store(job["out"]) as store:
                        for row in reply["results"]:
                            result = RunResult.from_dict(row)
                            store.put(dataclasses.replace(result, record={**result.record, "worker": worker}))
                    trained += len(reply["results"])
                    planned.update(reply["keys"])
                    finished += 1
                    if progress:
                        elapsed = time.monotonic() - clock
                        print(f"continual: chain {finished}/{len(chains)} finished on node {reply['node'][:8]} ({arm.label} seed {seed}); "
                              f"elapsed {elapsed:.0f}s, ETA {(len(chains) - finished) * elapsed / finished:.0f}s", file=sys.stderr, flush=True)
        except BaseException:  # Ctrl-C, SIGTERM: no chain trains on for nobody on the cluster (as compare's cells)
            for ref in pending:
                with contextlib.suppress(Exception):  # best effort: a finished or lost task cannot be cancelled
                    ray.cancel(ref, force=True)
            raise
    return trained
