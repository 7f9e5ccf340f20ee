"""Image backbones: preprocessing, the protocol, BatchNorm during training, augmentation, and every image strategy.

Fast tests run on conftest's tiny CNN (with BatchNorm) and the real 420k-parameter MNIST CNN; the real
EfficientNet-Lite0 is loaded once per session and run at small input sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from headstart.backbones import Backbone, load_backbone
from headstart.backbones.image import augment_pixels, mnist_source_head
from headstart.backbones.registry import REGISTRY
from headstart.errors import ConfigError, DataError
from headstart.evaluation import model_outputs
from headstart.loaded import predict_loaded
from headstart.recipe import setup, train
from headstart.saved import save
from headstart.saved import load_run
from headstart.specs import RunSpec, TrainConfig
from headstart.strategies import STRATEGIES

FAST = TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32", lr=1e-2, head_lr=3e-2, patience=0, evals_per_phase=2)
IMAGE_STRATEGIES = sorted(n for n, s in STRATEGIES.items() if "image" in s.modalities)


@pytest.fixture(scope="session")
def lite0():
    return load_backbone("efficientnet-lite0", image_size=32)


@pytest.fixture(scope="session")
def mnist():
    return load_backbone("mnist-cnn")



def run_one(spec, *, out=None, **kw):
    """setup -> train (-> save to ``out``): the run's setup (with the trained model) and its fit report."""
    s = setup(spec, **kw)
    report = train(s)
    if out is not None:
        save(s, report, out)
    return s, report

def grey(value: int, size: int = 28) -> np.ndarray:
    return np.full((size, size), value, dtype=np.uint8)


def bn_layers(module: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in module.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


# --- the protocol and preprocessing ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["efficientnet-lite0", "mnist-cnn"])
def test_builtin_meets_the_protocol(name, lite0, mnist):
    backbone = lite0 if name == "efficientnet-lite0" else mnist
    assert isinstance(backbone, Backbone) and backbone.modality == "image" == REGISTRY[name].modality
    blocks = backbone.blocks()
    in_blocks = {id(p) for b in blocks for p in b.parameters()}
    assert in_blocks == {id(p) for p in backbone.parameters()}  # every weight belongs to exactly one block
    assert sum(sum(p.numel() for p in b.parameters()) for b in blocks) == sum(p.numel() for p in backbone.parameters())
    batch = backbone.collate(backbone.encode([grey(0), grey(200)]))
    with torch.no_grad():
        assert backbone(batch).shape == (2, backbone.dim)
    identity = backbone.describe()
    assert identity["name"] == name and identity["pretrained"] and identity["image_size"] == backbone.image_size


def test_lite0_blocks_are_stem_stages_head(lite0):
    blocks = lite0.blocks()
    assert len(blocks) == 9  # stem, 7 stages, head conv
    assert isinstance(blocks[0][0], nn.Conv2d) and blocks[0][0].stride == (2, 2)  # the stem reads the image
    assert blocks[-1][0].out_channels == 1280  # the head conv makes the features


def test_grey_becomes_rgb_normalised(lite0):
    encoded = lite0.encode([grey(0), grey(255), np.zeros((5, 7, 3), np.uint8)])
    assert [tuple(e.shape) for e in encoded] == [(1, 28, 28), (1, 28, 28), (3, 5, 7)]  # grey stays 1 channel (memory)
    assert all(e.dtype == torch.uint8 for e in encoded)
    pixels = lite0.collate(encoded)["pixel_values"]
    assert pixels.shape == (3, 3, 32, 32) and pixels.dtype == torch.float32
    assert torch.allclose(pixels[0], torch.full_like(pixels[0], -127 / 128))  # (x - 127) / 128
    assert torch.allclose(pixels[1], torch.full_like(pixels[1], 1.0))
    assert torch.equal(pixels[0, 0], pixels[0, 2])  # grey repeated into R, G and B


def test_mnist_normalisation_and_rgb_to_grey(mnist):
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 1] = 255  # pure green: luma 0.587 * 255
    encoded = mnist.encode([rgb, grey(255)])
    assert encoded[0].shape == (1, 28, 28) and int(encoded[0][0, 0, 0]) == round(0.587 * 255)
    pixels = mnist.collate(encoded)["pixel_values"]
    assert pixels.shape == (2, 1, 28, 28)
    assert torch.allclose(pixels[1], torch.full_like(pixels[1], (1 - 0.1307) / 0.3081))


