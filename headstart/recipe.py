"""The one recipe of a run: setup -> train (its learning rate tuned on validation when asked) -> evaluate -> ``RunResult``.

``headstart.fit``, a sweep's cells and tuning's trials all go through here: ``setup`` builds a run from its spec
(data, subsample, backbone, strategy, resolved config), ``train`` runs the engine on it, ``run`` does both (by
successive halving over the strategy's grid with ``--tune lr``, ``headstart.tuning``) and then scores the test split,
measures forgetting (``--retain``) and returns the ``RunResult`` the store keeps. The resolved spec a run is keyed by
is ``headstart.resolved``'s, the checks before it trains ``headstart.run_checks``', saving a run directory
``headstart.saved``'s.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from headstart.backbones import load_backbone, modality_of
from headstart.data import Dataset, SplitConfig, load_dataset, split_dataset, subsample
from headstart.data.labels import no_task_fix
from headstart.engine import FitData, FitReport, StepsInterrupted, fit
from headstart.errors import ConfigError, with_article
from headstart.features import encoded_inputs, feature_cache
from headstart.metrics import check_metric, selection_metric
from headstart.model import TaskModel
from headstart.objectives import Objective, TaskLoss, TermContext, build_objective, class_weights
from headstart.precision import autocast_for, pick_device, resolve_precision
from headstart.progress import ETA_KEY, ProgressFn, caching_counter, row_counter, scoring_counter
from headstart.resolved import _terms, resolve
from headstart.results import RunResult
from headstart.run_checks import (check_before_load, check_compatible, check_labelled, check_other_data, check_out_of_domain, check_retained_apart,
                                  say_retain_costs)
from headstart.specs import RunSpec, TrainConfig, file_options
from headstart.strategies import get_strategy
from headstart.strategies.base import ParamGroup, budget_for
from headstart import tuning


@dataclass
class Setup:
    """Everything a run needs, built from its spec (no training yet)."""

    spec: RunSpec
    data: Dataset
    splits: Any
    train_rows: np.ndarray
    strategy: Any
    options: Any
    cfg: TrainConfig
    pretrained: torch.nn.Module
    model: TaskModel
    encoded: list
    precision: str
    device: torch.device
    split_config: SplitConfig

    def resolved(self) -> dict[str, Any]:
        """The fully resolved spec: hashed into the run key and stored with every result."""
        return resolve(self.spec, self.data, self.pretrained, split_config=self.split_config, n_train=len(self.train_rows),
                       precision=self.precision)


def load_pretrained(spec: RunSpec, *, quantize: bool = False) -> torch.nn.Module:
    """The pre-trained backbone ``spec`` names, with its preprocessing settings (what ``setup`` loads); ``quantize``
    loads a text backbone's linear layers straight into NF4 (``quantize.load_quantized``)."""
    return load_backbone(spec.backbone, max_length=spec.train.max_length, pooling=spec.pooling, image_size=spec.train.image_size,
                         quantize=quantize)


