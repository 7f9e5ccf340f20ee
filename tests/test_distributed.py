"""One run across processes (``headstart.distributed``, ``train --nproc N``): the same result as one process with the
same global batch, rank 0 alone writes, bad --nproc is one line and exit 2."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_toy, run_cli
from headstart.distributed import Group, check_nproc, forbid_writes, usable_cpus
from headstart.errors import ConfigError
from headstart.recipe import setup, train
from headstart.specs import RunSpec, TrainConfig

needs_two = pytest.mark.skipif(usable_cpus() < 2, reason="--nproc 2 needs two CPUs")


def dropout_free_bert():
    """A 2-layer, 32-wide random BERT without dropout (masks cannot match across a split batch) and the MiniLM tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from headstart.backbones.registry import _minilm_dir
    from headstart.backbones.text import TextBackbone

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertModel(config, add_pooling_layer=False).eval()
    return TextBackbone(model, AutoTokenizer.from_pretrained(_minilm_dir()), name="tiny-bert", source="tests", max_length=32)


def trained(nproc: int, *, strategy: str, data, cfg: TrainConfig, n: int = 48):
    """(state dict, validation outputs, report) of ``strategy`` on ``data`` trained across ``nproc`` processes."""
    s = setup(RunSpec(data="toy", backbone="tiny-bert", strategy=strategy, n=n, seed=1, train=cfg), data=data,
              pretrained=dropout_free_bert())
    report = train(s, nproc=nproc)
    s.model.eval()
    with torch.no_grad():
        batch = s.model.backbone.collate([s.encoded[r] for r in s.splits.val])
        outputs = s.model(batch)
    return {k: v.detach().clone() for k, v in s.model.state_dict().items()}, outputs, report


def assert_same(one, two) -> None:
    (w1, out1, r1), (w2, out2, r2) = one, two
    assert r1.status == r2.status == "done"
    assert (r1.steps, r1.best_step) == (r2.steps, r2.best_step)
    assert [h["step"] for h in r1.history] == [h["step"] for h in r2.history]
    assert r1.val_metrics["accuracy"] == r2.val_metrics["accuracy"]
    for key in w1:
        torch.testing.assert_close(w1[key], w2[key], atol=1e-5, rtol=1e-5, msg=key)
    torch.testing.assert_close(out1, out2, atol=1e-5, rtol=1e-5)


@needs_two
def test_two_processes_equal_one_with_the_same_global_batch():
    """8 rows a micro-batch x 2 accumulated: each rank 4 of each; the gradients summed give the one-process step."""
    cfg = TrainConfig(lr=1e-3, head_lr=1e-2, max_steps=10, min_steps=10, batch_size=8, accumulate=2, evals_per_phase=3,
                      precision="fp32", patience=0)
    data = make_toy(200)
    one = trained(1, strategy="full-finetune", data=data, cfg=cfg)
    two = trained(2, strategy="full-finetune", data=data, cfg=cfg)
    assert_same(one, two)
    assert not torch.allclose(one[0]["backbone.model.embeddings.word_embeddings.weight"],
                              dropout_free_bert().model.embeddings.word_embeddings.weight)  # the backbone did train


@needs_two
def test_unequal_shards_class_weights_and_a_probe_phase_on_rank_0():
    """lp-ft: its probe phase on cached features runs on rank 0 alone, then both ranks start the fine-tune from its
    head and its batch order; 7-row micro-batches split 4 + 3, each part weighted by its class weights."""
    cfg = TrainConfig(lr=1e-3, head_lr=1e-2, max_steps=6, min_steps=6, batch_size=7, evals_per_phase=2, precision="fp32",
                      class_weights="balanced", patience=0)
    data = make_toy(200, weights=(0.8, 0.2), seed=5)
    one = trained(1, strategy="lp-ft", data=data, cfg=cfg)
    two = trained(2, strategy="lp-ft", data=data, cfg=cfg)
    assert [h["phase"] for h in one[2].history][0] != one[2].history[-1]["phase"]  # two phases ran
    assert_same(one, two)


def test_part_shares_sum_to_the_micro_batch_share():
    positions = np.arange(7)
    weights = np.array([1.0, 4.0, 1.0, 1.0, 4.0, 4.0, 1.0])
    parts = [Group(rank, 2, 0, torch.device("cpu")).part(positions, 0.5, weights) for rank in range(2)]
    assert sorted(np.concatenate([p for p, _ in parts]).tolist()) == list(range(7))
    assert sum(share for _, share in parts) == pytest.approx(0.5)
    assert parts[0][1] == pytest.approx(0.5 * 7 / 16)  # rows 0, 2, 4, 6 carry weights 1 + 1 + 4 + 1 of 16


