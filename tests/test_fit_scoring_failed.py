"""A failure (an exception, not an interrupt) while ``fit`` / ``headstart train`` scores a trained run on ``retain`` /
``eval_data``: a finished run already in ``out`` stays there untouched (the new one goes there only once it is scored);
into an ``out`` without one, the trained run is saved, marked with what failed and what is left unscored."""

from __future__ import annotations

import json
import logging

import pytest
from conftest import run_cli

import headstart
from headstart.specs import TrainConfig

CONFIG = TrainConfig(max_steps=8, min_steps=8, batch_size=8, evals_per_phase=4, patience=0, precision="fp32")


def failing_scorer(monkeypatch) -> list[bool]:
    """``ood.evaluate_elsewhere`` (what scores an eval_data dataset) raises, as a bug or a broken file would, while the
    list returned holds True (set it False: the scorer is mended)."""
    import headstart.ood

    real, broken = headstart.ood.evaluate_elsewhere, [True]

    def boom(*args, **kwargs):
        if broken[0]:
            raise RuntimeError("boom in the scorer")
        return real(*args, **kwargs)

    monkeypatch.setattr(headstart.ood, "evaluate_elsewhere", boom)
    return broken


def fit(toy_csv, other_csv, out, **kwargs):
    return headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG,
                         eval_data=[f"{other_csv}[neutral=-]"], **kwargs)


def files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_failure_while_scoring_keeps_the_finished_run_in_out_untouched_and_the_new_one_beside_it(toy_csv, other_csv, tiny_registry, tmp_path,
                                                                         monkeypatch, caplog):
    out = tmp_path / "runs" / "run"
    fit(toy_csv, other_csv, out)
    finished = files(out)
    failing_scorer(monkeypatch)
    with caplog.at_level(logging.INFO, logger="headstart"), pytest.raises(RuntimeError, match="boom in the scorer"):
        fit(toy_csv, other_csv, out, seed=1, overwrite=True)  # another run, asked to replace it
    assert files(out) == finished, "the finished run is as it was"
    beside = out.parent / "run-unscored"
    assert sorted(p.name for p in out.parent.iterdir()) == ["run", "run-unscored"], "the new run kept beside it, no copy"
    assert (f"failed after training, while it was scored (RuntimeError: boom in the scorer): saved the trained run to "
            f"{beside} (the finished run in {out} is kept)") in caplog.text, caplog.text
    assert f"headstart.evaluate('{beside}'" in caplog.text, caplog.text
    assert json.loads((out / "spec.json").read_text())["spec"]["seed"] == 0
    assert json.loads((beside / "spec.json").read_text())["spec"]["seed"] == 1, "the trained run is not lost"
    assert json.loads((beside / "metrics.json").read_text())["not_scored"] == {"eval_data": [f"{other_csv}[neutral=-]"]}



def test_a_failure_while_scoring_whose_move_beside_fails_keeps_the_trained_run_where_it_was_saved(
        toy_csv, other_csv, tiny_registry, tmp_path, monkeypatch, caplog):
    """As an interrupt there does: where moving the new run to OUT-unscored fails (a permission, a read-only remount),
    it stays in the folder it was saved in, named with why, and the next command writing OUT moves it beside (the
    failure path deleted it: "this run was not saved")."""
    import os

    out = tmp_path / "runs" / "run"
    fit(toy_csv, other_csv, out)
    finished, real = files(out), os.rename

    def refused(source, target, *args, **kwargs):
        if str(target).endswith("-unscored"):
            raise PermissionError(13, "Permission denied", str(target))
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", refused)
    failing_scorer(monkeypatch)
    with caplog.at_level(logging.INFO, logger="headstart"), pytest.raises(RuntimeError, match="boom in the scorer"):
        fit(toy_csv, other_csv, out, seed=1, overwrite=True)
    monkeypatch.setattr(os, "rename", real)
    assert files(out) == finished, "the finished run is as it was"
    (staged,) = [p for p in out.parent.iterdir() if p.name != "run"]
    assert json.loads((staged / "spec.json").read_text())["spec"]["seed"] == 1, "the trained run is not lost"
    assert json.loads((staged / "metrics.json").read_text())["not_scored"] == {"eval_data": [f"{other_csv}[neutral=-]"]}
    assert (f"saved the trained run to {staged} (it could not be moved to {out}-unscored (permission denied); the "
            f"finished run in {out} is kept)") in caplog.text, caplog.text
    assert 0 <= headstart.evaluate(str(staged))["accuracy"] <= 1