def setup(spec: RunSpec, *, data: Dataset | None = None, pretrained: torch.nn.Module | None = None,
          train_rows: np.ndarray | None = None) -> Setup:
    """Load data and backbone, draw the subsample, resolve the config, build the model.

    Args:
        spec: the run.
        data / pretrained: already loaded dataset / backbone to reuse (a sweep loads them once).
        train_rows: rows the caller already drew (a continual stream's task: ``spec.n`` rows of each task, where the
            stream's ``data`` holds every task's classes), instead of ``spec.n`` drawn from ``data``'s pool.
    """
    strategy = get_strategy(spec.strategy)
    check_labelled(strategy, spec.n)
    data = data or load_dataset(spec.data, **file_options(spec))
    check_metric(spec.train.metric, data.task)  # before a backbone loads
    options = strategy.for_labels(strategy.options(spec.options), data.label_names, data.task)
    split_config = spec.split
    splits = split_dataset(data, split_config)
    if train_rows is None:
        train_rows = subsample(data, splits.pool, spec.n, spec.seed)
    # A 4-bit strategy that loads its own backbone loads it straight into NF4 and trains it without a copy: the fp32
    # base is never held (peak memory is the point of QLoRA). One given by a sweep is copied, then quantised.
    quantized_here = pretrained is None and strategy.quantized
    if quantized_here:
        from headstart.quantize import lean_allocator

        lean_allocator()  # before the load, whose freed fp32 layers would otherwise stay in glibc's heap
    if pretrained is None:
        check_before_load(spec)
    pretrained = pretrained or load_pretrained(spec, quantize=quantized_here)
    cfg = spec.train.with_defaults(strategy.defaults_for(modality_of(pretrained)))
    check_compatible(strategy, data, pretrained, cfg, pooling=spec.pooling, options=options)
    device = pick_device()
    precision = resolve_precision(cfg.precision, device)
    # The strategy may train the backbone in place: give it a private copy (the tokenizer is shared, read-only),
    # unless it never changes the backbone it is given.
    private = pretrained if strategy.leaves_backbone or quantized_here else copy.deepcopy(
        pretrained, memo={id(getattr(pretrained, "tokenizer", None)): getattr(pretrained, "tokenizer", None)})
    backbone = strategy.backbone(private, seed=spec.seed)
    configure = getattr(backbone, "configure", None)  # the backbone's own run settings (an image backbone's BatchNorm mode)
    if configure is not None:
        configure(cfg)
    mean, std = 0.0, 1.0
    if data.task == "regression":
        y = data.targets[train_rows].astype(np.float64)
        mean, std = float(y.mean()), float(y.std()) or 1.0
    model = TaskModel(backbone, data.num_outputs, seed=spec.seed, target_mean=mean, target_std=std).to(device)
    strategy.attach(model, options, precision=precision, seed=spec.seed)
    # A twin of the pre-trained backbone (scratch) reads inputs as it does; a backbone of another kind
    # (tfidf-logreg's TF-IDF featuriser) reads them its own way.
    encoded = encoded_inputs(pretrained if type(backbone) is type(pretrained) else backbone, data)
    return Setup(spec, data, splits, train_rows, strategy, options, cfg, pretrained, model, encoded, precision, device, split_config)


