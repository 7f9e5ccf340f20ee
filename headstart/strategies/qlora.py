"""qlora: LoRA on a 4-bit NF4 base (Dettmers et al. 2023), on CPU or GPU, with an 8-bit optimiser.

Every linear layer of the encoder is quantised to NF4 (bitsandbytes) and frozen; LoRA adapters train on
top in the precision the probe chose (bf16 where it pays, else fp32). Embeddings and LayerNorms stay in
full precision. The optimiser defaults to bitsandbytes' 8-bit AdamW (paged on CUDA only).
"""

from __future__ import annotations

from typing import Any

import torch

from headstart.quantize import quantize_linears
from headstart.strategies.lora import Lora
from headstart.strategies.peft_base import encoder_of
from headstart.strategies.registry import register


class QLora(Lora):
    name = "qlora"
    description = "QLoRA: LoRA on a 4-bit NF4 base (bitsandbytes, CPU too), 8-bit AdamW; least memory"
    defaults = {"lr": 2e-4, "head_lr": 1e-3, "min_steps": 100, "optimizer": "adamw8bit"}
    quantized = True
    modalities = ("text",)  # bitsandbytes quantises linear layers; a CNN is mostly convolutions

    def attach(self, model, options, *, precision: str, seed: int = 0, directory: Any = None) -> None:
        quantize_linears(encoder_of(model.backbone), compute_dtype=torch.bfloat16 if precision == "bf16" else torch.float32)
        super().attach(model, options, precision=precision, seed=seed, directory=directory)


register(QLora())
