"""The one training loop. Every strategy's phases run here; nothing else steps a run's phases (the loops that are not
phases keep their own: SetFit's pair tuning inside its ``solve``, test-time adaptation, the causal-LM loop, meta-training).

Owns what every strategy shares: AdamW (no decay on biases and norms), linear warmup then cosine /
linear decay per phase (both ``headstart.optimizer``), gradient accumulation, clipping, bf16 autocast where measured
to pay, early stopping on validation with best-weights restore (``headstart.checkpoint``), NaN/inf detection, seeding
and progress. ``_fit`` is the loop over phases, ``_train_phase`` one phase's steps. Ctrl-C during the steps (SIGTERM
too, where the caller reads it as one: ``headstart.interrupts``) stops them and keeps the best checkpoint so far, then
goes on as ``StepsInterrupted``, which carries the fit's report.
A phase whose backbone is frozen and still pre-trained trains the head on cached features: the
backbone never runs per epoch. A phase with a closed-form ``solve`` (classical baselines) takes no steps:
the engine hands it the training rows and a judge of validation outputs (``Problem``), then validates once (``headstart.solve``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart import held_out
from headstart.activations import PrefixCache
from headstart.checkpoint import BestCheckpoint
from headstart.evaluation import compute_metrics, model_outputs, outputs_to_predictions
from headstart.modes import module_modes, restore_modes
from headstart.fastdropout import fast_dropout
from headstart.features import padded_length
from headstart.headstep import HeadAdamW, clip_grad_norm, closed_form_applies
from headstart.interrupts import ended_by
from headstart.metrics import selection_score
from headstart.objectives import TaskLoss
from headstart.optimizer import lr_factor, make_optimizer, optimizer_groups
from headstart.progress import row_counter
from headstart.rowgrad import RowGradients, row_gradients
from headstart.solve import solve_phase
from headstart.step import Step
from headstart.strategies.base import Phase, budget_for

MIN_EVALS = 5  # evals_per_epoch never thins a phase's validation checks below this (the default evals_per_phase)


@dataclass
class FitData:
    """What the loop trains and validates on (all indices are dataset rows).

    Attributes:
        encoded: every row's encoded input (``backbone.encode``).
        targets: (N,) or (N, C) tensor of every row's training target (standardised for regression).
        raw_targets: the same in original units, for metrics.
        train_rows / val_rows: the labelled subsample and the validation split.
        features: cached features of the pre-trained backbone by row, or None when unavailable.
        class_weights: (C,) the loss's class weights or None, for closed-form solvers.
        example_weights: (n,) weights of the training rows' losses, indexed like ``train_rows`` (importance
            weighting), or None.
        batches: ``batches(rng) -> [positions]``, one epoch of micro-batches (positions into ``train_rows``) drawn from
            ``rng``; None: ``train_batches`` (shuffled, bucketed by length). A multi-task run draws a batch of every
            task for each step (``multitask.model.task_batches``).
        validate: ``validate(model) -> (score, metrics)``, the validation check of a model whose outputs are not one
            task's (a head per task: ``multitask``); ``metrics`` holds ``loss`` for ties. None: ``score_rows`` on
            ``val_rows`` by the run's metric.
        counted_rows: None: the bar counts optimiser steps. A number: it counts the validation check's rows instead,
            out of them plus this many rows scored after the fit (the test split, 0 when none): a fit with no steps
            whose time is its forward passes (the prompt arms' causal LM), which said nothing for minutes ("ETA ?").
    """

    encoded: list
    targets: torch.Tensor
    raw_targets: np.ndarray
    train_rows: np.ndarray
    val_rows: np.ndarray
    features: Callable[[np.ndarray], torch.Tensor] | None = None
    class_weights: torch.Tensor | None = None
    example_weights: torch.Tensor | None = None
    batches: Callable[[np.random.Generator], list[np.ndarray]] | None = None
    validate: Callable[[nn.Module], tuple[float, dict[str, Any]]] | None = None
    counted_rows: int | None = None


@dataclass
class FitReport:
    status: str  # "done" | "diverged"; an interrupted fit is "done" up to its last step, and ``ended_by`` says so
    steps: int = 0
    best_step: int = 0
    best_score: float = -math.inf
    val_metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # wall time; ``recipe.train`` then counts its cached features at their cost (feature_seconds)
    feature_seconds: float = 0.0  # what computing the cached features it read cost, whichever run computed them
    features_computed: float = 0.0  # of the wall time, the seconds spent computing features (none when cached before)
    wall_seconds: float | None = None  # the run's own wall time, ``seconds`` before ``recipe._charged`` charged it
    trainable_params: int = 0
    trained: list[str] = field(default_factory=list)  # names of every parameter that trained in some phase
    chosen: dict[str, Any] = field(default_factory=dict)  # hyperparameters closed-form phases chose on validation
    estimates: dict[str, Any] = field(default_factory=dict)  # what objective terms estimated before training, by term
    planned_steps: int = 0  # the phases' step budget; fewer were taken when early stopping ended a phase
    phase_steps: list[tuple[str, int]] = field(default_factory=list)  # each stepping phase's budget, in order (lp-ft: probe, finetune)
    processes: int = 1  # processes its gradient steps were spread over (``train --nproc``)
    held_out: dict[str, Any] | None = None  # the checkpoint choice scored on validation rows that did not make it (held_out)
    checks: int = 0  # validation checks the kept checkpoint was chosen among (a solver's ranked candidates too); 0: unknown
    ended_by: str | None = None  # "interrupted by Ctrl-C at step 37 of 120" (or SIGTERM); None: it ran its course


def own_seconds(report: FitReport) -> float:
    """The run's own wall time (features it computed itself included, those an earlier run cached not): ``fit``'s
    ``train_seconds``, never more than its call took; ``report.seconds`` is its charged cost, a compare's measure."""
    return report.wall_seconds if report.wall_seconds is not None else report.seconds


class StepsInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a phase's steps, raised once the fit has kept what it had: ``report`` (``ended_by``
    set) and the model holding the best validation checkpoint so far, or the last step's weights where no check had
    run yet. A KeyboardInterrupt still: a sweep's cell stops as it did."""

    def __init__(self, report: FitReport) -> None:
        super().__init__(report.ended_by)
        self.report = report


