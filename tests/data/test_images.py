"""Image datasets: the built-ins, user folders and CSVs of image files, hashing, splitting and leakage of images."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pandas as pd
import pytest

from headstart.data import load_dataset, split_dataset, subsample
from headstart.data import builtin
from headstart.data.dataset import Dataset
from headstart.data.images import MAX_SIDE
from headstart.data.splits import group_majority
from headstart.errors import DataError


def png(path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# --- built-ins ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, n, shape", [("fashion-mnist", 70_000, (28, 28)), ("mnist-5k", 5_000, (28, 28)),
                                            ("opencv-digits", 5_000, (20, 20)), ("sklearn-digits", 1_797, (8, 8))])
def test_builtin_image_datasets(name, n, shape, builtin_dataset):
    data = builtin_dataset(name)
    assert data.modality == "image" and data.task == "classification" and data.groups is None
    assert len(data) == n and data.num_classes == 10
    assert all(x.shape == shape and x.dtype == np.uint8 for x in data.inputs[:: max(1, n // 50)])
    counts = np.bincount(data.targets, minlength=10)
    assert counts.min() > 0.9 * n / 10  # balanced
    assert max(int(x.max()) for x in data.inputs[:50]) > 200  # 0..255, not 0..1 or 0..16
    assert data.source == {"name": name}


def test_fashion_mnist_labels_are_the_clothing_names(builtin_dataset):
    data = builtin_dataset("fashion-mnist")
    assert data.label_names[0] == "T-shirt/top" and data.label_names[9] == "Ankle boot"


def test_missing_debian_datasets_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(builtin, "FASHION_DIR", tmp_path / "none")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist .*make install"):
        load_dataset("fashion-mnist")
    monkeypatch.setattr(builtin, "OPENCV_DOC_DIGITS", tmp_path / "none.png")
    monkeypatch.setenv("HEADSTART_DATA", str(tmp_path))
    with pytest.raises(DataError, match="make opencv-digits"):
        load_dataset("opencv-digits")


def test_opencv_digits_are_cut_from_the_sheet(tmp_path, monkeypatch):
    sheet = np.zeros((1000, 2000), np.uint8)
    sheet[20:40, 0:20] = 7  # row 1 of the sheet, column 0: the 101st digit, a 0 (100 per sheet row, 500 per class)
    png(tmp_path / "opencv-digits.png", sheet)
    monkeypatch.setattr(builtin, "OPENCV_DOC_DIGITS", tmp_path / "none.png")
    monkeypatch.setenv("HEADSTART_DATA", str(tmp_path))
    data = load_dataset("opencv-digits")
    assert (data.inputs[100] == 7).all() and data.targets[100] == 0 and data.targets[4999] == 9


# --- hashing, splitting, subsampling -------------------------------------------------------------------------------


def images_dataset(images, labels) -> Dataset:
    return Dataset(name="imgs", inputs=images, targets=np.asarray(labels, np.int64), task="classification", label_names=("a", "b"),
                   modality="image")


def test_image_hash_covers_pixels_and_shape():
    a = [np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8)]
    base = images_dataset(a, [0, 1]).hash
    assert base == images_dataset([x.copy() for x in a], [0, 1]).hash
    changed = [a[0].copy(), a[1].copy()]
    changed[1][2, 2] = 9
    assert images_dataset(changed, [0, 1]).hash != base
    assert images_dataset([np.zeros((2, 8), np.uint8), a[1]], [0, 1]).hash != base  # same bytes, other shape


def test_text_hash_is_unchanged():
    data = Dataset(name="t", inputs=["good", "bad"], targets=np.asarray([1, 0]), task="classification", label_names=("neg", "pos"))
    h = hashlib.sha256(json.dumps(["classification", ["neg", "pos"]]).encode())
    for text in data.inputs:
        h.update(text.encode() + b"\x00")
    h.update(np.asarray([1, 0]).tobytes())
    assert data.hash == h.hexdigest()[:16]


def test_images_split_stratified_and_subsample_nested(toy_images_factory):
    data = toy_images_factory(n=200, classes=4)
    splits = split_dataset(data)
    for part in (splits.pool, splits.val, splits.test):
        assert set(np.bincount(data.targets[part], minlength=4)) and np.bincount(data.targets[part], minlength=4).min() > 0
    small, large = subsample(data, splits.pool, 8, seed=1), subsample(data, splits.pool, 40, seed=1)
    assert set(small) <= set(large) and np.bincount(data.targets[small], minlength=4).tolist() == [2, 2, 2, 2]
    assert data.subset(small).modality == "image"


def test_group_majority_matches_the_per_group_loop():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n, groups, strata = int(rng.integers(1, 200)), int(rng.integers(1, 30)), int(rng.integers(1, 5))
        ids, inverse = np.unique(rng.integers(0, groups, n), return_inverse=True)
        labels = rng.integers(0, strata, n)
        expected = [np.bincount(labels[inverse == g]).argmax() for g in range(len(ids))]
        assert group_majority(inverse, labels, len(ids)).tolist() == expected


def test_leakage_finds_copied_images():
    from headstart.data.leakage import find_leakage

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (6, 6), dtype=np.uint8) for _ in range(60)]
    data = images_dataset(images, [i % 2 for i in range(60)])
    splits = split_dataset(data)
    copied = list(images)
    copied[splits.test[0]] = images[splits.pool[0]].copy()
    report = find_leakage(images_dataset(copied, data.targets), splits)
    assert (report.exact, report.near) == (1, 0)
    assert report.examples[0][0].startswith("image row")


def test_leakage_names_a_copied_image_by_its_file(tmp_path):
    """check-leakage on a folder of images names the two files, not row numbers the user cannot find."""
    import shutil

    from headstart.data.leakage import find_leakage

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        for i in range(30):
            png(tmp_path / "imgs" / label / f"{i}.png", rng.integers(0, 256, (6, 6), dtype=np.uint8))
    for i in range(10):
        shutil.copy(tmp_path / "imgs" / "a" / f"{i}.png", tmp_path / "imgs" / "a" / f"copy{i}.png")
    data = load_dataset(str(tmp_path / "imgs"))
    report = find_leakage(data, split_dataset(data))
    assert report.exact >= 1
    # compared pixel for pixel: said so, not "Jaccard >= 1"; a text threshold given for images is refused
    assert (f"({report.exact} exact copies; images are compared pixel for pixel, near-duplicates are not searched)"
            in report.summary()) and "Jaccard" not in report.summary()
    from headstart.api_leakage import check_leakage
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^threshold=0.5 is the word-shingle similarity of near-duplicate texts; 'imgs' "
                                          r"holds images, which are compared pixel for pixel \(exact copies only\): drop threshold$"):
        check_leakage(str(tmp_path / "imgs"), threshold=0.5)
    for test, train, *_ in report.examples:
        names = sorted(shown.removesuffix(" (6x6)") for shown in (test, train))  # "a/3.png" sorts before "a/copy3.png"
        i = names[0].removeprefix("a/").removesuffix(".png")
        assert names == [f"a/{i}.png", f"a/copy{i}.png"]


# --- user folders and tables -----------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "pets"
    rng = np.random.default_rng(0)
    for i in range(4):
        png(root / "cat" / f"c{i}.png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
        png(root / "dog" / f"d{i}.jpg", rng.integers(0, 256, (30, 20, 3), dtype=np.uint8))
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_image_folder(folder, caplog):
    with caplog.at_level(logging.INFO, logger="headstart"):
        data = load_dataset(str(folder))
    assert data.modality == "image" and data.label_names == ("cat", "dog") and len(data) == 8
    assert data.inputs[0].shape == (10, 12) and data.inputs[-1].shape == (30, 20, 3)  # mixed sizes and channels kept
    assert data.targets.tolist() == [0] * 4 + [1] * 4
    assert data.notes == ("ignored 1 non-image file in 'dog'",)
    # said, as a table's dropped rows are: the note was kept on the dataset, and train printed none
    assert [r.getMessage() for r in caplog.records] == ["pets: ignored 1 non-image file in 'dog'"]
    assert data.origins == ("cat/c0.png", "cat/c1.png", "cat/c2.png", "cat/c3.png", "dog/d0.jpg", "dog/d1.jpg", "dog/d2.jpg",
                            "dog/d3.jpg"), "each image's file, as messages name it"
    again = load_dataset(data.source["path"], text_column=data.source["text_column"], label_column=data.source["label_column"],
                         task=data.source["task"])  # how evaluate reloads it
    assert again.hash == data.hash


def test_large_user_images_are_shrunk_on_load(tmp_path):
    png(tmp_path / "big" / "a" / "x.png", np.zeros((2000, 1000), np.uint8))
    png(tmp_path / "big" / "b" / "y.png", np.zeros((10, 10), np.uint8))
    assert load_dataset(str(tmp_path / "big")).inputs[0].shape == (MAX_SIDE, MAX_SIDE // 2)


@pytest.mark.parametrize("breakage, message", [
    ("empty", "has no images"),
    ("corrupt", "cannot read image .*re-save it"),
    ("single", "single class folder"),
    ("flat", "without class folders"),
])
def test_image_folder_errors_are_one_line(folder, breakage, message):
    import shutil

    if breakage == "empty":
        (folder / "bird").mkdir()
    elif breakage == "corrupt":
        (folder / "cat" / "c0.png").write_bytes(b"\x89PNG not really")
    elif breakage == "single":
        shutil.rmtree(folder / "dog")
    else:
        shutil.rmtree(folder)
        png(folder / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match=message) as info:
        load_dataset(str(folder))
    assert "\n" not in str(info.value)


def test_folder_refuses_column_options(folder):
    with pytest.raises(DataError, match="folder names"):
        load_dataset(str(folder), label_column="label")


def test_csv_of_image_paths(folder):

    table = folder / "labels.csv"
    rows = [("cat/c0.png", "x"), ("cat/c1.png", "x"), ("dog/d0.jpg", "y"), ("dog/d1.jpg", "y"), ("", "y"), ("dog/d2.jpg", "")]
    pd.DataFrame(rows, columns=["file", "species"]).to_csv(table, index=False)
    data = load_dataset(str(table))
    assert data.modality == "image" and len(data) == 4 and data.label_names == ("x", "y")
    assert data.source["text_column"] == "file" and data.source["label_column"] == "species"
    assert any("no image path" in n for n in data.notes) and any("no label" in n for n in data.notes)
    assert data.origins == ("cat/c0.png", "cat/c1.png", "dog/d0.jpg", "dog/d1.jpg")
    again = load_dataset(data.source["path"], text_column="file", label_column="species", task="classification")
    assert again.hash == data.hash


def test_a_table_of_image_paths_says_the_rows_it_drops_as_a_text_table_does(folder, caplog):
    """The rows left out (no image path, no label) were kept as notes on the dataset, but nothing was said: train
    printed no "note: ..." line, where a text table's dropped rows are said as they are read."""
    table = folder / "labels.csv"
    rows = [("cat/c0.png", "x"), ("cat/c1.png", "x"), ("dog/d0.jpg", "y"), ("dog/d1.jpg", "y"), ("", "y"), ("dog/d2.jpg", "")]
    pd.DataFrame(rows, columns=["file", "species"]).to_csv(table, index=False)
    with caplog.at_level(logging.INFO, logger="headstart"):
        data = load_dataset(str(table), text_column="file", label_column="species")
    said = [r.getMessage() for r in caplog.records]
    assert said == ["labels.csv: dropped 1 row with no image path", "labels.csv: dropped 1 row with no label"], said
    assert [f"labels.csv: {n}" for n in data.notes] == said
    texts = folder / "texts.csv"  # the same rows with texts for paths: the same words
    pd.DataFrame([(f"a {p[:3]} photo" if p else "", label) for p, label in rows],
                 columns=["text", "species"]).to_csv(texts, index=False)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="headstart"):
        load_dataset(str(texts), text_column="text", label_column="species")
    assert [r.getMessage() for r in caplog.records] == ["texts.csv: dropped 1 row with empty text",
                                                        "texts.csv: dropped 1 row with no label"]


