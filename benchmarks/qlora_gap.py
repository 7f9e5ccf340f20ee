"""Where QLoRA's accuracy gap to LoRA comes from: the one-change-at-a-time arms between ``lora`` and ``qlora``.

``qlora`` as it was first built differed from ``lora`` in three ways: the base's linear layers held in NF4,
bitsandbytes' 8-bit AdamW, and the encoder recomputing its activations in the backward pass. Each arm below changes
one of them, on identical training rows, seeds and test split (rotten-tomatoes, ``max_test`` 500 as
examples/llm-qlora.toml), so that the paired differences say which change costs the points:

- ``lora``: every default;
- ``qlora with 8-bit AdamW``: qlora as first built (``optimizer=adamw8bit``, its default until this benchmark);
- ``qlora with 32-bit AdamW``: ``optimizer=adamw`` (fused torch AdamW, as ``lora``): qlora's default now;
- ``lora on an NF4-rounded base``: ``lora`` on a copy of the backbone whose linear layers hold their NF4 round trip
  (quantised, then dequantised to fp32), with LoRA's optimiser and no recomputation: the rounding alone;
- ``qlora with 8-bit AdamW and no recomputation``: the first with ``checkpointing=false``.

Each finished cell is appended to ``--out`` (JSON lines; a re-run skips what is done); the table pairs each arm with
``lora`` and with the 8-bit qlora by seed (95% CI over seeds).
Run: python benchmarks/qlora_gap.py [--backbone smollm2-135m] [--n 256] [--seeds 3] [--options targets=q_proj,v_proj]
     [--arms "lora,qlora with 32-bit AdamW"] [--out runs/qlora-gap.jsonl] [--table]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from headstart.analysis.stats import mean_ci, paired_test
from headstart.backbones import load_backbone
from headstart.data import load_dataset
from headstart.data.splits import SplitConfig
from headstart.precision import cpu_model
from headstart.quantize import dequantize_linears, quantize_linears
from headstart.recipe import run
from headstart.specs import RunSpec, TrainConfig
from headstart.strategies.peft_base import encoder_of
from headstart.analysis.stats import range_text
from jsonl_rows import append_row, read_rows

ARMS = {  # name: (strategy, its options, TrainConfig fields, NF4-rounded base)
    "lora": ("lora", {}, {}, False),
    "qlora with 8-bit AdamW": ("qlora", {}, {"optimizer": "adamw8bit"}, False),
    "qlora with 32-bit AdamW": ("qlora", {}, {"optimizer": "adamw"}, False),
    "lora on an NF4-rounded base": ("lora", {}, {}, True),
    "qlora with 8-bit AdamW and no recomputation": ("qlora", {"checkpointing": False}, {"optimizer": "adamw8bit"}, False),
}
EIGHT_BIT = "qlora with 8-bit AdamW"


def nf4_rounded(pretrained: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``pretrained`` whose encoder's linear layers hold dequantize(quantize_nf4(W)) in fp32: the weights a
    ``qlora`` run computes with, in layers that ``lora`` trains as usual."""
    rounded = copy.deepcopy(pretrained, memo={id(getattr(pretrained, "tokenizer", None)): getattr(pretrained, "tokenizer", None)})
    encoder = encoder_of(rounded)
    quantize_linears(encoder)
    dequantize_linears(encoder)
    return rounded


def table(rows: list[dict], arms: list[str]) -> str:
    by: dict[str, dict[int, dict]] = {}
    for r in rows:
        by.setdefault(r["arm"], {})[r["seed"]] = r
    lines = ["| arm | test accuracy % (95% CI over seeds) | per seed | train s (mean) | − lora, points (paired 95% CI) | − qlora with 8-bit AdamW, points (paired 95% CI) |",
             "|---|---|---|---|---|---|"]
    for arm in [a for a in arms if a in by]:
        cells = by[arm]
        mean, lo, hi, _ = mean_ci([100 * c["accuracy"] for c in cells.values()])
        diffs = []
        for other in ("lora", EIGHT_BIT):
            seeds = sorted(set(cells) & set(by.get(other, {})))
            if arm == other or not seeds:
                diffs.append("")
                continue
            d = paired_test([100 * (cells[s]["accuracy"] - by[other][s]["accuracy"]) for s in seeds])
            diffs.append(f"{d['mean']:+.1f} ({range_text(d, lambda v: f'{v:+.1f}', joiner=' to ')})" if len(seeds) > 1
                         else f"{d['mean']:+.1f} (one seed)")
        per_seed = " / ".join(f"{100 * cells[s]['accuracy']:.1f}" for s in sorted(cells))
        lines.append(f"| {arm} | {mean:.1f} ({lo:.1f}–{hi:.1f}) | {per_seed} | "
                     f"{statistics.mean(c['seconds'] for c in cells.values()):.0f} | {diffs[0]} | {diffs[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/qlora_gap.py --seeds 1 --arms 'lora,lora on an NF4-rounded base'")
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--options", default="", help="options every arm shares, e.g. targets=all-linear")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--out", type=Path, default=Path("runs/qlora-gap.jsonl"))
    parser.add_argument("--table", action="store_true", help="only print the table of what --out holds")
    args = parser.parse_args(argv)
    arms = args.arms.split(",")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm {unknown[0]!r}; one of: {', '.join(ARMS)}")
    shared = dict(item.split("=", 1) for item in args.options.split(";") if item)
    key = (args.backbone, args.n, args.options)
    done = read_rows(args.out, lambda r: (r["backbone"], r["n"], r["options"], r["seed"], r["arm"]))
    if not args.table:
        data, pretrained = load_dataset("rotten-tomatoes"), load_backbone(args.backbone)
        rounded = None
        print(f"qlora gap on {cpu_model()}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}; "
              f"appending to {args.out}", file=sys.stderr, flush=True)
        for seed in range(args.seeds):
            for arm in arms:
                if (*key, seed, arm) in done:
                    continue
                strategy, options, train, on_rounded = ARMS[arm]
                if on_rounded and rounded is None:
                    rounded = nf4_rounded(pretrained)
                spec = RunSpec(data=data.name, backbone=pretrained.name, strategy=strategy, n=args.n, seed=seed,
                               options={**shared, **options}, train=TrainConfig(**train), split=SplitConfig(max_test=500))
                start = time.perf_counter()
                outcome = run(spec, data=data, pretrained=rounded if on_rounded else pretrained, test=True)
                if outcome.result.status != "done":
                    raise RuntimeError(f"{arm} seed {seed}: {outcome.result.status} ({outcome.result.error})")
                row = {"backbone": args.backbone, "n": args.n, "options": args.options, "seed": seed, "arm": arm,
                       "accuracy": outcome.result.metrics["accuracy"], "seconds": outcome.report.seconds,
                       "wall": time.perf_counter() - start, "steps": outcome.report.steps,
                       "val": outcome.report.best_score, "test_rows": len(outcome.setup.splits.test),
                       "cpu": cpu_model(), "load": os.getloadavg()[0]}
                append_row(args.out, row)
                done[(*key, seed, arm)] = row
                print(f"seed {seed} {arm}: {100 * row['accuracy']:.1f}% (val {100 * row['val']:.1f}) in {row['seconds']:.0f} s",
                      file=sys.stderr, flush=True)
    print(table([r for k, r in done.items() if k[:3] == key], list(ARMS)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
