"""Tests of headstart/continual: streams, the masked head, each method doing what it says on a tiny stream, the
accuracy matrix and its summary, refusals, and a chain killed mid-stream finishing with the same matrix."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import headstart
from headstart.errors import ConfigError
from headstart.specs import TrainConfig
from test_sweep import HEADSTART, env, tiny_backbone  # noqa: F401,F811  (tiny_backbone: a real tiny BERT folder, a fixture)

FAST = TrainConfig(max_steps=30, min_steps=30, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2, patience=0)
MARKER = "movie movie movie"  # task b's texts carry it: the tasks' inputs can be told apart (class-incremental is learnable)


def _write(path: Path, data, prefix: str = "", marker: str = "") -> Path:
    pd.DataFrame({"text": [f"{t} {marker}".strip() for t in data.inputs],
                  "label": [prefix + data.label_names[y] for y in data.targets]}).to_csv(path, index=False)
    return path


@pytest.fixture
def stream(tmp_path: Path) -> Path:
    """Two toy tasks: a (neg / pos) and b (b-neg / b-pos, the same words, texts marked), as a TOML stream."""
    from conftest import make_toy

    _write(tmp_path / "a.csv", make_toy(240, seed=1))
    _write(tmp_path / "b.csv", make_toy(240, seed=2), prefix="b-", marker=MARKER)
    path = tmp_path / "stream.toml"
    path.write_text('tasks = ["a.csv", "b.csv"]\n')
    return path


def _run(stream: Path, tmp_path: Path, arms: str, *, scenario: str = "class", seeds: int = 1, alone: bool = False, name: str = "out",
         backbone: str = "tiny"):
    from headstart.continual import continual

    return continual(str(stream), scenario=scenario, arms=arms, backbone=backbone, n=64, seeds=seeds, out=tmp_path / name,
                     config=FAST, alone=alone)


def _rows(result) -> dict:
    return {row["arm"]: row for row in result.analysis["arms"]}


def test_a_stream_shares_labels_by_name_when_class_incremental_and_keeps_each_tasks_own_when_task_incremental(tmp_path):
    from conftest import make_toy
    from headstart.continual.streams import load_stream

    _write(tmp_path / "a.csv", make_toy(60, seed=1))
    _write(tmp_path / "c.csv", make_toy(60, seed=3, classes=3))
    (tmp_path / "s.toml").write_text('tasks = ["a.csv", "c.csv"]\n')
    by_class = load_stream(str(tmp_path / "s.toml"), "class")
    # a file's labels are sorted by name (neg, neutral, pos): the second task's neutral is the stream's new class 2
    assert by_class.labels == ("neg", "pos", "neutral") and [t.classes.tolist() for t in by_class.tasks] == [[0, 1], [0, 2, 1]]
    by_task = load_stream(str(tmp_path / "s.toml"), "task")
    assert [t.classes.tolist() for t in by_task.tasks] == [[0, 1], [2, 3, 4]] and by_task.labels[3] == "task 1: neutral"
    assert by_class.identity() != by_task.identity()
    (tmp_path / "twice.toml").write_text('tasks = ["a.csv", "a.csv"]\n')
    (tmp_path / "one.toml").write_text('tasks = ["a.csv"]\n')
    for name, message in [("permuted-mnst", "unknown stream 'permuted-mnst'; did you mean 'permuted-mnist'"),
                          (str(tmp_path / "twice.toml"), "holds the same dataset twice"),
                          (str(tmp_path / "one.toml"), "two or more datasets")]:
        with pytest.raises(ConfigError, match=message):
            load_stream(name)
    with pytest.raises(ConfigError, match="--scenario must be one of class, task"):
        load_stream(str(tmp_path / "s.toml"), "domain")


def test_tasks_that_share_inputs_are_cut_together_and_others_on_their_own(tmp_path):
    """b relabels half of a's texts (the same reviews, another label column, as drug-reviews and -sentiment): a text in
    one task's test or validation split is never the other's training row. c shares no text and keeps its own
    stratified cut, as every stream of distinct inputs keeps the split it always had."""
    from conftest import make_toy
    from headstart.continual.prepared import stream_splits
    from headstart.continual.streams import load_stream
    from headstart.data import split_dataset
    from headstart.data.splits import SplitConfig

    a = make_toy(240, seed=1)
    _write(tmp_path / "a.csv", a)
    half = pd.DataFrame({"text": a.inputs[:120], "label": ["x" if y else "y" for y in a.targets[:120]]})
    half.to_csv(tmp_path / "b.csv", index=False)
    _write(tmp_path / "c.csv", make_toy(240, seed=3), marker=MARKER)
    (tmp_path / "s.toml").write_text('tasks = ["a.csv", "b.csv", "c.csv"]\n')
    stream = load_stream(str(tmp_path / "s.toml"), "task")
    config = SplitConfig()
    splits = stream_splits(stream, config)
    a_task, b_task, c_task = stream.tasks
    side = {}
    for task, split in zip((a_task, b_task), splits):
        for part in ("pool", "val", "test"):
            for row in split.part(part):
                assert side.setdefault(task.data.inputs[row], part) == part, task.data.inputs[row]
    own = split_dataset(a_task.data, config)
    assert any(not np.array_equal(own.part(p), splits[0].part(p)) for p in ("pool", "val", "test")), "a is cut with b"
    own_c = split_dataset(c_task.data, config)
    assert all(np.array_equal(own_c.part(p), splits[2].part(p)) for p in ("pool", "val", "test"))
    assert stream.linked() == [[0, 1], [2]] and stream.identity()["cut_together"] == [[0, 1]]
    alone = load_stream(str(_write_stream(tmp_path, ["a.csv", "c.csv"])), "task")
    assert alone.linked() == [[0], [1]] and "cut_together" not in alone.identity(), "keys of streams of distinct inputs stay"


def _write_stream(tmp_path: Path, tasks: list[str]) -> Path:
    path = tmp_path / "stream2.toml"
    path.write_text("tasks = [" + ", ".join(f'"{t}"' for t in tasks) + "]\n")
    return path


def test_a_permutation_moves_every_images_pixels_the_same_way():
    from conftest import make_toy_images
    from headstart.continual.streams import permuted

    data = make_toy_images(20, size=6)
    order = np.random.default_rng(0).permutation(36)
    moved = permuted(data, order, "p")
    back = permuted(moved, np.argsort(order), "q")
    assert all(np.array_equal(a, b) for a, b in zip(back.inputs, data.inputs))
    assert moved.hash != data.hash and np.array_equal(moved.inputs[3].reshape(-1), data.inputs[3].reshape(-1)[order])
    assert permuted(data, np.arange(36), "same").hash == data.hash


def test_the_masked_head_never_predicts_a_class_it_is_not_allowed():
    from headstart.continual.heads import MaskedHead

    head = MaskedHead(torch.nn.Linear(4, 5))
    head.allow(torch.tensor([False, True, False, True, False]))
    predicted = head(torch.randn(200, 4) * 10).argmax(1)
    assert set(predicted.tolist()) <= {1, 3}
    with pytest.raises(ValueError, match="bool mask"):
        head.allow(torch.tensor([1, 3]))


def test_class_incremental_naive_forgets_the_first_task_and_replay_and_joint_keep_it(stream, tmp_path, tiny_registry):
    result = _run(stream, tmp_path, "naive,replay[size=64],joint", alone=True)
    rows = _rows(result)
    rows["replay"] = rows["replay[size=64]"]  # an arm is labelled as written
    naive, replay, joint = rows["naive"]["matrix"], rows["replay"]["matrix"], rows["joint"]["matrix"]
    assert naive[0][0] > 0.7, "the first task is learnt"
    assert naive[1][0] < 0.2, ("class-incremental naive fine-tuning predicts the last task's classes", naive)
    assert replay[1][0] > naive[1][0] + 0.3 and joint[1][0] > naive[1][0] + 0.3, (replay, joint, naive)
    assert rows["naive"]["bwt"]["mean"] < -0.5 and rows["replay"]["bwt"]["mean"] > rows["naive"]["bwt"]["mean"]
    assert rows["replay"]["kept_bytes"] > 0 and rows["naive"]["kept_bytes"] == 0
    assert "fwt" in rows["naive"] and "bwt" not in rows["joint"] and "bwt" not in rows["alone"], "references have no BWT to measure"
    assert result.analysis["recommended"] in {"naive", "replay[size=64]"}  # never a reference arm
    written = (tmp_path / "out" / "continual.md").read_text()
    assert "| naive |" in written and "### replay\\[size=64\\]" in written
    assert "**Best on validation (not a clear choice):" in written, "one seed cannot separate the pick from the runner-up"
    assert "| alone (reference) |" in written and "| joint (reference) |" in written
    assert "FWT: mean over tasks 1 on (task 0 has nothing before it to transfer from)" in written, "as analysis computes it"
    assert json.loads((tmp_path / "out" / "continual.json").read_text())["arms"]
    assert (tmp_path / "out" / "continual.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "out" / "continual.html").read_text()  # the command ends it, as continual.md and .json name it
    command = json.loads((tmp_path / "out" / "continual.json").read_text())["command"]
    assert "report-data" in page and "<h2>Produced by</h2>" in page and command.startswith("headstart.continual(")
    shown = json.loads(page.split('id="report-data">')[1].split("</script>")[0])["command"]
    assert shown == command and command in written, (shown, command)
    again = _run(stream, tmp_path, "naive,replay[size=64],joint", alone=True)
    assert again.trained == 0 and _rows(again)["naive"]["matrix"] == naive, "a finished stream is read from the store"
    from headstart.store import Store

    with Store(tmp_path / "out", create=False) as store:
        steps = {(r.spec["continual"]["arm"], r.spec["continual"]["step"]): r for r in store.results()}
    # joint learns both tasks in one run on the steps the sequential arms spend over the stream: twice one task's
    # floor and cap (FAST: 30), not one task's
    assert steps[("joint", 1)].steps == 60 and steps[("naive", 0)].steps == steps[("naive", 1)].steps == 30
    assert steps[("joint", 1)].spec["train"]["min_steps"] == 60 and steps[("joint", 1)].spec["train"]["max_steps"] == 60


def test_alone_in_the_class_scenario_learns_and_is_scored_over_its_own_tasks_classes(stream, tmp_path):
    """A model of task 1 alone never saw task 0's classes: their head rows are untrained, and opening them let their
    random logits take its predictions (fashion-mnist's last task scored 0% after 5 steps). It trains and is scored over
    task 1's classes, and its stored spec says so (a run of the earlier rule is not read back as this one)."""
    from headstart.continual.chain import run_chain, score_seen
    from headstart.store import Store

    chain = _chain(stream, "alone", {})
    with Store(tmp_path / "store") as store:
        assert run_chain(chain, store) == 2
        specs = [r.spec["continual"] for r in store.results("done")]
    assert {c.get("classes") for c in specs} == {"own"}
    own = chain.allowed(1, own=True)
    assert own.tolist() == [False, False, True, True] and chain.allowed(1).all(), "class scenario: every seen class"
    model = chain.models[1]
    model.eval()
    rows = chain.prepared.splits[1].test
    with torch.no_grad():
        logits = model(chain.collate([chain.setup.encoded[r] for r in rows]))
    assert set(logits.argmax(-1).tolist()) <= {2, 3}, "task 1's own classes only"
    assert score_seen(chain, 1)["test"][1] > 0.5


def _chain(stream: Path, method: str, options: dict, scenario: str = "class"):
    import conftest
    from headstart.continual import parse_continual_arm
    from headstart.continual.chain import Chain, Prepared, build_setup
    from headstart.continual.methods import get_method, method_options
    from headstart.continual.streams import load_stream
    from headstart.data.splits import SplitConfig

    prepared = Prepared.build(load_stream(str(stream), scenario), conftest.tiny_backbone(0), SplitConfig(max_test=1000))
    arm = parse_continual_arm(method, "full-finetune")
    chain = Chain(prepared, arm, get_method(arm.method), method_options(get_method(arm.method), options), 0, 64, FAST, stream.parent)
    chain.setup = build_setup(chain, 0)
    return chain


def _train_step(chain, step: int):
    from headstart.continual.chain import for_step
    from headstart.objectives import Objective
    from headstart.recipe import train

    chain.setup = for_step(chain.setup, chain, step)
    chain.setup.model.head.allow(chain.allowed(step))
    penalties = chain.method.penalties(chain, step, chain.options)
    assert train(chain.setup, objective=Objective(tuple(penalties)) if penalties else None, features=step == 0).status == "done"
    chain.method.after(chain, step, chain.options)


@pytest.mark.parametrize("method, weight, importance", [("ewc", 1000.0, "ewc.0.fisher."), ("si", 1000.0, "si.omega."),
                                                         ("mas", 1000.0, "mas.omega.")])
def test_a_regulariser_moves_the_weights_less_along_the_directions_it_finds_important(stream, method, weight, importance):
    """Drift Σ Ω (θ_after − θ_before)² over the second task, Ω the method's own importance after the first task: far
    smaller with the method than with naive fine-tuning from the same first task."""
    chain = _chain(stream, method, {"weight": weight})
    _train_step(chain, 0)
    omega = [chain.memory[importance + n] for n, _ in chain.model.named_parameters()]
    assert all(float(o.min()) >= 0 for o in omega) and float(torch.cat([o.flatten() for o in omega]).mean()) == pytest.approx(1.0)
    drift = {}
    for name in ("naive", method):
        other = _chain(stream, name, {"weight": weight} if name == method else {})
        _train_step(other, 0)
        before = [p.detach().clone() for p in other.model.parameters()]
        _train_step(other, 1)
        drift[name] = sum(float((o * (p.detach() - b) ** 2).sum()) for o, p, b in zip(omega, other.model.parameters(), before))
    assert drift[method] < 0.3 * drift["naive"], drift


def test_online_ewc_accumulates_one_fisher_and_anchors_at_the_latest_weights(stream):
    """F ← γF + F_2 after the second task, F_2 the Fisher of the model as it ended that task (what the chain estimates
    there): neither F_2 alone (γ ignored) nor γF (the new task's importance dropped)."""
    from headstart.continual.importance import task_fisher

    chain = _chain(stream, "online-ewc", {"gamma": 0.5})
    _train_step(chain, 0)
    first = {k: v.clone() for k, v in chain.memory.items() if k.startswith("online.fisher.")}
    _train_step(chain, 1)
    name, weight = next((n, p) for n, p in chain.model.named_parameters())
    assert torch.equal(chain.memory[f"online.anchor.{name}"], weight.detach())
    assert len([k for k in chain.memory if k.startswith("online.fisher.")]) == len(first), "one running Fisher, not one a task"
    second = task_fisher(chain, 1, chain.options.samples)
    for (n, _), f2 in zip(chain.model.named_parameters(), second):
        assert torch.allclose(chain.memory[f"online.fisher.{n}"], 0.5 * first[f"online.fisher.{n}"] + f2, rtol=1e-6, atol=1e-7), n


def test_the_replay_buffer_holds_its_size_the_stated_balance_and_never_a_validation_or_test_row(stream):
    for policy in ("balanced", "reservoir"):
        chain = _chain(stream, "replay", {"size": 20, "policy": policy})
        _train_step(chain, 0)
        _train_step(chain, 1)
        buffer = [tuple(x) for x in chain.state["buffer"]]
        assert len(buffer) == 20 and len(set(buffer)) == 20
        rows = {r for _, r in buffer}
        held_out = {int(r) for s in chain.prepared.splits for r in np.concatenate([s.val, s.test])}
        assert not rows & held_out and rows <= {int(r) for t in chain.train_rows for r in t}
        counts = np.bincount([chain.label_of(t, r) for t, r in buffer], minlength=4)
        if policy == "balanced":
            assert counts.tolist() == [5, 5, 5, 5]
        else:
            assert {t for t, _ in buffer} == {0, 1}, "a reservoir over the whole stream keeps rows of both tasks"


def test_lwf_adds_nothing_before_the_model_moves_and_pulls_toward_the_old_predictions_after(stream):
    chain = _chain(stream, "lwf", {"weight": 1.0})
    _train_step(chain, 0)
    chain.setup.model.head.allow(chain.allowed(1))
    (penalty,) = chain.method.penalties(chain, 1, chain.options)
    assert abs(float(penalty())) < 1e-6
    with torch.no_grad():
        chain.model.head.linear.weight.add_(torch.randn_like(chain.model.head.linear.weight))
    assert float(penalty()) > 1e-3


def test_lora_per_task_cannot_forget_and_is_refused_without_a_task_id(stream, tmp_path, tiny_registry):
    result = _run(stream, tmp_path, "naive,lora-per-task", scenario="task", backbone="tiny-bert")  # PEFT needs a transformers model
    rows = _rows(result)
    r = rows["lora-per-task"]["matrix"]
    assert r[1][0] == r[0][0] and rows["lora-per-task"]["bwt"]["mean"] == 0.0, r
    with pytest.raises(ConfigError, match="lora-per-task applies to the task-incremental scenario only"):
        _run(stream, tmp_path, "lora-per-task", scenario="class", name="refused")


@pytest.mark.parametrize("arms, message", [
    ("naive,ewcc", "unknown continual method or strategy 'ewcc'"),
    ("replay[size=0]", "replay size must be a positive integer"),
    ("ewc[lambda=3]", "unknown option(s) ['lambda'] for ewc"),
    ("naive,naive", "--arms lists an arm twice"),
    ("embed-logreg+ewc", "embed-logreg is fitted by a closed-form solver"),
])
def test_bad_arms_are_refused_before_any_training(arms, message, stream, tmp_path, tiny_registry):
    with pytest.raises(ConfigError, match=__import__("re").escape(message)):
        _run(stream, tmp_path, arms)
    assert not (tmp_path / "out" / "runs.sqlite").exists() or not _rows_in(tmp_path / "out")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_size_below_the_classes_is_refused_before_the_store_exists(workers, stream, tmp_path, tiny_registry, monkeypatch,
                                                                      capsys):
    """--n 1 draws fewer rows than a task's two classes: refused in one line, and no new folder or store is left."""
    from conftest import assert_user_error, run_cli

    out = tmp_path / "cl-err"
    assert_user_error(run_cli(["continual", "--stream", str(stream), "--backbone", "tiny", "--arms", "naive", "--n", "1",
                               "--seeds", "2", "--workers", workers, "--out", str(out)], monkeypatch, capsys),
                      "--n 1 is smaller than the number of classes (2); use --n 2 or more")
    assert not out.exists()


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_in_a_chain_says_which_and_how_many_tasks_are_stored_exit_130_and_the_same_command_resumes(
        how, stream, tmp_path, tiny_registry, monkeypatch, capsys):
    """SIGTERM (timeout, a scheduler's limit) ended continual at once: no line, exit 143, the task in flight lost. Now as
    Ctrl-C, in one line that says which ("interrupted by SIGTERM: 1 of 2 tasks stored; ..."), exit 130; Python gets the
    same KeyboardInterrupt."""
    import signal

    import headstart.engine
    from conftest import run_cli, stop_in_run
    from headstart.interrupts import StoreInterrupted

    real = headstart.engine.lr_factor
    command = ["continual", "--stream", str(stream), "--backbone", "tiny", "--arms", "naive", "--no-alone", "--n", "16",
               "--seeds", "1", "--max-steps", "4", "--min-steps", "4", "--out", str(tmp_path / "out"), "-q"]
    by = "interrupted by SIGTERM" if how == "sigterm" else "interrupted"
    stop_in_run(monkeypatch, 2, how)
    code, out, err = run_cli(command, monkeypatch, capsys)
    assert code == 130 and "Traceback" not in err, (code, err)
    assert err == f"{by}: 1 of 2 tasks stored; run the same command again to resume (stored tasks are skipped)\n", err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the default is back once the command is over"
    assert [r.status for r in _rows_in(tmp_path / "out")] == ["done"]
    stop_in_run(monkeypatch, 1, how)
    with pytest.raises(StoreInterrupted, match=f"^{by}: 1 of 2 tasks stored;") as stopped:
        headstart.continual(str(stream), arms="naive", backbone="tiny", n=16, seeds=1, out=tmp_path / "out", alone=False,
                            config=TrainConfig(max_steps=4, min_steps=4), progress=False)
    assert isinstance(stopped.value, KeyboardInterrupt) and (stopped.value.stored, stopped.value.total) == (1, 2)
    monkeypatch.setattr(headstart.engine, "lr_factor", real)  # (undo would drop tiny_registry's backbone too)
    code, out, err = run_cli(command, monkeypatch, capsys)
    assert code == 0 and "(1 task trained now" in out, (code, out, err)


def _rows_in(out: Path) -> list:
    from headstart.store import Store

    with Store(out, create=False) as store:
        return store.results()


@pytest.mark.slow
def test_a_stream_killed_mid_way_resumes_to_the_same_accuracy_matrix(stream, tmp_path, tiny_backbone):
    """kill -9 while the second chain writes its checkpoint, run again: the matrices equal an uninterrupted run's."""
    def command(out: Path) -> list[str]:
        return [*HEADSTART, "continual", "--stream", str(stream), "--backbone", str(tiny_backbone), "--arms", "naive,replay[size=32]",
                "--n", "32", "--seeds", "1", "--max-steps", "12", "--min-steps", "12", "--no-alone", "--out", str(out), "--quiet"]

    whole = subprocess.run(command(tmp_path / "whole"), env=env(tmp_path), capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    killed = subprocess.run(command(tmp_path / "killed"), env={**env(tmp_path), "HEADSTART_TEST_KILL_AT": "write:checkpoint#3"},
                            capture_output=True, text=True)
    assert killed.returncode == -9
    assert len(_rows_in(tmp_path / "killed")) == 2, "the first chain's two steps were stored before the kill"
    resumed = subprocess.run(command(tmp_path / "killed"), env=env(tmp_path), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    matrices = [{row["arm"]: row["matrix"] for row in json.loads((tmp_path / d / "continual.json").read_text())["arms"]}
                for d in ("whole", "killed")]
    assert matrices[0] == matrices[1]
    assert not list((tmp_path / "killed" / "continual").glob("*/*")), "a finished chain leaves no checkpoint behind"


def test_tune_runs_each_weight_of_a_methods_grid_and_keeps_the_one_validation_picks(stream, tmp_path, tiny_registry, monkeypatch):
    import headstart.continual.methods as methods

    monkeypatch.setattr(methods.EWC, "grid", (0.1, 1000.0))
    result = __import__("headstart.continual", fromlist=["continual"]).continual(
        str(stream), arms="ewc,ewc[weight=5]", backbone="tiny", n=64, seeds=1, out=tmp_path / "out", config=FAST, alone=False, tune=True)
    kept = {row["arm"]: row for row in result.analysis["arms"]}
    tried = {row["arm"]: row for row in result.analysis["tried"]}
    assert "ewc[weight=5]" in kept, "an arm that sets its weight is not tuned"
    (chosen,) = [a for a in kept if a.startswith("ewc (weight")]
    (other,) = tried
    assert kept[chosen]["val_acc"]["mean"] >= tried[other]["val_acc"]["mean"]
    assert set(kept[chosen]["tuned"]["val_acc"]) == {0.1, 1000.0}
    assert "Tried (--tune" in (tmp_path / "out" / "continual.md").read_text()


@pytest.mark.slow
def test_chains_on_two_worker_processes_give_the_same_matrices_as_one(stream, tmp_path, tiny_backbone):  # noqa: F811
    from headstart.continual import continual

    def run(workers: int, name: str) -> dict:
        result = continual(str(stream), arms="naive,replay[size=32]", backbone=str(tiny_backbone), n=32, seeds=2,
                           out=tmp_path / name, config=TrainConfig(max_steps=12, min_steps=12), alone=False, workers=workers)
        return {row["arm"]: row["matrix"] for row in result.analysis["arms"]}

    assert run(2, "two") == run(1, "one")


def _image_stream(scenario: str = "task"):
    from conftest import make_toy_images
    from headstart.continual.streams import Stream, Task
    from headstart.data.dataset import Dataset

    tasks, labels = [], {}
    for k in range(2):
        data = make_toy_images(160, size=12, seed=k)
        if k == 1:  # the second task's bands mean the opposite class
            data = Dataset(name="b", inputs=data.inputs, targets=1 - data.targets, task="classification",
                           label_names=data.label_names, source={"name": "b"}, modality="image")
        names = [f"task {k}: {n}" for n in data.label_names]
        tasks.append(Task(f"task{k}", data, np.asarray([labels.setdefault(n, len(labels)) for n in names])))
    return Stream("toy-images", scenario, tuple(tasks), tuple(labels))


def test_progressive_columns_start_as_the_pretrained_network_and_never_change_an_earlier_tasks_model(tmp_path):
    import conftest
    from headstart.continual import parse_continual_arm
    from headstart.continual.chain import Chain, Prepared, run_chain
    from headstart.continual.methods import get_method
    from headstart.continual.progressive import ProgressiveBackbone
    from headstart.data.splits import SplitConfig
    from headstart.store import Store

    column = conftest.tiny_cnn(0, image_size=12)
    earlier = conftest.tiny_cnn(1, image_size=12)
    wrapped = ProgressiveBackbone(conftest.tiny_cnn(0, image_size=12), [earlier])
    batch = column.collate([torch.randint(0, 255, (1, 12, 12), dtype=torch.uint8) for _ in range(4)])
    column.eval(), wrapped.eval()
    assert torch.allclose(wrapped(batch), column(batch), atol=1e-6), "zero laterals: the new column as pre-trained"
    assert not any(p.requires_grad for p in earlier.parameters()) and len(list(wrapped.parameters())) > len(list(column.parameters()))

    prepared = Prepared.build(_image_stream(), conftest.tiny_cnn(0, image_size=12), SplitConfig(max_test=1000))
    arm = parse_continual_arm("progressive", "full-finetune")
    chain = Chain(prepared, arm, get_method("progressive"), get_method("progressive").Options(), 0, 64,
                  TrainConfig(max_steps=30, min_steps=30, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2), tmp_path)
    with Store(tmp_path / "out") as store:
        assert run_chain(chain, store) == 2
        rows = sorted(store.results(), key=lambda r: r.spec["continual"]["step"])
    first, second = (r.record["continual"]["test"] for r in rows)
    assert second[0] == first[0], "task 0 scored by its own frozen column: no forgetting by construction"
    laterals = chain.models[1].backbone.laterals
    assert any(float(p.abs().sum()) > 0 for p in laterals.parameters()), "the laterals learnt to use the earlier column"
    assert chain.models[1].backbone._earlier[0] is chain.models[0].backbone.column


def test_progressive_is_refused_on_a_text_stream(stream, tmp_path, tiny_registry):
    with pytest.raises(ConfigError, match="progressive applies to image streams"):
        _run(stream, tmp_path, "progressive", scenario="task")


def test_a_method_composes_with_another_strategy(stream, tmp_path, tiny_registry):
    """lora+ewc: EWC's pull on the LoRA weights and the head; the base stays frozen throughout."""
    result = _run(stream, tmp_path, "lora+ewc[weight=10],lora", backbone="tiny-bert")
    rows = _rows(result)
    assert set(rows) == {"lora+ewc[weight=10]", "lora"} and rows["lora+ewc[weight=10]"]["method"] == "ewc"
    assert rows["lora+ewc[weight=10]"]["kept_bytes"] > 0 and rows["lora"]["kept_bytes"] == 0
    with pytest.raises(ConfigError, match="lora-per-task trains lora; drop 'full-finetune'"):
        _run(stream, tmp_path, "full-finetune+lora-per-task", scenario="task", name="x")


def test_a_report_reads_only_the_steps_its_own_settings_planned(stream, tmp_path, tiny_registry):
    """The same arm label run with another n into the same store: each invocation's report holds its own runs only."""
    from headstart.continual import continual

    def run(n: int, name: str) -> list:
        result = continual(str(stream), arms="naive", backbone="tiny", n=n, seeds=1, out=tmp_path / name, config=FAST, alone=False)
        return result.analysis["arms"][0]["matrix"]

    first = run(64, "shared")
    (tmp_path / "shared" / "continual.json").unlink()  # stopped before its report: the folder is not refused
    second = run(32, "shared")
    assert second == run(32, "fresh") and first == run(64, "fresh2")


def test_continual_records_its_command_and_report_of_its_store_names_it(stream, tmp_path, tiny_registry, monkeypatch, capsys):
    """review: continual.json and continual.md recorded no command, and `headstart report` of a copied continual store
    said only "run it again with the same arguments". Both record the command that wrote them (the CLI's line, a
    Python call as written), and report's refusal names it, with this folder's --out."""
    from conftest import assert_produced_by
    from headstart.errors import StoreError
    from headstart.report.render import render

    monkeypatch.chdir(tmp_path)
    argv = ["continual", "--stream", str(stream), "--arms", "naive", "--backbone", "tiny", "--n", "16", "--seeds", "1",
            "--no-alone", "--max-steps", "2", "--min-steps", "2", "--out", "cli", "-q"]
    assert_produced_by(argv, "continual", "continual.json", "continual.md", monkeypatch, capsys)
    result = headstart.continual(str(stream), arms="naive", backbone="tiny", n=16, seeds=1, out="py", alone=False,
                                 max_steps=2, min_steps=2)
    call = f"headstart.continual(stream={str(stream)!r}, "
    recorded = json.loads((result.out / "continual.json").read_text())["command"]
    assert recorded.startswith(call) and "out='py'" in recorded and "max_steps=2" in recorded, recorded
    with pytest.raises(StoreError, match=r"run the command that wrote it again with out='py' \(it trains nothing already "
                                         r"stored\): headstart\.continual\(stream="):
        render("py")


def test_n_counts_each_tasks_rows_so_it_may_be_below_the_streams_classes(stream, tmp_path, tiny_registry):
    """--n is drawn per task: 3 rows of a 2-class task are enough though the class-incremental stream has 4 classes
    (the model's setup drew n from the whole stream and refused it); 1 row is refused naming the task's 2 classes."""
    from headstart.continual import continual
    from headstart.errors import DataError

    result = continual(str(stream), arms="naive,joint", backbone="tiny", n=3, seeds=1, out=tmp_path / "three", config=FAST,
                       alone=False)
    assert {row["arm"] for row in result.analysis["arms"]} == {"naive", "joint"}
    with pytest.raises(DataError, match=r"--n 1 is smaller than the number of classes \(2\)"):
        continual(str(stream), arms="naive", backbone="tiny", n=1, seeds=1, out=tmp_path / "one", config=FAST, alone=False)


def test_one_seed_is_shown_without_an_interval_not_one_of_no_width():
    from headstart.report.continual import ci_text as _ci

    assert _ci({"mean": 0.449, "ci_low": 0.449, "ci_high": 0.449, "seeds": 1}) == "44.9"
    assert _ci({"mean": 0.449, "ci_low": 0.40, "ci_high": 0.50, "seeds": 3}) == "44.9 (40.0 to 50.0)"


def test_one_seeds_summaries_in_continual_json_say_there_is_no_interval_as_results_json_does():
    """review: `continual --seeds 1 --json` printed "acc": {"mean": 0.1348, "ci_low": 0.1348, "ci_high": 0.1348}, a
    95% interval of no width with nothing to say it was none (bwt, plasticity, fwt and the runner-up difference alike):
    ``no_interval`` says why. Its bounds are what results.json writes where it has no interval (``stats.kept`` of
    ``stats.interval``: the mean, not null as continual.json once wrote them), and the markdown, the HTML and the Python
    repr still read it."""
    from headstart.analysis.continual import ONE_SEED_TEXT, continual_rows, versus_text
    from headstart.analysis.stats import has_interval, interval, kept
    from headstart.continual import ContinualResult
    from headstart.report.continual import continual_markdown
    from headstart.report.continual_html import continual_html

    analysis = continual_rows(_chain_runs("replay", "replay", [0.80], [0.7]) + _chain_runs("naive", "naive", [0.79], [0.72]))
    replay = next(r for r in analysis["arms"] if r["arm"] == "replay")
    for summary in (replay["acc"], replay["val_acc"], replay["bwt"], replay["plasticity"], analysis["versus"]["val"]):
        assert summary["ci_low"] == summary["ci_high"] == summary["mean"] and summary["no_interval"] == ONE_SEED_TEXT, summary
        assert not has_interval(summary)
        assert summary["seeds" if "seeds" in summary else "pairs"] == 1
    as_results = kept(interval([replay["acc"]["mean"]], None, bounds=(0.0, 1.0)), ("mean", "ci_low", "ci_high"))
    assert {k: replay["acc"][k] for k in as_results} == as_results, "results.json's bounds where it has no interval"
    same = continual_rows(_chain_runs("replay", "replay", [0.8, 0.8], [0.7, 0.7]))["arms"][0]["acc"]  # seeds agree
    assert same["ci_low"] == same["ci_high"] == same["mean"] and same["no_interval"] and same["seeds"] == 2
    json.dumps(analysis, allow_nan=False)
    text = continual_markdown({**analysis, "recommended_caveat": None}, stream="s", scenario="class", tasks=["a", "b"], notes=[])
    assert "| replay | 70.0 |" in text and "one seed, so no interval" in text
    page = continual_html({**analysis, "recommended_caveat": None}, title="t", tasks=["a", "b"], notes=[])
    assert '"70.0 (one seed: no interval)"' in page
    assert "one seed has no interval" in versus_text(analysis["versus"])
    assert "recommended replay: ACC 0.7" in repr(ContinualResult(out=Path("o"), analysis=analysis))


def test_an_arm_that_learnt_a_task_no_better_than_its_majority_class_is_named_with_the_task():
    from headstart.continual import below_majority

    analysis = {"arms": [{"arm": "naive", "matrix": [[0.9], [0.1, 0.5], [0.0, 0.2, 0.8]]},
                         {"arm": "replay", "matrix": [[0.9], [0.6, 0.7], [0.5, 0.6, 0.8]]}]}
    (note,) = below_majority(analysis, [0.5, 0.5, 0.6], ["a", "b", "c"])
    assert note.startswith("naive learnt no better than the majority class on task 1 (b) 50.0% against 50.0%")
    assert "task 0" not in note and "task 2" not in note
    assert "(test split, read only for this warning)" in note
    joint = {"arms": [{"arm": "joint", "method": "joint", "matrix": [[0.4], [0.4, 0.9]]}]}
    (note,) = below_majority(joint, [0.5, 0.5], ["a", "b"])
    assert "after training on every task at once:" in note and "just after" not in note, "joint trains the stream at once"


def test_a_recommendation_of_an_arm_that_learnt_tasks_no_better_than_the_majority_carries_a_caveat():
    """Validation chose naive; its test matrix shows it learnt task 1 no better than the majority: the choice stands
    (test never chooses) and the caveat says why to distrust it, in the markdown too."""
    from headstart.continual import recommended_caveat
    from headstart.report.continual import continual_markdown

    arms = [{"arm": "naive", "method": "naive", "matrix": [[0.9], [0.1, 0.5]], "acc": {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5, "seeds": 1},
             "val_acc": {"mean": 0.7}, "train_seconds": 1.0, "kept_bytes": 0},
            {"arm": "replay", "method": "replay", "matrix": [[0.9], [0.6, 0.7]], "acc": {"mean": 0.65, "ci_low": 0.65, "ci_high": 0.65, "seeds": 1},
             "val_acc": {"mean": 0.6}, "train_seconds": 1.0, "kept_bytes": 0}]
    analysis = {"arms": arms, "tried": [], "recommended": "naive"}
    caveat = recommended_caveat(analysis, [0.5, 0.5])
    assert caveat.startswith("it learnt 1 of 2 tasks no better than the majority class")
    assert "(on their test splits, read only for this warning: validation chose it)" in caveat
    assert recommended_caveat({**analysis, "recommended": "replay"}, [0.5, 0.5]) is None
    text = continual_markdown({**analysis, "recommended_caveat": caveat}, stream="s", scenario="class", tasks=["a", "b"], notes=[])
    assert "**Recommended: naive**" in text and "**Caveat:** it learnt 1 of 2 tasks" in text


def _low_arm(arm: str, method: str) -> dict:
    return {"arm": arm, "method": method, "family": None, "matrix": [[0.9], [0.1, 0.5]], "acc": {"mean": 0.5, "seeds": 1},
            "val_acc": {"mean": 0.7}, "train_seconds": 1.0, "kept_bytes": 0}


def _budget_steps(arm: str, max_steps: int | None) -> list:
    from types import SimpleNamespace

    return [SimpleNamespace(spec={"n": 64, "strategy": "full-finetune", "continual": {"arm": arm, "method": arm, "step": step},
                                  "train": {"epochs": 3, "min_steps": 500, "max_steps": max_steps, "batch_size": 16}})
            for step in range(2)]


@pytest.mark.parametrize("method, tuned", [("replay", False), ("naive", False), ("ewc", True)])
def test_the_caveats_budget_advice_names_what_changes_this_runs_budget_and_tune_only_where_it_tunes(method, tuned):
    """review: the caveat said "re-run with more steps (--min-steps) or --tune" whatever ran: a --max-steps cap
    overrides --min-steps, and --tune tunes only ewc / online-ewc / si / mas / lwf weights (nothing for replay or naive).
    It names --max-steps where the cap cut the arm's tasks, --min-steps where none did, and --tune only where it tunes."""
    from headstart.continual import recommended_caveat
    from headstart.surface import cli_surface, reset_surface

    analysis = {"arms": [_low_arm(method, method)], "tried": [], "recommended": method}
    marked = cli_surface()
    try:
        capped = recommended_caveat(analysis, [0.5, 0.5], _budget_steps(method, 100))
        floor = recommended_caveat(analysis, [0.5, 0.5], _budget_steps(method, None))
        preset = recommended_caveat({**analysis, "arms": [_low_arm(f"{method}[weight=10]", method)],
                                     "recommended": f"{method}[weight=10]"}, [0.5, 0.5], [])
    finally:
        reset_surface(marked)
    assert "re-run with more steps (--max-steps 500, as the cap of 100 steps cut each task short of the 500 its rule " \
           "asked, and --min-steps cannot pass a cap)" in capped, capped
    assert "re-run with more steps (--min-steps 1000)" in floor and "--max-steps" not in floor, floor
    for text in (capped, floor):
        assert ("or --tune (it tries ewc's weight at " in text) is tuned, text
    assert "--tune" not in preset, "an arm that sets its weight is not tuned by --tune"


def test_a_python_calls_continual_notes_name_its_keywords_and_the_clis_its_flags():
    """review: ``headstart.continual(...).flags`` said "too few steps (--max-steps, --min-steps)", flags a Python
    caller cannot pass. From Python the notes name continual's keywords (``max_steps=500``, ``tune=True``); the CLI's
    keep its flags."""
    from headstart.continual import below_majority, recommended_caveat
    from headstart.surface import cli_surface, reset_surface

    analysis = {"arms": [_low_arm("ewc", "ewc")], "tried": [], "recommended": "ewc"}

    def said() -> tuple[str, str]:
        (note,) = below_majority(analysis, [0.5, 0.5], ["a", "b"])
        return note, recommended_caveat(analysis, [0.5, 0.5], _budget_steps("ewc", 100))

    note, caveat = said()
    assert "too few steps (max_steps, min_steps) or too low a rate" in note, note
    assert "re-run with more steps (max_steps=500, as the cap" in caveat and "min_steps cannot pass a cap" in caveat, caveat
    assert "or tune=True (it tries ewc's weight at" in caveat and "--" not in note + caveat, caveat
    marked = cli_surface()
    try:
        note, caveat = said()
    finally:
        reset_surface(marked)
    assert "too few steps (--max-steps, --min-steps)" in note and "more steps (--max-steps 500," in caveat
    assert "or --tune (it tries" in caveat


def test_runs_lists_a_continual_step_by_its_arm_and_place_in_the_stream(tmp_path):
    from headstart.listings import runs
    from headstart.results import RunResult
    from headstart.store import Store

    spec = {"strategy": "full-finetune", "options": {}, "train": {}, "seed": 0, "data": {"name": "a"},
            "continual": {"arm": "ewc[weight=5]", "method": "ewc", "step": 1, "steps": 3}}
    with Store(tmp_path) as store:
        store.put(RunResult("k", spec, "done", metrics={"accuracy": 0.5}))
    assert runs(tmp_path)[0]["arm"] == "ewc[weight=5] task 1 (a) of tasks 0–2", "numbered as continual.md's R[i][j]"


def test_a_model_per_task_on_a_frozen_backbone_checkpoints_the_shared_weights_once(stream, tmp_path, tiny_registry):
    """alone with linear-probe: every task's model holds the same frozen backbone tensors. The checkpoint writes them
    once (safetensors refuses shared memory: this was a traceback) and names the others as aliases."""
    from safetensors import safe_open

    from headstart.continual import chain as chain_module
    from headstart.continual import continual

    saved = {}
    real_drop = chain_module.drop_checkpoint

    def keep(folder, step):  # the last checkpoint, every task's model in it, copied before it is dropped
        path = folder / f"step-{step}.safetensors"
        if path.exists():
            saved["bytes"] = path.read_bytes()
        real_drop(folder, step)

    chain_module.drop_checkpoint = keep
    try:
        result = continual(str(stream), arms="alone", strategy="linear-probe", backbone="tiny", n=64, seeds=1,
                           out=tmp_path / "out", config=FAST, alone=False)
    finally:
        chain_module.drop_checkpoint = real_drop
    assert _rows(result)["alone"]["acc"]["mean"] > 0
    path = tmp_path / "last.safetensors"
    path.write_bytes(saved["bytes"])
    aliases = chain_module._aliases(path)
    with safe_open(str(path), "pt") as f:
        stored = set(f.keys())
    assert aliases and all(target in stored and alias not in stored for alias, target in aliases.items())


@pytest.mark.slow
def test_a_model_per_task_on_a_frozen_backbone_resumes_from_its_checkpoint(stream, tmp_path, tiny_backbone):
    """kill -9 while alone (linear-probe) writes its third checkpoint, run again: the matrix equals an uninterrupted run's."""
    def command(out: Path) -> list[str]:
        return [*HEADSTART, "continual", "--stream", str(stream), "--backbone", str(tiny_backbone), "--arms", "alone",
                "--strategy", "linear-probe", "--n", "32", "--seeds", "1", "--no-alone", "--out", str(out), "--quiet"]

    whole = subprocess.run(command(tmp_path / "whole"), env=env(tmp_path), capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    killed = subprocess.run(command(tmp_path / "killed"), env={**env(tmp_path), "HEADSTART_TEST_KILL_AT": "write:checkpoint#2"},
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    resumed = subprocess.run([a for a in command(tmp_path / "killed") if a != "--quiet"], env=env(tmp_path),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    # the step stored before the kill counts from the chain's start: the count read 1/2 after the last step, and never 2/2
    assert "of tasks 0–1 done; 2/2 tasks trained" in resumed.stderr, resumed.stderr
    matrices = [{row["arm"]: row["matrix"] for row in json.loads((tmp_path / d / "continual.json").read_text())["arms"]}
                for d in ("whole", "killed")]
    assert matrices[0] == matrices[1]


def _chain_runs(arm: str, method: str, val: list[float], test: list[float]) -> list:
    """Finished two-task chains of ``arm``, one per seed: the last row of R scores ``val[s]`` / ``test[s]`` on each task."""
    from headstart.results import RunResult

    runs = []
    for seed, (v, t) in enumerate(zip(val, test)):
        for step in range(2):
            spec = {"strategy": "full-finetune", "options": {}, "train": {}, "seed": seed, "data": {"name": "s"},
                    "continual": {"arm": arm, "method": method, "step": step, "steps": 2}}
            record = {"continual": {"test": [t] * (step + 1), "val": [v] * (step + 1)}}
            runs.append(RunResult(f"{arm}/{seed}/{step}", spec, "done", record=record, train_seconds=1.0))
    return runs


def test_the_recommendation_quotes_the_runner_up_paired_by_seed_on_validation_and_test():
    from headstart.analysis.continual import continual_rows, versus_text

    analysis = continual_rows(_chain_runs("replay", "replay", [0.80, 0.82, 0.84], [0.70, 0.71, 0.75])
                              + _chain_runs("naive", "naive", [0.70, 0.73, 0.74], [0.72, 0.70, 0.71]))
    assert analysis["recommended"] == "replay"
    v = analysis["versus"]
    assert v["arm"] == "naive" and v["pairs"] == 3
    assert v["val"]["mean"] == pytest.approx(0.0967, abs=1e-4) and v["test"]["mean"] == pytest.approx(0.01, abs=1e-9)
    text = versus_text(v)
    assert text.startswith("against the runner-up naive, paired over 3 seeds: validation ACC +9.7 points (CI ")
    assert "test +1.0 points (CI" in text and "does not tell" not in text
    one = continual_rows(_chain_runs("replay", "replay", [0.80], [0.7]) + _chain_runs("naive", "naive", [0.79], [0.72]))
    assert "on one seed: validation ACC +1.0 points, test -2.0 points; one seed has no interval" in versus_text(one["versus"])
    # a lead of 0.02 points on validation read "+0.0 points (CI -0.0 to +0.0)"
    tiny = continual_rows(_chain_runs("replay", "replay", [0.8001, 0.8003, 0.8002], [0.70, 0.71, 0.75])
                          + _chain_runs("naive", "naive", [0.80, 0.80, 0.80], [0.72, 0.70, 0.71]))
    assert "validation ACC +0.02 points (CI " in versus_text(tiny["versus"]), versus_text(tiny["versus"])
    assert "+0.0 " not in versus_text(tiny["versus"]) and "-0.0 " not in versus_text(tiny["versus"])



def test_a_pick_the_seeds_cannot_separate_is_not_led_as_recommended():
    """Validation separates replay from naive over 3 seeds: "Recommended". Two seeds whose validation difference spans
    0, or one seed: "Best on validation (not a clear choice)", in the markdown, the HTML's data and the CLI alike."""
    from headstart.analysis.continual import continual_rows, recommended_word
    from headstart.report.continual import continual_markdown

    clear = continual_rows(_chain_runs("replay", "replay", [0.80, 0.82, 0.84], [0.70, 0.71, 0.75])
                           + _chain_runs("naive", "naive", [0.70, 0.73, 0.74], [0.72, 0.70, 0.71]))
    assert recommended_word(clear) == "Recommended"
    close = continual_rows(_chain_runs("replay", "replay", [0.80, 0.70], [0.7, 0.7])
                           + _chain_runs("naive", "naive", [0.72, 0.74], [0.72, 0.7]))
    assert close["recommended"] == "replay" and recommended_word(close) == "Best on validation (not a clear choice)"
    one = continual_rows(_chain_runs("replay", "replay", [0.80], [0.7]) + _chain_runs("naive", "naive", [0.79], [0.72]))
    assert recommended_word(one) == "Best on validation (not a clear choice)"
    assert recommended_word({"arms": [], "recommended": "naive", "versus": None}) == "Recommended", "no runner-up"
    unshared = {"arm": "replay", "pairs": 0, "val": None, "test": None}  # the runner-up ran other seeds
    assert recommended_word({"arms": [], "recommended": "naive", "versus": unshared}) == "Best on validation (not a clear choice)"
    text = continual_markdown({**close, "recommended_caveat": None}, stream="s", scenario="class", tasks=["a", "b"], notes=[])
    assert "**Best on validation (not a clear choice): replay** — highest validation ACC" in text


def test_an_arm_at_or_below_the_majority_rate_on_validation_is_not_recommended(tmp_path):
    from headstart.analysis.continual import continual_rows, withhold_below_majority
    from headstart.report.continual import continual_markdown

    analysis = continual_rows(_chain_runs("replay", "replay", [0.50, 0.52, 0.51], [0.5, 0.5, 0.5])
                              + _chain_runs("naive", "naive", [0.45, 0.46, 0.47], [0.5, 0.5, 0.5]))
    kept = dict(analysis)
    withhold_below_majority(kept, 0.52)  # the validation ACC of the best constant answer
    assert kept["recommended"] is None and kept["withheld"] == {"arm": "replay", "val_acc": pytest.approx(0.51), "majority": 0.52}
    text = continual_markdown(kept, stream="s", scenario="task", tasks=["a", "b"], notes=[])
    assert "**Recommendation withheld:** no arm to recommend: the best on validation, replay, scores 51.0% ACC there" in text
    assert "at or below an answer that ignores its input (52.0%: the majority class)" in text
    withhold_below_majority(analysis, 0.50)
    assert analysis["recommended"] == "replay" and "withheld" not in analysis


@pytest.mark.parametrize("method, capped, n_requested, advice", [
    ("replay", False, 64, "more labels (--n) or more steps (--min-steps 1000)"),
    ("ewc", False, 64, "more labels (--n), more steps (--min-steps 1000) or --tune (it tries ewc's weight at "),
    ("ewc", True, "all", "more steps (--max-steps 500, as the cap of 100 steps cut each task short of the 500 its rule "
                         "asked, and --min-steps cannot pass a cap) or --tune (it tries ewc's weight at "),
])
def test_a_withheld_recommendation_names_only_what_its_arm_could_rerun_with(method, capped, n_requested, advice):
    """review: a withheld recommendation said "add labels (--n), budget (--min-steps) or --tune" whatever the arm: --tune
    tunes nothing of replay or naive (nor of an arm already tuned), a --max-steps cap overrides --min-steps, and a run on
    every row has no labels to add. It names what applies to the arm validation chose."""
    from types import SimpleNamespace

    from headstart.analysis.continual import withheld_text
    from headstart.continual import withheld_rerun
    from headstart.surface import cli_surface, reset_surface

    steps = [SimpleNamespace(spec={"n": 64, "n_requested": n_requested, "strategy": "full-finetune",
                                   "continual": {"arm": method, "method": method, "step": step},
                                   "train": {"epochs": 3, "min_steps": 500, "max_steps": 100 if capped else None,
                                             "batch_size": 16}}) for step in range(2)]
    analysis = {"arms": [_low_arm(method, method)], "recommended": None,
                "withheld": {"arm": method, "val_acc": 0.5, "majority": 0.52}}
    marked = cli_surface()
    try:
        withheld_rerun(analysis, steps)
    finally:
        reset_surface(marked)
    text = withheld_text(analysis["withheld"])
    assert f"so no arm learnt the stream; re-run with {advice}" in text and text.endswith(" before choosing"), text
    assert ("--tune" in text) is (method == "ewc") and ("--n" in text) is (n_requested != "all"), text
    tuned = {**analysis, "arms": [{**_low_arm(method, method), "tuned": {"family": method}}],
             "withheld": {"arm": method, "val_acc": 0.5, "majority": 0.52}}
    withheld_rerun(tuned, steps)  # from Python: continual's keywords; an arm --tune already tuned: no tune again
    assert "tune" not in withheld_text(tuned["withheld"]) and "--" not in withheld_text(tuned["withheld"]), tuned


def test_the_constant_answers_acc_is_a_tasks_majority_with_the_task_id_and_one_class_over_the_stream_without():
    """Two tasks of 2 classes each (stream classes 0, 1 | 2, 3), each 75% its first class on validation: with the task
    id a constant per task scores 75%; without it one class for every task scores 75% on one task, 0 on the other."""
    from types import SimpleNamespace

    from headstart.continual import constant_acc
    from headstart.data.splits import Splits

    targets = np.array([0, 0, 0, 1, 2, 2, 2, 3])
    splits = [Splits(pool=np.array([], int), val=np.arange(4), test=np.arange(4)),
              Splits(pool=np.array([], int), val=np.arange(4, 8), test=np.arange(4, 8))]
    prepared = SimpleNamespace(splits=splits, data=SimpleNamespace(targets=targets), stream=SimpleNamespace(labels=("a", "b", "c", "d")))
    assert constant_acc(prepared, "task") == pytest.approx(0.75)
    assert constant_acc(prepared, "class") == pytest.approx(0.375)


def test_a_store_holding_another_settings_steps_says_so(stream, tmp_path, tiny_registry):
    """The same --out with another n is refused while the folder's report is of the first settings (the new report
    would replace it); with no report there (a run stopped before writing it), the report reads this invocation's
    steps only, and says the others are there."""
    from headstart.continual import continual
    from headstart.errors import ConfigError

    first = _run(stream, tmp_path, "naive", name="shared")
    assert not any("other settings" in f for f in first.flags)
    assert "- Budget per task as run: full-finetune: 3 epochs, at least 30 steps, lr 0.003." in (
        tmp_path / "shared" / "continual.md").read_text()
    report = (tmp_path / "shared" / "continual.md").read_text()
    with pytest.raises(ConfigError, match=r"holds the report of another continual run \(n 64, not 32\), which this one "
                                          r"would replace; nothing was trained; give it its own folder, e\.g\. .*shared-2"):
        continual(str(stream), scenario="class", arms="naive", backbone="tiny", n=32, seeds=1, out=tmp_path / "shared",
                  config=FAST, alone=False)
    with pytest.raises(ConfigError, match=r"\(arms naive, not replay\)"):  # fewer arms: the report would lose one
        continual(str(stream), scenario="class", arms="replay", backbone="tiny", n=64, seeds=1, out=tmp_path / "shared",
                  config=FAST, alone=False)
    assert (tmp_path / "shared" / "continual.md").read_text() == report
    (tmp_path / "shared" / "continual.json").unlink()
    again = continual(str(stream), scenario="class", arms="naive", backbone="tiny", n=32, seeds=1, out=tmp_path / "shared",
                      config=FAST, alone=False)
    (note,) = [f for f in again.flags if "other settings" in f]
    assert note.startswith("this store also holds 2 trained tasks of other settings")
    assert "this store also holds 2 trained tasks" in (tmp_path / "shared" / "continual.md").read_text()


def test_a_stray_duplicate_does_not_cut_two_tasks_together(tmp_path):
    """One text shared by two 240-row tasks (0.4%, under SHARED) leaves each task its own stratified cut and key."""
    from conftest import make_toy
    from headstart.continual.streams import load_stream

    a, c = make_toy(240, seed=1), make_toy(240, seed=3)
    _write(tmp_path / "a.csv", a)
    texts = [f"{t} {MARKER}" for t in c.inputs]
    texts[0] = a.inputs[0]
    pd.DataFrame({"text": texts, "label": [c.label_names[y] for y in c.targets]}).to_csv(tmp_path / "c.csv", index=False)
    stream = load_stream(str(_write_stream(tmp_path, ["a.csv", "c.csv"])), "task")
    assert stream.linked() == [[0], [1]] and "cut_together" not in stream.identity()


def test_the_settings_check_reads_older_and_damaged_reports_and_paths(tmp_path):
    """A Path argument (stored as its text), a TrainConfig field one version lacks (its default), a field the other
    lacks, and a damaged record: none crashes, and only a real difference refuses."""
    import dataclasses
    from pathlib import Path

    from headstart.continual import GROWN
    from headstart.errors import ConfigError
    from headstart.outdir import check_same_report
    from headstart.specs import TrainConfig

    def check_same_settings(out, settings):  # as continual() calls it
        check_same_report(out, "continual.json", settings, kind="continual", grown=GROWN,
                          defaults={"train": TrainConfig.field_defaults()})

    train = dataclasses.asdict(TrainConfig())
    settings = {"stream": Path("tasks.toml"), "n": 64, "train": train, "arms": ["naive"], "seeds": 2}
    older = {**train}
    del older["augment"]  # written before the field existed: its default
    (tmp_path / "continual.json").write_text(json.dumps({"settings": {**settings, "stream": "tasks.toml", "train": older}}))
    check_same_settings(tmp_path, settings)
    check_same_settings(tmp_path, {**settings, "train": {**train, "future_field": None}})
    with pytest.raises(ConfigError, match=r"\(max_steps None, not 5\)"):
        check_same_settings(tmp_path, {**settings, "train": {**train, "max_steps": 5}})
    (tmp_path / "continual.json").write_text(json.dumps({"settings": {**settings, "stream": "tasks.toml", "train": [1]}}))
    check_same_settings(tmp_path, settings)


def test_a_list_for_the_stream_is_named_from_python_before_anything_is_written(tmp_path):
    import headstart

    with pytest.raises(ConfigError, match=r"^stream takes one stream, got list \['rotten-tomatoes'\]: a built-in stream's "
                                          r"name \(.*text.*\) or a TOML file of tasks, e\.g\. stream='text'$"):
        headstart.continual(["rotten-tomatoes"], out=tmp_path / "c")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("tune, message", [
    ("lr", r"^tune must be True, False or None \(no tuning\), got 'lr'; continual tunes each method's weight \(ewc, "
           r"online-ewc, si, mas, lwf\), not the learning rate: pass tune=True for the weights, and a learning rate as "
           r"lr=\.\.\., e\.g\. lr=1e-4$"),
    ("yes", r"^tune must be True, False or None \(no tuning\), got 'yes'; pass tune=True$"),
])
def test_tune_refuses_compares_lr_saying_what_it_tunes(tune, message, tmp_path):
    """compare(tune=) takes "lr", True or None; continual(tune="lr") was "tune must be True or False", no word that its
    tune searches the methods' weights, not the learning rate."""
    with pytest.raises(ConfigError, match=message):
        headstart.continual("text", tune=tune, out=tmp_path / "out")
    assert not (tmp_path / "out").exists(), "refused before the folder is claimed"


def test_tune_none_is_no_tuning_as_in_compare(tmp_path):
    """compare's "no tuning" is tune=None: continual takes it as False (it got "tune must be True or False")."""
    with pytest.raises(ConfigError, match="unknown continual method or strategy 'bogus'"):  # past the tune check
        headstart.continual("text", tune=None, arms="bogus", out=tmp_path / "out")


def test_progress_the_report_and_the_cli_number_tasks_from_0_by_name_as_r_does_and_count_tasks_not_steps(monkeypatch, capsys):
    """Progress said "ewc seed 0 task 2/5 done" (from 1) of the task the notes and R[i][j] call task 1, and the CLI's
    last line counted "21 steps trained now" (tasks)."""
    from types import SimpleNamespace

    from headstart.cli.continual import continual as cli_continual
    from headstart.continual import task_done_text
    from headstart.report.continual import continual_markdown

    stream = SimpleNamespace(tasks=[SimpleNamespace(name=n) for n in ("a[0, 1]", "a[2, 3]", "a[4, 5]")])
    chain = SimpleNamespace(arm=SimpleNamespace(label="ewc"), seed=0, stream=stream, method=SimpleNamespace(joint=False))
    assert task_done_text(chain, 1) == "ewc seed 0: task 1 (a[2, 3]) of tasks 0–2 done"
    chain.method.joint, chain.arm.label = True, "joint"
    assert task_done_text(chain, 2) == "joint seed 0: every task at once (tasks 0–2) done"
    text = continual_markdown({"arms": [], "recommended": None}, stream="s", scenario="class", tasks=["a", "b"], notes=[])
    assert "Tasks in order, numbered from 0 as in R: 0 a → 1 b." in text
    result = SimpleNamespace(analysis={"arms": [], "recommended": None}, flags=[], trained=21,
                             reports={"continual.md": Path("out/continual.md")})
    monkeypatch.setattr("headstart.continual.continual", lambda *a, **k: result)
    cli_continual(stream="s", scenario="class", arms="naive", strategy="full-finetune", backbone=None, n="16", seeds=1,
                  out=Path("out"), lr=None, head_lr=None, epochs=None, min_steps=None, max_steps=None, image_size=None,
                  max_test="60", alone=False, tune=False, workers=1, backend="local", address=None, quiet=True)
    assert capsys.readouterr().out.strip().endswith("(21 tasks trained now, over every arm and seed)")


def test_seeds_that_all_scored_or_differed_alike_show_no_interval_and_do_not_make_a_clear_recommendation():
    """Three seeds, replay 10 points ahead of naive on validation in every one: the paired interval read "+10.0 to
    +10.0" and led the pick as "Recommended"; naive's test ACC of 70% in every seed read "70.0 (70.0 to 70.0)". Identical
    seeds are no error seen, not certainty: no interval, as compare's report says, in the markdown, the HTML's data,
    continual.json's rows and the versus text alike."""
    from headstart.analysis.continual import continual_rows, recommended_word, versus_text
    from headstart.report.continual import continual_markdown
    from headstart.report.continual_html import continual_html

    analysis = continual_rows(_chain_runs("replay", "replay", [0.80, 0.81, 0.82], [0.70, 0.74, 0.72])
                              + _chain_runs("naive", "naive", [0.70, 0.71, 0.72], [0.70, 0.70, 0.70]))
    why = "every seed gave the same value and no test predictions are stored to resample"
    naive = next(r for r in analysis["arms"] if r["arm"] == "naive")
    assert naive["acc"]["no_interval"] == why and analysis["versus"]["val"]["no_interval"] == why
    assert recommended_word(analysis) == "Best on validation (not a clear choice)"
    assert versus_text(analysis["versus"]).startswith(f"against the runner-up naive, paired over 3 seeds: validation ACC "
                                                      f"+10.0 points (no interval: {why}), test")
    assert versus_text(analysis["versus"]).endswith("; validation does not tell the two apart")
    text = continual_markdown({**analysis, "recommended_caveat": None}, stream="s", scenario="class", tasks=["a", "b"], notes=[])
    assert f"| naive | 70.0 (no interval: {why}) |" in text and "70.0 (70.0 to 70.0)" not in text
    page = continual_html({**analysis, "recommended_caveat": None}, title="t", tasks=["a", "b"], notes=[])
    assert f'"no_interval": "{why}"' in page and f'"70.0 (no interval: {why})"' in page  # the cell as the markdown's


def test_joint_is_a_reference_and_the_notes_say_what_sits_above_it_and_why(monkeypatch, tmp_path):
    """cont: joint's budget capped at 100 steps (the rule asked 500) put alone and replay above it, under a chart line
    labelled "ceiling" and a summary saying "the usual upper bound". The notes name the arms above joint, alone's
    per-task models and the cap; a cap with nothing above is said too; the chart's line is "all tasks at once"."""
    from types import SimpleNamespace

    from headstart.continual.notes import joint_notes

    def acc(mean):
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "seeds": 1}

    arms = [{"arm": "joint", "method": "joint", "acc": acc(0.478)}, {"arm": "replay", "method": "replay", "acc": acc(0.52)},
            {"arm": "alone", "method": "alone", "acc": acc(0.9)}, {"arm": "naive", "method": "naive", "acc": acc(0.2)}]
    step = SimpleNamespace(spec={"n": 64, "continual": {"method": "joint"},
                                 "train": {"epochs": 3, "min_steps": 500, "max_steps": 100, "batch_size": 16}})
    (note,) = joint_notes({"arms": arms}, [step], "class")
    assert note.startswith("joint (every task's data at once, ACC 47.8%) is a reference, not an upper bound: "
                           "replay (52.0%), alone (90.0%) score above it; alone trains a model per task, learns and is "
                           "scored over each task's own classes only"), note
    assert note.endswith("; joint's budget was capped by max_steps (100 steps where the rule asked 500) (max_steps raises "
                         "the cap)."), note  # a Python call's note: continual's keyword, not the CLI's --max-steps
    (note,) = joint_notes({"arms": [arms[0], arms[3]]}, [step], "task")
    assert "may fall short" in note and "100 steps where the rule asked 500" in note, note
    assert joint_notes({"arms": [arms[0], arms[3]]}, [], "task") == [], "nothing above it, nothing cut: nothing to say"
    from headstart.report import continual as report

    figures = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figures.append(fig))
    matrices = {"joint": [[None, None], [0.5, 0.45]], "replay": [[0.9, None], [0.5, 0.54]], "alone": [[0.9, None], [0.9, 0.9]],
                "naive": [[0.9, None], [0.1, 0.3]]}
    report.continual_charts({"arms": [{**a, "matrix": matrices[a["arm"]]} for a in arms]}, tmp_path, tasks=["a", "b"])
    labels = figures[1].axes[0].get_legend_handles_labels()[1]
    assert "joint (all tasks at once)" in labels and not any("ceiling" in label for label in labels), labels


def test_continual_json_prints_the_arms_the_recommendation_and_the_notes_as_multitask_json_does(monkeypatch, capsys):
    """multitask, meta-train, sft and prefer had --json; continual had none. It prints what continual() returns for its
    arms (ACC, BWT, the matrix), the recommended arm and the notes, and no text lines."""
    import json
    from types import SimpleNamespace

    from conftest import run_cli

    arm = {"arm": "naive", "method": "naive", "acc": {"mean": 0.5}, "bwt": {"mean": -0.1}, "matrix": [[0.9, None], [0.4, 0.6]]}
    result = SimpleNamespace(analysis={"arms": [arm], "recommended": "naive"}, flags=["naive learnt task 1 no better than "
                             "its majority class"], trained=2, reports={"continual.md": Path("out/continual.md")})
    monkeypatch.setattr("headstart.continual.continual", lambda *a, **k: result)
    code, out, err = run_cli(["continual", "--stream", "s", "--arms", "naive", "--out", "out", "-q", "--json"], monkeypatch, capsys)
    assert code in (0, None) and json.loads(out) == {"arms": [arm], "recommended": "naive", "notes": result.flags}, (out, err)
    code, out, _ = run_cli(["continual", "--stream", "s", "--arms", "naive", "--out", "out", "-q"], monkeypatch, capsys)
    assert out.startswith("naive: ACC 50.0%, BWT -10.0 points\n"), out
    arm["bwt"] = {"mean": -0.0003}  # a tiny loss was printed "BWT -0.0 points"
    code, out, _ = run_cli(["continual", "--stream", "s", "--arms", "naive", "--out", "out", "-q"], monkeypatch, capsys)
    assert out.startswith("naive: ACC 50.0%, BWT -0.03 points\n"), out


def test_a_capped_budget_per_task_says_its_rule_as_a_rule_and_the_epochs_that_ran():
    """"3 epochs, at least 50 steps, capped at 5 by max_steps" read as 3 epochs run: it now says the rule as one, and
    the epochs the 5 steps were (64 rows in batches of 16: 1.2)."""
    from types import SimpleNamespace

    from headstart.continual.notes import budget_notes

    def step(cap):
        return SimpleNamespace(spec={"strategy": "full-finetune", "n": 64,
                                     "train": {"epochs": 3, "min_steps": 50, "max_steps": cap, "batch_size": 16, "lr": 1e-5}})

    assert budget_notes([step(5)]) == ["Budget per task as run: full-finetune: the rule: 3 epochs, at least 50 steps, "
                                       "asking 50; capped at 5 by max_steps: 1.2 epochs run, lr 1e-05."]
    assert budget_notes([step(None)]) == ["Budget per task as run: full-finetune: 3 epochs, at least 50 steps, lr 1e-05."]


def test_max_val_caps_each_tasks_validation_rows_keyed_in_its_steps_and_an_older_store_resumes(stream, tmp_path,
                                                                                              tiny_registry, monkeypatch,
                                                                                              capsys):
    """continual had no --max-val (train's and compare's): each task validated on up to 300 rows. It caps every task's
    split, is part of each step's key and of continual.json's settings (another cap into the same --out is refused,
    nothing lost), and a store from before it (the default's steps, no max_val recorded) resumes, nothing retrained."""
    import re

    from conftest import assert_user_error, run_cli

    from headstart.continual import continual
    from headstart.store import Store

    def run(out, **keywords):
        return continual(str(stream), arms="naive", backbone="tiny", n=16, seeds=1, out=out, config=FAST, alone=False,
                         **keywords)

    capped = tmp_path / "capped"
    assert run(capped, max_val=8).trained == 2
    with Store(capped, create=False) as store:
        assert {r.spec["data"]["split"]["max_val"] for r in store.results()} == {8}, "part of each step's key"
    assert json.loads((capped / "continual.json").read_text())["settings"]["max_val"] == 8
    stored = (capped / "runs.sqlite").read_bytes()
    with pytest.raises(ConfigError, match=rf"^--out {re.escape(repr(str(capped)))} holds the report of another continual "
                                          r"run \(max_val 8, not 300\)"):
        run(capped)
    assert (capped / "runs.sqlite").read_bytes() == stored
    command = ["continual", "--stream", str(stream), "--arms", "naive", "--backbone", "tiny", "--n", "16", "--seeds", "1",
               "--no-alone", "--max-steps", "2", "-q", "--out"]
    code, _, err = run_cli([*command, str(tmp_path / "cli"), "--max-val", "8"], monkeypatch, capsys)
    assert code in (0, None), err
    with Store(tmp_path / "cli", create=False) as store:
        assert {r.spec["data"]["split"]["max_val"] for r in store.results()} == {8}
    assert_user_error(run_cli([*command, str(tmp_path / "bad"), "--max-val", "0"], monkeypatch, capsys),
                      "--max-val must be a positive integer")
    with pytest.raises(ConfigError, match=r"^max_val must be a positive integer"):
        headstart.continual(str(stream), out=tmp_path / "zero", max_val=0)  # the public call names the keyword

    plain = tmp_path / "plain"
    assert run(plain).trained == 2
    with Store(plain, create=False) as store:
        assert all("split" not in r.spec["data"] for r in store.results()), "the default's keys as before max_val"
    record = json.loads((plain / "continual.json").read_text())
    assert record["settings"].pop("max_val") == 300
    (plain / "continual.json").write_text(json.dumps(record))  # as written before continual took max_val
    assert run(plain, max_val=300).trained == 0, "the default typed: the same steps, resumed"


def test_max_test_is_keyed_in_each_step_as_max_val_is_so_a_resume_with_another_cap_trains_and_the_defaults_resume(
        stream, tmp_path, tiny_registry):
    """--max-test was kept in continual.json's settings but not in each step's key: a store stopped before its report
    (no continual.json to refuse another cap) resumed with another --max-test reused steps scored on the other cap's
    test rows. A cap other than the default (1000) is part of each step's key, as --max-val's is; the default's steps
    keep the keys they had, so an older store with it resumes."""
    from headstart.continual import continual
    from headstart.store import Store

    def run(out, **keywords):
        return continual(str(stream), arms="naive", backbone="tiny", n=16, seeds=1, out=out, config=FAST, alone=False,
                         **keywords)

    def caps(out):
        with Store(out, create=False) as store:
            return sorted(str(r.spec["data"].get("split", {}).get("max_test")) for r in store.results())

    capped = tmp_path / "capped"
    assert run(capped, max_test=20).trained == 2
    assert caps(capped) == ["20", "20"], "part of each step's key"
    (capped / "continual.json").unlink()  # as a run stopped before its report leaves the store
    assert run(capped).trained == 2, "the default cap's steps are not the 20-row steps"
    assert caps(capped) == ["20", "20", "None", "None"]
    (capped / "continual.json").unlink()
    assert run(capped, max_test=20).trained == 0, "the same cap again: its steps, resumed"
    plain = tmp_path / "plain"
    assert run(plain, max_test=None).trained == 2
    assert caps(plain) == ["all", "all"], "every test row is a cap of its own"
    assert run(plain, max_test="all").trained == 0
    with Store(capped, create=False) as store:
        default = [r for r in store.results() if "split" not in r.spec["data"]]
    assert len(default) == 2, "the default's steps carry no split: their keys as before max_test was keyed"


def test_a_stream_files_task_of_star_ratings_says_how_it_was_read_and_names_no_task(tmp_path, caplog):
    """continual takes no --task: a stream file's task of -1/0/1 labels noted "pass --task regression", a flag it
    refuses. The note says how the labels were read, and no fix."""
    import logging

    from headstart.continual.streams import load_stream

    for name, shift in (("a.csv", 0), ("b.csv", 1)):
        (tmp_path / name).write_text("text,label\n" + "".join(f"review {i} number {name},{(i + shift) % 3 - 1}\n"
                                                             for i in range(60)))
    (tmp_path / "ratings.toml").write_text('tasks = ["a.csv", "b.csv"]\n')
    with caplog.at_level(logging.INFO, logger="headstart"):
        load_stream(str(tmp_path / "ratings.toml"), "task")
    assert "labels read as 3 classes (-1, 0, 1), not as a scale" in caplog.text and "task" not in caplog.text.replace(
        "tasks", ""), caplog.text
