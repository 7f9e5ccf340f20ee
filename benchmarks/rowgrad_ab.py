"""What ``headstart.rowgrad`` saves: the n = 256 full fine-tune with and without it, alternating in one warm process.

1. The allocation it avoids: a fresh ``torch.zeros(30522, 384)`` (MiniLM's word-embedding gradient, 47 MB, above
   glibc's largest mmap threshold: new pages faulted in every time) against ``zero_()`` of a kept buffer.
2. ``headstart full-finetune`` on rotten-tomatoes, n = 256, seed 0, every default: ``--pairs`` alternating pairs, with
   the engine's ``row_gradients`` and with it replaced by a no-op (PyTorch's dense embedding backward). Prints the
   training seconds of each and the test accuracy (the same to every digit: the arithmetic is the same).

Run: python benchmarks/rowgrad_ab.py [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext

import torch

import headstart.engine as engine
from headstart.backbones import load_backbone
from headstart.data import load_dataset
from headstart.precision import cpu_model
from headstart.recipe import run
from headstart.specs import RunSpec, TrainConfig


def _allocation_ms(reps: int = 20) -> tuple[float, float]:
    """Mean ms of a fresh (30522, 384) zero tensor, and of zeroing one kept tensor of that size in place."""
    torch.zeros(30522, 384)
    start = time.perf_counter()
    for _ in range(reps):
        fresh = torch.zeros(30522, 384)
        del fresh
    fresh_ms = (time.perf_counter() - start) / reps * 1000
    kept = torch.zeros(30522, 384)
    start = time.perf_counter()
    for _ in range(reps):
        kept.zero_()
    return fresh_ms, (time.perf_counter() - start) / reps * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="example: python benchmarks/rowgrad_ab.py --pairs 1")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    fresh_ms, kept_ms = _allocation_ms()
    print(f"{cpu_model()}, {torch.get_num_threads()} threads: torch.zeros(30522, 384) {fresh_ms:.1f} ms fresh, "
          f"{kept_ms:.1f} ms as zero_() of a kept tensor", flush=True)
    data, pretrained = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    spec = RunSpec(data=data.name, backbone=pretrained.name, strategy="full-finetune", n=256, seed=args.seed, train=TrainConfig())
    real = engine.row_gradients
    seconds: dict[str, list[float]] = {"with rowgrad": [], "without": []}
    run(spec, data=data, pretrained=pretrained, test=False)  # warm-up: the first fit in a process pays one-off costs
    for _ in range(args.pairs):
        for arm in seconds:
            engine.row_gradients = real if arm == "with rowgrad" else (lambda model: nullcontext())
            outcome = run(spec, data=data, pretrained=pretrained, test=True)
            seconds[arm].append(outcome.report.seconds)
            print(f"{arm}: {outcome.report.seconds:.2f} s, test accuracy {outcome.result.metrics['accuracy']:.6f}", flush=True)
    engine.row_gradients = real
    for arm, values in seconds.items():
        print(f"{arm}: median {statistics.median(values):.2f} s ({' / '.join(f'{v:.1f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
