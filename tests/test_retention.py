"""Tests of headstart/retention.py: the probe, retention of an untouched encoder, and forgetting in a compare."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import make_toy
from headstart.errors import ConfigError, HeadstartError
from headstart.retention import probe_accuracy, retention


def test_the_probe_separates_separable_features_and_picks_c_on_validation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    X = torch.tensor(np.eye(3)[y] * 4 + rng.normal(0, 0.3, (300, 3)), dtype=torch.float32)
    accuracy, C, _ = probe_accuracy((X[:200], y[:200]), (X[200:250], y[200:250]), (X[250:], y[250:]), classes=3)
    assert accuracy == 1.0 and C == 0.01, "every C separates them: the tie goes to the smallest"


def test_the_probe_takes_the_c_best_on_validation(monkeypatch):
    """A fit that is right only at C = 10 (else it answers class 0): validation picks 10, and the test score is its."""
    import headstart.linear_fit

    def fit(task, X, y, *, C, outputs, max_iter):
        return (np.eye(outputs) if C == 10.0 else np.zeros((outputs, X.shape[1]))), np.zeros(outputs)

    monkeypatch.setattr(headstart.linear_fit, "fit_linear", fit)
    y = np.array([0, 1, 2] * 10)
    X = torch.tensor(np.eye(3)[y], dtype=torch.float32)
    accuracy, C, predicted = probe_accuracy((X, y), (X, y), (X, y), classes=3)
    assert (accuracy, C) == (1.0, 10.0) and (predicted == y).all()


def test_an_untouched_encoder_retains_everything(other_csv, make_tiny):
    backbone = make_tiny(0)
    found = retention(backbone, backbone, str(other_csv), seed=0, batch_size=64)
    assert found["retention"] == 1.0 and found["original"] == found["adapted"] > 0.4


def test_retention_is_measured_on_classification_data_only(tmp_path, make_tiny):
    path = tmp_path / "reg.csv"
    pd.DataFrame({"text": [f"good {i}" for i in range(60)], "label": [i / 7 for i in range(60)]}).to_csv(path, index=False)
    with pytest.raises(ConfigError, match="is a regression dataset; retention is measured on a classification task"):
        retention(make_tiny(0), make_tiny(0), str(path), seed=0, batch_size=64)


def test_a_retained_dataset_retention_cannot_use_is_refused_naming_the_builtin_ones_it_can():
    """review: `train --retain drug-reviews-rating` said only "is a regression dataset; retention is measured on a
    classification task", naming no fix. It lists the built-in classification datasets of the backbone's kind, with
    one to try; so does a dataset of the other kind of input."""
    from headstart.data.builtin import REGISTRY
    from headstart.retention import retained_data

    text = sorted(n for n, d in REGISTRY.items() if d.task == "classification" and d.modality == "text")
    with pytest.raises(ConfigError) as refused:
        retained_data("drug-reviews-rating", "text")
    message = str(refused.value)
    assert message.startswith("--retain 'drug-reviews-rating' is a regression dataset; retention is measured on a "
                              "classification task: use a built-in text classification dataset ("), message
    assert f"({', '.join(text)}) or a classification file, e.g. --retain drug-reviews" in message and "drug-reviews-rating," not in message
    with pytest.raises(ConfigError, match=r"holds texts but the backbone reads images: use a built-in image classification "
                                          r"dataset \(fashion-mnist, .*e\.g\. --retain "):
        retained_data("drug-reviews", "image")


def test_a_compare_measures_forgetting_per_arm(toy_csv, other_csv, tiny_registry, tmp_path):
    import headstart
    from headstart.specs import TrainConfig

    cfg = TrainConfig(max_steps=30, min_steps=30, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2)
    result = headstart.compare(str(toy_csv), backbone="tiny", strategies="linear-probe,full-finetune", sizes=[32], seeds=2,
                               out=tmp_path / "cmp", config=cfg, tune=None, retain=[str(other_csv)])
    rows = {r["strategy"]: r for r in result.summary["retention"]}
    assert rows["linear-probe"]["retention"] == 1.0, "a probe leaves the encoder as it was"
    assert rows["full-finetune"]["seeds"] == 2 and rows["full-finetune"]["retention"] != 1.0
    assert "## Forgetting" in result.reports["report.md"].read_text()


def test_folds_are_stratified_keep_groups_whole_and_do_not_depend_on_the_run():
    from headstart.retention import FOLDS, folds

    data = make_toy(300, classes=3, seed=7)
    data = dataclasses.replace(data, groups=np.arange(300) // 3)  # groups of three rows
    fold = folds(data)
    assert set(fold.tolist()) == set(range(FOLDS)) and np.array_equal(fold, folds(data))
    assert all(len(set(fold[data.groups == g].tolist())) == 1 for g in range(100)), "a group split across folds"
    for k in range(FOLDS):
        counts = np.bincount(data.targets[fold == k].astype(int), minlength=3)
        assert counts.min() >= 0.6 * counts.max(), f"fold {k} is not stratified: {counts}"


def test_a_small_retained_dataset_is_cross_fitted_so_every_row_is_a_test_row(other_csv, make_tiny):
    """300 rows (< SMALL): five folds, each predicted by a probe that never saw it; all 300 rows are scored."""
    backbone, moved = make_tiny(0), make_tiny(1)
    found = retention(moved, backbone, str(other_csv), seed=0, batch_size=64)
    assert found["folds"] == 5 and found["test_rows"] == 300 == len(found["rows"]["target"]) == len(found["rows"]["adapted"])
    assert found["original"] == pytest.approx(np.mean(np.asarray(found["rows"]["original"]) == found["rows"]["target"]))
    assert found["retention"] != 1.0


def test_editing_a_retained_or_replayed_file_changes_the_runs_key(toy_csv, other_csv, tiny_registry, tmp_path):
    """A file read beside the run's data is identified by its content: edited, the run is trained again; a built-in
    dataset's name is its identity, so specs naming only built-ins keep their keys."""
    import headstart
    from headstart.resolved import _other_files
    from headstart.specs import RunSpec, TrainConfig

    spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=16, seed=0,
                   retain=(str(other_csv),), terms={"replay": {"data": str(other_csv)}})
    before = _other_files(spec)["other_data"]
    assert list(before) == [str(other_csv)]
    assert _other_files(dataclasses.replace(spec, retain=("drug-reviews",), terms={})) == {}
    cfg = TrainConfig(max_steps=2, min_steps=2, batch_size=8, precision="fp32")
    first = headstart.compare(str(toy_csv), backbone="tiny", strategies="full-finetune", sizes=[16], seeds=1,
                              out=tmp_path / "cmp", config=cfg, tune=None, retain=[str(other_csv)])
    frame = pd.read_csv(other_csv)
    frame.loc[0, "label"] = frame.loc[1, "label"] if frame.loc[0, "label"] != frame.loc[1, "label"] else frame.loc[2, "label"]
    frame.to_csv(other_csv, index=False)
    assert _other_files(spec)["other_data"] != before
    again = headstart.compare(str(toy_csv), backbone="tiny", strategies="full-finetune", sizes=[16], seeds=1,
                              out=tmp_path / "cmp", config=cfg, tune=None, retain=[str(other_csv)])
    assert (first.trained, again.trained) == (1, 1)


