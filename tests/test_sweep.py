"""Sweep: resumable after Ctrl-C and kill -9, no cell trained twice, same final table as an uninterrupted run.

Uses a tiny *real* Hugging Face BERT folder (random weights, the MiniLM tokenizer) on the real
rotten-tomatoes data, so the whole CLI path (local backbone folder, store, report) runs in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

HEADSTART = [sys.executable, "-m", "headstart.cli"]


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT saved as safetensors with the all-MiniLM-L6-v2 tokenizer."""
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    from headstart.backbones.registry import _minilm_dir

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(_minilm_dir() / name, folder / name)
    return folder


def compare_cmd(out: Path, backbone: Path, *extra: str) -> list[str]:
    return [*HEADSTART, "compare", "--backbone", str(backbone), "--strategies", "linear-probe,full-finetune",
            "--sizes", "8,16,32", "--seeds", "2", "--max-steps", "12", "--min-steps", "12", "--out", str(out), "--quiet", *extra]


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HEADSTART_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}


def rows(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "runs.sqlite") as conn:
        return conn.execute("SELECT key, status, created_at FROM runs ORDER BY key").fetchall()


def done_count(out: Path) -> int:
    try:
        with sqlite3.connect(out / "runs.sqlite", timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs WHERE status='done'").fetchone()[0]
    except sqlite3.Error:
        return 0


def curves(out: Path) -> list[dict]:
    table = json.loads((out / "results.json").read_text())["curves"]
    return sorted(({k: r[k] for k in ("strategy", "n", "mean", "ci_low", "ci_high", "seeds")} for r in table), key=lambda r: (r["strategy"], str(r["n"])))


def interrupt_after(cmd: list[str], out: Path, environ: dict[str, str], cells: int, sig: int) -> tuple[int, str]:
    """Run ``cmd``, which receives ``sig`` (SIGINT: a ctrl-c; SIGKILL) just after it stores its ``cells``-th cell
    (``headstart.killpoints``: a signal sent from outside once the store shows ``cells`` done races the sweep, which on
    a loaded machine may finish between two looks); return the exit code and what it wrote to stderr."""
    environ = {**environ, "HEADSTART_TEST_KILL_AT": f"sweep.recorded#{cells}",
               "HEADSTART_TEST_KILL_SIGNAL": "INT" if sig == signal.SIGINT else "KILL"}
    # An ignored or blocked SIGINT is inherited across exec, and in the full suite on two processes something earlier in
    # the test process (not pinned down) left the child deaf to it (exit 0): give the child the default disposition and
    # an unblocked SIGINT, so that its Python turns a ctrl-c into KeyboardInterrupt as it does in a terminal.
    def hear_ctrl_c() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    done = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=300, preexec_fn=hear_ctrl_c)
    return done.returncode, done.stderr


