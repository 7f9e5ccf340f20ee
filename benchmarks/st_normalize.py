"""Does honouring the default backbone's sentence-transformers ``Normalize`` module change what a probe reaches?

    python benchmarks/st_normalize.py [--sizes 16,64,256,all] [--seeds 3]

all-MiniLM-L6-v2's folder declares Transformer -> mean Pooling -> Normalize (unit-length embeddings); headstart reads
the pooling but not the normalisation. On rotten-tomatoes' fixed split this fits the closed-form logistic regression
of ``embed-logreg`` (C chosen on validation from its grid) on the cached mean-pooled features as they are and
L2-normalised, for the same nested subsamples, and prints test accuracy per size (mean ± sd over seeds) and the paired
difference. The decision of issue 24 (honour the module, which changes every run key of the default backbone) rests on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from headstart.backbones import load_backbone  # noqa: E402
from headstart.data import load_dataset, split_dataset, subsample  # noqa: E402
from headstart.features import FeatureCache, encoded_inputs  # noqa: E402
from headstart.precision import device_name  # noqa: E402
from headstart.linear_fit import fit_linear  # noqa: E402
from headstart.sweep_spec import parse_sizes  # noqa: E402

GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


def probe(X: np.ndarray, y: np.ndarray, rows: dict[str, np.ndarray], classes: int) -> float:
    """Test accuracy of the logistic regression whose C scored best on validation."""
    def accuracy(W, b, part):
        return float(((X[rows[part]] @ W.T + b).argmax(1) == y[rows[part]]).mean())

    fits = [fit_linear("classification", X[rows["train"]], y[rows["train"]], C=C, outputs=classes, max_iter=1000) for C in GRID]
    best = max(range(len(GRID)), key=lambda i: (accuracy(*fits[i], "val"), -i))
    return accuracy(*fits[best], "test")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/st_normalize.py --sizes 16,64,256,all --seeds 3")
    parser.add_argument("--sizes", default="16,64,256,all")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"CPU: {device_name(torch.device('cpu'))}")
    data, backbone = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    splits = split_dataset(data)
    every = np.concatenate([splits.pool, splits.val, splits.test])
    cache = FeatureCache(backbone, encoded_inputs(backbone, data), data.hash, batch_size=128,
                         identity={**backbone.describe(), "precision": "fp32"})
    features = np.zeros((len(data), backbone.dim))
    features[every] = cache(every).double().numpy()
    normalised = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    y = data.targets.astype(np.int64)
    print("| n | as read today (%) | L2-normalised (%) | normalised − today, paired (points) |")
    print("|---:|---:|---:|---:|")
    for n in parse_sizes(args.sizes):
        raw, unit = [], []
        for seed in range(args.seeds if n is not None else 1):
            rows = {"train": subsample(data, splits.pool, n, seed), "val": splits.val, "test": splits.test}
            raw.append(100 * probe(features, y, rows, data.num_classes))
            unit.append(100 * probe(normalised, y, rows, data.num_classes))
        d = np.subtract(unit, raw)
        print(f"| {'all' if n is None else n} | {np.mean(raw):.1f} ± {np.std(raw):.1f} | {np.mean(unit):.1f} ± {np.std(unit):.1f} | "
              f"{d.mean():+.2f} ({', '.join(f'{x:+.1f}' for x in d)}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
