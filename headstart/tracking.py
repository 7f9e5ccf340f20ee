"""Experiment tracking: a store's runs logged to MLflow (``headstart runs DIR --to-mlflow``, ``compare --report-to mlflow``),
and one saved run (``train --report-to mlflow``, ``log_run_dir``).

Each finished run becomes an MLflow run in the experiment (default: the store folder's name), named by its arm, size
and seed, with its resolved spec as parameters (flattened: ``train.lr``, ``options.rank``), its test metrics and its
validation metrics (``val_`` prefix) as metrics, every validation check as the ``val_score`` series over steps (and the training loss there as ``train_loss``), and
the headstart run key as the tag ``headstart.key`` — a run already logged under that key is skipped, so exporting a
store again adds only its new runs. The report files (report.html, report.md, results.json, chart.png) are logged on
one more run, ``report``. The tracking URI defaults to a SQLite database beside the store, ``DIR/mlflow.db`` (artifacts in ``DIR/mlartifacts``;
MLflow 3 keeps its file store in maintenance mode): ``mlflow ui --backend-store-uri sqlite:///DIR/mlflow.db`` shows it.

MLflow is an extra: ``pip install 'headstart[tracking]'`` (mlflow-skinny, SQLAlchemy, Alembic).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError, HeadstartError
from headstart.interrupts import USABLE, run_status
from headstart.surface import spoken
from headstart.results import RECORDED, RunResult

REPORT_FILES = ("report.html", "report.md", "results.json", "chart.png")
KEY_TAG = "headstart.key"


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ConfigError("MLflow tracking needs the tracking extra: pip install 'headstart[tracking]' (mlflow-skinny)") from None
    return mlflow


def check_report_to(report_to: str | None, out: Any = "") -> None:
    """Refuse a ``report_to`` other than "mlflow", or one with nothing saved to log; name a missing tracking extra
    before anything trains.

    Raises:
        ConfigError: an unknown destination, ``out`` None (a run kept in memory), or MLflow not installed.
    """
    if report_to is None:
        return
    if report_to != "mlflow":
        example = spoken("--report-to mlflow", "report_to='mlflow'")
        raise ConfigError(f"{spoken('--report-to', 'report_to')} takes 'mlflow', got {report_to!r}; e.g. {example}")
    if out is None:
        raise ConfigError("report_to='mlflow' logs the saved run, but out is None (kept in memory); give out='runs/NAME'")
    _mlflow()


def flat(spec: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train": {"lr": 1e-4}}`` -> ``{"train.lr": "0.0001"}``; lists as text; MLflow keeps parameters as strings."""
    out: dict[str, str] = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, f"{name}."))
        else:
            out[name] = str(value)[:500]
    return out


