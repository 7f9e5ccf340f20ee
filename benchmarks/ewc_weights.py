"""The ewc or l2sp term's weight against drift, target accuracy and retention: full fine-tuning of all-MiniLM-L6-v2.

    python benchmarks/ewc_weights.py --weights 0,0.01,0.1,1,100 --seeds 0,1
    python benchmarks/ewc_weights.py --term l2sp --weights 0,0.01,0.1,1,100 --seeds 0,1

Rotten-tomatoes, 64 labelled reviews, lr 1e-4 for --steps steps (20: tests/objectives/test_real_terms.py's budget,
which benchmarks/terms_drift.py quotes), test cut to about 300 reviews and validation to 100, retention on
drug-reviews (a probe on the adapted vs the original encoder, cross-fitted over its 495 reviews). --term picks the
objective term whose weight varies (ewc, the default, or l2sp); weight 0 is the task loss alone, the same run under
either. One JSON line per run: the squared distance Σ‖w − w⁰‖² of the encoder from its pre-trained weights,
test and validation accuracy, steps, drug-reviews retention (docs/BENCHMARKS.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import time

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/ewc_weights.py --weights 0,0.01,1 --seeds 0")
    parser.add_argument("--term", choices=("ewc", "l2sp"), default="ewc", help="the objective term whose weight varies")
    parser.add_argument("--weights", default="0,0.01,0.1,1,100", help="the term's weights, comma-separated; 0: no term")
    parser.add_argument("--seeds", default="0,1", help="seeds, comma-separated")
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps (floor and cap)")
    parser.add_argument("--lr", type=float, default=1e-4, help="backbone learning rate")
    args = parser.parse_args()

    import torch

    from headstart.backbones import load_backbone
    from headstart.data import load_dataset
    from headstart.data.splits import SplitConfig
    from headstart.precision import device_name
    from headstart.recipe import run
    from headstart.specs import RunSpec, TrainConfig

    print(f"CPU: {device_name(torch.device('cpu'))}", flush=True)
    data, pretrained = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    before = {name: p.detach().clone() for name, p in pretrained.named_parameters()}
    budget = TrainConfig(max_steps=args.steps, min_steps=args.steps, lr=args.lr)
    for seed in (int(s) for s in args.seeds.split(",")):
        for weight in (float(w) for w in args.weights.split(",")):
            began = time.time()
            spec = RunSpec(strategy="full-finetune", n=64, seed=seed, train=budget,
                           terms={args.term: {"weight": weight}} if weight else {}, retain=("drug-reviews",),
                           split=SplitConfig(max_test=300, max_val=100))
            out = run(spec, data=data, pretrained=pretrained, say_costs=False)
            drift = sum((p.detach() - before[name]).pow(2).sum().item()
                        for name, p in out.setup.model.backbone.named_parameters() if name in before)
            result = out.result
            (kept,) = (result.record or {}).get("retention", [])
            print(json.dumps({"weight": weight, "seed": seed, "drift": round(drift, 4),
                              "test_accuracy": result.metrics.get("accuracy"),
                              "val_accuracy": (result.val_metrics or {}).get("accuracy"), "steps": result.steps,
                              "retention": kept["retention"], "seconds": round(time.time() - began)}), flush=True)
