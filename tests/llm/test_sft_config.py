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
     "rank must be a positive integer, got 0; e.g. rank=8"),
    (["--dropout", "1"], "--dropout must be a fraction in [0, 1), got 1.0; try --dropout 0.05", {"dropout": 1.0},
     "dropout must be a fraction in [0, 1), got 1.0; try dropout=0.05"),
    (["--warmup", "1.5"], "--warmup must be a fraction in [0, 1), got 1.5; try --warmup 0.1", {"warmup": 1.5},
     "warmup must be a fraction in [0, 1), got 1.5; try warmup=0.1"),
    (["--evals-per-phase", "0"], "--evals-per-phase must be a positive integer, got 0; e.g. --evals-per-phase 5",
     {"evals": 0}, "evals must be a positive integer, got 0; e.g. evals=5"),
    (["--patience", "-1"], "--patience must be an integer >= 0 (validation checks without improvement before the run "
     "stops; 0 never stops early), got -1; try --patience 3", {"patience": -1},
     "patience must be an integer >= 0 (validation checks without improvement before the run stops; 0 never stops "
     "early), got -1; try patience=3"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be a positive integer, got 0; e.g. --max-new-tokens 64",
     {"max_new_tokens": 0}, "max_new_tokens must be a positive integer, got 0; e.g. max_new_tokens=64")])
def test_a_bad_setting_is_named_by_its_flag_on_the_cli_and_its_field_from_python(tmp_path, monkeypatch, capsys, args, cli,
                                                                                   setting, python):
    from headstart.api_llm import sft
    from headstart.errors import ConfigError

    code, _, err = run_cli(["sft", "--out", str(tmp_path / "o"), "-q", *args], monkeypatch, capsys)
    assert code == 2 and err.strip() == f"error: {cli}"
    with pytest.raises(ConfigError) as error:
        sft(out=tmp_path / "o", config=setting)
    assert str(error.value) == python and not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,cli,setting,python", [
    (["--warmup", "1"], "--warmup must be a fraction in [0, 1), got 1.0; try --warmup 0.1", {"warmup": 1.0},
     "warmup must be a fraction in [0, 1), got 1.0; try warmup=0.1"),
    (["--evals-per-phase", "0"], "--evals-per-phase must be a positive integer, got 0; e.g. --evals-per-phase 5",
     {"evals": 0}, "evals must be a positive integer, got 0; e.g. evals=5"),
    (["--patience", "-2"], "--patience must be an integer >= 0 (validation checks without improvement before the run "
     "stops; 0 never stops early), got -2; try --patience 3", {"patience": -2},
     "patience must be an integer >= 0 (validation checks without improvement before the run stops; 0 never stops "
     "early), got -2; try patience=3")])
def test_a_bad_prefer_setting_is_named_by_its_flag_on_the_cli_and_its_field_from_python(tmp_path, monkeypatch, capsys,
                                                                                          args, cli, setting, python):
    from headstart.api_llm import prefer
    from headstart.errors import ConfigError

    code, _, err = run_cli(["prefer", "--out", str(tmp_path / "o"), "-q", *args], monkeypatch, capsys)
    assert code == 2 and err.strip() == f"error: {cli}"
    with pytest.raises(ConfigError) as error:
        prefer(out=tmp_path / "o", config=setting)
    assert str(error.value) == python and not (tmp_path / "o").exists()


@pytest.mark.parametrize("command,settings", [("sft", "headstart.llm.sft.SftConfig"),
                                              ("prefer", "headstart.llm.dpo.PreferConfig")])
def test_every_setting_has_a_flag_whose_default_is_the_settings(command, settings):
    """Each field of SftConfig / PreferConfig is a flag of its command (evals as train's --evals-per-phase), shown with
    the field's default (None: a default the help says in words, as --rank's)."""
    import dataclasses
    import importlib

    from typer.main import get_command

    from headstart.cli.common import app

    module, name = settings.rsplit(".", 1)
    fields = {f.name: f.default for f in dataclasses.fields(getattr(importlib.import_module(module), name))}
    flags = {p.name: p for p in get_command(app).commands[command].params}
    assert set(fields) <= set(flags), f"settings with no flag: {sorted(set(fields) - set(flags))}"
    assert flags["evals"].opts == ["--evals-per-phase"]
    differ = {k: (flags[k].default, v) for k, v in fields.items()
              if flags[k].default is not None and flags[k].default != v}
    assert not differ, differ


def test_dropout_with_full_finetune_is_refused_as_the_other_adapter_flags_are(tmp_path, monkeypatch, capsys):
    """--dropout at its default value still says it was given: full-finetune would ignore it."""
    from conftest import assert_user_error

    assert_user_error(run_cli(["sft", "--strategy", "full-finetune", "--dropout", "0.05", "--out", str(tmp_path / "o"), "-q"],
                              monkeypatch, capsys),
                      "--dropout shapes a lora/qlora adapter, and full-finetune trains every weight instead; drop it, "
                      "or use --strategy lora")
    assert not (tmp_path / "o").exists()