def train_batches(lengths: np.ndarray, batch_size: int, generator: np.random.Generator, *, bucket: bool) -> list[np.ndarray]:
    """One epoch of batches (positions into the training set), shuffled.

    With ``bucket``, positions are sorted by length inside chunks of 50 batches before batching, so a
    batch pads to similar lengths; batch order is then shuffled, so the data order stays random.
    """
    order = generator.permutation(len(lengths))
    if bucket:
        chunk = batch_size * 50
        order = np.concatenate([c[np.argsort(lengths[c], kind="stable")] for c in np.array_split(order, max(1, math.ceil(len(order) / chunk)))])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in generator.permutation(len(batches))] if bucket else batches


def set_trainable(model: nn.Module, params: list[nn.Parameter]) -> None:
    """Exactly ``params`` require grad. A module holding parameters, none of them trainable, runs in eval
    mode with everything inside it (frozen blocks: no dropout, fixed norm statistics); parameter-free
    modules (dropout) inside a trained block keep training mode, as in any fine-tune."""
    chosen = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in chosen)
    model.train()

    frozen: dict[nn.Module, bool] = {}  # module -> holds parameters and none trains; one walk of the tree

    def settle(module: nn.Module) -> tuple[bool, bool]:  # (holds parameters, any of them trainable)
        holds = trains = False
        for p in module._parameters.values():
            if p is not None:
                holds, trains = True, trains or p.requires_grad
        for child in module.children():
            child_holds, child_trains = settle(child)
            holds, trains = holds or child_holds, trains or child_trains
        frozen[module] = holds and not trains
        return holds, trains

    def freeze_topmost(module: nn.Module) -> None:
        if frozen[module]:
            module.eval()  # and everything below it
        else:
            for child in module.children():
                freeze_topmost(child)

    settle(model)
    freeze_topmost(model)


