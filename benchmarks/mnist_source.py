"""The MNIST CNN as is (its own 10-way classifier, no training) on the digit datasets: the source-only baseline.

Digits are resized to 28x28 as the backbone does; for the smaller ones also framed as MNIST frames its digits
(scaled to 20x20 and padded by 4 pixels), which is how a shift from MNIST is often measured.

Run: python benchmarks/mnist_source.py
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from headstart.backbones import load_backbone
from headstart.backbones.image import mnist_source_head
from headstart.backbones.registry import REGISTRY
from headstart.data import load_dataset
from headstart.errors import DataError


def accuracy(backbone, head, images, targets) -> float:
    with torch.inference_mode():
        encoded = backbone.encode(images)
        logits = torch.cat([head(backbone(backbone.collate(encoded[i : i + 500]))) for i in range(0, len(encoded), 500)])
    return float((logits.argmax(-1).numpy() == targets).mean())


def framed(image: np.ndarray) -> np.ndarray:
    small = F.interpolate(torch.from_numpy(image)[None, None].float(), size=(20, 20), mode="bilinear")[0, 0]
    return np.pad(small.round().clamp(0, 255).to(torch.uint8).numpy(), 4)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="example: python benchmarks/mnist_source.py").parse_args()
    torch.set_num_threads(1)
    backbone = load_backbone("mnist-cnn").eval()
    head = mnist_source_head(REGISTRY["mnist-cnn"].locate())
    for name in ("mnist-5k", "opencv-digits", "sklearn-digits"):
        try:
            data = load_dataset(name)
        except DataError as e:
            print(f"{name}: skipped ({e})")
            continue
        line = f"{name}: {accuracy(backbone, head, data.inputs, data.targets):.4f} resized to 28x28"
        if data.inputs[0].shape[0] < 28:
            line += f", {accuracy(backbone, head, [framed(x) for x in data.inputs], data.targets):.4f} framed 20-in-28"
        print(line, flush=True)


if __name__ == "__main__":
    main()