def test_large_images_shrink_once_small_ones_per_batch(lite0):
    big = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    encoded = lite0.encode([big, grey(9, 8)])
    assert tuple(encoded[0].shape) == (3, 32, 32)  # stored at the input size, not 300x200
    assert tuple(encoded[1].shape) == (1, 8, 8)  # upsampled only in collate
    assert lite0.collate(encoded)["pixel_values"].shape == (2, 3, 32, 32)  # mixed sizes and channels in one batch


@pytest.mark.parametrize("bad", [np.zeros(10, np.uint8), np.zeros((4, 4, 2), np.uint8), np.full((4, 4), 300.0)])
def test_bad_images_are_one_line_data_errors(mnist, bad):
    with pytest.raises(DataError, match="image|shape"):
        mnist.encode([grey(0), bad])


def test_image_size_option():
    assert load_backbone("efficientnet-lite0", image_size=64).collate([torch.zeros(1, 28, 28, dtype=torch.uint8)])["pixel_values"].shape[-1] == 64
    with pytest.raises(ConfigError, match="28x28"):
        load_backbone("mnist-cnn", image_size=32)
    with pytest.raises(ConfigError, match="image backbones"):
        load_backbone("all-minilm-l6-v2", image_size=128)
    with pytest.raises(ConfigError, match="image_size"):
        TrainConfig(image_size=0)


def test_fresh_is_the_same_architecture_randomly_initialised(mnist):
    a, b = mnist.fresh(1), mnist.fresh(1)
    assert not a.pretrained and a.describe()["image_size"] == mnist.image_size
    assert [p.shape for p in a.parameters()] == [p.shape for p in mnist.parameters()]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))  # seeded
    assert not torch.equal(next(a.parameters()), next(mnist.parameters()))


def test_weights_are_read_as_tensors_only(tmp_path):
    from headstart.backbones.image import mnist_cnn
    from headstart.errors import BackboneError

    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "code": argparse.Namespace(run="anything")}, path)  # not a tensor: refused
    with pytest.raises(BackboneError, match="cannot read"):
        mnist_cnn(path)


# --- BatchNorm during training ------------------------------------------------------------------------------------


def stats(backbone: nn.Module) -> dict[str, torch.Tensor]:
    return {n: m.running_mean.clone() for n, m in bn_layers(backbone).items()}


def fit_partial_freeze(data, backbone, bn: str):
    cfg = dataclasses.replace(FAST, bn=bn)
    s = setup(RunSpec(data="toy", backbone="tiny-cnn", strategy="partial-freeze", n=32, options={"freeze": 2}, train=cfg),
              data=data, pretrained=backbone)
    before = stats(s.model.backbone)
    weights = s.model.backbone.network().head[0].weight.detach().clone()
    train(s)
    return before, stats(s.model.backbone), weights, s.model.backbone.network().head[0].weight


def test_frozen_blocks_keep_bn_statistics_trained_blocks_update_them(make_tiny_cnn, toy_images_factory):
    before, after, _, _ = fit_partial_freeze(toy_images_factory(), make_tiny_cnn(0), "train")
    assert torch.equal(before["model.stem.1"], after["model.stem.1"])  # frozen: eval mode, statistics fixed
    assert torch.equal(before["model.stage.1"], after["model.stage.1"])
    assert not torch.equal(before["model.head.1"], after["model.head.1"])  # trained: statistics follow the data


def test_bn_frozen_keeps_every_statistic_while_weights_train(make_tiny_cnn, toy_images_factory):
    before, after, w0, w1 = fit_partial_freeze(toy_images_factory(), make_tiny_cnn(0), "frozen")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(w0, w1)


def test_bn_auto_freezes_pretrained_statistics_only(make_tiny_cnn, toy_images_factory):
    data = toy_images_factory()
    for strategy, expected in (("full-finetune", "frozen"), ("scratch", "train")):
        s = setup(RunSpec(data="toy", backbone="tiny-cnn", strategy=strategy, n=16, train=FAST), data=data, pretrained=make_tiny_cnn(0))
        assert FAST.bn == "auto" and s.model.backbone.bn == expected, strategy
    before, after, _, _ = fit_partial_freeze(data, make_tiny_cnn(0), "auto")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_lite0_batchnorm_momentum_suits_short_runs(lite0):
    assert {m.momentum for m in bn_layers(lite0).values()} == {0.1}
    assert {m.momentum for m in bn_layers(lite0.fresh(0)).values()} == {0.1}


