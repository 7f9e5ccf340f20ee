"""The Python API of one run; mirrors the CLI: ``fit`` ~ ``headstart train``, ``evaluate``, ``predict``. ``compare`` is
``headstart.api_compare``'s; ``sft``, ``prefer``, ``generate`` for a causal LM are ``headstart.api_llm``'s."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from headstart.backbones import DEFAULT as DEFAULT_BACKBONE
from headstart.errors import ConfigError
from headstart.fit_result import FitResult, Interrupted, split_name, with_scores  # noqa: F401  (headstart.api.FitResult, as before)
from headstart.python_checks import flags_checked, python_named
from headstart.run_meta import as_run_path
from headstart.arm_text import terms_of
from headstart.data.memory import as_data, has_frames, names_passed_data, staged_eval_data, staged_names, staged_terms
from headstart.progress import ProgressFn, progress_callback, scoring_counter
from headstart.fit_checks import budget_notes, check_settings_used, check_tune_and_rate, grid_edge_note
from headstart.run_checks import check_before_load
from headstart.same_run import check_replaces_same_run, saved_beside
from headstart.arguments import as_table, parse_n
from headstart.specs import RunSpec, TrainConfig
from headstart.tracking import check_report_to
from headstart.train_keywords import with_train_keywords


@flags_checked
@names_passed_data
@with_train_keywords(options=True)
def fit(data: Any = "rotten-tomatoes", backbone: str = DEFAULT_BACKBONE, *, strategy: str = "linear-probe",
        n: int | str | None = None, seed: int = 0, out: str | Path | None = None, options: dict[str, Any] | None = None,
        config: TrainConfig | None = None, text_column: str | None = None, label_column: str | None = None,
        task: str | None = None, pooling: str | None = None, tune: str | None = None,
        grid: str | list[float] | None = None, progress: ProgressFn | bool | None = None,
        terms: dict[str, dict[str, Any]] | str | None = None, retain: Any = None,
        group_column: str | None = None, split_column: str | None = None, test_data: Any = None, eval_data: Any = None,
        tta: str | list[str] | None = None, max_test: int | str | None = None, max_val: int | str | None = None,
        dedupe: bool = False, nproc: int = 1,
        label_descriptions: str | dict[str, str] | None = None, report_to: str | None = None,
        overwrite: bool = False, retrain: bool = False) -> FitResult:
    """Train ``backbone`` on ``data`` with ``strategy`` using ``n`` labelled examples; save to ``out``.

    Args:
        data: built-in dataset name (``headstart datasets``), a table file (.csv/.tsv/.jsonl/.json/.parquet) or image folder, or the data
            itself: a pandas DataFrame, ``(texts, labels)`` or a ``datasets.Dataset`` (``headstart.data.memory``).
        backbone: built-in name (``headstart backbones``) or a local model folder.
        strategy: ``headstart strategies`` name.
        n: labelled examples drawn from the training pool (int, or "all" for all of it); None: all of it, or 0 for a
            strategy that reads no labels (zero-shot), as ``headstart train`` without ``--n``.
        seed: subsample, initialisation and shuffling seed.
        out: run directory to write (spec.json, weights.safetensors, metrics.json); None keeps it in memory.
        options: the strategy's options, e.g. ``{"freeze": 3}`` or ``{"decay": 0.7}``.
        config: training hyperparameters (defaults: the strategy's): a ``TrainConfig`` or a dict of its fields.
        lr / head_lr / epochs / min_steps / max_steps / batch_size / ... (every ``TrainConfig`` field): as
            ``headstart train``'s flags, each a keyword of its own, set in ``config`` as ``config={"lr": 1e-3}`` would
            be (``headstart.train_keywords``); one that ``config`` sets too is refused.
        freeze / decay / rank / alpha / dropout / targets / reduction / virtual_tokens: the strategy options
            ``headstart train`` has flags for, set in ``options`` as ``options={"rank": 4}`` would be; one that
            ``options`` sets too is refused.
        text_column / label_column / task: how to read a user file (auto-detected when None).
        group_column / split_column: a user file's group ids (kept on one side of the split) and its own
            train / validation / test split (validation cut from train when absent); None reads a column named like a
            split (split, fold, subset, partition) holding only those values as it, "none" reads no column as it.
        test_data: a file (or a DataFrame) with ``data``'s columns whose every row is the test split, never trained on
            or chosen by; validation is cut from ``data``. Not with ``split_column``.
        pooling: "mean", "cls", "max", "mean_sqrt_len", "weightedmean", "lasttoken" or several joined by "+" (default:
            from the backbone folder, else mean).
        tune: "lr" chooses the strategy's learning rate on validation by successive halving (``headstart.tuning``);
            True reads as "lr", False as None (no tuning).
        grid: with ``tune="lr"``, the values to search instead of the strategy's grid (``[2e-5, 5e-5, 1e-4]``).
        progress: a progress bar with ETA on stderr; None (the default): on where someone watches it — stderr a
            terminal, or a Jupyter notebook — off in a script's log, as ``compare``'s. True or False: as said. A
            function ``progress(done, total, info)`` (``progress.progress_bar``'s, as ``evaluate`` takes) instead of
            the bar follows the training steps: ``info`` holds the ``loss`` and ``phase``, a ``tune`` trial's
            ``tuning``, and ``eta_s`` where the time left is known.
        terms: objective terms added to the task loss, e.g. ``{"l2sp": {"weight": 0.1}}`` or the CLI's text
            ``"l2sp[weight=0.1]"`` (``headstart.objectives``). A term's ``data`` may be a pandas DataFrame (or
            ``datasets.Dataset``), staged in the cache as ``data`` is: ``{"replay": {"data": earlier_df}}``.
        retain: classification datasets on which forgetting is measured after training (``FitResult.retention``:
            a probe on the adapted vs the original encoder, ``headstart.retention``). It costs more than a short
            training: up to 3,000 of its rows (plus validation) encoded by both encoders and 12 probes fitted (60,
            cross-fitted, under 3,000 rows); a note says its row count before it starts (``retention.cost_text``).
            Each a name, a file, or a pandas DataFrame (or ``datasets.Dataset``) staged in the cache as ``data`` is.
        eval_data: datasets with the run's labels on whose test split the trained run is also scored, out of domain
            (``FitResult.ood``; ``"drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]"`` maps labels
            by name, ``headstart.ood``; ``"other.csv[text=txt, label=lab]"`` names a file's own columns); a pandas
            DataFrame (or ``datasets.Dataset``) among them is staged in the cache as ``data`` is and read by the run's
            text and label columns.
        tta: test-time adaptations (``"bn-adapt"``, ``"tent"``: ``headstart.tta``) each ``eval_data`` score is also
            taken after, on a copy of the model adapted to that dataset's unlabelled pool inputs.
        max_test: keep a stratified part of this many rows of a larger test split (the rest join the pool); "all":
            every row; unset, a test split of over 2,000 images keeps 2,000 (``headstart.data_defaults``; said in
            ``flags``).
        max_val: keep about this many validation rows at most (``SplitConfig.max_val``; whole groups, the rest join the
            pool); None: the split's own, 10% of the rows at most 300. Every check scores them: fewer is faster where
            a row costs much (icl on a causal LM), at a noisier choice. Kept in the run's spec, so its key differs.
        dedupe: drop the test rows that duplicate, exactly or nearly, a pool or validation row, and the validation rows
            that duplicate a pool row (``SplitConfig.dedupe``, as ``compare``'s); kept in the run's spec, so its key
            differs and ``evaluate`` scores the same deduplicated test split. ``FitResult.leakage`` counts the
            duplicates either way.
        nproc: spread training over this many processes (``headstart.distributed``: one CPU or GPU each, gradients
            summed over each global batch of ``batch_size`` × ``accumulate`` rows, rank 0 validates and writes); the
            result equals one process's up to float rounding. Head-only strategies train in one process.
        label_descriptions: a text per class for the strategies that read them (zero-shot, zero-shot-prompt, icl):
            ``{"fresh": "a positive movie review", "rotten": "a negative movie review"}``, or the CLI's text or file.
        report_to: "mlflow" also logs the saved run to MLflow once it is done (``tracking.log_run_dir``: the tracking
            URI is ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<out's parent>/mlflow.db``); ``FitResult.mlflow`` says
            where. Needs ``out``.
        overwrite: replace a saved run of another spec in ``out`` (refused without it, before training: a trained
            model is not lost to a typo in ``out``).
        retrain: train the run again where ``out`` already holds it, finished: without it, a run of the same spec on
            the same data that finished there is loaded and returned, not trained again (a note says so: a notebook
            cell run twice takes seconds), as ``compare`` reuses its stored cells. A run there that was interrupted,
            diverged, failed, left unscored or is damaged trains again from the start either way, a note saying why
            (``same_run.held_run``); ``train --retrain`` is the same.

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.
        headstart.fit_result.Interrupted: Ctrl-C or SIGTERM (``timeout``, a scheduler's limit) during the steps,
            raised once the best validation checkpoint so far (none yet: the last step's weights) is saved into
            ``out``, status "interrupted" (usable as a finished run is), with ``ended_by`` ("interrupted by SIGTERM at
            step 37 of 120") in metrics.json, unscored
            (``evaluate`` scores it; ``retain`` / ``eval_data`` are not measured); a finished run in ``out`` is kept
            instead. After the steps, while ``retain`` / ``eval_data`` are scored, the trained run (saved before
            its scoring: beside a finished run in ``out``, put in its place once scored) keeps the scores made,
            metrics.json's ``not_scored`` names the rest and ``ended_by`` says so; where ``out`` holds a finished
            run, that run stays there and the trained one is saved beside it in ``OUT-unscored`` (``-unscored-2``
            ... where taken), which the line names with the command that scores it.
            One during that save waits for it, then stops before scoring ("interrupted by Ctrl-C after training,
            before it was scored"). A KeyboardInterrupt whose ``run`` is the FitResult (``out`` None where nothing was
            saved). A second Ctrl-C or SIGTERM ends at once, the save too (a run half-written is never left).
        headstart.fit_result.NothingSaved: Ctrl-C or SIGTERM before anything worth keeping had trained (a ``tune``
            trial, a closed-form solve, setfit's pair loop), or a second one during the save: nothing saved (a save
            that failed is named).
        Exception: whatever fails while ``retain`` / ``eval_data`` are scored, raised as it came, after a note says
            what it left: a finished run in ``out`` as it was (the new one is not saved), else the trained run in
            ``out`` with ``not_scored`` and ``ended_by`` "failed after training, while it was scored (...)".

    Example:
        >>> run = headstart.fit("rotten-tomatoes", strategy="linear-probe", n=64, seed=0, out="runs/lp")
        >>> run = headstart.fit("rotten-tomatoes", strategy="full-finetune", n=256, nproc=2, out="runs/ft")
        >>> run.evaluate("test")["accuracy"]
    """
    from headstart.data.leakage import warn_of_leakage
    from headstart.engine import StepsInterrupted
    from headstart.fit_result import NothingSaved
    from headstart.surface import on_cli
    from headstart.interrupts import ended_by, signals_held, sigterm_as_interrupt
    from headstart.progress import shown_progress
    from headstart.recipe import RunInterrupted, scored, trained_run
    from headstart.scoring import ScoringInterrupted, not_scored

    trained = result = stored = None
    try:  # a run saved beside a finished one (``_staged_for``) and never put in its place leaves no copy there
        try:  # SIGTERM (timeout, a scheduler's time limit) reads as Ctrl-C from the first check to the last score, one
            # handler over the start-up and the training, so none of it ends silent (headstart.interrupts)
            with sigterm_as_interrupt():
                spec, loaded, defaults, leakage, stored = _start_up(
                    data, backbone, strategy=strategy, n=n, seed=seed, out=out, options=options, config=config,
                    text_column=text_column, label_column=label_column, task=task, pooling=pooling, tune=tune, grid=grid,
                    progress=progress, terms=terms, retain=retain, group_column=group_column, split_column=split_column,
                    test_data=test_data, eval_data=eval_data, tta=tta, max_test=max_test, max_val=max_val, dedupe=dedupe, nproc=nproc,
                    label_descriptions=label_descriptions, report_to=report_to, overwrite=overwrite, retrain=retrain)
                if stored is None and not on_cli():  # train prints it in its summary; a Python caller reads it now, before it trains
                    warn_of_leakage(leakage, dedupe=spec.split.dedupe)
                if stored is None:  # else this run, finished, is in out already: loaded, not trained again (and logged below)
                    with shown_progress(progress, f"{strategy} n={'all' if spec.n is None else spec.n} seed={seed}") as update:
                        trained = trained_run(spec, data=loaded, progress=update, nproc=nproc)
                        flags = defaults + budget_notes(trained.result) + grid_edge_note(trained.result)
                        left = not_scored({"retain": list(spec.retain), "eval_data": list(spec.eval_data)}, spec.tta)
                        # saved before it is scored (the scores are added after): an interrupt or a failure there keeps the
                        # trained run; one during the save waits for it (seconds, after the training it keeps), then stops
                        # before scoring
                        with signals_held(second_acts=True):
                            result = _result(trained.setup, trained.report, spec, out=out, overwrite=overwrite, flags=flags,
                                             chosen=trained.chosen, tune_seconds=trained.tune_seconds, trials=trained.trials,
                                             leakage=leakage,
                                             not_scored=left if trained.report.status == "done" else None)
                        outcome = scored(spec, trained, test=False, progress=update)
        except NothingSaved:  # while it started: nothing to keep, and its text says so
            raise
        except RunInterrupted as stop:  # during the steps: the checkpoint so far is kept, then the interrupt goes on with it
            if not stop.report.steps:  # before the first step: nothing trained (an untrained model saved as a run was)
                raise NothingSaved(stop, before_steps=stop.report.ended_by) from None
            raise Interrupted(_result(stop.setup, stop.report, spec, out=out, overwrite=overwrite, flags=list(defaults),
                                      chosen=stop.report.chosen, leakage=leakage)) from None
        except ScoringInterrupted as stop:  # trained, and saved: the scores made so far join it, those left are named
            raise Interrupted(with_scores(result, stop.result, ended_by=stop.ended_by, not_scored=stop.not_scored)) from None
        except KeyboardInterrupt as stop:  # nothing worth keeping had trained (a tune trial, a solve), or it was saved just now
            if result is not None:  # held back while it was saved: it is, and nothing was scored yet
                raise Interrupted(with_scores(result, None, ended_by=f"{ended_by(stop)} after training, before it was scored",
                                              not_scored=left if result.status == "done" else None)) from None
            raise NothingSaved(stop, trial=isinstance(stop, StepsInterrupted), saving=trained is not None) from None
        except Exception as failure:  # not an interrupt: a finished run in out stays, else the trained one is marked failed
            if result is not None and result.status == "done" and left:
                from headstart.fit_result import scoring_failed

                said = scoring_failed(result, failure, not_scored=left)
                if said:
                    import logging

                    logging.getLogger("headstart").warning(said)
            raise
        result = stored if stored is not None else with_scores(result, outcome.result)
    finally:
        if result is not None and result._staged_for is not None:  # a second interrupt, a SIGTERM read after the steps
            import shutil

            shutil.rmtree(result.out, ignore_errors=True)
    if report_to and result.status == "done":  # a run loaded from out too: log_run_dir says where it is logged already
        from headstart.tracking import log_run_dir

        result.mlflow = log_run_dir(result.out)
    return result


def _start_up(data: Any, backbone: str, *, strategy: str, n: int | str | None, seed: int, out: str | Path | None,
              options: dict[str, Any] | None, config: TrainConfig | None, text_column: str | None,
              label_column: str | None, task: str | None, pooling: str | None, tune: str | None,
              grid: str | list[float] | None, progress: ProgressFn | bool | None,
              terms: dict[str, dict[str, Any]] | str | None, retain: Any, group_column: str | None,
              split_column: str | None, test_data: Any, eval_data: Any, tta: str | list[str] | None, max_test: int | str | None,
              max_val: int | str | None, dedupe: bool, nproc: int, label_descriptions: str | dict[str, str] | None,
              report_to: str | None, overwrite: bool,
              retrain: bool = False) -> tuple[RunSpec, Any, list[dict[str, str]], Any, FitResult | None]:
    """``fit``'s start-up, before anything trains: every argument checked (a bad cap first), ``out`` claimed, the data
    read (a DataFrame staged in the cache), the run's spec built and its data defaults filled, the split's leakage
    searched. Nothing is written to ``out``.

    Args:
        ``fit``'s own, as the caller gave them.

    Returns:
        The run's spec, its dataset (loaded), a note per data default applied (``_with_data_defaults``), the
        split's leakage (``data.leakage.split_leakage``), and the run ``out`` already holds where it is this one,
        finished, and not ``retrain`` (``_stored_run``), else None.

    Raises:
        HeadstartError: any invalid input, in one line naming it and the fix.
        headstart.fit_result.NothingSaved: Ctrl-C, or SIGTERM where ``fit`` reads it as one, during it ("interrupted
            by SIGTERM while it started (its data, backbone settings and split): nothing trained yet; nothing saved").
    """
    from headstart.arguments import as_config, as_items
    from headstart.data import load_dataset, staged_test_data
    from headstart.data.leakage import split_leakage
    from headstart.data.splits import SplitConfig, split_caps
    from headstart.distributed import check_nproc
    from headstart.fit_result import NothingSaved
    from headstart.outdir import claim
    from headstart.precision import pick_device
    from headstart.progress import check_progress
    from headstart.specs import file_options, kept_split_column

    try:
        split = split_caps(SplitConfig(), max_test=max_test, max_val=max_val, dedupe=dedupe)  # read first: a bad cap is refused before anything else
        check_progress(progress)
        if out is not None:  # before anything trains: a store or a folder of other files is refused, never replaced
            claim(out, "run")
        check_nproc(nproc, pick_device())  # before any data loads
        check_report_to(report_to, out)
        data, split_column = as_data(data, text_column=text_column, label_column=label_column, task=task,
                                      group_column=group_column, split_column=split_column)
        test_data = staged_test_data(test_data, text_column=text_column, label_column=label_column)
        from headstart.data import REGISTRY as DATASETS
        from headstart.ood_labels import check_columns_for_eval

        if has_frames(eval_data):  # a DataFrame: staged in the cache as the training data is
            eval_data = staged_eval_data(eval_data, source={"text_column": text_column, "label_column": label_column})
        check_columns_for_eval(data, text_column=text_column, label_column=label_column, builtin=data in DATASETS,
                               eval_data=[eval_data] if isinstance(eval_data, str) else eval_data)
        if n is None:  # train without --n: every label, or none for a strategy that reads none
            from headstart.strategies import get_strategy

            n = "all" if get_strategy(strategy).needs_labels else 0
        options = as_table(options, name="options", example="{'rank': 4}")
        if label_descriptions is not None:  # --label-descriptions: the strategy's descriptions option
            from headstart.strategies import get_strategy

            if "descriptions" not in {f.name for f in dataclasses.fields(get_strategy(strategy).Options)}:
                raise ConfigError(f"--label-descriptions gives the classes' texts to zero-shot, zero-shot-prompt or icl; {strategy} "
                                  "reads labelled rows, not descriptions: drop it, or use --strategy zero-shot")
            options["descriptions"] = label_texts(label_descriptions)
        spec = RunSpec(data=data, backbone=backbone, strategy=strategy, n=parse_n(n), seed=seed, options=options,
                       train=as_config(config, TrainConfig), text_column=text_column, label_column=label_column, task=task, pooling=pooling,
                       tune=tune, grid=grid, terms=staged_terms(terms_of(terms, strategy)), retain=staged_names(retain, name="retain"), group_column=group_column,
                       split_column=split_column, test_data=test_data, eval_data=as_items(eval_data, name="eval_data"), tta=_methods(tta),
                       split=split)
        check_tune_and_rate(spec)
        check_settings_used(spec)
        check_before_load(spec)  # what the backbone's config.json refuses, before the data and the backbone load
        if out is not None and not overwrite:  # before the data loads (an image backbone's defaults read it) ...
            check_replaces_same_run(Path(out), spec, settled=False)
        spec, loaded, defaults = _with_data_defaults(spec)
        if out is not None and not overwrite:  # ... and with the settings those defaults filled
            check_replaces_same_run(Path(out), spec)
        reading = file_options(spec)
        if out is not None:  # an --out holding a run that read no split column goes on reading none
            reading["split_column"] = kept_split_column(spec.split_column, _held_source(Path(out)))
        loaded = loaded if loaded is not None else load_dataset(spec.data, **{k: v for k, v in reading.items() if v is not None})
        leakage = split_leakage(loaded, spec.split)  # before training, as compare measures it (kept in the cache: one search per data and split)
        stored = _stored_run(Path(out), spec, loaded, leakage) if out is not None and not retrain else None
    except KeyboardInterrupt as stop:  # nothing is written to out before the run is saved: there is nothing to keep
        raise NothingSaved(stop, starting=True) from None
    return spec, loaded, defaults, leakage, stored


def _held_source(out: Path) -> dict[str, Any] | None:
    """The data source of the run ``out`` holds (its spec.json's), None where it holds none or a damaged one."""
    import json

    try:
        source = json.loads((out / "spec.json").read_text()).get("data_source")
    except (OSError, ValueError, AttributeError):
        return None
    return source if isinstance(source, dict) else None


def _stored_run(out: Path, spec: RunSpec, data: Any, leakage: Any) -> FitResult | None:
    """The run ``out`` holds, loaded, where it is this one (same settings, same data) and finished
    (``same_run.held_run``), with this split's ``leakage``; None where it is to train (a note says why where a run of
    this spec is there: interrupted, diverged, unscored, damaged)."""
    import logging

    from headstart.errors import HeadstartError
    from headstart.fit_result import load
    from headstart.same_run import held_run

    same, note = held_run(out, spec, data_hash=getattr(data, "hash", None))
    if same:
        try:
            stored = load(out)
        except HeadstartError as error:  # a weight file gone or damaged, the backbone's weights changed
            same, note = False, f"{out} holds this run, but it cannot be loaded ({str(error).splitlines()[0]}): training it again"
    if note:
        logging.getLogger("headstart").info("%s", note)
    if not same:
        return None
    stored.leakage, stored._reused = leakage, True
    return stored


def _result(s: Any, report: Any, spec: RunSpec, *, out: str | Path | None, overwrite: bool, flags: list[dict[str, str]],
            chosen: dict[str, Any], leakage: Any, tune_seconds: float = 0.0, trials: list[dict[str, Any]] | None = None,
            not_scored: dict[str, list[str]] | None = None) -> FitResult:
    """Save a trained run (``recipe.Setup``, ``engine.FitReport``) into ``out`` where it may go there, and what ``fit``
    returns for it; ``not_scored``, what it is still to be scored on (``--retain``, ``--eval-data``), goes into its
    metrics.json until ``fit_result.with_scores`` writes the scores there. A run that diverged or was interrupted is never saved
    over a finished run in ``out`` (a "kept" flag says so); an interrupted one's ``out`` is where it was saved, or None."""
    from headstart.analysis.flags import asked
    from headstart.backbones import count_parameters
    from headstart.engine import own_seconds
    from headstart.outdir import finished
    from headstart.saved import LoadedRun, backbone_saved, run_record, save

    stopped = report.status != "done" or report.ended_by is not None
    saved, staged = None, False
    # what the folder holds, keyed by the spec as asked (with --tune: the request, not its chosen rate's trial spec)
    # (written now into out, or later by FitResult.save)
    record = run_record(s, report, spec=spec, trials=trials, tune_seconds=tune_seconds)
    if out is not None and stopped and finished(Path(out), "run"):  # nothing stored is lost to a failure or an interrupt
        flags.append({"reason": "kept", "text": f"{report.status + ' and ' if report.status != 'done' else ''}was not saved: "
                                                f"the finished run already in {str(out)!r} was kept",
                      "advice": asked("train again with a lower learning rate (--lr) or more warmup to replace it", "fit")
                      if report.status != "done" else "the same command trains it again from the start"})
    elif out is not None:
        if not overwrite:
            out, moved = saved_beside(Path(out), spec)
            flags += [moved] if moved else []
        ended = {"ended_by": report.ended_by, "planned_steps": report.planned_steps} if report.ended_by else {}
        staged = bool(not_scored) and finished(Path(out), "run")  # it goes there once scored: the finished run stays till then
        saved = save(s, report, out, notes={"flags": flags, **({"not_scored": not_scored} if not_scored else {}), **ended},
                     staged=staged, record=record)
    s.model.eval()
    base_weights = None
    if s.strategy.quantized:
        from headstart.quantize import weight_bytes

        counted = weight_bytes(s.model.backbone, linear_only=True)
        base_weights = {"stored": counted.stored, "fp32": counted.fp32}
    meta = {"resolved": record.spec["resolved"], "data_source": s.data.source, "backbone_saved": backbone_saved(s, report),
            "label_names": list(s.data.label_names), "val_checks": report.checks}
    where = saved if report.ended_by or staged else Path(out) if out else None
    loaded = LoadedRun(where or Path("."), meta, s.model, s.data.task, s.data.label_names, s.device)
    return FitResult(key=record.spec["key"], out=where,
                     status="interrupted" if report.status == "done" and report.ended_by else report.status,
                     val_metrics=report.val_metrics, steps=report.steps, best_step=report.best_step,
                     train_seconds=own_seconds(report), feature_seconds=report.feature_seconds,
                     trainable_params=report.trainable_params,
                     total_params=count_parameters(s.model), error=report.error, chosen=chosen, estimates=report.estimates,
                     tune_seconds=tune_seconds, peak_rss_bytes=_peak_rss(), base_weights=base_weights,
                     flags=flags, val_held_out=report.held_out, val_checks=report.checks,
                     leakage=leakage, ended_by=report.ended_by, _loaded=loaded, _staged_for=Path(out) if staged else None,
                     _record=record)


def _with_data_defaults(spec: RunSpec) -> tuple[RunSpec, Any, list[dict[str, str]]]:
    """``spec`` with the data's defaults filled in (``headstart.data_defaults``: image runs only), the dataset when it
    had to be loaded to decide (None otherwise), and a note per default applied."""
    import dataclasses

    from headstart.data import load_dataset
    from headstart.data_defaults import fill, image_backbone
    from headstart.specs import file_options

    if not image_backbone(spec.backbone):  # a text backbone: nothing depends on the data
        return spec, None, []
    data = load_dataset(spec.data, **file_options(spec))
    train, split, notes = fill(data, [spec.backbone], spec.train, spec.split, call="fit")
    return dataclasses.replace(spec, train=train, split=split), data, notes


def _data_source(run: str | Path | FitResult) -> dict[str, Any] | None:
    """The data source (file and columns) ``run`` trained on, from its spec.json; None where it names none."""
    from headstart.run_meta import read_meta

    if isinstance(run, FitResult):
        run._usable()
        return run._loaded.meta.get("data_source")
    return read_meta(run).get("data_source")


def _methods(tta: Any) -> tuple[str, ...]:
    """``tta`` as methods: a list, or a string of one or more comma-separated names (``"bn-adapt,tent"``)."""
    from headstart.arguments import as_items
    from headstart.sweep_spec import parse_list

    return parse_list(tta, name="tta", noun="method", flag="tta=") if isinstance(tta, str) else as_items(tta, name="tta")

def label_texts(described: str | dict[str, str] | list) -> list[tuple[str, str]]:
    """The classes' texts as (label, text) pairs: the CLI's ``LABEL=TEXT,...`` or a .json / .toml file, a dict, or pairs."""
    from headstart.strategies.zero_shot import read_label_descriptions

    if isinstance(described, str):
        return read_label_descriptions(described)
    return list(described.items()) if isinstance(described, dict) else [tuple(p) for p in described]


def _peak_rss() -> int:
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kB


@python_named
@names_passed_data
def evaluate(run: str | Path | FitResult, split: str = "test", *, eval_data: Any = None,
             tta: str | list[str] | None = None, eval_rows: str = "test", dedupe: bool = False,
             full: bool = False, max_new_tokens: int | None = None,
             progress: ProgressFn | bool | None = None) -> dict[str, Any] | list[dict[str, Any]]:
    """Metrics of a trained run on ``split`` ("test", or "val" alias "validation"): accuracy, macro_f1, … (rmse, r2 for
    regression); with ``eval_data``, on that dataset's test split instead (a file read by the columns named in its
    brackets, ``"other.csv[text=txt, label=lab]"``, else by the run's own text and label columns where it has them, as
    is a pandas DataFrame (staged in the cache as ``fit``'s data is); a seeded fifth of a file's rows;
    ``eval_rows="all"``: every row, for a labelled file kept apart as a test set), out of domain (``headstart.ood``: labels mapped by name,
    ``"drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]"``), after ``tta`` (``headstart.tta``) when
    given; a list of datasets, or several ``tta`` methods, gives a list of those, one per (dataset, method) in order.
    ``full=True`` returns what ``headstart evaluate --json`` prints instead: ``split``'s metrics and, with
    ``eval_data``, ``ood``, the list of each dataset's scores as trained and then after each ``tta`` method.
    The results carry ``per_class``, keyed by each label as the text the run stored it as (``'1'`` for an integer
    label, as ``predict`` answers), ``majority``, the share of the scored rows in their most frequent class,
    ``at_or_below_majority`` (the accuracy no higher than that: always answering that class does as well),
    ``accuracy_ci``, the 95% Wilson interval of the accuracy over those rows (not on a validation split that chose
    the checkpoint among several checks: its ``note`` says why), and ``tta``. ``dedupe=True`` leaves out the rows of
    each ``eval_data`` dataset that duplicate the run's own training or validation rows (those it warns of under
    ``leakage`` otherwise) and counts them under ``dropped``; the run's own test split is deduplicated at training
    (``fit(dedupe=True)``). ``progress=True`` draws the CLI's bar on stderr (None, the default, and False: none);
    a function ``progress(done, total, info)`` (``progress.progress_bar``'s) follows the rows scored,
    part by part (``progress.scoring_counter``: the run's own split, then each dataset and method; features cached or
    a pool adapted on first, where they are), with the time each part has left as the ETA (``info``'s ``eta_s``).
    An ``eval_data`` that is unknown, unreadable or whose labels do not map, or a ``tta`` that cannot adapt the run,
    is refused (ConfigError, DataError) before any row is scored (``loaded.check_ood``).
    A run folder's own test split, once scored, is written into the run (``saved.record_test``): metrics.json's
    ``test`` and the test line of its README.md, with the rows and the accuracy's 95% interval, in place of an
    earlier evaluate's; a folder that cannot be written (read-only, or holding another save by then) is scored all
    the same, a warning on the ``headstart`` logger saying why.

    An sft run (a folder, or what ``sft`` returned) answers its held-out test prompts greedily again, as sft did after
    training (``headstart.llm.evaluate``: the same rows, exact match), with ``max_new_tokens`` per answer (default: the
    run's own), and the score is written into the run (metrics.json, README.md), in place of a ``test_not_scored``;
    ``progress(done, total, info)`` follows the prompts answered. ``eval_data``, ``tta``, ``eval_rows``, ``dedupe``
    and ``split="val"`` are a classifier run's and refused there, as is a prefer run (it answers no test prompts);
    ``max_new_tokens`` is an sft run's and refused on a classifier run.
    Ctrl-C or SIGTERM before the score is written raises ``headstart.llm.evaluate.Kept``, the run as it was; one while
    it is written, held back until it is, ``headstart.llm.evaluate.Written`` (the score saved, its ``scored``). A folder
    that holds another run by then (its spec.json not the run's) is refused with a StoreError, nothing written.

    Returns:
        ``{"accuracy": ..., "macro_f1": ..., ...}`` for one dataset; a list of such dicts for several datasets or ``tta``
        methods; with ``full=True``, ``headstart evaluate --json``'s dict.
        An sft run: ``{"split": "test", "rows", "exact_match", "max_new_tokens", "samples"}`` (and ``cut_short``
        where an interrupt ended its steps), with ``full`` or without.

    Example:
        >>> run = headstart.fit("rotten-tomatoes", strategy="linear-probe", n=64, out="runs/probe")
        >>> headstart.evaluate("runs/probe")["accuracy"]  # or run.evaluate() on the model in memory
        >>> headstart.evaluate(run, eval_data="drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]")
    """
    from headstart.loaded import check_ood, evaluate_loaded, evaluate_ood
    from headstart.saved import load_run, saved_stamp

    if isinstance(progress, bool) or (progress is not None and not callable(progress)):  # True: the CLI's bar
        with progress_callback(progress, "evaluate") as update:
            return evaluate(run, split, eval_data=eval_data, tta=tta, eval_rows=eval_rows, dedupe=dedupe, full=full,
                            max_new_tokens=max_new_tokens, progress=update)
    if eval_rows not in ("test", "all"):  # the value first, on every path, as the CLI reads it
        raise ConfigError(f"--eval-rows must be test or all, got {eval_rows!r}; e.g. --eval-rows all")
    if _is_lm_run(run):
        from headstart.llm.evaluate import check_options, evaluate_sft, sft_spec

        sft_spec(run)  # a prefer run: refused as one before its options are
        check_options(split, eval_data=eval_data, tta=tta, eval_rows=eval_rows, dedupe=dedupe)
        return evaluate_sft(run, max_new_tokens=max_new_tokens, progress=progress)
    if max_new_tokens is not None:  # an sft run's option, refused by name as its others are
        from headstart.llm.evaluate import refuse_for_classifier

        refuse_for_classifier(run, f"--max-new-tokens {max_new_tokens}", "is for an sft run's answers")
    if has_frames(eval_data):  # a DataFrame: staged in the cache, read by the run's columns
        eval_data = staged_eval_data(eval_data, source=_data_source(run))
    if eval_data is not None:  # another object named by its type, not by a repr that may run to pages
        from headstart.specs import check_eval_names

        check_eval_names([eval_data] if isinstance(eval_data, str) else eval_data)
    told = scoring_counter(progress, None)  # no steps: the bar is each part's own count
    if full:  # the CLI's answer: the run's own split, then each dataset as trained and after each method
        from headstart.specs import check_eval_data, check_tta

        split = split_name(split)
        others = check_eval_data([eval_data] if isinstance(eval_data, str) else eval_data)
        methods = check_tta(_methods(tta) if tta is not None else (), others)
        if eval_rows == "all" and not others:
            raise ConfigError("--eval-rows all says which rows of an --eval-data dataset are scored; add --eval-data DATA")
        if dedupe and not others:
            raise ConfigError(_DEDUPE_ALONE)
        if isinstance(run, FitResult):
            run._usable()
        stamp = None if isinstance(run, FitResult) else saved_stamp(Path(run))
        loaded = run._loaded if isinstance(run, FitResult) else load_run(run)
        check_ood(loaded, others, tta=methods, rows=eval_rows, dedupe=dedupe)  # before any row is scored
        metrics = evaluate_loaded(loaded, split, progress=told)
        if not isinstance(run, FitResult):
            _carded(loaded, metrics, stamp)
        elsewhere = [evaluate_ood(loaded, text, tta=method, rows=eval_rows, dedupe=dedupe, progress=told)
                     for text in others for method in (None, *methods)]
        return {**metrics, "ood": elsewhere} if elsewhere else metrics
    if eval_data is not None:
        if isinstance(run, FitResult):
            run._usable()
        loaded = run._loaded if isinstance(run, FitResult) else load_run(run)
        methods = list(_methods(tta)) or [None]
        check_ood(loaded, eval_data if isinstance(eval_data, (list, tuple)) else [eval_data],
                  tta=[m for m in methods if m], rows=eval_rows, dedupe=dedupe)  # before any row is scored
        if isinstance(eval_data, (list, tuple)) or len(methods) > 1:
            datasets = eval_data if isinstance(eval_data, (list, tuple)) else [eval_data]
            return [evaluate_ood(loaded, text, tta=method, rows=eval_rows, dedupe=dedupe, progress=told)
                    for text in datasets for method in methods]
        return evaluate_ood(loaded, eval_data, tta=methods[0], rows=eval_rows, dedupe=dedupe, progress=told)
    if eval_rows != "test":
        raise ConfigError(f"--eval-rows {eval_rows} says which rows of an --eval-data dataset are scored; add --eval-data DATA")
    if tta is not None:
        raise ConfigError(f"--tta {tta} adapts the model to an --eval-data dataset before scoring it there; add --eval-data DATA")
    if dedupe:
        raise ConfigError(_DEDUPE_ALONE)
    split = split_name(split)
    if isinstance(run, FitResult):
        return run.evaluate(split, progress=progress)
    stamp = saved_stamp(Path(run))
    loaded = load_run(run)
    metrics = evaluate_loaded(loaded, split, progress=told)
    _carded(loaded, metrics, stamp)
    return metrics


def _carded(loaded: Any, metrics: dict[str, Any], stamp: tuple[int, int] | None) -> None:
    """A run folder's own test split, just scored: its score written into the run's metrics.json and README.md
    (``saved.record_test``); where it cannot be, a warning on the ``headstart`` logger says why (the CLI's note)."""
    import logging

    from headstart.saved import record_test

    if metrics.get("split") != "test":
        return
    why = record_test(loaded, metrics, stamp=stamp)
    if why:
        # both files or neither (``record_test``): naming only the card left metrics.json's own score unsaid
        logging.getLogger("headstart").warning("the test score is not written into %s's metrics.json or README.md: %s",
                                               loaded.directory, why)


def _is_lm_run(run: Any) -> bool:
    """Whether ``run`` is an sft / prefer run: a folder whose spec.json names that kind, or what ``sft`` returned; a
    value that names no folder (None, a number) is refused (``run_meta.as_run_path``)."""
    if isinstance(run, FitResult):
        return False
    from headstart.llm.runs import LoadedLM, is_lm_run

    if isinstance(run, LoadedLM):
        return True
    return is_lm_run(as_run_path(run, example="headstart.evaluate('runs/lp64')",
                                 unsaved="pass the FitResult itself, or use its own .evaluate"))


_DEDUPE_ALONE = ("--dedupe leaves out the rows of an --eval-data dataset that the run trained or chose on; add --eval-data "
                 "DATA (the run's own test split is deduplicated when it trains with --dedupe)")


@python_named
def predict(run: str | Path | FitResult, texts: Any, *, text_column: str | None = None) -> list[dict[str, Any]]:
    """Label and class probabilities (or a value, for regression) for each raw text; for a run on an image backbone,
    each image: a file path (the row's ``input``, as ``headstart predict`` writes it) or a pixel array; for a run trained on a
    text pair (``text_column="premise,hypothesis"``), each ``(premise, hypothesis)`` tuple (or 2-list), which its row
    gives under the two column names instead of ``text``.

    Args:
        run: a run folder (loaded on each call: ``headstart.load`` once, then its ``predict``, loads it once), or what
            ``fit`` / ``load`` returned.
        texts: a list (or other sequence) of inputs, or one ``str``, read as a one-item list (one text; an image
            run's image path); or a pandas DataFrame, read as ``headstart predict FILE`` reads a
            table: its ``text_column``, else the run's own text column where it has it, else one guessed by name (a
            note says which); a pair run's two columns. A row with empty text is dropped with a note; every other row
            gives its text, then the frame's other columns in order (one named like a key of the prediction, a
            labelled frame's ``label``, as ``input_label``), then the prediction. An image run reads a DataFrame's
            column of image paths (``text_column``, else the run's own, else its only one; relative to the working
            directory), as ``headstart predict`` reads a table of them. Bytes, a dict, a set, or a
            ``Path`` for a text run (a file: ``headstart.data.read_inputs`` reads it) is refused.
        text_column: a DataFrame's text column (``"FIRST,SECOND"`` for a pair run), as the CLI's ``--text-column``.

    Returns:
        A list of one dict per input, in order (one ``str`` gives a one-dict list): ``{"text": ..., "label": ..., "probabilities": {label: p, ...}}`` for
        classification; ``{"text": ..., "labels": [...], "probabilities": {...}}`` (each label at p ≥ 0.5) for
        multilabel; ``{"text": ..., "prediction": value}`` for regression. An image run's rows carry ``input`` (the
        file path, when given one) instead of ``text``. A label is the text the run stored it as, as the CLI writes
        it: a run trained on integer or bool labels answers ``'1'`` or ``'True'`` (its probabilities' keys too, and
        ``evaluate``'s ``per_class``); map them back where you need the type, e.g. ``int(row["label"])``.

    Example:
        >>> run = headstart.fit("rotten-tomatoes", strategy="linear-probe", n=64, out="runs/probe")
        >>> headstart.predict("runs/probe", ["a warm, funny film", "two hours I want back"])  # or run.predict([...])
        [{'text': 'a warm, funny film', 'label': 'fresh', 'probabilities': {'fresh': 0.8, 'rotten': 0.2}}, ...]
        >>> headstart.predict("runs/probe", "a warm, funny film")  # one text: a one-row list
        [{'text': 'a warm, funny film', 'label': 'fresh', 'probabilities': {'fresh': 0.8, 'rotten': 0.2}}]
        >>> headstart.predict("runs/probe", pd.DataFrame({"id": [7], "review": ["a joy"]}))
        [{'text': 'a joy', 'id': 7, 'label': 'fresh', 'probabilities': {...}}]
    """
    if isinstance(run, FitResult):
        return run.predict(texts, text_column=text_column)
    from headstart.predict_table import predict_inputs
    from headstart.saved import load_run

    run = as_run_path(run, example="headstart.predict('runs/lp64', texts)",
                      unsaved="pass the FitResult itself, or use its own .predict")
    return predict_inputs(load_run(run), texts, text_column=text_column)
