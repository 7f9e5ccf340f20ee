"""Ctrl-C and SIGTERM during ``headstart train`` / ``headstart.fit``'s steps keep the run: the best validation
checkpoint so far (or the last step's weights before any check), saved as interrupted, loadable, and said in one line."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from conftest import run_cli, tiny_backbone

import headstart
from headstart import engine
from headstart.fit_result import Interrupted
from headstart.specs import TrainConfig

CONFIG = TrainConfig(max_steps=8, min_steps=8, batch_size=8, evals_per_phase=4, patience=0, precision="fp32")


pytestmark = pytest.mark.usefixtures("default_sigterm")  # tests/conftest.py


def stop_at(monkeypatch, step: int, how: str) -> None:
    """Ctrl-C (a KeyboardInterrupt) or a real SIGTERM to this process as the engine starts its ``step``-th step (1-based)."""
    real, calls = engine.lr_factor, []

    def hooked(phase_step, *args, **kwargs):
        if phase_step == step - 1 and not calls:
            calls.append(phase_step)
            if how == "sigterm":
                assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
                os.kill(os.getpid(), signal.SIGTERM)  # the handler raises before the next line
            else:
                raise KeyboardInterrupt
        return real(phase_step, *args, **kwargs)

    monkeypatch.setattr(engine, "lr_factor", hooked)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_fit_saves_its_best_checkpoint_so_far_and_raises_with_it(how, toy_csv, tiny_registry, tmp_path, monkeypatch):
    out = tmp_path / "run"
    stop_at(monkeypatch, 6, how)
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG)
    run = stopped.value.run
    by = "SIGTERM" if how == "sigterm" else "Ctrl-C"
    assert isinstance(stopped.value, KeyboardInterrupt) and run.ended_by == f"interrupted by {by} at step 5 of 8", run
    assert run.out == out and run.steps == 5 and run.best_step in (2, 4), run
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["ended_by"], metrics["steps"], metrics["planned_steps"]) == (run.ended_by, 5, 8), metrics
    assert [h["step"] for h in metrics["history"]] == [2, 4]
    assert str(stopped.value) == (f"interrupted by {by} at step 5 of 8: saved the best validation checkpoint so far "
                                  f"(step {run.best_step}, accuracy {run.val_metrics['accuracy']:.4g}) to {out}; the test split "
                                  f"is not scored yet: headstart.evaluate({str(out)!r})")
    assert f"Stopped early: interrupted by {by} at step 5 of 8" in (out / "README.md").read_text()
    texts = ["good great film", "awful dull plot"]
    assert headstart.predict(out, texts) == run.predict(texts), "the saved run is the checkpoint in memory"
    scored = headstart.evaluate(out, "val")
    assert scored["accuracy"] == pytest.approx(run.val_metrics["accuracy"])
    assert scored["cut_short"] == (f"interrupted by {by} at step 5 of 8 and kept its best validation checkpoint "
                                   f"(step {run.best_step})"), "a later score says what it is of"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the default is back once the run is over"


def test_an_interrupted_run_reads_as_interrupted_not_done_and_stays_usable(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """An interrupted run read as status "done" (FitResult, load, metrics.json), so ``run.status == "done"`` took a
    model of a few steps for a finished one. It is "interrupted" everywhere, the repr leads with it, and a run saved
    before that status ("done" with an interrupt's ``ended_by``) reads so too; predict and evaluate still take it."""
    out = tmp_path / "run"
    stop_at(monkeypatch, 3, "ctrl-c")
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG)
    run = stopped.value.run
    assert run.status == "interrupted" and repr(run).startswith("FitResult(interrupted, "), repr(run)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["ended_by"] == "interrupted by Ctrl-C at step 2 of 8"
    assert headstart.load(out).status == "interrupted"
    (out / "metrics.json").write_text(json.dumps({**metrics, "status": "done"}))  # as saved before this status existed
    loaded = headstart.load(out)
    assert loaded.status == "interrupted" and repr(loaded).startswith("FitResult(interrupted, ")
    texts = ["good great film", "awful dull plot"]
    assert loaded.predict(texts) == run.predict(texts) == headstart.predict(out, texts)
    assert "accuracy" in headstart.evaluate(out, "val") and "accuracy" in loaded.evaluate("val")


