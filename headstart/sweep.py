"""A label-efficiency sweep: strategies x sizes x seeds, each cell one run, resumable through the store.

The sweep is a visible loop over its product. Each cell's key is the hash of its resolved spec; cells
already ``done`` in the store are skipped, so re-running a command resumes it and adding a size, seed or
strategy trains only the new cells. Cells are claimed with a lease the driver renews while they run,
so a second ``compare`` on the same store skips them, and takes them over only if this driver dies.
Only the driver writes the store; worker processes return plain ``RunResult`` data. Cells run in this process,
in a local process pool (``--workers N``) or as Ray tasks (``--backend ray``, ``headstart.ray_backend``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.errors import HeadstartError, StoreError
from headstart.interrupts import interrupted_by, sigterm_as_interrupt
from headstart.killpoints import kill_point
from headstart.store import owner_is_dead
from headstart.data.leakage import LeakageReport
from headstart.results import RunResult
from headstart.sweep_cell import loaded_cell, loaded_data, worker_init, pool_devices, run_cell, worker_cell, stop_workers
from headstart.progress import CELL_ETA_KEY, ETA_KEY, REPEATS_KEY
from headstart.sweep_eta import SweepEta
from headstart.sweep_plan import check_backend, leakage_report, plan, seed_repeats
from headstart.sweep_spec import SweepSpec
from headstart.spool import merge_spool, put_with_retries, reason, spool
from headstart.specs import RunSpec

LEASE_SECONDS = 120.0  # renewed every LEASE_SECONDS / 4 while a cell runs; expires two minutes after a crash


# ---- the driver -------------------------------------------------------------------------------------------


@dataclass
class SweepOutcome:
    """What a sweep did: cells in total, skipped (already done), trained now and their statuses, and the statuses of
    those it skipped (``stored``: done, or diverged, which would diverge again)."""

    total: int
    skipped: int
    trained: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    nodes: dict[str, int] = field(default_factory=dict)  # --backend ray: cells trained per Ray node id
    # cells another compare on the store claimed first (in training there, or done meanwhile): counted from their first
    # failed claim, as the bar and the ETA count them, less those this sweep took back on its retry (``_claimed``)
    elsewhere: int = 0
    taken: list[str] = field(default_factory=list)  # their keys: whether each is still trained there is the store's word
    stored: dict[str, int] = field(default_factory=dict)  # the skipped cells by their stored status (and the reused)
    reused: int = 0  # cells stored as another seed's run, which every seed repeats (``sweep_plan.seed_repeats``)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a sweep, with how many of its cells the store holds: ``stored`` of ``total`` (a re-run
    trains the rest); ``by`` says which ("interrupted by SIGTERM")."""

    def __init__(self, stored: int, total: int, by: str = "interrupted") -> None:
        self.stored, self.total, self.by = stored, total, by
        super().__init__(f"{by}: {stored} of {total} cells stored; run the same command again to resume (stored "
                         "cells are skipped)")

    def __reduce__(self):
        return type(self), (self.stored, self.total, self.by)


class _Heartbeat:
    """Renews the leases of in-flight cells from a background thread (its own store connection)."""

    def __init__(self, store_dir: Path, owner: str) -> None:
        self.store_dir, self.owner = store_dir, owner
        self.active: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        from headstart.store import Store

        with Store(self.store_dir) as store:
            while not self.stop.wait(LEASE_SECONDS / 4):
                with self.lock:
                    active = dict(self.active)
                for key, spec in active.items():
                    store.claim(key, spec, self.owner, LEASE_SECONDS)

    def __enter__(self) -> "_Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def _write_leakage(out: Path, sweep: SweepSpec, report: LeakageReport) -> None:
    from headstart.atomic import write_json

    data = loaded_data(sweep)
    payload = {"data": data.name, "data_hash": data.hash, "split": dataclasses.asdict(sweep.split), **report.to_dict(),
               "removed_from_test": report.exact + report.near if sweep.split.dedupe else 0,
               "removed_from_validation": report.val_leaked if sweep.split.dedupe else 0}
    try:
        write_json(out / "leakage.json", payload)
    except OSError as e:
        raise StoreError(f"cannot write {str(out / 'leakage.json')!r} ({e.strerror}); choose a writable --out") from None


