"""EfficientNet-Lite0 input size on a CPU: feature throughput and probe accuracy on Fashion-MNIST per size.

800 images drawn with a fixed seed from the pool of headstart's own split (never a row any run's test split holds: a
``--max-test`` cap keeps a part of the uncapped test split, so its pool is outside every capped test too); features at
each size (one thread, batches of 64); logistic regression (C=1) trained on n=40 and n=100 of the first 400, scored on
the other 400, averaged over 20 training draws (± their standard error); then each size against the first, paired
over the draws (the same rows at every size), with two 95% intervals: over the training draws alone (how much the 20
draws of n labelled images move the gap), and over the draws and the 400 scored images resampled (``analysis.interval``
with the report's row bootstrap, the error a claim about Fashion-MNIST rather than these 400 images carries). The numbers behind the ``--image-size`` default in docs/DESIGN.md
("Images"): a default is a choice, and no choice reads the test split.

Run: python benchmarks/image_sizes.py [--sizes 224,160,128,96] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from headstart import analysis
from headstart.backbones import load_backbone
from headstart.data import load_dataset
from headstart.precision import cpu_model
from headstart.data.splits import SplitConfig, split_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/image_sizes.py --sizes 160,224,128,96")
    parser.add_argument("--sizes", default="224,160,128,96")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("fashion-mnist")
    pool = split_dataset(data, SplitConfig()).pool
    rows = pool[np.random.default_rng(0).permutation(len(pool))[:800]]
    y = data.targets[rows]
    print(f"{cpu_model()}; {len(pool)} pool rows of {len(data)}; "
          f"load average at start {os.getloadavg()[0]:.1f}; {args.threads} thread(s)", flush=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    by_size: dict[tuple[int, int], np.ndarray] = {}  # (draws, 400) predicted classes of the scored images
    for size in sizes:
        backbone = load_backbone("efficientnet-lite0", image_size=size).eval()
        encoded = backbone.encode([data.inputs[r] for r in rows])
        start = time.perf_counter()
        with torch.inference_mode():
            features = torch.cat([backbone(backbone.collate(encoded[i : i + 64])) for i in range(0, len(encoded), 64)]).numpy()
        seconds = time.perf_counter() - start
        cells = []
        for n in (40, 100):
            predicted = []
            for draw in range(20):
                pick = np.random.default_rng(draw).permutation(400)[:n]
                predicted.append(LogisticRegression(C=1.0, max_iter=3000).fit(features[pick], y[pick]).predict(features[400:]))
            by_size[(size, n)] = np.stack(predicted)
            scores = (by_size[(size, n)] == y[None, 400:]).mean(1)
            cells.append(f"n={n} {np.mean(scores):.3f}±{np.std(scores) / np.sqrt(len(scores)):.3f}")
        print(f"{size}x{size}: {len(rows) / seconds:.1f} images/s; probe accuracy {', '.join(cells)} "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    weights = analysis.stats.row_weights(400)
    for size in sizes[1:]:  # the same 20 draws and 400 scored images at every side: differences are paired
        cells = []
        for n in (40, 100):
            a, b = by_size[(size, n)], by_size[(sizes[0], n)]
            diffs = [100 * float(d) for d in (a == y[None, 400:]).mean(1) - (b == y[None, 400:]).mean(1)]
            row_draws = 100 * (analysis.stats.metric_draws("accuracy", a, y[400:], weights)
                               - analysis.stats.metric_draws("accuracy", b, y[400:], weights)).mean(1)
            draws_only, both = analysis.paired_test(diffs), analysis.stats.interval(diffs, row_draws)
            cells.append(f"n={n} {draws_only['mean']:+.1f} (draws {draws_only['ci_low']:+.1f} to {draws_only['ci_high']:+.1f}; "
                         f"draws and images {both['ci_low']:+.1f} to {both['ci_high']:+.1f})")
        print(f"{size} - {sizes[0]}, points (paired, 95% CIs): {', '.join(cells)}")


if __name__ == "__main__":
    main()