def test_before_any_check_the_last_steps_weights_are_kept_and_said_so(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """No check had run: the weights of the step taken are saved (a head trained one step beats an untrained one),
    with no validation metrics, and the line says so."""
    import torch

    from headstart.saved import load_run

    out = tmp_path / "run"
    stop_at(monkeypatch, 2, "ctrl-c")
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG)
    run = stopped.value.run
    assert (run.steps, run.best_step, run.val_metrics) == (1, 0, {}), run
    assert "interrupted by Ctrl-C at step 1 of 8: saved the weights after step 1 (no validation check had run yet) to " in str(stopped.value)
    saved = load_run(out).model.state_dict()
    for name, value in run._loaded.model.state_dict().items():
        assert torch.equal(saved[name].cpu(), value.cpu()), name
    untrained = tiny_backbone(0).embed.weight.detach()
    assert not torch.equal(saved["backbone.embed.weight"].cpu(), untrained), "a step's weights, not the untrained ones"
    assert "the weights after step 1, before any validation check" in (out / "README.md").read_text()


def test_a_finished_run_in_out_is_kept_and_without_out_nothing_is_saved(toy_csv, tiny_registry, tmp_path, monkeypatch):
    out = tmp_path / "run"
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG)
    finished = {p.name: p.read_bytes() for p in out.iterdir()}
    stop_at(monkeypatch, 6, "ctrl-c")
    with pytest.raises(Interrupted) as stopped:  # without retrain the finished run there is loaded, not trained again
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG, retrain=True)
    assert stopped.value.run.out is None and {p.name: p.read_bytes() for p in out.iterdir()} == finished
    assert str(stopped.value) == (f"interrupted by Ctrl-C at step 5 of 8: this run was not saved: the "
                                  f"finished run already in {str(out)!r} was kept; the same command trains it again from the start")
    stop_at(monkeypatch, 6, "ctrl-c")
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=CONFIG)
    run = stopped.value.run
    assert run.out is None and str(stopped.value).startswith("interrupted by Ctrl-C at step 5 of 8: nothing was saved, for "
                                                              "want of out=DIR; the best validation checkpoint so far (step ")
    assert len(run.predict(["good great film"])) == 1, "the checkpoint in memory still predicts"
    # an interrupted run in out is no finished one: the next interrupted run of it replaces it
    cut = tmp_path / "cut"
    for step in (3, 7):
        stop_at(monkeypatch, step, "ctrl-c")
        with pytest.raises(Interrupted):
            headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=cut, config=CONFIG)
        assert json.loads((cut / "metrics.json").read_text())["steps"] == step - 1


def test_the_same_call_after_an_interrupt_says_it_trains_again_from_the_start(toy_csv, tiny_registry, tmp_path,
                                                                               monkeypatch, capsys, caplog):
    """After Ctrl-C the same call started from step 0 without a word; now a note says the run there was interrupted
    and trains again from the start (no resuming mid-run), from Python and from train."""
    import logging

    out, real = tmp_path / "run", engine.lr_factor
    stop_at(monkeypatch, 3, "ctrl-c")
    with pytest.raises(Interrupted):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG)
    monkeypatch.setattr(engine, "lr_factor", real)
    with caplog.at_level(logging.INFO, logger="headstart"):
        run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG)
    assert (f"{out} holds a run interrupted by Ctrl-C at step 2 of 8: training it again from the start (fit does not "
            "resume mid-run)") in caplog.text
    assert (run.status, run.steps, run.ended_by) == ("done", 8, None)
    args = ["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32",
            "--max-steps", "8", "--min-steps", "8", "--batch-size", "8", "--evals-per-phase", "4", "--patience", "0",
            "--precision", "fp32", "--out", str(tmp_path / "cli")]
    stop_at(monkeypatch, 3, "sigterm")
    assert run_cli(args, monkeypatch, capsys)[0] == 130
    monkeypatch.setattr(engine, "lr_factor", real)
    code, printed, err = run_cli(args, monkeypatch, capsys)
    assert code == 0 and (f"note: {tmp_path / 'cli'} holds a run interrupted by SIGTERM at step 2 of 8: training it again "
                          "from the start (train does not resume mid-run)") in err, err
    assert printed.startswith("done: full-finetune")


def test_an_interrupt_in_a_tuning_trial_saves_nothing_and_says_so(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """No run of the chosen rate has trained yet: nothing to keep. NothingSaved is an Interrupted whose run is None, so
    ``except Interrupted as e: e.run`` catches it (it was a bare KeyboardInterrupt, missed there), and its text is a
    Python caller's ("the same call", not the CLI's "command")."""
    from headstart.fit_result import NothingSaved

    stop_at(monkeypatch, 2, "ctrl-c")
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", config=CONFIG, tune="lr",
                      grid=[1e-3, 1e-2])
    assert isinstance(stopped.value, NothingSaved) and isinstance(stopped.value, KeyboardInterrupt)
    assert stopped.value.run is None and not (tmp_path / "run").exists()
    assert str(stopped.value) == ("interrupted by Ctrl-C in a --tune trial: nothing trained yet; nothing saved; the same "
                                  "call starts again")


