"""evaluate of an sft run: its test prompts answered again as sft answers them, the score written into the run, a stop
leaving it as it was; a prefer run and a classifier's options refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_user_error, run_cli
from lm_fixtures import PAIRS, pref_csv, sft_csv, tiny_lm  # noqa: F401  (fixtures)

TEST_PAIRS = [("say hello", "hello there"), ("name a colour", "blue"), ("count to three", "one two three"),
              ("say goodbye", "see you soon")]


@pytest.fixture
def four_test_rows(tmp_path: Path) -> Path:
    """sft_csv's rows with four test rows, of which --eval-rows 2 draws two (``TextTable.spread``)."""
    rows = [{"prompt": p, "response": r, "split": s} for s in ("train", "validation") for p, r in PAIRS]
    rows += [{"prompt": p, "response": r, "split": "test"} for p, r in TEST_PAIRS]
    path = tmp_path / "four.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def sft_command(lm: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["sft", "--data", str(data), "--backbone", str(lm), "--max-steps", "2", "--rank", "4", "--eval-rows", "1",
            "--out", str(out), "-q", *extra]


def saved(run: Path) -> tuple[bytes, bytes]:
    return (run / "metrics.json").read_bytes(), (run / "README.md").read_bytes()


def stopping_generate(monkeypatch, signal_name: str = "Ctrl-C") -> None:
    """``runs.generate`` answering the first prompt, then stopped by Ctrl-C or SIGTERM (as test_sft's)."""
    import os
    import signal

    import headstart.llm.runs as runs

    real = runs.generate

    def stopped(model, tokenizer, prompts, **kwargs):
        progress = kwargs.pop("progress", None) or (lambda done, total: None)
        progress(0, len(prompts))
        real(model, tokenizer, prompts[:1], **kwargs)
        progress(1, len(prompts))
        if signal_name == "Ctrl-C":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(runs, "generate", stopped)