def test_a_stop_no_handler_reads_while_scoring_leaves_no_copy_beside_the_finished_run(toy_csv, other_csv, tiny_registry,
                                                                                       tmp_path, monkeypatch):
    """A stop none of fit's handlers reads (SystemExit here; a second Ctrl-C inside one, a SIGTERM after the steps'
    handler is gone) while the new run, saved beside the finished one, is scored: no hidden copy stays beside it."""
    import headstart.ood

    out = tmp_path / "runs" / "run"
    fit(toy_csv, other_csv, out)
    finished = files(out)

    def stop(*args, **kwargs):
        raise SystemExit(143)

    monkeypatch.setattr(headstart.ood, "evaluate_elsewhere", stop)
    with pytest.raises(SystemExit):
        fit(toy_csv, other_csv, out, seed=1, overwrite=True)
    assert files(out) == finished, "the finished run is as it was"
    assert [p.name for p in out.parent.iterdir()] == ["run"], "no staged copy left beside it"


def test_a_failure_while_scoring_into_a_new_out_saves_the_trained_run_marked_so(toy_csv, other_csv, tiny_registry,
                                                                                tmp_path, monkeypatch, capsys):
    from headstart.outdir import finished

    out = tmp_path / "runs" / "run"
    other = f"{other_csv}[neutral=-]"
    command = ["train", "--quiet", "--precision", "fp32", "--data", str(toy_csv), "--backbone", "tiny", "--strategy",
               "full-finetune", "--n", "32", "--max-steps", "8", "--min-steps", "8", "--batch-size", "8",
               "--evals-per-phase", "4", "--patience", "0", "--out", str(out), "--eval-data", other]
    broken = failing_scorer(monkeypatch)
    with pytest.raises(RuntimeError, match="boom in the scorer"):
        run_cli(command, monkeypatch, capsys)
    metrics = json.loads((out / "metrics.json").read_text())
    ended = "failed after training, while it was scored (RuntimeError: boom in the scorer)"
    assert (metrics["status"], metrics["ended_by"], metrics["not_scored"]) == ("done", ended, {"eval_data": [other]}), metrics
    assert "ood" not in metrics and finished(out, "run"), "trained to the end: not replaced by a run interrupted in its steps"
    assert capsys.readouterr().err.startswith(f"note: {ended}: saved the trained run to {out}; the test split and {other} "
                                              f"are not scored yet: headstart evaluate {out} --eval-data ")
    assert len(headstart.predict(out, ["good great film"])) == 1, "the trained run loads"
    broken[0] = False  # mended: the same command replaces it with a run scored to the end
    code, printed, err = run_cli(command, monkeypatch, capsys)
    metrics = json.loads((out / "metrics.json").read_text())
    assert code in (0, None) and "not_scored" not in metrics and "ended_by" not in metrics and len(metrics["ood"]) == 1, err
    assert [p.name for p in out.parent.iterdir()] == ["run"]


def test_a_run_scored_to_the_end_replaces_the_finished_run_only_then(toy_csv, other_csv, tiny_registry, tmp_path, monkeypatch):
    import headstart.ood

    out = tmp_path / "runs" / "run"
    fit(toy_csv, other_csv, out)
    before, real, seen = files(out), headstart.ood.evaluate_elsewhere, []

    def looking(*args, **kwargs):  # while it is scored, out still holds the finished run
        seen.append(files(out) == before)
        return real(*args, **kwargs)

    monkeypatch.setattr(headstart.ood, "evaluate_elsewhere", looking)
    run = fit(toy_csv, other_csv, out, seed=1, overwrite=True)
    assert seen == [True] and run.out == out and [p.name for p in out.parent.iterdir()] == ["run"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert "not_scored" not in metrics and metrics["ood"] == run.ood and len(run.ood) == 1
    assert json.loads((out / "spec.json").read_text())["spec"]["seed"] == 1
    assert headstart.predict(out, ["good great film"]) == run.predict(["good great film"])
