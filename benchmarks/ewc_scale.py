"""Where EWC's Fisher is normalised, on all-MiniLM-L6-v2 + LoRA: over every non-head weight (RESULTS_VERSION 6) the
adapters' mean importance is not 1, so ``ewc[weight=λ]`` did not pull on L2-SP's scale; over the weights that train
(7) it is 1 by construction, and the Fisher is cheaper (no gradient of the frozen base's weights).

    python benchmarks/ewc_scale.py

Rotten-tomatoes, lora at its defaults before training, 64 reference inputs of the pool (EWC's default), seed 0.
"""

from __future__ import annotations

import argparse
import time

import torch

from headstart.objectives.ewc import differentiable_eval, fisher_diagonal, mean_one
from headstart.precision import device_name
from headstart.recipe import setup, term_context
from headstart.specs import RunSpec


def fisher_seconds(model, params, context) -> tuple[list[torch.Tensor], float]:
    start = time.perf_counter()
    with differentiable_eval(model, params):
        fisher = fisher_diagonal(model, context.reference(64, 8), params, task=context.task,
                                 generator=torch.Generator().manual_seed(0))
    return fisher, time.perf_counter() - start


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog="example: python benchmarks/ewc_scale.py").parse_args()
    print(f"CPU: {device_name(torch.device('cpu'))}")
    s = setup(RunSpec(data="rotten-tomatoes", backbone="all-minilm-l6-v2", strategy="lora", n=64, seed=0))
    context, model = term_context(s), s.model
    head = {id(p) for p in model.head_parameters()}
    params = [p for p in model.parameters() if id(p) not in head and p.is_floating_point()]
    trained = [p for p in params if p.requires_grad]
    every, every_s = fisher_seconds(model, params, context)
    _, trained_s = fisher_seconds(model, trained, context)
    adapters = torch.cat([f.flatten() for f, p in zip(mean_one(every), params) if p.requires_grad])
    print(f"{sum(p.numel() for p in params):,} non-head weights, {sum(p.numel() for p in trained):,} of them trained")
    print(f"normalised over every weight: the adapters' mean importance {adapters.mean().item():.3g}; Fisher {every_s:.1f} s")
    print(f"normalised over the trained weights: 1 by construction; Fisher {trained_s:.1f} s")
