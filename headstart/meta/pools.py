"""The meta-train recipe's setup: the plain backbone and the encoded pools of rows its episodes are drawn from.

A ``Pool`` holds ``per_class`` seeded rows of each of a dataset's chosen classes, encoded once. ``setup`` loads the
plain backbone and the datasets, splits the classes into base and novel (``class_split``: one dataset is both, its
first half and the rest), and builds the base pool, one novel pool per novel dataset and the validation pool —
held-out rows of the base classes, never a meta-training row (``validation_pool``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from headstart.data_defaults import seen_by
from headstart.errors import ConfigError, DataError
from headstart.meta.base import Task
from headstart.meta.config import MetaConfig
from headstart.meta.episodes import Episode, check_episode_shape, held_out_rows, rows_by_class


@dataclass
class Pool:
    """The rows of one dataset's chosen classes, encoded once: ``by_class`` class -> rows, ``encoded`` row -> uint8 image."""

    name: str
    classes: list[int]
    by_class: dict[int, np.ndarray]
    encoded: dict[int, torch.Tensor]

    def task(self, episode: Episode, backbone: Any) -> Task:
        def pixels(rows: np.ndarray) -> torch.Tensor:
            return backbone.collate([self.encoded[int(r)] for r in rows])["pixel_values"]

        return Task(pixels(episode.support), torch.as_tensor(episode.support_y), pixels(episode.query),
                    torch.as_tensor(episode.query_y), len(episode.classes))


def class_split(base: str, novel: str, classes: int) -> tuple[list[int], list[int]]:
    """Base and novel classes: all of each dataset's, or, when one dataset is both, its first half and the rest."""
    if base == novel:
        return list(range(classes // 2)), list(range(classes // 2, classes))
    return list(range(classes)), list(range(classes))


def make_pool(dataset: Any, classes: list[int], backbone: Any, *, cfg: MetaConfig, shots: int, where: str) -> Pool:
    """``per_class`` seeded rows of each of ``classes``, checked to fill ``shots``-shot episodes, encoded once."""
    by_class = rows_by_class(dataset.targets, classes, per_class=cfg.per_class, seed=cfg.seed)
    check_episode_shape(by_class, ways=cfg.ways, shots=shots, queries=cfg.queries, where=where, per_class=cfg.per_class)
    return encode_pool(dataset, classes, by_class, backbone)


def encode_pool(dataset: Any, classes: list[int], by_class: dict[int, np.ndarray], backbone: Any) -> Pool:
    rows = np.concatenate(list(by_class.values()))
    encoded = dict(zip(rows.tolist(), backbone.encode([dataset.inputs[int(r)] for r in rows])))
    return Pool(dataset.name, classes, by_class, encoded)


def validation_pool(dataset: Any, base: Pool, backbone: Any, cfg: MetaConfig) -> Pool:
    """``val_per_class`` seeded rows of each base class that meta-training never draws, encoded once.

    Raises:
        DataError: a base class with too few rows left to fill a validation episode of the largest shot count.
    """
    by_class = held_out_rows(dataset.targets, base.by_class, per_class=cfg.val_per_class, seed=cfg.seed)
    need = max(cfg.shots) + cfg.queries
    short = {c: len(rows) for c, rows in by_class.items() if len(rows) < need}
    if short:
        c, n = next(iter(short.items()))
        total = n + len(base.by_class[c])
        fix = (f"--per-class {total - need} leaves {need}" if total - need >= cfg.train_shots + cfg.queries else
               "lower --shots or --queries")
        raise DataError(f"class {c} of the base dataset {base.name!r} has {total} rows, {len(base.by_class[c])} of them drawn "
                        f"for meta-training (--per-class), leaving {n}, fewer than the {need} a validation episode needs "
                        f"(shots + queries); {fix}, or --val-episodes 0 turns validation off")
    return encode_pool(dataset, base.classes, by_class, backbone)


class Setup(NamedTuple):
    plain: Any
    base: Pool
    novel: list[Pool]
    notes: list[str]
    validation: Pool | None  # held-out base rows; None with --val-episodes 0


def setup(cfg: MetaConfig) -> Setup:
    """The plain backbone, the base pool, one novel pool per novel dataset, notes on the class split, and the
    validation pool (held-out rows of the base classes).

    Raises:
        ConfigError: a text backbone or dataset, or too many ways for a class set.
    """
    from headstart.backbones.registry import load_backbone
    from headstart.data import load_dataset

    plain = load_backbone(cfg.backbone, image_size=cfg.image_size)
    if getattr(plain, "modality", "text") != "image":
        raise ConfigError(f"meta-train reads images; --backbone {cfg.backbone!r} is a text backbone; try --backbone mnist-cnn")
    plain.eval()
    from headstart.data.builtin import REGISTRY
    from headstart.errors import unknown

    for name in dict.fromkeys((cfg.base, *cfg.novel)):  # an unknown name: the image datasets, not every one, are the choice
        if name not in REGISTRY and not Path(name).exists():
            raise unknown("image dataset", name, [k for k, v in REGISTRY.items() if v.modality == "image"], error=DataError)
    datasets = {name: load_dataset(name) for name in dict.fromkeys((cfg.base, *cfg.novel))}
    for name, data in datasets.items():
        if data.modality != "image" or data.task != "classification":
            raise DataError(f"meta-train needs image classification data; {name!r} is {data.modality} {data.task}; try fashion-mnist")
    base_data = datasets[cfg.base]
    notes, novel_pools, base_classes = [], [], None
    for name in cfg.novel:
        data = datasets[name]
        base_c, novel_c = class_split(cfg.base, name, len(data.label_names))
        if name == cfg.base:
            base_classes = base_c
            notes.append(f"{name}: base classes {base_c[0]}-{base_c[-1]} ({', '.join(data.label_names[c] for c in base_c)}), "
                         f"novel classes {novel_c[0]}-{novel_c[-1]} ({', '.join(data.label_names[c] for c in novel_c)})")
        seen, origin = seen_by(cfg.backbone)
        if name in seen:  # "novel" to the episodes, not to the backbone
            since = "" if origin == cfg.backbone else f" (it was trained from {origin})"
            notes.append(f"{name}: its classes are not novel to {cfg.backbone}{since}, whose pre-training taught it the "
                         "same classes; the plain backbone's probe starts with that advantage over the meta-trained arms")
        novel_pools.append(make_pool(data, novel_c, plain, cfg=cfg, shots=max(cfg.shots), where=f"the novel classes of {name!r}"))
    if base_classes is None:
        base_classes = list(range(len(base_data.label_names)))
    base_pool = make_pool(base_data, base_classes, plain, cfg=cfg, shots=cfg.train_shots, where=f"the base classes of {cfg.base!r}")
    validation = validation_pool(base_data, base_pool, plain, cfg) if cfg.val_episodes else None
    return Setup(plain, base_pool, novel_pools, notes, validation)