def data_read(sweep: SweepSpec) -> dict[str, Any]:
    """What loading the sweep's data did, kept with the store for the report's data line: the columns read (None for a
    built-in dataset), whether the user named them, and the loader's notes (rows dropped, columns guessed); and a file's
    absolute path, as the sweep's ``data`` keeps the path as given, relative to a working directory the store does not
    know (``check-leakage --run STORE`` reads the file from here)."""
    data = loaded_data(sweep)
    source = data.source or {}
    return {"name": data.name, "modality": data.modality, "text_column": source.get("text_column"),
            "label_column": source.get("label_column"), "split_column": source.get("split_column"), "text_given": sweep.text_column is not None,
            "label_given": sweep.label_column is not None, "notes": list(data.notes),
            **({"path": source["path"]} if source.get("path") else {})}


def run_sweep(sweep: SweepSpec, out: str | Path, *, workers: int = 1, command: str = "",
              progress: Callable[[int, int, dict[str, Any]], None] | None = None,
              leakage: LeakageReport | None = None, backend: str = "local", address: str | None = None,
              planned: list[tuple[RunSpec, str, dict[str, Any]]] | None = None, by: str = "compare") -> SweepOutcome:
    """Run every cell of ``sweep`` not yet done in the store at ``out``; resumable and safe to interrupt.

    Args:
        sweep: the product to run.
        out: directory of the store (``runs.sqlite``) and the report.
        workers: local processes; 1 runs in this process. Threads are divided between workers.
        command: the command line, recorded for the report.
        by: whose store this is, recorded beside it ("adapt" for adapt's cells: ``store_command``).
        progress: ``update(done, total, info)`` over the cells this call trains.
        leakage: the ``leakage_report`` if the caller already has it; written to ``out/leakage.json``.
        planned: ``plan(sweep)`` if the caller already has it.
        backend: "local" (this process or a local pool) or "ray" (each cell a Ray task; this process still writes
            the store).
        address: with "ray", the cluster: "HOST:PORT" of its head, "auto" for the one on this machine; None starts a
            local Ray.

    Raises:
        ConfigError: a bad ``workers`` / ``backend`` / ``address``, or ``ray`` not installed (``check_backend``).
        SweepInterrupted: Ctrl-C (a KeyboardInterrupt), saying how many cells the store holds.
    """
    from headstart.store import Store

    start = time.perf_counter()
    out = Path(out)
    check_backend(backend, address, workers)
    planned = plan(sweep) if planned is None else planned
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with Store(out) as store:
        store.release_dead(owner_is_dead)  # a compare killed with -9 on this host: no need to wait for its lease
        from headstart.analysis.arms import ARM_FIELDS, EXPERIMENT_FIELDS, spec_label

        # the report names what has no result yet, and labels each arm by its experiment's planned arms with its stored
        # ones (``analysis.unfinished``, ``arms.planned_cells``)
        cells = [{"key": key, "n": resolved.get("n_requested"), "n_actual": resolved.get("n"), "seed": resolved.get("seed"),
                  **{k: resolved.get(k) for k in (*EXPERIMENT_FIELDS, *ARM_FIELDS)}}
                 for _, key, resolved in planned]
        store.set_sweep(command, sweep.to_dict(), by=by, plan=cells, data=data_read(sweep))
        merge_spool(store)  # results an earlier sweep could not store (headstart.spool)
        _write_leakage(out, sweep, leakage if leakage is not None else leakage_report(sweep))
        done = store.done_keys()
        finished = done | {r.key for r in store.results("diverged")}  # a diverged cell would diverge again
        todo = [(spec, key, resolved) for spec, key, resolved in planned if key not in finished]
        outcome = SweepOutcome(total=len(planned), skipped=len(planned) - len(todo))
        repeats = seed_repeats(planned)  # every seed of a label-free size-0 arm is one run: trained once, stored for each
        copies, todo = [c for c in todo if c[1] in repeats], [c for c in todo if c[1] not in repeats]
        for _, key, _ in planned:
            if key in finished:
                status = "done" if key in done else "diverged"
                outcome.stored[status] = outcome.stored.get(status, 0) + 1

        # an arm's cells on one backbone share a rate (a cell's label also names its size and seed; a larger backbone
        # costs more a step)
        eta = SweepEta(todo, lambda resolved: f"{resolved.get('backbone')} {spec_label(resolved)}")
        # the bar counts every cell of the sweep, starting at those already stored (a resumed sweep read 0/36 with 8 in)
        progress = eta.wrap(_counting(progress, outcome, outcome.skipped + len(copies)))
        if progress:  # the first update: what the plan line counts (the repeats stand in the bar as stored)
            progress(0, len(todo), {REPEATS_KEY: len(copies)} if copies else {})
        try:  # SIGTERM (timeout, a scheduler's limit) ends the sweep as Ctrl-C does: claims released, the count said
            with sigterm_as_interrupt():
                _run_cells(todo, store, owner, out, outcome, progress, eta, backend=backend, address=address,
                           workers=workers)
                _store_repeats(copies, repeats, store, outcome)
        except KeyboardInterrupt as stop:
            kept = outcome.statuses.get("done", 0) + outcome.statuses.get("diverged", 0)  # a failed cell trains again
            raise SweepInterrupted(outcome.skipped + kept, outcome.total, interrupted_by(stop)) from None
    outcome.seconds = time.perf_counter() - start
    return outcome


