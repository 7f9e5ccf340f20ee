"""``--precision auto``: measure whether bf16 matmul is actually faster here, and cache the verdict.

bf16 is ~6x faster than fp32 on Xeons with AMX and ~100x *slower* on AVX2-only EPYCs, so the choice is
measured, never assumed. The verdict is cached per (device, CPU model and its bf16 instruction flags, torch version).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from pathlib import Path

import torch

from headstart.cache import cache_dir
from headstart.python_checks import python_named

SPEEDUP_NEEDED = 1.2  # bf16 costs accuracy headroom; take it only for a clear win


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


CPUINFO = Path("/proc/cpuinfo")


def cpuinfo_field(name: str) -> str | None:
    """The value of the first ``CPUINFO`` line that starts with ``name`` (stripped), None where none does or the
    file cannot be read (not Linux)."""
    try:
        for line in CPUINFO.read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    model = cpuinfo_field("model name")
    return model if model is not None else platform.processor() or platform.machine()


def _time_matmul(dtype: torch.dtype, device: torch.device, size: int = 512, reps: int = 3) -> float:
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    (a @ b).sum().item()  # warm-up (and first-call dispatch)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        (a @ b).sum().item()
        best = min(best, time.perf_counter() - start)
        if best > 0.5:  # bf16 emulated in software: one slow rep is verdict enough
            break
    return best


PROBE_ROUNDS = 5  # fp32 and bf16 timed in turn, five times: the median ratio outvotes rounds a neighbour disturbed


def measure_bf16_speedup(device: torch.device) -> float:
    """fp32 time / bf16 time for a 512x512 matmul on ``device`` (> 1 means bf16 is faster): the median of
    ``PROBE_ROUNDS`` rounds, each timing the two in turn. One round alone read 0.09 and 32.8 on the same shared host
    (a busy neighbour stalled one of the two timings), and the verdict is cached for good; a round's ratio has both
    timings from the same moment, and the median leaves out the rounds a stall distorted."""
    import statistics

    ratios = []
    for _ in range(PROBE_ROUNDS):
        fp32, bf16 = _time_matmul(torch.float32, device), _time_matmul(torch.bfloat16, device)
        ratios.append(fp32 / bf16)
        if len(ratios) >= 2 and max(ratios[-2:]) < EMULATED:  # two rounds in a row: bf16 emulated in software, no stall
            break
    return statistics.median(ratios)


EMULATED = 0.2  # bf16 at a fifth of fp32's speed or slower: emulated (~0.01 on an AVX2-only EPYC), not a stall


BF16_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16")  # what bf16 speed rests on


def cpu_flags() -> str:
    """The CPU's instruction-set flags that decide bf16's speed (``BF16_FLAGS`` it has, comma-joined), "" where
    /proc/cpuinfo cannot say: one model string ("AMD EPYC") names hosts with and without avx512_bf16."""
    have = set((cpuinfo_field("flags") or "").split())
    return ",".join(flag for flag in BF16_FLAGS if flag in have)


def cache_key(device: torch.device) -> str:
    """Where the verdict is kept in precision.json: device type, its name, (a CPU's) bf16 flags and torch's version."""
    flags = f"|{cpu_flags()}" if device.type == "cpu" else ""
    return f"{device.type}|{device_name(device)}{flags}|torch {torch.__version__}|probe {PROBE_VERSION}"


PROBE_VERSION = 2  # 2: the median of rounds; a verdict of the one-timing probe is not read (it could be a stall's)


def resolve_precision(requested: str, device: torch.device) -> str:
    """"fp32" or "bf16" for ``requested`` in {"auto", "fp32", "bf16"}; "auto" runs (or reuses) the probe."""
    if requested != "auto":
        return requested
    key = cache_key(device)
    path = cache_dir() / "precision.json"
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if not isinstance(cached, dict):  # a damaged cache is no cache: measure again and write a good one
        cached = {}
    entry = cached.get(key)
    if not (isinstance(entry, dict) and entry.get("verdict") in ("bf16", "fp32")):  # absent, or not a verdict we give
        speedup = measure_bf16_speedup(device)
        cached[key] = {"bf16_speedup": round(speedup, 3), "verdict": "bf16" if speedup >= SPEEDUP_NEEDED else "fp32"}
        from headstart.atomic import write_atomic

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, json.dumps(cached, indent=1).encode())
        except OSError:  # an unwritable cache (a WriteError too) only costs re-measuring next time
            pass
    return cached[key]["verdict"]


DEVICE_ENV = "HEADSTART_DEVICE"  # set by `headstart --device`; worker processes inherit it


def parse_device(text: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` as a torch device that exists here.

    Raises:
        ConfigError: another name, or a device this machine does not have (one line naming the fix: ``--device cpu``
            to the CLI's user, ``headstart.use_device('cpu')`` to a Python caller).
    """
    from headstart.errors import ConfigError
    from headstart.surface import spoken

    def use(device: str) -> str:
        return spoken(f"--device {device}", f"headstart.use_device({device!r})")

    name = str(text).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{spoken('--device', 'the device')} must be auto, cpu, cuda, cuda:N or mps, got {text!r}; "
                          f"e.g. {use('cpu')}")
    given = spoken(f"--device {name}", f"device {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{given}: torch sees no CUDA GPU on this machine; use {use('cpu')} (or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"{given}: this machine has {torch.cuda.device_count()} CUDA GPU(s), numbered from 0; "
                          f"e.g. {use('cuda:0')}")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"{given}: Apple's MPS is not available here; use {use('cpu')} (or auto)")
    return device


@python_named
def use_device(name: str) -> torch.device:
    """Run everything after this on ``name`` (auto, cpu, cuda, cuda:N, mps): ``headstart --device`` in Python.

    Sets ``$HEADSTART_DEVICE``, which ``pick_device`` reads and worker processes inherit.

    Raises:
        ConfigError: a name torch does not know or a device this machine lacks (``parse_device``).

    Example:
        >>> headstart.use_device("cpu")
    """
    device = parse_device(name)  # refused here, before anything loads
    os.environ[DEVICE_ENV] = str(name).strip().lower()
    return device


def pick_device() -> torch.device:
    """The device runs use: ``$HEADSTART_DEVICE`` (``headstart --device``), else a CUDA GPU when there is one, else the CPU."""
    from headstart.errors import ConfigError

    text = os.environ.get(DEVICE_ENV, "auto")
    try:
        return parse_device(text)
    except ConfigError as e:  # --device / use_device was checked when given: this value came from the environment
        raise ConfigError(f"${DEVICE_ENV} is {text!r}: {e}") from None


def autocast_for(precision: str, device: torch.device):
    """A context factory running matmuls in bf16 for ``precision == "bf16"``; None otherwise."""
    if precision != "bf16":
        return None
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def under(autocast):
    """The context ``autocast`` (a factory from :func:`autocast_for`) makes, or no context where it is None."""
    return autocast() if autocast is not None else contextlib.nullcontext()
