"""MLflow export: a compare's runs read back with the MLflow client — parameters, metrics, the validation series, the
report files; a second export adds nothing; a missing extra is one line."""

from __future__ import annotations

import pytest

pytest.importorskip("mlflow", reason="the tracking extra: pip install 'headstart[tracking]'")


def test_a_compares_runs_appear_in_mlflow_with_their_metrics(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from conftest import run_cli
    from headstart.store import Store

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "cmp"
    code, _, err = run_cli(["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe,full-finetune",
                            "--sizes", "16,32", "--seeds", "1", "--max-steps", "6", "--min-steps", "6", "--no-tune", "--quiet",
                            "--out", str(out), "--report-to", "mlflow"], monkeypatch, capsys)
    assert code in (0, None), err
    with Store(out, create=False) as store:
        stored = {r.key: r for r in store.results("done")}
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("cmp")
    runs = client.search_runs([experiment.experiment_id])
    logged = {r.data.tags["headstart.key"]: r for r in runs if "headstart.key" in r.data.tags}
    assert set(logged) == set(stored) and len(logged) == 4
    for key, run in logged.items():
        assert run.data.metrics["accuracy"] == pytest.approx(stored[key].metrics["accuracy"])
        assert run.data.metrics["rows"] == stored[key].metrics["n"] and "n" not in run.data.metrics, "n is the training size"
        assert run.data.params["strategy"] == stored[key].spec["strategy"] and "train.lr" in run.data.params
        series = client.get_metric_history(run.info.run_id, "val_score")
        assert [m.step for m in series] == [h["step"] for h in stored[key].record["history"] if h.get("val_score") is not None]
    (report,) = [r for r in runs if r.data.tags.get("headstart.kind") == "report"]
    assert {a.path for a in client.list_artifacts(report.info.run_id)} >= {"report.html", "report.md", "results.json"}
    code, out_text, _ = run_cli(["runs", str(out), "--to-mlflow"], monkeypatch, capsys)
    assert code in (0, None) and "0 runs logged, 4 already there" in out_text


def test_runs_on_several_backbones_are_named_by_theirs(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from conftest import run_cli

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "two"
    code, _, err = run_cli(["compare", "--data", str(toy_csv), "--backbones", "tiny,tiny-bert", "--strategies", "linear-probe",
                            "--sizes", "16", "--seeds", "1", "--no-tune", "--quiet", "--out", str(out), "--report-to", "mlflow"],
                           monkeypatch, capsys)
    assert code in (0, None), err
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("two").experiment_id])
    names = sorted(r.info.run_name for r in runs if "headstart.key" in r.data.tags)
    assert names == ["linear-probe on tiny n=16 seed=0", "linear-probe on tiny-bert n=16 seed=0"], names
    assert {r.data.tags["headstart.arm"] for r in runs if "headstart.key" in r.data.tags} == {"linear-probe"}


def test_a_missing_tracking_extra_is_named_in_one_line(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    import builtins

    from conftest import run_cli

    real = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    code, _, err = run_cli(["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe", "--sizes", "16",
                            "--seeds", "1", "--out", str(tmp_path / "c"), "--report-to", "mlflow", "--quiet"], monkeypatch, capsys)
    assert code == 2 and "pip install 'headstart[tracking]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c" / "runs.sqlite").exists(), "refused before any cell trained"