@pytest.mark.parametrize("strategy", ["embed-logreg", "setfit"])
def test_train_stopped_in_a_closed_form_solve_says_nothing_was_saved_and_exits_130(strategy, toy_csv, tiny_registry, tmp_path,
                                                                                monkeypatch, capsys):
    """embed-logreg's solve and setfit's pair loop take no engine steps: seconds to redo, nothing kept (it said a bare
    'interrupted')."""
    import headstart.solve

    real = headstart.solve.solve_problem

    def stopped(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(headstart.solve, "solve_problem", stopped)
    out = tmp_path / "run"
    code, printed, err = run_cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", strategy,
                                  "--n", "32", "--out", str(out)], monkeypatch, capsys)
    assert (code, printed, err) == (130, "", "interrupted by SIGTERM before the run's training ended: nothing trained yet; "
                                             "nothing saved; the same command starts again\n") and not out.exists()


@pytest.mark.parametrize("as_json", [False, True])
def test_train_stopped_by_sigterm_says_what_it_kept_in_one_line_and_exits_130(as_json, toy_csv, tiny_registry, tmp_path,
                                                                            monkeypatch, capsys):
    """`timeout 600 headstart train ... --out DIR` stopped mid-run: DIR holds the checkpoint, evaluate scores it."""
    out = tmp_path / "my run"
    command = ["train", "--quiet", "--precision", "fp32", "--data", str(toy_csv), "--backbone", "tiny", "--strategy",
               "full-finetune", "--n", "32", "--max-steps", "8", "--min-steps", "8", "--batch-size", "8",
               "--evals-per-phase", "4", "--patience", "0", "--out", str(out), *(["--json"] if as_json else [])]
    stop_at(monkeypatch, 6, "sigterm")
    code, printed, err = run_cli(command, monkeypatch, capsys)
    metrics = json.loads((out / "metrics.json").read_text())
    assert code == 130 and metrics["ended_by"] == "interrupted by SIGTERM at step 5 of 8", (code, err)
    assert "Traceback" not in err
    if as_json:
        summary = json.loads(printed)
        assert (summary["out"], summary["ended_by"], summary["steps"]) == (str(out), metrics["ended_by"], 5) and err == "", err
    else:
        assert printed == "" and err == (f"interrupted by SIGTERM at step 5 of 8: saved the best validation checkpoint so far "
                                         f"(step {metrics['best_step']}, accuracy {metrics['val']['accuracy']:.4g}) to {out}; the "
                                         f"test split is not scored yet: headstart evaluate '{out}'\n"), err
    code, printed, err = run_cli(["evaluate", str(out)], monkeypatch, capsys)
    assert code in (0, None) and printed.startswith("test ("), (code, printed, err)
    assert (f"note: this run was interrupted by SIGTERM at step 5 of 8 and kept its best validation checkpoint (step "
            f"{metrics['best_step']}): these scores are of that, not of a run that finished its steps") in err, err


# ---- after the steps: the scoring of --retain and --eval-data ------------------------------------------------------


def stop_scoring_at(monkeypatch, where: str, call: int, how: str) -> None:
    """Ctrl-C or a real SIGTERM to this process as the ``call``-th (1-based) dataset of ``where`` ("retention":
    ``retention.retention``, "ood": ``ood.evaluate_elsewhere``) starts to be scored."""
    import headstart.ood
    import headstart.retention

    module, name = (headstart.retention, "retention") if where == "retention" else (headstart.ood, "evaluate_elsewhere")
    real, calls = getattr(module, name), []

    def hooked(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            if how == "sigterm":
                assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, hooked)


def scored_fit(toy_csv, other_csv, out, *, retain: bool = True, **kwargs):
    """A run measuring retention on ``other_csv`` (``retain``: a minute on the tiny fixtures) and scored out of domain on
    it and on a third dataset."""
    return headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG,
                         retain=[str(other_csv)] if retain else [], eval_data=[f"{other_csv}[neutral=-]", third(other_csv)],
                         **kwargs)