def _counting(progress: Callable | None, outcome: SweepOutcome, stored: int) -> Callable | None:
    """``progress`` over the cells this call trains, shown over every cell of the sweep: ``stored`` are done from the
    start (a resumed sweep read 0/36 with 8 in), and so are those another compare holds (``outcome.taken``),
    from their first failed claim, when they leave the ETA too, until this sweep takes one back: the bar stopped at 9/12
    where 3 were another compare's. The line says how many ("taken 3 by another compare")."""
    if progress is None:
        return None

    def update(done: float, total: int, info: dict[str, Any]) -> None:
        held = len(outcome.taken)
        said = {"taken": f"{held} by another compare"} if held else {}
        progress(done + stored + held, total + stored, {**info, **said})

    return update


def _run_cells(todo, store, owner, out: Path, outcome: SweepOutcome, progress, eta: SweepEta, *, backend: str,
               address: str | None, workers: int) -> None:
    """Train ``todo`` on the backend, recording each result as it comes; with nothing to train, touch no backend
    (``--address auto`` with every cell stored failed for want of a cluster instead of writing the report)."""
    if not todo:
        return
    with _Heartbeat(out, owner) as heartbeat:
        if backend == "ray":
            from headstart.ray_backend import SweepHooks, run_ray

            def record(store: Any, key: str, resolved: dict[str, Any], result: RunResult, outcome: SweepOutcome) -> None:
                _record(store, key, resolved, result, outcome)
                eta.finished(key, steps_seconds(result), eval_seconds=result.eval_seconds,
                             loaded=bool(((result.record or {}).get("worker") or {}).get("loads")))

            run_ray(todo, store, owner, heartbeat, outcome, progress, address=address,
                    hooks=SweepHooks(work=worker_cell, record=record, label=_label, lease_seconds=LEASE_SECONDS,
                                     started=eta.started, dropped=eta.dropped))
        elif workers == 1:
            _run_inline(todo, store, owner, heartbeat, outcome, progress, eta)
        else:
            _run_pool(todo, store, owner, heartbeat, outcome, progress, workers, eta)
    if progress and outcome.taken:  # the last cells may have gone to another compare after the last update: a full bar
        progress(outcome.trained, len(todo), {})


