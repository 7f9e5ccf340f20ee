"""What survives a crash: kill -9 at chosen and random moments of a real ``headstart compare``, two compares on
one store at once, a run directory killed half-saved, and a source check that every artefact write is atomic.

Kill points come from ``headstart.killpoints`` (``HEADSTART_TEST_KILL_AT=POINT[#K]``): the process SIGKILLs itself
inside a store transaction before COMMIT, or between an artefact's temp file and its rename. The tiny real BERT
folder and the helpers come from tests/test_sweep.py.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import multiprocessing
import random
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from test_sweep import HEADSTART, curves, env, tiny_backbone  # noqa: F401  (tiny_backbone is a fixture)

PACKAGE = Path(__file__).resolve().parents[1] / "headstart"
CELLS = 8  # 2 strategies x 2 sizes x 2 seeds


def sweep_cmd(out: Path, backbone: Path) -> list[str]:
    """8 cells of 12 steps; --no-tune: one training per cell keeps the kills and their counts simple."""
    return [*HEADSTART, "compare", "--backbone", str(backbone), "--strategies", "linear-probe,full-finetune", "--sizes", "8,16",
            "--seeds", "2", "--max-steps", "12", "--min-steps", "12", "--no-tune", "--out", str(out), "--quiet"]


def store_rows(out: Path) -> list[tuple]:
    """(key, status, owner, created_at, updated_at) of every row; [] before the store has its tables."""
    if not (out / "runs.sqlite").exists():
        return []
    with sqlite3.connect(out / "runs.sqlite", timeout=30) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='runs'").fetchone():
            return []
        return conn.execute("SELECT key, status, owner, created_at, updated_at FROM runs ORDER BY key").fetchall()


def assert_nothing_torn(out: Path, cache: Path) -> None:
    """Every artefact on disk is whole: the store passes SQLite's integrity check, every JSON parses, the PNG
    ends with its IEND chunk, every cached feature file loads."""
    from safetensors.torch import load_file

    if (out / "runs.sqlite").exists():
        with sqlite3.connect(out / "runs.sqlite", timeout=30) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for name in ("results.json", "leakage.json"):
        if (out / name).exists():
            json.loads((out / name).read_text())
    if (out / "chart.png").exists():
        png = (out / "chart.png").read_bytes()
        assert png.startswith(b"\x89PNG") and png.endswith(b"IEND\xaeB`\x82")
    if (out / "report.md").exists():
        assert (out / "report.md").read_text().startswith("#")
    for path in (cache / "features").glob("*.safetensors"):
        assert set(load_file(str(path))) == {"features", "done", "seconds"}


@pytest.fixture(scope="module")
def straight(tiny_backbone, tmp_path_factory) -> Path:  # noqa: F811
    """The sweep run once, uninterrupted: the table every interrupted run must end with."""
    out = tmp_path_factory.mktemp("straight") / "store"
    result = subprocess.run(sweep_cmd(out, tiny_backbone), env=env(out.parent), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"{CELLS} cells: 0 already done, {CELLS} trained now" in result.stdout
    return out


def done_count(out: Path) -> int:
    return sum(status == "done" for _, status, *_ in store_rows(out))


# (kill point, what is on disk when it fires); an int k instead of a point: a seeded random moment after the
# sweep has k cells done (somewhere in training, evaluating or writing the next cell).
TRIALS = [
    ("store.open", "the store file exists, WAL on, no tables yet: the very first write"),
    ("write:features.safetensors", "the feature cache's temp file is written, not yet renamed"),
    ("store.commit#5", "the first cell trained; its result row written inside the transaction, not committed"),
    (2, "a seeded random moment, 2 cells done"),
    ("write:leakage.json", "leakage.json's temp file is written, not yet renamed"),
    (5, "a seeded random moment, 5 cells done"),
    ("write:results.json", "every cell done, the report half written (chart, html, md new; results.json not)"),
]


def kill_at_random(cmd: list[str], out: Path, environ: dict[str, str], cells: int, rng: random.Random) -> tuple[int, str]:
    """Start ``cmd``; once ``cells`` cells are done, wait a random 0-3 s and SIGKILL it. Returns (exit code, when)."""
    proc = subprocess.Popen(cmd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    delay = round(rng.uniform(0.0, 3.0), 2)
    deadline = time.time() + 300
    while done_count(out) < cells and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode, f"{delay} s after {cells} cells were done"


@pytest.mark.slow
def test_kill_9_at_write_points_and_random_moments_then_rerun(tiny_backbone, straight, tmp_path, capsys):  # noqa: F811
    """Kill, re-run, kill the re-run...: no kill leaves a torn file or retrains a done cell, and the last run ends
    with the uninterrupted run's table."""
    out, environ = tmp_path / "store", env(tmp_path)
    rng = random.Random(7)
    table = []
    for point, what in TRIALS:
        before = {key: created for key, status, _, created, _ in store_rows(out) if status == "done"}
        if isinstance(point, int):
            code, what = kill_at_random(sweep_cmd(out, tiny_backbone), out, environ, point, rng)
        else:
            proc = subprocess.run(sweep_cmd(out, tiny_backbone), env={**environ, "HEADSTART_TEST_KILL_AT": point},
                                  capture_output=True, text=True, timeout=600)
            code = proc.returncode
        # A random kill may come after a fast machine finished the sweep; a kill point always fires.
        assert code == -signal.SIGKILL or (isinstance(point, int) and code == 0), (point, code)
        assert_nothing_torn(out, tmp_path / "cache")
        after = store_rows(out)
        # A cell done before the kill is untouched: same row, never claimed or trained again.
        assert all(status == "done" and created == before[key] for key, status, _, created, _ in after if key in before)
        running = sum(status == "running" for _, status, *_ in after)
        table.append((f"`{point}`" if isinstance(point, str) else "random", what, len(before), done_count(out), running))
    rerun = subprocess.run(sweep_cmd(out, tiny_backbone), env=environ, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    final = store_rows(out)
    assert len(final) == CELLS and {key for key, *_ in final} == {key for key, *_ in store_rows(straight)}
    assert all(status == "done" and owner is None for _, status, owner, *_ in final)
    assert curves(out) == curves(straight)
    assert_nothing_torn(out, tmp_path / "cache")
    summary = next(line for line in rerun.stdout.splitlines() if " cells: " in line)
    with capsys.disabled():  # the table in docs/RELIABILITY.md
        print("\n| trial | kill point | cells done before | done after the kill | left `running` |")
        for i, (point, what, before, done, running) in enumerate(table, 1):
            print(f"| {i} | {point}: {what} | {before} | {done} | {running} |")
        print(f"| re-run | none: `{summary}` | {table[-1][3]} | {done_count(out)} | 0 |")


@pytest.mark.slow
def test_two_compares_at_once_train_each_cell_once(tiny_backbone, straight, tmp_path, capsys):  # noqa: F811
    """The same command started twice at once on one store (--workers 1 each): the store stays whole, each cell
    is trained by exactly one of them, and the report equals a single run's."""
    out, environ = tmp_path / "store", env(tmp_path)
    procs = [subprocess.Popen(sweep_cmd(out, tiny_backbone), env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    trained = [int(re.search(r"(\d+) trained now", stdout).group(1)) for stdout, _ in outputs]
    assert sum(trained) == CELLS, trained  # a cell trained by both would be counted twice
    for (stdout, _), mine in zip(outputs, trained):  # each count line adds up: the cells the other took are said
        line = next(line for line in stdout.splitlines() if " cells: " in line)
        done = int(re.search(r"(\d+) already done", line).group(1))
        taken = re.search(r", (\d+) taken by another compare on this store", line)
        assert done + mine + (int(taken.group(1)) if taken else 0) == CELLS, line
    final = store_rows(out)
    assert len(final) == CELLS and all(status == "done" for _, status, *_ in final)
    assert_nothing_torn(out, tmp_path / "cache")
    assert curves(out) == curves(straight)
    with capsys.disabled():
        print(f"\ntwo compares at once: trained {trained[0]} + {trained[1]} = {sum(trained)} of {CELLS} cells")



@pytest.mark.slow
def test_a_worker_killed_mid_cell_gives_one_error_line_and_the_rerun_finishes(tiny_backbone, straight, tmp_path):  # noqa: F811
    """``--workers 2``: a worker process dies (as under the OOM killer) while it computes the feature cache. The
    driver says so in one line, leaves no cell ``running``, and the re-run ends with the uninterrupted table."""
    out, environ = tmp_path / "store", env(tmp_path)
    cmd = [*sweep_cmd(out, tiny_backbone), "--workers", "2"]
    killed = subprocess.run(cmd, env={**environ, "HEADSTART_TEST_KILL_AT": "write:features.safetensors"}, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == 2, killed.stderr
    assert killed.stderr.startswith("error: a worker process died") and "Traceback" not in killed.stderr, killed.stderr
    assert "running" not in {status for _, status, *_ in store_rows(out)}
    rerun = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert all(status == "done" for _, status, *_ in store_rows(out)) and len(store_rows(out)) == CELLS
    assert curves(out) == curves(straight)

# ---- fast: the store and a run directory ------------------------------------------------------------------


def _open_store(path: str, barrier, results) -> None:
    from headstart.store import Store

    barrier.wait()
    try:
        with Store(path) as store:
            store.set_sweep("test", {})
        results.put("ok")
    except Exception as e:  # reported to the parent, which asserts on it
        results.put(f"{type(e).__name__}: {e}")


def test_many_processes_create_one_store_at_once(tmp_path):
    """Two compares starting together on a new --out. Before the fix about 1 trial in 4 (8 processes) failed with
    "database is locked" from PRAGMA journal_mode=WAL, which does not always wait on the busy timeout."""
    context = multiprocessing.get_context("fork")
    for trial in range(15):
        barrier, results = context.Barrier(8), context.Queue()
        procs = [context.Process(target=_open_store, args=(str(tmp_path / f"s{trial}"), barrier, results)) for _ in range(8)]
        for p in procs:
            p.start()
        outcome = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join()
        assert outcome == ["ok"] * 8, outcome




@pytest.mark.parametrize("dies_at", ["weights.safetensors", "metrics.json", "spec.json"])
def test_a_run_directory_killed_half_saved_is_still_the_old_run(dies_at, toy_csv, tiny_registry, tmp_path, monkeypatch):
    """Re-training into an existing directory and dying between two of its files never leaves a loadable mix
    (new weights under the old spec, or a new run under old metrics)."""
    import headstart
    import headstart.saved as run_module
    from headstart.recipe import setup, train
    from headstart.errors import StoreError
    from headstart.saved import load_run
    from headstart.specs import RunSpec, TrainConfig

    config = TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32")
    out = tmp_path / "run"
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, seed=0, out=out, config=config)
    texts = ["good great film", "awful dull plot"]
    old = headstart.predict(out, texts)
    s = setup(RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, seed=1, train=config))
    report = train(s)

    class Died(BaseException):
        pass

    real_json, real_atomic = run_module.write_json, run_module.write_atomic

    def write_json(path, payload):
        if path.name == dies_at:
            raise Died
        real_json(path, payload)

    def write_atomic(path, data, **kwargs):
        if path.name == dies_at:
            raise Died
        real_atomic(path, data, **kwargs)

    monkeypatch.setattr(run_module, "write_json", write_json)
    monkeypatch.setattr(run_module, "write_atomic", write_atomic)
    with pytest.raises(Died):
        run_module.save(s, report, out)
    loaded = load_run(out)  # never refused: the new run was being built beside the old one, which is untouched
    assert loaded.resolved["seed"] == 0 and headstart.predict(out, texts) == old  # the old run, whole
    assert json.loads((out / "metrics.json").read_text())["steps"] == 6
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "the staging directory is removed"
    monkeypatch.setattr(run_module, "write_json", real_json)
    monkeypatch.setattr(run_module, "write_atomic", real_atomic)
    run_module.save(s, report, out)  # and a save that completes replaces it whole
    assert load_run(out).resolved["seed"] == 1 and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_directory_of_other_files_is_never_replaced_by_a_run(toy_csv, tiny_registry, tmp_path):
    import headstart
    from headstart.errors import ConfigError
    from headstart.specs import TrainConfig

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds files headstart did not write \\(notes.txt, toy.csv\\), not a saved run .*; nothing was written there"):
        headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=32, out=tmp_path,
                      config=TrainConfig(max_steps=2, min_steps=2, precision="fp32"))
    assert (tmp_path / "notes.txt").read_text() == "mine"


# ---- every artefact write goes through a temp file and os.replace ---------------------------------------

WRITES = {"write_text", "write_bytes", "save_file", "to_csv", "to_parquet", "save_pretrained", "savefig", "copyfile", "fdopen"}


def _writes(tree: ast.AST) -> list[tuple[ast.FunctionDef, ast.Call, str]]:
    found = []
    for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            mode = next((a.value for a in call.args[1:2] if isinstance(a, ast.Constant)), "r")
            if name == "to_csv" and not call.args and not any(k.arg == "path_or_buf" for k in call.keywords):
                continue  # DataFrame.to_csv() with no path returns the text, which write_atomic then writes
            if name in WRITES or (name == "open" and any(c in str(mode) for c in "wax")):
                found.append((func, call, name))
    return found


def test_every_artefact_write_goes_through_a_temp_file_and_os_replace():
    """A user-visible file is written only as a temp file that ``os.replace`` then moves into place: a kill
    leaves the old file or the new one, never half of one. (Matplotlib's ``savefig`` writes to a BytesIO.)"""
    checked = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        writes = _writes(tree)
        # atomic.write_directory fills a staging directory and swaps it in with os.replace: a write inside a function
        # passed to it (nested in the function that calls it) lands atomically too; atomic.publish os.replace()s a folder;
        # atomic.write_atomic hands a writer its new temp file's path (save_file streams a large file into it).
        swapping = {id(call) for func, call, _ in writes
                    if any(move in ast.unparse(func) for move in ("os.replace", "write_directory(", "publish(", "write_atomic("))}
        for func, call, name in writes:
            where = f"{path.relative_to(PACKAGE.parent)}:{call.lineno} {func.name}"
            if name in ("write_text", "write_bytes"):
                target = ast.unparse(call.func.value)  # path.write_text(data)
            else:  # save_file(tensors, path), copyfile(src, path); the others take the path first
                target = ast.unparse(call.args[1] if name in ("save_file", "copyfile") else call.args[0])
            if name == "savefig":
                assert target == "buf", f"{where}: savefig must draw into memory, got {target}"
                continue
            if target == "buf":  # into an in-memory buffer (io.BytesIO), written out elsewhere
                continue
            if name == "open" and target.endswith("'.report.lock'"):
                continue  # opened to hold a lock on, never written
            assert "tmp" in target or name == "fdopen", f"{where}: {name}({target}) does not write a temp file"
            assert id(call) in swapping, f"{where}: writes {target} but never os.replace()s it into place"
            checked.append(where)
    assert len(checked) >= 10, checked  # the scan found the package's writes (run, features, report, adapters, cli, ...)


def test_two_reports_rendered_at_once_end_with_the_newer_store(tmp_path, monkeypatch):
    """Two compares on one store each render the report when their loop ends. The one that finished first read
    the store before the other's last cell was done; if its (slower) write landed last, the final report missed
    that cell. Renders are serialised, so the last to write is the last to read."""
    import importlib
    import threading

    from headstart.results import RunResult
    from headstart.store import Store

    render = importlib.import_module("headstart.report.render")

    def result(seed: int) -> RunResult:
        spec = {"strategy": "linear-probe", "n": 8, "n_requested": 8, "seed": seed, "backbone": "tiny",
                "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
        return RunResult(key=f"cell{seed}", spec=spec, status="done", metrics={"accuracy": 0.5 + seed / 10})

    with Store(tmp_path) as store:
        store.put(result(0))
    render.render(tmp_path)  # matplotlib imported: both renders below take their usual time
    real_chart, drawing = render.chart_png, threading.Event()

    def slow_chart(summary, *, title):
        png = real_chart(summary, title=title)
        if not drawing.is_set():
            drawing.set()
            time.sleep(2.0)  # the first compare's report takes a while to draw...
        return png

    failed: list[BaseException] = []

    def first_render() -> None:  # its error is the test's: a thread's own is only a warning, and the test passed on it
        try:
            render.render(tmp_path)
        except BaseException as e:  # noqa: BLE001 - re-raised below, in the test's thread
            failed.append(e)
            drawing.set()

    monkeypatch.setattr(render, "chart_png", slow_chart)
    first = threading.Thread(target=first_render)
    first.start()
    assert drawing.wait(300), "the first render never drew its chart"
    if not failed:
        with Store(tmp_path) as store:  # ...while the other compare finishes the last cell and renders
            store.put(result(1))
        render.render(tmp_path)
    first.join()
    if failed:
        raise failed[0]
    assert json.loads((tmp_path / "results.json").read_text())["curves"][0]["seeds"] == 2


# ---- a cell that diverges does not stop the sweep ---------------------------------------------------------

DIVERGING_SWEEP = """\
strategies = ["linear-probe", "full-finetune"]
sizes = [8, 16]
seeds = 1
tune = false  # the learning rate below, not one chosen from the strategy's grid

[train]
max_steps = 12
min_steps = 12

[train_by_strategy.full-finetune]
lr = 1e4  # lr = 10 stays finite on this tiny BERT (gradient clipping): see docs/RELIABILITY.md
"""


@pytest.mark.slow
def test_a_diverging_cell_is_recorded_and_the_sweep_goes_on(tiny_backbone, tmp_path):  # noqa: F811
    (tmp_path / "sweep.toml").write_text(DIVERGING_SWEEP)
    out = tmp_path / "store"
    cmd = [*HEADSTART, "compare", "--config", str(tmp_path / "sweep.toml"), "--backbone", str(tiny_backbone), "--out", str(out), "--quiet"]
    first = subprocess.run(cmd, env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "4 cells: 0 already done, 4 trained now (2 diverged, 2 done)" in first.stdout
    with sqlite3.connect(out / "runs.sqlite") as conn:
        rows = conn.execute("SELECT strategy, n, status, error, steps, updated_at FROM runs ORDER BY strategy, n").fetchall()
    assert [(s, n, status) for s, n, status, *_ in rows] == [
        ("full-finetune", 8, "diverged"), ("full-finetune", 16, "diverged"), ("linear-probe", 8, "done"), ("linear-probe", 16, "done")]
    for _, _, status, error, steps, _ in rows[:2]:
        step = int(re.search(r"loss became nan at step (\d+) in phase 'finetune'; lower the learning rate", error).group(1))
        assert steps == step - 1  # the steps before the one whose loss was not finite
    report = (out / "report.md").read_text()
    assert "## Failed and diverged runs" in report and "loss became nan at step" in report
    counts = {(c["strategy"], c["n"]): c for c in json.loads((out / "results.json").read_text())["counts"]}
    assert counts[("full-finetune", 8)]["diverged"] == 1 and "loss became nan" in counts[("full-finetune", 8)]["errors"][0]
    assert counts[("linear-probe", 8)]["done"] == 1
    # A diverged cell is final: a re-run does not train it again (it would diverge again).
    again = subprocess.run(cmd, env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert "4 cells: 4 already done, 0 trained now" in again.stdout, again.stdout + again.stderr
    with sqlite3.connect(out / "runs.sqlite") as conn:
        assert conn.execute("SELECT strategy, n, status, error, steps, updated_at FROM runs ORDER BY strategy, n").fetchall() == rows


def _headstart_processes(root: int) -> list[int]:
    """Live processes whose command line runs headstart's pool workers or the driver, descended from nothing we know:
    every process whose environment carries this test's marker."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == root:
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"HEADSTART_TEST_MARKER=orphans" in environ:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killing_a_compare_with_workers_leaves_no_process_behind(sig, tiny_backbone, tmp_path):  # noqa: F811
    """kill -9 (or SIGTERM) of ``compare --workers 2``: no headstart process is left (the workers used to live on with
    parent 1, holding the terminal). 120 s, not the ~1 s it takes on a quiet machine: a worker in the middle of a step
    under load ~7 took longer than 5 s to exit, and an orphan lives on for good."""
    out = tmp_path / "store"
    cmd = [*sweep_cmd(out, tiny_backbone), "--workers", "2", "--max-steps", "400", "--min-steps", "400"]
    driver = subprocess.Popen(cmd, env={**env(tmp_path), "HEADSTART_TEST_MARKER": "orphans"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(_headstart_processes(0)) < 3 and time.monotonic() < deadline:  # the driver and both workers
        time.sleep(0.2)
    while "running" not in {status for _, status, *_ in store_rows(out)} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_headstart_processes(0)) >= 3, "the workers never started"
    driver.send_signal(sig)
    driver.wait(timeout=120)  # SIGTERM: it releases its cells and stops its workers first
    deadline = time.monotonic() + 120
    while _headstart_processes(0) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _headstart_processes(0)
    for pid in left:  # do not leave them to the rest of the suite
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert left == [], f"{len(left)} process(es) outlived the driver by 120 s"


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_runs_files_get_the_mode_any_new_file_gets(umask, toy_csv, tiny_registry, tmp_path):
    """safetensors and mkstemp write owner-only (0600) temp files; once in place, a run's, a merge's and an export's
    files have the mode an ordinary new file gets under the user's umask, like the JSON beside them."""
    import headstart
    from headstart.adapters import merge
    from headstart.export import export
    from headstart.specs import TrainConfig

    old = os.umask(umask)
    try:
        config = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
        headstart.fit(str(toy_csv), "tiny-bert", strategy="lora", n=32, seed=0, out=tmp_path / "lora", config=config)
        merge(tmp_path / "lora", tmp_path / "merged")
        export(tmp_path / "lora", tmp_path / "hf")
    finally:
        os.umask(old)
    files = [p for folder in ("lora", "merged", "hf") for p in (tmp_path / folder).rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"weights.safetensors", "adapter_model.safetensors", "model.safetensors", "spec.json"}
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {oct(0o666 & ~umask)}, modes


def test_a_write_that_cannot_start_is_one_line_that_callers_still_read_as_an_oserror(tmp_path, monkeypatch):
    """write_atomic's failure to make its temp file is a StoreError (one line for the CLI) and an OSError, so the
    spool's own message — which result was lost, how to recover — still reaches the user."""
    import errno
    import tempfile

    from headstart.errors import StoreError, WriteError
    from headstart.results import RunResult
    from headstart.spool import spool

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    result = RunResult(key="k", spec={"strategy": "lora", "n_requested": 16, "seed": 0}, status="done")
    with pytest.raises(StoreError, match=r"could not store the result of lora n=16 seed=0 .*No space left on device.*free disk space"):
        spool(tmp_path, result, RuntimeError("database is locked"))
    from headstart.atomic import write_atomic

    with pytest.raises(WriteError, match=r"\(No space left on device\); free disk space$") as caught:
        write_atomic(tmp_path / "x.json", b"{}")
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC


def test_folders_built_beside_their_place_are_new_and_shared_as_any_folder(tmp_path):
    """fresh_folder's names are never guessable (mkdtemp) and the folder a run becomes keeps the usual mode, not 0700."""
    import os
    import stat

    from headstart.atomic import fresh_folder, write_directory

    umask = os.umask(0)
    os.umask(umask)
    first, second = fresh_folder(tmp_path / "run", "tmp"), fresh_folder(tmp_path / "run", "tmp")
    assert first != second and first.name.startswith(".run.") and not any(first.iterdir())
    out = write_directory(tmp_path / "out", lambda d: (d / "spec.json").write_text("{}"), is_replaceable=lambda p: True, what="run")
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((out / "spec.json").stat().st_mode) == 0o666 & ~umask


def test_a_ctrl_c_during_a_runs_swap_never_leaves_its_folder_missing(tmp_path, monkeypatch):
    """write_directory swaps a run in with two renames (the old folder aside, the new one in): a Ctrl-C between them
    left no folder at all, the old run gone with it. One that comes then is delivered once both are done; a rename
    that fails puts the old folder back."""
    import os
    import signal

    from headstart.atomic import write_directory

    out = tmp_path / "run"
    out.mkdir()
    (out / "spec.json").write_text("old")
    real = os.replace
    calls = []

    def ctrl_c_at_the_first(source, target):
        calls.append(target)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Python raises at its next instruction: before the rename below
        real(source, target)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        monkeypatch.setattr(os, "replace", ctrl_c_at_the_first)
        with pytest.raises(KeyboardInterrupt):
            write_directory(out, lambda d: (d / "spec.json").write_text("new"), is_replaceable=lambda p: True, what="run")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (out / "spec.json").read_text() == "new" and len(calls) == 2, "the swap finished before the Ctrl-C was raised"
    assert [p.name for p in tmp_path.iterdir()] == ["run"], "nothing left beside it: the staging and old folders are gone"

    def fails_at_the_second(source, target):
        calls.append(target)
        if len(calls) == 4:
            raise OSError(5, "Input/output error")
        real(source, target)

    monkeypatch.setattr(os, "replace", fails_at_the_second)
    with pytest.raises(OSError):
        write_directory(out, lambda d: (d / "spec.json").write_text("newer"), is_replaceable=lambda p: True, what="run")
    assert (out / "spec.json").read_text() == "new", "the old folder is put back"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]

    def both_fail(source, target):  # the new folder's rename fails, and so does putting the old one back
        calls.append(target)
        if len(calls) in (7, 8):
            raise OSError(5, "Input/output error")
        real(source, target)

    monkeypatch.setattr(os, "replace", both_fail)
    with pytest.raises(OSError):
        write_directory(out, lambda d: (d / "spec.json").write_text("newest"), is_replaceable=lambda p: True, what="run")
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].name.startswith(".run.") and left[0].name.endswith(".old"), left
    assert (left[0] / "spec.json").read_text() == "new", "the only copy of the old run is kept where it was moved aside"


@pytest.mark.slow
def test_a_worker_stopped_by_sigterm_is_said_so_not_called_out_of_memory(tiny_backbone, tmp_path):  # noqa: F811
    """``--workers 2``: a worker SIGTERMed from outside (``kill`` of a worker, or a scheduler's stop reaching workers
    before the driver) was said to have "died (killed, or out of memory?)"; the line names the signal, and the finished
    cells are stored for the same command to resume."""
    out, environ = tmp_path / "store", env(tmp_path)
    cmd = [*sweep_cmd(out, tiny_backbone), "--workers", "2"]
    stopped = subprocess.run(cmd, env={**environ, "HEADSTART_TEST_KILL_AT": "write:features.safetensors",
                                       "HEADSTART_TEST_KILL_SIGNAL": "TERM"}, capture_output=True, text=True, timeout=600)
    assert "out of memory" not in stopped.stderr and "SIGTERM" in stopped.stderr and "Traceback" not in stopped.stderr, \
        stopped.stderr
    assert len(stopped.stderr.strip().splitlines()) == 1, stopped.stderr
    assert "running" not in {status for _, status, *_ in store_rows(out)}