def third(other_csv) -> str:
    """A third dataset beside ``other_csv`` (the toy data with another seed), its neutral rows left out of the scores."""
    import pandas as pd
    from conftest import make_toy

    data, path = make_toy(300, classes=3, seed=11), other_csv.parent / "third.csv"
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[y] for y in data.targets]}).to_csv(path, index=False)
    return f"{path}[neutral=-]"


FILES = ["README.md", "metrics.json", "spec.json", "weights.safetensors"]
KEYS = ["split", "status", "error", "val", "val_held_out", "val_checks", "steps", "best_step", "train_seconds", "processes",
        "trainable_params", "total_params", "history", "chosen", "majority", "flags", "retention", "ood"]  # as before fit saved first


def test_a_run_scored_to_the_end_is_saved_as_it_always_was(toy_csv, other_csv, tiny_registry, tmp_path):
    """fit saves the trained run before it is scored and writes the scores in after: the folder ends as it did."""
    out = tmp_path / "run"
    run = scored_fit(toy_csv, other_csv, out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == FILES and list(metrics) == KEYS, (list(out.iterdir()), list(metrics))
    assert (metrics["retention"], metrics["ood"]) == (run.retention, run.ood) and len(run.ood) == 2
    assert (run.ended_by, run.not_scored) == (None, None), run
    assert "Stopped early" not in (out / "README.md").read_text()
    plain = tmp_path / "plain"  # nothing to score: metrics.json is written once, as before
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=plain, config=CONFIG)
    assert list(json.loads((plain / "metrics.json").read_text())) == [k for k in KEYS if k not in ("retention", "ood")]


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupt_while_scoring_out_of_domain_keeps_the_trained_run_and_what_was_scored(how, toy_csv, other_csv,
                                                                                            tiny_registry, tmp_path, monkeypatch):
    out = tmp_path / "run"
    stop_scoring_at(monkeypatch, "ood", 2, how)  # the second dataset
    with pytest.raises(Interrupted) as stopped:
        scored_fit(toy_csv, other_csv, out, retain=False)
    run, by, second = stopped.value.run, "SIGTERM" if how == "sigterm" else "Ctrl-C", third(other_csv)
    assert run.ended_by == f"interrupted by {by} after training, while scoring {second} out of domain", run
    assert run.not_scored == {"eval_data": [second]} and run.steps == 8 and run.out == out, run
    assert [o["data"] for o in run.ood] == [str(other_csv)] and run.retention == [], "what was scored is kept"
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == [*KEYS[:-2], "ood", "not_scored", "ended_by"], list(metrics)
    assert (metrics["not_scored"], metrics["ended_by"], metrics["ood"]) == (run.not_scored, run.ended_by, run.ood)
    assert str(stopped.value) == (f"interrupted by {by} after training, while scoring {second} out of domain: saved the trained "
                                  f"run to {out}; the test split and {second} are not scored yet: headstart.evaluate("
                                  f"{str(out)!r}, eval_data={[second]!r}, full=True)")
    texts = ["good great film", "awful dull plot"]
    assert headstart.predict(out, texts) == run.predict(texts), "the saved run is the trained one"
    scored = headstart.evaluate(out, eval_data=[second], full=True)  # the line's command scores what was left
    assert scored["ood"][0]["n"] > 0 and "accuracy" in scored
    assert "cut_short" not in scored, "its steps finished: the interrupt came while it was scored"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_interrupt_while_measuring_retention_names_what_no_command_but_training_measures(toy_csv, other_csv, tiny_registry,
                                                                                        tmp_path, monkeypatch):
    out = tmp_path / "run"
    stop_scoring_at(monkeypatch, "retention", 1, "ctrl-c")
    with pytest.raises(Interrupted) as stopped:
        scored_fit(toy_csv, other_csv, out, tta=["tent"])
    run = stopped.value.run
    assert run.not_scored == {"retain": [str(other_csv)], "eval_data": [f"{other_csv}[neutral=-]", third(other_csv)],
                              "tta": ["tent"]} and (run.retention, run.ood) == ([], []), run
    metrics = json.loads((out / "metrics.json").read_text())
    assert "retention" not in metrics and "ood" not in metrics and metrics["not_scored"] == run.not_scored
    assert str(stopped.value).startswith(f"interrupted by Ctrl-C after training, while measuring retention on {other_csv}: saved "
                                         f"the trained run to {out}; retention on {other_csv} is not measured (fit(retain=...) "
                                         "measures it, at training); the test split and ")
    # a run interrupted while it was scored is trained to the end: an interrupt in the steps of the next is not saved over it
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    stop_at(monkeypatch, 3, "ctrl-c")
    with pytest.raises(Interrupted) as again:
        scored_fit(toy_csv, other_csv, out, tta=["tent"])
    assert again.value.run.out is None and {p.name: p.read_bytes() for p in out.iterdir()} == kept


