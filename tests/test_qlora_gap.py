"""benchmarks/qlora_gap.py: the NF4-rounded base it trains LoRA on, and its table's pairing by seed."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("bitsandbytes")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling jsonl_rows, as it does when run from there
SPEC = importlib.util.spec_from_file_location("qlora_gap", BENCHMARKS / "qlora_gap.py")
qlora_gap = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(qlora_gap)


def test_the_rounded_base_holds_the_weights_qlora_computes_with_in_plain_linear_layers(tmp_path):
    import bitsandbytes as bnb

    from backbones.test_causal import tiny_llama_folder
    from headstart.backbones import load_backbone
    from headstart.quantize import quantize_linears
    from headstart.strategies.peft_base import encoder_of

    pretrained = load_backbone(str(tiny_llama_folder(tmp_path / "llama")))
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    rounded = qlora_gap.nf4_rounded(pretrained)
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in before.items()), "the backbone given is untouched"
    assert rounded.tokenizer is pretrained.tokenizer

    quantized = copy.deepcopy(pretrained)
    quantize_linears(encoder_of(quantized))
    fours = {name: m for name, m in encoder_of(quantized).named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    plain = {name: m for name, m in encoder_of(rounded).named_modules() if isinstance(m, torch.nn.Linear)}
    assert fours and set(plain) == set(fours), "every linear layer qlora quantises is rounded, and stays an nn.Linear"
    original = dict(encoder_of(pretrained).named_modules())
    for name, linear in plain.items():
        assert not isinstance(linear, bnb.nn.Linear4bit) and linear.weight.dtype == torch.float32
        q = fours[name]
        expected = bnb.functional.dequantize_4bit(q.weight.data, q.weight.quant_state).float()
        assert torch.equal(linear.weight, expected), name
        assert not torch.equal(linear.weight, original[name].weight), f"{name}: NF4 moved the weights"
    x = torch.randn(3, plain[next(iter(plain))].in_features)
    name = next(iter(plain))
    with torch.no_grad():
        assert torch.allclose(plain[name](x), fours[name](x), atol=1e-5), "the same layer output as the 4-bit layer's"


def test_the_table_pairs_each_arm_with_lora_and_the_8bit_qlora_by_seed():
    def row(arm, seed, accuracy):
        return {"arm": arm, "seed": seed, "accuracy": accuracy, "seconds": 10.0}

    rows = [row("lora", s, 0.80 + 0.01 * s) for s in range(3)] + [row("qlora with 8-bit AdamW", s, 0.77 + 0.01 * s) for s in range(3)]
    rows += [row("lora on an NF4-rounded base", s, 0.78 + 0.01 * s + 0.002 * (s == 1)) for s in range(3)]
    lines = qlora_gap.table(rows, list(qlora_gap.ARMS)).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| lora", "| qlora with 8-bit AdamW", "| lora on an NF4-rounded base"]
    qlora, rounded = lines[3], lines[4]
    assert "| 77.0 / 78.0 / 79.0 |" in qlora and qlora.endswith("| -3.0 (no interval: every seed gave the same value and no "
                                                                "test predictions are stored to resample) |  |")  # not -3.0 to -3.0
    assert "| -1.9 (" in rounded and "| +1.1 (" in rounded, "differences paired by seed, against each of the two"
