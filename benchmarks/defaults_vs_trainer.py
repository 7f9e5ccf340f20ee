"""Defaults against defaults: headstart ``train`` with no flags vs ``transformers.Trainer`` (+ ``peft``) with its own.

For full fine-tuning and LoRA, on identical training rows (the rows headstart draws for ``--n N --seed S``) and the
identical test split of rotten-tomatoes, at each size and seed:

- headstart: ``full-finetune`` / ``lora`` with every default (its validation split chooses the checkpoint);
- Trainer: ``AutoModelForSequenceClassification`` from the same MiniLM folder loaded after ``set_seed(seed)`` (so the
  new classifier starts from the seed), ``TrainingArguments`` defaults
  (lr 5e-5, batch 8, 3 epochs, linear decay, no warmup, no weight decay, the last step kept), dynamic padding;
- Trainer + PEFT: the same with ``get_peft_model`` and the seed's LoRA config (r 8, alpha 16, dropout 0.1 on query
  and value; the classifier trains too, task type SEQ_CLS).
- "Trainer (validated)" / "Trainer + PEFT (validated)" (not run unless named in ``--methods``): the same, but reading
  what headstart's default reads besides the training rows — the same validation split, scored five times over the
  run, the best checkpoint by validation accuracy kept (``load_best_model_at_end``) — so that the two differ in
  recipe only, not in the labels they see. They pair with headstart's rows like the plain ones.
- "headstart full-finetune (Trainer's budget)" / "headstart lora (Trainer's budget)" (not run unless named): every
  default but the 100-step floor (``min_steps=0``), so the run trains Trainer's 3 epochs — the same examples Trainer
  trains, in batches of 16 — with its validation checks as always. They differ from the defaults only where 3 epochs
  are under 100 steps (n = 256: 48 steps); they pair with the plain and the validated baselines.
- "headstart lora (lr 2e-4)" (not run unless named): every default but LoRA's learning rate, 2e-4, its default
  before it moved to 1e-3 (docs/BENCHMARKS.md keeps its rows beside the 1e-3 ones); it pairs with Trainer + PEFT.

Accuracy on the test split (mean and 95% CI over seeds, and headstart − Trainer paired by seed), wall time of the
training call (headstart's includes its validation checks; model loading is outside both) and this process's CPU
seconds for training + scoring the test split (all threads; other processes on a shared machine inflate it far less
than the wall time, so on a busy machine its ratio is the one to read). Each finished cell is
appended to ``--out`` (JSON lines): a re-run skips what is done.

Run: python benchmarks/defaults_vs_trainer.py [--sizes 256,2048,all] [--seeds 3] [--out runs/defaults-vs-trainer.jsonl]
     [--methods "headstart full-finetune,Trainer (validated)"]
     [--methods "headstart full-finetune (Trainer's budget),Trainer,headstart lora (Trainer's budget),Trainer + PEFT"]
     [--methods "headstart lora (lr 2e-4),Trainer + PEFT"]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from headstart.analysis.stats import mean_ci, paired_test, range_text
from headstart.backbones import load_backbone
from headstart.backbones.registry import _minilm_dir
from headstart.backbones.st_folder import transformer_dir
from headstart.data import load_dataset, split_dataset, subsample
from headstart.data.splits import SplitConfig
from headstart.precision import cpu_model
from headstart.recipe import run
from headstart.arguments import parse_n
from headstart.specs import RunSpec, TrainConfig
from jsonl_rows import append_row, read_rows

METHODS = ("headstart full-finetune", "Trainer", "headstart lora", "Trainer + PEFT")
VALIDATED = ("Trainer (validated)", "Trainer + PEFT (validated)")  # run when --methods names them
BUDGET = " (Trainer's budget)"  # a headstart method with this suffix trains 3 epochs, no step floor (run when named)
AT_BUDGET = tuple(m + BUDGET for m in METHODS if m.startswith("headstart "))
BATCH8 = " (batch 8)"  # a headstart method with this suffix trains in batches of 8, Trainer's (run when named)
AT_BATCH8 = tuple(m + BATCH8 for m in METHODS if m.startswith("headstart "))
LR_BEFORE = " (lr 2e-4)"  # headstart lora at its default before 1e-3 (run when named)
AT_LR_BEFORE = ("headstart lora" + LR_BEFORE,)
SUFFIXES = {BUDGET: {"min_steps": 0}, BATCH8: {"batch_size": 8}, LR_BEFORE: {"lr": 2e-4}}  # what each variant changes
PAIRS = tuple((ours, theirs) for full, lora in (("headstart full-finetune", "headstart lora"), tuple(AT_BUDGET), tuple(AT_BATCH8))
              for ours, theirs in ((full, "Trainer"), (lora, "Trainer + PEFT"),
                                   (full, "Trainer (validated)"), (lora, "Trainer + PEFT (validated)"))) + tuple(
    (lora, theirs) for lora in AT_LR_BEFORE for theirs in ("Trainer + PEFT", "Trainer + PEFT (validated)"))


def _cpu_seconds() -> float:
    """CPU seconds this process has used, every thread's (user + system): the work done, which other processes on a
    shared machine slow down far less than they slow the wall clock."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _headstart(data, pretrained, strategy: str, n, seed: int, **changed) -> dict:
    """One headstart run with every default but ``changed`` (``SUFFIXES``: min_steps=0, Trainer's 3 epochs alone;
    batch_size=8, Trainer's batch)."""
    config = TrainConfig(**changed)
    spec = RunSpec(data=data.name, backbone=pretrained.name, strategy=strategy, n=n, seed=seed, train=config)
    cpu = _cpu_seconds()
    outcome = run(spec, data=data, pretrained=pretrained, test=True)
    cpu = _cpu_seconds() - cpu  # training + scoring the test split (the wall time below is the training alone)
    if outcome.result.status != "done":
        raise RuntimeError(f"headstart {strategy} n={n} seed={seed}: {outcome.result.status} ({outcome.result.error})")
    return {"accuracy": outcome.result.metrics["accuracy"], "seconds": outcome.report.seconds, "cpu_seconds": cpu,
            "steps": outcome.report.steps,
            "rows": len(outcome.setup.train_rows), "train_rows": outcome.setup.train_rows, "test_rows": outcome.setup.splits.test}


