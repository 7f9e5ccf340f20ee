"""A causal LM with its LM head (``AutoModelForCausalLM``), and the ways it trains: LoRA, QLoRA or every weight.

The backbone registry's causal LMs (``smollm2-135m``, ``gemma3-270m``), a causal-LM folder or a GGUF file resolve to
one safetensors folder (``lm_folder``); ``load_lm`` reads the model from it in fp32 with its tokenizer. ``prepare``
makes the chosen parameters trainable: LoRA through PEFT (x ↦ W0x + (α/r)BAx on ``targets``, PEFT's default for the
architecture — q_proj, v_proj on Llama), QLoRA the same on a base whose decoder linears ``load_lm`` read straight
into NF4 (``headstart.quantize.load_quantized``; the LM head stays full precision, tied to the embeddings), or all
weights.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.errors import BackboneError, ConfigError

STRATEGIES = ("lora", "qlora", "full-finetune")
OPTIMIZERS = {"lora": "adamw", "qlora": "adamw", "full-finetune": "adamw"}  # qlora as `train --strategy qlora` trains


def lm_folder(name_or_path: str) -> Path:
    """The safetensors folder of a causal LM given by registry name, folder or ``.gguf`` file.

    Raises:
        BackboneError: unknown name, unreadable folder, or a model that is not a causal LM.
    """
    from headstart.backbones.causal import gguf_folder
    from headstart.backbones.naming import missing_where
    from headstart.backbones.text import is_causal
    from headstart.backbones.registry import REGISTRY

    entry = REGISTRY.get(name_or_path)
    path = Path(name_or_path).expanduser()
    if entry is not None and entry.modality == "text":
        folder = entry.locate()
    elif entry is None and path.is_dir():
        folder = path.resolve()  # stored in a run's spec and adapter config: it must load from any directory
    elif entry is None and path.suffix == ".gguf":
        folder = gguf_folder(path.resolve() if path.exists() else path)  # one that is missing, not GGUF or truncated: said by it
    elif entry is None and not path.exists() and (len(path.parts) > 1 or name_or_path.startswith((".", "~"))):
        raise BackboneError(f"--backbone {name_or_path!r}: no such folder{missing_where(path)}; check the path, or use smollm2-135m, "
                            "gemma3-270m, a causal-LM folder (config.json + *.safetensors) or a .gguf file")
    else:
        raise BackboneError(f"--backbone {name_or_path!r} is not a causal language model; use smollm2-135m, gemma3-270m, "
                            "a causal-LM folder (config.json + *.safetensors) or a .gguf file")
    from transformers import AutoConfig

    from headstart.backbones.custom_code import refuse_custom_code

    refuse_custom_code(folder, named=f"--backbone {name_or_path!r}")
    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise BackboneError(f"cannot read a model config in {str(folder)!r} ({str(e).splitlines()[0][:120]}); "
                            "give the causal LM's folder") from None
    if not is_causal(config):
        raise BackboneError(f"--backbone {name_or_path!r} is not a causal language model ({', '.join(config.architectures or ['no architecture'])}); "
                            "sft and prefer generate text: use smollm2-135m, gemma3-270m or a causal-LM folder")
    return Path(folder)


def lm_reference(name_or_path: str) -> str:
    """How a run's spec names its backbone: a registry name as given, a folder or file as its absolute path (a
    relative one would not load from another directory)."""
    from headstart.backbones.registry import REGISTRY

    return name_or_path if name_or_path in REGISTRY else str(Path(name_or_path).expanduser().resolve())


def load_lm(folder: Path, *, device: torch.device, quantize: bool = False) -> tuple[nn.Module, Any]:
    """(model, tokenizer) of a causal-LM folder: ``AutoModelForCausalLM`` in fp32 on ``device``, in eval mode; with
    ``quantize`` (qlora) its decoder's linear layers are read straight into NF4 (``quantize.load_quantized``: the fp32
    base is never held), the output projection kept in full precision.

    The tokenizer gets a pad token (its end-of-sequence token) where it has none.

    Raises:
        BackboneError: transformers cannot load the folder.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)  # never run or ask about a folder's code
        if quantize:
            from headstart.quantize import lean_allocator, load_quantized

            lean_allocator()
            model = load_quantized(folder, causal_lm=True)
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, use_safetensors=True,  # never a pickle
                                                         trust_remote_code=False)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise BackboneError(f"cannot load the causal LM in {str(folder)!r}: {str(e).splitlines()[0][:200]}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.convert_ids_to_tokens(0)
    return model.to(device).eval(), tokenizer


def eos_id(model: nn.Module, tokenizer: Any) -> int | None:
    """The token that ends a response: the tokenizer's end of sequence, else the model config's."""
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    eos = getattr(getattr(model, "config", None), "eos_token_id", None)
    if isinstance(eos, list):
        eos = eos[0] if eos else None
    return None if eos is None else int(eos)


def check_strategy(strategy: str) -> None:
    """Raises ConfigError for a strategy ``sft`` does not train, naming the ones it does."""
    if strategy not in STRATEGIES:
        from headstart.errors import closest

        raise ConfigError(f"--strategy {strategy!r} is not one sft / prefer trains{closest(strategy, STRATEGIES)} "
                          f"(available: {', '.join(STRATEGIES)})")


def prepare(model: nn.Module, strategy: str, *, rank: int = 8, alpha: float = 16.0, dropout: float = 0.05,
            targets: list[str] | str | None = None) -> tuple[nn.Module, list[nn.Parameter]]:
    """Make ``model`` trainable the way ``strategy`` says.

    Args:
        model: an ``AutoModelForCausalLM``.
        strategy: "lora", "qlora" (NF4 base from ``load_lm(quantize=True)``, LoRA on top, gradient checkpointing;
            train it with ``OPTIMIZERS["qlora"]``, 32-bit AdamW) or "full-finetune".
        rank, alpha, dropout: the LoRA update (α/r)·BA and the dropout on its input.
        targets: module names to adapt ("q_proj,v_proj", a list, "all-linear") or None for PEFT's default; each name
            reaches the modules it names exactly, as the encoder methods' ``--targets`` (``peft_base.exact_targets``).

    Returns:
        (the model to train — a ``PeftModel`` for lora / qlora —, its trainable parameters).

    Raises:
        ConfigError: unknown strategy, or a target that matches no module (each is checked, not only all of them).
    """
    check_strategy(strategy)
    if strategy == "full-finetune":
        params = list(model.parameters())
        for p in params:
            p.requires_grad_(True)
        return model, params
    if strategy == "qlora":  # the base must come from load_lm(quantize=True): quantising an fp32 copy here would hold both
        unquantised = [name for name, m in model.model.named_modules() if type(m) is nn.Linear]
        if unquantised:
            raise ValueError(f"qlora needs a base loaded in 4 bits (load_lm(..., quantize=True)); {unquantised[0]} is fp32")
        recompute_activations(model)
    from peft import LoraConfig, TaskType, get_peft_model

    from headstart.strategies.peft_base import exact_targets

    if isinstance(targets, str) and targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    given = targets
    if isinstance(targets, list):
        check_targets(model, targets)
        targets = exact_targets(model, targets)  # as the encoder methods name them: PEFT alone matches by ending
    config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
    try:
        with warnings.catch_warnings():  # transformers' deprecation notice inside PEFT: not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            peft_model = get_peft_model(model, config)
    except ValueError as e:
        raise ConfigError(f"--targets {given!r} do not fit this model: {str(e).splitlines()[0][:160]}; "
                          "e.g. --targets q_proj,v_proj") from None
    return peft_model, [p for p in peft_model.parameters() if p.requires_grad]


def check_targets(model: nn.Module, targets: list[str]) -> None:
    """Refuse a module name in ``targets`` that names no module of ``model`` (PEFT adapts the names that match and
    drops the rest without a word: ``q_proj,k_projj`` would train q_proj alone).

    A name matches as the encoder methods' ``--targets`` do (``peft_base.named_by``): a module's full name, its path
    within its layer matched whole (``self_attn.v_proj``; ``output.dense`` is not ``attention.output.dense``), or,
    where no path is that whole, an ending (``v_proj``).

    Raises:
        ConfigError: the first name that matches nothing, with the closest module name and the linear ones there are.
    """
    from headstart.errors import closest
    from headstart.strategies.peft_base import named_by

    names = [name for name, _ in model.named_modules() if name]
    for target in targets:
        if not named_by(names, target):
            linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if "Linear" in type(m).__name__})
            known = linear or sorted({name.rsplit(".", 1)[-1] for name in names})
            raise ConfigError(f"--targets {target!r} matches no module of this model{closest(target, known)} "
                              f"(its linear modules: {', '.join(known)}; or all-linear)")


