"""A reward model on the built-in preference pairs: ``headstart train --data rotten-tomatoes-rewards``, scored by
pairwise accuracy on the held-out movies' pairs (the same test movies as ``prefer``'s).

Each seed trains one run (the strategy's defaults, checkpoint chosen on its own validation rows), then scores every
test pair: the reward is the log-odds of "chosen", a pair is ordered right when its chosen review outscores its
rejected one. Printed: row accuracy and pairwise accuracy per seed, and the pairwise accuracy's mean with a 95%
interval over seeds and a bootstrap of the test pairs (``headstart.analysis.stats.interval``). A pair here asks for a
sentiment ("Write a positive review of <Movie>.") and offers a fresh and a rotten review of that movie, so ordering
it means reading the review's sentiment *against* the prompt's.

Run: python benchmarks/reward_model.py [--strategy full-finetune] [--n 2048] [--seeds 3] [--out runs/reward-model]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from headstart import api
from headstart.analysis.stats import interval, row_weights
from headstart.data import load_dataset
from headstart.data.dataset import PAIR_SEP
from headstart.llm.rewards import pairwise_accuracy, rewards
from headstart.precision import cpu_model
from headstart.arguments import parse_n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/reward_model.py --n 512 --seeds 1")
    parser.add_argument("--strategy", default="full-finetune")
    parser.add_argument("--backbone", default="all-minilm-l6-v2")
    parser.add_argument("--n", default="2048", help="training rows (two a pair), or all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("runs/reward-model"))
    args = parser.parse_args(argv)
    data = load_dataset("rotten-tomatoes-rewards")
    test = np.flatnonzero(data.given_split == 2)  # pairs in order: (2i, 2i + 1) chosen then rejected
    texts = [tuple(data.inputs[r].split(PAIR_SEP, 1)) for r in test]  # (prompt, response): a pair run's input
    print(f"reward model on {cpu_model()}, load {os.getloadavg()[0]:.2f}: {args.strategy} on {args.backbone}, "
          f"n = {args.n}, {len(test) // 2} test pairs", flush=True)
    per_seed, correct = [], []
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in range(args.seeds):
        start = time.perf_counter()
        fit = api.fit("rotten-tomatoes-rewards", args.backbone, strategy=args.strategy, n=parse_n(args.n), seed=seed,
                      out=args.out / f"{args.strategy}-{args.n}-seed{seed}")
        if fit.status != "done":
            raise SystemExit(f"seed {seed}: {fit.status} ({fit.error})")
        ordered = pairwise_accuracy(rewards(fit.predict(texts)))
        row = {"seed": seed, "pairwise_accuracy": float(ordered.mean()), "row_accuracy": fit.evaluate("test")["accuracy"],
               "val_accuracy": fit.val_metrics["accuracy"], "steps": fit.steps, "train_s": fit.train_seconds,
               "wall_s": time.perf_counter() - start}
        per_seed.append(row)
        correct.append(ordered)
        print(json.dumps(row), flush=True)
    weights = row_weights(len(correct[0]))  # the same resampled pairs for every seed
    draws = np.mean([weights @ c / len(c) for c in correct], axis=0)
    ci = interval([r["pairwise_accuracy"] for r in per_seed], draws, bounds=(0.0, 1.0))
    summary = {"strategy": args.strategy, "n": args.n, "seeds": args.seeds, "test_pairs": len(test) // 2,
               "pairwise_accuracy": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"], "per_seed": per_seed}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"pairwise accuracy {100 * ci['mean']:.1f}% (95% CI {100 * ci['ci_low']:.1f}–{100 * ci['ci_high']:.1f}) over "
          f"{args.seeds} seeds and {len(test) // 2} test pairs; chance 50%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
