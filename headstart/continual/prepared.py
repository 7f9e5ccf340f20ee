"""A stream laid out for its chains: every task's inputs end to end in one dataset, each task's own split, and the rows
each seed draws from each task's pool.

``Prepared`` is built once per stream and backbone and shared by every (arm, seed) chain (``continual.chain``): task
k's rows are its own split moved by its offset. Tasks that share inputs are cut together (``stream_splits``), and
``drawn_rows`` draws a seed's n rows per task as any run's subsample does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.continual.streams import Stream
from headstart.data import split_dataset, subsample
from headstart.data.dataset import Dataset
from headstart.data.splits import SplitConfig, Splits, joint_splits

if TYPE_CHECKING:
    import torch


@dataclass
class Prepared:
    """A stream laid out as one dataset, with each task's split, for a backbone (shared by every chain)."""

    stream: Stream
    data: Dataset
    splits: list[Splits]  # per task, rows of ``data``
    pretrained: torch.nn.Module
    split_config: SplitConfig

    @classmethod
    def build(cls, stream: Stream, pretrained: torch.nn.Module, split_config: SplitConfig) -> "Prepared":
        inputs: list[Any] = []
        targets: list[np.ndarray] = []
        splits = []
        for task, local in zip(stream.tasks, stream_splits(stream, split_config)):
            offset = len(inputs)
            splits.append(Splits(pool=local.pool + offset, val=local.val + offset, test=local.test + offset))
            inputs += list(task.data.inputs)
            targets.append(task.classes[task.data.targets])
        data = Dataset(name=stream.name, inputs=inputs, targets=np.concatenate(targets).astype(np.int64), task="classification",
                       label_names=stream.labels, source={"name": stream.name}, modality=stream.tasks[0].data.modality)
        return cls(stream, data, splits, pretrained, split_config)

    def offset(self, k: int) -> int:
        return sum(len(t.data) for t in self.stream.tasks[:k])


def stream_splits(stream: Stream, config: SplitConfig) -> list[Splits]:
    """Each task's pool / validation / test rows of its own data. A task that shares no input with another is cut on
    its own (stratified, ``split_dataset``); tasks that share inputs (drug-reviews and drug-reviews-sentiment are the
    same reviews) are cut together (``joint_splits``), so a review in one task's test or validation split is never
    another task's training row, a replay buffer's row or a text the stream trains on before scoring it."""
    out: dict[int, Splits] = {}
    for members in stream.linked():
        if len(members) == 1:
            out[members[0]] = split_dataset(stream.tasks[members[0]].data, config)
            continue
        out.update(zip(members, joint_splits([(stream.tasks[k].name, stream.tasks[k].data) for k in members], config)))
    return [out[k] for k in range(len(stream.tasks))]


def drawn_rows(prepared: Any, n: int | None, seed: int) -> list[np.ndarray]:
    """Each task's ``n`` training rows for ``seed``, drawn from its own pool (indices into the stream's data).

    Raises:
        DataError: ``n`` below a task's number of classes or above its pool, as ``subsample`` words it. ``continual``
            draws every seed's rows before its store exists, so such a size leaves nothing behind.
    """
    return [subsample(task.data, prepared.splits[k].pool - prepared.offset(k), n, seed) + prepared.offset(k)
            for k, task in enumerate(prepared.stream.tasks)]