def test_bn_option_needs_an_image_backbone(toy, make_tiny):
    with pytest.raises(ConfigError, match="image backbones"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=16, train=dataclasses.replace(FAST, bn="frozen")),
              data=toy, pretrained=make_tiny(0))


def test_trained_bn_statistics_are_saved(make_tiny_cnn, toy_images_factory, tiny_registry, tmp_path):
    data = toy_images_factory()
    s, report = run_one(RunSpec(data="toy", backbone="tiny-cnn", strategy="full-finetune", n=32, train=FAST), data=data,
                        pretrained=make_tiny_cnn(0), out=tmp_path / "run")
    loaded = load_run(tmp_path / "run")
    for name, m in bn_layers(s.model).items():
        assert torch.equal(m.running_var, dict(bn_layers(loaded.model))[name].running_var), name
    from headstart.errors import ConfigError
    from headstart.export import export

    for format in ("hf", "onnx", "sentence-transformers"):  # an image run is named as one, whichever format was asked
        if format == "onnx":
            pytest.importorskip("onnx")
        with pytest.raises(ConfigError, match="is a run on an image backbone; export writes text encoders only"):
            export(tmp_path / "run", tmp_path / f"export-{format}", format=format)


# --- augmentation ------------------------------------------------------------------------------------------------


def test_augment_pixels_crops_and_flips():
    pixels = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8)
    assert augment_pixels(pixels, "none", np.random.default_rng(0)) is pixels
    for kind in ("crop", "flip-crop"):
        out = augment_pixels(pixels, kind, np.random.default_rng(0))
        assert out.shape == pixels.shape
        assert torch.equal(out, augment_pixels(pixels, kind, np.random.default_rng(0)))  # seeded
    outs = [augment_pixels(pixels, "flip-crop", np.random.default_rng(s)) for s in range(20)]
    assert any(not torch.equal(o, pixels) for o in outs)
    with pytest.raises(ConfigError):
        TrainConfig(augment="rotate")


def test_augmentation_touches_training_batches_only(make_tiny_cnn, toy_images_factory, monkeypatch):
    from headstart.evaluation import score_rows

    data = toy_images_factory()
    cfg = dataclasses.replace(FAST, augment="flip-crop", accumulate=2)
    s = setup(RunSpec(data="toy", backbone="tiny-cnn", strategy="full-finetune", n=32, train=cfg), data=data, pretrained=make_tiny_cnn(0))
    calls, made, seen = [], [], []
    real = type(s.model.backbone).augment
    monkeypatch.setattr(type(s.model.backbone), "augment", lambda self, batch, kind, rng: calls.append(kind) or made.append(real(self, batch, kind, rng)) or made[-1])
    real_forward = type(s.model.backbone).forward
    monkeypatch.setattr(type(s.model.backbone), "forward", lambda self, batch: seen.append(batch["pixel_values"]) or real_forward(self, batch))
    report = train(s)  # validates twice inside
    assert calls == ["flip-crop"] * report.steps * 2  # every training micro-batch, and nothing else
    assert all(any(torch.equal(m["pixel_values"], x) for x in seen) for m in made), "the model trains on the augmented pixels"
    before = model_outputs(s.model, s.encoded, s.splits.val, batch_size=64)
    score_rows(s.model, s.encoded, s.splits.val, data.targets, task="classification", label_names=data.label_names, batch_size=64)
    assert len(calls) == report.steps * 2
    assert torch.equal(before, model_outputs(s.model, s.encoded, s.splits.val, batch_size=64))  # evaluation is deterministic


def test_augment_needs_an_image_backbone(toy, make_tiny):
    with pytest.raises(ConfigError, match="image backbones"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="full-finetune", n=16, train=dataclasses.replace(FAST, augment="crop")),
              data=toy, pretrained=make_tiny(0))