@pytest.mark.parametrize("retain, message", [
    ("drug-review", "retain='drug-review' is an unknown dataset; did you mean 'drug-reviews'?"),
    ("regression", "is a regression dataset; retention is measured on a classification task"),
])
def test_a_compare_refuses_a_retained_dataset_it_cannot_measure_before_any_cell_trains(retain, message, toy_csv, tiny_registry,
                                                                                       tmp_path, monkeypatch):
    """Found only after each cell trained, a bad --retain dataset failed every cell and left them in the store; now
    the sweep's plan refuses it as train does (``run_checks.check_other_data``), and the store is never opened."""
    import headstart
    import headstart.sweep as sweep
    from headstart.specs import TrainConfig

    if retain == "regression":
        retain = str(tmp_path / "reg.csv")
        pd.DataFrame({"text": [f"good {i}" for i in range(60)], "label": [i / 7 for i in range(60)]}).to_csv(retain, index=False)
    monkeypatch.setattr(sweep, "run_cell", lambda *a, **k: pytest.fail("a cell trained before the refusal"))
    with pytest.raises(HeadstartError, match=re.escape(message)):
        headstart.compare(str(toy_csv), backbone="tiny", strategies="full-finetune", sizes=[16], seeds=1, out=tmp_path / "cmp",
                          config=TrainConfig(max_steps=2, min_steps=2, precision="fp32"), tune=None, retain=[retain])
    assert not (tmp_path / "cmp").exists()


