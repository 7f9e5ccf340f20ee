"""A sweep's cells as Ray tasks: ``compare --backend ray [--address HOST:PORT|auto]`` (docs/SCALE.md).

The driver (``sweep.run_sweep``) plans, leases and records every cell exactly as for the local pool; Ray only
computes. Each cell is one task declaring ``num_cpus=1`` (and ``num_gpus=1`` when the driver's device is CUDA). A
worker process keeps the data and backbone it loaded (``sweep_cell._LOADED``) for its next cell, and Ray reuses a job's
worker processes, so a process loads each once. The cell's ``RunResult`` comes back to the driver as plain data with
the node, host and process that ran it (``record["worker"]``), and the driver stores it: it stays the store's only
writer.

At most as many cells are in flight as the cluster has CPUs for, re-read every round, so a node that joins gets
work and a lost node's share is not left leased: a cell is claimed just before it is submitted. A cell another compare
holds is skipped and, once this driver's own cells are all submitted, claimed once more, as the local backends do: a
compare that died meanwhile holds nothing, so its cell is taken; one still held then is counted as another compare's.

A worker or node lost mid-cell (``WorkerCrashedError``, ``NodeDiedError``, ``OutOfMemoryError``, ``ObjectLostError``)
does not end the sweep: the driver, which still holds the cell's lease, submits the cell again. Tasks run with Ray's
``max_retries=0``, so every retry is the driver's own and is said in a note; after ``MAX_ATTEMPTS`` the cell goes back
to ``pending`` for the next compare and the sweep ends with an error naming it. A cell's result is a function of its
spec (seeded; one intra-op thread, as in a local run on one thread), so the re-run gives what an uninterrupted run
would have.

Ray is an extra (``pip install 'headstart[ray]'``), imported only here, only when ``--backend ray`` is asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from headstart.errors import ConfigError, HeadstartError
from headstart.results import RunResult
from headstart.surface import SURFACE_ENV, on_cli

RAY_MISSING = "--backend ray needs the ray extra: pip install 'headstart[ray]'"
CELL_CPUS = 1  # one intra-op thread a cell: on CPU a sweep gains more from cells side by side than from threads
MAX_ATTEMPTS = 3  # a cell whose worker dies three times (out of memory wherever it runs?) is left for the next compare
CONNECT_SECONDS = 10.0  # how long to wait for the head's port to answer
POLL_SECONDS = 1.0  # how often the driver re-reads the cluster's size while it waits for results

log = logging.getLogger("headstart")


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        ConfigError: ray is not installed (the one-line message names the extra).
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def connect(address: str | None) -> bool:
    """Join the cluster at ``address`` ("auto": the one started on this machine; "HOST:PORT": the head's GCS port), or
    start a private local Ray when None. A process already connected (``ray.init`` called by the caller) is used as is.

    Returns:
        True when this call connected, so the caller should disconnect at the end: ``session`` does (``ray.shutdown``,
            then the environment a private token replaced).

    Raises:
        ConfigError: no cluster answers at ``address``, or it runs another Ray / Python version.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    check_address(address)
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        options["include_dashboard"] = False
    try:
        with _private_token(address):
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        causes = [e]
        while causes[-1].__cause__ is not None or causes[-1].__context__ is not None:
            causes.append(causes[-1].__cause__ or causes[-1].__context__)
        if any(isinstance(c, ray.exceptions.AuthenticationError) or "InvalidAuthToken" in str(c) for c in causes):
            raise ConfigError(f"the Ray cluster at --address {address} wants its token: set RAY_AUTH_MODE=token for this "
                              "process too, with the head's token in ~/.ray/auth_token or RAY_AUTH_TOKEN") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot join a Ray cluster at --address {address} ({first}); start one with "
                          "`ray start --head --port 6379` and pass --address HOST:6379, or --address auto on its head") from None
    return True


_TOKEN_SET: dict[str, str | None] = {}  # the environment a private Ray's token replaced, restored by ``session``
_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
_PROCESS_TOKEN: list[str] = []  # one per process: Ray keeps the first token its driver read for the process's life