def test_train_interrupted_while_scoring_says_so_in_one_line_and_exits_130(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                          monkeypatch, capsys):
    out = tmp_path / "my run"
    other = f"{other_csv}[neutral=-]"
    command = ["train", "--quiet", "--precision", "fp32", "--data", str(toy_csv), "--backbone", "tiny", "--strategy",
               "full-finetune", "--n", "32", "--max-steps", "8", "--min-steps", "8", "--batch-size", "8",
               "--evals-per-phase", "4", "--patience", "0", "--out", str(out), "--eval-data", other]
    stop_scoring_at(monkeypatch, "ood", 1, "sigterm")
    code, printed, err = run_cli(command, monkeypatch, capsys)
    assert code == 130 and printed == "", (code, printed, err)
    assert err == (f"interrupted by SIGTERM after training, while scoring {other} out of domain: saved the trained run to {out}; "
                   f"the test split and {other} are not scored yet: headstart evaluate '{out}' --eval-data '{other}'\n"), err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["not_scored"] == {"eval_data": [other]} and "ood" not in metrics, metrics
    code, printed, err = run_cli(["evaluate", str(out), "--eval-data", other], monkeypatch, capsys)
    assert code in (0, None) and printed.startswith("test (") and f"\ntest of {other_csv} (" in printed, printed


