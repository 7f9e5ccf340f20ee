"""The small loop ``sft`` and ``prefer`` share: AdamW, warmup + decay, clipping, validation loss, best-weights restore.

It is not ``headstart.engine.fit``: that loop trains a ``TaskModel`` (backbone + head) on row-indexed targets and picks
checkpoints by classification / regression metrics; a causal LM's batches are token sequences with per-token labels
(sft) or pairs of them (DPO), and the checkpoint is chosen on a validation loss. The shared pieces are the engine's
own: ``make_optimizer`` (fused AdamW), ``lr_factor`` (warmup, cosine / linear decay) and ``set_trainable``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from headstart.engine import set_trainable
from headstart.interrupts import ended_by, sigterm_as_interrupt
from headstart.optimizer import lr_factor, make_optimizer


@dataclass(frozen=True)
class LoopConfig:
    """How the loop steps.

    Attributes:
        steps: optimiser steps in all.
        lr: peak learning rate.
        warmup: fraction of the steps warming up linearly.
        schedule: "cosine" | "linear" | "constant" after warmup.
        weight_decay: AdamW decay on matrices (none on biases and norm scales).
        clip: max global gradient norm (0: off).
        evals: validation checks over the run (the last step always checks).
        patience: checks without improvement before stopping (0: never stop early).
        optimizer: "adamw" (fused) or "adamw8bit" (bitsandbytes; ``optimizer.make_optimizer``).
    """

    steps: int
    lr: float
    warmup: float = 0.1
    schedule: str = "cosine"
    weight_decay: float = 0.0  # LoRA's B starts at 0: decaying it pulls the update back toward nothing
    clip: float = 1.0
    evals: int = 5
    patience: int = 3
    optimizer: str = "adamw"


@dataclass
class LoopReport:
    """What a run of the loop did: status "done", "diverged" or "interrupted", steps taken, the checkpoint kept and its history."""

    status: str = "done"
    steps: int = 0
    best_step: int = 0
    best_val: float = math.inf
    first_val: float = math.nan
    history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    stopped_early: bool = False  # ``patience`` checks without improvement ended it before ``cfg.steps``


def train(model: nn.Module, params: list[nn.Parameter], batches: Iterator[Any], loss: Callable[[Any], torch.Tensor],
          validate: Callable[[], float], cfg: LoopConfig, *,
          progress: Callable[[int, int, dict[str, Any]], None] | None = None, on: str = "") -> LoopReport:
    """Train ``params`` of ``model`` for ``cfg.steps`` steps, keeping the weights with the lowest validation loss.

    Args:
        model: the model (train mode is set here; frozen modules run in eval mode, as the engine does).
        params: the parameters that train.
        batches: an endless iterator of training batches.
        loss: batch -> scalar loss with a graph to ``params``.
        validate: () -> validation loss (lower is better), run without gradients; called before the first step too, so
            a run that never improves keeps the starting weights (prefer records that first check's whole score too).
        cfg: the loop's settings.
        progress: called after each step with (step, steps, {"loss": …, "val": …}), and at step 0 before the first
            check with {"setup": "validation loss before training (on 40 validation prompts)"}: the one place that says it.
        on: the rows ``validate`` reads, in words ("40 validation prompts", "64 validation pairs"), said in that line.

    Returns:
        LoopReport; on "diverged" the weights are those of the best check before it, and so on "interrupted" (Ctrl-C
        or SIGTERM during the steps: the loop stops there and returns, instead of losing the run).
    """
    start = time.perf_counter()
    set_trainable(model, params)
    groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay, "lr": cfg.lr},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "lr": cfg.lr}]
    optimizer = make_optimizer([g for g in groups if g["params"]], cfg.optimizer, params[0].device)
    report = LoopReport()
    best = [p.detach().clone() for p in params]
    if progress:  # the bar appears before the first check, not after it and the first step
        progress(0, cfg.steps, {"setup": "validation loss before training" + (f" (on {on})" if on else "")})
    report.first_val = report.best_val = _checked(model, validate)
    report.history.append({"step": 0, "val_loss": report.best_val})
    try:
        with sigterm_as_interrupt():  # timeout / a scheduler's limit keeps the run as Ctrl-C does (headstart.interrupts)
            _steps(model, params, batches, loss, validate, cfg, optimizer, report, best, progress)
    except KeyboardInterrupt as stop:  # the best checkpoint so far is kept, and the caller says so (a second one kills)
        report.status = "interrupted"
        report.error = f"{ended_by(stop)} at step {report.steps} of {cfg.steps}: " + (
            f"the checkpoint kept is the best so far (step {report.best_step})" if report.best_step else
            "no check after a step had improved on the starting weights, so they are what is kept, unchanged")
    with torch.no_grad():
        for p, b in zip(params, best):
            p.copy_(b)
    set_trainable(model, [])
    model.eval()
    report.seconds = time.perf_counter() - start
    return report


def _steps(model: nn.Module, params: list[nn.Parameter], batches: Iterator[Any], loss: Callable[[Any], torch.Tensor],
           validate: Callable[[], float], cfg: LoopConfig, optimizer: Any, report: LoopReport, best: list[torch.Tensor],
           progress: Callable[[int, int, dict[str, Any]], None] | None) -> None:
    """The optimiser steps with their checks, filling ``report`` and ``best`` (the best check's weights, replaced in
    place) as they go, so that an interrupt leaves both true to the last step taken and the best check kept."""
    every = max(1, math.ceil(cfg.steps / max(1, cfg.evals)))
    stale = 0
    last_val = report.best_val
    model.train()
    set_trainable(model, params)
    for step in range(cfg.steps):
        for g in optimizer.param_groups:
            g["lr"] = cfg.lr * lr_factor(step, cfg.steps, warmup=cfg.warmup, schedule=cfg.schedule)
        value = loss(next(batches))
        if not torch.isfinite(value):
            report.status, report.error = "diverged", f"loss became {value.item()} at step {step + 1}; lower --lr"
            break
        value.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        optimizer.step()
        report.steps = step + 1  # counted before the next call, where an interrupt may land: the weights have taken this step
        optimizer.zero_grad(set_to_none=True)
        train_loss = float(value.detach())
        if report.steps % every == 0 or report.steps == cfg.steps:
            last_val = _checked(model, validate)
            report.history.append({"step": report.steps, "train_loss": train_loss, "val_loss": last_val})
            if last_val < report.best_val:
                report.best_val, report.best_step, stale = last_val, report.steps, 0
                best[:] = [p.detach().clone() for p in params]
            else:
                stale += 1
            model.train()
            set_trainable(model, params)
        if progress:
            progress(report.steps, cfg.steps, {"loss": train_loss, "val": last_val})
        if cfg.patience and stale >= cfg.patience:
            report.stopped_early = report.steps < cfg.steps
            break


def _checked(model: nn.Module, validate: Callable[[], float]) -> float:
    model.eval()
    with torch.no_grad():
        return float(validate())


def coverage(items: int, batch_size: int, steps: int) -> tuple[int, float]:
    """(distinct items read, passes over them) after ``steps`` batches of ``sft.epochs_of`` (each epoch a shuffle of
    all ``items``, its last batch the remainder)."""
    per_epoch = max(1, math.ceil(items / batch_size))
    full, rest = divmod(steps, per_epoch)
    read = full * items + min(rest * batch_size, items)
    return (items if full else read), round(read / max(items, 1), 3)


def budget(report: LoopReport, *, items: int, batch_size: int, planned: int, capped: bool) -> dict[str, Any]:
    """What a run's budget read and what ended it, for metrics.json: ``seen`` (distinct training items read),
    ``epochs`` (passes over them), ``planned_steps``, and ``ended_by`` — "early stopping" (no better validation loss in
    ``patience`` checks), "max_steps" (``capped``: --max-steps set, and it ended before every item was read) or None."""
    seen, epochs = coverage(items, batch_size, report.steps)
    ended = ("early stopping" if report.stopped_early else
             "max_steps" if capped and report.status == "done" and seen < items else None)
    return {"seen": seen, "epochs": epochs, "planned_steps": planned, "ended_by": ended}
