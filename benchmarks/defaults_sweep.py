"""Which default learning rate? Validation accuracy of each strategy over a grid, per dataset and labelled-set size.

The defaults of ``train`` (no flags) rest on this: every (dataset, n, strategy, lr, seed) is one full-budget run
with the strategy's other defaults; per dataset and size, the setting chosen is the one with the best mean
*validation* accuracy over the seeds every setting of that strategy ran (paired: a setting run on more seeds does not
win on its extra ones); test accuracy is printed beside it, never used to choose. Each finished run is appended to
``--out`` (JSON lines), so a re-run skips what is done and an interrupted sweep resumes.

Run: python benchmarks/defaults_sweep.py [--data rotten-tomatoes=256,2048 --data drug-reviews-sentiment=256,all]
     [--seeds 2] [--grid full-finetune=2e-5,5e-5,1e-4 --grid lora=1e-4,3e-4,1e-3] [--min-steps 48,100] [--epochs 2,3]
     [--batch-sizes 8,16] [--out runs/defaults-sweep.jsonl]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from headstart import api
from headstart.analysis.stats import mean_ci
from headstart.precision import cpu_model
from headstart.specs import TrainConfig
from jsonl_rows import append_row, read_rows

DATA = ("rotten-tomatoes=256,2048", "drug-reviews-sentiment=256,all")  # drug-reviews-sentiment's pool: 685 rows
GRIDS = {"full-finetune": (1e-5, 2e-5, 5e-5, 1e-4), "lora": (1e-4, 3e-4, 1e-3)}


def _key(row: dict) -> tuple:
    return row["data"], row["n"], row["strategy"], row["lr"], row.get("min_steps"), row.get("epochs"), row.get("batch_size"), row["seed"]


def table(rows: list[dict]) -> str:
    """Markdown: per strategy, data, n and setting, mean validation and test accuracy over its seeds; the setting chosen
    on validation over the seeds all of that (strategy, data, n)'s settings share marked (with those seeds)."""
    lines = ["| strategy | data | n | lr | step floor | epochs | batch | validation % (mean) | test % (mean) | seeds | steps (mean) | train s (mean) | best on validation |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["strategy"], r["data"], r["n"], r["lr"], r.get("min_steps"), r.get("epochs"), r.get("batch_size")), []).append(r)
    shared: dict[tuple, set[int]] = {}  # (strategy, data, n) -> the seeds every setting of it ran
    for (strategy, data, n, *_), rs in groups.items():
        seeds = {r["seed"] for r in rs}
        shared[(strategy, data, n)] = shared.get((strategy, data, n), seeds) & seeds
    best: dict[tuple, tuple[float, tuple]] = {}  # (strategy, data, n) -> (mean validation accuracy, (lr, floor, epochs, batch))
    for (strategy, data, n, lr, floor, epochs, batch), rs in groups.items():
        key = (strategy, data, n)
        paired = [r["val"] for r in rs if r["seed"] in shared[key]]
        if not paired:
            continue
        v = statistics.mean(paired)
        if key not in best or v > best[key][0]:
            best[key] = (v, (lr, floor, epochs, batch))
    for (strategy, data, n, lr, floor, epochs, batch), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][2]), kv[0][3], kv[0][4] or 0, kv[0][5] or 0, kv[0][6] or 0)):
        key = (strategy, data, n)
        chosen = key in best and best[key][1] == (lr, floor, epochs, batch)
        common = shared[key]
        mark = ("yes" + ("" if common == {r["seed"] for r in rs} else f" (on seeds {', '.join(map(str, sorted(common)))}: "
                                                                      f"{100 * best[key][0]:.1f})")) if chosen else ""
        lines.append(f"| {strategy} | {data} | {n} | {lr:g} | {floor or 'default'} | {epochs or 'default'} | {batch or 'default'} | "
                     f"{100 * statistics.mean(r['val'] for r in rs):.1f} | "
                     f"{100 * statistics.mean(r['test'] for r in rs):.1f} | {len(rs)} | "
                     f"{statistics.mean(r['steps'] for r in rs):.0f} | {statistics.mean(r['train_s'] for r in rs):.0f} | {mark} |")
    return "\n".join(lines) + paired_lines(groups, best, shared)