def _record(store: Any, key: str, resolved: dict[str, Any], result: RunResult, outcome: SweepOutcome) -> None:
    """Store a finished cell's result; if the store cannot take it (locked for minutes, a full disk), keep it in
    ``DIR/spool/`` for the next sweep to merge, release the cell's claim, and say so. A trained result is never lost
    while any disk will hold it."""
    import sqlite3

    if result.key and result.key != key:
        raise RuntimeError(f"run key mismatch for {resolved['strategy']} n={resolved['n_requested']}: planned {key}, ran {result.key}")
    result = dataclasses.replace(result, key=key, spec=result.spec or resolved)
    try:
        put_with_retries(store, result)
    except (sqlite3.Error, StoreError) as exc:
        where = spool(Path(store.path), result, exc)
        logging.getLogger("headstart").warning(
            "could not write the result of %s to the store (%s); kept it in %s: the next compare on %s merges it",
            _label(resolved), reason(exc), where, store.path)
        with contextlib.suppress(sqlite3.Error, StoreError):
            store.mark(key, resolved, "pending")
    outcome.trained += 1
    outcome.statuses[result.status] = outcome.statuses.get(result.status, 0) + 1
    kill_point("sweep.recorded")


def _store_repeats(copies: list[tuple[RunSpec, str, dict[str, Any]]], repeats: dict[str, str], store: Any,
                   outcome: SweepOutcome) -> None:
    """Store each cell of ``copies`` as the run it repeats (``repeats[key]``, ``sweep_plan.seed_repeats``), under its
    own key and spec, its record naming the run it is (``same_run_as``: that run's seed and key). A cell whose run has
    no result yet (interrupted, or in training in another compare) is left for the next compare; where the store cannot
    take a copy, the next compare makes it again."""
    import sqlite3

    for _, key, resolved in copies:
        run = store.get(repeats[key])
        if run is None or run.status not in ("done", "failed", "diverged"):
            continue
        copy = dataclasses.replace(run, key=key, spec=resolved,
                                   record={**(run.record or {}), "same_run_as": {"seed": run.spec.get("seed"), "key": run.key}})
        try:
            put_with_retries(store, copy)
        except (sqlite3.Error, StoreError) as exc:
            logging.getLogger("headstart").warning("could not store %s as the run of seed %s it repeats (%s); the next "
                                                   "compare stores it", _label(resolved), run.spec.get("seed"), reason(exc))
            continue
        outcome.reused += 1
        outcome.stored[copy.status] = outcome.stored.get(copy.status, 0) + 1


def _label(resolved: dict[str, Any]) -> str:
    """A cell as progress lines and warnings name it: its arm with the options it sets away from their defaults, cut
    at 60 characters (icl's resolved options, label descriptions and prompt included, filled a line), its size, seed."""
    import json

    from headstart.analysis.arms import spec_label
    from headstart.errors import HeadstartError, clipped
    from headstart.strategies import get_strategy

    try:
        fields = dataclasses.fields(get_strategy(str(resolved.get("strategy"))).Options)
    except HeadstartError:  # a strategy this version lacks (an older store's): as stored
        fields = ()
    same = {f.name: json.dumps(f.default, default=str) for f in fields if f.default is not dataclasses.MISSING}
    options = {k: v for k, v in (resolved.get("options") or {}).items() if same.get(k) != json.dumps(v, default=str)}
    arm = clipped(spec_label({**resolved, "options": options}), 60)
    return f"{arm} n={resolved['n_requested']} seed={resolved['seed']}"


CELL_STEPS_SHARE = 0.999  # a cell's steps on the sweep bar: all of them still leave the cell to finish