def test_a_trained_run_appears_in_mlflow_once(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """train --report-to mlflow: the run's parameters, validation metrics and series, its model card; a second log of
    the same run adds nothing."""
    import json

    from mlflow.tracking import MlflowClient

    from conftest import run_cli
    from headstart.tracking import log_run_dir

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "ft"
    code, text, err = run_cli(["train", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32",
                               "--max-steps", "6", "--min-steps", "6", "--quiet", "--out", str(out), "--report-to", "mlflow"],
                              monkeypatch, capsys)
    assert code in (0, None), err
    assert "MLflow: logged as run" in text
    metrics = json.loads((out / "metrics.json").read_text())
    key = json.loads((out / "spec.json").read_text())["key"]
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("headstart-train").experiment_id])
    assert run.data.tags["headstart.key"] == key and run.data.params["strategy"] == "full-finetune"
    assert run.data.metrics["val_accuracy"] == pytest.approx(metrics["val"]["accuracy"])
    series = client.get_metric_history(run.info.run_id, "val_score")
    assert [m.step for m in series] == [h["step"] for h in metrics["history"] if h.get("val_score") is not None]
    losses = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.value for m in losses] == pytest.approx([h["train_loss"] for h in metrics["history"] if h.get("train_loss") is not None])
    assert "README.md" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert log_run_dir(out)["logged"] is False
    assert "accuracy" not in run.data.metrics and "test" not in metrics, "train scores no test: evaluate does"
    code, _, err = run_cli(["evaluate", str(out)], monkeypatch, capsys)
    assert code in (0, None), err
    test = json.loads((out / "metrics.json").read_text())["test"]
    again = log_run_dir(out)  # logged before evaluate recorded the test score: the score is added to that run
    assert again["logged"] is False and again["test_added"] is True and log_run_dir(out)["test_added"] is False
    (run,) = client.search_runs([client.get_experiment_by_name("headstart-train").experiment_id])
    assert run.data.metrics["accuracy"] == pytest.approx(test["accuracy"]) and run.data.metrics["rows"] == test["n"]
    assert [run.data.metrics["accuracy_ci_low"], run.data.metrics["accuracy_ci_high"]] == pytest.approx(test["accuracy_ci"])
    fresh = log_run_dir(out, experiment="after-evaluate")  # a first log of an evaluated run carries it too
    (run,) = client.search_runs([client.get_experiment_by_name("after-evaluate").experiment_id])
    assert fresh["logged"] is True and run.data.metrics["macro_f1"] == pytest.approx(test["macro_f1"])
    assert run.data.metrics["rows"] == test["n"] and "accuracy_ci_high" in run.data.metrics


def test_the_python_api_reports_to_mlflow_as_the_cli_does(toy_csv, tiny_registry, tmp_path, monkeypatch):
    """fit / compare take report_to as train / compare take --report-to; $MLFLOW_TRACKING_URI is honoured by both; a
    destination other than mlflow, or a run kept in memory, is refused before anything trains."""
    from mlflow.tracking import MlflowClient

    import headstart
    from headstart.errors import ConfigError

    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    budget = {"max_steps": 4, "min_steps": 4}
    run = headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16, config=budget, out=tmp_path / "ft",
                        report_to="mlflow")
    assert run.mlflow["logged"] is True and run.mlflow["uri"] == uri
    result = headstart.compare(str(toy_csv), "tiny", strategies="linear-probe", sizes=16, seeds=1, tune=None,
                               out=tmp_path / "cmp", report_to="mlflow", split={"dedupe": False})
    assert result.mlflow == {"logged": 1, "skipped": 0, "uri": uri}
    client = MlflowClient(tracking_uri=uri)
    assert {e.name for e in client.search_experiments()} >= {"headstart-train", "cmp"}
    assert not (tmp_path / "cmp" / "mlflow.db").exists(), "the environment's URI, not the store's own database"
    with pytest.raises(ConfigError, match="report_to takes 'mlflow', got 'wandb'"):
        headstart.compare(str(toy_csv), "tiny", strategies="linear-probe", sizes=16, seeds=1, out=tmp_path / "w", report_to="wandb")
    with pytest.raises(ConfigError, match="out is None"):
        headstart.fit(str(toy_csv), "tiny", n=16, report_to="mlflow")
    assert not (tmp_path / "w").exists()


def test_a_bad_tracking_uri_is_one_line_naming_it(tmp_path):
    """``runs --to-mlflow --mlflow-uri bogus://x`` and a sqlite URI onto a CSV file showed MLflow's and SQLAlchemy's
    tracebacks."""
    from headstart.errors import ConfigError
    from headstart.results import RunResult
    from headstart.store import Store
    from headstart.tracking import log_store

    with Store(tmp_path / "cmp") as store:
        store.put(RunResult("k", {"strategy": "linear-probe", "n": 16, "seed": 0, "data": {"name": "d", "hash": "h"}}, "done",
                            metrics={"accuracy": 0.7}))
    with pytest.raises(ConfigError, match=r"^cannot log to MLflow at 'bogus://x' \(\w+.*\); check the uri passed"):
        log_store(tmp_path / "cmp", uri="bogus://x")
    (tmp_path / "good.csv").write_text("text,label\na,b\n")
    with pytest.raises(ConfigError, match=r"^cannot log to MLflow at 'sqlite:///.*good.csv'"):
        log_store(tmp_path / "cmp", uri=f"sqlite:///{tmp_path / 'good.csv'}")