def _a_finished_run(toy_csv, other_csv, tmp_path, monkeypatch, capsys):
    """``train --out runs/run --eval-data OTHER`` run to the end: (its out, OTHER, the command, its files' bytes)."""
    out, other = tmp_path / "runs" / "run", f"{other_csv}[neutral=-]"
    command = ["train", "--quiet", "--precision", "fp32", "--data", str(toy_csv), "--backbone", "tiny", "--strategy",
               "full-finetune", "--n", "32", "--max-steps", "8", "--min-steps", "8", "--batch-size", "8",
               "--evals-per-phase", "4", "--patience", "0", "--out", str(out), "--eval-data", other]
    code, _, err = run_cli(command, monkeypatch, capsys)
    assert code in (0, None), err
    return out, other, command, {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupt_while_scoring_keeps_the_finished_run_in_out_and_the_new_one_beside_it(how, toy_csv, other_csv,
                                                                                          tiny_registry, tmp_path,
                                                                                          monkeypatch, capsys):
    """``train --out OUT`` over a finished run, interrupted while the new run is scored: OUT keeps the finished run (the
    new, unscored one was swapped in over it), and the new one is saved in OUT-unscored, named in the one line."""
    out, other, command, finished = _a_finished_run(toy_csv, other_csv, tmp_path, monkeypatch, capsys)
    stop_scoring_at(monkeypatch, "ood", 1, how)
    code, printed, err = run_cli([*command, "--seed", "1", "--overwrite"], monkeypatch, capsys)
    beside, by = tmp_path / "runs" / "run-unscored", "SIGTERM" if how == "sigterm" else "Ctrl-C"
    assert code == 130 and printed == "", (code, printed, err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == finished, "the finished run is as it was"
    assert sorted(p.name for p in out.parent.iterdir()) == ["run", "run-unscored"], "no hidden copy, the new run beside"
    assert err == (f"interrupted by {by} after training, while scoring {other} out of domain: saved the trained run to "
                   f"{beside} (the finished run in {out} is kept); the test split and {other} are not scored yet: "
                   f"headstart evaluate {beside} --eval-data '{other}'\n"), err
    metrics = json.loads((beside / "metrics.json").read_text())
    assert metrics["not_scored"] == {"eval_data": [other]} and json.loads((beside / "spec.json").read_text())["spec"]["seed"] == 1
    code, printed, err = run_cli(["evaluate", str(beside), "--eval-data", other], monkeypatch, capsys)
    assert code in (0, None) and f"\ntest of {other_csv} (" in printed, printed
    stop_scoring_at(monkeypatch, "ood", 1, how)  # again: the next free name, the finished run still kept
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG, seed=2,
                      eval_data=[other], overwrite=True)
    assert stopped.value.run.out == tmp_path / "runs" / "run-unscored-2", stopped.value.run
    assert {p.name: p.read_bytes() for p in out.iterdir()} == finished


def test_an_interrupt_while_scoring_whose_move_beside_fails_keeps_both_runs_and_says_where_in_one_line(
        toy_csv, other_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """``train --out OUT`` over a finished run, interrupted while scoring, where moving the new run to OUT-unscored fails
    (a permission changed, a read-only remount): the OSError went out as a traceback and the trained run, left staged,
    was deleted. The finished run stays in OUT, the new one where it was saved, named with why it was not moved, in
    the one line; it can be evaluated there."""
    out, other, command, finished = _a_finished_run(toy_csv, other_csv, tmp_path, monkeypatch, capsys)
    real = os.rename

    def refused(source, target, *args, **kwargs):
        if str(target).endswith("-unscored"):
            raise PermissionError(13, "Permission denied", str(target))
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", refused)
    stop_scoring_at(monkeypatch, "ood", 1, "ctrl-c")
    code, printed, err = run_cli([*command, "--seed", "1", "--overwrite"], monkeypatch, capsys)
    monkeypatch.setattr(os, "rename", real)
    assert code == 130 and printed == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1, (code, err)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == finished, "the finished run is as it was"
    (staged,) = [p for p in out.parent.iterdir() if p.name != "run"]
    assert json.loads((staged / "spec.json").read_text())["spec"]["seed"] == 1, "the trained run is kept"
    assert err.startswith(f"interrupted by Ctrl-C after training, while scoring {other} out of domain: saved the trained "
                          f"run to {staged} (it could not be moved to {out}-unscored (permission denied); the finished "
                          f"run in {out} is kept); the test split and {other} are not scored yet: headstart evaluate "), err
    code, printed, err = run_cli(["evaluate", str(staged), "--eval-data", other], monkeypatch, capsys)
    assert code in (0, None) and f"\ntest of {other_csv} (" in printed, (printed, err)


def test_adapters_list_says_which_run_an_interrupt_ended(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """A user choosing among runs sees that one holds a checkpoint from before its steps ended (it said nothing)."""
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "runs" / "done", config=CONFIG)
    stop_at(monkeypatch, 6, "sigterm")
    with pytest.raises(Interrupted):
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "runs" / "cut", config=CONFIG, seed=1)
    code, printed, err = run_cli(["adapters", "list", str(tmp_path / "runs")], monkeypatch, capsys)
    lines = {line.split()[0]: line for line in printed.splitlines()[:-1]}
    assert code in (0, None) and lines[str(tmp_path / "runs" / "cut")].endswith("  (interrupted by SIGTERM at step 5 of 8)"), printed
    assert "interrupted" not in lines[str(tmp_path / "runs" / "done")], printed
    code, printed, err = run_cli(["adapters", "list", str(tmp_path / "runs"), "--json"], monkeypatch, capsys)
    assert {Path(r["directory"]).name: r["ended_by"] for r in json.loads(printed)} == {
        "done": None, "cut": "interrupted by SIGTERM at step 5 of 8"}, printed
    code, printed, _ = run_cli(["adapters", "show", str(tmp_path / "runs" / "done")], monkeypatch, capsys)
    assert code in (0, None) and "ended_by" not in printed, "a finished run: no 'ended_by: None' line"
    code, printed, _ = run_cli(["adapters", "show", str(tmp_path / "runs" / "cut")], monkeypatch, capsys)
    assert "\nended_by: interrupted by SIGTERM at step 5 of 8\n" in printed, printed


# ---- between the two: the save of the trained run ------------------------------------------------------------------


def signal_during_save(monkeypatch) -> None:
    """A real SIGTERM to this process while ``fit`` saves its trained run (``saved.save``), just after the files are
    written: where the save did not hold it back, fit raised there and said "nothing saved" of a run it had saved."""
    import headstart.saved

    real = headstart.saved.save

    def sent_while_saving(*args, **kwargs):
        saved = real(*args, **kwargs)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
        os.kill(os.getpid(), signal.SIGTERM)
        return saved

    monkeypatch.setattr(headstart.saved, "save", sent_while_saving)


@pytest.mark.parametrize("scoring", [False, True])
def test_an_interrupt_while_the_trained_run_is_saved_waits_for_the_save_then_stops_before_scoring(scoring, toy_csv, other_csv,
                                                                                                   tiny_registry, tmp_path, monkeypatch):
    from headstart.outdir import finished
    from headstart.saved import cut_short

    out = tmp_path / "run"
    signal_during_save(monkeypatch)
    other = f"{other_csv}[neutral=-]"
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG,
                      eval_data=[other] if scoring else [])
    run = stopped.value.run
    assert run.ended_by == "interrupted by SIGTERM after training, before it was scored" and run.steps == 8, run
    assert run.not_scored == ({"eval_data": [other]} if scoring else {}) and run.out == out and run.ood == [], run
    later = f", eval_data={[other]!r}, full=True" if scoring else ""
    assert str(stopped.value) == (f"interrupted by SIGTERM after training, before it was scored: saved the trained run to {out}; "
                                  f"the test split{f' and {other} are' if scoring else ' is'} not scored yet: "
                                  f"headstart.evaluate({str(out)!r}{later})")
    metrics = json.loads((out / "metrics.json").read_text())
    if scoring:
        assert (metrics["not_scored"], metrics["ended_by"]) == (run.not_scored, run.ended_by), metrics
    else:  # nothing was left to score: the run on disk is a finished one
        assert "not_scored" not in metrics and "ended_by" not in metrics, metrics
    assert finished(out, "run") and cut_short(out) is None, "its steps all ran: a later run is not saved over it"
    assert "Stopped early" not in (out / "README.md").read_text()
    assert headstart.adapters.inspect(out).ended_by is None, "adapters list / show: its steps finished"
    texts = ["good great film", "awful dull plot"]
    assert headstart.predict(out, texts) == run.predict(texts), "the saved run is the trained one"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_whether_an_interrupt_ended_a_runs_steps_is_read_one_way(toy_csv, tiny_registry, tmp_path):
    """``outdir.finished``, ``saved.cut_short`` and the model card read a metrics.json's interrupt one way: they split
    on an empty ``not_scored`` (an interrupt after the last dataset was scored), which fit no longer writes."""
    from types import SimpleNamespace

    from headstart.fit_result import with_scores
    from headstart.model_card import _interrupted
    from headstart.outdir import finished
    from headstart.saved import cut_short

    out = tmp_path / "run"
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG)
    path, done = out / "metrics.json", json.loads((out / "metrics.json").read_text())

    def readings(**changed):
        path.write_text(json.dumps({**done, **changed}))
        return finished(out, "run"), cut_short(out) is not None, bool(_interrupted({**done, **changed}))

    assert readings() == (True, False, False)
    assert readings(ended_by="interrupted by SIGTERM at step 5 of 8", planned_steps=8) == (False, True, True)
    assert readings(ended_by="interrupted by SIGTERM after training, while scoring x out of domain",
                    not_scored={"eval_data": ["x"]}) == (True, False, False)
    # the scores of every dataset written, the interrupt after the last: a finished run's metrics.json
    path.write_text(json.dumps({**done, "not_scored": {"eval_data": ["x"]}}))
    with_scores(run, SimpleNamespace(record={"ood": [{"data": "x", "n": 3, "accuracy": 1.0}]}),
                ended_by="interrupted by Ctrl-C after training, while scoring x out of domain", not_scored={})
    metrics = json.loads(path.read_text())
    assert "not_scored" not in metrics and "ended_by" not in metrics and metrics["ood"][0]["data"] == "x", metrics
    assert finished(out, "run") and cut_short(out) is None


