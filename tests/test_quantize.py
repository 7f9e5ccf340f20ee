"""Loading straight into NF4 (headstart/quantize.py): the same model as fp32-then-quantise, without the fp32 base."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("bitsandbytes")

from headstart.quantize import load_quantized, quantize_linears  # noqa: E402


def tiny_bert_folder(folder: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertModel

    from headstart.backbones.registry import _minilm_dir

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=64)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(_minilm_dir()).save_pretrained(folder)
    return folder


@pytest.fixture(params=["llama", "bert"])
def folder(request, tmp_path: Path) -> Path:
    if request.param == "bert":
        return tiny_bert_folder(tmp_path / "bert")
    from backbones.test_causal import tiny_llama_folder

    return tiny_llama_folder(tmp_path / "llama")


def test_loading_in_4_bits_equals_quantising_the_fp32_model(folder):
    from transformers import AutoModel

    import bitsandbytes as bnb

    direct = load_quantized(folder)
    reference = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
    quantize_linears(reference)
    assert not any(p.is_meta for p in direct.parameters()), "every parameter was read from the folder"
    assert not any(isinstance(m, torch.nn.Linear) and not isinstance(m, bnb.nn.Linear4bit) for m in direct.modules())
    ids = torch.tensor([[5, 17, 99, 2034, 7], [5, 17, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        a = direct(input_ids=ids, attention_mask=mask).last_hidden_state
        b = reference(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.equal(a, b), "NF4 rounding is deterministic: the same 4-bit base either way"


def test_a_qlora_run_loads_its_backbone_in_4_bits_and_trains_it_without_a_copy(tmp_path, toy):
    import bitsandbytes as bnb

    from backbones.test_causal import tiny_llama_folder
    from headstart.recipe import setup, train
    from headstart.specs import RunSpec, TrainConfig

    folder = tiny_llama_folder(tmp_path / "llama")
    cfg = TrainConfig(max_steps=3, min_steps=3, batch_size=8, precision="fp32")
    s = setup(RunSpec(data="toy", backbone=str(folder), strategy="qlora", n=16, train=cfg), data=toy)
    assert s.model.backbone is s.pretrained, "loaded for this run alone: no private fp32 copy"
    base = s.model.backbone.model.get_base_model()
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in base.modules())
    assert train(s).status == "done"


def test_a_missing_weight_is_named(tmp_path):
    from safetensors.torch import load_file, save_file

    from headstart.errors import BackboneError

    folder = tiny_bert_folder(tmp_path / "bert")
    weights = folder / "model.safetensors"
    tensors = load_file(str(weights))
    dropped = next(k for k in tensors if "query.weight" in k)
    save_file({k: v for k, v in tensors.items() if k != dropped}, str(weights))
    with pytest.raises(BackboneError, match="query.weight"):
        load_quantized(folder)


def test_qlora_recomputes_activations_and_trains_as_without(toy, make_tiny_bert):
    from headstart.recipe import setup, train
    from headstart.specs import RunSpec, TrainConfig

    cfg = TrainConfig(max_steps=3, min_steps=3, batch_size=8, precision="fp32", optimizer="adamw")

    def trained(checkpointing: bool):
        s = setup(RunSpec(data="toy", backbone="tiny-bert", strategy="qlora", n=16, options={"checkpointing": checkpointing},
                          train=cfg), data=toy, pretrained=make_tiny_bert(0))
        base = s.model.backbone.model.get_base_model()
        assert getattr(base, "is_activation_checkpointing", None) is checkpointing
        assert train(s).status == "done"
        return {k: v for k, v in s.model.state_dict().items() if "lora_" in k or k.startswith("head.")}

    on, off = trained(True), trained(False)
    assert on.keys() == off.keys() and all(torch.allclose(on[k], off[k], atol=1e-5) for k in on), "the same steps, less memory"


@pytest.mark.parametrize("tied", [True, False])
def test_a_causal_lm_loads_in_4_bits_with_its_output_projection_in_full_precision(tmp_path, tied):
    from transformers import AutoModelForCausalLM

    import bitsandbytes as bnb
    from backbones.test_causal import tiny_llama_folder

    folder = tiny_llama_folder(tmp_path / "llama", tied=tied)
    direct = load_quantized(folder, causal_lm=True)
    reference = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    quantize_linears(reference.model)
    assert type(direct.lm_head) is torch.nn.Linear and not isinstance(direct.lm_head, bnb.nn.Linear4bit)
    assert (direct.lm_head.weight is direct.model.embed_tokens.weight) == tied
    ids = torch.tensor([[5, 17, 99, 2034, 7]])
    with torch.no_grad():
        assert torch.equal(direct(input_ids=ids).logits, reference(input_ids=ids).logits)


def test_a_saved_qlora_run_says_its_base_is_4_bit_nf4(toy_csv, tiny_registry, tmp_path):
    """metrics.json keeps what the 4-bit base is (train printed it, nothing saved said it), and the card says it."""
    import json

    import headstart
    from headstart.specs import TrainConfig

    headstart.fit(str(toy_csv), "tiny-bert", strategy="qlora", n=16, out=tmp_path / "q",
                  config=TrainConfig(max_steps=2, min_steps=2, batch_size=8, precision="fp32"))
    q = json.loads((tmp_path / "q" / "metrics.json").read_text())["quantization"]
    assert q["type"] == "nf4" and q["double_quantization"] is True and q["compute_dtype"] == "float32"
    assert q["layers"] > 0 and 0 < q["stored_bytes"] < q["fp32_bytes"] / 4
    card = (tmp_path / "q" / "README.md").read_text()
    assert f"Its base's {q['layers']} linear layers are 4-bit NF4 (double-quantised block scales), computing in float32" in card
