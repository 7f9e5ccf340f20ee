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
