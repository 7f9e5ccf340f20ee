"""What ``--tune lr`` costs in wall time: one cell trained without and with tuning, back to back in one process.

For each strategy, the same cell (rotten-tomatoes, all-MiniLM-L6-v2, n and seed as given, examples/tuning.toml's
budget: one epoch or 100 steps, whichever is more) trains untuned (the strategy's default learning rate) and then
tuned (successive halving over the strategy's grid, the chosen value trained on the full budget), alternating for
``--repeats``. Printed per strategy: median wall seconds of each, their ratio, the step budgets (trials + final over
final) and the value chosen. Data and backbone load outside the timings; the feature cache is warm for the probe,
as it is in a sweep after its first cell.

Run: python benchmarks/tuning_overhead.py [--n 64] [--strategies full-finetune,lora,linear-probe] [--repeats 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import statistics
import sys
import time

import torch

from headstart.backbones import load_backbone
from headstart.data import load_dataset
from headstart.precision import cpu_model
from headstart.recipe import budget_for
from headstart.data.splits import SplitConfig
from headstart.specs import RunSpec, TrainConfig
from headstart.strategies import get_strategy
from headstart.recipe import run


def one(spec: RunSpec, data, backbone) -> tuple[float, dict, int]:
    """(wall seconds, chosen, step budget of trials + final) of one run, tuned or not."""
    start = time.perf_counter()
    result = run(spec, data=data, pretrained=backbone, test=False)
    seconds = time.perf_counter() - start
    trials = sum(t["steps"] for t in result.trials)
    return seconds, result.chosen, trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/tuning_overhead.py --n 64 --strategies full-finetune,linear-probe")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default="full-finetune,lora,linear-probe")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)

    data, backbone = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    print(f"machine: {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}", flush=True)
    lines = [f"Tuning overhead (rotten-tomatoes, all-MiniLM-L6-v2, n={args.n}, seed {args.seed}, epochs 1 / 100-step floor), "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu_model()}, {torch.get_num_threads()} threads:", "",
             "| strategy | untuned s | tuned s (trials + final) | wall ratio | step budgets (trials + final) / final | chosen |",
             "|---|---:|---:|---:|---:|---|"]
    def spec(name: str) -> RunSpec:
        return RunSpec(data="rotten-tomatoes", backbone=backbone.name, strategy=name, n=args.n, seed=args.seed,
                       train=TrainConfig(precision="fp32", epochs=1), split=SplitConfig(max_test=1000))

    one(spec("linear-probe"), data, backbone)  # not timed: fills the feature cache, as a sweep's first probe cell does
    for name in args.strategies.split(","):
        base = spec(name)
        plain_s, tuned_s = [], []
        for _ in range(args.repeats):
            plain_s.append(one(base, data, backbone)[0])
            seconds, chosen, trial_steps = one(dataclasses.replace(base, tune="lr"), data, backbone)
            tuned_s.append(seconds)
        final = budget_for(base.train.with_defaults(get_strategy(name).defaults_for("text")), args.n).steps
        a, b = statistics.median(plain_s), statistics.median(tuned_s)
        print(f"{name}: untuned {a:.1f} s, tuned {b:.1f} s ({b / a:.2f}x); steps {(trial_steps + final) / final:.2f}x; chosen {chosen}", flush=True)
        lines.append(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.2f}x | {(trial_steps + final) / final:.2f}x | "
                     + ", ".join(f"{k} {v:g}" for k, v in chosen.items() if isinstance(v, float)) + " |")
    print("\n".join(lines + ["", f"load average at the end: {os.getloadavg()[0]:.2f}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