def _cell_progress(progress: Callable | None, done: int, total: int, label: str) -> Callable | None:
    """Report a cell's steps as fractional progress of the sweep bar, short of the whole cell: it is done when its
    result is recorded (evaluation follows its last step). Beside the cell's name, what it is doing: a tuned cell's
    trials first, at none of its steps (``tuning``), a term's setup (``setup``), its own steps (``step 12/100``: the
    bar counts cells, and minutes of a cell showed nothing moving), then its scoring (``then``); a prompt arm's rows
    scored, validation then test, in place of steps (``rows 40/300``)."""
    if progress is None:
        return None

    def update(step: float, steps: int, info: dict[str, Any]) -> None:
        doing = next(({key: info[key]} for key in ("tuning", "setup", "then", "rows") if key in info),
                     {"step": f"{int(step)}/{steps}"} if steps > 0 else {})
        if isinstance(info.get(ETA_KEY), (int, float)):  # the cell's own time left (its tuning's): the sweep's ETA reads it
            doing[CELL_ETA_KEY] = info[ETA_KEY]
        progress(done + min(step / max(steps, 1), CELL_STEPS_SHARE), total, {"cell": label, **doing})

    return update


def _claimed(todo, store, owner, outcome: SweepOutcome, eta: SweepEta) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    """The cells of ``todo`` this sweep claims, each claimed just before it is yielded; then, once more, those another
    compare on the store held: a compare that died meanwhile on this host (killed with -9) holds nothing, and
    ``Store.claim`` takes its cell over, as a sweep starting now would (``release_dead``). What is still held then is
    counted in ``outcome.elsewhere`` from its first failed claim, and no longer once taken."""
    held = []
    for cell in todo:
        if store.claim(cell[1], cell[2], owner, LEASE_SECONDS):
            yield cell
        else:
            eta.dropped(cell[1])  # another compare holds it: not this sweep's time (``started`` counts it again if taken)
            outcome.elsewhere += 1
            outcome.taken.append(cell[1])
            held.append(cell)
    for cell in held:
        if store.claim(cell[1], cell[2], owner, LEASE_SECONDS):
            outcome.elsewhere -= 1
            outcome.taken.remove(cell[1])
            yield cell


def _run_inline(todo, store, owner, heartbeat, outcome, progress, eta: SweepEta) -> None:
    for done, (spec, key, resolved) in enumerate(_claimed(todo, store, owner, outcome, eta)):
        with heartbeat.lock:
            heartbeat.active[key] = resolved
        try:
            with contextlib.suppress(Exception):  # loaded once a process: its time is no cell's (the ETA's overhead);
                loaded_cell(spec)  # a load that fails fails again inside run_cell, which says why
            eta.started(key)
            result = run_cell(spec, progress=_cell_progress(progress, done, len(todo), _label(resolved)))
        except BaseException:
            store.mark(key, resolved, "pending")  # interrupted: release the claim so a re-run retrains it
            raise
        finally:
            with heartbeat.lock:
                heartbeat.active.pop(key, None)
        _record(store, key, resolved, result, outcome)
        eta.finished(key, steps_seconds(result), eval_seconds=result.eval_seconds)
        if progress:
            progress(done + 1, len(todo), {"cell": _label(resolved), "last": result.status})


def steps_seconds(result: RunResult) -> float:
    """``result``'s train time less its cached features' charge (``feature_seconds``: what computing them cost, charged
    to every arm that reads them, whichever computed them): what the sweep's ETA learns an arm's steps cost from. The
    cell that did compute them spent that time, and its wall time minus this counts it in its overhead, as before."""
    if result.train_seconds <= 0:  # failed: the ETA counts it so
        return result.train_seconds
    return max(1e-6, result.train_seconds - float((result.record or {}).get("feature_seconds") or 0.0))


# How long a driver whose worker was SIGTERMed waits for the same stop to reach it (``timeout``, a scheduler signals the
# whole process group; the driver's handler can run a moment after the pool saw its worker die) before it says a worker
# was stopped from outside: a signal's delivery takes micro- to milliseconds, 0.5 s covers a loaded host.
GROUP_STOP_GRACE_SECONDS = 0.5


# How long a driver whose pool broke waits for the dead worker's exit status: the pool breaks when the worker's pipe
# closes, which the kernel does as the process ends but a moment before its status can be read (a loaded host: tens
# of ms); read at once, no worker had ended, and a SIGTERM was said as "killed, or out of memory?".
EXIT_STATUS_WAIT_SECONDS = 2.0


