"""The backbone protocol: what strategies, the engine and the feature cache may rely on.

A backbone is an ``nn.Module`` that turns a collated batch into (B, d) features. It also knows how to
prepare raw inputs (``encode`` once per example, ``collate`` per batch with dynamic padding), lists its
``blocks`` input side first so strategies can freeze or decay by depth, and builds ``fresh()`` twins
(same architecture, random weights) for the from-scratch baseline. Text and image backbones both fit.
Every kind of local backbone folder names its weights by ``weights_fingerprint``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Backbone(Protocol):
    name: str
    modality: str  # "text" | "image"
    dim: int

    def blocks(self) -> list[nn.Module]:
        """Ordered layers, input side first (e.g. embeddings, layer 1 … layer L)."""

    def encode(self, inputs: list[Any]) -> list[Any]:
        """Prepare raw examples once (tokenise / decode); the results are what ``collate`` batches."""

    def collate(self, encoded: list[Any]) -> dict[str, torch.Tensor]:
        """Batch encoded examples (padding to the longest in the batch)."""

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, dim) pooled features."""

    def fresh(self, seed: int) -> "Backbone":
        """Same architecture and preprocessing, randomly initialised with ``seed``."""

    def describe(self) -> dict[str, Any]:
        """Plain-data identity for run keys and cache keys (source, pooling, max length, pretrained?)."""


def count_parameters(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Parameters of ``module``; a 4-bit packed weight counts as the parameters it stands for."""
    return sum(_numel(p) for p in module.parameters() if p.requires_grad or not trainable_only)


def unused_parameters(backbone: nn.Module) -> set[int]:
    """The ids of ``backbone``'s parameters that take no part in its features: a transformers encoder's pooler (BERT's
    and MPNet's dense + tanh over the first token), which the encoder computes but whose output no feature reads (text
    features pool the hidden states, ``TextBackbone.forward``). Trained, they never receive a gradient: a strategy
    leaves them out of what it trains and counts (all-MiniLM-L6-v2's: 147,840 weights, 384 of them biases)."""
    pooler = getattr(getattr(backbone, "model", None), "pooler", None)
    return {id(p) for p in pooler.parameters()} if isinstance(pooler, nn.Module) else set()


def _numel(p: nn.Parameter) -> int:
    state = getattr(p, "quant_state", None)
    return int(torch.Size(state.shape).numel()) if state is not None and getattr(state, "shape", None) is not None else p.numel()


def modality_of(backbone: nn.Module | None) -> str:
    """"text" or "image": what a (pre-trained) backbone reads; strategies' defaults and grids depend on it."""
    return getattr(backbone, "modality", "text")


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def weights_fingerprint(files: list[Path]) -> str:
    """A hash of the bytes of ``files`` (a model's weight files), memoised per (path, size, mtime) in this process.

    A local folder is named by its path; a model retrained into the same folder is another model, so its run keys and
    cached features must change with its weights (issue 24: they did not, and a re-run skipped cells as done and read
    stale features). blake2b reads ~1 GB/s: a 90 MB encoder costs about 0.1 s, once per process.
    """
    import hashlib

    total = hashlib.blake2b(digest_size=12)
    for path in sorted(files):
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _FINGERPRINTS:
            digest = hashlib.blake2b(digest_size=12)
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    digest.update(chunk)
            _FINGERPRINTS[key] = digest.hexdigest()
        total.update(path.name.encode() + b"\0" + _FINGERPRINTS[key].encode())
    return total.hexdigest()
