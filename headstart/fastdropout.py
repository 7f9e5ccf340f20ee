"""Dropout with a cheaper random mask on CPU: the same Bernoulli(1 - p) keep mask and 1 / keep scaling.

On a CPU, ``torch.nn.functional.dropout`` spends its time drawing one float per element from the single-threaded
generator (``aten::bernoulli_``: ~10% of a MiniLM fine-tuning step in fp32 on the AVX2 EPYC, docs/BENCHMARKS.md's
"Profile of a full-finetune step in fp32"). This draws 64 random bits per call to the same seeded generator and reads
them as four 16-bit numbers, so it needs a quarter of the draws: 3-4x faster per mask. An element is kept when its
16-bit number is at or above ``round(p * 65536)``; the drop probability is therefore ``p`` rounded to a multiple of
1/65536 (0.1 becomes 0.100006), and kept elements are scaled by one over the exact keep probability, so the
expectation is preserved as with ``nn.Dropout``.

``fast_dropout(model)`` is a context manager the engine wraps training in: it turns the model's ``nn.Dropout``
modules and its attention-probability dropout (transformers' ``sdpa`` attention) into these, and restores both on
exit, so what is saved or evaluated is the unchanged model. GPU tensors keep PyTorch's own dropout (Philox, fast).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

_LEVELS = 1 << 16
ATTENTION = "headstart_sdpa"  # transformers attention-interface name of the CPU attention with the cheaper mask


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """Boolean mask, each element True with probability ``1 - round(p * 65536) / 65536``, from the global generator."""
    count = 1
    for size in shape:
        count *= int(size)
    words = (count + 3) // 4
    bits = torch.randint(-(1 << 63), (1 << 63) - 1, (words,), dtype=torch.int64).view(torch.int16)[:count]
    threshold = int(round(p * _LEVELS)) - (_LEVELS // 2)  # int16 runs from -32768: shift the threshold with it
    return (bits >= threshold).view(shape)


def kept_fraction(p: float) -> float:
    """The exact keep probability of ``keep_mask`` for drop probability ``p``."""
    return 1.0 - round(p * _LEVELS) / _LEVELS


def masked_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``nn.functional.dropout`` semantics with the cheaper mask on CPU; PyTorch's own elsewhere."""
    if not training or p <= 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return nn.functional.dropout(x, p, training)
    keep = kept_fraction(p)
    return torch.where(keep_mask(x.shape, p), x * (1.0 / keep), torch.zeros((), dtype=x.dtype))


class FastDropout(nn.Dropout):
    """``nn.Dropout`` whose training-mode mask comes from ``keep_mask`` (CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return super().forward(x)
        return masked_dropout(x, self.p, self.training)


def _attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
               **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' sdpa attention, except that attention-probability dropout on CPU uses the cheaper mask."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    plain = (dropout <= 0.0 or query.device.type != "cpu" or kwargs.get("output_attentions") or kwargs.get("is_causal")
             or getattr(module, "is_causal", False) or getattr(module, "num_key_value_groups", 1) > 1
             or kwargs.get("position_bias") is not None or kwargs.get("cache") is not None)
    if plain:  # decoders, grouped heads, biases, caches: transformers' own path
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    scale = scaling if scaling is not None else query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scale
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + attention_mask
    weights = masked_dropout(torch.softmax(weights, dim=-1), dropout, True)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), None


def _register_attention() -> bool:
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    AttentionInterface.register(ATTENTION, _attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)  # without a mask function transformers passes no mask at all
    return True


@contextlib.contextmanager
def fast_dropout(model: nn.Module) -> Iterator[nn.Module]:
    """Train ``model`` with the cheaper dropout masks; every module and config is as it was on exit."""
    swapped = [m for m in model.modules() if type(m) is nn.Dropout]
    configs = []
    if _register_attention():
        for m in model.modules():
            config = getattr(m, "config", None)
            if getattr(config, "_attn_implementation", None) == "sdpa" and all(config is not c for c, _ in configs):
                configs.append((config, "sdpa"))
    for m in swapped:
        m.__class__ = FastDropout
    for config, _ in configs:
        config._attn_implementation = ATTENTION
    try:
        yield model
    finally:
        for m in swapped:
            m.__class__ = nn.Dropout
        for config, previous in configs:
            config._attn_implementation = previous
