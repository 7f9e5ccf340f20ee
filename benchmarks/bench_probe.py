"""Linear probe: headstart's cached-feature probe vs a naive probe that runs the frozen backbone every step.

Both train the same linear head (same seed, AdamW, lr, weight decay on the weight only, warmup + cosine
schedule, clipping, batch size and number of steps) on the same rows; the only difference is that
headstart computes each row's features once (feature cache) while the naive loop recomputes them for
every batch. headstart's time also includes its validation checks, early stopping and tokenising the
whole dataset in ``setup``; the naive loop validates nothing, so the ratio is conservative.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from headstart.data import Dataset
from headstart.engine import FitReport, lr_factor
from headstart.features import clear_memory, embed_rows
from headstart.recipe import Setup, autocast_for, setup, train
from headstart.specs import RunSpec, TrainConfig


@dataclass(frozen=True)
class ProbeResult:
    """Medians over repeats (seconds), and test accuracy (%) of each head on the same test rows."""

    steps: int
    cold_s: float  # headstart, empty HEADSTART_CACHE: includes the one feature pass
    warm_s: float  # headstart, features read back from the on-disk cache (as a second process would)
    naive_s: float
    headstart_acc: float
    naive_acc: float
    test_rows: int


def _headstart_run(spec: RunSpec, data: Dataset, pretrained: nn.Module) -> tuple[float, tuple[Setup, FitReport]]:
    """Wall seconds of setup + train (data and backbone already loaded), and the trained setup."""
    clear_memory()  # the in-process cache would hide the disk read of a second run
    start = time.perf_counter()
    s = setup(spec, data=data, pretrained=pretrained)
    report = train(s)
    return time.perf_counter() - start, (s, report)


def naive_probe(backbone: nn.Module, encoded: list, targets: np.ndarray, train_rows: np.ndarray, *, classes: int,
                steps: int, cfg: TrainConfig, seed: int, autocast: Callable | None = None) -> tuple[float, nn.Linear]:
    """Train a linear head on the frozen ``backbone``, running its forward pass on every batch.

    Returns:
        (wall seconds of tokenised rows -> trained head, the head).
    """
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # the same head init as headstart's TaskModel
        torch.manual_seed(seed)
        head = nn.Linear(backbone.dim, classes)
    groups = [{"params": [head.weight], "weight_decay": cfg.weight_decay}, {"params": [head.bias], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.head_lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(min(step, steps - 1), steps, warmup=cfg.warmup, schedule=cfg.schedule))
    rng = np.random.default_rng(seed)
    labels = torch.as_tensor(targets[train_rows].astype(np.int64))
    per_epoch = math.ceil(len(train_rows) / cfg.batch_size)
    backbone.eval()
    order = rng.permutation(len(train_rows))
    for step in range(steps):
        if step and step % per_epoch == 0:
            order = rng.permutation(len(train_rows))
        positions = order[(step % per_epoch) * cfg.batch_size:][: cfg.batch_size]
        batch = backbone.collate([encoded[train_rows[p]] for p in positions])
        with torch.no_grad(), autocast() if autocast is not None else nullcontext():
            features = backbone(batch).float()
        loss = nn.functional.cross_entropy(head(features), labels[torch.as_tensor(positions)])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), cfg.clip)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start, head


def _accuracy(head: nn.Module, features: torch.Tensor, labels: np.ndarray) -> float:
    with torch.no_grad():
        predicted = head(features).argmax(-1).numpy()
    return 100.0 * float((predicted == labels).mean())


def run_probe(data: Dataset, pretrained: nn.Module, *, n: int, repeats: int, max_steps: int | None, test_rows: int | None,
              precision: str, log: Callable[[str], None]) -> ProbeResult:
    """Median seconds of headstart's probe (cold and warm cache) and the naive probe; test accuracy of both.

    Args:
        max_steps: cap on the probe's steps (quick mode); None keeps the strategy's default budget.
        test_rows: evaluate on the first this-many test rows (quick mode); None: the whole test split.
    """
    train_cfg = TrainConfig(precision=precision) if max_steps is None else TrainConfig(precision=precision, max_steps=max_steps, min_steps=max_steps)
    spec = RunSpec(data=data.name, backbone=pretrained.name, strategy="linear-probe", n=n, seed=0, train=train_cfg)
    cold, warm, naive = [], [], []
    previous = os.environ.get("HEADSTART_CACHE")
    try:
        for r in range(repeats):
            with tempfile.TemporaryDirectory(prefix="headstart-bench-") as cache:
                os.environ["HEADSTART_CACHE"] = cache
                seconds, (s, report) = _headstart_run(spec, data, pretrained)
                cold.append(seconds)
                log(f"probe {r + 1}/{repeats}: headstart, fresh cache: {seconds:.2f}s ({report.steps} steps, status {report.status})")
                seconds, (s, report) = _headstart_run(spec, data, pretrained)
                warm.append(seconds)
                log(f"probe {r + 1}/{repeats}: headstart, cache reused: {seconds:.2f}s")
            autocast = autocast_for(s.precision, s.device)
            seconds, head = naive_probe(pretrained, s.encoded, data.targets, s.train_rows, classes=data.num_classes,
                                        steps=report.steps, cfg=s.cfg, seed=spec.seed, autocast=autocast)
            naive.append(seconds)
            log(f"probe {r + 1}/{repeats}: naive (backbone forward every batch): {seconds:.2f}s ({report.steps} steps)")
    finally:
        if previous is None:
            os.environ.pop("HEADSTART_CACHE", None)
        else:
            os.environ["HEADSTART_CACHE"] = previous
        clear_memory()
    rows = s.splits.test if test_rows is None else s.splits.test[:test_rows]
    log(f"probe: test accuracy of both heads on {len(rows)} test rows")
    features = embed_rows(pretrained, s.encoded, rows, batch_size=s.cfg.eval_batch_size, autocast=autocast)
    labels = data.targets[rows].astype(np.int64)
    return ProbeResult(steps=report.steps, cold_s=float(np.median(cold)), warm_s=float(np.median(warm)),
                       naive_s=float(np.median(naive)), headstart_acc=_accuracy(s.model.head, features, labels),
                       naive_acc=_accuracy(head, features, labels), test_rows=len(rows))