def test_augment_on_a_strategy_that_trains_on_cached_features_is_refused_and_compare_takes_the_flag(monkeypatch, capsys):
    """train --strategy linear-probe --augment flip-crop trained the same run as without it (its head reads features
    computed once), saying nothing and storing augment as if it mattered; compare had no --augment flag."""
    from conftest import assert_user_error, run_cli

    from headstart.fit_checks import check_settings_used

    with pytest.raises(ConfigError, match=r"^--augment flip-crop: linear-probe trains only its head, on the backbone's "
                                          r"features computed once per image, so no training image is ever augmented"):
        check_settings_used(RunSpec(data="toy", backbone="tiny-cnn", strategy="linear-probe", n=16,
                                    train=TrainConfig(augment="flip-crop")))
    for strategy in ("full-finetune", "scratch"):  # scratch trains the backbone it builds: its batches are augmented
        check_settings_used(RunSpec(data="toy", backbone="tiny-cnn", strategy=strategy, n=16,
                                    train=TrainConfig(augment="flip-crop")))
    import headstart.api_compare

    seen = []

    def stop(sweep, *args, **kwargs):
        seen.append(sweep)
        raise ConfigError("stop")

    monkeypatch.setattr(headstart.api_compare, "run_compare", stop)
    assert_user_error(run_cli(["compare", "--data", "opencv-digits", "--augment", "crop", "--out", "unused"], monkeypatch, capsys), "stop")
    assert seen[0].train.augment == "crop"


def test_a_compares_augment_is_no_part_of_a_probes_run(make_tiny_cnn, toy_images_factory):
    """compare --augment crop stored augment on its linear-probe arm and keyed it apart from the same probe without
    it: the probe never sees an augmented image, so its resolved spec and key are the plain probe's."""
    from headstart.recipe import setup as set_up
    from headstart.specs import run_key

    images = toy_images_factory()
    keys = {}
    for strategy in ("linear-probe", "full-finetune"):
        for augment in ("none", "crop"):
            s = set_up(RunSpec(data="toy", backbone="tiny-cnn", strategy=strategy, n=16,
                               train=dataclasses.replace(FAST, lr=None if strategy == "linear-probe" else FAST.lr, augment=augment)),
                       data=images, pretrained=make_tiny_cnn(0))
            keys[strategy, augment] = (s.resolved()["train"]["augment"], run_key(s.resolved()))
    assert keys["linear-probe", "crop"] == keys["linear-probe", "none"] and keys["linear-probe", "crop"][0] == "none"
    assert keys["full-finetune", "crop"][0] == "crop" and keys["full-finetune", "crop"][1] != keys["full-finetune", "none"][1]


def test_pooling_needs_a_text_backbone(make_tiny_cnn, toy_images_factory):
    """--pooling was ignored for an image backbone, as --augment is refused for a text one."""
    with pytest.raises(ConfigError) as raised:
        setup(RunSpec(data="toy", backbone="tiny-cnn", strategy="linear-probe", n=16, pooling="mean", train=FAST),
              data=toy_images_factory(), pretrained=make_tiny_cnn(0))
    assert str(raised.value) == "--pooling applies to text backbones, not to 'tiny-cnn'; drop it"


# --- strategies on images ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IMAGE_STRATEGIES)
def test_image_strategy_trains_and_reloads(name, mnist, toy_images_factory, tmp_path):
    data = toy_images_factory(size=28)
    s, report = run_one(RunSpec(data="toy", backbone="mnist-cnn", strategy=name, n=32, train=FAST), data=data, pretrained=mnist,
                        out=tmp_path / "run")
    assert report.status == "done"
    inputs = [data.inputs[r] for r in s.splits.val[:6]]
    s.model.eval()
    expected = model_outputs(s.model, s.model.backbone.encode(inputs), np.arange(len(inputs)), batch_size=8)
    got = [r["probabilities"] for r in predict_loaded(load_run(tmp_path / "run"), inputs)]
    assert np.allclose(torch.softmax(expected, -1).numpy(), [list(p.values()) for p in got], atol=1e-5)


def test_lora_adapts_the_pointwise_convolutions(lite0, toy_images_factory):
    s = setup(RunSpec(data="toy", backbone="efficientnet-lite0", strategy="lora", n=16, train=FAST), data=toy_images_factory(),
              pretrained=lite0)
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in s.model.backbone.named_parameters() if ".lora_A." in n}
    assert adapted and all(n.endswith(("_expand_conv", "_project_conv")) for n in adapted)
    assert len(s.model.backbone.blocks()) == 9  # blocks still resolve through the PEFT wrapper


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - set(IMAGE_STRATEGIES)))
def test_text_only_strategies_name_the_ones_that_apply(name, mnist, toy_images_factory):
    with pytest.raises(ConfigError, match=f"{name!r} does not apply to image backbones( \\(.*\\))?; for images use one of: .*linear-probe.*lora"):
        setup(RunSpec(data="toy", backbone="mnist-cnn", strategy=name, n=16 if STRATEGIES[name].needs_labels else 0, train=FAST),
              data=toy_images_factory(size=28), pretrained=mnist)


