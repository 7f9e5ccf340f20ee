"""Does stopping the linear probe early cost accuracy? The probe's defaults (a validation check every epoch,
stop after 5 without improvement) against its former ones (5 checks a phase, patience 3), paired by seed.

Both train the same head on the same cached features from the same initialisation and batch order; only when
training stops (and which validated checkpoint is kept) differs. Prints per size the mean test accuracy of
both, the paired difference with its 95% CI, and the optimiser steps and training seconds of all seeds.

Run: python benchmarks/probe_early_stop.py [--sizes 8,16,64,256,1024,all] [--seeds 5]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

from headstart import api
from headstart.specs import TrainConfig

CONFIGS = {"before": TrainConfig(evals_per_phase=5, patience=3), "now": TrainConfig()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/probe_early_stop.py --sizes 16,all --seeds 3")
    parser.add_argument("--sizes", default="8,16,64,256,1024,all")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", default="rotten-tomatoes")
    args = parser.parse_args(argv)
    print("| n | accuracy before | now | now − before (points, 95% CI) | steps before → now | train s before → now |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        n = size if size == "all" else int(size)
        res = {}
        for name, cfg in CONFIGS.items():
            runs = [api.fit(args.data, strategy="linear-probe", n=n, seed=seed, config=cfg) for seed in range(args.seeds)]
            res[name] = (np.array([r.evaluate("test")["accuracy"] for r in runs]), sum(r.steps for r in runs),
                         sum(r.train_seconds for r in runs))
        d = (res["now"][0] - res["before"][0]) * 100
        lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d)) if d.std() > 0 else (d.mean(), d.mean())
        print(f"| {n} | {100 * res['before'][0].mean():.1f} | {100 * res['now'][0].mean():.1f} | {d.mean():+.2f} ({lo:+.2f} to {hi:+.2f}) | "
              f"{res['before'][1]} → {res['now'][1]} | {res['before'][2]:.1f} → {res['now'][2]:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
