"""Defaults the data decides (headstart.data_defaults): a smaller input side for small images on a 224-px network, a
capped test split for large image sets; each said in a note, each overridden by an explicit setting, text untouched."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from headstart.data import SplitConfig
from headstart.data_defaults import IMAGE_MAX_TEST, SMALL_INPUT, binomial_half_width, fill
from headstart.specs import TrainConfig
from tests.conftest import make_toy, make_toy_images


def test_small_images_on_a_224_network_read_at_the_small_input_side_and_say_so(monkeypatch):
    from headstart.surface import SURFACE_ENV

    monkeypatch.setenv(SURFACE_ENV, "cli")
    data = make_toy_images(60, size=28)
    train, split, notes = fill(data, ["efficientnet-lite0"], TrainConfig(), SplitConfig())
    assert train.image_size == SMALL_INPUT and split == SplitConfig()  # 12 test images: no cap
    assert [n["reason"] for n in notes] == ["image-size"]
    assert f"{SMALL_INPUT}x{SMALL_INPUT}" in notes[0]["text"] and notes[0]["advice"] == "--image-size 224 for the network's own"


def test_the_image_size_advice_names_the_python_callers_keyword():
    """``headstart.fit(...)`` on small images was told "--image-size 224 for the network's own" in ``FitResult.flags``
    (and the card's flags "as `headstart.fit` returned them"), a flag it has no way to pass; its max_test advice beside
    it already spoke Python. fit and compare (and rank_backbones) take the size as a keyword (train's --image-size)."""
    data = make_toy_images(60, size=28)
    (fit,) = fill(data, ["efficientnet-lite0"], TrainConfig(), SplitConfig(), call="fit")[2]
    assert fit["advice"] == "image_size=224 for the network's own", fit
    (compare,) = fill(data, ["efficientnet-lite0"], TrainConfig(), SplitConfig(), call="compare")[2]
    assert compare["advice"] == "image_size=224 for the network's own", compare


def test_fit_tells_a_python_caller_its_config_for_the_image_size(monkeypatch):
    """fit's own path (``_with_data_defaults``) asks for fit's words: its keyword, as train's --image-size."""
    import headstart.data
    from headstart.api import _with_data_defaults
    from headstart.specs import RunSpec

    monkeypatch.setattr(headstart.data, "load_dataset", lambda *args, **kwargs: make_toy_images(60, size=28))
    spec, _, (note,) = _with_data_defaults(RunSpec(data="small-images", backbone="efficientnet-lite0"))
    assert spec.train.image_size == SMALL_INPUT and note["advice"] == "image_size=224 for the network's own"


def test_an_explicit_image_size_and_large_images_keep_theirs():
    assert fill(make_toy_images(60, size=28), ["efficientnet-lite0"], TrainConfig(image_size=224), SplitConfig())[0].image_size == 224
    assert fill(make_toy_images(60, size=40), ["efficientnet-lite0"], TrainConfig(), SplitConfig())[0].image_size is None


def test_a_network_trained_at_28_pixels_is_left_alone():
    train, split, notes = fill(make_toy_images(60, size=28), ["mnist-cnn"], TrainConfig(), SplitConfig())
    assert train.image_size is None and notes == []
    both = fill(make_toy_images(60, size=28), ["efficientnet-lite0", "mnist-cnn"], TrainConfig(), SplitConfig())
    assert both[0].image_size is None, "a sweep's one input size must suit every backbone (mnist-cnn reads 28 only)"


def test_a_backbone_pre_trained_on_the_datas_own_classes_says_its_scores_are_not_transfer():
    """mnist-cnn learned MNIST's digits: on mnist-5k (probably its very training images) or another digit set its
    scores say how far that knowledge carries, not how it transfers to a new task — said in a note."""
    images = make_toy_images(60, size=28)
    on = lambda name, backbone: fill(dataclasses.replace(images, name=name), [backbone], TrainConfig(), SplitConfig())[2]  # noqa: E731
    (note,) = on("mnist-5k", "mnist-cnn")
    assert note["reason"] == "seen-classes" and "probably among its training images" in note["text"]
    assert "not how well it transfers to a new task" in note["text"] and "fashion-mnist" in note["advice"]
    (digits,) = on("opencv-digits", "mnist-cnn")
    assert digits["reason"] == "seen-classes" and "training images" not in digits["text"]
    assert on("fashion-mnist", "mnist-cnn") == []
    assert "seen-classes" not in [n["reason"] for n in on("mnist-5k", "efficientnet-lite0")]


def test_a_saved_backbone_folder_keeps_its_origins_caveat_and_its_data_their_test_cap(tmp_path):
    """A meta-train's saved arm (a folder whose manifest names mnist-cnn) on mnist-5k: the same note, naming where it
    came from; a large image test split is capped beside a folder backbone too (its input side is its own)."""
    folder = tmp_path / "protonet"
    folder.mkdir()
    (folder / "headstart-image.json").write_text(json.dumps({"trained_by": {"command": "meta-train", "backbone": "mnist-cnn"}}))
    data = dataclasses.replace(make_toy_images(12_000, size=28), name="mnist-5k")
    train, split, notes = fill(data, [str(folder)], TrainConfig(), SplitConfig())
    seen = next(n for n in notes if n["reason"] == "seen-classes")
    assert f"with {folder} (trained from mnist-cnn), whose pre-training already taught it" in seen["text"], seen
    assert split.max_test == IMAGE_MAX_TEST and train.image_size is None


def test_train_and_compare_fill_the_defaults_beside_a_saved_backbone_folder(tmp_path, builtin_dataset):
    """Through the paths that call ``fill`` (train's ``_with_data_defaults``; compare shares its gate,
    ``image_backbone``): a folder trained from mnist-cnn on mnist-5k gets the note, on fashion-mnist the test cap."""
    from headstart.api import _with_data_defaults
    from headstart.backbones.image_folder import MANIFEST
    from headstart.data_defaults import image_backbone
    from headstart.specs import RunSpec

    builtin_dataset("mnist-5k")
    builtin_dataset("fashion-mnist")
    folder = tmp_path / "protonet"
    folder.mkdir()
    (folder / MANIFEST).write_text(json.dumps({"trained_by": {"command": "meta-train", "backbone": "mnist-cnn"}}))
    assert image_backbone(str(folder)) and image_backbone("mnist-cnn") and not image_backbone("all-minilm-l6-v2")
    _, _, notes = _with_data_defaults(RunSpec(data="mnist-5k", backbone=str(folder)))
    assert [n["reason"] for n in notes] == ["seen-classes"], notes
    spec, _, notes = _with_data_defaults(RunSpec(data="fashion-mnist", backbone=str(folder)))
    assert spec.split.max_test == IMAGE_MAX_TEST and [n["reason"] for n in notes] == ["test-cap"], notes


def test_a_large_image_test_split_is_capped_with_its_binomial_error():
    data = make_toy_images(12_000, size=8)  # 20% test: 2,400 images
    train, split, notes = fill(data, ["efficientnet-lite0"], TrainConfig(), SplitConfig())
    assert split.max_test == IMAGE_MAX_TEST
    note = next(n for n in notes if n["reason"] == "test-cap")
    assert "2,000 of the 2,400" in note["text"] and f"±{binomial_half_width(IMAGE_MAX_TEST):.1f}" in note["text"]
    assert note["advice"] == "max_test='all' to score them all"  # from Python: fit's and compare's keyword
    assert 1.8 < binomial_half_width(IMAGE_MAX_TEST) < 2.0  # 1.96 * sqrt(.75 * .25 / 2000) = 1.9 points
    kept = fill(data, ["efficientnet-lite0"], TrainConfig(), SplitConfig(max_test=5000))[1]
    assert kept.max_test == 5000  # the user's cap stands


def test_max_test_all_scores_every_image_and_says_what_it_costs():
    """``--max-test all`` read as unset: 2,000 of fashion-mnist's 14,000 test images, with a note that the user should
    pass --max-test 14000 "to score them all", which they had asked for. "all" keeps every test image, says so with
    the time it costs, keys apart from the default's cap and alike with a text run's unset (the same rows)."""
    from headstart.data.splits import max_test_rows, split_dataset

    data = make_toy_images(12_000, size=8)  # 20% test: 2,400 images
    asked = SplitConfig(max_test=max_test_rows("all"))
    train, split, notes = fill(data, ["efficientnet-lite0"], TrainConfig(), asked)
    assert split.max_test == "all" and split.test_cap is None and len(split_dataset(data, split).test) == 2_400
    assert [n["reason"] for n in notes if n["reason"].startswith("test")] == ["test-all"], notes
    note = next(n for n in notes if n["reason"] == "test-all")
    assert "all 2,400 test images, as max_test='all' asks" in note["text"] and note["advice"] == "max_test=2000 for the quicker default"
    assert fill(data, ["efficientnet-lite0"], TrainConfig(), split)[1] == split, "filled twice (adapt's oracle): still all"
    assert split.identity()["max_test"] is None and fill(data, ["efficientnet-lite0"], TrainConfig(), SplitConfig())[1].identity()["max_test"] == IMAGE_MAX_TEST
    assert SplitConfig(max_test=" ALL ").max_test == "all" and SplitConfig(max_test="all").identity() == SplitConfig().identity()


def test_test_capped_says_where_no_max_test_and_all_read_other_rows():
    """``test_capped`` is True exactly where ``fill`` caps an unset max_test: there adapt keeps an older record's None
    (its --max-test all) apart from "all"; elsewhere they are the same rows."""
    from headstart.data_defaults import test_capped

    for data in (make_toy_images(12_000, size=8), make_toy_images(600, size=8), make_toy(12_000),
                 dataclasses.replace(make_toy_images(12_000, size=40), given_split=np.repeat([0, 2], 6_000))):
        capped = fill(data, ["efficientnet-lite0"], TrainConfig(), SplitConfig())[1].max_test is not None
        assert test_capped(data, SplitConfig()) == capped
    assert test_capped(make_toy_images(12_000, size=8), SplitConfig()) and not test_capped(make_toy(12_000), SplitConfig())


def test_text_runs_are_never_changed():
    data = make_toy(12_000)
    assert fill(data, ["all-minilm-l6-v2"], TrainConfig(), SplitConfig()) == (TrainConfig(), SplitConfig(), [])


def test_a_given_split_is_never_capped():
    data = dataclasses.replace(make_toy_images(12_000, size=40), given_split=np.repeat([0, 2], 6_000))
    assert fill(data, ["efficientnet-lite0"], TrainConfig(), SplitConfig())[1].max_test is None


@pytest.mark.slow
def test_train_then_evaluate_on_fashion_mnist_with_defaults_only(tmp_path, builtin_dataset):
    """The first thing an image user runs: a linear probe on 40 Fashion-MNIST images with no flags, then evaluate.
    Both finish in minutes because the input is 160 px and the test split 2,000 images, and the run says so."""
    from typer.testing import CliRunner

    from headstart.cli import app

    builtin_dataset("fashion-mnist")
    out = tmp_path / "run"
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--data", "fashion-mnist", "--backbone", "efficientnet-lite0", "--strategy",
                                  "linear-probe", "--n", "40", "--out", str(out), "--quiet"])
    assert trained.exit_code == 0, trained.output
    assert f"note: this run reads {SMALL_INPUT}x{SMALL_INPUT} inputs" in trained.output
    assert "note: this run is scored on a stratified 2,000 of the 14,000 test images" in trained.output
    resolved = json.loads((out / "spec.json").read_text())["resolved"]
    assert resolved["backbone_config"]["image_size"] == SMALL_INPUT and resolved["data"]["split"]["max_test"] == IMAGE_MAX_TEST
    scored = runner.invoke(app, ["evaluate", str(out), "--json"])
    assert scored.exit_code == 0, scored.output
    result = json.loads(scored.stdout)  # the progress lines are on stderr
    assert result["split"] == "test" and result["n"] == IMAGE_MAX_TEST
    assert result["accuracy"] > 0.45, result  # ten classes, 40 labels: the probe is far above chance (measured ~0.6)
