"""Shared setup of the multi-task tests: three tasks on the same toy texts (one file, three label columns) and a fast
training configuration for the tiny backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from conftest import make_toy
from headstart.specs import TrainConfig

FAST = TrainConfig(max_steps=30, min_steps=30, batch_size=8, precision="fp32", lr=3e-3, head_lr=3e-2, patience=0)


def write_tasks(path: Path, n: int = 300, *, noise: float = 2.0, seed: int = 3) -> Path:
    """A CSV of toy texts with ``label`` (neg / pos), ``score`` (±1 by the label, a little noise) and ``noisy`` (the same
    ±1 under Gaussian noise of sd ``noise``): three tasks on the same texts."""
    data = make_toy(n, classes=2, seed=seed)
    rng = np.random.default_rng(seed)
    y = data.targets.astype(np.float64) * 2 - 1
    pd.DataFrame({"text": data.inputs, "label": [data.label_names[t] for t in data.targets],
                  "score": y + rng.normal(0, 0.1, n), "noisy": y + rng.normal(0, noise, n)}).to_csv(path, index=False)
    return path


def tasks_of(path: Path, *columns: str) -> str:
    return ",".join(f"{path}:{c}" for c in (columns or ("label", "score", "noisy")))


def job_for(path: Path, columns: tuple[str, ...] = ("label", "score", "noisy"), *, steps: int = 30, seeds: int = 1, n: int = 64,
            alpha: float = 1.5):
    """A ``multitask.run.Job`` on the tiny backbone over ``path``'s columns."""
    import dataclasses

    import conftest
    from headstart.data.splits import SplitConfig
    from headstart.multitask.run import Job
    from headstart.multitask.tasks import Layout, load_tasks
    from headstart.multitask.weighting import WeightingOptions

    layout = Layout.build(load_tasks(tasks_of(path, *columns)), SplitConfig(), n=n, seeds=range(seeds))
    cfg = dataclasses.replace(FAST, max_steps=steps, min_steps=steps)
    return Job(layout, conftest.tiny_backbone(0), "full-finetune", {}, cfg, WeightingOptions(alpha=alpha))
