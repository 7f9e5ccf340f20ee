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


def test_a_save_killed_between_weights_and_manifest_leaves_the_earlier_backbone_whole(tmp_path):
    """kill -9 after the new weights are written and before the manifest: the folder held the new weights under the old
    manifest (a backbone it is not) or, new, weights without one. The save is one folder swapped in: the old one stays."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    save_image_backbone(perturbed_mnist_cnn(1), tmp_path / "bb", architecture="mnist-cnn", trained_by={"arm": "old"})
    before = {p.name: p.read_bytes() for p in (tmp_path / "bb").iterdir()}
    code = ("from pathlib import Path\nimport sys\nsys.path.insert(0, 'tests/backbones')\n"
            "from test_image_folder import perturbed_mnist_cnn\n"
            "from headstart.backbones.image_folder import save_image_backbone\n"
            "for name in sys.argv[1:]:\n"
            "    save_image_backbone(perturbed_mnist_cnn(2), Path(name), architecture='mnist-cnn', trained_by={'arm': 'new'})\n")
    for out in (tmp_path / "bb", tmp_path / "new"):
        done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=root, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(root), "HEADSTART_TEST_KILL_AT": f"write:{MANIFEST}"})
        assert done.returncode == -signal.SIGKILL, done
    assert {p.name: p.read_bytes() for p in (tmp_path / "bb").iterdir()} == before, "the earlier backbone, whole"
    assert not (tmp_path / "new").exists(), "no folder that looks like a backbone, or half of one"
    assert json.loads((tmp_path / "bb" / MANIFEST).read_text())["trained_by"] == {"arm": "old"}


def test_a_meta_train_output_with_an_arm_being_saved_in_it_is_still_one(tmp_path):
    """An arm is saved into a folder built beside it, inside meta-train's --out: that folder is headstart's own (a
    killed save's left-over too), and the --out is still a meta-train output, not a folder of other files."""
    from headstart.atomic import fresh_folder
    from headstart.outdir import held

    out = tmp_path / "meta"
    save_image_backbone(perturbed_mnist_cnn(1), out / "protonet", architecture="mnist-cnn",
                        trained_by={"command": "meta-train", "arm": "protonet"})
    staging = fresh_folder(out / "maml", "saving")
    (staging / WEIGHTS).write_bytes(b"half")
    assert held(out) == "meta"
