"""Frozen bottom blocks are computed once: their outputs per training row, reused by every step of a phase.

When a phase trains only the upper blocks of a text backbone (partial-freeze, gradual-unfreeze's early phases,
an adapter on the top layers), the embeddings and the frozen layers below the first trainable block give the
same output for a row at every step: they hold no trainable parameter and run in eval mode (no dropout; see
``engine.set_trainable``). ``PrefixCache`` runs them once per phase over the training rows (eval mode, no
gradients, batched by length, the forward stopped after the last frozen block), keeps each row's real-token
states, and during the phase's steps makes the frozen blocks return those states instead of computing them:
the embeddings return the padded cached states and the frozen layers pass their input through.

This relies on the encoder calling its embeddings and then each layer in order, a layer returning a tensor
(transformers 5 encoders). ``PrefixCache.build`` checks it on real rows before the phase uses it: the pooled
features with and without the cache must agree (max abs diff 1e-4), otherwise the phase runs the full forward.
Padding positions are zeros in the cache; their outputs never reach a real token (they are masked as keys) or
the pooled features (pooling averages real tokens).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

MAX_BYTES = 2 << 30  # cached states for more than this stay uncached (the full forward runs)
TOLERANCE = 1e-4


class _Stop(Exception):
    """Raised by the capture hook: everything above the frozen blocks is not needed while caching."""


def frozen_prefix(backbone: nn.Module) -> int:
    """How many bottom blocks (embeddings first) hold parameters, none of them trainable: 0 when none."""
    blocks = backbone.blocks() if hasattr(backbone, "blocks") else []
    k = 0
    for block in blocks:
        params = list(block.parameters())
        if not params or any(p.requires_grad for p in params):
            break
        k += 1
    return k if k < len(blocks) else 0  # an entirely frozen backbone is the feature cache's case


class PrefixCache:
    """Outputs of ``backbone.blocks()[k - 1]`` (the last frozen block) for each training row."""

    def __init__(self, backbone: nn.Module, k: int, states: dict[int, torch.Tensor]) -> None:
        self.backbone = backbone
        self.k = k
        self.states = states  # row -> (real tokens, dim)

    @classmethod
    def build(cls, backbone: nn.Module, encoded: list, rows: np.ndarray, *, batch_size: int) -> "PrefixCache | None":
        """Cache the frozen prefix over ``rows`` and check it against the full forward; None when it cannot be used
        (not a text encoder, fewer than one frozen layer above the embeddings, too big, or the check fails)."""
        from headstart.modes import module_modes, restore_modes
        from headstart.features import length_sorted_batches, padded_length

        if getattr(backbone, "modality", None) != "text" or not hasattr(backbone, "blocks"):
            return None
        k = frozen_prefix(backbone)
        if k < 2:  # the embeddings alone are a lookup: nothing worth caching
            return None
        lengths = [padded_length(encoded[r]) for r in rows]
        if sum(lengths) * backbone.dim * 4 > MAX_BYTES:
            return None
        last = backbone.blocks()[k - 1]
        device = next(backbone.parameters()).device
        captured: list[torch.Tensor] = []

        def capture(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output)
            raise _Stop

        modes = module_modes(backbone)
        backbone.eval()
        states: dict[int, torch.Tensor] = {}
        handle = last.register_forward_hook(capture)
        try:
            with torch.no_grad():
                for batch in length_sorted_batches(lengths, batch_size):
                    batch_rows = rows[batch]
                    collated = {key: v.to(device) for key, v in backbone.collate([encoded[r] for r in batch_rows]).items()}
                    captured.clear()
                    with contextlib.suppress(_Stop):
                        backbone(collated)
                    if len(captured) != 1 or not isinstance(captured[0], torch.Tensor):
                        return None
                    for i, r in enumerate(batch_rows):
                        states[int(r)] = captured[0][i, : len(encoded[r])].detach().clone()
        finally:
            handle.remove()
            restore_modes(modes)
        cache = cls(backbone, k, states)
        return cache if cache._agrees(encoded, rows[: min(len(rows), 8)]) else None

    def batch_states(self, rows: np.ndarray) -> torch.Tensor:
        """(B, width, dim) cached states of ``rows``, zero-padded to the longest."""
        return nn.utils.rnn.pad_sequence([self.states[int(r)] for r in rows], batch_first=True)

    @contextlib.contextmanager
    def skipping(self, rows: np.ndarray) -> Iterator[None]:
        """Inside, a forward of ``rows`` starts at block ``k``: the embeddings return the cached states and the
        frozen layers pass them through."""
        blocks = self.backbone.blocks()
        states = self.batch_states(rows)
        embeddings, layers = blocks[0], blocks[1 : self.k]
        embeddings.forward = lambda *args, **kwargs: states
        for layer in layers:
            layer.forward = _pass_through
        try:
            yield
        finally:
            for module in [embeddings, *layers]:
                del module.forward  # back to the class's forward

    def _agrees(self, encoded: list, rows: np.ndarray) -> bool:
        """Pooled features of ``rows`` with the cache equal those of the full forward (eval mode)."""
        from headstart.modes import module_modes, restore_modes

        modes = module_modes(self.backbone)
        self.backbone.eval()
        try:
            with torch.no_grad():
                batch = self.backbone.collate([encoded[r] for r in rows])
                full = self.backbone(batch)
                with self.skipping(rows):
                    cached = self.backbone(batch)
        except Exception:  # an encoder that does not call its blocks as assumed: no cache, the plain path
            return False
        finally:
            restore_modes(modes)
        return full.shape == cached.shape and bool(torch.allclose(full, cached, atol=TOLERANCE, rtol=0))


def _pass_through(hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    return hidden_states
