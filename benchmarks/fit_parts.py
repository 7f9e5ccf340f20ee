"""Where a default fit's wall time goes: its validation passes against its steps, and (``--allocator``) whether glibc
allocator settings that cut page faults make the fit faster.

- Default mode: one process; for full-finetune (or ``--strategy``) at n = 256, seed 0, every default, then the same with
  the step floor dropped (``min_steps=0``: Trainer's 3 epochs), each validation check timed around
  ``engine._validate`` (the engine's one validation pass; the test split's scoring is not in it). Prints one JSON line per run: fit seconds, the checks' seconds.
- ``--allocator``: alternating pairs of fresh processes, without and with ``mallopt`` (mmap threshold 32 MB, trim
  threshold 1 GB, top pad 64 MB) set before anything loads; each prints its fit seconds, test accuracy, peak RSS and
  minor page faults (getrusage).

Run: python benchmarks/fit_parts.py [--strategy lora]
     python benchmarks/fit_parts.py --allocator [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = "HEADSTART_FIT_PARTS_CHILD"  # set in the --allocator children: "0" plain, "1" with mallopt


def _fast_allocator() -> None:
    import ctypes

    mallopt = ctypes.CDLL("libc.so.6").mallopt
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    mallopt(-2, 64 << 20)  # M_TOP_PAD


def _child(strategy: str) -> None:
    if os.environ[CHILD] == "1":
        _fast_allocator()
    import resource

    from headstart.backbones import load_backbone
    from headstart.data import load_dataset
    from headstart.recipe import run
    from headstart.specs import RunSpec, TrainConfig

    data, pretrained = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    outcome = run(RunSpec(data=data.name, backbone=pretrained.name, strategy=strategy, n=256, seed=0, train=TrainConfig()),
                  data=data, pretrained=pretrained, test=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"allocator": "mallopt" if os.environ[CHILD] == "1" else "default", "fit_s": round(outcome.report.seconds, 2),
                      "accuracy": outcome.result.metrics["accuracy"], "peak_mb": round(usage.ru_maxrss / 1024),
                      "minor_faults": usage.ru_minflt - faults}), flush=True)


def _parts(strategy: str) -> None:
    import headstart.engine as engine
    from headstart.backbones import load_backbone
    from headstart.data import load_dataset
    from headstart.recipe import run
    from headstart.specs import RunSpec, TrainConfig

    spent: list[float] = []
    real = engine._validate

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    engine._validate = timed  # _fit looks it up in engine's namespace at each check
    data, pretrained = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    for floor in (None, 0):
        spent.clear()
        outcome = run(RunSpec(data=data.name, backbone=pretrained.name, strategy=strategy, n=256, seed=0,
                              train=TrainConfig(min_steps=floor)), data=data, pretrained=pretrained)
        print(json.dumps({"strategy": strategy, "min_steps": "default" if floor is None else floor, "steps": outcome.report.steps,
                          "fit_s": round(outcome.report.seconds, 2), "checks_s": [round(x, 2) for x in spent]}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/fit_parts.py --allocator --pairs 3")
    parser.add_argument("--strategy", default="full-finetune")
    parser.add_argument("--allocator", action="store_true", help="A/B the glibc allocator settings in fresh processes")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    if CHILD in os.environ:
        _child(args.strategy)
    elif args.allocator:
        for _ in range(args.pairs):
            for mode in ("0", "1"):
                subprocess.run([sys.executable, __file__, "--strategy", args.strategy], env={**os.environ, CHILD: mode}, check=True)
    else:
        _parts(args.strategy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