def test_train_refuses_an_unknown_retained_dataset_before_it_trains(toy_csv, make_tiny, monkeypatch):
    import headstart.recipe as recipe
    from headstart.errors import DataError
    from headstart.specs import RunSpec, TrainConfig

    monkeypatch.setattr(recipe, "train", lambda *a, **k: pytest.fail("trained before refusing"))
    spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=16, train=TrainConfig(max_steps=2),
                   retain=("drug-review",))
    with pytest.raises(DataError, match=re.escape("--retain 'drug-review' is an unknown dataset; did you mean 'drug-reviews'?")):
        recipe.run(spec, pretrained=make_tiny(0))


def test_a_retention_line_says_the_paired_interval_of_the_accuracy_difference_stored_beside_it(other_csv, make_tiny):
    """The adapted probe minus the original's, resampled on the same retained rows: stored in the record, said in
    train's line, and 'within noise' exactly when the interval holds 0."""
    from headstart.analysis.cell_stats import signed_points
    from headstart.analysis.forgetting import accuracy_difference
    from headstart.cli.runs import retention_line

    found = retention(make_tiny(1), make_tiny(0), str(other_csv), seed=0, batch_size=64)
    diff = found["difference"]
    assert diff["mean"] == pytest.approx(found["adapted"] - found["original"])
    assert diff["ci_low"] < diff["mean"] < diff["ci_high"] and diff["confidence"] == 0.95
    line = retention_line(found)
    assert f"300 test rows; difference {signed_points(100 * diff['mean'])} points, 95% CI {signed_points(100 * diff['ci_low'])} to " in line, line
    assert line.endswith(": within noise)") == (diff["ci_low"] <= 0 <= diff["ci_high"])
    target = [0, 1] * 100
    worse = accuracy_difference({"target": target, "original": target, "adapted": [0] * 200})  # 50 points lost
    assert worse["ci_high"] < 0 and not worse["within_noise"] and "within noise" not in retention_line(
        {"data": "x", "retention": 0.5, "adapted": 0.5, "original": 1.0, "test_rows": 200, "difference": worse})
    same = accuracy_difference({"target": target, "original": target[::-1], "adapted": target[::-1]})
    assert same["mean"] == 0 and same["ci_low"] < 0 < same["ci_high"] and same["within_noise"]