def test_modalities_must_match(mnist, make_tiny, toy, toy_images_factory):
    with pytest.raises(ConfigError, match="holds texts but backbone 'mnist-cnn' reads images"):
        setup(RunSpec(data="toy", backbone="mnist-cnn", strategy="linear-probe", n=16), data=toy, pretrained=mnist)
    with pytest.raises(ConfigError, match="holds images .* use --backbone efficientnet-lite0"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=16), data=toy_images_factory(), pretrained=make_tiny(0))


def test_explicit_default_image_size_gives_the_same_key(lite0, toy_images_factory):
    from headstart.resolved import resolve
    from headstart.data import SplitConfig
    from headstart.specs import run_key

    data = toy_images_factory()
    keys = {run_key(resolve(RunSpec(data="toy", strategy="linear-probe", train=TrainConfig(image_size=size)), data, lite0,
                            split_config=SplitConfig(), n_train=16, precision="fp32")) for size in (None, 32)}
    assert len(keys) == 1


# --- real data ------------------------------------------------------------------------------------------------------


def digits_accuracy(backbone, head, data) -> float:
    with torch.inference_mode():
        encoded = backbone.eval().encode(data.inputs)
        logits = torch.cat([head(backbone(backbone.collate(encoded[i : i + 500]))) for i in range(0, len(encoded), 500)])
    return float((logits.argmax(-1).numpy() == data.targets).mean())


def test_mnist_cnn_source_only_on_mnist_and_opencv_digits(mnist, builtin_dataset):
    """The MNIST model with its own classifier, digits resized to 28x28: near-perfect on MNIST (the subset may be
    part of its training set), still high on OpenCV's digits, far lower on scikit-learn's 8x8 digits."""
    from headstart.data import load_dataset

    head = mnist_source_head(REGISTRY["mnist-cnn"].locate())
    assert digits_accuracy(mnist, head, load_dataset("mnist-5k")) > 0.99  # measured 0.9986
    assert 0.3 < digits_accuracy(mnist, head, load_dataset("sklearn-digits")) < 0.8  # measured 0.437
    assert digits_accuracy(mnist, head, builtin_dataset("opencv-digits")) > 0.95  # measured 0.9928


@pytest.mark.slow
def test_linear_probe_on_fashion_mnist_beats_chance(builtin_dataset):
    """EfficientNet-Lite0 features at its default 224x224, a linear probe on 40 labelled images: well above 10%."""
    from headstart.data import SplitConfig

    data = builtin_dataset("fashion-mnist")
    spec = RunSpec(data="fashion-mnist", backbone="efficientnet-lite0", strategy="linear-probe", n=40,
                   split=SplitConfig(max_val=100, max_test=200))
    s, report = run_one(spec, data=data)
    from headstart.evaluation import score_rows
    from headstart.recipe import feature_cache

    test = score_rows(s.model, s.encoded, s.splits.test, data.targets, task="classification", label_names=data.label_names,
                      batch_size=128, features=feature_cache(s))
    assert report.status == "done" and test["accuracy"] > 0.45, test["accuracy"]


def test_image_backbones_get_the_strategies_image_learning_rates_and_grids(lite0, toy_images_factory, toy):
    """A CNN's best rate spans 1e-5..1e-3, not the transformer 1e-5..5e-5: on an image backbone the resolved spec
    carries the strategy's image default, and --tune searches its image grid; text keeps the text ones."""
    from conftest import tiny_backbone
    from headstart.data import SplitConfig
    from headstart.resolved import resolve

    images = toy_images_factory()
    for name, strategy in STRATEGIES.items():
        if "image" not in strategy.modalities:
            continue
        spec = RunSpec(data="toy", strategy=name, tune="lr")
        on_image = resolve(spec, images, lite0, split_config=SplitConfig(), n_train=16, precision="fp32")
        on_text = resolve(spec, toy, tiny_backbone(0), split_config=SplitConfig(), n_train=16, precision="fp32")
        assert on_image["train"]["lr"] == strategy.defaults_for("image").get("lr", 1e-5)
        assert on_text["train"]["lr"] == strategy.defaults.get("lr", 1e-5)
        if strategy.image_lr_grid:
            assert on_image["tune"]["grid"] == list(strategy.image_lr_grid)
        if "tune" in on_text:
            assert on_text["tune"]["grid"] == list(strategy.lr_grid)
    ft = STRATEGIES["full-finetune"]
    assert ft.defaults_for("image")["lr"] >= 1e-4 and ft.defaults_for("text")["lr"] == 5e-5
    assert max(ft.grid_for("image")) >= 1e-3 and ft.grid_for("text") == (2e-5, 5e-5, 1e-4)
    assert STRATEGIES["scratch"].defaults_for("image")["lr"] > STRATEGIES["scratch"].defaults_for("text")["lr"]