def test_a_bad_tracking_uri_names_what_the_callers_path_can_set(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """Every failure said "check --mlflow-uri", a flag only ``runs --to-mlflow`` has: ``train`` / ``compare --report-to``
    and ``fit`` / ``compare(report_to=)`` take the URI from $MLFLOW_TRACKING_URI alone."""
    import headstart
    from conftest import assert_user_error, run_cli
    from headstart.errors import ConfigError

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "bogus://x")
    budget = ["--max-steps", "2", "--min-steps", "2", "--quiet"]
    trained = run_cli(["train", "--data", str(toy_csv), "--backbone", "tiny", "--n", "16", *budget, "--out",
                       str(tmp_path / "a"), "--report-to", "mlflow"], monkeypatch, capsys)
    assert_user_error(trained, "cannot log to MLflow at 'bogus://x'", "; check $MLFLOW_TRACKING_URI", "saved in")
    assert "--mlflow-uri" not in trained[2], trained[2]
    code, _, err = run_cli(["compare", "--data", str(toy_csv), "--backbone", "tiny", "--strategies", "linear-probe",
                            "--sizes", "16", "--seeds", "1", "--no-tune", *budget, "--out", str(tmp_path / "c"),
                            "--report-to", "mlflow"], monkeypatch, capsys)
    assert code == 2 and "check $MLFLOW_TRACKING_URI" in err and "--mlflow-uri" not in err, err
    with pytest.raises(ConfigError) as caught:
        headstart.fit(str(toy_csv), "tiny", n=16, config={"max_steps": 2, "min_steps": 2}, out=tmp_path / "p",
                      report_to="mlflow")
    assert "check $MLFLOW_TRACKING_URI" in str(caught.value) and "--mlflow-uri" not in str(caught.value)
    code, _, err = run_cli(["runs", str(tmp_path / "c"), "--to-mlflow", "--mlflow-uri", "bogus://y"], monkeypatch, capsys)
    assert code == 2 and "check --mlflow-uri" in err, err  # the one command with the flag names it


def test_a_tuned_run_is_logged_at_the_rate_it_trained_at(toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """A --tune run's spec.json keeps the request (its rate the strategy's default): MLflow's train.lr is the rate the
    tuning chose and trained at, chosen.lr says it was chosen; the trials stay out of the parameters."""
    import json

    from mlflow.tracking import MlflowClient

    from conftest import run_cli

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "tuned"
    code, _, err = run_cli(["train", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32",
                            "--max-steps", "4", "--min-steps", "4", "--tune", "lr", "--grid", "1e-4,3e-4", "--quiet", "--out", str(out),
                            "--report-to", "mlflow"], monkeypatch, capsys)
    assert code in (0, None), err
    spec = json.loads((out / "spec.json").read_text())
    chosen = json.loads((out / "metrics.json").read_text())["chosen"]["lr"]
    assert spec["spec"]["tune"] == "lr" and chosen in (1e-4, 3e-4) and spec["resolved"]["train"]["lr"] == 5e-5, \
        "the request's rate is the default, outside the grid given"
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("headstart-train").experiment_id])
    assert float(run.data.params["train.lr"]) == pytest.approx(chosen) and float(run.data.params["chosen.lr"]) == pytest.approx(chosen)
    assert not any(k.startswith("chosen.trials") for k in run.data.params)


def test_a_run_loaded_from_out_not_trained_again_is_still_logged_to_mlflow(toy_csv, tiny_registry, tmp_path, monkeypatch,
                                                                            capsys):
    """train --report-to mlflow after a plain train of the same settings loaded the finished run from --out and logged
    nothing, printing no MLflow line; the run loaded is logged (once: a third time says it is already logged)."""
    from mlflow.tracking import MlflowClient

    from conftest import run_cli

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "ft"
    args = ["train", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "full-finetune", "--n", "32",
            "--max-steps", "4", "--min-steps", "4", "--quiet", "--out", str(out)]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code in (0, None), err
    code, text, err = run_cli([*args, "--report-to", "mlflow"], monkeypatch, capsys)
    assert code in (0, None) and "already holds this run" in err, err
    assert "MLflow: logged as run" in text, text
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("headstart-train").experiment_id])
    assert run.data.params["strategy"] == "full-finetune"
    code, text, err = run_cli([*args, "--report-to", "mlflow"], monkeypatch, capsys)
    assert code in (0, None) and "MLflow: already logged" in text, text