def test_retains_cost_is_said_before_it_starts_with_its_row_count_once_and_in_train_help(other_csv, toy_csv, caplog):
    """--retain cost ~10x a 3-step training with no word: before training a note says the rows it encodes twice and the
    probes it fits, once a process; train --help says the same cost, its numbers the module's own."""
    import logging

    from typer.testing import CliRunner

    from headstart.cli import app
    from headstart.retention import FOLDS, GRID, MAX_TEST, TRAIN_ROWS
    from headstart.run_checks import say_retain_costs

    with caplog.at_level(logging.INFO, logger="headstart"):
        say_retain_costs([str(other_csv), str(other_csv)], "text")
        say_retain_costs([str(other_csv)], "text")
    said = [r.getMessage() for r in caplog.records if "--retain" in r.getMessage()]
    assert said == [f"after training, --retain {str(other_csv)!r} encodes 300 rows twice (the original encoder and the "
                    f"adapted one) and fits {FOLDS * (len(GRID) + 1) * 2} probes ({FOLDS} folds x {len(GRID) + 1} fits x 2 "
                    "encoders; once each where the encoder is left as it was), which can take longer than a short training"]
    from headstart.surface import python_names

    assert python_names(said[0], {"retain"}).startswith(f"after training, retain={str(other_csv)!r} encodes 300 rows"), \
        "from Python the note names the keyword (it kept '--retain X:', a value the rewriting leaves as the CLI's)"
    shown = " ".join(CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"}).output.split())
    shown = re.sub(r"[│ ]+", " ", shown)
    assert (f"up to {TRAIN_ROWS + MAX_TEST:,} of its rows (plus validation) encoded twice" in shown
            and f"{(len(GRID) + 1) * 2} probes fitted ({FOLDS * (len(GRID) + 1) * 2} cross-fitted" in shown
            and "said with its row count before it starts" in shown), shown


def test_a_sweep_cell_in_a_worker_process_leaves_the_retain_cost_note_to_the_driver(toy_csv, other_csv, tiny_registry,
                                                                                   monkeypatch, caplog):
    """compare --retain X --workers 2: the plan says the cost once in the driver, and each pool or Ray worker process,
    which remembers nothing said in the driver, said it again as its first cell trained (where its logging shows
    info: a script's logging.basicConfig runs again in each spawned worker). A cell leaves it unsaid."""
    import logging

    import headstart.run_checks as run_checks
    from headstart.specs import RunSpec, TrainConfig
    from headstart.sweep_cell import worker_run

    monkeypatch.setattr(run_checks, "_COST_SAID", set())  # a worker process just started: nothing said in it yet
    spec = RunSpec(data=str(toy_csv), backbone="tiny", strategy="linear-probe", n=16, seed=0, retain=(str(other_csv),),
                   train=TrainConfig(max_steps=2, min_steps=2, batch_size=8, precision="fp32"))
    with caplog.at_level(logging.INFO, logger="headstart"):
        result = worker_run(spec.to_dict())
    assert result["status"] == "done", result.get("error")
    assert result["record"].get("retention"), "the cell still measures retention"
    assert not [r.getMessage() for r in caplog.records if "--retain" in r.getMessage()]


def test_an_unknown_retained_or_replayed_dataset_names_its_flag_and_only_datasets_of_the_runs_modality(
        toy_csv, tiny_registry, monkeypatch, capsys, tmp_path):
    """'--retain no-such-data' said "unknown dataset ... (available: ...)" naming neither --retain nor only text
    datasets, and replay[data=nonexist] suggested 'mnist-5k' for a text run: each names where it came from and lists
    the built-in datasets the run's modality can read; from Python, the keyword."""
    from test_cli import TRAIN, cli

    import headstart
    from headstart.data import REGISTRY

    texts = sorted(n for n, d in REGISTRY.items() if d.modality == "text" and d.task == "classification")
    run = [*TRAIN, "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "16",
           "--max-steps", "1", "--out", str(tmp_path / "run")]
    code, _, err = cli([*run, "--retain", "no-such-data"], monkeypatch, capsys)
    assert code == 2 and err.splitlines()[-1] == (f"error: --retain 'no-such-data' is an unknown dataset (built-in text "
                                                  f"classification datasets: {', '.join(texts)}; or a file's path)"), err
    code, _, err = cli([*run, "--terms", "replay[data=nonexist]"], monkeypatch, capsys)
    assert code == 2 and "replay[data=nonexist] is an unknown dataset" in err and "mnist" not in err, err
    code, _, err = cli([*run, "--retain", "drug-reviw"], monkeypatch, capsys)
    assert code == 2 and "did you mean 'drug-reviews'?" in err and "digits" not in err, err
    with pytest.raises(HeadstartError, match=r"^retain='nonexist' is an unknown dataset \(built-in text classification") as e:
        headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, retain="nonexist", out=tmp_path / "py")
    assert "mnist" not in str(e.value), str(e.value)


