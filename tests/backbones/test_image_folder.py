"""A saved image backbone folder loads back with the same weights, features and preprocessing, and says what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from headstart.backbones.image_folder import MANIFEST, WEIGHTS, save_image_backbone
from headstart.backbones.registry import load_backbone
from headstart.errors import BackboneError


def perturbed_mnist_cnn(seed: int):
    backbone = load_backbone("mnist-cnn")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in backbone.network().parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=generator))
    return backbone


def features(backbone, images) -> torch.Tensor:
    with torch.no_grad():
        return backbone.eval()(backbone.collate(backbone.encode(images)))


def test_saved_backbone_loads_back_with_the_same_features(tmp_path):
    images = list(np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8))
    original = perturbed_mnist_cnn(1)
    save_image_backbone(original, tmp_path / "bb", architecture="mnist-cnn", trained_by={"arm": "test"})
    loaded = load_backbone(str(tmp_path / "bb"))
    assert torch.allclose(features(loaded, images), features(original, images), atol=0, rtol=0)
    assert loaded.name == str(tmp_path / "bb") and loaded.image_size == 28 and loaded.channels == 1
    assert json.loads((tmp_path / "bb" / MANIFEST).read_text())["trained_by"] == {"arm": "test"}
    source = loaded.describe()["source"]
    save_image_backbone(perturbed_mnist_cnn(2), tmp_path / "bb", architecture="mnist-cnn", trained_by={})
    assert load_backbone(str(tmp_path / "bb")).describe()["source"] != source  # other weights, another identity


def test_broken_folders_are_refused_in_one_line(tmp_path):
    save_image_backbone(perturbed_mnist_cnn(1), tmp_path / "bb", architecture="mnist-cnn", trained_by={})
    (tmp_path / "bb" / MANIFEST).write_text(json.dumps({"architecture": "resnet-9000"}))
    with pytest.raises(BackboneError, match="architecture 'resnet-9000', not a built-in image backbone"):
        load_backbone(str(tmp_path / "bb"))
    (tmp_path / "bb" / MANIFEST).write_text(json.dumps({"architecture": "mnist-cnn"}))
    (tmp_path / "bb" / WEIGHTS).unlink()
    with pytest.raises(BackboneError, match="model.safetensors' is missing"):
        load_backbone(str(tmp_path / "bb"))
