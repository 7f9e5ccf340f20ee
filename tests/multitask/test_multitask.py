"""``headstart multitask`` end to end: the report and results.json, a re-run that skips what is stored, a kill that
loses only the run in progress, bad input as one line and exit 2, and (slow) the real drug-reviews tasks on MiniLM."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from conftest import assert_produced_by, run_cli, stop_in_run
from headstart.specs import TrainConfig
from mt_fixtures import FAST, tasks_of, write_tasks
from test_sweep import HEADSTART, done_count, env, tiny_backbone  # noqa: F401  (tiny_backbone: a real tiny BERT folder, a fixture)


def _multitask(path: Path, out: Path, *, config: TrainConfig = FAST, **kwargs):
    from headstart.multitask import multitask

    return multitask(tasks_of(path), backbone="tiny", n=64, out=out, config=config, **kwargs)


def test_the_report_gives_each_task_alone_and_under_each_weighting_and_a_re_run_trains_only_what_is_missing(tmp_path, tiny_registry,
                                                                                                            monkeypatch, capsys):
    import headstart

    path = write_tasks(tmp_path / "tasks.csv")
    first = _multitask(path, tmp_path / "out", seeds=1)
    assert first.trained == 6, "three tasks alone, three weightings together"
    more = headstart.multitask(tasks_of(path), backbone="tiny", n=64, seeds=2, out=tmp_path / "out", config=FAST)
    assert more.trained == 6, "only the second seed's runs"
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Multi-task − single-task, paired by seed" in report and "## In words" in report and "| gradnorm |" in report
    from headstart.errors import ConfigError

    with pytest.raises(ConfigError, match=r"holds the report of another multitask run \(weightings "
                                          r"equal,uncertainty,gradnorm, not equal\), which this one would replace; nothing "
                                          r"was trained; give it its own folder, e\.g\. .*out-2"):
        _multitask(path, tmp_path / "out", seeds=2, weighting="equal")  # the report would lose two weightings
    with pytest.raises(ConfigError, match=r"\(max_steps 30, not 31\)"):
        _multitask(path, tmp_path / "out", seeds=2, config=dataclasses.replace(FAST, max_steps=31))
    assert (tmp_path / "out" / "report.md").read_text() == report
    (tmp_path / "out" / "results.json").unlink()  # a folder without a report (a run stopped before it) is not refused
    again = _multitask(path, tmp_path / "out", seeds=2, weighting="equal")
    assert again.trained == 0
    assert [row["task"] for row in again.analysis["tasks"]] == [f"{path}:{c}" for c in ("label", "score", "noisy")]
    assert all(set(row["multi"]) == {"equal"} for row in again.analysis["tasks"]), "only this call's runs are reported"
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["config"]["tasks"] == [f"{path}:{c}" for c in ("label", "score", "noisy")] and results["config"]["seeds"] == 2
    assert any(note.startswith("Budget as run, every run (alone and under each weighting): 30 steps (") for note in results["notes"])
    label, score, _ = results["tasks"]
    assert label["metric"] == "accuracy" and score["metric"] == "rmse" and score["lower_is_better"]
    for row in more.analysis["tasks"]:
        assert row["single"]["seeds"] == [0, 1] and set(row["multi"]) == {"equal", "uncertainty", "gradnorm"}
        for w, diff in row["difference"].items():
            assert diff["seeds"] == [0, 1] and diff["reading"] in {"negative transfer", "multi-task helps", "no difference shown",
                                                                   "neither better than the constant reference"}
            assert diff["mean"] == pytest.approx(row["multi"][w]["mean"] - row["single"]["mean"])
    assert more.analysis["weights"]["uncertainty"]["log_vars"] and more.analysis["weights"]["equal"]["weights"][f"{path}:label"] == 1.0
    from test_cli import cli

    code, listed, _ = cli(["runs", str(tmp_path / "out")], monkeypatch, capsys)
    scores = [line.split("  test ", 1)[1] for line in listed.splitlines()[:-1]]
    assert code == 0 and all(scores), "every run shows its tasks' test scores"
    assert sum(s.count(", ") == 2 for s in scores) == 6, "three weightings x two seeds score all three tasks"
    arms = [line.split("done", 1)[1].split(" n=")[0].strip() for line in listed.splitlines()[:-1]]
    assert {a for a in arms if "over 3 tasks" in a} == {"full-finetune equal over 3 tasks", "full-finetune uncertainty over 3 tasks",
                                                       "full-finetune gradnorm over 3 tasks"}, arms
    assert sum(" alone on " in a for a in arms) == 6, "each task trained alone, two seeds (every row read 'full-finetune')"


@pytest.mark.slow
def test_multitask_records_its_command_and_report_of_its_store_names_it(tmp_path, tiny_registry, monkeypatch, capsys):
    """review: results.json and report.md recorded no command, and `headstart report` of a copied multitask store said
    only "run it again with the same arguments". Both record the command that wrote them (the CLI's line, a Python
    call as written), and report's refusal names it, with this folder's --out."""
    import headstart
    from headstart.errors import StoreError
    from headstart.report.render import render

    path = write_tasks(tmp_path / "tasks.csv", n=120)
    monkeypatch.chdir(tmp_path)
    argv = ["multitask", "--tasks", tasks_of(path, "label", "score"), "--weighting", "equal", "--backbone", "tiny",
            "--n", "16", "--seeds", "1", "--max-steps", "2", "--min-steps", "2", "--out", "cli", "-q"]
    assert_produced_by(argv, "multitask", "results.json", "report.md", monkeypatch, capsys)
    result = headstart.multitask(tasks_of(path, "label", "score"), weighting="equal", backbone="tiny", n=16, seeds=1,
                                 out="py", max_steps=2, min_steps=2)
    recorded = json.loads((result.out / "results.json").read_text())["command"]
    assert recorded.startswith(f"headstart.multitask(tasks={tasks_of(path, 'label', 'score')!r}, weighting='equal', ")
    assert "out='py'" in recorded and "max_steps=2" in recorded, recorded
    with pytest.raises(StoreError, match=r"run the command that wrote it again with out='py' \(it trains nothing already "
                                         r"stored\): headstart\.multitask\(tasks="):
        render("py")


def test_a_run_killed_before_it_is_stored_is_trained_again_and_the_table_is_the_same(tmp_path, tiny_backbone):  # noqa: F811
    path = write_tasks(tmp_path / "tasks.csv", n=150)

    def command(out: Path) -> list[str]:
        return [*HEADSTART, "multitask", "--tasks", tasks_of(path, "label", "score"), "--weighting", "equal,gradnorm",
                "--backbone", str(tiny_backbone), "--n", "32", "--seeds", "1", "--max-steps", "6", "--min-steps", "6",
                "--out", str(out), "--quiet"]

    whole = subprocess.run(command(tmp_path / "whole"), env=env(tmp_path), capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    killed = subprocess.run(command(tmp_path / "killed"), env={**env(tmp_path), "HEADSTART_TEST_KILL_AT": "store.commit#3"},
                            capture_output=True, text=True)
    assert killed.returncode == -9 and not (tmp_path / "killed" / "report.md").exists()
    stored = done_count(tmp_path / "killed")
    assert stored >= 1, "the runs finished before the kill are in the store"
    resumed = subprocess.run(command(tmp_path / "killed"), env=env(tmp_path), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({4 - stored} run{'' if 4 - stored == 1 else 's'} trained now)" in resumed.stdout, "only the run being stored at the kill, and those after it"
    tables = [json.loads((tmp_path / d / "results.json").read_text())["tasks"] for d in ("whole", "killed")]
    assert [[r["single"]["mean"], {w: c["mean"] for w, c in r["multi"].items()}] for r in tables[0]] == \
           [[r["single"]["mean"], {w: c["mean"] for w, c in r["multi"].items()}] for r in tables[1]]


def test_bad_input_is_one_line_naming_the_value_and_exit_2(tmp_path, tiny_registry, monkeypatch, capsys):
    path = write_tasks(tmp_path / "tasks.csv", n=60)
    good = ["multitask", "--tasks", tasks_of(path, "label", "score"), "--backbone", "tiny", "--n", "16", "--out",
            str(tmp_path / "out"), "-q"]
    cases = [
        (["--tasks", "drug-reviews"], "--tasks needs two or more tasks, got 1"),
        (["--weighting", "equal,gradnrom"], "unknown weighting 'gradnrom'; did you mean 'gradnorm'"),
        (["--n", "0"], "--n 0 gives each task no labelled rows"),
        (["--n", "many"], "--n must be a non-negative integer or 'all', got 'many'"),
        (["--seeds", "0"], "--seeds must be a positive integer, got 0"),
        (["--max-test", "0"], "--max-test must be a positive integer or all, got '0'"),
        (["--max-val", "0"], "--max-val must be a positive integer"),
        (["--strategy", "linear-probe"], "strategy 'linear-probe' trains no shared trunk"),
        (["--strategy", "lorra"], "did you mean 'lora'"),
        (["--alpha", "-1"], "--alpha must be a number in [0, 10], got -1.0"),
        (["--tasks", f"{path}:label,{path}:nope"], "nope"),
        (["--tasks", f"{path}:label,{tmp_path}/gone.csv:label"], "no file"),
        (["--option", "rank=4"], "option 'rank' does not apply to strategy 'full-finetune'"),
        (["--n", "5000"], f"--n 5000 is larger than the training pool of '{path}:label'"),
    ]
    for extra, message in cases:
        code, out, err = run_cli(good + extra, monkeypatch, capsys)
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("note:")]
        assert code == 2, (extra, err)
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (extra, err)
        assert "Traceback" not in err


def test_python_takes_the_strategys_options_as_options_as_fit_and_compare_do(tmp_path, tiny_registry):
    """multitask(options=...) as fit(options=...) and the CLI's --option: they reach the strategy, which checks them."""
    from headstart.errors import ConfigError

    from headstart.multitask import multitask

    path = write_tasks(tmp_path / "tasks.csv", n=60)
    with pytest.raises(ConfigError, match=r"^option 'rnak' does not apply to strategy 'lora'; did you mean 'rank'\?"):
        multitask(tasks_of(path), backbone="tiny", n=16, out=tmp_path / "out", config=FAST, strategy="lora",
                  options={"rnak": 4})


