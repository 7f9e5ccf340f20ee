"""The Python API mirrors the CLI: every command has a ``headstart.<name>`` function, and the listing functions give the
rows the commands print with --json."""

from __future__ import annotations

import inspect
import os
import json

import pytest

import headstart

# the CLI command -> its Python counterpart where the names differ
RENAMED = {"train": "fit", "adapters": "AdapterSet", "cache": "cache_info"}


def cli_commands() -> list[str]:
    from headstart.cli import app

    return sorted([c.name or c.callback.__name__ for c in app.registered_commands] + [g.name for g in app.registered_groups])


def test_every_cli_command_has_a_documented_python_function():
    commands = cli_commands()
    assert {"train", "compare", "adapt", "meta-train", "export", "strategies", "adapters"} <= set(commands), commands
    for command in commands:
        name = RENAMED.get(command, command.replace("-", "_"))
        function = getattr(headstart, name)
        assert callable(function) and (function.__doc__ or "").strip(), command
        assert name in headstart.__all__ and f"``{name}``" in headstart.__doc__, name


def test_a_callable_module_keeps_its_names_and_shows_its_functions_signature():
    from headstart.adapt import AdaptResult, adapt

    assert headstart.adapt.AdaptResult is AdaptResult
    assert inspect.signature(headstart.adapt) == inspect.signature(adapt)
    assert "Mirrors ``headstart adapt``" in type(headstart.adapt).__call__.__doc__
    with pytest.raises(headstart.HeadstartError, match="unknown adaptation method 'tentt'"):
        headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", methods="source-only,tentt")


@pytest.mark.parametrize("name", ["strategies", "backbones", "datasets"])
def test_the_listings_are_the_rows_the_commands_print(name, monkeypatch, capsys):
    from conftest import run_cli

    code, out, err = run_cli([name, "--json"], monkeypatch, capsys)
    assert code == 0, err
    rows = getattr(headstart, name)()
    assert rows == json.loads(out) and len(rows) >= 3 and {"name", "description"} <= set(rows[0])


