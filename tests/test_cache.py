"""``headstart cache`` / ``cache_info`` / ``clear_cache``: the parts of $HEADSTART_CACHE, their sizes, and clearing them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import headstart
from conftest import assert_user_error, run_cli


HEX24 = "356a08c1f5ba084de6ebd38d"
FEATURE_A, FEATURE_B, FEATURE_C = (f"{c * 20}.safetensors" for c in "abc")
MODEL = f"SmolLM2-135M-Instruct.Q4_1-{HEX24}"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A cache with two feature files, a table, a converted model folder, the precision verdict, and left-overs of
    killed writes: two over an hour old (a file and a model folder), one just made (a write still in progress)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("HEADSTART_CACHE", str(root))
    (root / "features").mkdir(parents=True)
    (root / "features" / FEATURE_A).write_bytes(b"x" * 1000)
    (root / "features" / FEATURE_B).write_bytes(b"x" * 500)
    (root / "data").mkdir()
    (root / "data" / "table-abc.parquet").write_bytes(b"x" * 200)
    model = root / "models" / MODEL
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"x" * 3000)
    (model / "config.json").write_text("{}")
    (root / "precision.json").write_text('{"v": 1}')
    (root / "leakage").mkdir()
    (root / "leakage" / f"{'c' * 20}.json").write_text('{"n_test": 1}')
    (root / "leakage" / "notes.txt").write_text("another tool's")  # not headstart's: never counted or removed
    old = time.time() - 2 * 3600
    stale_file = root / "features" / f".{FEATURE_C}.k3j2h1.tmp"
    stale_file.write_bytes(b"x" * 700)
    stale_folder = root / "models" / f".gemma-{HEX24}.x8s7.tmp"
    stale_folder.mkdir()
    (stale_folder / "model.safetensors").write_bytes(b"x" * 900)
    for path in (stale_file, stale_folder):
        os.utime(path, (old, old))
    (root / "data" / ".staged-0123.parquet").write_bytes(b"x" * 50)  # fresh: a write in progress
    return root


def test_cache_info_counts_each_part_and_only_stale_left_overs(cache):
    report = headstart.cache_info()
    parts = {p.name: (p.files, p.bytes) for p in report.parts}
    assert report.where == str(cache)
    assert parts == {"features": (2, 1500), "data": (1, 200), "models": (2, 3002), "leakage": (1, 13), "precision": (1, 8),
                     "temp": (2, 1600)}
    assert report.bytes == 1500 + 200 + 3002 + 13 + 8 + 1600


def test_clear_temp_removes_only_stale_left_overs(cache):
    removed = headstart.clear_cache()  # temp is the default
    assert [(p.name, p.files, p.bytes) for p in removed.parts] == [("temp", 2, 1600)]
    assert not (cache / "features" / f".{FEATURE_C}.k3j2h1.tmp").exists() and not (cache / "models" / f".gemma-{HEX24}.x8s7.tmp").exists()
    assert (cache / "data" / ".staged-0123.parquet").exists(), "a write in progress is left alone"
    assert (cache / "features" / FEATURE_A).exists() and (cache / "models" / MODEL).is_dir()


def test_clear_one_part_and_all(cache):
    assert headstart.clear_cache("features").parts[0].files == 2
    assert not (cache / "features" / FEATURE_A).exists() and (cache / "features" / f".{FEATURE_C}.k3j2h1.tmp").exists()
    assert (cache / "data" / "table-abc.parquet").exists()
    removed = {p.name: p.files for p in headstart.clear_cache("all").parts}
    assert removed == {"features": 0, "data": 1, "models": 2, "leakage": 1, "precision": 1, "temp": 2}
    assert {p.name: p.files for p in headstart.cache_info().parts} == {"features": 0, "data": 0, "models": 0, "leakage": 0,
                                                                       "precision": 0, "temp": 0}
    assert (cache / "leakage" / "notes.txt").exists()


def test_a_missing_cache_is_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "nowhere"))
    assert headstart.cache_info().bytes == 0 and headstart.clear_cache("all").bytes == 0
    assert not (tmp_path / "nowhere").exists()


def test_cli_lists_clears_and_refuses_an_unknown_part(cache, monkeypatch, capsys):
    code, out, err = run_cli(["cache"], monkeypatch, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"cache: {cache} (6.32 kB)"
    assert lines[1].split()[:3] == ["features", "2", "files"] and lines[4].split()[:3] == ["leakage", "1", "file"] and lines[5].split()[:3] == ["precision", "1", "file"]
    code, out, err = run_cli(["cache", "--json"], monkeypatch, capsys)
    assert json.loads(out)["parts"]["models"] == {"files": 2, "bytes": 3002}
    code, out, err = run_cli(["cache", "--clear", "temp"], monkeypatch, capsys)
    assert code == 0 and out == "removed temp: 2 files, 1.60 kB\n"
    assert_user_error(run_cli(["cache", "--clear", "feature"], monkeypatch, capsys), "unknown cache part 'feature'", "--clear temp")
    assert (cache / "features" / FEATURE_A).exists()


def test_a_write_killed_before_its_rename_leaves_what_clear_temp_removes(tmp_path, monkeypatch):
    """A process SIGKILLed between writing a feature file's temp file and renaming it (the kill point of
    ``atomic.write_atomic``) leaves the file ``cache_info`` counts as temp once it is an hour old."""
    import subprocess
    import sys

    env = {**os.environ, "HEADSTART_CACHE": str(tmp_path), "HEADSTART_TEST_KILL_AT": "write:features.safetensors"}
    code = ("from pathlib import Path; from headstart.atomic import write_atomic; from headstart.cache import cache_dir\n"
            "folder = cache_dir() / 'features'; folder.mkdir(parents=True)\n"
            "write_atomic(folder / '0123456789abcdef0123.safetensors', b'x' * 100, point='write:features.safetensors')")
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == -9
    (left,) = (tmp_path / "features").iterdir()
    assert left.name.startswith(".0123456789abcdef0123.safetensors.") and left.name.endswith(".tmp")
    old = time.time() - 2 * 3600
    os.utime(left, (old, old))
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path))
    assert [(p.name, p.files) for p in headstart.cache_info().parts if p.files] == [("temp", 1)]
    headstart.clear_cache("temp")
    assert not left.exists()


def test_files_headstart_did_not_write_are_neither_counted_nor_removed(cache):
    """A misdirected $HEADSTART_CACHE (a shared folder) must never cost another tool's files."""
    (cache / "models" / "other-tool").mkdir()
    (cache / "models" / "other-tool" / "weights.bin").write_bytes(b"y" * 9)
    (cache / "data" / "notes.txt").write_text("mine")
    (cache / "features" / ".hidden.tmp").write_text("not ours")
    old = time.time() - 2 * 3600
    os.utime(cache / "features" / ".hidden.tmp", (old, old))
    before = {p.name: (p.files, p.bytes) for p in headstart.cache_info().parts}
    assert before["models"] == (2, 3002) and before["data"] == (1, 200) and before["temp"] == (2, 1600)
    headstart.clear_cache("all")
    assert (cache / "models" / "other-tool" / "weights.bin").exists() and (cache / "data" / "notes.txt").exists()
    assert (cache / "features" / ".hidden.tmp").exists()
    assert not (cache / "models" / MODEL).exists() and not (cache / "precision.json").exists()


