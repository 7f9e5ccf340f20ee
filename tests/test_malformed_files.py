"""Files headstart reads back that hold valid JSON of the wrong shape: each is refused (or, for a spooled result,
skipped) with one line naming the file and what it should hold. They used to end in an AttributeError / TypeError
traceback (exit 1)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conftest import assert_user_error, run_cli
from headstart.backbones.image_folder import MANIFEST
from headstart.backbones.registry import load_backbone
from headstart.backbones.st_folder import load_dense, read_pipeline
from headstart.errors import BackboneError

POOLING = "sentence_transformers.models.Pooling"
DENSE = "sentence_transformers.models.Dense"


def st_folder(root: Path, modules: object) -> Path:
    """A sentence-transformers-style folder holding only ``modules.json``: it is read before any weights are."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "modules.json").write_text(json.dumps(modules))
    return root


@pytest.mark.parametrize("modules", [[1], {"a": 1}, "text", [{"type": 5, "path": ""}], [{"type": DENSE, "path": None}]])
def test_a_modules_json_of_the_wrong_shape_is_refused_in_one_line(modules, toy_csv, tmp_path, monkeypatch, capsys):
    model = st_folder(tmp_path / "model", modules)
    result = run_cli(["train", "--backbone", str(model), "--data", str(toy_csv), "--out", str(tmp_path / "run")],
                     monkeypatch, capsys)
    assert_user_error(result, str(model / "modules.json"))


@pytest.mark.parametrize("path", ["../outside", "1_Dense/../../outside", "/etc"])
def test_a_module_path_outside_the_model_folder_is_refused(path, tmp_path):
    """A downloaded folder's modules.json must not point the loader at other files on the disk."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "config.json").write_text(json.dumps({"in_features": 4, "out_features": 2}))
    model = st_folder(tmp_path / "model", [{"type": DENSE, "path": path}])
    with pytest.raises(BackboneError, match="outside the model folder"):
        read_pipeline(model)


def test_a_module_folder_linked_from_outside_is_refused(tmp_path):
    (tmp_path / "outside").mkdir()
    model = st_folder(tmp_path / "model", [{"type": DENSE, "path": "2_Dense"}])
    (model / "2_Dense").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(BackboneError, match="'2_Dense', outside the model folder"):
        read_pipeline(model)


def test_module_paths_inside_the_folder_still_load(tmp_path):
    model = st_folder(tmp_path / "model", [{"type": "sentence_transformers.models.Transformer", "path": ""},
                                           {"type": POOLING, "path": "./1_Pooling/../1_Pooling"},
                                           {"type": "sentence_transformers.models.Normalize", "path": "2_Normalize"}])
    (model / "1_Pooling").mkdir()
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    pipeline = read_pipeline(model)
    assert (pipeline.pooling, pipeline.normalize) == ("cls", True)


def test_module_configs_of_the_wrong_shape_are_refused(tmp_path):
    model = st_folder(tmp_path / "model", [{"type": POOLING, "path": "1_Pooling"}])
    (model / "1_Pooling").mkdir()
    (model / "1_Pooling" / "config.json").write_text("[1]")
    with pytest.raises(BackboneError, match=r"1_Pooling/config.json' must hold a JSON object of pooling_mode_\* flags"):
        read_pipeline(model)
    dense = tmp_path / "2_Dense"
    dense.mkdir()
    for config in ([1], {"out_features": 2}, {"in_features": [4], "out_features": 2}):
        (dense / "config.json").write_text(json.dumps(config))
        with pytest.raises(BackboneError, match="2_Dense/config.json' must hold an object with positive integer"):
            load_dense(dense)


@pytest.mark.parametrize(("manifest", "fragment"), [
    ({"architecture": ["mnist-cnn"]}, 'got ["mnist-cnn"]'),
    ({"architecture": {"name": "mnist-cnn"}}, 'got {"name": "mnist-cnn"}'),
    ({"architecture": None}, "got null"),
    ({"architecture": "mnist-cnn", "image_size": "big"}, 'image_size as a positive integer'),
])
def test_an_image_manifest_of_the_wrong_shape_is_refused(manifest, fragment, tmp_path):
    (tmp_path / "bb").mkdir()
    (tmp_path / "bb" / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BackboneError) as info:
        load_backbone(str(tmp_path / "bb"))
    assert str(tmp_path / "bb" / MANIFEST) in str(info.value) and fragment in str(info.value)


def test_an_image_manifest_naming_a_list_is_one_line_at_the_cli(toy_csv, tmp_path, monkeypatch, capsys):
    (tmp_path / "bb").mkdir()
    (tmp_path / "bb" / MANIFEST).write_text(json.dumps({"architecture": ["mnist-cnn"]}))
    args = ["train", "--backbone", str(tmp_path / "bb"), "--data", str(toy_csv), "--out", str(tmp_path / "run")]
    assert_user_error(run_cli(args, monkeypatch, capsys), str(tmp_path / "bb" / MANIFEST),
                      "must hold the architecture's name as a string")


def test_a_spooled_file_of_the_wrong_shape_is_skipped_with_a_warning(tmp_path, caplog):
    """As for an unreadable spooled file: a warning naming it, the file kept, the other spooled results merged."""
    from headstart.results import RunResult
    from headstart.spool import SPOOL, merge_spool
    from headstart.store import Store

    spooled = tmp_path / "store" / SPOOL
    spooled.mkdir(parents=True)
    damaged = {"list.json": [1], "string.json": "text", "listkey.json": {"key": [1], "spec": {}, "status": "done"},
               "listspec.json": {"key": "k2", "spec": [1], "status": "done"}}
    for name, content in damaged.items():
        (spooled / name).write_text(json.dumps(content))
    (spooled / "good.json").write_text(json.dumps(RunResult(key="k1", spec={"seed": 0}, status="failed").to_dict()))
    with Store(tmp_path / "store") as store, caplog.at_level(logging.WARNING, logger="headstart"):
        assert merge_spool(store) == 1
        assert [r.key for r in store.results()] == ["k1"]
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for name in damaged:
        assert f"skipped the damaged spooled result {spooled / name}" in warned
    assert sorted(p.name for p in spooled.iterdir()) == sorted(damaged)


def test_a_manifest_whose_trained_by_is_not_an_object_has_no_origin(tmp_path):
    """meta-train follows a saved folder back to the backbone it started from; a damaged trained_by ends the trail."""
    import json

    from headstart.data_defaults import seen_by

    (tmp_path / "headstart-image.json").write_text(json.dumps({"architecture": "mnist-cnn", "trained_by": ["x"]}))
    assert seen_by(str(tmp_path)) == ((), str(tmp_path))