def fit(model: nn.Module, phases: list[Phase], loss_fn: Callable, data: FitData, cfg: Any, *, seed: int, task: str,
        label_names: tuple[str, ...], metric: str, autocast: Callable | None = None,
        progress: Callable[[int, int, dict[str, Any]], None] | None = None,
        penalty: Callable[[], torch.Tensor | None] | None = None, group: Any = None) -> FitReport:
    """Train ``model`` through ``phases``; restore the weights that scored best on validation.

    Args:
        model: a TaskModel (backbone + head) on its device.
        phases: from ``strategy.plan``.
        loss_fn: ``loss_fn(outputs (B, out), targets (B,...)) -> scalar``.
        data: rows, encodings, targets and the optional feature cache.
        cfg: resolved TrainConfig (batch_size, accumulate, warmup, schedule, weight_decay, clip,
            patience, evals_per_phase, evals_per_epoch, eval_batch_size).
        seed: seeds shuffling and dropout (CPU dropout masks come from ``headstart.fastdropout``).
        metric: validation metric that picks the best checkpoint (higher is better after ``selection_score``).
        autocast: context-manager factory for bf16 autocast, or None for fp32.
        progress: called after every optimiser step with (step, total_steps, info).
        penalty: the objective terms' Σ weight · term on the current weights (``objectives.Objective.penalty``),
            added to each step's loss; None for the task loss alone.
        group: this process's ``distributed.Group`` in a run across processes (``--nproc``), or None: phases that
            step through the backbone are shared (each rank a part of every micro-batch, gradients summed), the
            others and all validation run on rank 0, whose report alone means anything.

    Returns:
        FitReport with status "done" or "diverged" (loss not finite: the step and loss are in ``error``).

    Raises:
        StepsInterrupted: Ctrl-C (or SIGTERM read as one) during the steps, after the best checkpoint so far was put
            back into ``model`` (no check yet: the weights of the last step taken stay).
    """
    modes = module_modes(model)  # put back as found: a loaded backbone shared by runs (leaves_backbone) stays as it was
    try:
        # Sparse embedding backwards (headstart.rowgrad) only under the plain task loss: another may take gradients itself
        plain = type(loss_fn) is TaskLoss
        with fast_dropout(model), row_gradients(model) if plain else nullcontext() as row_grads:
            return _fit(model, phases, loss_fn, data, cfg, seed=seed, task=task, label_names=label_names, metric=metric,
                        autocast=autocast, progress=progress, penalty=penalty, group=group, row_grads=row_grads)
    finally:
        restore_modes(modes)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch ops on one intra-op thread inside the block; the previous count is put back."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit(model: nn.Module, phases: list[Phase], loss_fn: Callable, data: FitData, cfg: Any, *, seed: int, task: str,
         label_names: tuple[str, ...], metric: str, autocast: Callable | None,
         progress: Callable[[int, int, dict[str, Any]], None] | None,
         penalty: Callable[[], torch.Tensor | None] | None = None, group: Any = None,
         row_grads: RowGradients | None = None) -> FitReport:
    """The loop over phases: each phase's parameters set trainable, then its solve or its steps; the best check restored
    (interrupted before any check: the weights as the last step left them)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = model.head.weight.device
    total_steps = sum(p.steps for p in phases)
    report = FitReport(status="done", planned_steps=total_steps,
                       phase_steps=[(p.name, p.steps) for p in phases if p.solve is None])
    lengths = np.asarray([padded_length(data.encoded[r]) for r in data.train_rows])
    best = BestCheckpoint()
    ever_trained: dict[int, nn.Parameter] = {}
    learned: dict[int, nn.Parameter] = {}  # of those, what a phase learned (Phase.learns): the trainable count
    backbone_touched = False
    step = offset = 0
    rows = row_counter(progress, len(data.val_rows) + data.counted_rows) if data.counted_rows is not None else None
    for number, phase in enumerate(phases):
        params = phase.params
        set_trainable(model, params)
        best.keep([*params, *(b for m in model.modules() if m.training for b in m.buffers(recurse=False))])
        ever_trained.update((id(p), p) for p in params)
        if phase.learns:
            learned.update((id(p), p) for p in params)
        backbone_ids = {id(p) for p in model.backbone.parameters()}
        on_features = data.features is not None and not backbone_touched and not any(id(p) in backbone_ids for p in params)
        backbone_touched |= any(id(p) in backbone_ids for p in params)
        shared = group is not None and group.decide(phase.solve is None and not on_features)  # rank 0 knows on_features
        if group is not None and not shared and not group.leads:
            continue  # a phase of seconds: rank 0 trains it alone, the next shared phase starts from its weights
        if shared:
            group.share_state(model, rng, number)
        report.trainable_params = max(report.trainable_params, sum(p.numel() for p in learned.values()))
        check = partial(_validate, model, data, features=None if backbone_touched else data.features, batch_size=cfg.eval_batch_size,
                        task=task, label_names=label_names, metric=metric, autocast=autocast, checks=best.checks, rows=rows)
        if phase.solve is not None:  # a fit that counts rows draws only them (a step count of 0/0 would reset the bar)
            report.chosen.update(solve_phase(model, phase, data, on_features=on_features, check=check, best=best,
                                             history=report.history, step=step, task=task, label_names=label_names, metric=metric,
                                             batch_size=cfg.eval_batch_size, autocast=autocast,
                                             progress=progress if rows is None else None, bar=(offset, total_steps)))
            report.trainable_params = max(report.trainable_params, sum(p.numel() for p in learned.values()))  # may resize
            continue
        # Across processes each rank augments its own rows from a stream of its own: drawn from the batch stream, the
        # ranks' batch orders would drift apart.
        augment_rng = np.random.default_rng([seed, group.rank, number]) if shared else rng
        step, stopped, bad_loss, interrupt = _train_phase(
            model, phase, loss_fn, data, cfg, rng=rng, augment_rng=augment_rng, lengths=lengths, device=device,
            on_features=on_features, group=group if shared else None, check=check, best=best, history=report.history,
            step=step, autocast=autocast, penalty=penalty, row_grads=row_grads, progress=progress, bar=(offset, total_steps))
        if interrupt is not None:
            report.ended_by = f"{ended_by(interrupt)} at step {step} of {report.planned_steps}"
            break
        if bad_loss is not None:
            report.status = "diverged"
            report.error = f"loss became {bad_loss} at step {step + 1} in phase {phase.name!r}; lower the learning rate"
            break
        if stopped:  # the steps not taken leave the bar's total: it ends at the steps run (90/90), not at a 300/300 not run
            total_steps -= phase.steps - stopped
        offset += stopped or phase.steps
        if progress:
            progress(offset, total_steps, {"phase": phase.name,
                                           **({"stopped early": f"at step {stopped} of {phase.steps}"} if stopped else {})})
    if report.status == "done":  # a diverged run is left as it stopped
        if report.ended_by is None or best.snapshot is not None:  # no check yet: a step's weights beat untrained ones
            best.restore()
        set_trainable(model, [])
        report.trained = [name for name, p in model.named_parameters() if id(p) in ever_trained]
        if data.validate is None:  # a validation of its own (a head per task) keeps no halves to hold out
            report.held_out = held_out.choose(best.checks, metric=metric)
            report.checks = len(best.checks)  # under held_out.MIN_ROWS rows each is None, but a look all the same
    report.steps, report.best_score, report.best_step, report.val_metrics = step, best.score, best.step, best.metrics
    report.seconds = time.perf_counter() - start
    if report.ended_by is not None:
        raise StepsInterrupted(report)
    return report


def _validate(model: nn.Module, data: FitData, *, features: Callable[[np.ndarray], torch.Tensor] | None, batch_size: int,
             task: str, label_names: tuple[str, ...], metric: str, autocast: Callable | None,
             checks: list[held_out.Halves | None], rows: Callable[[int], None] | None = None) -> tuple[float, dict[str, Any]]:
    """One validation check: (selection score, metrics) of ``model`` on ``data.val_rows`` (``data.validate`` where set);
    its metrics on the two halves of the rows are appended to ``checks``. ``features``: the feature cache while the
    backbone is still pre-trained, else None (the backbone runs). ``rows``: told the rows done (``FitData.counted_rows``)."""
    if data.validate is not None:
        return data.validate(model)
    outputs = model_outputs(model, data.encoded, data.val_rows, batch_size=batch_size, features=features, autocast=autocast,
                            progress=rows, padded=True)
    predictions, targets = outputs_to_predictions(outputs, task, model), data.raw_targets[data.val_rows]
    checks.append(held_out.on_halves(predictions, targets, task=task, label_names=label_names))
    metrics = compute_metrics(task, predictions, targets, label_names)
    return selection_score(metrics, metric), metrics


def _train_phase(model: nn.Module, phase: Phase, loss_fn: Callable, data: FitData, cfg: Any, *, rng: np.random.Generator,
                 augment_rng: np.random.Generator, lengths: np.ndarray, device: torch.device, on_features: bool, group: Any,
                 check: Callable[[], tuple[float, dict[str, Any]]], best: BestCheckpoint, history: list[dict[str, Any]],
                 step: int, autocast: Callable | None, penalty: Callable[[], torch.Tensor | None] | None,
                 row_grads: RowGradients | None, progress: Callable | None,
                 bar: tuple[int, int]) -> tuple[int, int | None, float | None, KeyboardInterrupt | None]:
    """A phase's optimiser steps, validated every few steps, until its budget or its patience runs out, or Ctrl-C.

    Args:
        rng: the fit's stream of batch orders; ``augment_rng``: the augmentations' (``rng`` unless shared).
        lengths: (n,) each training row's padded length, for bucketing.
        group: the ``distributed.Group`` this phase is shared over, or None (one process, or rank 0 alone).
        check: the validation check (``_validate`` with the phase's arguments), made on rank 0 only.
        history / step: the report's history, which gets each check, and the steps taken before the phase.
        bar: (steps done, the bar's total) where ``progress`` stood when the phase began.

    Returns:
        (the fit's steps so far, the phase step early stopping ended the phase after or 0/None, the loss that was not
        finite or None: the run diverged at the step after those taken, the KeyboardInterrupt that stopped the steps
        or None: ``headstart.interrupts.Terminated`` for SIGTERM).
    """
    # A head on cached features: the same fused AdamW without torch.optim's per-call overhead
    # (headstart.headstep; bit-identical updates), and for a linear head the gradient in closed form instead of
    # through autograd: per-call overhead is most of such a step's time.
    params = phase.params
    lean = on_features and cfg.optimizer == "adamw" and HeadAdamW.available(params)
    closed = lean and closed_form_applies(model.head, params, loss_fn, autocast) and data.example_weights is None
    groups = optimizer_groups(phase, cfg.weight_decay)
    optimizer = HeadAdamW(groups) if lean else make_optimizer(groups, cfg.optimizer, device)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    eval_every = max(1, math.ceil(phase.steps / cfg.evals_per_phase))
    if cfg.evals_per_epoch:  # no more checks an epoch than this, unless that leaves fewer than MIN_EVALS in the phase
        epoch = budget_for(cfg, len(data.train_rows)).steps_per_epoch
        eval_every = max(eval_every, min(math.ceil(epoch / cfg.evals_per_epoch), math.ceil(phase.steps / MIN_EVALS)))
    train_features = train_targets = None
    if on_features:  # one pass (and one cache write) for train and validation rows together
        train_features = data.features(np.concatenate([data.train_rows, data.val_rows]))[: len(data.train_rows)].to(device)
        train_targets = data.targets[torch.as_tensor(data.train_rows)].to(device)  # indexed like train_features
    prefix = None  # frozen bottom blocks computed once for the phase (headstart.activations)
    if not on_features and cfg.augment == "none":
        prefix = PrefixCache.build(model.backbone, data.encoded, data.train_rows, batch_size=cfg.eval_batch_size)
    take_step = Step(model, loss_fn, data, data.targets, device=device, autocast=autocast, augment=cfg.augment, rng=augment_rng,
                     closed=closed, on_features=on_features, train_features=train_features, train_targets=train_targets,
                     prefix=prefix, penalty=penalty, group=group, row_grads=row_grads)
    stale, queue, stopped = 0, [], None
    # A head on cached features is a few tiny ops a step: one thread runs them fastest, and on a busy machine
    # a second OpenMP thread waiting for a core costs more than the op itself (40x slower measured).
    try:
        with one_thread() if on_features else nullcontext():
            for phase_step in range(phase.steps):
                for g, base in zip(optimizer.param_groups, base_lrs):
                    g["lr"] = base * lr_factor(phase_step, phase.steps, warmup=cfg.warmup, schedule=cfg.schedule)
                micro_batches = []
                for _ in range(cfg.accumulate):
                    if not queue:
                        queue = (data.batches(rng) if data.batches is not None
                                 else train_batches(lengths, cfg.batch_size, rng, bucket=not on_features))
                    micro_batches.append(queue.pop(0))
                loss_value = take_step(micro_batches)
                if group is not None:
                    loss_value = group.reduce(params, loss_value)
                if not math.isfinite(loss_value):
                    return step, None, loss_value, None
                if cfg.clip > 0:
                    clip_grad_norm([p for g in phase.groups if g.clip for p in g.params], cfg.clip)
                optimizer.step()
                step += 1  # counted before the next call, where an interrupt may land: the weights have taken this step
                optimizer.zero_grad(set_to_none=True)
                last = phase_step + 1 == phase.steps
                if (phase_step + 1) % eval_every == 0 or last:
                    if group is None or group.leads:
                        score, metrics = check()
                        history.append({"step": step, "phase": phase.name, "train_loss": loss_value, "val_score": score})
                        stale = 0 if best.offer(score, metrics, step=step) else stale + 1
                    stop = bool(phase.early_stopping and cfg.patience and stale >= cfg.patience)
                    if stop if group is None else group.decide(stop):
                        stopped = phase_step + 1 if not last else 0  # patience spent at the last check is no early stop
                        break
                if progress:
                    progress(bar[0] + phase_step + 1, bar[1], {"loss": loss_value, "phase": phase.name})
    except KeyboardInterrupt as interrupt:  # the steps end here, and the caller keeps the checkpoint so far
        return step, None, None, interrupt
    return step, stopped, None, None
