"""`make bench`: headstart against the obvious baseline, in one process, and docs/BENCHMARKS.md from the result.

1. Linear probe on cached features vs a naive probe that runs the frozen backbone on every batch
   (bench_probe.py): seconds, ratio, and test accuracy of both heads on the same test rows.
2. Full fine-tune and LoRA step throughput of headstart's engine vs ``transformers.Trainer`` (+ ``peft``)
   (bench_finetune.py).
3. QLoRA memory: base-weight bytes (NF4 vs fp32) and peak RSS of a train run, LoRA vs QLoRA (bench_qlora.py).

Every figure is the median of ``repeats`` runs, each baseline run in the same process on the same model,
data and hyperparameters. ``--quick`` uses tiny step counts and one repeat: it validates the script, and
the file it writes says so. The full run takes about 10 minutes on 2 busy CPU cores.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench_finetune import FinetuneResult, run_finetune
from bench_probe import ProbeResult, run_probe
from bench_qlora import MemoryResult, run_memory
from headstart.backbones import load_backbone
from headstart.data import load_dataset
from headstart.precision import cpu_model, resolve_precision
from headstart.recipe import pick_device

DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"


@dataclass(frozen=True)
class Mode:
    """How much to measure: ``full`` is what `make bench` reports, ``quick`` only checks the script runs."""

    name: str
    repeats: int
    probe_steps: int | None  # None: the linear-probe strategy's own budget (30 epochs, early stopping)
    finetune_steps: int
    memory_steps: int
    test_rows: int | None  # None: the whole test split
    command: str


FULL = Mode("full", repeats=3, probe_steps=None, finetune_steps=40, memory_steps=20, test_rows=None, command="make bench")
QUICK = Mode("quick", repeats=1, probe_steps=20, finetune_steps=4, memory_steps=3, test_rows=256, command="python benchmarks/run_all.py --quick")
N = 256  # labelled examples: a typical small-data run
DATA = "rotten-tomatoes"
BACKBONE = "all-minilm-l6-v2"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/run_all.py")
    parser.add_argument("--quick", action="store_true", help="tiny step counts, 1 repeat: validate the script (~2 min)")
    parser.add_argument("--out", type=Path, default=DOC, help=f"markdown file to write (default {DOC})")
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f}s] {message}", flush=True)

    device = pick_device()
    precision = resolve_precision("auto", device)  # once, outside every timing; both sides then use it
    machine = f"{cpu_model()}, {torch.get_num_threads()} threads"
    log(f"mode {mode.name}: {mode.repeats} repeat(s), median reported")
    log(f"machine: {machine}; torch {torch.__version__}; device {device.type}; precision {precision}; "
        f"load average {os.getloadavg()[0]:.2f}")
    data = load_dataset(DATA)
    pretrained = load_backbone(BACKBONE)
    log(f"loaded {DATA} ({len(data)} rows) and {BACKBONE} (not timed)")
    probe = run_probe(data, pretrained, n=N, repeats=mode.repeats, max_steps=mode.probe_steps, test_rows=mode.test_rows,
                      precision=precision, log=log)
    log(f"probe: naive {probe.naive_s:.2f}s, headstart {probe.cold_s:.2f}s fresh cache / {probe.warm_s:.2f}s reused; "
        f"ratio naive/headstart {probe.naive_s / probe.cold_s:.2f}x / {probe.naive_s / probe.warm_s:.2f}x; "
        f"test accuracy naive {probe.naive_acc:.1f}% headstart {probe.headstart_acc:.1f}%")
    finetune = run_finetune(data, pretrained, n=N, steps=mode.finetune_steps, repeats=mode.repeats, precision=precision, log=log)
    log(f"finetune: Trainer {finetune.trainer_eps:.1f} ex/s, headstart {finetune.headstart_eps:.1f} ex/s, "
        f"ratio {finetune.headstart_eps / finetune.trainer_eps:.2f}")
    lora = run_finetune(data, pretrained, n=N, steps=mode.finetune_steps, repeats=mode.repeats, precision=precision, log=log,
                        strategy="lora")
    log(f"lora: Trainer + peft {lora.trainer_eps:.1f} ex/s, headstart {lora.headstart_eps:.1f} ex/s, "
        f"ratio {lora.headstart_eps / lora.trainer_eps:.2f}")
    memory = run_memory(mode.memory_steps, log=log)
    text = render(mode, machine=machine, precision=precision, probe=probe, finetune=finetune, lora=lora, memory=memory,
                  minutes=(time.perf_counter() - began) / 60, load=os.getloadavg()[0])
    write_atomic(args.out, splice(args.out.read_text() if args.out.exists() else "", text))
    log(f"wrote {args.out}")
    return 0


def render(mode: Mode, *, machine: str, precision: str, probe: ProbeResult, finetune: FinetuneResult, lora: FinetuneResult,
           memory: list[MemoryResult], minutes: float, load: float) -> str:
    """docs/BENCHMARKS.md: one table row per figure, then how it was produced."""
    cmd = f"`{mode.command}`"
    accuracy = f"{probe.naive_acc:.1f}% / {probe.headstart_acc:.1f}%"
    rows = [
        (f"Linear probe, n={N}, {probe.steps} steps, fresh feature cache", "naive probe (backbone forward every batch)",
         f"{probe.naive_s:.2f} s", f"{probe.cold_s:.2f} s", f"{probe.naive_s / probe.cold_s:.2f}x (naive / headstart)", accuracy),
        (f"Linear probe, n={N}, {probe.steps} steps, feature cache reused", "same naive probe",
         f"{probe.naive_s:.2f} s", f"{probe.warm_s:.2f} s", f"{probe.naive_s / probe.warm_s:.2f}x (naive / headstart)", accuracy),
        (f"Full fine-tune, {finetune.steps} steps x {finetune.batch_size}", "transformers.Trainer",
         f"{finetune.trainer_eps:.1f} ex/s", f"{finetune.headstart_eps:.1f} ex/s",
         f"{finetune.headstart_eps / finetune.trainer_eps:.2f} (headstart / Trainer)", "not measured"),
        (f"LoRA r=8 on query/value, {lora.steps} steps x {lora.batch_size}", "transformers.Trainer + peft",
         f"{lora.trainer_eps:.1f} ex/s", f"{lora.headstart_eps:.1f} ex/s",
         f"{lora.headstart_eps / lora.trainer_eps:.2f} (headstart / Trainer + peft)", "not measured"),
    ]
    by = {m.strategy: m for m in memory}
    if "lora" in by and "qlora" in by:
        lo, q = by["lora"], by["qlora"]
        rows += [
            ("QLoRA base weights (encoder linear layers)", "the same weights in fp32 (lora)", f"{lo.linear_bytes / 1e6:.1f} MB",
             f"{q.linear_bytes / 1e6:.1f} MB", f"{q.linear_ratio:.3f}x of fp32 (goal <= 0.35x)", "-"),
            ("QLoRA base weights (whole encoder; embeddings stay fp32)", "the same encoder in fp32 (lora)", f"{lo.model_bytes / 1e6:.1f} MB",
             f"{q.model_bytes / 1e6:.1f} MB", f"{q.model_ratio:.3f}x of fp32", "-"),
            (f"Peak RSS of a train run (n=64, {mode.memory_steps} steps, own process)", "lora", f"{lo.peak_rss / 1e6:.0f} MB",
             f"{q.peak_rss / 1e6:.0f} MB (qlora)", f"{q.peak_rss / lo.peak_rss:.2f}x", f"val {lo.val_accuracy:.1%} / {q.val_accuracy:.1%}"),
            (f"Time per step (n=64, {mode.memory_steps} steps incl. 1 validation pass)", "lora", f"{lo.seconds_per_step:.2f} s",
             f"{q.seconds_per_step:.2f} s (qlora)", f"{q.seconds_per_step / lo.seconds_per_step:.2f}x", "-"),
        ]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Benchmarks", ""]
    if mode.name == "quick":
        lines += ["> **QUICK RUN: tiny step counts and 1 repeat. These numbers only show that the script works; they are not",
                  "> measurements. Run `make bench` for the real figures.**", ""]
    lines += [f"Produced {stamp} by {cmd} ({mode.name} mode, {minutes:.1f} min) on {machine}; "
              f"torch {torch.__version__}, Python {platform.python_version()}, precision {precision}, "
              f"load average {load:.2f} at the end. Each figure is the median of {mode.repeats} run(s) in one process.", "",
              "| Benchmark | Command | Machine | Baseline | Baseline figure | headstart | Ratio | Test accuracy (baseline / headstart) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {cmd} | {machine} | {baseline} | {theirs} | {ours} | {ratio} | {acc} |"
              for name, baseline, theirs, ours, ratio, acc in rows]
    test = "the whole test split" if mode.test_rows is None else "the first rows of the test split"
    lines += ["", "How (see benchmarks/):", "",
              f"- Data {DATA}, backbone {BACKBONE}, n={N} training rows, seed 0; data and backbone load outside every timing.",
              "- Ratios above 1 favour headstart. Linear probe: headstart is `setup` + `train` (strategy linear-probe, its default hyperparameters"
              + ("" if mode.probe_steps is None else f", capped at {mode.probe_steps} steps") + "); the fresh-cache run has an",
              "  empty HEADSTART_CACHE so its one feature pass (train + validation rows) is inside the time; the reused run reads",
              "  the features back from disk as a second process would. Its time also includes tokenising the dataset and its",
              "  validation checks. The naive probe trains the same head (same init, AdamW, lr, weight decay, schedule, clipping,",
              "  batch size and step count) with the frozen backbone's forward pass, in eval mode under no_grad, on every batch,",
              f"  and validates nothing. Both heads are scored on {test} ({probe.test_rows} rows).",
              f"- Full fine-tune: headstart's engine (full-finetune, lr = head lr = 5e-5, max_steps = min_steps = {finetune.steps},",
              "  evals_per_phase 1) vs `transformers.Trainer` with default TrainingArguments except lr, batch size, max_steps, seed,",
              "  no eval, no save, report_to none (and no progress bar), on AutoModelForSequenceClassification from the same folder,",
              "  the same rows tokenised by the same tokenizer (max_length 128), DataCollatorWithPadding. Throughput for both is the",
              "  examples of steps 1..K-1 over the time from the train call to the end of step K-1 (includes the first step and",
              "  each library's set-up inside the call; excludes model loading, headstart's validation pass after step K and",
              f"  Trainer's wrap-up). Whole-call medians: headstart {finetune.headstart_call_s:.1f} s (one validation pass included),",
              f"  Trainer {finetune.trainer_call_s:.1f} s.",
              "- LoRA: the same measurement with headstart's `lora` (r 8, alpha 16, dropout 0.1, query/value; lr = head lr = 2e-4)",
              "  vs Trainer on the same AutoModelForSequenceClassification wrapped by `peft.get_peft_model` with the same LoRA",
              f"  config (task type SEQ_CLS: the classifier trains too). Whole-call medians: headstart {lora.headstart_call_s:.1f} s,",
              f"  Trainer + peft {lora.trainer_call_s:.1f} s.",
              "- QLoRA memory (benchmarks/bench_qlora.py): each of lora / qlora trains in a fresh process (n=64, seed 0); bytes are",
              "  the encoder's parameters as stored (NF4 packed weights + double-quantised block scales) vs the same parameters",
              "  in fp32; the peak RSS is the whole process (Python, torch, the tokenised dataset), read from getrusage.", ""]
    return "\n".join(lines)


BEGIN, END = "<!-- make bench: begin -->", "<!-- make bench: end -->"


def splice(existing: str, generated: str) -> str:
    """``existing`` with the part between the make-bench markers replaced by ``generated``; sections other
    commands wrote (e.g. the strategy comparisons from ``headstart compare``) stay as they are."""
    block = f"{BEGIN}\n{generated.rstrip()}\n{END}\n"
    if BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1].lstrip("\n")
    return block + ("\n" + existing if existing.strip() else "")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and a rename: never a half-written doc."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
