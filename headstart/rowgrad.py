"""Embedding gradients without a fresh (vocabulary x dim) tensor each step, on CPU.

A batch of 16 reviews touches ~480 of MiniLM's 30,522 word-embedding rows, yet the dense backward of
``nn.Embedding`` allocates a zero-filled (30522, 384) fp32 gradient every step: 47 MB, above glibc's largest mmap
threshold (32 MB), so each step maps fresh pages and faults them in (~14 ms against ~1 ms to zero a kept buffer on the
2-core EPYC; ~5% of an n = 256 full fine-tune: benchmarks/rowgrad_ab.py, docs/BENCHMARKS.md "Profile of a
full-finetune step in fp32"). Here the lookup's backward is sparse (``nn.Embedding(sparse=True)``: the touched rows
only), and a hook run after each accumulation (``register_post_accumulate_grad_hook``) adds those rows into one dense
buffer kept for the whole fit, zeroed in place at each step's first gradient. The optimiser, clipping and everything
after see the same dense gradient as before (zeros in the untouched rows): bit for bit with one micro-batch a step
(the rows are added in the order the dense backward adds them), to float rounding when micro-batches accumulate
(tests/test_rowgrad.py).

The engine trains in ``row_gradients(model)`` (beside ``fastdropout.fast_dropout``), and a step's forward and
backward of the task loss run under its ``sparse()``: only there are the backwards sparse, so gradients taken anywhere
else (``torch.autograd.grad`` in a term or a loss of its own) stay dense as PyTorch makes them, and the engine uses
it only for the plain task loss. GPU embeddings keep the dense backward (the caching allocator reuses its blocks);
embeddings with ``max_norm`` or ``scale_grad_by_freq``, or already sparse, are left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class _DenseRows:
    """The dense gradient buffer of one embedding weight, made at its first sparse gradient and reused after."""

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None

    def __call__(self, weight: nn.Parameter) -> None:
        grad = weight.grad
        if grad is None or not grad.is_sparse:
            return  # dense already: our buffer, which a later micro-batch's rows were added into, or a dense gradient's sum
        # Sparse here means the first gradient of a step (the loop set .grad to None after the last optimiser step):
        # clear the buffer (its pages are mapped: ~1 ms where a fresh tensor costs ~14) and add this batch's rows.
        if self.buffer is None:
            self.buffer = torch.zeros_like(weight, memory_format=torch.contiguous_format)
        else:
            self.buffer.zero_()
        self.buffer.index_add_(0, grad._indices()[0], grad._values().to(self.buffer.dtype))
        weight.grad = self.buffer


def _eligible(module: nn.Module) -> bool:
    return (type(module) is nn.Embedding and not module.sparse and module.max_norm is None
            and not module.scale_grad_by_freq and module.weight.device.type == "cpu")


class RowGradients:
    """A fit's embedding-gradient buffers: ``sparse()`` around a forward and its backward makes the trained embeddings'
    backwards sparse, and each weight's hook (added at its first such step: a phase may unfreeze it later) gathers
    them into its buffer. ``close()`` removes the hooks."""

    def __init__(self, model: nn.Module) -> None:
        self.modules = [m for m in model.modules() if _eligible(m)]
        self._handles: dict[int, torch.utils.hooks.RemovableHandle] = {}

    @contextlib.contextmanager
    def sparse(self) -> Iterator[None]:
        trained = [m for m in self.modules if m.weight.requires_grad]
        for m in trained:
            if id(m.weight) not in self._handles:
                self._handles[id(m.weight)] = m.weight.register_post_accumulate_grad_hook(_DenseRows())
            m.sparse = True
        try:
            yield
        finally:
            for m in trained:
                m.sparse = False

    def close(self) -> None:
        for handle in self._handles.values():
            handle.remove()
        self._handles = {}


@contextlib.contextmanager
def row_gradients(model: nn.Module) -> Iterator[RowGradients]:
    """The ``RowGradients`` of ``model`` for the duration of a fit (hooks removed and buffers freed on exit)."""
    rows = RowGradients(model)
    try:
        yield rows
    finally:
        rows.close()
