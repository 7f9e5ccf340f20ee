"""Where a fine-tuning step's time goes: torch.profiler over the engine's step for full-finetune (or lora).

Builds the run exactly as ``headstart train`` does (setup, the strategy's plan), then times the engine's own
pieces for ``--steps`` steps after ``--warmup``: length-bucketed batch, collate, forward and loss under the run's
precision (bf16 autocast where the probe picks it), backward (the embeddings' rows gathered as ``headstart.rowgrad``
does), clip, fused AdamW step. Prints the top ops by self CPU time and a breakdown by kind, and writes
docs/profile-<strategy>.md (docs/PROFILE.md reads them).

Run: python benchmarks/profile_step.py [--strategy full-finetune|lora] [--steps 10]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from headstart.fastdropout import fast_dropout
from headstart.headstep import clip_grad_norm
from headstart.engine import make_optimizer, optimizer_groups, set_trainable, train_batches
from headstart.objectives import TaskLoss
from headstart.precision import autocast_for, cpu_model, under
from headstart.recipe import budget_for, setup
from headstart.rowgrad import row_gradients
from headstart.specs import RunSpec, TrainConfig

DOCS = Path(__file__).resolve().parent.parent / "docs"
KINDS = (  # (kind, substrings of op names), first match wins
    ("matmul (linear layers, fwd + bwd)", ("addmm", "aten::mm", "aten::bmm", "matmul", "linear")),
    ("attention (sdpa / softmax)", ("attention", "softmax", "_scaled_dot")),
    ("optimizer (fused AdamW)", ("adam", "_fused")),
    ("layer norm", ("layer_norm",)),
    ("gelu", ("gelu",)),
    ("dropout masks (random bits)", ("dropout", "bernoulli", "random_", "randint")),
    ("embedding (fwd + bwd)", ("embedding",)),
    ("elementwise / copies", ("add", "mul", "copy_", "to", "clone", "fill", "zero", "div", "sum", "where", "cat")),
)


def kind_of(name: str) -> str:
    low = name.lower()
    return next((kind for kind, keys in KINDS if any(k in low for k in keys)), "other")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/profile_step.py --strategy full-finetune --steps 10")
    parser.add_argument("--strategy", default="full-finetune")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="markdown to write (default docs/profile-<strategy>.md)")
    parser.add_argument("--shapes", action="store_true",
                        help="also record input shapes and print the top ops by (op, shapes): which tensor a fill_ or copy_ is")
    args = parser.parse_args()
    cfg = TrainConfig(max_steps=args.steps + args.warmup, min_steps=args.steps + args.warmup, precision="auto")
    s = setup(RunSpec(strategy=args.strategy, n=256, seed=0, train=cfg))
    phase = s.strategy.plan(s.model, s.options, s.cfg, budget_for(s.cfg, len(s.train_rows)))[-1]
    set_trainable(s.model, phase.params)
    optimizer = make_optimizer(optimizer_groups(phase, s.cfg.weight_decay), s.cfg.optimizer, s.device)
    loss_fn = TaskLoss(s.data.task)
    targets = torch.as_tensor(s.data.targets)
    lengths = np.asarray([len(s.encoded[r]) for r in s.train_rows])
    batches = train_batches(lengths, s.cfg.batch_size, np.random.default_rng(0), bucket=True)
    pieces: dict[str, list[float]] = defaultdict(list)

    def step(positions: np.ndarray, timed: bool) -> None:
        rows = s.train_rows[positions]
        marks = [time.perf_counter()]
        with record_function("collate"):
            batch = s.model.backbone.collate([s.encoded[r] for r in rows])
        marks.append(time.perf_counter())
        with row_grads.sparse():  # as the engine's Step: sparse embedding backwards into kept buffers
            with record_function("forward"), under(autocast):
                loss = loss_fn(s.model(batch), targets[torch.as_tensor(rows)])
            marks.append(time.perf_counter())
            with record_function("backward"):
                loss.backward()
        marks.append(time.perf_counter())
        with record_function("optimizer"):
            clip_grad_norm(phase.params, s.cfg.clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        marks.append(time.perf_counter())
        if timed:
            for name, a, b in zip(("collate", "forward", "backward", "clip + optimizer"), marks, marks[1:]):
                pieces[name].append(b - a)

    autocast = autocast_for(s.precision, s.device)
    with fast_dropout(s.model), row_gradients(s.model) as row_grads:  # as the engine's fit() trains
        for i in range(args.warmup):
            step(batches[i % len(batches)], timed=False)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
            for i in range(args.steps):
                step(batches[(args.warmup + i) % len(batches)], timed=True)
    events = [e for e in prof.key_averages() if e.key not in ("collate", "forward", "backward", "optimizer")]
    total = sum(e.self_cpu_time_total for e in events)
    by_kind: dict[str, float] = defaultdict(float)
    for e in events:
        by_kind[kind_of(e.key)] += e.self_cpu_time_total
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
    step_s = sum(sum(v) for v in pieces.values()) / args.steps
    tokens = float(np.mean([lengths[b].max() * len(b) for b in batches[args.warmup:args.warmup + args.steps]]))

    machine = f"{cpu_model()}, {torch.get_num_threads()} threads, precision {s.precision}"
    lines = [f"# Profile of a {args.strategy} step", "",
             f"`python benchmarks/profile_step.py --strategy {args.strategy} --steps {args.steps}` on {machine}, "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}. "
             f"all-MiniLM-L6-v2 (22.7M params), rotten-tomatoes n=256, batch {s.cfg.batch_size}, length-bucketed "
             f"(~{tokens:.0f} padded tokens per batch), {args.steps} profiled steps after {args.warmup} warm-up steps.", "",
             f"Mean step: {step_s * 1000:.0f} ms.", "", "| part of the step | ms | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {1000 * np.mean(v):.1f} | {sum(v) / args.steps / step_s:.0%} |" for name, v in pieces.items()]
    lines += ["", "By kind of op (self CPU time under torch.profiler):", "", "| kind | share |", "|---|---:|"]
    lines += [f"| {kind} | {t / total:.0%} |" for kind, t in sorted(by_kind.items(), key=lambda kv: -kv[1])]
    lines += ["", "Top ops:", "", "| op | self CPU ms per step | share | calls per step |", "|---|---:|---:|---:|"]
    lines += [f"| `{e.key}` | {e.self_cpu_time_total / 1000 / args.steps:.1f} | {e.self_cpu_time_total / total:.1%} | "
              f"{e.count / args.steps:.0f} |" for e in top]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.shapes:  # printed only: recording shapes slows the profiled steps a little
        by_shape = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: e.self_cpu_time_total, reverse=True)
        print("Each top op's heaviest input shapes (self CPU ms per step, calls per step):")
        for op in top:
            for e in [e for e in by_shape if e.key == op.key][:3]:
                print(f"  {e.key} {e.input_shapes}: {e.self_cpu_time_total / 1000 / args.steps:.1f} ms, {e.count / args.steps:.0f}")
    out = args.out or DOCS / f"profile-{args.strategy}.md"
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
