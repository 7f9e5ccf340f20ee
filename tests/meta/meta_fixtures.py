"""Helpers for tests/meta (a module, not a conftest: tests/conftest.py owns that name): a tiny grey CNN that keeps position (no global pooling) and toy images with several classes, for episode tests."""

from __future__ import annotations

import numpy as np


def flat_cnn(seed: int = 0):
    """An ``ImageBackbone``: conv 3x3 (1 -> 4) + ReLU, flatten, Linear(4*12*12 -> 16) + ReLU: (B, 16) features of
    12x12 grey images; it sees where a band is, which a globally pooled net cannot."""
    import torch
    from torch import nn

    from headstart.backbones.image import ImageBackbone

    def build() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12 * 12, 16), nn.ReLU())

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build().eval()
    return ImageBackbone(model, build, name="flat-cnn", source="tests/meta/conftest.py", dim=16, image_size=12, channels=1,
                         mean=(0.5,), std=(0.25,), block_paths=[["0"], ["3"]], adapter_targets=["0", "3"])


def band_images(n: int = 240, *, classes: int = 6, size: int = 12, seed: int = 0):
    """Class c: a bright vertical band at column block c of ``classes`` (2 px wide at 12 px / 6 classes), on noise."""
    from headstart.data.dataset import Dataset

    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % classes
    width = size // classes
    images = []
    for y in labels:
        image = rng.integers(0, 120, size=(size, size)).astype(np.uint8)
        image[:, y * width : (y + 1) * width] = rng.integers(140, 256, size=(size, width))
        images.append(image)
    return Dataset(name="bands", inputs=images, targets=labels, task="classification",
                   label_names=tuple(f"band{c}" for c in range(classes)), source={}, modality="image")