def _stopped_by_signal(processes: Any, wait_seconds: float = EXIT_STATUS_WAIT_SECONDS) -> str | None:
    """"SIGTERM" or "SIGINT" where a worker of a broken pool was ended by that signal (a ``kill``, or a stop sent to the
    whole process group) and none by another (the OOM killer's or a kill -9's SIGKILL, a crash's SIGSEGV), else None.
    A worker that exited with a code of its own beside it is not another cause: the pool SIGTERMs the rest as it breaks,
    and one inside a run's interrupt handler ends by exiting. Waits up to ``wait_seconds`` for a first exit status."""
    import signal

    processes = list(processes)
    deadline = time.monotonic() + wait_seconds
    codes = {process.exitcode for process in processes if process.exitcode is not None}
    while not codes and time.monotonic() < deadline:
        time.sleep(0.01)
        codes = {process.exitcode for process in processes if process.exitcode is not None}
    signals = {-code for code in codes if code < 0}
    for stop in (signal.SIGTERM, signal.SIGINT):
        if stop in signals and signals <= {signal.SIGTERM, stop}:
            return stop.name
    return None


def _run_pool(todo, store, owner, heartbeat, outcome, progress, workers, eta: SweepEta) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # fork after torch threads start can deadlock
    pending: dict[Any, tuple[str, dict[str, Any]]] = {}
    held: dict[str, dict[str, Any]] = {}  # every cell claimed and not yet recorded: a Ctrl-C anywhere releases them all
    queue = _claimed(todo, store, owner, outcome, eta)
    more = True  # cells left in queue
    done = 0
    workers_seen: dict[int, Any] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=worker_init,
                             initargs=(threads, os.getpid(), pool_devices(workers), context.Value("i", 0))) as pool:
        try:
            while more or pending:
                while more and len(pending) < workers:
                    cell = next(queue, None)
                    if cell is None:
                        more = False
                        break
                    spec, key, resolved = cell
                    held[key] = resolved
                    with heartbeat.lock:
                        heartbeat.active[key] = resolved
                    pending[pool.submit(worker_cell, spec.to_dict())] = (key, resolved)
                    workers_seen.update(getattr(pool, "_processes", None) or {})  # their exit codes say what ended them
                    eta.started(key)
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    key, resolved = pending[future]
                    reply, loads = future.result()  # BrokenProcessPool when a worker was killed
                    result = RunResult.from_dict(reply)
                    del pending[future]
                    with heartbeat.lock:
                        heartbeat.active.pop(key, None)
                    _record(store, key, resolved, result, outcome)
                    # a worker's first cell holds its start and its loads: not what the arm's next cells cost
                    eta.finished(key, steps_seconds(result), eval_seconds=result.eval_seconds, loaded=loads > 0)
                    held.pop(key, None)
                    done += 1
                    if progress:
                        progress(done, len(todo), {"cell": _label(resolved)})
        except BaseException as e:
            signalled = _stopped_by_signal(workers_seen.values()) if isinstance(e, BrokenProcessPool) else None
            for key, resolved in held.items():  # claimed, submitted or not, and not recorded: a re-run trains them
                store.mark(key, resolved, "pending")
            stop_workers(pool)
            if isinstance(e, BrokenProcessPool):  # a worker died, and the pool with it
                cells = ", ".join(_label(resolved) for _, resolved in pending.values()) or "a cell"
                if signalled:  # SIGTERM / SIGINT from outside: a stop sent to the process group reaches the driver too,
                    time.sleep(GROUP_STOP_GRACE_SECONDS)  # a moment later at times; its interrupt, raised here, is said
                    raise HeadstartError(f"a worker process was stopped by {signalled} (sent from outside) while training "
                                         f"{cells}; the finished cells are stored: run the same command again to resume") from None
                raise HeadstartError(f"a worker process died (killed, or out of memory?) while training {cells}; the finished "
                                     "cells are stored: run the same command again to resume (with fewer --workers if "
                                     "memory is short)") from None
            raise
