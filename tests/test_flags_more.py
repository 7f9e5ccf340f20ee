"""Bad flags a fuzz found, each through the surface a user meets: one line naming the value and the fix, exit 2, no
traceback, nothing written (the CLI's cases through ``headstart.cli.main`` in this process, as tests/test_cli.py)."""

from __future__ import annotations

from conftest import assert_user_error, run_cli


def test_an_empty_size_between_commas_is_refused_not_dropped(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cmp"
    result = run_cli(["compare", "--strategies", "linear-probe", "--sizes", "8,,16", "--out", str(out)], monkeypatch, capsys)
    assert_user_error(result, "--sizes '8,,16' has an empty entry", "e.g. --sizes 8,16")
    assert not out.exists()