@pytest.mark.usefixtures("default_sigterm")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_in_a_run_says_which_and_how_many_runs_are_stored_exit_130_and_the_same_command_resumes(
        how, tmp_path, tiny_registry, monkeypatch, capsys):
    """SIGTERM (timeout, a scheduler's limit) ended multitask at once: no line, exit 143. Now as Ctrl-C, in one line that
    says which ("interrupted by SIGTERM: 1 of 3 runs stored; ..."), exit 130; Python gets the same KeyboardInterrupt."""
    import signal

    import headstart
    import headstart.engine
    from headstart.interrupts import StoreInterrupted

    real = headstart.engine.lr_factor
    path = write_tasks(tmp_path / "tasks.csv", n=60)
    command = ["multitask", "--tasks", tasks_of(path, "label", "score"), "--weighting", "equal", "--backbone", "tiny",
               "--n", "16", "--seeds", "1", "--max-steps", "4", "--min-steps", "4", "--out", str(tmp_path / "out"), "-q"]
    by = "interrupted by SIGTERM" if how == "sigterm" else "interrupted"
    stop_in_run(monkeypatch, 2, how)
    code, out, err = run_cli(command, monkeypatch, capsys)
    assert code == 130 and "Traceback" not in err and err.count("interrupted") == 1, (code, err)
    lines = [line for line in err.splitlines() if not line.startswith("note: ")]  # the score column read as a regression
    assert lines == [f"{by}: 1 of 3 runs stored; run the same command again to resume (stored runs are skipped)"], err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the default is back once the command is over"
    assert done_count(tmp_path / "out") == 1
    stop_in_run(monkeypatch, 1, how)
    with pytest.raises(StoreInterrupted, match=f"^{by}: 1 of 3 runs stored;") as stopped:
        headstart.multitask(tasks_of(path, "label", "score"), weighting="equal", backbone="tiny", n=16, seeds=1,
                            out=tmp_path / "out", config=TrainConfig(max_steps=4, min_steps=4), progress=False)
    assert isinstance(stopped.value, KeyboardInterrupt) and (stopped.value.stored, stopped.value.total) == (1, 3)
    monkeypatch.setattr(headstart.engine, "lr_factor", real)  # (undo would drop tiny_registry's backbone too)
    code, out, err = run_cli(command, monkeypatch, capsys)
    assert code == 0 and "(2 runs trained now)" in out, (code, err)