def test_a_command_refused_after_its_retain_check_says_its_one_line_and_no_cost_note_before_it(
        toy_csv, tiny_registry, monkeypatch, capsys, tmp_path):
    """The cost note came before a later refusal of the same command (an ewc term reading the dataset --retain
    cross-fits): the refusal's one line was then the second line. It is said once every check has passed."""
    from tests.conftest import assert_user_error, run_cli

    import headstart.run_checks as run_checks

    monkeypatch.setattr(run_checks, "_COST_SAID", set())
    code, out, err = run_cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy",
                              "full-finetune", "--n", "16", "--max-steps", "2", "--terms", "ewc[data=drug-reviews]",
                              "--retain", "drug-reviews", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert_user_error((code, out, err), "ewc[data=drug-reviews] reads inputs of 'drug-reviews'")
    assert "encoded twice" not in err, err


def test_a_retained_or_term_file_of_star_ratings_says_how_it_was_read_and_names_no_task(tmp_path, caplog):
    """--retain FILE and replay[data=FILE] of -1/0/1 labels noted "pass --task regression": a flag that sets the run's
    own data's task, not that file's. Their notes say how the labels were read, and no fix."""
    import logging

    from headstart.retention import retained_data
    from headstart.run_checks import check_other_data
    from headstart.specs import RunSpec

    for name, check in (("retained.csv", lambda path: retained_data(str(path), "text")),
                        ("term.csv", lambda path: check_other_data([RunSpec(
                            data="rotten-tomatoes", backbone="tiny", strategy="full-finetune", n=32,
                            terms={"replay": {"data": str(path)}})], "text"))):
        path = tmp_path / name
        path.write_text("text,label\n" + "".join(f"review number {i} of a drug,{i % 3 - 1}\n" for i in range(60)))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="headstart"):
            check(path)
        assert "labels read as 3 classes (-1, 0, 1), not as a scale" in caplog.text and "task" not in caplog.text, \
            (name, caplog.text)


def test_a_retained_dataframe_is_named_as_the_data_passed_not_its_cached_table(other_csv, make_tiny):
    """retain=df said "after training, retain='/…/data/table-<sha>.parquet' encodes 300 rows" and stored the measure
    under 'table-<sha>.parquet': the user passed a DataFrame, named as the report and notes name one."""
    from headstart.data.memory import as_path
    from headstart.retention import cost_text, retained_data

    path = as_path(pd.read_csv(other_csv))
    said = cost_text(path, retained_data(path, "text"))
    assert said.startswith("after training, --retain data passed from Python (") and "table-" not in said, said
    assert retention(make_tiny(0), make_tiny(0), path, seed=0, batch_size=64)["data"].startswith("data passed from Python (")
    assert cost_text("drug-reviews", retained_data(str(other_csv), "text")).startswith("after training, --retain 'drug-reviews'")


def test_a_retention_line_says_a_tiny_difference_as_one_not_as_none():
    """A 0.04-point difference was said "difference 0.0 points" (one decimal, its sign dropped): it is said as the
    report says points (``signed_points``), "+0.04"."""
    from headstart.cli.runs import retention_line

    difference = {"mean": 0.0004, "ci_low": -0.0123, "ci_high": 0.0131, "confidence": 0.95, "within_noise": True}
    line = retention_line({"data": "x", "retention": 1.0, "adapted": 0.8004, "original": 0.8, "test_rows": 500,
                           "difference": difference})
    assert "; difference +0.04 points, 95% CI -1.2 to +1.3: within noise)" in line, line