def test_an_interrupt_just_after_an_optimiser_step_counts_that_step(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """Ctrl-C right after the optimiser updated the weights (here in its zero_grad) was counted a step low: "the weights
    after step 1" were the weights after two."""
    from conftest import ctrl_c_after_optimiser_step

    ctrl_c_after_optimiser_step(monkeypatch, 2)
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", config=CONFIG)
    run = stopped.value.run
    assert run.steps == 2 and run.ended_by == "interrupted by Ctrl-C at step 2 of 8" and run.best_step == 0, run
    assert "the weights after step 2 (no validation check had run yet)" in str(stopped.value)


def test_an_interrupt_while_scoring_a_run_without_out_says_it_is_in_memory(toy_csv, other_csv, tiny_registry, monkeypatch):
    stop_scoring_at(monkeypatch, "ood", 1, "ctrl-c")
    other = f"{other_csv}[neutral=-]"
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, config=CONFIG, eval_data=[other])
    run = stopped.value.run
    assert run.out is None and run.not_scored == {"eval_data": [other]} and run.steps == 8, run
    assert str(stopped.value) == (f"interrupted by Ctrl-C after training, while scoring {other} out of domain: the trained "
                                  "run is in memory, not saved, for want of out=DIR (the exception's .run.evaluate(), "
                                  f".run.predict()); the test split and {other} are not scored yet: headstart.evaluate(run, "
                                  f"eval_data={[other]!r}, full=True)")
    assert run.evaluate("val")["accuracy"] == pytest.approx(run.val_metrics["accuracy"]), "the run in memory scores"
    scored = headstart.evaluate(run, eval_data=[other], full=True)  # the line's command, on the exception's run
    assert scored["ood"][0]["n"] > 0 and "accuracy" in scored


