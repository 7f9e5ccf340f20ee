"""4-bit NF4 base weights (bitsandbytes) for QLoRA, on CPU or GPU, and the way back for merging.

``quantize_linears`` swaps every ``nn.Linear`` of a module for a ``bitsandbytes`` ``Linear4bit`` holding
NF4 weights (double-quantised block scales); the matmul runs in ``compute_dtype``. NF4 rounding is
deterministic, so quantising the same pre-trained weights again rebuilds the base a QLoRA run trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from headstart.errors import ConfigError


@dataclass(frozen=True)
class WeightBytes:
    """Storage of a module's base weights: as held now vs the same parameters in fp32."""

    stored: int
    fp32: int
    quantized_params: int  # parameters held in 4 bits

    @property
    def ratio(self) -> float:
        return self.stored / max(self.fp32, 1)


def _bnb():
    try:
        import bitsandbytes as bnb
    except ImportError:
        raise ConfigError("qlora needs bitsandbytes, headstart's [qlora] extra: pip install 'headstart[qlora]'; or use --strategy lora") from None
    return bnb


def _children(module: nn.Module, kind: type) -> list[tuple[nn.Module, str, nn.Module]]:
    return [(parent, name, child) for parent in module.modules() for name, child in parent.named_children() if isinstance(child, kind)]


def quantize_linears(module: nn.Module, *, compute_dtype: torch.dtype = torch.float32) -> int:
    """Replace every ``nn.Linear`` inside ``module`` with an NF4 ``Linear4bit`` (frozen); returns how many."""
    bnb = _bnb()
    swapped = 0
    for parent, name, linear in _children(module, nn.Linear):
        if isinstance(linear, bnb.nn.Linear4bit):
            continue
        device = linear.weight.device
        q = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=linear.bias is not None,
                              compute_dtype=compute_dtype, quant_type="nf4", compress_statistics=True, device="meta")
        q.weight = bnb.nn.Params4bit(linear.weight.detach().to("cpu", torch.float32).contiguous(), requires_grad=False,
                                     quant_type="nf4", compress_statistics=True)
        if linear.bias is not None:
            q.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        # bitsandbytes repacks the weight in place for its AVX512-BF16 CPU kernel on the first no-grad eval forward; it
        # fails for layers narrower than a quantisation block (seen on AMD Zen 4) and would change the weight between
        # validation and training: keep the one format that trains, evaluates and saves alike.
        q.support_avx512bf16_for_cpu = False
        setattr(parent, name, q.to(device))  # moving the Params4bit to a device quantises it
        swapped += 1
    return swapped


def dequantize_linears(module: nn.Module) -> int:
    """Replace every ``Linear4bit`` inside ``module`` with an fp32 ``nn.Linear`` of its dequantised weights."""
    bnb = _bnb()
    swapped = 0
    for parent, name, q in _children(module, bnb.nn.Linear4bit):
        weight = bnb.functional.dequantize_4bit(q.weight.data, q.weight.quant_state).to(torch.float32)
        linear = nn.Linear(q.in_features, q.out_features, bias=q.bias is not None, device=weight.device)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if q.bias is not None:
                linear.bias.copy_(q.bias.to(torch.float32))
        setattr(parent, name, linear)
        swapped += 1
    return swapped


def weight_bytes(module: nn.Module, *, linear_only: bool = False) -> WeightBytes:
    """Bytes of the module's parameters as stored (4-bit + block scales where quantised) vs the same in fp32.

    Args:
        linear_only: count only the weights of the base's linear layers (what QLoRA quantises; embeddings,
            LayerNorms and the LoRA matrices on top stay in full precision).
    """
    bnb = _bnb()
    stored = fp32 = quantized = 0
    for module_name, m in module.named_modules():
        if linear_only and (not isinstance(m, (nn.Linear, bnb.nn.Linear4bit)) or ".lora_" in f".{module_name}"):
            continue
        for name, p in m.named_parameters(recurse=False):
            if linear_only and name != "weight":
                continue
            if isinstance(p, bnb.nn.Params4bit) and p.quant_state is not None:
                n = int(torch.Size(p.quant_state.shape).numel())
                state = p.quant_state
                scales = state.absmax.numel() * state.absmax.element_size()
                if state.state2 is not None:  # double quantisation: 8-bit block scales + their own fp32 scales
                    scales += state.state2.absmax.numel() * state.state2.absmax.element_size()
                stored += p.numel() * p.element_size() + scales
                fp32 += 4 * n
                quantized += n
            else:
                stored += p.numel() * p.element_size()
                fp32 += 4 * p.numel()
    return WeightBytes(stored=stored, fp32=fp32, quantized_params=quantized)
