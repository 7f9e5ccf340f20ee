"""What ``headstart.fit`` returns: ``FitResult`` (the run's identity, validation metrics and training record, with
``evaluate`` and ``predict`` on the model it holds), ``Interrupted``, what it raises on Ctrl-C or SIGTERM during the
steps or the scoring after them (carrying the FitResult), and ``split_name``, the parts of a run's data they score."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError
from headstart.progress import ProgressFn
from headstart.python_checks import python_named
from headstart.staging import unscored_beside


@dataclass
class FitResult:
    """What ``fit`` (and ``load``) returns: the run's identity, validation metrics and training record.

    ``evaluate`` / ``predict`` on the result use the in-memory model; on a path they load the saved run. ``save(out)``
    writes the run folder ``fit(..., out=out)`` writes.

    Attributes:
        key: the run key, a hash of its full resolved spec (the same settings and data give the same key).
        out: the run folder it is saved in; None where nothing was saved (``fit`` without ``out``, or an interrupt
            before anything was kept).
        status: "done", or how it ended otherwise ("diverged", "failed").
        val_metrics: the validation metrics of the chosen checkpoint (accuracy, macro_f1, balanced_accuracy, loss;
            rmse, r2 for regression): the best of ``val_checks`` checks, so read ``val_held_out`` for an unbiased one.
        steps: optimiser steps taken (0 for a strategy fitted in closed form or one that trains nothing).
        best_step: the step whose weights were kept (the best validation check).
        train_seconds: the run's own wall time (``tune_seconds`` apart): the backbone features it computed count, those
            an earlier call left in the cache do not, so it is never more than the call took.
        feature_seconds: what computing the cached backbone features it read cost, whichever call computed them (0
            for a strategy that reads none): ``compare`` charges it to every arm that reads them, so its stored
            ``train_seconds`` is what the run costs alone.
        trainable_params / total_params: the parameters that trained, and all of the model's.
        error: why it failed or diverged; None when done.
        chosen: the hyperparameters picked on validation (``tune="lr"``'s rate; C / k of the closed-form baselines;
            setfit's ``pair_steps``); None where nothing was picked.
        estimates: what objective terms estimated before training, by term (EWC's importance).
        tune_seconds: wall time of the ``tune`` trials.
        peak_rss_bytes: the process's peak resident memory after training (getrusage).
        base_weights: 4-bit strategies (qlora): ``{"stored": bytes, "fp32": bytes}`` of the linear weights.
        retention: per ``retain`` dataset, ``headstart.retention``'s measure of forgetting.
        ood: per ``eval_data`` dataset, ``headstart.ood``'s scores (rows left out counted).
        flags: where the score may understate the strategy (a budget cut, a grid edge, a run kept): each
            ``{"reason", "text", "advice"}``, the advice a call that ``fit`` takes.
        mlflow: with ``report_to="mlflow"``, ``tracking.log_run_dir``'s ``{"logged", "uri", "run_id", "test_added"}``.
        val_held_out: the validation metrics of the checkpoint choice on rows that did not make it (each half of the
            validation rows picks a check, the other half scores it); None where there was no choice.
        val_checks: the validation checks the checkpoint was chosen among: ``val_metrics`` is the best of them.
        leakage: ``headstart.data.leakage.LeakageReport`` of the split before ``dedupe`` (with it: the test rows
            dropped): ``exact``, ``near``, ``n_test``, ``fraction``, ``examples``.
        ended_by: how an interrupted run ended ("interrupted by SIGTERM at step 37 of 120", ``Interrupted``); None
            where it ran its course.
        not_scored: interrupted (or failed) after training, what it was not scored on
            (``{"retain": [...], "eval_data": [...]}``); None where nothing was left.
    """

    key: str
    out: Path | None
    status: str
    val_metrics: dict[str, Any]
    steps: int
    best_step: int
    train_seconds: float
    trainable_params: int
    total_params: int
    error: str | None
    chosen: dict[str, Any] | None = None
    feature_seconds: float = 0.0
    estimates: dict[str, Any] = field(default_factory=dict)
    tune_seconds: float = 0.0
    peak_rss_bytes: int = 0
    base_weights: dict[str, int] | None = None
    retention: list[dict[str, Any]] = field(default_factory=list)
    ood: list[dict[str, Any]] = field(default_factory=list)
    flags: list[dict[str, str]] = field(default_factory=list)
    mlflow: dict[str, Any] | None = None
    val_held_out: dict[str, Any] | None = None
    val_checks: int = 0
    leakage: Any = None
    ended_by: str | None = None
    not_scored: dict[str, Any] | None = None
    _loaded: Any = field(default=None, repr=False)  # the model in memory: a module's repr is pages long
    _staged_for: Path | None = field(default=None, repr=False)  # saved beside this --out until scored (``with_scores``)
    _finished_in: Path | None = field(default=None, repr=False)  # interrupted while staged: the --out whose finished run it left
    _not_moved: str | None = field(default=None, repr=False)  # interrupted while staged, left there: where it was to go, why not
    _record: Any = field(default=None, repr=False)  # saved.RunRecord of a run trained here: what ``save`` writes beside the model
    _reused: bool = field(default=False, repr=False)  # loaded from out, which held this run finished: not trained again

    def __repr__(self) -> str:  # one line: the fields hold the rest (val_metrics, flags, ood ...)
        from headstart.report.markdown import seconds_text  # as the reports write seconds: a probe's 0.012 s is not "0.0 s"

        scores = {k: v for k, v in self.val_metrics.items() if isinstance(v, (int, float)) and k in ("accuracy", "macro_f1", "rmse", "r2", "loss")}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
        leaked = (getattr(self.leakage, "exact", 0) or 0) + (getattr(self.leakage, "near", 0) or 0)
        return (f"FitResult({self.status}, val {shown or '-'}; {self._trained_text()}, "
                f"{seconds_text(self.train_seconds)} s; out={str(self.out) if self.out else None}"
                + (f"; {leaked:,} of {self.leakage.n_test:,} test rows duplicate training rows" if leaked else "")
                + (f"; {len(self.flags)} flag(s)" if self.flags else "") + (f"; error {self.error}" if self.error else "")
                + (f"; {self.ended_by}" if self.ended_by else "") + ")")

    def _trained_text(self) -> str:
        """How it trained, as ``headstart train`` says it: the best of its steps, or a solve with none ("best step 0 of
        0" read as a run that stopped before it began)."""
        if self.steps:
            return f"best step {self.best_step} of {self.steps}"
        if (self.chosen or {}).get("pair_steps"):  # setfit: its own loop tunes the encoder, then the head is solved
            return f"{self.chosen['pair_steps']} pair steps, then the head in closed form"
        return "closed form, no optimiser step" if self.trainable_params else "nothing trained, no optimiser step"

    def _usable(self) -> None:
        if self.status not in ("done", "interrupted"):  # interrupted: its best checkpoint so far, usable
            from headstart.errors import StoreError

            raise StoreError(f"this run {self.status} ({self.error}); nothing to evaluate or predict with, train it again")

    @python_named
    def evaluate(self, split: str = "test", *, progress: ProgressFn | bool | None = None) -> dict[str, Any]:
        """Metrics of the model in memory on ``split`` (``headstart.evaluate``'s); ``progress=True`` draws the CLI's
        bar, a function ``progress(done, total, info)`` follows the rows scored (``progress.scoring_counter``), as there."""
        from headstart.progress import progress_callback
        from headstart.loaded import evaluate_loaded
        from headstart.progress import scoring_counter

        split = split_name(split)
        self._usable()
        with progress_callback(progress, "evaluate") as update:
            return evaluate_loaded(self._loaded, split, progress=scoring_counter(update, None))

    @python_named
    def save(self, out: str | Path, *, overwrite: bool = False) -> Path:
        """Write the run into the folder ``out`` as ``fit(..., out=out)`` writes it — spec.json, weights.safetensors,
        metrics.json (its flags, and the ``retention`` / ``ood`` scores it holds), README.md — from the model in memory
        (a run ``load`` read: its folder's files, copied); ``out`` is then the result's ``out``. As ``fit``'s, a save
        is built whole beside ``out`` and swapped in, and the same run saved again replaces its folder.

        Args:
            overwrite: replace a saved run of another spec in ``out`` (refused without it).

        Returns:
            The folder written.

        Raises:
            ConfigError: ``out`` holds another run, without ``overwrite`` ("nothing was saved or replaced").
            StoreError: ``out`` is a store or a folder of other files, or cannot be written; a result with nothing to
                save (a run ``load`` read whose folder is gone).
        """
        from headstart.outdir import claim
        from headstart.same_run import check_replaces_same_run
        from headstart.specs import RunSpec

        out = Path(out)
        claim(out, "run")
        spec = self._record.spec if self._record is not None else getattr(self._loaded, "meta", {})
        if not overwrite and isinstance(spec.get("spec"), dict):
            check_replaces_same_run(out, RunSpec.from_dict(spec["spec"]), step="saved")  # it trained already, in memory
        if self._record is not None:
            from headstart.saved import save_record

            ended = {"ended_by": self.ended_by, "planned_steps": self._record.planned_steps} if self.ended_by else {}
            scores = {k: v for k, v in (("retention", self.retention), ("ood", self.ood)) if v}
            notes = {"flags": self.flags, **({"not_scored": self.not_scored} if self.not_scored else {}), **ended, **scores}
            written = save_record(self._record, self._loaded.model, out, notes=notes)
        else:
            written = _copied(self.out, out, image=getattr(self._loaded.model.backbone, "modality", "text") == "image")
        self.out = written
        if self._loaded is not None:
            self._loaded.directory = written
        return written

    @python_named
    def predict(self, texts: Any, *, text_column: str | None = None) -> list[dict[str, Any]]:
        """Predictions of the model in memory for ``texts``, a list of inputs, one str or a DataFrame (``headstart.predict``'s)."""
        from headstart.predict_table import predict_inputs

        self._usable()
        return predict_inputs(self._loaded, texts, text_column=text_column)


def _copied(source: Path | None, out: Path, *, image: bool) -> Path:
    """A run folder ``source`` copied whole into ``out`` (built beside it, then swapped in, as a save is), its README.md
    naming ``out``.

    Raises:
        StoreError: no ``source`` folder to copy.
    """
    import shutil

    from headstart.atomic import build_directory, swap_in, write_json
    from headstart.errors import StoreError
    from headstart.outdir import held
    from headstart.saved import CARD_PATH, card_name, write_model_card

    if source is None or not (Path(source) / "spec.json").is_file():
        raise StoreError(f"the run's folder {str(source)!r} is gone; nothing to save from: load a saved run, or fit again")

    def fill(staging: Path) -> None:
        for path in Path(source).iterdir():
            if path.name not in ("README.md", "spec.json"):
                (shutil.copytree if path.is_dir() else shutil.copy2)(path, staging / path.name)
        spec = json.loads((Path(source) / "spec.json").read_text())
        write_json(staging / "spec.json", {**spec, CARD_PATH: card_name(out)})  # the copy's own path, not the source's
        write_model_card(staging, name=card_name(out), image=image)

    if Path(source).resolve() == out.resolve():
        return out
    return swap_in(build_directory(out, fill, is_replaceable=lambda d: held(d) == "run", what="headstart run"), out)


@python_named
def load(run: str | Path) -> FitResult:
    """A saved run folder (``fit(..., out=...)``'s, ``headstart train --out``'s) as the FitResult ``fit`` returned for
    it, its model loaded once: ``predict`` and ``evaluate`` on it use the model in memory, where ``headstart.predict(
    path, ...)`` loads the folder on every call. Its fields come from the folder's metrics.json (``tune_seconds`` from its
    ``tuning``); what a save does not keep (``peak_rss_bytes``, ``leakage``) reads as unknown.

    Raises:
        StoreError: not a run folder (an sft or prefer run is named as one), or damaged.

    Example:
        >>> run = headstart.load("runs/lp64")
        >>> run.predict(["a joy to watch"]); run.evaluate("test")["accuracy"]
    """
    from headstart.interrupts import run_status
    from headstart.run_meta import as_run_path
    from headstart.saved import load_run

    run = as_run_path(run, example="headstart.load('runs/lp64')", unsaved="use the FitResult fit returned as it is")
    loaded = load_run(run)
    try:
        metrics = json.loads((Path(run) / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = None
    if not isinstance(metrics, dict):
        from headstart.errors import StoreError

        raise StoreError(f"{str(Path(run) / 'metrics.json')!r} is missing or damaged; the run did not finish saving, "
                         "train it again")
    def number(key: str, default: float = 0) -> Any:
        return metrics.get(key) if isinstance(metrics.get(key), (int, float)) else default

    tuning = metrics.get("tuning") if isinstance(metrics.get("tuning"), dict) else {}
    return FitResult(key=loaded.meta.get("key", ""), out=Path(run), status=run_status(metrics),
                     val_metrics=metrics.get("val") or {}, steps=number("steps"), best_step=number("best_step"),
                     train_seconds=number("train_seconds", 0.0), feature_seconds=number("feature_seconds", 0.0),
                     trainable_params=number("trainable_params"),
                     total_params=number("total_params"), error=metrics.get("error"), chosen=metrics.get("chosen"),
                     tune_seconds=tuning.get("seconds") if isinstance(tuning.get("seconds"), (int, float)) else 0.0,
                     estimates=metrics.get("estimates") or {}, retention=metrics.get("retention") or [],
                     ood=metrics.get("ood") or [], flags=metrics.get("flags") or [],
                     val_held_out=metrics.get("val_held_out"), val_checks=number("val_checks"),
                     ended_by=metrics.get("ended_by"), not_scored=metrics.get("not_scored"), _loaded=loaded)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during ``fit``'s training steps, or while the trained run was scored after them (``retain``,
    ``eval_data``), raised once what it had was kept: ``run`` is the FitResult (``ended_by`` says what stopped it and
    where; ``not_scored``, after training, what was left unscored; ``out`` where it was saved, None where nothing was),
    its model in memory the best validation checkpoint so far, or the last step's weights where no check had run. A
    KeyboardInterrupt still, so a script or a notebook stops as it would; its text is the line the CLI prints.
    ``NothingSaved``, where nothing was kept, is one too, its ``run`` None."""

    def __init__(self, run: FitResult) -> None:
        super().__init__(interrupted_text(run))
        self.run = run


class NothingSaved(Interrupted):
    """Ctrl-C or SIGTERM in ``fit`` before its run had trained anything worth keeping (its start-up: ``starting``; its backbone loading, a ``tune``
    trial, a closed-form solve such as embed-logreg's, setfit's pair loop: seconds to redo, or a rate not chosen yet;
    the final run's steps before the first: ``before_steps`` is its ``ended_by``, "interrupted by SIGTERM at step 0 of 20"),
    or after training in the moment before its save began (the save itself holds an interrupt back until it is done).
    An ``Interrupted`` whose ``run`` is None (nothing to keep), so ``except Interrupted as e`` catches every interrupt
    of ``fit``; a KeyboardInterrupt still. Its text says what the CLI's user or the Python caller runs again."""

    run = None

    def __init__(self, interrupt: KeyboardInterrupt, *, trial: bool = False, saving: bool = False,
                 before_steps: str | None = None, starting: bool = False) -> None:
        from headstart.errors import HeadstartError
        from headstart.interrupts import ended_by
        from headstart.surface import spoken

        where = (" after training, while the trained run was saved" if saving else " in a --tune trial" if trial
                 else " while it started (its data, backbone settings and split)" if starting
                 else "" if before_steps else " before the run's training ended")
        failed = interrupt.__context__ if saving and isinstance(interrupt.__context__, Exception) else None
        why = (str(failed).splitlines()[0] if isinstance(failed, HeadstartError) else f"{type(failed).__name__}: {failed}"
               if failed is not None else "")
        again = spoken("the same command starts again", "the same call starts again")
        KeyboardInterrupt.__init__(self, f"{before_steps or ended_by(interrupt)}{where}: "
                                   + ("nothing saved" if saving else "nothing trained yet; nothing saved")
                                   + (f"; the save had failed: {why}; fix that, then {again}" if why else f"; {again}"))


def interrupted_text(run: FitResult) -> str:
    """One line on an interrupted run: what stopped it at which step, what was kept and where, and what to run next."""
    import shlex

    from headstart.surface import spoken

    shown = next(((k, v) for k, v in run.val_metrics.items() if k in ("accuracy", "macro_f1", "micro_f1", "rmse", "r2")
                  and isinstance(v, (int, float))), None)
    kept = (f"the best validation checkpoint so far (step {run.best_step}" + (f", {shown[0]} {shown[1]:.4g}" if shown else "") + ")"
            if run.best_step else f"the weights after step {run.steps} (no validation check had run yet)")
    if run.not_scored is not None:  # trained: interrupted after it, while or before it was scored
        return _scores_left(run)
    if run.out is not None:
        return (f"{run.ended_by}: saved {kept} to {run.out}; the test split is not scored yet: "
                + spoken(f"headstart evaluate {shlex.quote(str(run.out))}", f"headstart.evaluate({str(run.out)!r})"))
    held = next((f["text"] for f in run.flags if f.get("reason") == "kept"), None)
    if held:
        return f"{run.ended_by}: this run {held}; the same command trains it again from the start"
    return (f"{run.ended_by}: nothing was saved, for want of " + spoken("--out DIR", "out=DIR") + f"; {kept} is in memory"
            + spoken("", " (the exception's .run.evaluate(), .run.predict())"))


def _scores_left(run: FitResult) -> str:
    """The line on a run interrupted while it was scored after training: where the trained run is, what it was not
    scored on, and the command that scores what can be scored without training again (retention cannot)."""
    import shlex

    from headstart.surface import spoken

    left = run.not_scored or {}
    retain, others, tta = left.get("retain") or [], left.get("eval_data") or [], left.get("tta") or []
    kept = (f" ({run._not_moved or ''}the finished run in {run._finished_in} is kept)" if run._finished_in is not None
            else "")
    where = (f"saved the trained run to {run.out}{kept}" if run.out is not None else
             "the trained run is in memory, not saved, for want of out=DIR (the exception's .run.evaluate(), .run.predict())")
    lost = (f"; retention on {', '.join(retain)} is not measured (" + spoken("train --retain", "fit(retain=...)")
            + " measures it, at training)" if retain else "")
    scores = " and ".join(["the test split", *([", ".join(others)] if others else [])])
    run_text = shlex.quote(str(run.out)) if run.out is not None else "DIR"
    command = spoken(" ".join([f"headstart evaluate {run_text}", *(f"--eval-data {shlex.quote(o)}" for o in others),
                               *(f"--tta {t}" for t in tta)]),
                     "headstart.evaluate(" + (repr(str(run.out)) if run.out is not None else "run")
                     + (f", eval_data={others!r}" + (f", tta={tta!r}" if tta else "") + ", full=True" if others else "") + ")")
    return f"{run.ended_by}: {where}{lost}; {scores} {'are' if others else 'is'} not scored yet: {command}"


def split_name(split: str) -> str:
    """The part of a run's data that ``split`` names: "test", or "val" (also "validation", as ``train`` prints it).

    Raises:
        ConfigError: any other value (named as the CLI's ``--split``; ``python_checks.python_named`` rewrites it for Python).
    """
    if split == "validation":
        return "val"
    if split not in ("test", "val"):
        raise ConfigError(f"--split must be 'test' or 'val' ('validation' too), got {split!r}; e.g. --split val")
    return split


def with_scores(result: FitResult, scored: Any, *, ended_by: str | None = None,
                not_scored: dict[str, list[str]] | None = None) -> FitResult:
    """``result`` (``api._result``'s) with the retention and out-of-domain scores of ``scored`` (a ``RunResult``; None
    where none was made), written into the metrics.json it was saved with, where it was (atomically: the file is whole,
    before or after); interrupted, with ``ended_by`` and what was ``not_scored`` instead of the run's "not scored yet".
    An interrupt that left nothing unscored leaves metrics.json a finished run's. A run saved beside its ``out`` while
    it was scored (a finished run was there: ``_staged_for``) is then put in its place once scored; interrupted with
    something left unscored, it goes to a free folder beside ``out`` instead (``unscored_beside``: ``runs/x-unscored``)
    and the finished run stays in ``out``; where that rename fails (OSError), it stays in the folder it was saved in,
    and the interrupt's line names that folder and why it was not moved."""
    from headstart.atomic import write_json
    from headstart.ood import with_majority_flag

    record = (scored.record if scored is not None else None) or {}
    result.retention = record.get("retention") or []
    result.ood = [with_majority_flag({k: v for k, v in o.items() if k != "rows"}) for o in record.get("ood") or ()]
    result.ended_by, result.not_scored = ended_by, not_scored
    path = Path(result.out or ".") / "metrics.json"
    if result.out is not None and result.status == "done" and "not_scored" in (metrics := json.loads(path.read_text())):
        metrics.pop("not_scored")
        added = {"retention": result.retention, "ood": result.ood}
        write_json(path, {**metrics, **{k: v for k, v in added.items() if v},
                          **({"not_scored": not_scored, "ended_by": ended_by} if ended_by and not_scored else {})})
    if result._staged_for is not None:
        from headstart.atomic import swap_in

        if ended_by and not_scored:  # interrupted before it was scored: the finished run stays, this one goes beside it
            _beside_finished(result)
        else:
            result.out = swap_in(result.out, result._staged_for)
            result._staged_for = None
            if result._loaded is not None:
                result._loaded.directory = result.out
    return result


def _beside_finished(result: FitResult) -> None:
    """Move ``result``'s trained run, staged beside the finished run of its ``out`` (``_staged_for``), to a free folder
    beside that (``unscored_beside``) in one rename, as it was built whole where it is; where the rename fails
    (OSError) it stays where it was staged, ``_not_moved`` saying where it was to go and why not, and the next command
    writing that ``out`` moves it beside (``staging.clear_stale``), as it moves a run killed while it was scored."""
    import os

    kept, result._staged_for = result._staged_for, None
    beside = unscored_beside(kept)
    try:
        os.rename(result.out, beside)
        result.out = beside
    except OSError as error:
        result._not_moved = f"it could not be moved to {beside} ({(error.strerror or type(error).__name__).lower()}); "
    result._finished_in = kept
    if result._loaded is not None:
        result._loaded.directory = result.out


def scoring_failed(result: FitResult, failure: Exception, *, not_scored: dict[str, list[str]]) -> str | None:
    """What a ``failure`` (an exception, not an interrupt) while ``result`` was scored after training leaves, and the
    note that says so. Where a finished run was in its ``out`` (``_staged_for``), that run stays and this one goes to a
    free folder beside it (``_beside_finished``: where that rename fails, it stays where it was saved), as an interrupt leaves it; either way the trained run keeps what it was
    ``not_scored`` on, and an
    ``ended_by`` naming the failure ("failed after training, while it was scored (...)"): a run its command replaces.
    None where nothing was saved."""
    from headstart.atomic import write_json
    from headstart.errors import HeadstartError

    why = str(failure).splitlines()[0][:300] if str(failure) else ""
    why = why if isinstance(failure, HeadstartError) else f"{type(failure).__name__}: {why}" if why else type(failure).__name__
    result.ended_by, result.not_scored = f"failed after training, while it was scored ({why})", not_scored
    if result._staged_for is not None:  # the finished run stays; this one goes beside it, as an interrupt leaves it
        _beside_finished(result)
    if result.out is None:  # nothing saved: the exception says it all
        return None
    path = Path(result.out) / "metrics.json"
    metrics = json.loads(path.read_text())
    write_json(path, {**metrics, "not_scored": not_scored, "ended_by": result.ended_by})
    return (_scores_left(result) + "; or fix that, then the same command trains it again")