def _numbers(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric metrics as MLflow names them; ``n`` (the rows scored) becomes ``rows``, since the parameter ``n`` is
    the training size."""
    return {f"{prefix}{'rows' if k == 'n' else k}".replace(":", "."): float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def log_store(directory: str | Path, *, uri: str | None = None, experiment: str | None = None) -> dict[str, int]:
    """Log the finished runs of the store in ``directory`` (and its report files) to MLflow. The tracking URI: ``uri``,
    else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<directory>/mlflow.db``.

    Returns:
        ``{"logged": new runs logged, "skipped": runs already there, "uri": the tracking URI}``.

    Raises:
        ConfigError: MLflow is not installed (the extra named), ``directory`` holds no store, or ``uri`` cannot be logged to.
    """
    from headstart.store import Store

    import os

    mlflow = _mlflow()
    directory = Path(directory)
    from headstart.analysis.arms import label_arms, planned_cells

    with Store(directory, create=False) as store:
        every = store.results()
        plan = (store.sweep() or {}).get("plan")
    labels = label_arms(every, planned=planned_cells(plan, every))  # over the whole store and its plan, as the report
    fix = uri_fix(uri)
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(directory / 'mlflow.db').resolve()}"
    return _log_store(_connected(mlflow, directory, uri, fix=fix), directory, [r for r in every if r.status == "done"],
                      labels, uri, experiment)


def _log_store(client: Any, directory: Path, results: list[RunResult], labels: dict[str, str], uri: str,
               experiment: str | None) -> dict[str, int]:
    from headstart.analysis.arms import arm_key

    name = experiment or directory.resolve().name
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(
        name, artifact_location=(directory / "mlartifacts").resolve().as_uri())
    have = {r.data.tags.get(KEY_TAG) for r in client.search_runs([experiment_id], max_results=50000)}
    several = len({str(r.spec.get("backbone")) for r in results}) > 1  # then a run's name says which backbone it ran on
    logged = 0
    for r in results:
        if r.key in have:
            continue
        _log_run(client, experiment_id, r, labels[arm_key(r.spec)], on=str(r.spec.get("backbone")) if several else None)
        logged += 1
    files = [directory / f for f in REPORT_FILES if (directory / f).exists()]
    if files and logged:
        run = client.create_run(experiment_id, run_name="report", tags={"headstart.kind": "report"})
        for f in files:
            client.log_artifact(run.info.run_id, str(f))
        client.set_terminated(run.info.run_id)
    return {"logged": logged, "skipped": len(results) - logged, "uri": uri}


def log_run_dir(directory: str | Path, *, uri: str | None = None, experiment: str = "headstart-train") -> dict[str, Any]:
    """Log one saved run (``headstart train --out DIR``) to MLflow: its resolved spec as parameters, its validation
    metrics (``val_`` prefix), every validation check as the ``val_score`` series, its README.md model card as an
    artifact, and the test score ``headstart evaluate DIR`` recorded in its metrics.json, named as a store's runs name
    theirs (``accuracy``, ``macro_f1``, ``rows``; the 95% interval as ``accuracy_ci_low`` / ``accuracy_ci_high``; a
    capped split's note as the tag ``headstart.test_note``). The tracking URI: ``uri``, else ``$MLFLOW_TRACKING_URI``,
    else ``sqlite:///<DIR's parent>/mlflow.db`` (runs trained side by side share one database). A run already logged
    under its key is not logged twice; a test score recorded since (``train --report-to mlflow``, then ``evaluate``)
    is added to it.

    Returns:
        ``{"logged": bool, "uri": the tracking URI, "run_id": MLflow's id or None, "test_added": bool}`` (``test_added``:
        a test score added to the run already logged).
    """
    import json
    import os

    mlflow = _mlflow()
    directory = Path(directory)
    meta = json.loads((directory / "spec.json").read_text())
    metrics = json.loads((directory / "metrics.json").read_text())
    fix = uri_fix(uri)
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(directory.resolve().parent / 'mlflow.db')}"
    return _log_run_dir(_connected(mlflow, directory.resolve().parent, uri, fix=fix, saved=directory), directory, meta,
                        metrics, uri, experiment)


def _log_run_dir(client: Any, directory: Path, meta: dict[str, Any], metrics: dict[str, Any], uri: str,
                 experiment: str) -> dict[str, Any]:
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(
        experiment, artifact_location=(directory.resolve().parent / "mlartifacts").as_uri())
    test = _test_metrics(metrics.get("test"))
    found = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{meta['key']}'", max_results=1)
    if found:
        return {"logged": False, "uri": uri, "run_id": None, "test_added": _add_test(client, found[0], test, metrics)}
    resolved = meta["resolved"]
    result = RunResult(key=meta["key"], spec=resolved, status="done" if run_status(metrics) in USABLE else run_status(metrics), metrics=test,
                       val_metrics={k: v for k, v in (metrics.get("val") or {}).items() if k != "per_class"},
                       train_seconds=float(metrics.get("train_seconds") or 0.0), steps=int(metrics.get("steps") or 0),
                       trainable_params=int(metrics.get("trainable_params") or 0),
                       total_params=int(metrics.get("total_params") or 0), record={"history": metrics.get("history") or []},
                       chosen=metrics.get("chosen") if isinstance(metrics.get("chosen"), dict) else {})
    run_id = _log_run(client, experiment_id, result, f"{resolved.get('strategy')} {directory.name}")
    if _test_note(metrics):
        client.set_tag(run_id, "headstart.test_note", _test_note(metrics))
    if (directory / "README.md").exists():
        client.log_artifact(run_id, str(directory / "README.md"))
    return {"logged": True, "uri": uri, "run_id": run_id, "test_added": False}


def _test_metrics(test: Any) -> dict[str, Any]:
    """metrics.json's ``test`` (``saved.record_test``: ``n``, the scores, ``accuracy_ci`` [low, high]) as a store run's
    test metrics, the interval as two numbers; empty where ``evaluate`` recorded none."""
    if not isinstance(test, dict):
        return {}
    scores = {k: v for k, v in test.items() if k not in ("accuracy_ci", "note", "per_class")}
    ci = test.get("accuracy_ci")
    if isinstance(ci, list) and len(ci) == 2:
        scores.update(accuracy_ci_low=ci[0], accuracy_ci_high=ci[1])
    return scores


def _test_note(metrics: dict[str, Any]) -> str | None:
    """The note of a recorded test score on a capped split (which rows it scored), None where there is none."""
    test = metrics.get("test")
    note = test.get("note") if isinstance(test, dict) else None
    return str(note)[:500] if note else None


def _add_test(client: Any, run: Any, test: dict[str, Any], metrics: dict[str, Any]) -> bool:
    """Log the test score ``test`` to the MLflow ``run`` logged before it was recorded (or before ``evaluate`` scored
    it again); False where the run already holds these numbers."""
    import time

    from mlflow.entities import Metric

    numbers = _numbers(test)
    if not numbers or all(run.data.metrics.get(k) == v for k, v in numbers.items()):
        return False
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in numbers.items()])
    if _test_note(metrics):
        client.set_tag(run.info.run_id, "headstart.test_note", _test_note(metrics))
    return True


def uri_fix(given: str | None) -> str:
    """What the user can change when the tracking URI fails, by where it came from: the ``uri`` given (``runs
    --mlflow-uri``, the only command with such a flag), ``$MLFLOW_TRACKING_URI``, or the default database beside the
    runs, which ``train`` / ``compare --report-to`` and ``fit`` / ``compare(report_to=)`` reach only through that variable."""
    import os

    if given:
        return spoken("check --mlflow-uri", "check the uri passed") + " (e.g. sqlite:///mlflow.db)"
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return "check $MLFLOW_TRACKING_URI (e.g. sqlite:///mlflow.db), or unset it to log to mlflow.db beside the runs"
    return "set $MLFLOW_TRACKING_URI to one that works (e.g. sqlite:///mlflow.db)"


def _connected(mlflow: Any, directory: Path, uri: str, *, fix: str, saved: Path | None = None) -> Any:
    """A client of the tracking server at ``uri``, having asked it one question: a bad URI (an unknown scheme, a file
    that is no database) is one line naming it and ``fix`` (``uri_fix``), not MLflow's traceback; errors after that are
    not the URI's. ``saved``: the run folder already written, said so the user knows nothing was lost."""
    with _tracking(uri, fix, saved):
        client = _client(mlflow, directory, uri)
        client.search_experiments(max_results=1)
    return client


@contextlib.contextmanager
def _tracking(uri: str, fix: str, saved: Path | None = None) -> Iterator[None]:
    """MLflow's own errors on reaching ``uri`` as one ConfigError naming it."""
    try:
        yield
    except HeadstartError:
        raise
    except Exception as e:  # MlflowException, sqlalchemy's DatabaseError, OSError: reaching this URI failed
        kept = f"; the run is saved in {str(saved)!r} (only the logging failed)" if saved else ""
        raise ConfigError(f"cannot log to MLflow at {uri!r} ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}); "
                          f"{fix}{kept}") from None


def _client(mlflow: Any, directory: Path, uri: str | None) -> Any:
    import logging

    from mlflow.tracking import MlflowClient

    for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):  # "creating tables": not the user's concern
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri or f"sqlite:///{(directory / 'mlflow.db').resolve()}")


