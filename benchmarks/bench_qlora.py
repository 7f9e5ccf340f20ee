"""QLoRA memory: base-weight bytes (4-bit NF4 vs fp32) and the peak RSS of a train run, LoRA vs QLoRA.

Each strategy trains in its own fresh process (peak RSS is per process): all-MiniLM-L6-v2 (or ``--backbone``: the
causal LMs smollm2-135m and gemma3-270m) on rotten-tomatoes, n=64, ``steps`` optimiser steps, one validation pass.
The child prints one JSON line; the parent collects them. ``base_rss`` is the child's resident memory after its
imports, before any model: what the process costs whatever it trains.
Run alone: python benchmarks/bench_qlora.py [--steps 20] [--backbone smollm2-135m]
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
    backbone: str = "all-minilm-l6-v2"
    base_rss: int = 0  # bytes resident after imports, before the model

    @property
    def linear_ratio(self) -> float:
        return self.linear_bytes / self.linear_fp32_bytes

    @property
    def model_ratio(self) -> float:
        return self.model_bytes / self.model_fp32_bytes


def child(strategy: str, steps: int, backbone: str = "all-minilm-l6-v2") -> dict:
    import resource

    from headstart.backbones.registry import REGISTRY
    from headstart.quantize import weight_bytes
    from headstart.recipe import setup, train
    from headstart.specs import RunSpec, TrainConfig

    REGISTRY[backbone].locate() if backbone in REGISTRY else None  # a GGUF model's one-time conversion is not the run's
    base_rss = _rss(resource)
    spec = RunSpec(backbone=backbone, strategy=strategy, n=64, seed=0,
                   train=TrainConfig(max_steps=steps, min_steps=steps, evals_per_phase=1))
    s = setup(spec)
    encoder = s.model.backbone.model.get_base_model()
    linear, model = weight_bytes(encoder, linear_only=True), weight_bytes(encoder)
    report = train(s)
    return {"strategy": strategy, "linear_bytes": linear.stored, "linear_fp32_bytes": linear.fp32, "model_bytes": model.stored,
            "model_fp32_bytes": model.fp32, "peak_rss": _peak_rss(resource),
            "seconds_per_step": report.seconds / max(report.steps, 1), "val_accuracy": report.val_metrics.get("accuracy", float("nan")),
            "backbone": backbone, "base_rss": base_rss}


def _rss(resource) -> int:
    """This process's resident memory now (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


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


def run_memory(steps: int, log=print, backbone: str = "all-minilm-l6-v2") -> list[MemoryResult]:
    from headstart.precision import cpu_model

    log(f"{backbone}, {steps} steps, CPU: {cpu_model()}")
    results = []
    for strategy in STRATEGIES:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", strategy, "--steps", str(steps),
                               "--backbone", backbone],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{strategy} child failed:\n{proc.stderr[-2000:]}")
        row = MemoryResult(**json.loads(proc.stdout.strip().splitlines()[-1]))
        log(f"{strategy}: linear weights {row.linear_bytes / 1e6:.1f} MB ({row.linear_ratio:.3f}x fp32), whole encoder "
            f"{row.model_bytes / 1e6:.1f} MB ({row.model_ratio:.3f}x), peak RSS {row.peak_rss / 1e6:.0f} MB (after imports "
            f"{row.base_rss / 1e6:.0f} MB), {row.seconds_per_step:.2f} s/step")
        results.append(row)
    lora, qlora = results
    log(f"qlora / lora peak RSS: {qlora.peak_rss / lora.peak_rss:.2f}x whole process, "
        f"{(qlora.peak_rss - qlora.base_rss) / max(lora.peak_rss - lora.base_rss, 1):.2f}x above the imports; "
        f"s/step {qlora.seconds_per_step / lora.seconds_per_step:.2f}x")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/bench_qlora.py --steps 20")
    parser.add_argument("--child", choices=STRATEGIES)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--backbone", default="all-minilm-l6-v2")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.backbone)))
        return 0
    run_memory(args.steps, backbone=args.backbone)
    return 0


if __name__ == "__main__":
    sys.exit(main())
