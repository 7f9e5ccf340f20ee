"""Which learning rate suits a CNN? Validation accuracy of full-finetune and scratch on Fashion-MNIST over a grid.

The text defaults (full fine-tune 5e-5, tuned over 2e-5..1e-4) come from transformer fine-tuning; ImageNet CNNs
fine-tuned with AdamW are usually run near 1e-4..1e-3. This measures it on the validation split (never test),
EfficientNet-Lite0 at 128x128 as in examples/images.toml, and is what the image learning-rate defaults and grids rest on.

Run: python benchmarks/image_lr.py [--n 40] [--seeds 1] [--lrs 1e-5,1e-4,3e-4,1e-3] [--strategies full-finetune,scratch]
"""

from __future__ import annotations

import argparse
import time

from headstart import api
from headstart.specs import TrainConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/image_lr.py --n 40 --seeds 1 --lrs 1e-4,1e-3")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--lrs", default="1e-5,1e-4,3e-4,1e-3")
    parser.add_argument("--strategies", default="full-finetune,scratch")
    args = parser.parse_args(argv)
    print("| strategy | lr | seed | validation accuracy | train s |")
    print("|---|---|---|---|---|")
    for strategy in args.strategies.split(","):
        for lr in (float(x) for x in args.lrs.split(",")):
            for seed in range(args.seeds):
                start = time.perf_counter()
                cfg = TrainConfig(lr=lr, image_size=128, evals_per_phase=2, precision="fp32")
                r = api.fit(args.data, args.backbone, strategy=strategy, n=args.n, seed=seed, config=cfg)
                print(f"| {strategy} | {lr:g} | {seed} | {100 * r.val_metrics.get('accuracy', float('nan')):.1f} | "
                      f"{time.perf_counter() - start:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
