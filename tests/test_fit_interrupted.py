"""Ctrl-C and SIGTERM during ``headstart train`` / ``headstart.fit``'s steps keep the run: the best validation
checkpoint so far (or the last step's weights before any check), saved as interrupted, loadable, and said in one line."""

from __future__ import annotations

import json
import os
import signal

import pytest
from conftest import run_cli, tiny_backbone

import headstart
from headstart import engine
from headstart.fit_result import Interrupted
from headstart.specs import TrainConfig

CONFIG = TrainConfig(max_steps=8, min_steps=8, batch_size=8, evals_per_phase=4, patience=0, precision="fp32")


@pytest.fixture(autouse=True)
def _default_sigterm():
    """SIGTERM at its default action for each test, and whatever was there put back after (as tests/test_interrupts.py)."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


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
    assert headstart.evaluate(out, "val")["accuracy"] == pytest.approx(run.val_metrics["accuracy"])
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the default is back once the run is over"


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
    with pytest.raises(Interrupted) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=out, config=CONFIG)
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


def test_an_interrupt_in_a_tuning_trial_saves_nothing_and_goes_on_as_a_keyboard_interrupt(toy_csv, tiny_registry, tmp_path,
                                                                                          monkeypatch):
    """No run of the chosen rate has trained yet: nothing to keep."""
    stop_at(monkeypatch, 2, "ctrl-c")
    with pytest.raises(KeyboardInterrupt) as stopped:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=32, out=tmp_path / "run", config=CONFIG, tune="lr",
                      grid=[1e-3, 1e-2])
    assert isinstance(stopped.value, engine.StepsInterrupted) and not isinstance(stopped.value, Interrupted)
    assert not (tmp_path / "run").exists()


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