def _chosen(chosen: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """A tuned run's picks as parameters: ``chosen.lr``, and ``train.lr`` the value it trained at (the spec keeps the
    request, whose rate is the strategy's default); closed-form picks (``C``) as ``chosen.C``. Trials and seconds stay out."""
    picks = {k: v for k, v in (chosen or {}).items() if k not in ("trials", "tune_seconds", *RECORDED) and isinstance(v, (int, float, str))}
    train = spec.get("train") if isinstance(spec.get("train"), dict) else {}
    return {**{f"chosen.{k}": v for k, v in picks.items()}, **{f"train.{k}": v for k, v in picks.items() if k in train}}


def _log_run(client: Any, experiment_id: str, r: RunResult, label: str, *, on: str | None = None) -> str:
    """Log one run as an MLflow run named by its arm ``label`` (and backbone ``on``, where a store holds several), size
    and seed."""
    from mlflow.entities import Metric, Param, RunTag

    spec = {k: v for k, v in r.spec.items() if k not in ("backbone_config",)}
    where = f" on {on}" if on else ""
    run = client.create_run(experiment_id, run_name=f"{label}{where} n={r.spec.get('n_requested')} seed={r.spec.get('seed')}",
                            tags={"headstart.arm": label, "headstart.status": r.status})
    run_id = run.info.run_id
    params = [Param(k, v) for k, v in {**flat(spec), **_chosen(r.chosen, spec)}.items()]
    metrics = {**_numbers(r.metrics), **_numbers(r.val_metrics, "val_"), "train_seconds": r.train_seconds,
               "trainable_params": float(r.trainable_params)}
    history = [(int(h["step"]), float(h["val_score"])) for h in (r.record or {}).get("history", [])
               if h.get("val_score") is not None]
    losses = [(int(h["step"]), float(h["train_loss"])) for h in (r.record or {}).get("history", [])
              if h.get("train_loss") is not None]
    entries = ([Metric(k, v, 0, 0) for k, v in metrics.items()] + [Metric("val_score", v, 0, step) for step, v in history]
               + [Metric("train_loss", v, 0, step) for step, v in losses])
    for start in range(0, max(len(params), len(entries)), 100):  # MLflow's batch limits
        client.log_batch(run_id, metrics=entries[start : start + 100], params=params[start : start + 100],
                         tags=[RunTag("headstart.data", str((r.spec.get("data") or {}).get("name")))] if start == 0 else [])
    client.set_tag(run_id, KEY_TAG, r.key)  # last: a run that failed half-way is logged again by the next export
    client.set_terminated(run_id)
    return run_id