def test_csv_naming_a_missing_image(folder):

    table = folder / "labels.csv"
    pd.DataFrame({"path": ["cat/c0.png", "cat/nope.png"], "label": ["a", "b"]}).to_csv(table, index=False)
    with pytest.raises(DataError, match="nope.png.* does not exist; paths are read relative to the table's folder"):
        load_dataset(str(table))


def test_a_frozen_statistics_run_is_adapted_to_another_image_folder_through_its_own_pool(folder, tiny_registry, tmp_path,
                                                                                           monkeypatch):
    """--bn frozen with --tta: the target's BatchNorm statistics are mapped through the run's own pool inputs'
    (headstart.tta), each score says so, and none of them failed."""
    from typer.testing import CliRunner

    import headstart.tta
    from headstart.cli import app

    methods, real_adapted = [], headstart.tta.adapted  # train's and evaluate's scores agree: both must adapt, each once
    monkeypatch.setattr(headstart.tta, "adapted", lambda model, method, *a, **k: methods.append(method) or real_adapted(model, method, *a, **k))
    real_episodic = headstart.tta.episodic_outputs
    monkeypatch.setattr(headstart.tta, "episodic_outputs", lambda *a, **k: methods.append("tent-episodic") or real_episodic(*a, **k))

    other = tmp_path / "pets-dark"
    for i in range(4, 12):
        png(folder / "cat" / f"c{i}.png", np.full((10, 12), 10 * i, np.uint8))
        png(folder / "dog" / f"d{i}.jpg", np.full((30, 20, 3), 255 - 10 * i, np.uint8))
    for i in range(12):  # the same two classes, darker and with less contrast
        png(other / "cat" / f"c{i}.png", np.full((10, 12), 4 * i, np.uint8))
        png(other / "dog" / f"d{i}.png", np.full((10, 12), 100 - 4 * i, np.uint8))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(folder), "--backbone", "tiny-cnn", "--strategy", "full-finetune",
                                      "--n", "8", "--max-steps", "3", "--min-steps", "3", "--bn", "frozen", "--image-size", "16",
                                      "--eval-data", str(other), "--tta", "bn-adapt", "--tta", "tent", "--tta", "tent-episodic",
                                      "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    scores = json.loads((out / "metrics.json").read_text())["ood"]
    assert [s["tta"] for s in scores] == [None, "bn-adapt", "tent", "tent-episodic"]
    assert methods == ["bn-adapt", "tent", "tent-episodic"]
    for adapted in scores[1:]:
        assert "error" not in adapted and 0 <= adapted["metrics"]["accuracy"] <= 1, adapted
        assert "--bn frozen" in adapted["note"] and "mapped" in adapted["note"], adapted["note"]
    from headstart.loaded import evaluate_ood
    from headstart.saved import load_run

    loaded = load_run(out)
    assert loaded.model.backbone.bn == "frozen", "a reloaded run keeps the BatchNorm mode it trained with"
    for method, at_training in zip(("bn-adapt", "tent"), scores[1:3]):  # evaluate maps it again through the run's pool
        again = evaluate_ood(loaded, str(other), tta=method)
        assert again["accuracy"] == pytest.approx(at_training["metrics"]["accuracy"]) and "mapped" in again["note"], again
    assert methods[3:] == ["bn-adapt", "tent"]