def paired_lines(groups: dict[tuple, list[dict]], best: dict[tuple, tuple[float, tuple]], shared: dict[tuple, set[int]]) -> str:
    """Under the table: each other setting minus the one chosen, paired by seed over the seeds all of them ran — mean
    validation and test points with a 95% Student-t interval over seeds (does the choice beat it, or only its mean?)."""
    lines = []
    for (strategy, data, n, *setting), rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        key = (strategy, data, n)
        if key not in best or tuple(setting) == best[key][1] or len(shared[key]) < 2:
            continue
        chosen = {r["seed"]: r for r in groups[(strategy, data, n, *best[key][1])]}
        mine = {r["seed"]: r for r in rs}
        seeds = sorted(shared[key])
        parts = []
        for split in ("val", "test"):
            mean, low, high, _ = mean_ci([100 * (mine[s][split] - chosen[s][split]) for s in seeds])
            parts.append(f"{'validation' if split == 'val' else 'test'} {mean:+.1f} ({low:+.1f} to {high:+.1f})")
        lr, floor, epochs, batch = setting
        lines.append(f"- {strategy} {data} n={n}: lr {lr:g}, floor {floor or 'default'}, epochs {epochs or 'default'}, batch "
                     f"{batch or 'default'} minus the chosen, points over seeds {', '.join(map(str, seeds))}: {'; '.join(parts)}")
    return "\n\n" + "\n".join(lines) if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/defaults_sweep.py --data rotten-tomatoes=256 --seeds 1 --grid lora=1e-4,3e-4")
    parser.add_argument("--data", action="append", default=[],
                        help="DATASET=SIZES (repeatable; default: rotten-tomatoes=256,2048 and drug-reviews-sentiment=256,all)")
    parser.add_argument("--backbone", default="all-minilm-l6-v2")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--grid", action="append", default=[], help="STRATEGY=LR1,LR2,... (repeatable; default: both grids)")
    parser.add_argument("--min-steps", default="", help="step floors to try, comma-separated (default: the strategy's own)")
    parser.add_argument("--epochs", default="", help="epoch counts to try, comma-separated (default: the strategy's own)")
    parser.add_argument("--batch-sizes", default="", help="batch sizes to try, comma-separated (default: the strategy's own)")
    parser.add_argument("--out", type=Path, default=Path("runs/defaults-sweep.jsonl"))
    parser.add_argument("--table", action="store_true", help="only print the table of what --out holds")
    args = parser.parse_args(argv)
    grids = dict(GRIDS)
    if args.grid:
        grids = {}
        for g in args.grid:
            name, _, values = g.partition("=")
            grids[name] = tuple(float(v) for v in values.split(","))
    floors = [int(f) for f in args.min_steps.split(",") if f] or [None]
    epoch_counts = [int(e) for e in args.epochs.split(",") if e] or [None]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b] or [None]
    done = read_rows(args.out, _key)
    if not args.table:
        print(f"defaults sweep on {cpu_model()}; appending to {args.out}", flush=True)
        plan = [(data, int(n) if n != "all" else "all")
                for data, _, sizes in (d.partition("=") for d in args.data or DATA) for n in sizes.split(",")]
        for data, n in plan:
            for strategy, lrs in grids.items():
                for lr, floor, epochs, batch in ((lr, f, e, b) for lr in lrs for f in floors for e in epoch_counts for b in batch_sizes):
                    for seed in range(args.seeds):
                        key = (data, n, strategy, lr, floor, epochs, batch, seed)
                        if key in done:
                            continue
                        start = time.perf_counter()
                        config = TrainConfig(lr=lr, min_steps=floor, epochs=epochs, **({} if batch is None else {"batch_size": batch}))
                        r = api.fit(data, args.backbone, strategy=strategy, n=n, seed=seed, config=config)
                        if r.status != "done":
                            print(f"{key}: {r.status} ({r.error})", flush=True)
                            continue
                        test = r.evaluate("test")
                        row = {"data": data, "n": n, "strategy": strategy, "lr": lr, "min_steps": floor, "epochs": epochs, "batch_size": batch, "seed": seed,
                               "val": r.val_metrics["accuracy"], "test": test["accuracy"], "steps": r.steps,
                               "best_step": r.best_step, "train_s": r.train_seconds,
                               "wall_s": time.perf_counter() - start, "load": os.getloadavg()[0], "flags": [f["reason"] for f in r.flags]}
                        append_row(args.out, row)
                        done[key] = row
                        print(f"{data} n={n} {strategy} lr={lr:g} floor={floor} epochs={epochs} batch={batch} seed={seed}: val {100 * row['val']:.1f} "
                              f"test {100 * row['test']:.1f} ({row['steps']} steps, {row['train_s']:.0f} s)", flush=True)
    print(table(list(done.values())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
