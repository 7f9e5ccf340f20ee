"""qlora: LoRA on a 4-bit NF4 base (Dettmers et al. 2023), on CPU or GPU.

Every linear layer of the encoder is quantised to NF4 (bitsandbytes) and frozen; LoRA adapters train on
top in the precision the probe chose (bf16 where it pays, else fp32). Embeddings and LayerNorms stay in
full precision. The adapters train with LoRA's own 32-bit AdamW, as the paper's scripts train them
(``paged_adamw_32bit``): bitsandbytes' 8-bit AdamW (``--optimizer adamw8bit``; paged on CUDA only) saves 2.3 MB of
optimiser state on SmolLM2's 462k adapter weights, its CPU step is ~37x slower (benchmarks/optimizer_step.py), and on
SmolLM2 it scored 0.8 points lower over five seeds, within noise (benchmarks/qlora_gap.py). As in the paper's recipe,
the encoder's layers recompute their activations in the backward pass (gradient checkpointing, ``checkpointing``):
with a 4-bit base the activations are most of a step's memory (SmolLM2, batch 16: 0.73x LoRA's peak without it).
glibc is told to return freed blocks to the OS (``quantize.lean_allocator``): it otherwise keeps them and the peak grows
by hundreds of MB over what is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from headstart.errors import ConfigError
from headstart.quantize import lean_allocator, quantize_linears
from headstart.strategies.lora import Lora, LoraOptions
from headstart.strategies.peft_base import encoder_of
from headstart.strategies.registry import register


@dataclass(frozen=True)
class QLoraOptions(LoraOptions):
    checkpointing: bool = True  # recompute each layer's activations in backward: ~1/3 more compute for far less memory

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.checkpointing, bool):
            raise ConfigError(f"checkpointing must be true or false, got {self.checkpointing!r}; e.g. checkpointing=false")


class QLora(Lora):
    name = "qlora"
    description = "QLoRA: LoRA on a 4-bit NF4 base (bitsandbytes, CPU too), gradient checkpointing; least memory"
    Options = QLoraOptions
    defaults = {**Lora.defaults}  # LoRA's rate and optimiser: the two compare at the same settings
    quantized = True
    modalities = ("text",)  # bitsandbytes quantises linear layers; a CNN is mostly convolutions

    def attach(self, model, options, *, precision: str, seed: int = 0, directory: Any = None) -> None:
        lean_allocator()
        encoder = encoder_of(model.backbone)
        quantize_linears(encoder, compute_dtype=torch.bfloat16 if precision == "bf16" else torch.float32)
        if options.checkpointing and getattr(encoder, "supports_gradient_checkpointing", False):
            # Non-reentrant: the frozen embeddings' outputs need no grad for the adapters inside to get theirs.
            if hasattr(encoder, "activation_checkpointing_enable"):  # the newer name; the old one warns of its removal in v6
                encoder.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        super().attach(model, options, precision=precision, seed=seed, directory=directory)


register(QLora())
