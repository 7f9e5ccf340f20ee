"""Frozen computation is computed once: a cache of backbone features per (backbone, dataset).

A linear probe (or the probe phase of LP-FT) never runs the backbone per epoch: the features of every
row it needs are computed once in eval mode, kept in memory and on disk (safetensors, keyed by the
backbone's identity, the dataset hash and the preprocessing), and reused by every run and every seed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.cache import cache_dir
from headstart.precision import under

_MEMORY: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}  # key -> (features, done, seconds) per row


FEATURES_VERSION = 2  # 2: rows embedded in batches of one length (``equal_length_batches``); files of 1 are not read


def feature_key(backbone_identity: dict, data_hash: str) -> str:
    payload = json.dumps({"backbone": backbone_identity, "data": data_hash, "version": FEATURES_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def padded_length(item: Any) -> int:
    """The length a batch pads ``item`` to: a text row's tokens. 0 for an image ((C, h, w): collate sizes every image
    alike), so that images are not grouped by their channel count (a folder's grey and colour photos)."""
    if getattr(item, "ndim", 1) != 1:
        return 0
    return len(item) if hasattr(item, "__len__") else 0


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Positions grouped into batches of similar length (minimal padding); covers every position once."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def equal_length_batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """Positions grouped into batches of exactly one length each (no padding); covers every position once.

    A row's features then do not depend on which rows share its batch. Padding moves a bf16 forward's result by up to
    ~3e-3 (all-MiniLM-L6-v2 under autocast, a few rows in a hundred), so in padded batches a cached feature would
    depend on the rows computed beside it the first time, and a run's result on what the cache held before it. Without
    padding the same row's features agree in any batch to the matmul's own rounding (bit-identical for 200 MiniLM rows
    in bf16; ~1e-7 apart in fp32, where a batch's row count can pick another kernel). The price is more, smaller
    batches: a first pass over a few hundred rows takes up to ~1.3x as long; over thousands, no longer."""
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    starts = np.flatnonzero(np.diff(lengths[order], prepend=-1))  # where each length's run begins in ``order``
    runs = np.split(order, starts[1:])
    return [run[i : i + batch_size] for run in runs for i in range(0, len(run), batch_size)]


def embed_rows(backbone: torch.nn.Module, encoded: list, rows: np.ndarray, *, batch_size: int,
               autocast: Callable | None = None, device: torch.device | None = None,
               progress: Callable[[int], None] | None = None, seconds: torch.Tensor | None = None) -> torch.Tensor:
    """(len(rows), dim) features of ``encoded[rows]`` on the CPU, batched by length, in eval mode.

    Each module's own mode is put back afterwards (frozen blocks inside a training model stay in eval mode).
    The result is an ordinary tensor (not an inference tensor), so a head may train on it.

    Args:
        device: where the batches go; default the backbone's parameters' device (give it for a backbone
            without parameters, such as TF-IDF).
        progress: told the rows embedded so far, 0 before the first batch and after each batch.
        seconds: (len(rows),) float64, filled with each row's share of its batch's wall time (what it cost to compute).
    """
    from headstart.modes import module_modes, restore_modes

    if device is None:
        device = next(backbone.parameters()).device
    modes = module_modes(backbone)
    backbone.eval()
    out = torch.empty(len(rows), backbone.dim)
    items = [encoded[r] for r in rows]
    lengths = [padded_length(x) for x in items]
    embedded = 0
    try:
        with torch.inference_mode():
            if progress:
                progress(embedded)
            for batch in equal_length_batches(lengths, batch_size):  # cached features must not depend on their batch
                began = time.perf_counter()
                collated = {k: v.to(device) for k, v in backbone.collate([items[i] for i in batch]).items()}
                with under(autocast):
                    out[torch.as_tensor(batch)] = backbone(collated).float().cpu()  # .cpu() waits for the device
                if seconds is not None:
                    seconds[torch.as_tensor(batch)] = (time.perf_counter() - began) / len(batch)
                embedded += len(batch)
                if progress:
                    progress(embedded)
    finally:
        restore_modes(modes)
    return out


class FeatureCache:
    """Features of a frozen, pre-trained backbone for rows of one dataset, computed at most once.

    Args:
        backbone: the frozen backbone.
        identity: plain data identifying backbone + preprocessing + precision (default ``backbone.describe()``).
        encoded: the dataset's encoded inputs, indexed by row.
        data_hash: the dataset's content hash.
        batch_size: inference batch size.
        persist: also keep features on disk under ``$HEADSTART_CACHE/features`` (shared by processes).
        progress: told ``(rows embedded, rows to embed)`` while a call computes rows never computed before (the
            minutes a probe's first run spends here said on its bar, ``progress.caching_counter``).

    Each row keeps what computing it cost (its share of its batch's seconds, on disk too), so that what a run pays for
    its features does not depend on which run computed them first: ``read_seconds`` is the cost of the rows this
    object was asked for, ``computed_seconds`` the time its calls spent computing (0 when another run had).
    """

    def __init__(self, backbone: torch.nn.Module, encoded: list, data_hash: str, *, batch_size: int = 128,
                 persist: bool = True, autocast: Callable | None = None, identity: dict | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.backbone = backbone
        self.progress = progress
        self.encoded = encoded
        self.batch_size = batch_size
        self.autocast = autocast
        self.key = feature_key(identity or backbone.describe(), data_hash)
        self.path = cache_dir() / "features" / f"{self.key}.safetensors" if persist else None
        if self.key not in _MEMORY:
            _MEMORY[self.key] = self._load() or (torch.zeros(len(encoded), backbone.dim), torch.zeros(len(encoded), dtype=torch.bool),
                                                 torch.zeros(len(encoded), dtype=torch.float64))
        self.read = torch.zeros(len(encoded), dtype=torch.bool)  # the rows this object was asked for
        self.computed_seconds = 0.0

    @property
    def read_seconds(self) -> float:
        """What computing the rows read so far cost, whichever run computed them: a run's features' time as it would
        pay it alone, on a cold cache."""
        return float(_MEMORY[self.key][2][self.read].sum())

    def _load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        try:
            if self.path is None or not self.path.is_file():
                return None
        except OSError:
            return None
        from safetensors.torch import load_file

        try:
            stored = load_file(str(self.path))
        except Exception:  # a truncated cache file is recomputed, never trusted
            return None
        if stored["features"].shape != (len(self.encoded), self.backbone.dim) or "seconds" not in stored:
            return None  # a file without each row's cost (written before it was kept) is computed once more
        return stored["features"], stored["done"].bool(), stored["seconds"].double()

    def _save(self) -> None:
        if self.path is None:
            return
        from safetensors.torch import save_file

        from headstart.atomic import write_atomic

        features, done, seconds = _MEMORY[self.key]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, lambda tmp: save_file({"features": features, "done": done.to(torch.uint8),
                                                         "seconds": seconds}, str(tmp)),
                         point="write:features.safetensors")
        except Exception as exc:  # OSError, StoreError, or safetensors' own error: the cache is optional
            cache_unusable(self.path.parent, exc)
            self.path = None  # this run goes on with the features in memory

    def __call__(self, rows: np.ndarray) -> torch.Tensor:
        """(len(rows), dim) features, computing only the rows never computed before."""
        features, done, seconds = _MEMORY[self.key]
        rows = np.asarray(rows, dtype=np.int64)
        self.read[torch.as_tensor(rows)] = True
        missing = np.unique(rows[~done[torch.as_tensor(rows)].numpy()])
        if len(missing):
            began = time.perf_counter()
            told = (lambda done: self.progress(done, len(missing))) if self.progress else None
            cost = torch.zeros(len(missing), dtype=torch.float64)
            features[torch.as_tensor(missing)] = embed_rows(self.backbone, self.encoded, missing, batch_size=self.batch_size,
                                                            autocast=self.autocast, progress=told, seconds=cost)
            done[torch.as_tensor(missing)] = True
            seconds[torch.as_tensor(missing)] = cost
            self._save()
            self.computed_seconds += time.perf_counter() - began
        return features[torch.as_tensor(rows)]


_WARNED: set[str] = set()


def cache_unusable(where: Path, exc: BaseException) -> None:
    """Say once per process and place that the on-disk cache is skipped (the run goes on without it)."""
    if str(where) not in _WARNED:
        _WARNED.add(str(where))
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        logging.getLogger("headstart").warning("the cache at %s is unusable (%s); going on without it (set HEADSTART_CACHE "
                                               "to a writable directory to keep features between runs)", where, reason)


def clear_memory() -> None:
    _MEMORY.clear()


_ENCODED: dict[str, list] = {}


def encoded_inputs(backbone: torch.nn.Module, data: Any) -> list:
    """``backbone.encode(data.inputs)``, memoised per (preprocessing, dataset) so a sweep tokenises once."""
    key = json.dumps([backbone.describe(), data.hash], sort_keys=True, default=str)
    if key not in _ENCODED:
        while len(_ENCODED) >= 4:  # a sweep's data read by each backbone (--backbones), TF-IDF, a replayed or retained set
            _ENCODED.pop(next(iter(_ENCODED)))
        _ENCODED[key] = backbone.encode(data.inputs)
    return _ENCODED[key]


def feature_cache(s: Any, *, progress: Callable[[int, int], None] | None = None) -> "FeatureCache | None":
    """Cached features of a run's pre-trained backbone (``recipe.Setup``), when its strategy starts from it;
    ``progress`` as ``FeatureCache``'s."""
    from headstart.precision import autocast_for

    if not s.strategy.uses_pretrained or s.strategy.quantized:  # a 4-bit base's features are not the fp32 backbone's
        return None
    identity = {**s.pretrained.describe(), "precision": s.precision}
    return FeatureCache(s.pretrained, s.encoded, s.data.hash, batch_size=s.cfg.eval_batch_size,
                        autocast=autocast_for(s.precision, s.device), identity=identity, progress=progress)
