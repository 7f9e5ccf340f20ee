"""One multi-task run: setup -> train (the one engine) -> score each task's test rows -> ``RunResult``.

A run is a set of tasks trained together on one trunk with a head each — all of them under a weighting, or one
alone (the single-task baseline: the same trunk, head, rows, seed and budget). Its budget is the strategy's for one
task's n rows (``budget_for``), and every step draws ``batch_size`` rows of each task it trains (``task_batches``),
so each task sees its rows as often alone as with the others. The checkpoint is chosen on validation (the mean of
the tasks' selection scores, ``model.validation``); the test rows are read once, after training.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from headstart.multitask.model import MultiHead, MultiTaskLoss, last_shared, score_tasks, task_batches, validation
from headstart.multitask.tasks import Layout, Task
from headstart.multitask.weighting import WeightingOptions, build_weighting
from headstart.results import RunResult
from headstart.specs import RunSpec, TrainConfig, run_key

SINGLE = "single-task"


@dataclass(frozen=True)
class Plan:
    """One run: the tasks (indices into the layout's) that train together, their weighting, the seed."""

    members: tuple[int, ...]
    weighting: str
    seed: int

    @property
    def label(self) -> str:
        return SINGLE if len(self.members) == 1 else self.weighting


@dataclass(frozen=True)
class Job:
    """What every run of one ``multitask`` call shares."""

    layout: Layout
    pretrained: torch.nn.Module
    strategy: str
    strategy_options: dict[str, Any]
    train: TrainConfig
    options: WeightingOptions


def run_spec(job: Job, plan: Plan) -> RunSpec:
    return RunSpec(data=job.layout.data.name, backbone=job.pretrained.name, strategy=job.strategy,
                   options=dict(job.strategy_options), n=None, seed=plan.seed, train=job.train, split=job.layout.split_config)


def stored_spec(job: Job, plan: Plan) -> dict[str, Any]:
    """The run's resolved spec (its key): the strategy, backbone and training settings as any run's, the tasks and
    their shared split, which of them train, the weighting (its options where it has any) and the seed."""
    from headstart.backbones import modality_of
    from headstart.precision import pick_device, resolve_precision
    from headstart.resolved import resolve
    from headstart.strategies import get_strategy

    spec = run_spec(job, plan)
    cfg = spec.train.with_defaults(get_strategy(spec.strategy).defaults_for(modality_of(job.pretrained)))
    precision = resolve_precision(cfg.precision, pick_device())
    layout = job.layout
    resolved = resolve(spec, layout.data, job.pretrained, split_config=layout.split_config, n_train=0, precision=precision)
    options = {"uncertainty": {"lr": job.options.lr}, "gradnorm": dataclasses.asdict(job.options)}.get(plan.weighting, {})
    return {**resolved, "data": {"name": layout.data.name, **layout.identity()},
            "n": int(len(layout.train[plan.members[0]][plan.seed])), "n_requested": "all" if layout.n is None else layout.n,
            "multitask": {"members": [layout.tasks[t].name for t in plan.members],
                          "weighting": None if len(plan.members) == 1 else plan.weighting,
                          **({"weighting_options": options} if options and len(plan.members) > 1 else {}),
                          "batches": "a batch of every task per step"}}


@dataclass
class Prepared:
    """A run set up and not yet trained: the model (``setup.model``, a head per task), its loss, the engine's phases
    and data, and what scoring reads."""

    plan: Plan
    setup: Any  # recipe.Setup
    tasks: list[Task]
    loss: MultiTaskLoss
    phases: list[Any]
    data: Any  # engine.FitData
    autocast: Any

    @property
    def model(self) -> torch.nn.Module:
        return self.setup.model


def prepare(job: Job, plan: Plan) -> Prepared:
    """setup: the model from the pre-trained backbone (the strategy attached, a head per task), the task rows of the
    plan's seed, the weighted loss, the strategy's phases with the weighting's own parameters as a group of their own."""
    from headstart.engine import FitData
    from headstart.features import padded_length
    from headstart.metrics import selection_metric
    from headstart.objectives import TaskLoss, class_weights
    from headstart.precision import autocast_for
    from headstart.recipe import setup
    from headstart.strategies.base import ParamGroup, budget_for

    layout = job.layout
    members = plan.members
    tasks = [layout.tasks[t] for t in members]
    s = setup(run_spec(job, plan), data=layout.data, pretrained=job.pretrained)
    own_train = [layout.train[t][plan.seed] for t in members]
    regression = [task.kind == "regression" for task in tasks]
    y_train = [task.data.targets[rows].astype(np.float64) for task, rows in zip(tasks, own_train)]
    means = [float(y.mean()) if r else 0.0 for y, r in zip(y_train, regression)]
    stds = [(float(y.std()) or 1.0) if r else 1.0 for y, r in zip(y_train, regression)]
    s.model.head = MultiHead(s.model.backbone.dim, [task.data.num_outputs for task in tasks],
                             seeds=[plan.seed * 7919 + t for t in members], means=means, stds=stds).to(s.device)
    targets = torch.zeros(len(layout.data), 2)  # each row's task index and its (standardised) target
    for t, task, mean, std in zip(members, tasks, means, stds):
        rows = layout.rows(t, layout.own[t])
        targets[rows, 0] = float(t)
        targets[rows, 1] = torch.as_tensor((task.data.targets[layout.own[t]].astype(np.float64) - mean) / std, dtype=torch.float32)
    kinds = tuple(task.kind for task in tasks)
    losses = tuple(TaskLoss(task.kind, _on(class_weights(task.data.targets[rows], task.data.num_classes, s.cfg.class_weights)
                                           if task.kind == "classification" else None, s.device))
                   for task, rows in zip(tasks, own_train))
    weighting = build_weighting(plan.weighting, kinds, job.options).to(s.device)
    loss = MultiTaskLoss(tuple(members), kinds, losses, s.model.head.slices, weighting, last_shared(s.model.backbone))
    phases = s.strategy.plan(s.model, s.options, s.cfg, budget_for(s.cfg, max(len(rows) for rows in own_train)))
    if list(weighting.parameters()):
        group = ParamGroup("weighting", list(weighting.parameters()), job.options.lr, clip=False)
        phases = [dataclasses.replace(ph, groups=[*ph.groups, group]) for ph in phases]
    autocast = autocast_for(s.precision, s.device)
    val = [layout.splits[t].val for t in members]
    validate = validation(s.encoded, [layout.rows(t, rows) for t, rows in zip(members, val)],
                          [task.data.targets[rows] for task, rows in zip(tasks, val)], kinds,
                          [task.data.label_names for task in tasks],
                          [selection_metric(s.cfg, task.data, rows) for task, rows in zip(tasks, own_train)],
                          [task.name for task in tasks], batch_size=s.cfg.eval_batch_size, autocast=autocast)
    train_rows = [layout.rows(t, rows) for t, rows in zip(members, own_train)]
    offsets = np.concatenate([[0], np.cumsum([len(rows) for rows in train_rows])[:-1]]).astype(int).tolist()
    data = FitData(encoded=s.encoded, targets=targets, raw_targets=layout.data.targets, train_rows=np.concatenate(train_rows),
                   val_rows=np.concatenate([layout.rows(t, rows) for t, rows in zip(members, val)]),
                   batches=task_batches([np.asarray([padded_length(s.encoded[r]) for r in rows]) for rows in train_rows], offsets,
                                        s.cfg.batch_size), validate=validate)
    return Prepared(plan, s, tasks, loss, phases, data, autocast)


def train(p: Prepared, *, progress: Any = None) -> Any:
    """The engine on the prepared run: the weights restored to the best validation check."""
    from headstart.engine import fit

    return fit(p.model, p.phases, p.loss, p.data, p.setup.cfg, seed=p.plan.seed, task="multitask", label_names=(),
               metric="the mean of the tasks' selection scores", autocast=p.autocast, progress=progress)


def evaluate(p: Prepared, job: Job, report: Any, key: str, spec: dict[str, Any]) -> RunResult:
    """Each task's test metrics (and its rows' predictions, for intervals over test rows) as the stored ``RunResult``.

    Its ``eval_seconds`` counts the test rows' scoring alone, as a single-task run's (``scoring.score``): not the
    record's provenance, which the first run of a process reads; no cached features are read (the whole model runs),
    so the scoring's wall time is its cost."""
    from headstart.provenance import environment
    from headstart.record import budget_record

    common = dict(key=key, spec=spec, train_seconds=report.seconds, steps=report.steps, best_step=report.best_step,
                  trainable_params=report.trainable_params, total_params=sum(q.numel() for q in p.model.parameters()))
    record: dict[str, Any] = {"history": report.history, "environment": environment(),
                              "multitask": {"weighting": p.loss.weighting.state(), "tasks": {}},
                              # counted on the largest task's rows, as prepare's budget_for is
                              "budget": budget_record(p.setup.cfg, report, max(len(job.layout.train[t][p.plan.seed])
                                                                               for t in p.plan.members),
                                                      tuned=False, metric="the mean of the tasks' selection scores")}
    if report.status != "done":
        return RunResult(status=report.status, error=report.error, record=record, **common)
    layout = job.layout
    test = [layout.splits[t].test for t in p.plan.members]
    started = time.perf_counter()
    scored = score_tasks(p.model, p.setup.encoded, [layout.rows(t, rows) for t, rows in zip(p.plan.members, test)],
                         [task.data.targets[rows] for task, rows in zip(p.tasks, test)], p.loss.kinds,
                         [task.data.label_names for task in p.tasks], batch_size=p.setup.cfg.eval_batch_size, autocast=p.autocast)
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {}
    for task, (m, rows) in zip(p.tasks, scored):
        metrics.update({f"{task.name}:{k}": v for k, v in m.items() if isinstance(v, float)})
        record["multitask"]["tasks"][task.name] = {"metric": task.metric, "test": rows, "metrics": m,
                                                   "val": report.val_metrics.get("tasks", {}).get(task.name, {})}
    return RunResult(status="done", metrics=metrics, val_metrics=report.val_metrics, record=record,
                     eval_seconds=seconds, **common)


def run(job: Job, plan: Plan, key: str, spec: dict[str, Any], *, progress: Any = None) -> RunResult:
    """setup -> train -> evaluate; a run that diverges is returned as such."""
    p = prepare(job, plan)
    return evaluate(p, job, train(p, progress=progress), key, spec)


def _on(weights: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if weights is None else weights.to(device)


def plan_key(job: Job, plan: Plan) -> tuple[str, dict[str, Any]]:
    spec = stored_spec(job, plan)
    return run_key(spec), spec