@pytest.mark.usefixtures("default_sigterm")
def test_evaluate_scores_an_sft_run_whose_test_answers_were_interrupted(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """A stop while sft answered its test prompts left the run saved with test_not_scored, and 'no command scores a
    saved run': evaluate RUN answers them and writes the score in its place."""
    import headstart.llm.runs as runs

    real, run = runs.generate, tmp_path / "run"
    stopping_generate(monkeypatch)
    code, _, err = run_cli(sft_command(tiny_lm, sft_csv, run), monkeypatch, capsys)
    assert code == 130 and "test_not_scored" in json.loads((run / "metrics.json").read_text()), err
    assert f"without its test exact match; headstart evaluate {run} answers its test prompts and scores it" in err, err
    assert "no command scores" not in err
    monkeypatch.setattr(runs, "generate", real)
    code, printed, err = run_cli(["evaluate", str(run), "-q"], monkeypatch, capsys)
    metrics = json.loads((run / "metrics.json").read_text())
    assert code in (0, None) and err == "", err
    assert "test_not_scored" not in metrics and metrics["test"]["rows"] == 1 and metrics["test"]["max_new_tokens"] == 64
    assert metrics["status"] == "done" and metrics["steps"] == 2, "the rest of the run is as it was"
    assert printed.startswith(f"test (1 held-out prompt): exact_match {metrics['test']['exact_match']:.4g}; "), printed
    assert "> say hello\n  generated: " in printed and "  reference: hello there" in printed
    assert f"written into {run}: its metrics.json and README.md" in printed
    card = (run / "README.md").read_text()
    assert "test exact_match" in card and "not scored" not in card


def test_evaluate_of_a_finished_sft_run_reproduces_its_score_and_python_returns_what_json_prints(
        tiny_lm, four_test_rows, tmp_path, monkeypatch, capsys):
    """The same test rows (two drawn of four), answered the same: sft's printed test line and samples come again, and
    headstart.evaluate(RUN) is evaluate --json."""
    import headstart

    run = tmp_path / "run"
    code, trained, err = run_cli(sft_command(tiny_lm, four_test_rows, run, "--eval-rows", "2"), monkeypatch, capsys)
    assert code in (0, None), err
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert test["rows"] == 2 and len({s["prompt"] for s in test["samples"]}) == 2
    code, printed, err = run_cli(["evaluate", str(run), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    lines = [line for line in trained.splitlines() if line.startswith(("test (", ">", "  generated:", "  reference:", "("))]
    assert len(lines) == 8 and printed.splitlines()[:8] == lines, (trained, printed)
    code, stdout, err = run_cli(["evaluate", str(run), "--json"], monkeypatch, capsys)
    assert code in (0, None) and json.loads(stdout) == {"split": "test", **test}, stdout
    assert headstart.evaluate(str(run)) == json.loads(stdout)


def test_evaluate_max_new_tokens_rescores_and_says_the_budget(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    import headstart

    run = tmp_path / "run"
    assert run_cli(sft_command(tiny_lm, sft_csv, run), monkeypatch, capsys)[0] in (0, None)
    code, printed, err = run_cli(["evaluate", str(run), "--max-new-tokens", "2", "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    assert printed.startswith("test (1 held-out prompt, answers of up to 2 new tokens where the run's own are up to 64): ")
    assert json.loads((run / "metrics.json").read_text())["test"]["max_new_tokens"] == 2
    assert "test answers of up to 2 new tokens (the run's own setting: 64; `headstart evaluate DIR` scores it at its own again)" in (run / "README.md").read_text()
    scored = headstart.evaluate(run, max_new_tokens=3)
    assert scored["max_new_tokens"] == 3 and len(scored["samples"][0]["generated"].split()) <= 3
    trained = headstart.sft(str(sft_csv), out=tmp_path / "api", config={"backbone": str(tiny_lm), "max_steps": 1, "rank": 4,
                                                                       "eval_rows": 1, "max_new_tokens": 4})
    again = headstart.evaluate(trained)  # what sft returned: its model as it is in memory, the score into its folder
    assert again == {"split": "test", **trained.metrics["test"]} and again["max_new_tokens"] == 4
    assert json.loads((tmp_path / "api" / "metrics.json").read_text())["test"] == trained.metrics["test"]


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("signal_name", ["Ctrl-C", "SIGTERM"])
def test_a_stop_during_evaluate_leaves_the_run_as_it_was(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys, signal_name):
    import signal

    import headstart
    from headstart.llm.evaluate import Kept

    run = tmp_path / "run"
    assert run_cli(sft_command(tiny_lm, sft_csv, run), monkeypatch, capsys)[0] in (0, None)
    before = saved(run)
    stopping_generate(monkeypatch, signal_name)
    code, printed, err = run_cli(["evaluate", str(run), "-q"], monkeypatch, capsys)
    by = "Ctrl-C" if signal_name == "Ctrl-C" else "SIGTERM"
    assert code == 130 and printed == "", (code, printed, err)
    assert err == (f"interrupted by {by} while answering the test prompts (1 of 1 answered); {str(run)!r} is kept as it "
                   "was, nothing written\n"), err
    assert saved(run) == before and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Kept, match="nothing written") as stop:
        headstart.evaluate(run)
    assert isinstance(stop.value, KeyboardInterrupt) and saved(run) == before


def test_evaluate_scores_a_run_an_interrupt_ended_and_says_so(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """A run whose steps Ctrl-C ended was saved untested: evaluate scores the checkpoint it kept, and says what it is."""
    import headstart.llm.loop as loop

    real, run = loop.lr_factor, tmp_path / "cut"

    def ctrl_c_at_step_2(step, *args, **kwargs):
        if step == 2:
            raise KeyboardInterrupt
        return real(step, *args, **kwargs)

    monkeypatch.setattr(loop, "lr_factor", ctrl_c_at_step_2)
    code, _, err = run_cli(["sft", "--data", str(sft_csv), "--backbone", str(tiny_lm), "--max-steps", "4", "--rank", "4",
                            "--eval-rows", "1", "--out", str(run), "-q"], monkeypatch, capsys)
    assert code == 130 and f"headstart evaluate {run} scores this checkpoint" in err, err
    monkeypatch.setattr(loop, "lr_factor", real)
    code, printed, err = run_cli(["evaluate", str(run), "-q"], monkeypatch, capsys)
    metrics = json.loads((run / "metrics.json").read_text())
    assert code in (0, None) and metrics["status"] == "interrupted" and metrics["test"]["rows"] == 1
    assert err.startswith("note: this run's steps were cut short (interrupted by Ctrl-C at step 2 of 4: ") and "test (1 held-out prompt)" in printed, err
    assert "no test prompt was answered" not in (run / "README.md").read_text()
    code, stdout, _ = run_cli(["evaluate", str(run), "--json", "-q"], monkeypatch, capsys)
    assert json.loads(stdout)["cut_short"].startswith("interrupted by Ctrl-C at step 2 of 4")


@pytest.mark.parametrize("args, flag", [(["--split", "val"], "--split val"), (["--eval-data", "x.csv"], "--eval-data"),
                                        (["--tta", "tent"], "--tta"), (["--eval-rows", "all"], "--eval-rows all"),
                                        (["--dedupe"], "--dedupe")])
def test_a_classifier_option_on_an_sft_run_is_one_line_naming_it(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys, args, flag):
    run = tmp_path / "run"
    assert run_cli(sft_command(tiny_lm, sft_csv, run, "--eval-rows", "0"), monkeypatch, capsys)[0] in (0, None)
    assert_user_error(run_cli(["evaluate", str(run), *args], monkeypatch, capsys), flag, "drop")


def test_evaluate_refuses_in_one_line_what_it_cannot_score(tiny_lm, sft_csv, pref_csv, tmp_path, monkeypatch, capsys):
    """A prefer run (no test prompts), an sft run that drew none, data gone or changed: exit 2, one line, the fix."""
    import headstart
    from headstart.errors import HeadstartError

    none = tmp_path / "none"
    assert run_cli(sft_command(tiny_lm, sft_csv, none, "--eval-rows", "0"), monkeypatch, capsys)[0] in (0, None)
    assert_user_error(run_cli(["evaluate", str(none)], monkeypatch, capsys), "was trained with --eval-rows 0",
                      f"headstart generate {none} --prompt TEXT")
    with pytest.raises(HeadstartError, match=r"trained with eval_rows=0.*headstart\.generate\("):
        headstart.evaluate(none)
    dpo = tmp_path / "dpo"
    assert run_cli(["prefer", "--data", str(pref_csv), "--sft", str(none), "--max-steps", "1", "--out", str(dpo), "-q"],
                   monkeypatch, capsys)[0] in (0, None)
    assert_user_error(run_cli(["evaluate", str(dpo)], monkeypatch, capsys), "is a prefer run: it answers no test prompts",
                      f"headstart evaluate {none.resolve()} scores the sft run it started from", f"headstart generate {dpo}")
    assert_user_error(run_cli(["evaluate", str(dpo), "--split", "val"], monkeypatch, capsys), "is a prefer run")
    run = tmp_path / "run"
    assert run_cli(sft_command(tiny_lm, sft_csv, run), monkeypatch, capsys)[0] in (0, None)
    pd.read_csv(sft_csv).assign(response=lambda f: f["response"] + "!").to_csv(sft_csv, index=False)
    before = saved(run)
    assert_user_error(run_cli(["evaluate", str(run)], monkeypatch, capsys), "changed since", "cannot be drawn again")
    sft_csv.unlink()
    assert_user_error(run_cli(["evaluate", str(run)], monkeypatch, capsys), "is not there")
    assert saved(run) == before


def test_max_new_tokens_on_a_classifier_run_is_one_line(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    out = tmp_path / "probe"
    code, _, err = run_cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe",
                            "--n", "32", "--out", str(out)], monkeypatch, capsys)
    assert code in (0, None), err
    assert_user_error(run_cli(["evaluate", str(out), "--max-new-tokens", "8"], monkeypatch, capsys),
                      "--max-new-tokens 8 is for an sft run's answers", "classifier run", "drop it")
    assert_user_error(run_cli(["evaluate", str(tmp_path / "nothing"), "--max-new-tokens", "8"], monkeypatch, capsys),
                      "does not exist")


def test_max_new_tokens_on_a_classifier_run_in_memory_says_this_run(toy_csv, tiny_registry):
    """A run fit kept in memory (no out) has no folder to name: it was called 'None'."""
    import headstart
    from headstart.errors import ConfigError

    run = headstart.fit(str(toy_csv), "tiny", strategy="linear-probe", n=32)
    with pytest.raises(ConfigError, match=r"^max_new_tokens=8 is for an sft run's answers; this run is a classifier "
                                          r"run, scored without generating: drop it$"):
        headstart.evaluate(run, max_new_tokens=8)


def test_evaluates_help_gives_an_sft_example(monkeypatch, capsys):
    code, printed, _ = run_cli(["evaluate", "--help"], monkeypatch, capsys)
    assert code in (0, None) and "headstart evaluate runs/sft --max-new-tokens 128" in printed and "--max-new-tokens" in printed


def test_evaluate_draws_the_test_rows_of_a_group_column_run_from_another_folder(tiny_lm, tmp_path, monkeypatch, capsys):
    """spec.json named the data as given (a relative path) and not its --group-column: evaluate from another folder
    found no file, and a table split by a group column read back without it split otherwise (refused as changed)."""
    trained, elsewhere = tmp_path / "trained", tmp_path / "elsewhere"
    trained.mkdir(), elsewhere.mkdir()
    pd.DataFrame({"prompt": [f"say {i}" for i in range(30)], "response": [f"word {i}" for i in range(30)],
                  "movie": [f"m{i:02d}" for i in range(30)]}).to_csv(trained / "grouped.csv", index=False)
    monkeypatch.chdir(trained)
    run = tmp_path / "run"
    code, _, err = run_cli(["sft", "--data", "grouped.csv", "--group-column", "movie", "--backbone", str(tiny_lm),
                            "--max-steps", "1", "--rank", "4", "--eval-rows", "2", "--out", str(run), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    test = json.loads((run / "metrics.json").read_text())["test"]
    monkeypatch.chdir(elsewhere)
    code, stdout, err = run_cli(["evaluate", str(run), "--json", "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    assert json.loads(stdout) == {"split": "test", **test}
    data = json.loads((run / "spec.json").read_text())["data"]
    assert data["name"] == "grouped.csv" and data["path"] == str(trained / "grouped.csv") and data["group_column"] == "movie"


def api_sft(tiny_lm, data: Path, out: Path, **config):
    import headstart

    return headstart.sft(str(data), out=out, overwrite=True,
                         config={"backbone": str(tiny_lm), "max_steps": 1, "rank": 4, "eval_rows": 1, **config})


def test_evaluate_of_a_run_whose_folder_holds_another_run_now_writes_nothing(tiny_lm, sft_csv, tmp_path, monkeypatch, capsys):
    """The run sft returned, its folder since overwritten by another sft run, wrote its whole metrics over that run's
    metrics.json and README.md; a folder rewritten by sft --out while evaluate answered, likewise."""
    import headstart
    import headstart.llm.runs as runs
    from headstart.errors import StoreError

    run = tmp_path / "run"
    first = api_sft(tiny_lm, sft_csv, run)
    api_sft(tiny_lm, sft_csv, run, seed=1)
    before = saved(run)
    with pytest.raises(StoreError, match=r"holds another run: its spec\.json is not the one this run was loaded or "
                                         r"trained with .*nothing written; headstart\.evaluate\("):
        headstart.evaluate(first)
    assert saved(run) == before and "test" in first.metrics, "neither the folder nor the run in memory changed"
    real = runs.generate

    def rewritten(*args, **kwargs):  # sft --out replacing the folder while its test prompts are answered
        spec = json.loads((run / "spec.json").read_text())
        (run / "spec.json").write_text(json.dumps({**spec, "seed": 2}))
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "generate", rewritten)
    before = (run / "metrics.json").read_bytes()
    assert_user_error(run_cli(["evaluate", str(run), "-q"], monkeypatch, capsys), f"{str(run)!r} holds another run",
                      f"nothing written; headstart evaluate {run} scores the run it holds now")
    assert (run / "metrics.json").read_bytes() == before


def saved_again(run: Path) -> None:
    """The folder's run saved again with the same spec.json (sft --out of the same settings): a new folder swapped in,
    every file the same bytes."""
    import shutil

    fresh = run.with_name(run.name + "-again")
    shutil.copytree(run, fresh)
    shutil.rmtree(run)
    fresh.rename(run)


def test_evaluate_of_a_run_saved_again_with_the_same_settings_writes_nothing(tiny_lm, sft_csv, tmp_path, monkeypatch,
                                                                            capsys):
    """The same settings trained again into the folder give an identical spec.json, which passed for the run scored:
    the score of one save was written into another's metrics.json."""
    import headstart
    import headstart.llm.runs as runs
    from headstart.errors import StoreError

    run = tmp_path / "run"
    first = api_sft(tiny_lm, sft_csv, run)
    saved_again(run)
    before = saved(run)
    with pytest.raises(StoreError, match=r"holds a run of the same settings saved there since \(trained again\), not the "
                                         r"one this run was loaded or trained as, .*nothing written; headstart\.evaluate\("):
        headstart.evaluate(first)
    assert saved(run) == before
    real = runs.generate

    def again(*args, **kwargs):  # sft --out of the same settings while evaluate answers
        saved_again(run)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "generate", again)
    assert_user_error(run_cli(["evaluate", str(run), "-q"], monkeypatch, capsys),
                      f"{str(run)!r} holds a run of the same settings saved there since",
                      f"nothing written; headstart evaluate {run} scores the run it holds now")
    assert saved(run) == before
    monkeypatch.setattr(runs, "generate", real)
    assert headstart.evaluate(run)["rows"] == 1, "a run loaded after its save is scored and written"


def test_sft_whose_folder_was_saved_again_while_it_answered_says_it_is_not_saved(tiny_lm, sft_csv, tmp_path,
                                                                                monkeypatch, capsys):
    """sft's folder replaced while it answered its test prompts raised StoreError after training (hiding an
    Interrupted where a stop came too); the run is kept in memory, said to be unsaved, and the folder's run untouched."""
    import headstart.llm.runs as runs

    run = tmp_path / "run"
    real = runs.generate

    def again(*args, **kwargs):
        saved_again(run)
        (run / "metrics.json").write_text('{"other": 1}')
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "generate", again)
    trained = api_sft(tiny_lm, sft_csv, run)
    assert trained.directory is None and "test" in trained.metrics and "test_not_scored" not in trained.metrics
    assert trained.metrics["replaced"].startswith(f"replaced in {str(run)!r} by another run saved there while this one "
                                                  "answered its test prompts")
    assert json.loads((run / "metrics.json").read_text()) == {"other": 1}
    code, printed, err = run_cli(sft_command(tiny_lm, sft_csv, run, "--overwrite"), monkeypatch, capsys)
    assert code in (0, None) and f"not saved: replaced in {str(run)!r}" in printed, (code, printed, err)
    stopping_generate(monkeypatch)
    real_stopped = runs.generate

    def again_stopped(*args, **kwargs):
        saved_again(run)
        return real_stopped(*args, **kwargs)

    monkeypatch.setattr(runs, "generate", again_stopped)
    code, printed, err = run_cli(sft_command(tiny_lm, sft_csv, run, "--overwrite"), monkeypatch, capsys)
    assert code == 130 and "interrupted by Ctrl-C while answering the test prompts" in err, (code, printed, err)
    assert f"not saved: replaced in {str(run)!r}" in err and "Traceback" not in err


def test_evaluate_replaces_only_the_test_fields_of_metrics_json(tiny_lm, sft_csv, tmp_path):
    import headstart

    run = tmp_path / "run"
    trained = api_sft(tiny_lm, sft_csv, run)
    on_disk = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**on_disk, "note": "written since", "test_not_scored": "x"}))
    trained.metrics["train_loss"] = -1.0  # the run in memory: only its test score is written
    scored = headstart.evaluate(trained)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics == {**on_disk, "note": "written since", "test": {k: v for k, v in scored.items() if k != "split"}}
    assert "not scored" not in (run / "README.md").read_text() and "test exact_match" in (run / "README.md").read_text()


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("signal_name", ["Ctrl-C", "SIGTERM"])
def test_a_stop_while_the_score_is_written_is_held_and_then_says_it_was_saved(tiny_lm, sft_csv, tmp_path, monkeypatch,
                                                                             capsys, signal_name):
    import os
    import signal

    import headstart
    import headstart.llm.runs as runs
    from headstart.llm.evaluate import Written

    run = tmp_path / "run"
    assert run_cli(sft_command(tiny_lm, sft_csv, run), monkeypatch, capsys)[0] in (0, None)
    (run / "metrics.json").write_text(json.dumps({**json.loads((run / "metrics.json").read_text()), "test": {}}))
    real = runs.model_card

    def stopped(*args, **kwargs):  # between metrics.json and README.md
        os.kill(os.getpid(), signal.SIGINT if signal_name == "Ctrl-C" else signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "model_card", stopped)
    code, printed, err = run_cli(["evaluate", str(run), "-q"], monkeypatch, capsys)
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert code == 130 and printed == "", (code, printed, err)
    assert err == (f"interrupted by {signal_name} while the score was written, held back until it was: the score is "
                   f"saved, written into {str(run)!r} (its metrics.json and README.md): exact_match "
                   f"{test['exact_match']:.4g} on 1 test prompt\n"), err
    assert "test exact_match" in (run / "README.md").read_text() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Written, match="the score is saved") as stop:
        headstart.evaluate(run)
    assert stop.value.scored == {"split": "test", **test}


def test_a_run_saved_before_spec_json_recorded_its_group_column_is_told_so(tiny_lm, tmp_path, monkeypatch, capsys):
    """A run of an earlier version, trained with --group-column but saved without it in spec.json: its file read back
    without one splits otherwise, which evaluate called a change to the file (untrue)."""
    pd.DataFrame({"prompt": [f"say {i}" for i in range(30)], "response": [f"word {i}" for i in range(30)],
                  "movie": [f"m{i % 7}" for i in range(30)]}).to_csv(tmp_path / "grouped.csv", index=False)
    run = tmp_path / "run"
    code, _, err = run_cli(["sft", "--data", str(tmp_path / "grouped.csv"), "--group-column", "movie", "--backbone",
                            str(tiny_lm), "--max-steps", "1", "--rank", "4", "--eval-rows", "2", "--out", str(run), "-q"],
                           monkeypatch, capsys)
    assert code in (0, None), err
    spec = json.loads((run / "spec.json").read_text())
    del spec["data"]["group_column"]  # as an earlier version wrote it
    (run / "spec.json").write_text(json.dumps(spec))
    before = saved(run)
    assert_user_error(run_cli(["evaluate", str(run), "-q"], monkeypatch, capsys),
                      "was saved before spec.json recorded --group-column", "if it was split by a --group-column, its "
                      "test prompts cannot be drawn again; train it again with headstart sft")
    assert "changed since" not in capsys.readouterr().err and saved(run) == before