@pytest.mark.slow
def test_drug_reviews_condition_sentiment_and_rating_on_minilm_a_few_steps(tmp_path):
    from headstart.multitask import multitask

    result = multitask("drug-reviews,drug-reviews-sentiment,drug-reviews-rating", weighting="gradnorm", n=16, seeds=1,
                       max_test=40, out=tmp_path / "out", config=TrainConfig(max_steps=3, min_steps=3, evals_per_phase=1))
    assert result.trained == 4  # each task alone, then the three together
    rows = {row["task"]: row for row in result.analysis["tasks"]}
    assert [rows[t]["metric"] for t in ("drug-reviews", "drug-reviews-sentiment", "drug-reviews-rating")] == ["accuracy", "accuracy", "rmse"]
    assert all(set(row["difference"]) == {"gradnorm"} and row["test_rows"] <= 40 for row in rows.values())
    assert sum(result.analysis["weights"]["gradnorm"]["weights"].values()) == pytest.approx(3.0)
    assert "drug-reviews-rating" in (tmp_path / "out" / "report.md").read_text()


def test_max_val_caps_each_tasks_validation_rows_keyed_in_its_runs_and_an_older_store_resumes(tmp_path, tiny_registry,
                                                                                             monkeypatch, capsys):
    """multitask had no --max-val (train's and compare's): each task validated on up to 300 rows. It caps every task's
    validation rows, is part of each run's key and of results.json's settings (another cap into the same --out is
    refused, nothing lost), and a store from before it (the default's runs, no max_val recorded) resumes untrained."""
    import headstart
    from headstart.errors import ConfigError
    from headstart.store import Store

    path = write_tasks(tmp_path / "tasks.csv")

    def run(out, **keywords):
        from headstart.multitask import multitask

        return multitask(tasks_of(path, "label", "score"), weighting="equal", backbone="tiny", n=16, seeds=1, out=out,
                         config=dataclasses.replace(FAST, max_steps=2, min_steps=2), **keywords)

    capped = run(tmp_path / "capped", max_val=8)
    assert capped.trained == 3, "each task alone, and both together"
    with Store(tmp_path / "capped", create=False) as store:
        assert {r.spec["data"]["split"]["max_val"] for r in store.results()} == {8}, "part of each run's key"
    assert json.loads((tmp_path / "capped" / "results.json").read_text())["settings"]["max_val"] == 8
    stored = (tmp_path / "capped" / "runs.sqlite").read_bytes()
    with pytest.raises(ConfigError, match=r"holds the report of another multitask run \(max_val 8, not 300\)"):
        run(tmp_path / "capped")
    assert (tmp_path / "capped" / "runs.sqlite").read_bytes() == stored
    with pytest.raises(ConfigError, match=r"^max_val must be a positive integer"):
        headstart.multitask(tasks_of(path, "label", "score"), out=tmp_path / "zero", max_val=0)
    code, _, err = run_cli(["multitask", "--tasks", tasks_of(path, "label", "score"), "--weighting", "equal", "--backbone",
                            "tiny", "--n", "16", "--seeds", "1", "--max-steps", "2", "--min-steps", "2", "--max-val", "8",
                            "--out", str(tmp_path / "cli"), "-q"], monkeypatch, capsys)
    assert code in (0, None), err
    with Store(tmp_path / "cli", create=False) as store:
        assert {r.spec["data"]["split"]["max_val"] for r in store.results()} == {8}

    assert run(tmp_path / "plain").trained == 3
    record = json.loads((tmp_path / "plain" / "results.json").read_text())
    assert record["settings"].pop("max_val") == 300
    (tmp_path / "plain" / "results.json").write_text(json.dumps(record))  # as written before multitask took max_val
    assert run(tmp_path / "plain", max_val=300).trained == 0, "the default typed: the same runs, resumed"
