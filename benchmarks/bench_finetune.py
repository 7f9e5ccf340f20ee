"""Fine-tune step throughput: headstart's engine vs ``transformers.Trainer`` (+ ``peft`` for LoRA) on the same model and rows.

``strategy="lora"`` wraps Trainer's model with ``peft.get_peft_model`` (LoRA r=8, alpha 16, dropout 0.1 on
query/value, task type SEQ_CLS so the classifier trains too): the same adapter headstart's ``lora`` trains.

Both train MiniLM-L6 (all weights) for K steps at the same learning rate, batch size and seed, on the
same labelled rows tokenised by the same tokenizer (max_length 128). Trainer runs with its default
TrainingArguments except those, no evaluation, no saving, no reporting (and no progress bar, which
only changes what is printed) on ``AutoModelForSequenceClassification`` from the same folder, padding
dynamically with ``DataCollatorWithPadding``.

Throughput is measured the same way for both: examples in steps 1..K-1 divided by the time from the
call (``train(s)`` / ``trainer.train()``) to the end of step K-1. That includes each library's own
set-up inside the call and the first (slow) step, and leaves out headstart's one validation pass after
step K and Trainer's wrap-up, which are not training steps. Model loading is outside the timings.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from headstart.backbones.registry import _minilm_dir
from headstart.backbones.st_folder import transformer_dir
from headstart.data import Dataset, split_dataset, subsample
from headstart.recipe import setup, train
from headstart.specs import RunSpec, TrainConfig

LR = 5e-5  # Trainer's default learning rate; headstart trains backbone and head at it too (same lr for both)
LORA_LR = 2e-4  # given to both sides: a throughput benchmark (headstart's lora default is 1e-3 since issue 26)


@dataclass(frozen=True)
class FinetuneResult:
    """Median examples/second over repeats, K steps of ``batch_size`` examples."""

    steps: int
    batch_size: int
    headstart_eps: float
    trainer_eps: float
    headstart_call_s: float  # median wall time of the whole train(s) call, validation pass included
    trainer_call_s: float  # median wall time of trainer.train()


def _headstart_once(spec: RunSpec, data: Dataset, pretrained: torch.nn.Module) -> tuple[float, float]:
    s = setup(spec, data=data, pretrained=pretrained)  # builds the model: outside the timing
    stamps: dict[int, float] = {}

    def progress(step: int, total: int, info: dict) -> None:
        stamps.setdefault(step, time.perf_counter())  # after each optimiser step (and once more per phase end)

    start = time.perf_counter()
    report = train(s, progress=progress)
    call = time.perf_counter() - start
    if report.steps != spec.train.max_steps:
        raise RuntimeError(f"headstart ran {report.steps} steps, expected {spec.train.max_steps} (status {report.status})")
    k = spec.train.max_steps
    return (k - 1) * spec.train.batch_size / (stamps[k - 1] - start), call


def _trainer_once(model, rows: list[dict], collator, *, steps: int, batch_size: int, seed: int, lr: float) -> tuple[float, float]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="headstart-bench-trainer-") as out:
        args = TrainingArguments(output_dir=out, learning_rate=lr, per_device_train_batch_size=batch_size, max_steps=steps,
                                 seed=seed, eval_strategy="no", save_strategy="no", report_to="none", disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator, callbacks=[Stamp()])
        start = time.perf_counter()
        trainer.train()
        call = time.perf_counter() - start
    if len(stamps) != steps:
        raise RuntimeError(f"Trainer ran {len(stamps)} steps, expected {steps}")
    return (steps - 1) * batch_size / (stamps[steps - 2] - start), call


def _baseline_model(pristine, strategy: str):
    model = copy.deepcopy(pristine)
    if strategy == "full-finetune":
        return model
    from peft import LoraConfig, TaskType, get_peft_model

    torch.manual_seed(0)
    return get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.1,
                                            target_modules=["query", "value"]))


def run_finetune(data: Dataset, pretrained: torch.nn.Module, *, n: int, steps: int, repeats: int, precision: str, log: Callable[[str], None],
                 strategy: str = "full-finetune") -> FinetuneResult:
    """Median examples/second of headstart's ``strategy`` (full-finetune or lora) and of Trainer (+ peft), alternating per repeat."""
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding
    from transformers.utils import logging as hf_logging

    if steps < 2:
        raise ValueError(f"steps must be >= 2 (throughput is measured over steps 1..K-1), got {steps!r}")
    batch_size = 16
    lr = LR if strategy == "full-finetune" else LORA_LR
    cfg = TrainConfig(lr=lr, head_lr=lr, max_steps=steps, min_steps=steps, evals_per_phase=1, batch_size=batch_size,
                      precision=precision)
    spec = RunSpec(data=data.name, backbone=pretrained.name, strategy=strategy, n=n, seed=0, train=cfg)
    train_rows = subsample(data, split_dataset(data).pool, n, spec.seed)  # the rows setup() draws for this spec
    tokenizer = pretrained.tokenizer
    texts = [data.inputs[r] for r in train_rows]
    encoded = tokenizer(texts, truncation=True, max_length=128, padding=False)
    rows = [{"input_ids": ids, "attention_mask": mask, "labels": int(data.targets[r])}
            for ids, mask, r in zip(encoded["input_ids"], encoded["attention_mask"], train_rows)]
    collator = DataCollatorWithPadding(tokenizer)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "newly initialized classifier weights" is expected here
    try:
        pristine = AutoModelForSequenceClassification.from_pretrained(transformer_dir(_minilm_dir()), num_labels=data.num_classes)
    finally:
        hf_logging.set_verbosity(verbosity)
    ours, theirs, our_calls, their_calls = [], [], [], []
    for r in range(repeats):
        eps, call = _headstart_once(spec, data, pretrained)
        ours.append(eps)
        our_calls.append(call)
        log(f"{strategy} {r + 1}/{repeats}: headstart engine: {eps:.1f} ex/s ({steps} steps; train() call {call:.1f}s incl. 1 val pass)")
        eps, call = _trainer_once(_baseline_model(pristine, strategy), rows, collator, steps=steps, batch_size=batch_size, seed=spec.seed, lr=lr)
        theirs.append(eps)
        their_calls.append(call)
        log(f"{strategy} {r + 1}/{repeats}: transformers.Trainer{' + peft' if strategy != 'full-finetune' else ''}: {eps:.1f} ex/s ({steps} steps; train() call {call:.1f}s)")
    return FinetuneResult(steps=steps, batch_size=batch_size, headstart_eps=float(np.median(ours)),
                          trainer_eps=float(np.median(theirs)), headstart_call_s=float(np.median(our_calls)),
                          trainer_call_s=float(np.median(their_calls)))


def main() -> int:
    """``python benchmarks/bench_finetune.py --strategy lora --steps 40 --repeats 3``: one row of ``make bench``."""
    import argparse
    import os
    import sys

    from headstart.backbones import load_backbone
    from headstart.data import load_dataset
    from headstart.precision import cpu_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/bench_finetune.py --strategy lora")
    parser.add_argument("--strategy", choices=("full-finetune", "lora"), default="full-finetune")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args()
    data, pretrained = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    result = run_finetune(data, pretrained, n=args.n, steps=args.steps, repeats=args.repeats, precision="fp32",
                          log=lambda line: print(line, file=sys.stderr, flush=True), strategy=args.strategy)
    baseline = "Trainer" if args.strategy == "full-finetune" else "Trainer + peft"
    print(f"{args.strategy}, {args.steps} steps x {result.batch_size}, median of {args.repeats} on {cpu_model()}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}: headstart {result.headstart_eps:.1f} ex/s, "
          f"{baseline} {result.trainer_eps:.1f} ex/s, ratio {result.headstart_eps / result.trainer_eps:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