def test_an_empty_headstart_cache_is_the_default_not_the_current_folder(monkeypatch, tmp_path):
    from headstart.cache import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HEADSTART_CACHE", "")
    assert cache_dir() == tmp_path / ".cache" / "headstart"
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_the_lock_files_beside_joined_models_are_counted_and_cleared_with_them(cache):
    """The empty ``.NAME.lock`` that mpnet's extraction and Gemma's join hold (``parts._held``) stayed in models/ after
    ``--clear models`` or ``all``, never counted; they go with their part, except one a process holds now (it is
    making that part)."""
    import fcntl

    (cache / "models" / f".{MODEL}.lock").touch()
    (cache / "models" / ".gemma-3-270m-q4_k_m.gguf.lock").touch()
    held = cache / "models" / f".all-mpnet-base-v2-{HEX24}.lock"
    held.touch()
    (cache / "models" / ".other-tool.lock").touch()  # not beside anything headstart makes: not ours
    assert {p.name: p.files for p in headstart.cache_info().parts}["models"] == 2 + 3
    fd = os.open(held, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        removed = {p.name: (p.files, p.bytes) for p in headstart.clear_cache("models").parts}
    finally:
        os.close(fd)
    assert removed == {"models": (2 + 2, 3002)}
    assert sorted(p.name for p in (cache / "models").iterdir()) == sorted([held.name, ".other-tool.lock", f".gemma-{HEX24}.x8s7.tmp"])
    assert headstart.clear_cache("models").parts[0].files == 1 and not held.exists(), "no longer held: cleared"