def test_runs_and_report_of_a_store(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    from headstart.specs import TrainConfig

    out = tmp_path / "store"
    headstart.compare(str(toy_csv), backbone="tiny", strategies="linear-probe,full-finetune", sizes=[16], seeds=1, out=out,
                      config=TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32"), tune=None)
    rows = headstart.runs(out)
    code, printed, err = run_cli(["runs", str(out), "--json"], monkeypatch, capsys)
    assert code == 0 and rows == json.loads(printed), err
    assert {r["arm"] for r in rows} == {"linear-probe", "full-finetune"} and all(0 <= r["accuracy"] <= 1 for r in rows)
    assert headstart.runs(out, status="failed") == []
    with pytest.raises(headstart.HeadstartError, match="^status must be one of"):  # a Python call: its parameter, not the flag
        headstart.runs(out, status="finished")

    (out / "report.md").unlink()
    paths = headstart.report(out, margin=1)
    assert set(paths) >= {"report.md", "report.html", "results.json"} and paths["report.md"].exists()
    assert json.loads(paths["results.json"].read_text())["margin_points"] == 1


def test_runs_lists_the_superseded_runs_the_report_counts(tmp_path, monkeypatch, capsys):
    """The report counts "N older run(s) of the same arm, size and seed" apart; --status superseded was refused
    (pending, running, done, failed, diverged only). It lists them now, and every row says whether it is one."""
    from conftest import run_cli

    from headstart import analysis
    from headstart.results import STATUSES, RunResult
    from headstart.store import Store

    spec = {"strategy": "linear-probe", "n": 16, "n_requested": 16, "seed": 0, "backbone": "tiny",
            "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
    older = RunResult(key="older", spec=spec, status="done", metrics={"accuracy": 0.5}, train_seconds=1.0)
    newer = RunResult(key="newer", spec=spec, status="done", metrics={"accuracy": 0.6}, train_seconds=1.0)
    with Store(tmp_path) as store:
        store.put(older)  # stored first: another version of headstart's run of the same cell
        store.put(newer)
        assert analysis.summarize(store.results())["totals"]["superseded"] == 1
    code, printed, err = run_cli(["runs", str(tmp_path), "--status", "superseded", "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert [(r["key"], r["status"], r["superseded"]) for r in json.loads(printed)] == [("older", "done", True)]
    assert [r["superseded"] for r in headstart.runs(tmp_path)] == [True, False]
    code, printed, _ = run_cli(["runs", str(tmp_path)], monkeypatch, capsys)
    assert code == 0 and printed.count("superseded (a newer run of this arm, size and seed counts)") == 1, printed
    for status in STATUSES:  # every status a run is stored with is accepted too
        assert run_cli(["runs", str(tmp_path), "--status", status], monkeypatch, capsys)[0] == 0
    code, _, err = run_cli(["runs", str(tmp_path), "--status", "old"], monkeypatch, capsys)
    assert code == 2 and "--status must be one of pending, running, done, failed, diverged, superseded, got 'old'" in err


def test_check_leakage_counts_a_copied_review_as_the_command_does(toy_csv, tmp_path, monkeypatch, capsys):
    import pandas as pd

    from conftest import run_cli

    table = pd.read_csv(toy_csv)
    copied = pd.concat([table, table.iloc[:40]], ignore_index=True)  # 40 rows twice: some copies land across the split
    path = tmp_path / "copied.csv"
    copied.to_csv(path, index=False)
    report = headstart.check_leakage(str(path), examples=2)
    assert report.exact > headstart.check_leakage(str(toy_csv)).exact + 5 and report.data == "copied.csv"
    assert len(report.examples) == 2
    code, printed, err = run_cli(["check-leakage", "--data", str(path), "--examples", "2", "--json"], monkeypatch, capsys)
    said = json.loads(printed)  # the report, and the split it counted (the default here)
    assert code == 0 and {k: said[k] for k in report.to_dict()} == report.to_dict(), err
    assert said["split"] == headstart.SplitConfig().identity() and said["removed_from_test"] == 0


def test_runs_marks_a_cell_whose_claiming_compare_is_gone(tmp_path, monkeypatch, capsys):
    """A compare killed with -9 leaves its cell 'running'; runs listed it as running, though nothing trains it until the
    next compare takes it back. A cell claimed by a live process stays plain running."""
    import socket
    import subprocess
    import sys

    from conftest import run_cli

    from headstart.store import Store

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    spec = {"strategy": "linear-probe", "n": 16, "n_requested": 16, "backbone": "tiny", "data": {"name": "toy", "hash": "h"},
            "options": {}, "train": {}}
    with Store(tmp_path) as store:
        assert store.claim("dead", {**spec, "seed": 0}, f"{socket.gethostname()}:{gone.stdout.strip()}:x", 3600)
        assert store.claim("live", {**spec, "seed": 1}, f"{socket.gethostname()}:{os.getpid()}:y", 3600)
    rows = {r["key"]: r for r in headstart.runs(tmp_path)}
    assert rows["dead"]["abandoned"] and not rows["live"]["abandoned"]
    code, printed, _ = run_cli(["runs", str(tmp_path)], monkeypatch, capsys)
    lines = {line.split()[0]: line for line in printed.splitlines() if line.startswith(("dead", "live"))}
    assert code == 0 and lines["dead"].endswith("abandoned: the compare that claimed it is gone; compare again to train it")
    assert "abandoned" not in lines["live"]


def test_runs_tells_apart_the_runs_of_a_data_file_edited_between_two_compares(tmp_path, monkeypatch, capsys):
    """Two compares into one store on mine.csv before and after rows were appended: the report splits them into "data
    version ..." sections; runs listed four alike rows and its --json had no data hash."""
    from conftest import run_cli

    from headstart import analysis
    from headstart.results import RunResult
    from headstart.store import Store

    spec = {"strategy": "linear-probe", "n": 16, "n_requested": 16, "backbone": "tiny", "options": {}, "train": {}}
    with Store(tmp_path) as store:
        for version in ("53037f56aa", "e35a015bbb"):
            for seed in (0, 1):
                store.put(RunResult(key=f"{version[:4]}{seed}", spec={**spec, "seed": seed, "data": {
                    "name": "mine.csv", "hash": version}}, status="done", metrics={"accuracy": 0.5}, train_seconds=1.0))
        summary = analysis.summarize(store.results())
    sections = [summary["experiment"], *(e["experiment"] for e in summary["other_experiments"])]
    rows = headstart.runs(tmp_path)
    assert {r["key"]: r["experiment"] for r in rows} == {
        "53030": sections[1], "53031": sections[1], "e35a0": sections[0], "e35a1": sections[0]}, sections
    assert [r["data_hash"] for r in rows] == ["53037f56aa"] * 2 + ["e35a015bbb"] * 2
    code, printed, err = run_cli(["runs", str(tmp_path)], monkeypatch, capsys)
    lines = {line.split()[0]: line for line in printed.splitlines()[:-1]}
    assert code == 0 and "data version 53037f56  linear-probe" in lines["53030"], printed
    assert "data version e35a015b  linear-probe" in lines["e35a1"] and sections[0].endswith("data version e35a015b")
    code, printed, err = run_cli(["runs", str(tmp_path), "--json"], monkeypatch, capsys)
    assert json.loads(printed) == rows


def test_runs_names_no_data_version_where_the_store_holds_one(tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    from headstart.results import RunResult
    from headstart.store import Store

    spec = {"strategy": "linear-probe", "n": 16, "n_requested": 16, "backbone": "tiny", "options": {}, "train": {},
            "data": {"name": "mine.csv", "hash": "53037f56aa"}}
    with Store(tmp_path) as store:
        store.put(RunResult(key="only", spec={**spec, "seed": 0}, status="done", metrics={"accuracy": 0.5}))
    assert headstart.runs(tmp_path)[0]["data_hash"] == "53037f56aa"
    code, printed, _ = run_cli(["runs", str(tmp_path)], monkeypatch, capsys)
    assert code == 0 and "data version" not in printed and "only  done     linear-probe" in printed, printed