def test_text_csv_is_still_text(toy_csv):
    assert load_dataset(str(toy_csv)).modality == "text"


def test_image_folder_trains_end_to_end(folder, tiny_registry, tmp_path):
    """A user folder through train -> save -> evaluate: the CLI path for images."""
    from typer.testing import CliRunner

    from headstart.cli import app

    for i in range(4, 12):  # enough examples for pool / validation / test
        png(folder / "cat" / f"c{i}.png", np.full((10, 12), 10 * i, np.uint8))
        png(folder / "dog" / f"d{i}.jpg", np.full((30, 20, 3), 255 - 10 * i, np.uint8))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(folder), "--backbone", "tiny-cnn", "--strategy", "full-finetune",
                                      "--n", "8", "--max-steps", "3", "--min-steps", "3", "--augment", "crop", "--bn", "frozen",
                                      "--image-size", "16", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["evaluate", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert 0 <= json.loads(result.stdout)["accuracy"] <= 1  # the progress lines are on stderr
    spec = json.loads((out / "spec.json").read_text())
    assert spec["resolved"]["train"]["augment"] == "crop" and spec["resolved"]["backbone_config"]["image_size"] == 16
    result = CliRunner().invoke(app, ["predict", str(out), str(folder / "dog")])
    assert result.exit_code == 0, result.output
    # stderr's notes mix in where a handler is set (the folder's notes.txt is said: tests/test_input_files_more.py)
    rows = [json.loads(line) for line in result.output.splitlines() if not line.startswith("note: ")]
    assert len(rows) == 12 and rows[0]["input"].endswith("d0.jpg") and rows[0]["label"] in ("cat", "dog")
    table = tmp_path / "to-predict.csv"  # a table naming images carries its other columns beside each prediction
    pd.DataFrame({"id": ["x7", "x8"], "file": [str(folder / "cat" / "c4.png"), str(folder / "dog" / "d5.jpg")]}).to_csv(table, index=False)
    result = CliRunner().invoke(app, ["predict", str(out), str(table)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [list(r)[:3] for r in rows] == [["input", "id", "label"]] * 2 and [r["id"] for r in rows] == ["x7", "x8"]


def test_predict_takes_a_dataframe_of_image_paths_as_the_cli_takes_a_path_table(folder, tiny_registry, tmp_path,
                                                                               monkeypatch):
    """predict(image_run, df) refused a DataFrame ("pass its column of paths as a list") though a text run takes one:
    it reads the frame's column of image paths (relative to the working directory) and carries its other columns, as
    ``headstart predict`` reads a path table."""
    import headstart
    from headstart.errors import DataError
    from headstart.specs import TrainConfig

    for i in range(4, 12):
        png(folder / "cat" / f"c{i}.png", np.full((10, 12), 10 * i, np.uint8))
        png(folder / "dog" / f"d{i}.jpg", np.full((30, 20, 3), 255 - 10 * i, np.uint8))
    run = headstart.fit(str(folder), "tiny-cnn", strategy="full-finetune", n=8, out=tmp_path / "run",
                        config=TrainConfig(max_steps=2, min_steps=2, batch_size=4, precision="fp32", image_size=16))
    monkeypatch.chdir(folder)
    frame = pd.DataFrame({"id": ["x7", "x8"], "file": ["cat/c4.png", str(folder / "dog" / "d5.jpg")]})
    from_frame = headstart.predict(tmp_path / "run", frame)
    as_list = headstart.predict(tmp_path / "run", [str(folder / "cat" / "c4.png"), str(folder / "dog" / "d5.jpg")])
    assert [list(r)[:3] for r in from_frame] == [["input", "id", "label"]] * 2 and [r["id"] for r in from_frame] == ["x7", "x8"]
    assert [r["probabilities"] for r in from_frame] == [r["probabilities"] for r in as_list]
    assert [r["input"] for r in run.predict(frame)] == ["cat/c4.png", str(folder / "dog" / "d5.jpg")]
    with pytest.raises(DataError, match=r"^image '.*gone\.png' named in the DataFrame does not exist; paths are read "
                                        r"relative to the working directory"):
        headstart.predict(tmp_path / "run", frame.assign(file=["gone.png", "cat/c4.png"]))
    with pytest.raises(DataError, match=r"^no column of the DataFrame names image files \(columns: id\); name the column "
                                        r"of image paths with text_column="):
        headstart.predict(tmp_path / "run", frame[["id"]])
