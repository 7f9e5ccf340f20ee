"""One optimiser step over a LoRA run's trainable weights: torch's fused AdamW vs bitsandbytes' 8-bit AdamW.

The weights are the ones ``lora`` (and ``qlora``) train on the backbone (SmolLM2's q_proj, v_proj adapters and the
head by default), with random gradients; the two optimisers alternate in rounds, so a busy machine slows both alike.
Prints ms per step (median over rounds) and the optimiser state's bytes.
Run: python benchmarks/optimizer_step.py [--backbone smollm2-135m] [--steps 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from headstart.engine import make_optimizer
from headstart.precision import cpu_model
from headstart.recipe import setup
from headstart.specs import RunSpec, TrainConfig

KINDS = ("adamw", "adamw8bit")


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(t.numel() * t.element_size() for state in optimizer.state.values() for t in state.values() if torch.is_tensor(t))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/optimizer_step.py --backbone all-minilm-l6-v2 --steps 20")
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    s = setup(RunSpec(backbone=args.backbone, strategy="lora", n=16, train=TrainConfig(precision="fp32")))
    params = [p for p in s.model.parameters() if p.requires_grad]
    torch.manual_seed(0)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    optimizers = {kind: make_optimizer([{"params": params, "lr": 1e-3, "weight_decay": 0.01}], kind) for kind in KINDS}
    for optimizer in optimizers.values():
        optimizer.step()  # state allocated outside the timing
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(args.rounds):
        for kind, optimizer in optimizers.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                optimizer.step()
            times[kind].append(1000 * (time.perf_counter() - start) / args.steps)
    print(f"{args.backbone} lora: {sum(p.numel() for p in params):,} trainable weights; {cpu_model()}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    for kind in KINDS:
        print(f"{kind}: {statistics.median(times[kind]):.2f} ms a step (median of {args.rounds} rounds of {args.steps}), "
              f"state {state_bytes(optimizers[kind]) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
