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
