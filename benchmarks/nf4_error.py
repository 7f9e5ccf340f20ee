"""How much NF4 rounds a backbone's linear weights: the relative Frobenius error ||dequant(quant(W)) − W|| / ||W||
over every ``nn.Linear`` that ``qlora`` quantises, with qlora's settings (NF4, blocks of 64, double quantisation).

A reading beside QLoRA's accuracy gap (docs/BENCHMARKS.md, "Accuracy: QLoRA beside LoRA at the same n"): is a gap
larger on one backbone because its weights round worse, or for another reason (depth, the task)?
Run: python benchmarks/nf4_error.py [--backbones all-minilm-l6-v2,smollm2-135m]
"""

from __future__ import annotations

import argparse

import torch


def relative_error(name: str) -> tuple[int, float]:
    """(linear layers, relative Frobenius error over all of them) for the backbone ``name``."""
    import bitsandbytes.functional as F

    from headstart.backbones.registry import load_backbone
    from headstart.strategies.peft_base import encoder_of

    squared_error = squared_norm = 0.0
    layers = 0
    for module in encoder_of(load_backbone(name)).modules():
        if isinstance(module, torch.nn.Linear):
            w = module.weight.detach().float().contiguous()
            packed, state = F.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
            squared_error += (F.dequantize_4bit(packed, state).float() - w).pow(2).sum().item()
            squared_norm += w.pow(2).sum().item()
            layers += 1
    return layers, (squared_error / squared_norm) ** 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="example: python benchmarks/nf4_error.py --backbones all-minilm-l6-v2,smollm2-135m")
    parser.add_argument("--backbones", default="all-minilm-l6-v2,smollm2-135m")
    args = parser.parse_args(argv)
    print("| backbone | linear layers | NF4 relative error |\n|---|---|---|")
    for name in args.backbones.split(","):
        layers, error = relative_error(name)
        print(f"| {name} | {layers} | {100 * error:.2f}% |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