def test_a_second_signal_during_the_save_ends_it_and_a_failed_save_is_named(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """The save holds the first Ctrl-C / SIGTERM back; a second ends it at once, as the docstring says (both were held,
    and a slow disk kept the user in). A save that fails while a signal is held: the line named no failure and said
    'the same command starts again' to a user whose disk is full."""
    import errno

    import headstart.saved
    from headstart.errors import WriteError
    from headstart.fit_result import NothingSaved

    def twice(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # held
        os.kill(os.getpid(), signal.SIGTERM)  # acts: raises here, nothing written
        raise AssertionError("the second SIGTERM was held too")

    monkeypatch.setattr(headstart.saved, "save", twice)
    with pytest.raises(NothingSaved) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", config=CONFIG)
    assert str(stopped.value) == ("interrupted by SIGTERM after training, while the trained run was saved: nothing saved; "
                                  "the same call starts again") and not (tmp_path / "run").exists()

    def full(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # held, then the disk fills
        raise WriteError(str(tmp_path / "run"), errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(headstart.saved, "save", full)
    with pytest.raises(NothingSaved) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", config=CONFIG)
    assert str(stopped.value) == ("interrupted by SIGTERM after training, while the trained run was saved: nothing saved; "
                                  f"the save had failed: cannot write into {str(tmp_path / 'run')!r} (No space left on "
                                  "device); free disk space; fix that, then the same call starts again")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupt_before_the_first_step_saves_nothing(how, toy_csv, tiny_registry, tmp_path, monkeypatch):
    """Before the first step nothing has trained: the pre-trained model with an untrained head was saved as a run
    ("interrupted at step 0 of 20", status done, no validation metrics) that evaluate then scored."""
    from headstart.fit_result import NothingSaved

    stop_at(monkeypatch, 1, how)
    with pytest.raises(NothingSaved) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", config=CONFIG)
    by = "SIGTERM" if how == "sigterm" else "Ctrl-C"
    assert str(stopped.value) == (f"interrupted by {by} at step 0 of 8: nothing trained yet; nothing saved; the same "
                                  "call starts again")
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("where", ["claim", "check_nproc"])
@pytest.mark.parametrize("how", ["Ctrl-C", "SIGTERM"])
def test_train_stopped_while_it_starts_says_nothing_was_saved_and_exits_130(how, where, toy_csv, tiny_registry, tmp_path,
                                                                           monkeypatch, capsys):
    """SIGTERM while train started (its --out checked, its data loading) ended it silent, exit 143, where compare said
    "interrupted by SIGTERM before anything was stored"; Ctrl-C there said a bare "interrupted". Stopped in the
    command's own part, before fit (its imports, check_nproc), it said a bare "interrupted [by SIGTERM]"."""
    import headstart.distributed
    import headstart.outdir

    def stop(*args, **kwargs):
        if how == "Ctrl-C":
            raise KeyboardInterrupt
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(headstart.outdir if where == "claim" else headstart.distributed, where, stop)
    out = tmp_path / "run"
    code, printed, err = run_cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy",
                                  "linear-probe", "--n", "32", "--out", str(out)], monkeypatch, capsys)
    assert (code, printed, err) == (130, "", f"interrupted by {how} while it started (its data, backbone settings and "
                                             "split): nothing trained yet; nothing saved; the same command starts again\n")
    assert not out.exists() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_fit_reads_sigterm_from_its_start_up_through_its_training_with_no_gap(toy_csv, tiny_registry, monkeypatch):
    """``fit`` read SIGTERM as Ctrl-C in its start-up, put the default back, then read it again for its training: a
    SIGTERM between the two ended a Python caller's process silent, exit 143. One handler now spans both."""
    import headstart.recipe

    said: list[str] = []
    real_signal, real_run = signal.signal, headstart.recipe.trained_run

    def logged(signum, handler):
        if signum == signal.SIGTERM:
            said.append("default" if handler is signal.SIG_DFL else "read")
        return real_signal(signum, handler)

    def training(*args, **kwargs):
        said.append("training")
        return real_run(*args, **kwargs)

    monkeypatch.setattr(signal, "signal", logged)
    monkeypatch.setattr(headstart.recipe, "trained_run", training)
    headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=16)
    assert said[:said.index("training") + 1] == ["read", "training"], said
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