def train(s: Setup, *, progress: ProgressFn | None = None, objective: Objective | None = None,
          features: bool = True, nproc: int = 1, group: Any = None, test: bool = False) -> FitReport:
    """Plan the strategy's phases on the model and run the engine.

    Args:
        objective: the terms to add, built by the caller (a continual method's, which reads earlier tasks); default:
            built from ``s.spec.terms``.
        features: a head-only phase may train on the pre-trained backbone's cached features (False when the model's
            backbone is no longer the pre-trained one: a continual stream's later tasks).
        nproc: train across this many processes (``headstart.distributed``) when a phase steps through the backbone.
        group: this process's place in such a run, when it is one of the ranks ``distributed.launch`` started.
        test: the test split is scored after (``scored``): a run whose bar counts rows (``counts_rows``) counts its
            rows there too, so the validation check is its part of one count.
    """
    budget = budget_for(s.cfg, len(s.train_rows))
    phases = s.strategy.plan(s.model, s.options, s.cfg, budget)
    targets = s.data.targets
    if s.data.task == "regression":
        targets = (targets - float(s.model.target_mean)) / float(s.model.target_std)
    weights = class_weights(s.data.targets[s.train_rows], s.data.num_classes, s.cfg.class_weights) if s.data.task == "classification" else None
    loss_fn = TaskLoss(s.data.task, None if weights is None else weights.to(s.device))
    if objective is None and s.spec.terms:
        if progress:  # a term's setup (EWC's Fisher, the importance weights' domain classifier) can take minutes: said
            progress(0, budget.steps, {"setup": f"preparing {', '.join(s.spec.terms)} before the first step"})
        trained = frozenset(id(p) for phase in phases for p in phase.params)
        objective = build_objective(s.model, s.strategy, s.spec.terms,
                                    dataclasses.replace(term_context(s), steps=budget.steps, trained=trained))
    if objective is not None and objective.parameters:  # a term's own weights train in each phase that trains the backbone
        backbone = {id(p) for p in s.model.backbone.parameters()}
        extra = ParamGroup("terms", list(objective.parameters), s.cfg.head_lr)
        phases = [dataclasses.replace(ph, groups=[*ph.groups, extra]) if any(id(p) in backbone for p in ph.params) else ph
                  for ph in phases]
    cached = feature_cache(s, progress=caching_counter(progress, budget.steps)) if features else None  # its minutes on the bar
    fit_data = FitData(encoded=s.encoded, targets=torch.as_tensor(targets), raw_targets=s.data.targets,
                       train_rows=s.train_rows, val_rows=s.splits.val, features=cached,
                       class_weights=weights, example_weights=objective.example_weights if objective is not None else None,
                       counted_rows=(len(s.splits.test) if test else 0) if counts_rows(s) else None)
    def fit_as(group: Any) -> FitReport:
        return fit(s.model, phases, loss_fn, fit_data, s.cfg, seed=s.spec.seed, task=s.data.task,
                   label_names=s.data.label_names, metric=selection_metric(s.cfg, s.data, s.train_rows),
                   autocast=autocast_for(s.precision, s.device), progress=progress,
                   penalty=objective.penalty if objective is not None else None, group=group)

    from headstart import distributed

    spread = group is None and nproc > 1 and distributed.trains_backbone(s.model, phases)
    if nproc > 1 and group is None and not spread:
        logging.getLogger("headstart").info("%s takes no gradient steps through the backbone (it trains in seconds); "
                                            "--nproc %d ignored, one process trains it", s.strategy.name, nproc)
    try:
        if spread:
            with distributed.launch(s, nproc, rank_run=_rank_run) as rank0:
                report = fit_as(rank0)
        else:
            report = fit_as(group)
    except StepsInterrupted as stop:  # the checkpoint it kept is recorded as a finished one is
        _noted(_charged(stop.report, cached), objective, nproc if spread else 1)
        raise
    return _noted(_charged(report, cached), objective, nproc if spread else 1)


def _charged(report: FitReport, cached: Any) -> FitReport:
    """``report`` with its cached features counted at what computing them costs (``FeatureCache.read_seconds``), not at
    what this run spent on them: the first frozen-feature arm of a process computes them, the next reads them, and
    each arm's seconds are then what it costs run alone, whichever order a compare lists them in."""
    report.wall_seconds = report.seconds  # what the run itself took (fit's train_seconds), before the charge
    if cached is not None:
        report.feature_seconds, report.features_computed = cached.read_seconds, cached.computed_seconds
        report.seconds = max(0.0, report.seconds - cached.computed_seconds) + cached.read_seconds
    return report


def counts_rows(s: Setup) -> bool:
    """Whether the run's bar counts rows scored (validation, then test) rather than optimiser steps: a prompt arm,
    which takes no step and whose minutes are its causal LM's forward passes."""
    from headstart.backbones.verbalizer import PromptScorer

    return isinstance(s.model.backbone, PromptScorer)


def _noted(report: FitReport, objective: Objective | None, processes: int) -> FitReport:
    """``report`` with the processes its steps were spread over and what the objective's terms estimated (importance
    weighting: how far apart the domains are)."""
    report.processes = processes
    if objective is not None and objective.summary:
        report.estimates.update(objective.summary)
    return report


def _rank_run(spec: RunSpec, data: Dataset, pretrained: torch.nn.Module, group: Any) -> None:
    """What a rank other than 0 of ``train --nproc`` does (``distributed.launch``): build the run as rank 0 did, train."""
    train(setup(spec, data=data, pretrained=pretrained), features=False, group=group)