@pytest.mark.parametrize("bad", ["0", "-1", str(usable_cpus() + 1)])
def test_bad_nproc_is_one_line_and_exit_2(bad, monkeypatch, capsys, tmp_path):
    code, out, err = run_cli(["train", "--nproc", bad, "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"--nproc must be from 1 to {usable_cpus()}" in lines[0] and f"got {bad}" in lines[0]
    assert not (tmp_path / "run").exists()


def test_bad_nproc_in_the_api():
    import headstart

    with pytest.raises(ConfigError, match="^nproc must be from 1"):
        headstart.fit("toy.csv", nproc=0)
    with pytest.raises(ConfigError, match="got '2'"):
        check_nproc("2")


def test_train_help_shows_nproc(monkeypatch, capsys):
    code, out, _ = run_cli(["train", "--help"], monkeypatch, capsys)
    assert code == 0 and "--nproc 2" in out


def _try_writing(path: str, queue) -> None:
    forbid_writes(1)
    try:
        with open(path, "w") as f:
            f.write("x")
        queue.put("wrote")
    except PermissionError as exc:
        queue.put(str(exc))


def test_a_rank_other_than_0_cannot_write(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_try_writing, args=(str(tmp_path / "x.txt"), queue))
    process.start()
    said = queue.get(timeout=60)
    process.join()
    assert "rank 1 tried to write" in said and not (tmp_path / "x.txt").exists()


@needs_two
def test_only_rank_0_writes_the_run(toy_csv, tiny_registry, tmp_path):
    """Rank 1 runs under ``forbid_writes``: had it written the run, the cache or anything else, it would have failed."""
    import headstart

    cfg = TrainConfig(lr=1e-3, head_lr=1e-2, max_steps=4, min_steps=4, batch_size=8, evals_per_phase=2, precision="fp32")
    before = set(os.listdir(tmp_path))
    result = headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=32, out=tmp_path / "run", config=cfg, nproc=2)
    assert result.status == "done" and result.steps == 4
    assert set(os.listdir(tmp_path)) - before == {"run"}
    assert {"spec.json", "metrics.json"} <= set(os.listdir(tmp_path / "run"))
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert recorded["processes"] == 2  # the run says how it ran
    # the kept weights are the checkpoint validation chose, in memory and as saved by rank 0
    assert result.evaluate("val")["accuracy"] == pytest.approx(recorded["val"]["accuracy"])
    assert headstart.evaluate(tmp_path / "run")["accuracy"] == pytest.approx(result.evaluate("test")["accuracy"])


def test_head_only_strategy_trains_in_one_process(toy, make_tiny, caplog):
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="linear-probe", n=32, train=TrainConfig(max_steps=5, precision="fp32")),
              data=toy, pretrained=make_tiny(0))
    with caplog.at_level("INFO", logger="headstart"):
        report = train(s, nproc=2)
    assert report.status == "done" and "--nproc 2 ignored" in caplog.text
    assert report.processes == 1


@needs_two
def test_a_rank_that_dies_ends_the_run_with_an_error_not_a_hang():
    """SIGKILL rank 1 mid-training: rank 0's next collective breaks at once and the run says which process exited
    (a hang ends only at the collectives' timeout)."""
    import signal
    import threading
    import time

    from headstart.distributed import TIMEOUT

    killed, done = [], threading.Event()

    def kill_rank_1() -> None:  # waits as long as the run sets up: on a loaded machine that took more than 30 s
        while not done.is_set():
            alive = [p for p in multiprocessing.active_children() if p.is_alive()]
            if alive:
                time.sleep(1.5)  # let it join and start training (killed before, it exited "before it started")
                os.kill(alive[0].pid, signal.SIGKILL)
                killed.append(alive[0].pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_rank_1, daemon=True)
    killer.start()
    cfg = TrainConfig(lr=1e-3, head_lr=1e-2, max_steps=5000, min_steps=5000, batch_size=8, evals_per_phase=2, precision="fp32")
    started = time.perf_counter()
    try:
        with pytest.raises(RuntimeError, match="exited with status -9"):
            trained(2, strategy="full-finetune", data=make_toy(200), cfg=cfg)
    finally:
        done.set()
        killer.join()
    assert killed, "no rank was killed: the test tested nothing"
    assert time.perf_counter() - started < TIMEOUT.total_seconds(), "rank 0 waited out the collectives' timeout: a hang"