@contextlib.contextmanager
def _private_token(address: str | None) -> Any:
    """A private local Ray (``address`` None) gets a random token of this process's in its environment, which its
    processes inherit: Ray 2.60 otherwise writes one to ~/.ray/auth_token, and warns that it enabled token
    authentication among the progress lines (that warning is dropped: headstart enabled it). Kept while connected (Ray
    reads it on every connection), restored by ``session``; a token or mode the user set, and a cluster joined by
    address, are left as they are. The token is the same for every private Ray of the process: its driver keeps the
    first one it read, and a second private Ray under a new token refused it."""
    import secrets

    ours = address is None and not any(os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"))
    quiet = logging.getLogger(_TOKEN_LOGGER)
    drop = lambda record: not record.getMessage().startswith("Token authentication is enabled")  # noqa: E731
    if ours:
        _TOKEN_SET.update({k: os.environ.get(k) for k in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE")})  # Ray sets the mode itself
        _PROCESS_TOKEN[:] = _PROCESS_TOKEN or [secrets.token_hex(32)]
        os.environ["RAY_AUTH_TOKEN"] = _PROCESS_TOKEN[0]
        quiet.addFilter(drop)
    try:
        yield
    except BaseException:
        _restore_token()
        raise
    finally:
        quiet.removeFilter(drop)


def _restore_token() -> None:
    for key, value in _TOKEN_SET.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _TOKEN_SET.clear()


@contextlib.contextmanager
def session(address: str | None) -> Any:
    """Ray, connected for the block (``connect``) and disconnected after it where this call connected; yields the
    ``ray`` module."""
    from headstart.interrupts import kept_through

    ray = import_ray()
    started = kept_through(lambda: connect(address))  # SIGTERM still read as Ctrl-C where it was, as before ray.init
    try:
        yield ray
    finally:
        if started:
            try:
                ray.shutdown()
            finally:  # a shutdown that raised left the token set, and the next session read it as the user's own
                _restore_token()


def address_text(address: str, source: str | None = None) -> str:
    """Where ``address`` was given, as a message names it: ``--address HOST:PORT``, or the key of the sweep TOML
    ``source`` it came from (``address = "HOST:PORT" in 'sweep.toml'``)."""
    return f"--address {address}" if source is None else f"address = {json.dumps(address)} in {source!r}"


def check_address(address: str | None, *, source: str | None = None) -> None:
    """Fail in seconds where nothing listens at HOST:PORT (``ray.init`` retries a dead address for over ten minutes).

    Args:
        source: the sweep TOML the address came from, named in the message (None: the flag or the parameter).

    Raises:
        ConfigError: ``address`` is not HOST:PORT, or nothing answers there.
    """
    if address in (None, "auto"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        where = "--address" if source is None else f"address in {source!r}"
        raise ConfigError(f"{where} must be HOST:PORT (the port of `ray start --head --port PORT`) or auto, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as e:
        raise ConfigError(f"nothing answers at {address_text(address, source)} ({e.strerror or e}); start the head there "
                          f"with `ray start --head --port {port}`, or check HOST:PORT") from None


def wants_gpu() -> bool:
    """True when the driver's device (``headstart --device``, else a GPU when there is one) is CUDA: the plan's precision
    was resolved for it, so each cell asks for a GPU."""
    from headstart.precision import pick_device

    return pick_device().type == "cuda"


@dataclass(frozen=True)
class SweepHooks:
    """What ``sweep.run_sweep`` lends the scheduler, passed in so that this module never imports the sweep's."""

    work: Callable[[dict[str, Any]], tuple[dict[str, Any], int]]  # in a worker: spec dict -> (result dict, loads made)
    record: Callable[..., None]  # (store, key, resolved, RunResult, outcome): the driver stores one result
    label: Callable[[dict[str, Any]], str]  # a cell's name in progress and messages
    lease_seconds: float
    started: Callable[[str], None] = lambda key: None  # a cell's key as it is handed to the cluster (the sweep's ETA)
    dropped: Callable[[str], None] = lambda key: None  # a cell this driver will not record (claimed elsewhere, given up)


def _cell_task(work: Callable, spec_dict: dict[str, Any], threads: int, gpus: int, cli: bool = False) -> dict[str, Any]:
    """Runs on a Ray worker: one cell (``work``, pickled by reference: the worker imports it), and where it ran. Never
    raises for a failed run. ``cli``: the driver was the CLI, so the cell's messages name flags (a worker of a cluster
    joined by --address was started by `ray start`, not by the driver, and inherits none of its environment)."""
    import ray
    import torch

    from headstart.precision import DEVICE_ENV

    # The driver's device decides (headstart --device, which Ray workers do not inherit): a task that asked for no
    # GPU must not take one (Ray leaves CUDA visible to it); one that did runs on the GPU Ray gave it.
    os.environ[DEVICE_ENV] = "cuda" if gpus else "cpu"
    if cli:
        os.environ[SURFACE_ENV] = "cli"
    else:  # a worker is reused across tasks: an earlier CLI driver's mark must not stay
        os.environ.pop(SURFACE_ENV, None)

    torch.set_num_threads(threads)
    result, loads = work(spec_dict)
    return {"result": result, "node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
            "pid": os.getpid(), "loads": loads}


def retryable_errors(ray: Any) -> tuple[type[BaseException], ...]:
    e = ray.exceptions
    return (e.WorkerCrashedError, e.NodeDiedError, e.OutOfMemoryError, e.ObjectLostError)


def _capacity(ray: Any, gpus: int) -> int:
    """Cells the cluster can run at once now (at least one: Ray queues the rest until a node joins)."""
    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 0) // CELL_CPUS)
    if gpus:
        slots = min(slots, int(resources.get("GPU", 0) // gpus))
    return max(1, slots)


def first_sentence(e: BaseException) -> str:
    """"NodeDiedError: Task failed because the node it was running on is dead or unavailable" (Ray's own run on)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text.split('. ')[0].rstrip('.')}" if text else type(e).__name__


def _nodes_text(per_node: Counter) -> str:
    return ",".join(f"{node[:8]}:{count}" for node, count in sorted(per_node.items()))


def run_ray(todo: list, store: Any, owner: str, heartbeat: Any, outcome: Any, progress: Any, *, address: str | None,
            hooks: SweepHooks) -> None:
    """Run ``todo`` (``(spec, key, resolved)`` cells, as ``sweep.run_sweep`` plans them) on Ray and record each result.

    Args:
        todo: the cells to train, in the order to submit them.
        store: the open store; only this process writes it.
        owner: the lease owner of this driver; heartbeat: its lease renewer (``sweep._Heartbeat``).
        outcome: the ``SweepOutcome`` to count into (``nodes``: cells done per node id).
        progress: ``update(done, total, info)``; info names the cell, the cells running and the cells done per node.
        address: the cluster to join; None starts a local Ray.
        hooks: the sweep's cell runner, recorder, labels and lease length.

    Raises:
        HeadstartError: a cell's worker died ``MAX_ATTEMPTS`` times (that cell is back to ``pending``), or a worker
            could not run the task at all (headstart missing on a node).
    """
    with session(address) as ray:
        _schedule(ray, todo, store, owner, heartbeat, outcome, progress, hooks)


def _schedule(ray: Any, todo: list, store: Any, owner: str, heartbeat: Any, outcome: Any, progress: Any,
              hooks: SweepHooks) -> None:

    gpus = 1 if wants_gpu() else 0
    cli = on_cli()  # the worker's messages in the driver's words
    if gpus and not ray.cluster_resources().get("GPU"):
        raise ConfigError("this driver runs on CUDA, so every cell asks for a GPU, but the Ray cluster has none; start "
                          "the driver on a machine without one, or add GPU nodes (ray start --num-gpus N)")
    task = ray.remote(_cell_task).options(num_cpus=CELL_CPUS, num_gpus=gpus, max_retries=0)
    retryable = retryable_errors(ray)
    queue = list(todo)
    attempts: dict[str, int] = {}
    pending: dict[Any, tuple[Any, str, dict[str, Any]]] = {}
    held: dict[str, dict[str, Any]] = {}  # cells this driver has claimed and not yet recorded (in flight or queued again)
    given_up: list[str] = []
    elsewhere: list = []  # cells another compare held at their first claim: tried once more after this driver's own
    second: set[str] = set()  # their keys, on that retry
    done = 0
    per_node: Counter = Counter()

    def release(key: str) -> None:
        held.pop(key, None)
        with heartbeat.lock:
            heartbeat.active.pop(key, None)

    try:
        while queue or pending or elsewhere:
            if not queue and elsewhere:  # this driver's own cells are all handed out: the held ones once more, as the
                queue, elsewhere = elsewhere, []  # local backends do (``sweep._claimed``): a dead owner's cell is taken
                second.update(key for _, key, _ in queue)
            capacity = _capacity(ray, gpus)
            while queue and len(pending) < capacity:
                spec, key, resolved = queue.pop(0)
                if key not in held:  # a first attempt claims; a retry still holds its lease
                    if not store.claim(key, resolved, owner, hooks.lease_seconds):
                        if key not in second:  # another compare's from now (the bar's count, the ETA) unless taken back
                            hooks.dropped(key)
                            outcome.elsewhere += 1
                            outcome.taken.append(key)
                            elsewhere.append((spec, key, resolved))
                        continue
                    if key in outcome.taken:  # taken back on the retry
                        outcome.elsewhere -= 1
                        outcome.taken.remove(key)
                    held[key] = resolved
                    with heartbeat.lock:
                        heartbeat.active[key] = resolved
                attempts[key] = attempts.get(key, 0) + 1
                pending[task.remote(hooks.work, spec.to_dict(), CELL_CPUS, gpus, cli)] = (spec, key, resolved)
                hooks.started(key)
            if not pending:  # every cell left was held elsewhere: on to their retry, or done
                continue
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                spec, key, resolved = pending.pop(ref)
                try:
                    reply = ray.get(ref)
                except retryable as e:
                    lost = first_sentence(e)
                    if attempts[key] < MAX_ATTEMPTS:
                        log.warning("lost the worker of %s (%s); running it again (attempt %d of %d)", hooks.label(resolved), lost,
                                    attempts[key] + 1, MAX_ATTEMPTS)
                        queue.insert(0, (spec, key, resolved))
                        continue
                    store.mark(key, resolved, "pending")
                    release(key)
                    hooks.dropped(key)
                    given_up.append(f"{hooks.label(resolved)} ({lost})")
                    continue
                except ray.exceptions.RayTaskError as e:
                    cause = e.cause if getattr(e, "cause", None) is not None else e
                    raise HeadstartError(f"a Ray worker could not run {hooks.label(resolved)} ({type(cause).__name__}: {cause}); "
                                         "install the same headstart and Ray on every node of the cluster") from None
                result = RunResult.from_dict(reply["result"])
                worker = {"backend": "ray", "node": reply["node"], "host": reply["host"], "pid": reply["pid"],
                          "loads": reply["loads"], "attempt": attempts[key]}
                release(key)
                hooks.record(store, key, resolved, dataclasses.replace(result, record={**result.record, "worker": worker}), outcome)
                done += 1
                per_node[reply["node"]] += 1
                outcome.nodes[reply["node"]] = per_node[reply["node"]]
                if progress:
                    progress(done, len(todo), {"cell": hooks.label(resolved), "running": len(pending), "nodes": _nodes_text(per_node)})
    except BaseException:
        for ref in pending:
            with contextlib.suppress(Exception):  # best effort: a finished or lost task cannot be cancelled
                ray.cancel(ref, force=True)
        for key, resolved in held.items():
            store.mark(key, resolved, "pending")  # in flight or waiting to run again: a re-run retrains it
        raise
    if given_up:
        raise HeadstartError(f"the worker running {'; '.join(given_up)} died {MAX_ATTEMPTS} times (killed, out of memory, "
                             "or its node lost?); the other cells are stored: run the same command again to retry")
