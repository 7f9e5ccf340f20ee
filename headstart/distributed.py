"""One run across processes (``headstart train --nproc N``): data parallelism with ``torch.distributed``.

The process that was asked for the run is rank 0. It starts ranks 1..N-1 as fresh (spawned) processes, hands them
the run's spec, its loaded dataset and pre-trained backbone, and each builds the same ``recipe.Setup``; at the start
of every phase they train together, rank 0's weights, buffers and random state are copied to all of them. Every
rank draws the same batches; of each micro-batch rank r takes rows r, r+N, ... and weights its loss by its share of
the micro-batch's loss normaliser (its rows, or the class weights of their labels). The gradients are summed across
ranks before clipping and the optimiser step, so each step equals the one-process step on the same global batch
(``batch_size`` × ``accumulate`` rows) up to float rounding. Rank 0 alone validates, keeps the best weights, decides
early stopping (and tells the others), evaluates and writes; the other ranks write nothing (an audit hook refuses
it) and exit when training ends. Phases that take no gradient steps through the backbone (a closed-form solve, a
head on cached features) run on rank 0 alone: they take seconds. Backend: gloo on the CPU, nccl on CUDA (one GPU
per rank). Dropout: rank r > 0 draws its masks from its own stream (seeded by the run's seed, the rank and the
phase), so a run with dropout is reproducible for a given N but equals the one-process run only without dropout.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.errors import ConfigError, HeadstartError

EXIT_STATUS_WAIT_SECONDS = 5.0  # a rank that died before it started: how long its exit status may take to come
TIMEOUT = timedelta(minutes=60)  # a collective waits this long: rank 0 validates while the others wait in one


class RankFailed(HeadstartError):
    """A rank other than 0 raised something that is no user mistake (a bug, a broken collective): one line naming the
    rank and the error; its full traceback is ``traceback`` (the same run without --nproc shows it as it happens)."""

    exit_code = 1

    def __init__(self, rank: int, world: int, error: str, traceback: str = "", where: str = "") -> None:
        self.rank, self.world, self.error, self.traceback, self.where = rank, world, error, traceback, where
        seen = f"its traceback is in {where}" if where else "run without --nproc to see its traceback"
        super().__init__(f"rank {rank} of --nproc {world} failed: {error}; {seen}")

    def __reduce__(self):  # up the pipe from the rank as itself
        return type(self), (self.rank, self.world, self.error, self.traceback, self.where)

    def kept(self) -> "RankFailed":
        """The same error with its traceback written to a temporary file the message names (a bug that shows only
        across processes has no other place to be seen); itself where there is none or no file can be written."""
        import tempfile

        if not self.traceback or self.where:
            return self
        try:
            with tempfile.NamedTemporaryFile("w", prefix=f"headstart-rank{self.rank}-", suffix=".txt", delete=False) as f:
                f.write(self.traceback)
        except OSError:
            return self
        return RankFailed(self.rank, self.world, self.error, self.traceback, f.name)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def check_nproc(nproc: Any, device: torch.device | None = None) -> int:
    """``nproc`` as an int from 1 to this machine's CPUs (its GPUs on CUDA).

    Args:
        nproc: processes asked for (``--nproc``).
        device: where the run trains (``precision.pick_device``); None checks against the CPUs.

    Returns:
        ``nproc``, checked.

    Raises:
        ConfigError: anything else, naming the value and the range.
    """
    cuda = device is not None and device.type == "cuda"
    most = torch.cuda.device_count() if cuda else usable_cpus()
    where = f"the {most} GPU(s)" if cuda else f"the {most} CPU(s) of this machine"
    if not isinstance(nproc, int) or isinstance(nproc, bool) or not 1 <= nproc <= most:
        raise ConfigError(f"--nproc must be from 1 to {most} ({where}), got {nproc!r}; try --nproc {min(2, most)}")
    if device is not None and device.type not in ("cpu", "cuda") and nproc > 1:
        raise ConfigError(f"--nproc {nproc} runs on the CPU (gloo) or CUDA GPUs (nccl), not on {device.type}; "
                          "add --device cpu or drop --nproc")
    return nproc


def trains_backbone(model: nn.Module, phases: list[Any]) -> bool:
    """Some phase takes gradient steps on backbone weights (the phases worth spreading over processes).

    Args:
        model: a TaskModel (``model.backbone``).
        phases: the strategy's plan (``strategies.base.Phase``).

    Returns:
        True when a phase without a closed-form ``solve`` trains a backbone parameter.
    """
    backbone = {id(p) for p in model.backbone.parameters()}
    return any(phase.solve is None and any(id(p) in backbone for p in phase.params) for phase in phases)


@dataclass
class Group:
    """This process's place in a run across processes: ``rank`` of ``world``; ``seed`` is the run's."""

    rank: int
    world: int
    seed: int
    device: torch.device

    @property
    def leads(self) -> bool:
        """Rank 0: validates, keeps the best weights, reports and writes."""
        return self.rank == 0

    def decide(self, value: bool) -> bool:
        """Rank 0's ``value``, on every rank (what the others cannot know: early stopping, which phases are shared)."""
        flag = torch.tensor([int(value)], device=self.device)
        torch.distributed.broadcast(flag, 0)
        return bool(flag.item())

    def share_state(self, model: nn.Module, rng: np.random.Generator, phase: int) -> None:
        """Give every rank rank 0's parameters, buffers and batch-drawing state; rank r > 0 then reseeds torch (its
        dropout) with a stream of its own, so its masks are not rank 0's."""
        with torch.no_grad():
            for t in [*model.parameters(), *model.buffers()]:
                if t.is_contiguous():
                    torch.distributed.broadcast(t.data, 0)
                else:
                    flat = t.data.contiguous()
                    torch.distributed.broadcast(flat, 0)
                    t.data.copy_(flat)
        state = [rng.bit_generator.state]
        torch.distributed.broadcast_object_list(state, 0, device=self.device if self.device.type == "cuda" else None)
        rng.bit_generator.state = state[0]
        if self.rank:
            torch.manual_seed(int(np.random.SeedSequence([self.seed, self.rank, phase]).generate_state(1)[0]))

    def part(self, positions: np.ndarray, share: float, weights: np.ndarray | None) -> tuple[np.ndarray, float]:
        """This rank's rows of a micro-batch (every ``world``-th, from ``rank``) and its share of the step's loss.

        Args:
            positions: (B,) the micro-batch.
            share: the micro-batch's share of the step's loss.
            weights: (B,) each row's weight in the loss normaliser (its class weight), or None when each row counts 1.

        Returns:
            (rows, share × this rank's part of the normaliser); summed over ranks, the shares give back ``share``.
        """
        mine = np.arange(self.rank, len(positions), self.world)
        part = len(mine) / len(positions) if weights is None else float(weights[mine].sum() / weights.sum())
        return positions[mine], share * part

    def reduce(self, params: list[nn.Parameter], loss: float) -> float:
        """Sum the step's gradients and loss over ranks (each rank's already carries its share); returns the step's loss.

        A parameter without a gradient on every rank keeps none, as in one process (AdamW then skips it).
        """
        head = torch.tensor([float(p.grad is not None) for p in params] + [loss], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(head)
        present = [p for p, seen in zip(params, head[:-1].tolist()) if seen]
        for p in present:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        by_dtype: dict[torch.dtype, list[nn.Parameter]] = {}
        for p in present:
            by_dtype.setdefault(p.grad.dtype, []).append(p)
        for group in by_dtype.values():
            flat = torch.cat([p.grad.reshape(-1) for p in group])
            torch.distributed.all_reduce(flat)
            start = 0
            for p in group:
                p.grad.copy_(flat[start : start + p.numel()].view_as(p.grad))
                start += p.numel()
        return float(head[-1].item())


def _rendezvous(world: int) -> Any:
    """Rank 0's rendezvous store, listening on a port of its own choosing before any other rank starts: a port found
    free, closed and bound again once the ranks had started could be taken in between by another program."""
    return torch.distributed.TCPStore("127.0.0.1", 0, world_size=world, is_master=True, timeout=TIMEOUT,
                                      wait_for_workers=False)


def _join(rank: int, world: int, port: int, device: torch.device, seed: int, store: Any = None) -> Group:
    """Enter the process group (gloo on the CPU, nccl on CUDA) as ``rank``, through rank 0's ``store`` (``_rendezvous``;
    the other ranks connect to it at ``port``)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if store is None:
        store = torch.distributed.TCPStore("127.0.0.1", port, world_size=world, is_master=False, timeout=TIMEOUT)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo", store=store, rank=rank,
                                         world_size=world, timeout=TIMEOUT)
    return Group(rank, world, seed, device)


def _rank_device(device: torch.device, rank: int) -> torch.device:
    """Rank ``rank``'s device: the CPU, or the rank-th GPU counted from rank 0's."""
    if device.type != "cuda":
        return device
    return torch.device("cuda", ((device.index or 0) + rank) % torch.cuda.device_count())


@contextmanager
def launch(s: Any, nproc: int, *, rank_run: Callable[..., Any]) -> Iterator[Group]:
    """Start ranks 1..``nproc``-1 training ``s`` (a ``recipe.Setup``) beside this process, which is rank 0.

    Args:
        s: the run as rank 0 built it; the others get its spec (with the precision rank 0 resolved), data and
            pre-trained backbone.
        nproc: processes in all, this one included.
        rank_run: ``rank_run(spec, data, pretrained, group)`` builds and trains the run in another rank (the recipe's;
            a module-level function, so a spawned process finds it by name).

    Yields:
        This process's ``Group`` (rank 0).

    Inside, this process trains as rank 0 (``engine.fit(..., group=...)``); on exit the others are joined, and an
    error one of them raised is raised here (a ``HeadstartError`` as it was, anything else as ``RankFailed``). A rank
    that dies (killed, out of memory) breaks the others' next collective within a second, and that is raised here too.
    The other ranks ignore SIGINT: a Ctrl-C (sent to the whole process group by a terminal) is this process's
    KeyboardInterrupt alone, raised as it is, and the others are ended with the run.

    Raises:
        ConfigError: a process group already exists in this process (started by torchrun: run without --nproc).
        RankFailed: another rank's error that is no ``HeadstartError``.
        KeyboardInterrupt: Ctrl-C.
    """
    import torch.multiprocessing as mp  # registers torch's sharing of tensors through pipes (the backbone's weights)

    if torch.distributed.is_initialized():
        raise ConfigError("this process is already in a torch.distributed group (torchrun?); --nproc starts its own, drop it")
    threads = max(1, torch.get_num_threads() // nproc)
    spec = dataclasses.replace(s.spec, train=dataclasses.replace(s.spec.train, precision=s.precision))  # no probe there
    store, context = _rendezvous(nproc), mp.get_context("spawn")
    port = store.port
    workers, pipes = [], []
    previous = torch.get_num_threads()
    failed: BaseException | None = None
    try:
        for rank in range(1, nproc):  # small arguments: start() returns at once, whatever the worker then does
            mine, theirs = context.Pipe()
            device = str(_rank_device(s.device, rank))
            process = context.Process(target=_worker, args=(rank, nproc, port, device, threads, theirs, rank_run), daemon=True)
            with _deaf_to_ctrl_c():  # inherited through exec: even the rank's own imports ignore it
                process.start()
            theirs.close()
            workers.append(process)
            pipes.append(mine)
        for process, pipe in zip(workers, pipes):
            _wait_ready(process, pipe)
        torch.set_num_threads(threads)
        group = _join(0, nproc, port, _rank_device(s.device, 0), s.spec.seed, store=store)
        try:
            for pipe in pipes:  # the backbone's tensors travel as shared memory, not through the pipe
                pipe.send((spec, s.data, s.pretrained))
            yield group
        finally:
            torch.distributed.destroy_process_group()
    except BaseException as exc:
        failed = exc
    finally:
        torch.set_num_threads(previous)
        errors = _collect(workers, pipes, wait=30 if failed is None else 5)
    if isinstance(failed, KeyboardInterrupt):  # what the others said after it is its consequence
        raise failed
    if errors:  # a rank's own error explains rank 0's broken collective
        first = errors[0]
        raise (first.kept() if isinstance(first, RankFailed) else first) from failed
    if failed is not None:
        raise failed


@contextmanager
def _deaf_to_ctrl_c() -> Iterator[None]:
    """SIGINT ignored while a rank is started (where this is the main thread: only it may set a handler)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_ready(process: Any, pipe: Any) -> None:
    """Wait until a started worker has imported what it needs and is about to join the group (or has died)."""
    while not pipe.poll(0.2):
        if not process.is_alive():
            break
    try:
        said = pipe.recv()
    except EOFError:
        said = None
    if said != "ready":
        if not isinstance(said, BaseException):  # its pipe closed as it died, a moment before the kernel says how
            process.join(EXIT_STATUS_WAIT_SECONDS)
        raise said if isinstance(said, BaseException) else RuntimeError(
            f"a training process of --nproc exited with status {process.exitcode} before it started")


def _collect(workers: list[Any], pipes: list[Any], *, wait: float) -> list[BaseException]:
    """Join the workers (ending those still running after ``wait`` seconds); the errors they reported, in rank order."""
    errors = []
    for process, pipe in zip(workers, pipes):
        process.join(wait)
        if process.is_alive():
            process.terminate()
            process.join()
        said = None
        try:
            said = pipe.recv() if pipe.poll() else None
        except (EOFError, OSError):
            pass
        if isinstance(said, BaseException):
            errors.append(said)
        elif process.exitcode:
            how = " (killed: out of memory?)" if process.exitcode == -9 else ""
            errors.append(RuntimeError(f"a training process of --nproc exited with status {process.exitcode}{how}"))
        pipe.close()
    return errors


def _worker(rank: int, world: int, port: int, device: str, threads: int, pipe: Any, rank_run: Callable[..., Any]) -> None:
    """Rank ``rank``'s life: join the group, receive the run (spec, data, pre-trained backbone), build it as rank 0
    did and train it (``rank_run``), exit; an error goes back up ``pipe``."""
    from headstart.errors import HeadstartError
    from headstart.precision import DEVICE_ENV

    sys.dont_write_bytecode = True
    forbid_writes(rank)
    os.environ[DEVICE_ENV] = device
    torch.set_num_threads(threads)
    logging.getLogger("headstart").disabled = True  # rank 0 says what there is to say
    try:
        pipe.send("ready")
        group = _join(rank, world, port, torch.device(device), 0)
        try:
            spec, data, pretrained = pipe.recv()
            group.seed = spec.seed
            rank_run(spec, data, pretrained, group)
        finally:
            torch.distributed.destroy_process_group()
    except HeadstartError as exc:
        pipe.send(exc)
    except BaseException as exc:  # a bug, or a collective broken by rank 0's end: one line; its traceback kept beside
        import traceback

        first = (str(exc).strip().splitlines() or [""])[0]
        pipe.send(RankFailed(rank, world, f"{type(exc).__name__}: {first}" if first else type(exc).__name__,
                             "".join(traceback.format_exception(exc))))
    finally:
        pipe.close()
    # Out without the interpreter's teardown: under load a gloo thread still joinable there aborted the process
    # ("terminate called without an active exception", status -6) after a run that had finished. What the rank had
    # to say went up the pipe; it writes no file (forbid_writes) that teardown would flush.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def forbid_writes(rank: int) -> None:
    """From now on this process may open no file for writing, nor rename, delete or create one (Python-level calls;
    device files under /dev and /proc excepted): only rank 0 writes the run, the store and the caches.

    Raises (later, at the offending call):
        PermissionError: naming the rank and the path.
    """
    mutating = {"os.rename", "os.replace", "os.remove", "os.rmdir", "os.mkdir", "os.unlink", "shutil.rmtree", "os.truncate"}

    def refuse(event: str, args: tuple) -> None:
        if event == "open" and len(args) >= 3 and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = args[1], args[2]
            if isinstance(mode, str):
                writes = any(c in mode for c in "wax+")
            else:
                writes = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            path = args[0] if writes else None
        else:
            path = args[0] if event in mutating and isinstance(args[0], (str, bytes, os.PathLike)) else None
        if path is not None and not os.fsdecode(path).startswith(("/dev/", "/proc/")):
            raise PermissionError(f"rank {rank} tried to write {os.fsdecode(path)!r}; only rank 0 writes")

    sys.addaudithook(refuse)