@needs_two
def test_a_program_that_takes_the_ranks_port_while_they_start_cannot_break_the_run(monkeypatch):
    """The port the ranks meet on was found free, closed, and bound by rank 0 only once the others had started: another
    program's socket taking it meanwhile (a busy machine) ended the run with "address already in use". Rank 0's store
    listens on it from before the first rank starts."""
    import socket

    import torch.multiprocessing

    spawn, taken = torch.multiprocessing.get_context("spawn"), []

    class Context:  # spawn's, where another program tries to listen on the ranks' port as each rank is started
        def __getattr__(self, name: str):
            return getattr(spawn, name)

        def Process(self, *, target, args, daemon):  # noqa: N802 - as multiprocessing spells it
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", args[2]))  # _worker(rank, world, port, ...)
                sock.listen()
                taken.append(sock)
            except OSError:  # in use: rank 0's store listens there
                sock.close()
            return spawn.Process(target=target, args=args, daemon=daemon)

    monkeypatch.setattr(torch.multiprocessing, "get_context", lambda method: Context())
    cfg = TrainConfig(lr=1e-3, head_lr=1e-2, max_steps=2, min_steps=2, batch_size=8, evals_per_phase=1, precision="fp32")
    try:
        _, _, report = trained(2, strategy="full-finetune", data=make_toy(100), cfg=cfg)
    finally:
        for sock in taken:
            sock.close()
    assert taken == [] and report.status == "done" and report.processes == 2


def test_a_rank_dead_before_it_started_is_said_with_its_exit_status():
    """A rank's pipe closes as it dies, a moment before the kernel reports how it ended: read at once, the status was
    None ("exited with status None before it started"), and the SIGKILL in the test above was not matched."""
    from headstart.distributed import _wait_ready

    class Dying:  # SIGKILLed: its pipe closed, its exit status not reported yet
        exitcode = None

        def is_alive(self) -> bool:
            return self.exitcode is None

        def join(self, timeout: float | None = None) -> None:
            self.exitcode = -9

    class Closed:
        def poll(self, timeout: float | None = None) -> bool:
            return True

        def recv(self):
            raise EOFError

    with pytest.raises(RuntimeError, match=r"^a training process of --nproc exited with status -9 before it started$"):
        _wait_ready(Dying(), Closed())


def _fails(spec, data, pretrained, group) -> None:
    raise ValueError("a bug in rank 1\nsecond line")


@needs_two
def test_a_rank_that_raises_is_one_line_naming_the_rank_and_the_error():
    """A bug in rank 1 reads as one line (rank, type, first line of the message); its traceback stays on the error."""
    from headstart.distributed import RankFailed, launch

    s = setup(RunSpec(data="toy", backbone="tiny-bert", strategy="full-finetune", n=32, seed=1,
                      train=TrainConfig(precision="fp32")), data=make_toy(100), pretrained=dropout_free_bert())
    with pytest.raises(RankFailed) as failed:
        with launch(s, 2, rank_run=_fails):
            pass
    where = failed.value.where  # a bug that shows only across processes is seen there, not lost with the rank
    assert where and str(failed.value) == f"rank 1 of --nproc 2 failed: ValueError: a bug in rank 1; its traceback is in {where}"
    assert failed.value.exit_code == 1 and "Traceback" in failed.value.traceback and "_fails" in failed.value.traceback
    assert Path(where).read_text() == failed.value.traceback
    Path(where).unlink()
    plain = RankFailed(1, 2, "ValueError: x")  # no traceback to keep: the advice to run without --nproc
    assert plain.kept() is plain and str(plain).endswith("; run without --nproc to see its traceback")


@needs_two
@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="finds the ranks through /proc")
def test_ctrl_c_of_a_run_across_processes_says_interrupted_and_exits_130(toy_csv, tmp_path):
    """A terminal's Ctrl-C reaches every process of the group: one line and exit 130, as without --nproc (it dumped
    every rank's traceback and exited 1)."""
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "tiny-bert"
    backbone = dropout_free_bert()
    backbone.model.save_pretrained(folder, safe_serialization=True)
    backbone.tokenizer.save_pretrained(folder)
    cmd = [sys.executable, "-m", "headstart.cli", "train", "--data", str(toy_csv), "--backbone", str(folder), "--strategy",
           "full-finetune", "--n", "64", "--nproc", "2", "--max-steps", "5000", "--min-steps", "5000", "--precision", "fp32",
           "--quiet", "--out", str(tmp_path / "run")]
    environ = {**os.environ, "HEADSTART_CACHE": str(tmp_path / "cache")}
    process = subprocess.Popen(cmd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def children() -> str:
        return "".join(open(f"/proc/{process.pid}/task/{t}/children").read() for t in os.listdir(f"/proc/{process.pid}/task"))

    deadline = time.monotonic() + 240
    while not children().strip() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(8)  # the rank imports, joins the group and trains
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    line = err.strip().splitlines()[-1]
    assert "Traceback" not in err and line.startswith("interrupted by Ctrl-C "), err[-3000:]
    # where the ranks were training, rank 0's weights are kept; on a loaded host the signal can come before the steps
    assert (line.endswith(f"the test split is not scored yet: headstart evaluate {tmp_path / 'run'}") and " at step " in line
            or line.endswith("before the run's training ended: nothing trained yet; nothing saved; the same command starts "
                             "again")), line
    if " at step " in line:
        import json

        assert json.loads((tmp_path / "run" / "metrics.json").read_text())["ended_by"].startswith("interrupted by Ctrl-C at step")
