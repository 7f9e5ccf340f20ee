"""``AdapterSet`` (headstart/adapter_set.py) as a Python caller meets it: mistakes named in Python words, while the CLI's
``predict --adapter-dir`` that drives the same class keeps its flags. Sharing and switching: tests/test_adapters.py."""

from __future__ import annotations

import pytest

import headstart
from headstart.errors import ConfigError
from tests.conftest import assert_user_error, run_cli
from tests.test_adapters import TEXTS, trained_run


def test_a_bad_adapter_name_is_named_as_python_writes_it_and_as_the_cli_does(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """``add(..., name='bad name')`` answered ``e.g. --adapter-dir sentiment=DIR``, a flag of ``headstart predict``."""
    with pytest.raises(ConfigError) as caught:
        headstart.AdapterSet().add(tmp_path / "b", name="bad name")
    assert str(caught.value) == ("adapter name 'bad name' may hold only letters, digits, '-', '_' and '.'; "
                                 f"e.g. add({str(tmp_path / 'b')!r}, name='sentiment')")
    trained_run(toy_csv, tmp_path / "a")
    (tmp_path / "in.txt").write_text("a good movie\n")
    assert_user_error(run_cli(["predict", str(tmp_path / "a"), str(tmp_path / "in.txt"), "--adapter-dir",
                               f"bad name={tmp_path / 'a'}"], monkeypatch, capsys),
                      "adapter name 'bad name' may hold only", "e.g. --adapter-dir sentiment=DIR")
    adapters = headstart.AdapterSet()
    adapters.add(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"already loaded; give another name \(add\('.*', name='other'\)\)$"):
        adapters.add(tmp_path / "a")


def test_predict_without_adapter_names_the_argument_and_the_adapters_loaded(toy_csv, tiny_registry, tmp_path):
    """``predict(texts)`` raised Python's bare TypeError (missing keyword-only argument), naming no adapter to pick."""
    with pytest.raises(ConfigError, match=r"^AdapterSet.predict needs adapter=.*\(loaded: none yet\)"):
        headstart.AdapterSet().predict(TEXTS)
    with pytest.raises(ConfigError, match=r"^this AdapterSet holds no adapter yet, so there is no 'x' to use; add a run"):
        headstart.AdapterSet().predict(TEXTS, adapter="x")
    trained_run(toy_csv, tmp_path / "a")
    adapters = headstart.AdapterSet()
    adapters.add(tmp_path / "a", name="sentiment")
    with pytest.raises(ConfigError) as caught:
        adapters.predict(TEXTS)
    assert str(caught.value) == ("AdapterSet.predict needs adapter=, the name of the run to predict with (loaded: "
                                 "'sentiment'); e.g. adapters.predict(texts, adapter='sentiment')")
    assert len(adapters.predict(TEXTS, adapter="sentiment")) == len(TEXTS)


def test_predictions_from_a_chosen_adapter_name_it_in_jsonl_and_csv(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """``predict RUN --adapter-dir b=DIR --adapter b`` wrote predictions that did not say which adapter made them, and
    "wrote 1 predictions"; each row now carries ``adapter`` (after the input's own columns, before the label), and one
    prediction is "1 prediction". A run predicting alone has no such field."""
    import json

    import pandas as pd

    trained_run(toy_csv, tmp_path / "a", seed=0)
    trained_run(toy_csv, tmp_path / "b", seed=1)
    pd.DataFrame({"id": [7], "text": ["a good movie"]}).to_csv(tmp_path / "in.csv", index=False)
    chosen = ["--adapter-dir", f"b={tmp_path / 'b'}", "--adapter", "b"]
    code, out, _ = run_cli(["predict", str(tmp_path / "a"), str(tmp_path / "in.csv"), *chosen], monkeypatch, capsys)
    row = json.loads(out)
    assert code in (0, None) and list(row)[:4] == ["text", "id", "adapter", "label"] and row["adapter"] == "b", row
    code, _, err = run_cli(["predict", str(tmp_path / "a"), str(tmp_path / "in.csv"), *chosen, "--out",
                            str(tmp_path / "p.csv")], monkeypatch, capsys)
    written = pd.read_csv(tmp_path / "p.csv")
    assert code in (0, None) and f"wrote 1 prediction to {tmp_path / 'p.csv'}" in err, err
    assert list(written.columns)[:4] == ["text", "id", "adapter", "label"] and written["adapter"].tolist() == ["b"]
    code, out, _ = run_cli(["predict", str(tmp_path / "a"), str(tmp_path / "in.csv"), "--adapter-dir", f"b={tmp_path / 'b'}"],
                           monkeypatch, capsys)
    assert json.loads(out)["adapter"] == "a"  # the default: RUN's own adapter, named by its directory
    code, out, _ = run_cli(["predict", str(tmp_path / "a"), str(tmp_path / "in.csv")], monkeypatch, capsys)
    assert "adapter" not in json.loads(out)


def test_a_run_on_other_base_settings_is_refused_naming_the_setting_and_a_separate_predict(toy_csv, tiny_registry, tmp_path,
                                                                                          monkeypatch, capsys):
    """A run trained with --max-length 64 beside one with 128 was refused as "trained on a different base
    (tiny-bert, 4-bit=False) than this set's (tiny-bert, 4-bit=False); load it in its own set": the two named bases
    read the same, and the CLI has no set. The setting that differs is named, and the fix in the caller's words."""
    import json
    import shutil

    trained_run(toy_csv, tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "short")  # the tiny test backbone keeps its own max_length: set as a real one saves it
    spec = json.loads((tmp_path / "short" / "spec.json").read_text())
    base = spec["resolved"]["backbone_config"]["max_length"]
    spec["resolved"]["backbone_config"]["max_length"] = base // 2
    (tmp_path / "short" / "spec.json").write_text(json.dumps(spec))
    differs = f"(max_length {base // 2} vs {base})"
    adapters = headstart.AdapterSet()
    adapters.add(tmp_path / "a")
    with pytest.raises(ConfigError) as caught:
        adapters.add(tmp_path / "short")
    assert str(caught.value) == (f"{str(tmp_path / 'short')!r} was trained on a different base than {str(tmp_path / 'a')!r} "
                                 f"{differs}, and the runs of one set share its base; load it in its own AdapterSet")
    assert adapters.names == ["a"] and len(adapters.predict(TEXTS, adapter="a")) == len(TEXTS)
    (tmp_path / "in.txt").write_text("a good movie\n")
    assert_user_error(run_cli(["predict", str(tmp_path / "a"), str(tmp_path / "in.txt"), "--adapter-dir", str(tmp_path / "short")],
                              monkeypatch, capsys),
                      differs, "predict with it in a separate headstart predict call")


def test_an_ia3_run_beside_a_lora_run_is_refused_naming_both_methods_and_the_set_stays_usable(toy_csv, tiny_registry, tmp_path,
                                                                                               monkeypatch, capsys):
    """``--adapter-dir runs/ia3`` beside a LoRA run raised PEFT's "Cannot combine adapters with different peft types" as
    a StoreError, from inside load_adapter. The method is checked first, a ConfigError in the caller's words."""
    trained_run(toy_csv, tmp_path / "a")
    trained_run(toy_csv, tmp_path / "ia3", "ia3")
    adapters = headstart.AdapterSet()
    adapters.add(tmp_path / "a")
    with pytest.raises(ConfigError) as caught:
        adapters.add(tmp_path / "ia3")
    assert str(caught.value) == (f"{str(tmp_path / 'ia3')!r} cannot join {str(tmp_path / 'a')!r}: a set serves adapters of one "
                                 "PEFT method (this set's: lora; the run's: ia3); load it in its own AdapterSet")
    assert list(adapters.runs["a"].model.backbone.model.peft_config) == ["default"], "nothing half-added"
    adapters.add(tmp_path / "a", name="again")  # the set still takes a good run, and predicts
    assert adapters.predict(TEXTS, adapter="again") == adapters.predict(TEXTS, adapter="a")
    (tmp_path / "in.txt").write_text("a good movie\n")
    assert_user_error(run_cli(["predict", str(tmp_path / "a"), str(tmp_path / "in.txt"), "--adapter-dir", str(tmp_path / "ia3")],
                              monkeypatch, capsys),
                      "(this set's: lora; the run's: ia3)", "predict with it in a separate headstart predict call")
