"""Partial-freeze with and without the frozen-prefix cache (headstart.activations): same results, time per run.

``python benchmarks/bench_prefix_cache.py`` (~5 min on a 2-core CPU): rotten-tomatoes n=256, all-MiniLM-L6-v2,
partial-freeze at --freeze 3 and 5 (of 7 blocks: embeddings + 6 layers), 30 steps, one validation pass; each
setting twice, alternating cached / uncached. A run's seconds include building the cache and the validation pass.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from headstart import engine
from headstart.activations import PrefixCache
from headstart.backbones import load_backbone
from headstart.data import load_dataset
from headstart.precision import cpu_model
from headstart.recipe import setup, train
from headstart.specs import RunSpec, TrainConfig


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="example: python benchmarks/bench_prefix_cache.py").parse_args()
    data, pretrained = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    real = PrefixCache.build
    print(f"{cpu_model()}, {torch.get_num_threads()} threads")
    print("| --freeze | cached | seconds | steps | val accuracy | val loss |\n|---:|---|---:|---:|---:|---:|")
    try:
        for freeze in (3, 5):
            for cached in (True, False, True, False):
                engine.PrefixCache.build = real if cached else (lambda *args, **kwargs: None)
                spec = RunSpec(data="rotten-tomatoes", backbone=pretrained.name, strategy="partial-freeze", n=256, seed=0,
                               options={"freeze": freeze}, train=TrainConfig(max_steps=30, min_steps=30, evals_per_phase=1))
                report = train(setup(spec, data=data, pretrained=pretrained))
                print(f"| {freeze} | {'yes' if cached else 'no'} | {report.seconds:.1f} | {report.steps} | "
                      f"{report.best_score:.4f} | {report.val_metrics['loss']:.6f} |", flush=True)
    finally:
        engine.PrefixCache.build = real
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
