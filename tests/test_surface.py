"""headstart.surface: who is calling (the CLI or Python, in this process or a worker it started) and a message's fix in
that caller's words: ``--lr 1e-5`` to the CLI, ``lr=1e-05`` to Python, ``lr = 1e-05`` in a settings TOML file.

The rewrite of whole messages at the public functions' boundary is tested in tests/test_error_surface.py."""

from __future__ import annotations

import os

import pytest

from headstart.surface import (SURFACE_ENV, cli_surface, on_cli, python_names, reset_surface, setting_text, spoken,
                               toml_names, toml_text)


@pytest.fixture
def python_caller(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(SURFACE_ENV, raising=False)
    assert not on_cli()


def test_a_cli_call_inside_a_worker_the_cli_started_restores_the_workers_mark(monkeypatch, python_caller):
    """A worker inherits ``$HEADSTART_SURFACE=cli``; a CLI entry point run inside it (a sweep cell) must hand the mark
    back when it ends, not drop it, or the worker's next errors would name Python parameters to a CLI user."""
    outer = cli_surface()
    assert on_cli() and os.environ[SURFACE_ENV] == "cli"
    inner = cli_surface()
    reset_surface(inner)
    assert on_cli() and os.environ[SURFACE_ENV] == "cli", "the outer call's mark is still there"
    reset_surface(outer)
    assert SURFACE_ENV not in os.environ and not on_cli(), "the next Python call is Python again"
    monkeypatch.setenv(SURFACE_ENV, "python")  # a value set by someone else comes back as it was
    reset_surface(cli_surface())
    assert os.environ[SURFACE_ENV] == "python"


def test_a_worker_process_reads_the_cli_mark_from_the_environment_alone(monkeypatch, python_caller):
    """A worker starts with a fresh context variable: only the environment says the CLI started it."""
    monkeypatch.setenv(SURFACE_ENV, "cli")
    assert on_cli()
    monkeypatch.setenv(SURFACE_ENV, "python")
    assert not on_cli()


def test_a_fix_and_a_setting_are_written_as_the_caller_writes_them(python_caller):
    assert spoken("--no-tune", "tune=None") == "tune=None"
    assert setting_text("schedule", "cosine") == "schedule='cosine'"
    assert setting_text("fp16", True) == "fp16=True"
    marked = cli_surface()
    try:
        assert spoken("--no-tune", "tune=None") == "--no-tune"
        assert setting_text("schedule", "cosine") == 'schedule = "cosine"'  # a settings field is set in a TOML file
        assert setting_text("fp16", True) == "fp16 = true"
    finally:
        reset_surface(marked)


@pytest.mark.parametrize("value, text", [
    (True, "true"), (False, "false"),
    ("cosine", '"cosine"'), ('say "hi"', '"say \\"hi\\""'), ("café", '"café"'),  # escaped as TOML reads; non-ASCII kept
    ([16, "all"], '[16, "all"]'), ((True, 1e-5), "[true, 1e-05]"),
    (1e-5, "1e-05"), (3, "3"), (float("inf"), "inf"),
])
def test_a_value_is_written_as_a_toml_file_reads_it(value, text):
    assert toml_text(value) == text


@pytest.mark.parametrize("message, toml", [
    ("--warmup-steps is too big; try --warmup-steps 100", "warmup_steps is too big; try warmup_steps = 100"),
    ("set --fp16 true", "set fp16 = true"),
    ("try --schedule 'cosine'", 'try schedule = "cosine"'),  # the CLI's shell quotes become TOML's string quotes
    ("try --warmup-steps N", "try warmup_steps = N"),  # a placeholder is no string
    ("drop --fp16", "drop fp16"),
    ("--n 0 is no count; try --n 64", "--n 0 is no count; try --n 64"),  # not a field of this table: left
])
def test_a_flag_of_a_settings_field_is_written_as_its_key_in_the_file(message, toml):
    assert toml_names(message, {"warmup_steps", "fp16", "schedule"}) == toml


@pytest.mark.parametrize("message", ["--nx 3 is wrong", "see a/--n 3", "x--n 3", "--n-gram 3"])
def test_only_a_whole_flag_is_rewritten_never_a_longer_flag_or_a_path_holding_one(message):
    assert python_names(message, {"n"}) == message
    assert toml_names(message, {"n"}) == message