def test_predict_reads_image_paths_as_the_cli_does(mnist, toy_images_factory, tmp_path, monkeypatch, capsys):
    """headstart.predict(run, [paths]) on an image run: each file read, the row naming its path; the same probabilities
    as the arrays; a missing file and '-' (paths on stdin) through the CLI."""
    import io
    import sys

    from PIL import Image

    import headstart
    from headstart.cli import main
    from headstart.errors import DataError

    data = toy_images_factory(size=28)
    run_one(RunSpec(data="toy", backbone="mnist-cnn", strategy="linear-probe", n=32, train=FAST), data=data, pretrained=mnist,
            out=tmp_path / "run")
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(np.asarray(data.inputs[i], dtype=np.uint8)).save(paths[-1])
    by_path = headstart.predict(tmp_path / "run", [str(p) for p in paths])
    by_array = headstart.predict(tmp_path / "run", [np.asarray(Image.open(p)) for p in paths])
    card = (tmp_path / "run" / "README.md").read_text()  # its use: image files, not a review on stdin; no text export
    assert "predict" in card and "photo.png" in card and "a review to score" not in card and "export" not in card
    assert [r["input"] for r in by_path] == [str(p) for p in paths] and "text" not in by_path[0]
    for one in (str(paths[0]), paths[0]):  # one path: one image, a one-row list (a batch of one may differ in the last bits)
        [row] = headstart.predict(tmp_path / "run", one)
        assert (row["input"], row["label"]) == (by_path[0]["input"], by_path[0]["label"]), row
    assert all(np.allclose(list(a["probabilities"].values()), list(b["probabilities"].values())) for a, b in zip(by_path, by_array))
    with pytest.raises(DataError, match="image file not found: '.*nope.png'; check the path"):
        headstart.predict(tmp_path / "run", [str(tmp_path / "nope.png")])
    monkeypatch.setattr(sys, "argv", ["headstart", "predict", str(tmp_path / "run"), "-"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(str(p) for p in paths) + "\n"))
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code in (0, None)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["input"] for line in lines] == [str(p) for p in paths]


@pytest.mark.slow
def test_a_merged_image_lora_runs_card_shows_predicting_on_image_files(tmp_path):
    """adapters merge of a LoRA on EfficientNet-Lite0 (sklearn's digits): the merged run's card said to pipe a review to
    predict, the text form."""
    import headstart
    from headstart.adapters import merge

    headstart.fit("sklearn-digits", "efficientnet-lite0", strategy="lora", n=40, out=tmp_path / "lora",
                  config=TrainConfig(max_steps=3, min_steps=3, image_size=32, precision="fp32"))
    merge(tmp_path / "lora", tmp_path / "merged")
    card = (tmp_path / "merged" / "README.md").read_text()
    assert "photo.png" in card and "a review to score" not in card, card


def test_a_backbone_that_cannot_read_a_compares_image_size_is_named_as_one_of_several(tmp_path):
    """compare --backbones mnist-cnn,efficientnet-lite0 --image-size 64: mnist-cnn's refusal said only "drop
    --image-size", which would lose the size for efficientnet-lite0 too; it names the way to keep it."""
    import headstart
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match=r"mnist-cnn reads 28x28 images only .* drop image_size, or, as image_size=64 "
                                          r"applies to every backbone of this compare, compare mnist-cnn in a sweep of its own "
                                          r"\(another out\) to read efficientnet-lite0 at 64"):  # Python's words
        headstart.compare("sklearn-digits", backbones="mnist-cnn,efficientnet-lite0", strategies="linear-probe", sizes=16,
                          seeds=1, out=tmp_path / "out", config=headstart.TrainConfig(image_size=64))
    assert not (tmp_path / "out" / "runs.sqlite").exists()