def recompute_activations(model: nn.Module) -> None:
    """Gradient checkpointing, as the qlora strategy trains: each layer recomputes its activations in backward
    (non-reentrant, so the frozen embeddings' outputs need no grad for the adapters inside to get theirs); with a
    4-bit base the activations are most of a step's memory."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # the newer name; the old one warns of its removal in v6
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def load_adapter(model: nn.Module, directory: Path, *, trainable: bool) -> nn.Module:
    """A saved PEFT adapter folder applied to ``model`` (its base, already quantised for a qlora run).

    Raises:
        BackboneError: the adapter does not fit the base.
    """
    from peft import PeftModel

    from headstart.strategies.peft_base import saved_adapter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            adapted = PeftModel.from_pretrained(model, saved_adapter(directory), is_trainable=trainable)
    except (ValueError, RuntimeError, KeyError) as e:
        raise BackboneError(f"the adapter in {str(directory)!r} does not fit its base: {str(e).splitlines()[0][:200]}") from None
    base = getattr(model.config, "_name_or_path", "")
    for config in adapted.peft_config.values():  # the folder the base was read from, as a fresh adapter's config holds
        # it; the saved name (``runs.name_base``: a registry name) sent PEFT's save to look it up on the Hub
        config.base_model_name_or_path = base or config.base_model_name_or_path
    return adapted
