"""One sweep cell: its data and backbone loaded once a process, trained and scored; the pool workers that run it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from headstart.errors import HeadstartError
from headstart.results import RunResult
from headstart.specs import RunSpec, file_options

if TYPE_CHECKING:
    from headstart.sweep_spec import SweepSpec


_LOADED: dict[str, Any] = {}


def loaded_data(spec: RunSpec | SweepSpec) -> Any:
    """The dataset, loaded once per process."""
    from headstart.data import load_dataset

    data_key = repr((spec.data, sorted(file_options(spec).items())))
    if data_key not in _LOADED:
        _LOADED[data_key] = load_dataset(spec.data, **file_options(spec))
    return _LOADED[data_key]


def loaded_cell(spec: RunSpec) -> tuple[Any, Any]:
    """Dataset and pre-trained backbone (with the cell's preprocessing), loaded once per process."""
    from headstart.backbones import load_backbone

    train = spec.train
    backbone_key = repr((spec.backbone, train.max_length, spec.pooling, train.image_size))
    if backbone_key not in _LOADED:
        _LOADED[backbone_key] = load_backbone(spec.backbone, max_length=train.max_length, pooling=spec.pooling, image_size=train.image_size)
    return loaded_data(spec), _LOADED[backbone_key]


def run_cell(spec: RunSpec, progress: Callable | None = None) -> RunResult:
    """Train one cell and evaluate it on the test split (``recipe.run``). Never raises for a failed run: returns status
    failed. What ``--retain`` costs is left unsaid: the sweep's plan said it once in the driver, and a pool or Ray worker
    process, which shares none of the driver's memory of it, would say it again."""
    from headstart.recipe import run

    try:
        data, pretrained = loaded_cell(spec)
        return run(spec, data=data, pretrained=pretrained, progress=progress, say_costs=False).result
    except HeadstartError as e:
        return RunResult(key="", spec={}, status="failed", error=str(e))


PARENT_POLL_SECONDS = 0.5  # how soon a worker notices that its driver is gone
TERM_GRACE_SECONDS = 5.0  # how long stop_workers waits on a SIGTERMed worker before SIGKILL


def worker_devices(workers: int, device: str, gpus: int) -> list[str]:
    """The device each of ``workers`` pool processes runs on, given the driver's ``device`` ("cpu", "cuda", "cuda:N",
    "mps") and the machine's GPU count: on "cuda" (every GPU, the default where there are GPUs) worker i owns GPU
    i mod ``gpus``, so with as many workers as GPUs each owns one; a named GPU or another device is shared by all."""
    if device == "cuda" and gpus > 0:
        return [f"cuda:{i % gpus}" for i in range(workers)]
    return [device] * workers


def pool_devices(workers: int) -> list[str]:
    """``worker_devices`` for this driver: ``--device cuda`` (or auto on a GPU machine) spreads the workers over every
    GPU; ``--device cuda:1`` pins them all to that one; otherwise the driver's device."""
    import torch

    from headstart.precision import DEVICE_ENV, pick_device

    device = pick_device()
    spread = device.type == "cuda" and os.environ.get(DEVICE_ENV, "auto").strip().lower() in ("auto", "cuda")
    return worker_devices(workers, "cuda" if spread else str(device), torch.cuda.device_count() if spread else 0)


def worker_init(threads: int, parent: int, devices: list[str] | None = None, counter: Any = None) -> None:
    """A pool worker starts: its threads, its watchdog, and its device (``devices[i]`` for the i-th worker to start,
    counted in ``counter``, a shared integer; it goes to ``$HEADSTART_DEVICE``, which ``pick_device`` reads)."""
    import torch

    from headstart.precision import DEVICE_ENV

    torch.set_num_threads(threads)
    if devices and counter is not None:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        os.environ[DEVICE_ENV] = devices[index % len(devices)]
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def stop_workers(pool: Any) -> None:
    """Ends ``pool`` now, its running cells with it, where the driver stops (Ctrl-C, SIGTERM, an error): queued work is
    cancelled and every worker is sent SIGTERM. A Ctrl-C in a terminal reaches the workers too, but SIGTERM sent to the
    driver alone (``kill PID``, Kubernetes' PID 1) does not: the pool's exit would wait for each running cell to finish,
    past the grace period after which the scheduler kills the driver before it says what it stored.

    A worker that has not ended ``TERM_GRACE_SECONDS`` after SIGTERM is sent SIGKILL: a worker started from a thread
    that held SIGTERM blocked (a library's thread; the mask is inherited across exec) never hears SIGTERM, and the
    full test suite once met one that trained on past two minutes."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # gone once shut down: read them first
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + TERM_GRACE_SECONDS
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(timeout=TERM_GRACE_SECONDS)


def _exit_with_parent(parent: int) -> None:
    """A pool worker's watchdog: when the driver dies (kill -9, SIGTERM) the worker is re-parented, and it exits at
    once instead of training on for nobody while it holds the user's terminal (``compare ... | tee log`` would hang).
    A polling thread rather than prctl's parent-death signal, which fires when the *thread* that spawned the worker
    ends (the executor spawns from its own threads) and exists on Linux only."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(PARENT_POLL_SECONDS)


def worker_cell(spec_dict: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """``worker_run`` and how many datasets and backbones this process loaded for it (a Ray worker reuses them)."""
    before = len(_LOADED)
    result = worker_run(spec_dict)
    return result, len(_LOADED) - before


def worker_run(spec_dict: dict[str, Any]) -> dict[str, Any]:
    try:
        return run_cell(RunSpec.from_dict(spec_dict)).to_dict()
    except Exception as e:  # a bug in one cell must not take the sweep down; the store records it
        return RunResult(key="", spec={}, status="failed", error=f"{type(e).__name__}: {e}").to_dict()