@pytest.fixture(scope="module")
def uninterrupted(tiny_backbone, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "store"
    result = subprocess.run(compare_cmd(out, tiny_backbone), env=env(out.parent), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "12 cells: 0 already done, 12 trained now" in result.stdout
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_interrupted_sweep_resumes_without_retraining(sig, tiny_backbone, uninterrupted, tmp_path):
    out = tmp_path / "store"
    code, stderr = interrupt_after(compare_cmd(out, tiny_backbone), out, env(tmp_path), cells=5, sig=sig)
    assert code != 0, f"it ran to the end after the signal; its stderr: {stderr[-2000:]}"  # interrupted, not finished
    before = {key: created for key, status, created in rows(out) if status == "done"}
    assert 5 <= len(before) < 12
    from headstart.report.render import render

    render(out)  # the report of a stopped compare names what it planned and has no result for, beside its choice
    written = (out / "report.md").read_text()
    assert f"**Not finished:** {12 - len(before)} of the last compare's 12 planned runs have no result: " in written
    noted = next(line for line in written.splitlines() if line.startswith("**Not finished:**"))
    assert "[" not in noted, f"arms as the report labels them, not with every default: {noted}"
    if sig == signal.SIGINT:  # a clean interrupt releases its claim at once, and says a re-run resumes
        assert all(status in ("done", "pending") for _, status, _ in rows(out))
        assert f"interrupted: {len(before)} of 12 cells stored; run the same command again to resume" in stderr, stderr[-500:]
    rerun = subprocess.run(compare_cmd(out, tiny_backbone), env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    after = rows(out)
    assert len(after) == 12 and all(status == "done" for _, status, _ in after)
    # Cells done before the interruption were not trained again: same row, same creation time.
    assert all(created == before[key] for key, _, created in after if key in before)
    assert f"{len(before)} already done, {12 - len(before)} trained now" in rerun.stdout
    assert curves(out) == curves(uninterrupted)
    assert "Not finished" not in (out / "report.md").read_text() and "not finished:" not in rerun.stdout


@pytest.mark.slow
def test_rerun_trains_nothing_and_new_size_trains_only_new_cells(tiny_backbone, uninterrupted, tmp_path):
    import shutil

    out = tmp_path / "store"
    shutil.copytree(uninterrupted, out)
    same = subprocess.run(compare_cmd(out, tiny_backbone), env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert "12 cells: 12 already done, 0 trained now" in same.stdout, same.stdout + same.stderr
    cmd = compare_cmd(out, tiny_backbone)
    cmd[cmd.index("--sizes") + 1] = "8,16,32,64"
    grown = subprocess.run(cmd, env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert "16 cells: 12 already done, 4 trained now" in grown.stdout, grown.stdout + grown.stderr
    for name in ("chart.png", "report.html", "report.md", "results.json"):
        assert (out / name).stat().st_size > 0


@pytest.mark.slow
def test_bad_sizes_exit_2_without_touching_the_store(tiny_backbone, uninterrupted, tmp_path):
    import shutil

    out = tmp_path / "store"
    shutil.copytree(uninterrupted, out)
    before = rows(out)
    for sizes, message in (("8,abc", "'abc'"), ("8,100000", "larger than the training pool")):
        cmd = compare_cmd(out, tiny_backbone)
        cmd[cmd.index("--sizes") + 1] = sizes
        result = subprocess.run(cmd, env=env(tmp_path), capture_output=True, text=True, timeout=300)
        assert result.returncode == 2
        assert result.stderr.startswith("error:") and message in result.stderr and "Traceback" not in result.stderr
    assert rows(out) == before


@pytest.mark.slow
def test_ctrl_c_with_workers_leaves_no_cell_running(tiny_backbone, uninterrupted, tmp_path):
    """Ctrl-C while two workers train: every claimed cell, submitted or about to be, goes back to pending."""
    out = tmp_path / "store"
    code, stderr = interrupt_after(compare_cmd(out, tiny_backbone, "--workers", "2"), out, env(tmp_path), cells=3, sig=signal.SIGINT)
    assert code != 0, stderr[-2000:]
    assert all(status in ("done", "pending") for _, status, _ in rows(out)), rows(out)
    assert "run the same command again to resume" in stderr, stderr[-500:]


@pytest.mark.slow
def test_workers_pool_gives_the_same_table(tiny_backbone, uninterrupted, tmp_path):
    out = tmp_path / "store"
    result = subprocess.run(compare_cmd(out, tiny_backbone, "--workers", "2"), env=env(tmp_path), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert curves(out) == curves(uninterrupted)


def test_python_compare_mirrors_the_cli_and_resumes(toy_csv, tiny_registry, tmp_path):
    import headstart
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=6, min_steps=6, batch_size=8, precision="fp32")
    kwargs = dict(backbone="tiny", strategies="linear-probe,full-finetune", sizes=[16, 32], seeds=2, out=tmp_path / "cmp",
                  config=cfg, tune=None)
    first = headstart.compare(str(toy_csv), **kwargs)
    assert (first.total, first.skipped, first.trained, first.statuses) == (8, 0, 8, {"done": 8})
    assert {(r["strategy"], r["n"]) for r in first.summary["curves"]} == {
        (s, n) for s in ("linear-probe", "full-finetune") for n in (16, 32)}
    assert first.recommendation and all(path.exists() for path in first.reports.values())
    assert first.leakage is not None and first.leakage.n_test > 0
    again = headstart.compare(str(toy_csv), **kwargs)
    assert (again.skipped, again.trained) == (8, 0), "re-running trains nothing already done"
    assert again.summary["curves"] == first.summary["curves"]
    for every in ("all", " ALL"):  # as --max-test all and a TOML's [split] max_test = "all" read it: no cap, the same cells
        same = headstart.compare(str(toy_csv), **kwargs, split={"max_test": every})
        assert (same.skipped, same.trained) == (8, 0)


def test_a_result_the_store_cannot_take_is_spooled_and_merged_by_the_next_compare(toy_csv, tiny_registry, tmp_path, monkeypatch, caplog):
    """A full disk (or a write lock held for minutes) at a result's commit used to crash compare with a traceback,
    lose the trained result and leave the row 'running'. Now the result waits in DIR/spool/ and the row is released;
    the next compare merges it without retraining."""
    import headstart
    from headstart.specs import TrainConfig
    from headstart.store import Store

    real_put, failed = Store.put, []

    def put(self, result):
        if not failed:
            failed.append(result.key)
            raise sqlite3.OperationalError("database or disk is full")
        real_put(self, result)

    monkeypatch.setattr(Store, "put", put)
    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    kwargs = dict(backbone="tiny", strategies="linear-probe", sizes=[16], seeds=2, out=tmp_path / "store", config=cfg, tune=None)
    with caplog.at_level("WARNING", logger="headstart"):
        first = headstart.compare(str(toy_csv), **kwargs)
    assert first.trained == 2
    (spooled,) = (tmp_path / "store" / "spool").glob("*.json")
    assert spooled.stem == failed[0]
    assert any("the disk is full" in r.getMessage() and "the next compare on" in r.getMessage() for r in caplog.records)
    with Store(tmp_path / "store") as store:
        assert {r.key: r.status for r in store.results()}[failed[0]] == "pending"
    again = headstart.compare(str(toy_csv), **kwargs)
    assert (again.skipped, again.trained) == (2, 0), "the spooled result counts: nothing is retrained"
    assert not list((tmp_path / "store" / "spool").glob("*.json"))
    with Store(tmp_path / "store") as store:
        assert all(r.status == "done" for r in store.results())


def test_a_folder_retrained_in_place_is_another_backbone(tiny_backbone, tmp_path):  # noqa: F811
    """Run keys and cached features name a local folder by its weights too: retraining a model into the same folder
    used to leave both unchanged, so compare skipped its cells as done and the probe read stale features."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from headstart.backbones import load_backbone
    from headstart.features import feature_key

    folder = tmp_path / "model"
    shutil.copytree(tiny_backbone, folder)
    before = load_backbone(str(folder)).describe()
    (weights,) = folder.glob("*.safetensors")
    tensors = load_file(str(weights))
    tensors = {k: v + 0.01 if v.is_floating_point() else v for k, v in tensors.items()}
    weights.unlink()
    save_file(tensors, str(weights), metadata={"format": "pt"})
    after = load_backbone(str(folder)).describe()
    assert before["source"] == after["source"] and before["weights"] != after["weights"]
    assert feature_key(before, "data") != feature_key(after, "data")
    assert load_backbone(str(folder)).describe() == after, "the same bytes give the same identity"
    assert "weights" not in load_backbone("all-minilm-l6-v2").describe(), "a registered backbone is pinned by its name"


def test_one_sweep_of_arms_reports_each_arm_as_its_own_row(toy_csv, tiny_registry, tmp_path):
    """partial-freeze at two depths and full fine-tuning with and without L2-SP in one compare: four labelled rows."""
    import headstart
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    arms = "partial-freeze[freeze=1],partial-freeze[freeze=2],full-finetune,full-finetune+l2sp[weight=0.1]"
    result = headstart.compare(str(toy_csv), backbone="tiny", arms=arms, sizes=[16], seeds=2, out=tmp_path / "arms",
                               config=cfg, tune=None)
    assert (result.total, result.trained) == (8, 8)
    labels = {r["strategy"] for r in result.summary["curves"]}
    assert labels == {"partial-freeze[freeze=1]", "partial-freeze[freeze=2]", "full-finetune", "full-finetune+l2sp"}, labels
    again = headstart.compare(str(toy_csv), backbone="tiny", arms=arms, sizes=[16], seeds=2, out=tmp_path / "arms",
                              config=cfg, tune=None)
    assert again.trained == 0


def test_runs_and_the_progress_line_name_each_run_by_its_arm(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """`headstart runs` labels rows as the report does, and the sweep's progress names the arm, not only its strategy:
    three full-finetune arms were three identical "full-finetune" lines before."""
    from headstart.specs import TrainConfig
    from test_cli import cli

    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    from headstart.sweep import run_sweep
    from headstart.sweep_spec import SweepSpec

    seen = []
    sweep = SweepSpec(data=str(toy_csv), backbone="tiny", arms="full-finetune,full-finetune+l2sp[weight=0.1],partial-freeze[freeze=1]",
                      sizes=(16,), seeds=1, train=cfg, tune=None)
    run_sweep(sweep, tmp_path / "arms", progress=lambda done, total, info: seen.append(info.get("cell")))
    assert {"full-finetune n=16 seed=0", "full-finetune+l2sp[weight=0.1] n=16 seed=0", "partial-freeze[freeze=1] n=16 seed=0"} <= set(seen), seen
    code, listed, _ = cli(["runs", str(tmp_path / "arms")], monkeypatch, capsys)
    assert code == 0 and {line.split()[2] for line in listed.splitlines()[:3]} == {"full-finetune", "full-finetune+l2sp",
                                                                                  "partial-freeze"}, listed
    assert all(" test accuracy 0." in line for line in listed.splitlines()[:3]), "the score is the test split's, and says so"
    code, out, _ = cli(["runs", str(tmp_path / "arms"), "--json"], monkeypatch, capsys)
    assert code == 0 and {r["arm"] for r in json.loads(out)} == {"full-finetune", "full-finetune+l2sp", "partial-freeze"}
    assert {r["split"] for r in json.loads(out)} == {"test"}


def test_one_sweep_over_two_backbones_gives_each_its_own_curves(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """--backbones tiny,tiny-bert: every arm on both, two experiments in one report, each with its curves and chart."""
    import headstart
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    result = headstart.compare(str(toy_csv), backbones="tiny,tiny-bert", strategies="linear-probe,full-finetune", sizes=[16],
                               seeds=2, out=tmp_path / "two", config=cfg, tune=None)
    assert (result.total, result.trained) == (8, 8)
    summaries = {result.summary["experiment"]: result.summary,
                 **{o["experiment"]: o["summary"] for o in result.summary["other_experiments"]}}
    assert {name.split(" · ")[1] for name in summaries} == {"tiny", "tiny-bert"}
    for summary in summaries.values():
        assert {(r["strategy"], r["seeds"]) for r in summary["curves"]} == {("linear-probe", 2), ("full-finetune", 2)}
    assert result.reports["chart-2.png"].read_bytes().startswith(b"\x89PNG")
    import contextlib
    import io

    from headstart.cli.summary import print_report
    from test_cli import cli

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        print_report(result.reports, tmp_path / "two")
    lines = printed.getvalue().splitlines()
    named = [line.removeprefix("experiment: ") for line in lines if line.startswith("experiment: ")]
    assert set(named) == set(summaries), "each backbone's experiment is printed, named"
    assert sum(line.startswith("recommendation: ") for line in lines) >= 2 and "never averaged or ranked together" in lines[-2]
    code, listed, _ = cli(["runs", str(tmp_path / "two")], monkeypatch, capsys)
    assert code == 0 and {line.split()[2] for line in listed.splitlines()[:-1]} == {"tiny", "tiny-bert"}, listed
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match="^backbones lists a backbone twice"):
        headstart.compare(str(toy_csv), backbones=["tiny", "tiny"], out=tmp_path / "dup")


def test_lora_at_two_ranks_and_lora_with_ewc_are_three_rows(toy_csv, tiny_registry, tmp_path):
    """The issue's example: lora[rank=4], lora[rank=16] and lora+ewc in one sweep report three labelled rows."""
    import headstart
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
    result = headstart.compare(str(toy_csv), backbone="tiny-bert", arms="lora[rank=4],lora[rank=16],lora+ewc[samples=8]",
                               sizes=[16], seeds=2, out=tmp_path / "lora", config=cfg, tune=None)
    assert result.trained == 6 and result.statuses == {"done": 6}
    rows = {r["strategy"]: r["seeds"] for r in result.summary["curves"]}
    assert len(rows) == 3 and set(rows.values()) == {2}, rows
    assert {"lora+ewc"} < set(rows) and any("rank=4" in label for label in rows) and any("rank=16" in label for label in rows), rows


def test_backbones_must_name_backbones_and_not_beside_backbone(monkeypatch, capsys, toy_csv, tmp_path):
    from headstart.errors import ConfigError
    from headstart.sweep_spec import SweepSpec

    for bad in (",", " , ", ("",)):
        with pytest.raises(ConfigError, match=r"^backbones must name backbones, e.g. backbones=\('all-minilm-l6-v2', "):
            SweepSpec(data=str(toy_csv), backbones=bad)
    from test_cli import assert_user_error, cli

    for backbone in ("tiny", "all-minilm-l6-v2"):  # the default's name too, as compare(backbone=..., backbones=...)
        assert_user_error(cli(["compare", "--data", str(toy_csv), "--backbone", backbone, "--backbones", "tiny,tiny-bert",
                               "--out", str(tmp_path / "x")], monkeypatch, capsys), "--backbone and --backbones both name the backbone")


def test_pool_workers_own_a_gpu_each_when_the_driver_may_use_every_gpu():
    from headstart.sweep_cell import worker_devices

    assert worker_devices(4, "cuda", 4) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert worker_devices(3, "cuda", 2) == ["cuda:0", "cuda:1", "cuda:0"], "more workers than GPUs: round robin"
    assert worker_devices(2, "cuda:1", 4) == ["cuda:1", "cuda:1"], "--device cuda:1 pins every worker"
    assert worker_devices(2, "cpu", 0) == ["cpu", "cpu"]


def test_a_pool_worker_takes_the_next_device_as_it_starts(monkeypatch):
    import multiprocessing
    import os

    from headstart.precision import DEVICE_ENV
    from headstart.sweep_cell import worker_init

    import torch

    import headstart.sweep_cell

    class Watchdog:  # recorded, not started: this test process is no pool worker and must not exit with its parent
        started: list = []

        def __init__(self, target, args, daemon):
            self.args = args

        def start(self):
            Watchdog.started.append(self.args)

    monkeypatch.setattr(headstart.sweep_cell.threading, "Thread", Watchdog)
    monkeypatch.setenv(DEVICE_ENV, "auto")
    threads = torch.get_num_threads()
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    seen = []
    try:
        for _ in range(3):
            worker_init(1, os.getppid(), ["cuda:0", "cuda:1"], counter)
            seen.append(os.environ[DEVICE_ENV])
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)  # the rest of this test process keeps its share of the cores
    assert seen == ["cuda:0", "cuda:1", "cuda:0"] and counter.value == 3
    assert Watchdog.started == [(os.getppid(),)] * 3


def test_compare_refuses_a_metric_the_task_lacks_before_any_cell(toy_csv, tiny_registry, tmp_path):
    """--metric rmse on a classification task was a KeyError at the first validation, after training had started."""
    import headstart
    from headstart.errors import ConfigError

    # metric is a keyword of compare's too (as train's --metric): the message names it as one
    with pytest.raises(ConfigError, match="^metric rmse is not scored on a classification task"):
        headstart.compare(str(toy_csv), "tiny", strategies="linear-probe", sizes="16", seeds=1, config={"metric": "rmse"},
                          out=tmp_path / "cmp", tune=None)
    assert not (tmp_path / "cmp" / "runs.sqlite").exists()


def _started_then_sleep(marker: str, seconds: float) -> None:
    """A pool cell that says it runs (``marker`` written), sleeps, then says it finished."""
    import pathlib
    import time

    pathlib.Path(marker).write_text("running")
    time.sleep(seconds)
    pathlib.Path(marker).write_text("finished")


def test_a_driver_stopped_alone_ends_its_workers_running_cells_instead_of_waiting_for_them(tmp_path):
    """SIGTERM sent to the driver alone (Kubernetes' PID 1, ``kill PID``) never reaches the pool's workers, as a Ctrl-C
    in a terminal does: leaving the pool must not wait for a running cell to finish, past the scheduler's grace period."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    from headstart.sweep_cell import stop_workers

    marker = tmp_path / "running"
    deadline = time.monotonic() + 300
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = pool.submit(_started_then_sleep, str(marker), 90)  # a cell that would train for a minute and a half
        queued = pool.submit(time.sleep, 90)
        workers = list(pool._processes.values())
        # the cell runs in the worker: a future reads "running" once queued to it, and a SIGTERM sent while the worker
        # is still starting (forked, not yet its own program) can be lost on a loaded machine
        while not (running.running() and marker.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        started = marker.exists()
        stop_workers(pool)
    assert started, "the pool's worker never started the cell"
    # the pool's exit waiting for the running cell lets it write "finished": a fact, not a wall-time threshold
    assert marker.read_text() == "running", "the pool's exit waited for the running cell"
    assert queued.cancelled() or queued.exception() is not None
    for worker in workers:  # sent SIGTERM: each ends within moments (on a loaded machine, not always by the exit)
        worker.join(timeout=120)
    assert workers and not any(worker.is_alive() for worker in workers)
    assert marker.read_text() == "running", "the cell was ended, not left to finish"


def _deaf_to_sigterm() -> None:
    """A pool worker's initializer: SIGTERM blocked, as in a worker started from a thread that held it blocked."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def test_a_worker_deaf_to_sigterm_is_killed_after_a_grace(tmp_path, monkeypatch):
    """A full suite met a worker that SIGTERM never reached (its spawning thread held the signal blocked, which exec
    keeps): it trained on for minutes past stop_workers. It is sent SIGKILL after ``TERM_GRACE_SECONDS``."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    import headstart.sweep_cell as sweep_cell

    monkeypatch.setattr(sweep_cell, "TERM_GRACE_SECONDS", 1.0, raising=False)
    marker = tmp_path / "running"
    deadline = time.monotonic() + 300
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_deaf_to_sigterm) as pool:
        running = pool.submit(_started_then_sleep, str(marker), 90)
        workers = list(pool._processes.values())
        while not (running.running() and marker.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the pool's worker never started the cell"
        sweep_cell.stop_workers(pool)
        assert workers and not any(worker.is_alive() for worker in workers), "a worker deaf to SIGTERM trains on"
    assert [worker.exitcode for worker in workers] == [-9] and marker.read_text() == "running"


def test_a_broken_pool_is_said_stopped_by_the_signal_one_worker_died_of():
    """A worker SIGTERMed from outside broke the pool; the pool then SIGTERMed the other, which, inside a run's
    interrupt handler, ended by exiting (code 1): 'died (killed, or out of memory?)' was said, now and then."""
    from types import SimpleNamespace

    from headstart.sweep import _stopped_by_signal

    def ended(*codes):
        return [SimpleNamespace(exitcode=c) for c in codes]

    assert _stopped_by_signal(ended(-15, 1)) == "SIGTERM"
    assert _stopped_by_signal(ended(-15, None)) == "SIGTERM"
    assert _stopped_by_signal(ended(-2, -15)) == "SIGINT"
    assert _stopped_by_signal(ended(-9, -15)) is None  # the OOM killer's SIGKILL is the cause
    assert _stopped_by_signal(ended(-11, 1)) is None
    assert _stopped_by_signal(ended(1)) is None and _stopped_by_signal(ended(None), wait_seconds=0.05) is None


def test_a_broken_pool_waits_for_the_dead_workers_exit_status():
    """The pool breaks when a dead worker's pipe closes, a moment before the kernel reports how it ended: read at once,
    no worker had an exit code, and a SIGTERM was said as 'died (killed, or out of memory?)' (CI, now and then)."""
    from headstart.sweep import _stopped_by_signal

    class Ending:
        def __init__(self, code, after):
            self.code, self.reads = code, after

        @property
        def exitcode(self):
            self.reads -= 1
            return self.code if self.reads < 0 else None

    assert _stopped_by_signal([Ending(-15, after=5), Ending(None, after=0)]) == "SIGTERM"


def test_the_bar_ends_full_and_says_how_many_cells_another_compare_took(tmp_path, monkeypatch):
    """Cells another live compare holds leave the ETA at their first failed claim, but the bar's count never reached
    them: it stopped at 2/3 (1 stored, 1 trained) with the third trained elsewhere. They now count as done from then, the
    line saying so, and the last update reads 3/3 though the held cell came last; one taken back counts again."""
    import socket
    import threading
    import time

    from headstart import sweep
    from headstart.results import RunResult
    from headstart.store import Store
    from headstart.sweep_eta import SweepEta

    def resolved(seed):
        return {"strategy": "linear-probe", "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
                "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        todo = [(r, key, r) for key, r in (("mine", resolved(0)), ("kept", resolved(1)))]
        monkeypatch.setattr(sweep, "run_cell", lambda spec, progress=None: RunResult("mine", dict(spec), "done"))
        with Store(tmp_path) as store:
            assert store.claim("kept", resolved(1), f"{socket.gethostname()}:{alive.pid}:y", 3600)
            outcome = sweep.SweepOutcome(total=3, skipped=1)
            eta = SweepEta(todo, lambda r: "arm", clock=time.monotonic)
            seen = []
            progress = eta.wrap(sweep._counting(lambda done, total, info: seen.append((done, total, info)), outcome, 1))
            sweep._run_cells(todo, store, f"{socket.gethostname()}:{os.getpid()}:me", tmp_path, outcome, progress, eta,
                             backend="local", address=None, workers=1)
        done, total, info = seen[-1]
        assert (done, total) == (3, 3) and info["taken"] == "1 by another compare" and info["eta_s"] == 0.0
        assert outcome.elsewhere == 1 and outcome.taken == ["kept"]
    finally:
        alive.kill()
        alive.wait()

    outcome = sweep.SweepOutcome(total=2, skipped=0)
    shown = []
    update = sweep._counting(lambda done, total, info: shown.append((done, total, info.get("taken"))), outcome, 0)
    outcome.taken.append("k")
    update(0.5, 2, {})
    outcome.taken.remove("k")  # taken back on the retry: this sweep's again
    update(1, 2, {})
    assert shown == [(1.5, 2, "1 by another compare"), (1, 2, None)]


def test_a_running_compare_takes_the_cell_of_one_killed_meanwhile(tmp_path, monkeypatch):
    """Two compares on one store, one killed with -9 while it held a cell the other had skipped: the survivor ended with
    "1 taken by another compare", and nothing trained the cell until a new compare started. It now tries the cells it
    skipped once more at its end, and takes the one whose owner is gone from this host (a live owner keeps its own)."""
    import socket
    import threading
    import time

    from headstart import sweep
    from headstart.results import RunResult
    from headstart.store import Store
    from headstart.sweep_eta import SweepEta

    def resolved(seed):
        return {"strategy": "linear-probe", "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
                "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        host = socket.gethostname()
        todo = [(None, key, resolved(seed)) for seed, key in enumerate(("held", "mine", "kept"))]
        trained = []

        def run_cell(spec, progress=None):
            key = next(k for _, k, r in todo if r is spec)
            if key == "mine":  # the other compare is killed while this one trains
                other.kill()
                other.wait()
            trained.append(key)
            return RunResult(key, dict(spec), "done", metrics={"accuracy": 0.5})

        monkeypatch.setattr(sweep, "run_cell", run_cell)
        todo = [(r, key, r) for _, key, r in todo]
        with Store(tmp_path) as store:
            assert store.claim("held", resolved(0), f"{host}:{other.pid}:x", 3600)
            assert store.claim("kept", resolved(2), f"{host}:{alive.pid}:y", 3600)
            outcome = sweep.SweepOutcome(total=3, skipped=0)
            heartbeat = type("Beat", (), {"lock": threading.Lock(), "active": {}})()
            sweep._run_inline(todo, store, f"{host}:{os.getpid()}:me", heartbeat, outcome, None,
                              SweepEta(todo, lambda r: "arm", clock=time.monotonic))
            assert trained == ["mine", "held"] and outcome.trained == 2 and outcome.elsewhere == 1
            assert {r.key for r in store.results("done")} == {"mine", "held"} and store.get("kept").status == "running"
    finally:
        for process in (other, alive):
            process.kill()
            process.wait()
