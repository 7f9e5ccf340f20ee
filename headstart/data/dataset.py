"""The in-memory dataset every loader returns (inputs, texts or images; targets, label names, optional groups), and
the row indices of its pool / validation / test parts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from headstart.errors import ConfigError

TASKS = ("classification", "multilabel", "regression")
PAIR_SEP = "\x1f"  # between the two texts of a pair input (--text-column premise,hypothesis): ASCII's unit separator
MODALITIES = ("text", "image")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset.

    Attributes:
        name: registry name or file path it came from.
        inputs: raw examples, length N: texts, or uint8 arrays (H, W) grey / (H, W, 3) RGB for images.
        targets: (N,) int64 class ids for classification, (N,) float32 for regression,
            (N, C) float32 multi-hot for multilabel.
        task: one of ``TASKS``.
        label_names: class names in id order (empty for regression).
        groups: (N,) group ids that must not straddle a split (e.g. the movie a review is about), or None.
        source: how to load it again: ``{"name": ...}`` or ``{"path": ..., "text_column": ..., ...}``.
        notes: things the loader did that the user should hear about (rows dropped, columns guessed).
        modality: "text" or "image" (what kind of backbone can read the inputs).
        given_split: (N,) the user's own split (``--split-column``): 0 train (the pool), 1 validation, 2 test; or None.
        origins: (N,) where each input came from, for messages (an image's file, as the folder or table names it), or
            None; not part of ``hash``: the same pixels under another file name are the same data.
    """

    name: str
    inputs: list[Any]
    targets: np.ndarray
    task: str
    label_names: tuple[str, ...]
    groups: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    modality: str = "text"
    given_split: np.ndarray | None = None
    origins: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if len(self.inputs) != len(self.targets):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.targets)} targets")
        for name in ("groups", "given_split", "origins"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.inputs):
                raise ValueError(f"{len(self.inputs)} inputs but {len(value)} {name}")

    def __len__(self) -> int:
        return len(self.inputs)

    def __repr__(self) -> str:  # the inputs themselves would be megabytes of text in a notebook
        kinds = f"{len(self.label_names)} classes" if self.label_names else self.task
        return f"Dataset({self.name!r}: {len(self):,} {self.modality} examples, {self.task}, {kinds}, hash {self.hash})"

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def num_outputs(self) -> int:
        """Width of the model's head: classes, or 1 for regression."""
        return 1 if self.task == "regression" else self.num_classes

    @cached_property
    def hash(self) -> str:
        """Content hash (inputs, targets, label names, groups): identifies the data in every run key and feature cache."""
        h = hashlib.sha256()
        if self.modality == "image":  # shape and pixels of every image; text hashes stay as they always were
            h.update(json.dumps([self.task, list(self.label_names), "image"]).encode())
            for image in self.inputs:
                image = np.ascontiguousarray(image)
                h.update(f"{image.dtype.str}{image.shape}".encode())
                h.update(image.tobytes())
        else:
            h.update(json.dumps([self.task, list(self.label_names)]).encode())
            for text in self.inputs:
                h.update(text.encode("utf-8", "surrogatepass"))
                h.update(b"\x00")
        h.update(np.ascontiguousarray(self.targets).tobytes())
        if self.groups is not None:
            h.update(np.ascontiguousarray(self.groups).tobytes())
        if self.given_split is not None:
            h.update(b"split" + np.ascontiguousarray(self.given_split.astype(np.int64)).tobytes())
        return h.hexdigest()[:16]

    def stratify_labels(self) -> np.ndarray:
        """(N,) int labels to stratify splits by: the class, the rarest positive label, or a target quantile."""
        if self.task == "classification":
            return self.targets.astype(np.int64)
        if self.task == "multilabel":
            freq = self.targets.sum(axis=0)
            rarity = np.where(self.targets > 0, freq[None, :], np.inf)
            return np.argmin(rarity, axis=1).astype(np.int64)
        edges = np.quantile(self.targets, [0.2, 0.4, 0.6, 0.8])
        return np.searchsorted(edges, self.targets, side="right").astype(np.int64)

    def subset(self, index: np.ndarray) -> "Dataset":
        """The examples at ``index`` (same label names, so class ids keep their meaning)."""
        return Dataset(
            name=self.name,
            inputs=[self.inputs[i] for i in index],
            targets=self.targets[index],
            task=self.task,
            label_names=self.label_names,
            groups=None if self.groups is None else self.groups[index],
            given_split=None if self.given_split is None else self.given_split[index],
            source=self.source,
            modality=self.modality,
        )


@dataclass(frozen=True)
class Splits:
    """Row indices into the dataset for each part (disjoint, sorted)."""

    pool: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def part(self, name: str) -> np.ndarray:
        if name not in ("pool", "val", "test"):
            raise ConfigError(f"unknown split {name!r}; use 'test' or 'val'")
        return getattr(self, name)


def input_identity(x: object) -> str:
    """A text's characters, or an image's dtype, shape and pixels, as one string: what makes two rows the same input
    (tasks that share inputs: ``splits.joint_splits``; exact image copies: ``leakage``)."""
    if isinstance(x, str):
        return "t" + x
    array = np.ascontiguousarray(x)
    return "i" + hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()
