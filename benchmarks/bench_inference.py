"""Inference throughput of evaluation / predict against the matmul peak measured in the same process.

Issue 6's goal: forward throughput >= 50% of the matmul peak. Run: ``python benchmarks/bench_inference.py`` (~1 min).

- Peak: the best of several fp32 ``torch.mm`` of 2048 x 2048 x 2048 (GFLOP/s), and the same at the encoder's own
  largest shape (a 128-row-by-length batch of tokens times the 384 x 1536 feed-forward weight).
- Forward: ``embed_rows`` (what evaluation and ``predict`` run: eval mode, inference batches of 128 sorted by
  length) over the test split of rotten-tomatoes with all-MiniLM-L6-v2. FLOPs are counted from the model's shapes
  on the padded batches the engine builds: per token and layer 2 x (4 d^2 + 2 d d_ff) for the linear layers plus
  2 x 2 x L x d for attention scores and values (L: the batch's padded length). "Useful" counts real tokens only.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import numpy as np
import torch

from headstart.backbones import load_backbone
from headstart.data import load_dataset
from headstart.features import embed_rows, length_sorted_batches
from headstart.precision import cpu_model
from headstart.recipe import setup
from headstart.specs import RunSpec, TrainConfig


def matmul_gflops(m: int, k: int, n: int, repeats: int = 10) -> float:
    a, b = torch.randn(m, k), torch.randn(k, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e9


def forward_flops(lengths: list[int], batches: list[np.ndarray], *, d: int, d_ff: int, layers: int) -> tuple[float, float]:
    """(FLOPs on the padded batches, FLOPs on the real tokens) of the encoder's forward pass."""
    padded = useful = 0.0
    for batch in batches:
        width = max(lengths[i] for i in batch)
        per_token = lambda length: layers * (2 * (4 * d * d + 2 * d * d_ff) + 4 * length * d)  # noqa: E731
        padded += len(batch) * width * per_token(width)
        useful += sum(lengths[i] * per_token(lengths[i]) for i in batch)
    return padded, useful


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/bench_inference.py")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = load_dataset("rotten-tomatoes")
    backbone = load_backbone("all-minilm-l6-v2")
    s = setup(RunSpec(data="rotten-tomatoes", backbone=backbone.name, strategy="linear-probe", n=16, seed=0,
                      train=TrainConfig(precision="fp32")), data=data, pretrained=backbone)
    rows = s.splits.test
    batch_size = s.cfg.eval_batch_size
    lengths = [len(s.encoded[r]) for r in rows]
    batches = length_sorted_batches(lengths, batch_size)
    config = backbone.model.config
    padded, useful = forward_flops(lengths, batches, d=config.hidden_size, d_ff=config.intermediate_size, layers=config.num_hidden_layers)
    mean_width = float(np.mean([max(lengths[i] for i in b) for b in batches]))

    peak = max(matmul_gflops(2048, 2048, 2048) for _ in range(args.repeats))
    shaped = max(matmul_gflops(int(batch_size * mean_width), config.hidden_size, config.intermediate_size) for _ in range(args.repeats))
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        embed_rows(backbone, s.encoded, rows, batch_size=batch_size)
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    achieved, achieved_useful = padded / seconds / 1e9, useful / seconds / 1e9

    lines = [f"Inference (evaluation / predict forward), {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on "
             f"{cpu_model()}, {torch.get_num_threads()} threads, fp32, load average {os.getloadavg()[0]:.2f}; "
             f"{len(rows)} test reviews, batches of {batch_size} sorted by length (mean padded length {mean_width:.0f}):", "",
             "| | GFLOP/s | share of the 2048^3 matmul peak |", "|---|---:|---:|",
             f"| matmul peak, 2048 x 2048 x 2048 | {peak:.1f} | 100% |",
             f"| matmul at the encoder's feed-forward shape ({int(batch_size * mean_width)} x {config.hidden_size} x {config.intermediate_size}) | {shaped:.1f} | {shaped / peak:.0%} |",
             f"| forward pass, padded tokens ({seconds:.2f} s, {len(rows) / seconds:.0f} reviews/s) | {achieved:.1f} | {achieved / peak:.0%} |",
             f"| forward pass, real tokens only | {achieved_useful:.1f} | {achieved_useful / peak:.0%} |"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
