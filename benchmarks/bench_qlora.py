"""QLoRA memory: base-weight bytes (4-bit NF4 vs fp32) and the peak RSS of a train run, LoRA vs QLoRA.

Each strategy trains in its own fresh process (peak RSS is per process): all-MiniLM-L6-v2 on rotten-tomatoes,
n=64, ``steps`` optimiser steps, one validation pass. The child prints one JSON line; the parent collects them.
Run alone: python benchmarks/bench_qlora.py [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

STRATEGIES = ("lora", "qlora")


@dataclass(frozen=True)
class MemoryResult:
    strategy: str
    linear_bytes: int  # weights of the encoder's linear layers as stored
    linear_fp32_bytes: int  # the same weights in fp32
    model_bytes: int  # every encoder parameter as stored (embeddings stay fp32)
    model_fp32_bytes: int
    peak_rss: int  # bytes, the whole process (Python, torch, tokenised data included)
    seconds_per_step: float
    val_accuracy: float

    @property
    def linear_ratio(self) -> float:
        return self.linear_bytes / self.linear_fp32_bytes

    @property
    def model_ratio(self) -> float:
        return self.model_bytes / self.model_fp32_bytes


def child(strategy: str, steps: int) -> dict:
    import resource

    from headstart.quantize import weight_bytes
    from headstart.recipe import setup, train
    from headstart.specs import RunSpec, TrainConfig

    spec = RunSpec(strategy=strategy, n=64, seed=0, train=TrainConfig(max_steps=steps, min_steps=steps, evals_per_phase=1))
    s = setup(spec)
    encoder = s.model.backbone.model.get_base_model()
    linear, model = weight_bytes(encoder, linear_only=True), weight_bytes(encoder)
    report = train(s)
    return {"strategy": strategy, "linear_bytes": linear.stored, "linear_fp32_bytes": linear.fp32, "model_bytes": model.stored,
            "model_fp32_bytes": model.fp32, "peak_rss": _peak_rss(resource),
            "seconds_per_step": report.seconds / max(report.steps, 1), "val_accuracy": report.val_metrics.get("accuracy", float("nan"))}


def _peak_rss(resource) -> int:
    """This process's peak resident memory. VmHWM resets at exec; getrusage's maxrss would carry the forking
    parent's peak into the child (a big benchmark driver then sets every child's figure)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_memory(steps: int, log=print) -> list[MemoryResult]:
    results = []
    for strategy in STRATEGIES:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", strategy, "--steps", str(steps)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{strategy} child failed:\n{proc.stderr[-2000:]}")
        row = MemoryResult(**json.loads(proc.stdout.strip().splitlines()[-1]))
        log(f"{strategy}: linear weights {row.linear_bytes / 1e6:.1f} MB ({row.linear_ratio:.3f}x fp32), whole encoder "
            f"{row.model_bytes / 1e6:.1f} MB ({row.model_ratio:.3f}x), peak RSS {row.peak_rss / 1e6:.0f} MB, {row.seconds_per_step:.2f} s/step")
        results.append(row)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=STRATEGIES)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps)))
        return 0
    run_memory(args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