def _encode(tokenizer, data, rows) -> list[dict]:
    encoded = tokenizer([data.inputs[r] for r in rows], truncation=True, max_length=128, padding=False)
    return [{"input_ids": ids, "attention_mask": mask, "labels": int(data.targets[r])}
            for ids, mask, r in zip(encoded["input_ids"], encoded["attention_mask"], rows)]


def _trainer(tokenizer, data, train_rows, test_rows, *, lora: bool, seed: int, val_rows=None) -> dict:
    """One Trainer run with its defaults; with ``val_rows``, also validated five times and its best checkpoint kept."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(seed)  # as a Trainer user does before loading: the new classifier's initial weights follow the seed
    model = AutoModelForSequenceClassification.from_pretrained(transformer_dir(_minilm_dir()), num_labels=data.num_classes)
    if lora:
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.1,
                                                 target_modules=["query", "value"]))
    collator = DataCollatorWithPadding(tokenizer)
    with tempfile.TemporaryDirectory(prefix="headstart-bench-trainer-") as out:
        extra, validation = {}, {}
        if val_rows is not None:
            steps = 3 * -(-len(train_rows) // 8)  # Trainer's own: 3 epochs of batch 8
            every = max(1, -(-steps // 5))
            extra = {"eval_strategy": "steps", "eval_steps": every, "save_strategy": "steps", "save_steps": every,
                     "load_best_model_at_end": True, "metric_for_best_model": "accuracy", "save_total_limit": 2,
                     "save_only_model": True}
            validation = {"eval_dataset": _encode(tokenizer, data, val_rows),
                          "compute_metrics": lambda p: {"accuracy": float((np.asarray(p.predictions).argmax(-1) == p.label_ids).mean())}}
        args = TrainingArguments(output_dir=out, seed=seed, report_to="none", disable_tqdm=True,
                                 **({"save_strategy": "no"} | extra))
        trainer = Trainer(model=model, args=args, train_dataset=_encode(tokenizer, data, train_rows), data_collator=collator,
                          **validation)
        start, cpu = time.perf_counter(), _cpu_seconds()
        state = trainer.train()
        seconds = time.perf_counter() - start
        logits = trainer.predict(_encode(tokenizer, data, test_rows)).predictions
        cpu = _cpu_seconds() - cpu
    predicted = np.asarray(logits).argmax(-1)
    truth = np.asarray([int(data.targets[r]) for r in test_rows])
    return {"accuracy": float((predicted == truth).mean()), "seconds": seconds, "cpu_seconds": cpu, "steps": int(state.global_step),
            "rows": len(train_rows)}


def _key(row: dict) -> tuple:
    return str(row["n"]), row["seed"], row["method"]


def table(rows: list[dict]) -> str:
    """Markdown: accuracy (95% CI over seeds) and wall time per size and method; headstart − baseline paired by seed."""
    lines = ["| n | method | test accuracy % (95% CI) | seeds | train s (mean) | steps | headstart − baseline, points (95% CI) | time ratio | CPU-time ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    by: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        by.setdefault((str(r["n"]), r["method"]), {})[r["seed"]] = r
    sizes = sorted({k[0] for k in by}, key=lambda n: (n == "all", int(n) if n != "all" else 0))
    for n in sizes:
        ran = [(o, t) for o, t in PAIRS if (n, o) in by and (n, t) in by]  # a headstart row beside each baseline
        paired = {m for pair in ran for m in pair}
        alone = [(m, None) for m in METHODS + VALIDATED + AT_BUDGET + AT_BATCH8 + AT_LR_BEFORE if (n, m) in by and m not in paired]  # else once
        shown = set()
        for ours, theirs in ran + alone:
            for method in (ours, theirs) if theirs else (ours,):
                cells = by.get((n, method), {})
                if not cells or (method != ours and method in shown):  # a baseline paired twice: its row once
                    continue
                shown.add(method)
                mean, lo, hi, _ = mean_ci([100 * c["accuracy"] for c in cells.values()])
                extra = ["", "", ""]
                if method == ours and (n, theirs) in by:
                    seeds = sorted(set(cells) & set(by[(n, theirs)]))
                    if seeds:
                        d = paired_test([100 * (cells[s]["accuracy"] - by[(n, theirs)][s]["accuracy"]) for s in seeds])
                        ratio = statistics.mean(cells[s]["seconds"] for s in seeds) / statistics.mean(by[(n, theirs)][s]["seconds"] for s in seeds)
                        interval = f" ({range_text(d, lambda v: f'{v:+.1f}', joiner=' to ')})" if len(seeds) > 1 else " (one seed)"
                        timed = [s for s in seeds if "cpu_seconds" in cells[s] and "cpu_seconds" in by[(n, theirs)][s]]
                        cpu = (f"{statistics.mean(cells[s]['cpu_seconds'] for s in timed) / statistics.mean(by[(n, theirs)][s]['cpu_seconds'] for s in timed):.2f}x"
                               if timed else "")
                        extra = [f"{d['mean']:+.1f}{interval}", f"{ratio:.2f}x", cpu]
                lines.append(f"| {n} | {method} | {mean:.1f} ({lo:.1f}–{hi:.1f}) | {len(cells)} | "
                             f"{statistics.mean(c['seconds'] for c in cells.values()):.0f} | "
                             f"{statistics.mean(c['steps'] for c in cells.values()):.0f} | {extra[0]} | {extra[1]} | {extra[2]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/defaults_vs_trainer.py --sizes 256 --seeds 1")
    parser.add_argument("--sizes", default="256,2048,all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", type=Path, default=Path("runs/defaults-vs-trainer.jsonl"))
    parser.add_argument("--table", action="store_true", help="only print the table of what --out holds")
    args = parser.parse_args(argv)
    done = read_rows(args.out, _key)
    methods = args.methods.split(",")
    known = METHODS + VALIDATED + AT_BUDGET + AT_BATCH8 + AT_LR_BEFORE
    unknown = [m for m in methods if m not in known]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; one of: {', '.join(known)}")
    if not args.table:
        from transformers.utils import logging as hf_logging

        data, pretrained = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
        splits = split_dataset(data, SplitConfig())  # what RunSpec's default split cuts: the same pool and test split
        hf_logging.set_verbosity_error()  # "newly initialized classifier weights" is expected here
        print(f"defaults vs Trainer on {cpu_model()}, {torch.get_num_threads()} threads, load average "
              f"{os.getloadavg()[0]:.2f}; test split {len(splits.test)} rows; appending to {args.out}", file=sys.stderr, flush=True)
        for size in args.sizes.split(","):
            n = parse_n(size)
            for seed in range(args.seeds):
                train_rows = subsample(data, splits.pool, n, seed)
                for method in methods:
                    if (size, seed, method) in done:
                        continue
                    if method.startswith("headstart "):
                        suffix = next((x for x in SUFFIXES if method.endswith(x)), "")
                        cell = _headstart(data, pretrained, method.removesuffix(suffix).split(" ", 1)[1],
                                          n, seed, **SUFFIXES.get(suffix, {}))
                        drawn, scored = cell.pop("train_rows"), cell.pop("test_rows")
                        if not np.array_equal(np.sort(drawn), np.sort(train_rows)) or not np.array_equal(np.sort(scored), np.sort(splits.test)):
                            raise RuntimeError(f"headstart trained on or scored other rows than the baseline (n={size}, seed={seed})")
                    else:
                        cell = _trainer(pretrained.tokenizer, data, train_rows, splits.test, lora=method.startswith("Trainer + PEFT"),
                                        seed=seed, val_rows=splits.val if method in VALIDATED else None)
                    row = {"n": size, "seed": seed, "method": method, **cell, "cpu": cpu_model(), "load": os.getloadavg()[0]}
                    append_row(args.out, row)
                    done[(size, seed, method)] = row
                    print(f"n={size} seed={seed} {method}: {100 * cell['accuracy']:.1f}% in {cell['seconds']:.0f} s "
                          f"({cell['steps']} steps)", file=sys.stderr, flush=True)
    print(table(list(done.values())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