def term_context(s: Setup) -> TermContext:
    """What the objective terms read before training: the task, and reference inputs drawn (with the run's seed) from
    the training pool — inputs only, their labels are never read."""
    def reference(rows: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
        chosen = np.random.default_rng(s.spec.seed).permutation(s.splits.pool)[:rows]
        return [{k: v.to(s.device) for k, v in s.model.backbone.collate([s.encoded[r] for r in chosen[i : i + batch_size]]).items()}
                for i in range(0, len(chosen), batch_size)]

    def other(name: str, rows: int, batch_size: int) -> tuple[list[dict[str, torch.Tensor]], list[torch.Tensor], int]:
        with no_task_fix():  # --task is the run's data's: this file's notes name no fix
            data = load_dataset(name, run_source=s.data.source)
        if data.hash == s.data.hash:
            raise ConfigError(f"{name!r} is this run's own dataset: its labels beyond the n drawn are not the run's to "
                              "read; name an earlier task, e.g. drug-reviews")
        if data.task != "classification" or data.modality != s.data.modality:
            raise ConfigError(f"{name!r} is {with_article(data.modality)} {data.task} dataset; an objective term reads "
                              f"{with_article(s.data.modality)} classification dataset here")
        pool = split_dataset(data, SplitConfig()).pool  # never its test split
        chosen = subsample(data, pool, min(rows, len(pool)), s.spec.seed)
        encoded = encoded_inputs(s.pretrained, data)
        parts = [chosen[i : i + batch_size] for i in range(0, len(chosen), batch_size)]
        batches = [{k: v.to(s.device) for k, v in s.model.backbone.collate([encoded[r] for r in part]).items()} for part in parts]
        return batches, [torch.as_tensor(data.targets[part].astype(np.int64)) for part in parts], data.num_classes

    def unlabelled(name: str, rows: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
        with no_task_fix():
            data = load_dataset(name, run_source=s.data.source)
        if data.hash == s.data.hash:
            raise ConfigError(f"{name!r} is this run's own dataset; the target domain is another dataset's inputs, e.g. "
                              + ("opencv-digits" if s.data.modality == "image" else "drug-reviews-sentiment"))
        if data.modality != s.data.modality:
            raise ConfigError(f"{name!r} holds {data.modality}s but this run reads {s.data.modality}s")
        pool = split_dataset(data, s.split_config, by_label=False).pool  # inputs only, cut without its labels; never its
        # test split (where --eval-data scores it)
        chosen = np.random.default_rng(s.spec.seed).permutation(pool)[:rows]
        encoded = encoded_inputs(s.pretrained, data)
        return [{k: v.to(s.device) for k, v in s.model.backbone.collate([encoded[r] for r in chosen[i : i + batch_size]]).items()}
                for i in range(0, len(chosen), batch_size)]

    def training(batch_size: int) -> list[dict[str, torch.Tensor]]:
        rows = s.train_rows
        return [{k: v.to(s.device) for k, v in s.model.backbone.collate([s.encoded[r] for r in rows[i : i + batch_size]]).items()}
                for i in range(0, len(rows), batch_size)]

    start = json.dumps([s.data.hash, s.pretrained.describe(), s.spec.strategy, dataclasses.asdict(s.options), s.spec.seed,
                        s.train_rows.tolist(), s.precision], sort_keys=True, default=str)
    return TermContext(task=s.data.task, reference=reference, seed=s.spec.seed, other=other, start=start, unlabelled=unlabelled,
                       training=training)


# ---- the whole run -------------------------------------------------------------------------------------------


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during the steps of a run's training (its final one, after any tuning trials): ``setup``
    holds the model with the checkpoint ``report`` names (``engine.StepsInterrupted``); nothing was scored. A
    KeyboardInterrupt still: a sweep's cell stops as it did, stored as nothing."""

    def __init__(self, setup: Setup, report: FitReport) -> None:
        super().__init__(report.ended_by)
        self.setup, self.report = setup, report


@dataclass
class Outcome:
    """A finished run: its setup (with the trained model), the fit report, what tuning chose and tried, and the
    ``RunResult`` the store keeps (test metrics only when the run was scored on test)."""

    setup: Setup
    report: FitReport
    result: RunResult
    chosen: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    tune_seconds: float = 0.0  # wall time of the trials, the final full run excluded
    bar: tuple[int, int] = (0, 0)  # where the progress bar stood as the steps ended: the scoring's stages stay there


def run(spec: RunSpec, *, data: Dataset | None = None, pretrained: torch.nn.Module | None = None,
        progress: ProgressFn | None = None, test: bool = True, nproc: int = 1, say_costs: bool = True) -> Outcome:
    """setup -> train (tuned on validation with ``spec.tune``) -> evaluate, for ``fit``, a sweep's cell and benchmarks.

    Args:
        data / pretrained: already loaded dataset / backbone to reuse (a sweep loads them once per process).
        test: score the test split (a sweep's cells); ``fit`` leaves it to ``evaluate``. Forgetting
            (``spec.retain``) and out-of-domain scores (``spec.eval_data``) are measured either way: they read other
            datasets, never this one's test split.
        nproc: processes the (final) training run is spread over (``headstart.distributed``); tuning trials use one.
        say_costs: say what ``spec.retain`` will cost before training (``say_retain_costs``); a sweep's cell leaves it
            to its plan, which said it once in the driver, since each worker process would say it again.

    Raises:
        HeadstartError: a spec that cannot run (bad data, options, sizes); a run that diverges is an outcome.
        RunInterrupted: Ctrl-C (or SIGTERM read as one) during the steps of its training; in a tuning trial the
            trial's ``engine.StepsInterrupted`` goes on as it is.
        scoring.ScoringInterrupted: Ctrl-C (or SIGTERM) while the trained run is scored.
    """
    trained = trained_run(spec, data=data, pretrained=pretrained, progress=progress, nproc=nproc, test=test,
                          say_costs=say_costs)
    return scored(spec, trained, test=test, progress=progress)


def trained_run(spec: RunSpec, *, data: Dataset | None = None, pretrained: torch.nn.Module | None = None,
                progress: ProgressFn | None = None, nproc: int = 1, test: bool = False, say_costs: bool = True) -> Outcome:
    """``run`` up to its scoring: the run trained, its result keyed, with its record and validation metrics
    (``unscored``); ``scored`` adds the rest. ``fit`` saves the run in between. ``test``: ``scored`` will score the
    test split (a bar that counts rows counts those too). Raises as ``run`` does."""
    _terms(spec, get_strategy(spec.strategy))  # a term that cannot apply is refused before any training, not after it
    if pretrained is None:
        check_before_load(spec)
    pretrained = pretrained or load_pretrained(spec)  # loaded once for every trial; the grid depends on its modality
    check_other_data([spec], modality_of(pretrained))  # a misspelt --retain or term data= dataset too, before training
    if spec.retain:  # nor may a retained dataset be this run's own data, or share its training texts
        data = data or load_dataset(spec.data, **file_options(spec))
        check_retained_apart(spec.retain, data, spec.split)
    if spec.eval_data:  # so are out-of-domain datasets whose labels do not map, and adaptations that cannot apply
        data = data or load_dataset(spec.data, **file_options(spec))
        check_out_of_domain(spec, data, pretrained)
    if say_costs:  # checked: what retention will cost after training
        say_retain_costs(spec.retain, modality_of(pretrained))
    last = [(0, 0)]  # where the bar ended (the steps run after an early stop; a solver's own count): stages stay there

    def tracked(done: int, total: int, info: dict[str, Any]) -> None:
        last[0] = (done, total)
        progress(done, total, info)

    s, report, trials, seconds = _train_tuned(spec, data, pretrained, tracked if progress else None, nproc, test=test)
    chosen = dict(report.chosen)
    from headstart.scoring import unscored

    return Outcome(s, report, unscored(spec, s, report, chosen, trials, seconds), chosen, trials, seconds, bar=last[0])


def scored(spec: RunSpec, trained: Outcome, *, test: bool = True, progress: ProgressFn | None = None) -> Outcome:
    """``trained`` (``trained_run``) with its scores (``scoring.score``); each scoring stage said on the progress bar,
    with its rows (batches, fits) counted as they go."""
    from headstart.scoring import score

    # the steps are done, the scoring's length unknown: "ETA ?", not the steps' "0s" (retention then took 95 s more)
    stage = (lambda text: progress(*trained.bar, {"then": text, ETA_KEY: None})) if progress else None
    s = trained.setup  # a bar that counts rows goes on from the validation rows its check counted
    rows = row_counter(progress, len(s.splits.val) + len(s.splits.test), before=len(s.splits.val)) if counts_rows(s) else None
    return dataclasses.replace(trained, result=score(spec, s, trained.report, trained.result, test=test, stage=stage,
                                                     rows=rows, counted=scoring_counter(progress, trained.bar)))


def _train_tuned(spec: RunSpec, data: Dataset | None, pretrained: torch.nn.Module, progress: ProgressFn | None,
                 nproc: int = 1, *, test: bool = False) -> tuple[Setup, FitReport, list[dict[str, Any]], float]:
    """The run trained at the learning rate successive halving chose on validation (``tuning.halve``), or as given."""
    plan = tuning.plan_for(spec, get_strategy(spec.strategy), modality_of(pretrained))
    if plan is None:
        s = setup(spec, data=data, pretrained=pretrained)
        return s, _trained(s, progress, nproc, test=test), [], 0.0
    param, grid = plan
    started = time.perf_counter()
    first = setup(tuning.trial_spec(spec, param, grid[0], spec.train.max_steps), data=data, pretrained=pretrained)
    full_steps, count = budget_for(first.cfg, len(first.train_rows)).steps, [0]
    schedule = tuning.trial_steps(len(grid), full_steps)
    timed = [0.0, 0]  # wall seconds and steps of the trials finished: the pace the rest of the run is said at
    computed = [0.0]  # the trials' seconds computing features: the final run counts the features at their cost

    def trial(v: float, steps: int, evals: int) -> FitReport:
        """One trial; its steps go to ``progress`` as what the run is doing, none of the run's own steps done (a
        tuned cell would otherwise say nothing for minutes, and its trials' pace is not its final run's). From the
        second trial on, the ETA is the steps left (this trial's, the trials to come, the final run's) at the finished
        trials' pace, their setup and validation included; "ETA ?" stood on every line of the tuning before."""
        count[0] += 1
        doing, began = f"{param} {v:g}, trial {count[0]} of {len(schedule)}", time.perf_counter()
        later = sum(schedule[count[0]:]) + full_steps

        def said(done: float, total: int, info: dict[str, Any]) -> None:
            eta = timed[0] / timed[1] * (total - done + later) if timed[1] else None
            progress(0, full_steps, {"tuning": f"{doing}, step {int(done)}/{total}", ETA_KEY: eta})

        if progress:
            said(0, steps, {})
        report = train(setup(tuning.trial_spec(spec, param, v, steps, evals), data=data, pretrained=pretrained),
                       progress=said if progress else None)
        timed[0], timed[1] = timed[0] + time.perf_counter() - began, timed[1] + steps
        computed[0] += report.features_computed
        return report

    value, trials = tuning.halve(grid, param=param, full_steps=full_steps, evals_per_phase=first.cfg.evals_per_phase,
                                 trial=trial)
    seconds = max(0.0, time.perf_counter() - started - computed[0])
    s = setup(tuning.trial_spec(spec, param, value, spec.train.max_steps), data=data, pretrained=pretrained)
    return s, _trained(s, progress, nproc, chosen={param: value}, test=test), trials, seconds


def _trained(s: Setup, progress: ProgressFn | None, nproc: int, *, chosen: dict[str, Any] | None = None,
             test: bool = False) -> FitReport:
    """``train(s)``, what tuning ``chosen`` first in its report's ``chosen`` (saved with the run: metrics.json); its
    interrupt raised as ``RunInterrupted``, carrying ``s``."""
    try:
        report = train(s, progress=progress, nproc=nproc, test=test)
    except StepsInterrupted as stop:
        stop.report.chosen = {**(chosen or {}), **stop.report.chosen}
        raise RunInterrupted(s, stop.report) from None
    report.chosen = {**(chosen or {}), **report.chosen}
    return report

