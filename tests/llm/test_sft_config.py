"""SftConfig's checks: each bad setting named by its flag on the command line and by its field from Python."""

from __future__ import annotations

import pytest
from conftest import run_cli


@pytest.mark.parametrize("args,cli,setting,python", [
    (["--n", "0"], "--n must be a whole number >= 1 or all, got 0; e.g. --n 256", {"n": 0},
     "n must be a whole number >= 1 or all, got 0; e.g. n=256"),
    (["--n", "abc"], "--n must be a whole number >= 1 or all, got 'abc'; e.g. --n 256", {"n": "abc"},  # as --n 0 says it
     "n must be a whole number or 'all', got 'abc'; leave it out for the default"),
    (["--val-rows", "0"], "--val-rows must be >= 1, got 0; e.g. --val-rows 64", {"val_rows": 0},
     "val_rows must be >= 1, got 0; e.g. val_rows=64"),
    (["--eval-rows", "-1"], "--eval-rows must be >= 0 (0: none), got -1; e.g. --eval-rows 32", {"eval_rows": -1},
     "eval_rows must be >= 0 (0: none), got -1; e.g. eval_rows=32"),
    (["--max-steps", "0"], "--max-steps must be a whole number >= 1, got 0; e.g. --max-steps 50", {"max_steps": 0},
     "max_steps must be a whole number >= 1, got 0; e.g. max_steps=50"),
    (["--rank", "0"], "--rank must be a positive integer, got 0; e.g. --rank 8", {"rank": 0},
     "rank must be a positive integer, got 0; e.g. rank=8")])
def test_a_bad_setting_is_named_by_its_flag_on_the_cli_and_its_field_from_python(tmp_path, monkeypatch, capsys, args, cli,
                                                                                   setting, python):
    from headstart.api_llm import sft
    from headstart.errors import ConfigError

    code, _, err = run_cli(["sft", "--out", str(tmp_path / "o"), "-q", *args], monkeypatch, capsys)
    assert code == 2 and err.strip() == f"error: {cli}"
    with pytest.raises(ConfigError) as error:
        sft(out=tmp_path / "o", config=setting)
    assert str(error.value) == python and not (tmp_path / "o").exists()
