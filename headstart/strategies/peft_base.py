"""Adapter strategies on ``peft``: a PEFT method injected into the backbone's encoder; it and the head train.

The encoder (``backbone.model``, a ``transformers`` model; for ``lora`` also an image backbone's CNN) is wrapped
with ``peft.get_peft_model``, so a
saved run directory is also a PEFT adapter directory (``adapter_config.json`` + ``adapter_model.safetensors``):
``PeftModel.from_pretrained(AutoModel.from_pretrained(base), run_dir)`` loads it, and an adapter trained with
plain PEFT on the same base loads here. On a built-in with a Hub repository (``BuiltinBackbone.hub_id``) its
adapter_config.json names that repository as the base, so ``AutoPeftModel.from_pretrained(run_dir)`` works elsewhere. The task head is always saved beside it (``weights.safetensors``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.errors import BackboneError, ConfigError, StoreError, comma_entries
from headstart.strategies.base import Budget, ParamGroup, Phase, Strategy, head_group

ADAPTER = "default"  # PEFT's adapter name inside a run; AdapterSet loads others under their own names


def encoder_of(backbone: nn.Module) -> nn.Module:
    """The module PEFT wraps: a backbone's ``model`` (the transformers encoder, or an image backbone's CNN, which PEFT
    wraps as a custom model with explicit ``target_modules``)."""
    encoder = getattr(backbone, "model", None)
    if encoder is None or not (hasattr(encoder, "config") or getattr(backbone, "modality", None) == "image"):
        raise BackboneError(f"backbone {getattr(backbone, 'name', type(backbone).__name__)!r} has no transformers model to "
                            "attach a PEFT adapter to; use full-finetune, partial-freeze or bitfit")
    return encoder


# Encoders PEFT names no default targets for, by config ``model_type``. MPNet (all-mpnet-base-v2) calls its attention's
# query, key and value q, k, v; its feed-forward output is output.dense. lora takes BERT's roles (q, v); ia3 scales keys,
# values and the feed-forward output: 3 vectors a layer, where PEFT's BERT default also scales the attention output.
DEFAULT_TARGETS = {"mpnet": {"lora": ["q", "v"], "ia3": ["k", "v", "output.dense"]}}


def default_targets(backbone: nn.Module, method: str) -> list[str] | None:
    """``DEFAULT_TARGETS``' modules for ``method`` ("lora", "ia3") on this backbone's architecture; None: PEFT's own."""
    config = getattr(getattr(backbone, "model", None), "config", None)
    return DEFAULT_TARGETS.get(getattr(config, "model_type", None), {}).get(method)


def block_path(name: str) -> str:
    """A module's path within its numbered block: ``encoder.layer.3.attention.output.dense`` ->
    ``attention.output.dense``; a name outside any block (``pooler.dense``) as it is."""
    import re

    return re.sub(r"^(.*\.)?\d+\.", "", name)


def module_names(encoder: nn.Module) -> list[str]:
    """The names ``--targets`` can give for ``encoder``'s linear (and conv) layers: each layer's module path within its
    block (``encoder.layer.3.attention.self.query`` -> ``attention.self.query``) cut to its shortest ending that no
    other's shares (``query``; ``attention.output.dense`` beside ``output.dense``), in the order they come."""
    paths = list(dict.fromkeys(block_path(name) for name, m in encoder.named_modules()
                               if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))))
    names = []
    for path in paths:
        parts = path.split(".")
        for k in range(1, len(parts) + 1):
            ending = ".".join(parts[-k:])
            if k == len(parts) or not any(p != path and (p == ending or p.endswith("." + ending)) for p in paths):
                break
        names.append(ending)
    return names


def named_by(names: list[str], target: str) -> list[str]:
    """The module ``names`` that the ``--targets`` entry ``target`` names: the module whose full name it is, each module
    whose path within its block (``block_path``) it is, or, where it is neither, each module whose name ends in
    ``.TARGET``. So ``output.dense`` is BERT's feed-forward output projection in every layer and not
    ``attention.output.dense``; ``query`` or ``self.query`` is ``attention.self.query``; ``dense`` is every ``*.dense``."""
    if target in names or any(block_path(name) == target for name in names):
        return [name for name in names if name == target or block_path(name) == target]
    return [name for name in names if name.endswith(f".{target}")]


def exact_targets(encoder: nn.Module, targets: list[str]) -> list[str]:
    """``--targets`` as PEFT's ``target_modules``, reaching only the modules of ``encoder`` each entry names
    (``named_by``). PEFT reaches a listed name by the end of a module's name, so ``output.dense`` reached BERT's
    attention output projection (``attention.output.dense``) too: such an entry is replaced by the full names it means
    (``encoder.layer.0.output.dense``, ...); one PEFT reaches as meant is kept as given (the saved adapter_config.json
    then reads ``query``, not a name per layer), and one that reaches nothing too, for PEFT to refuse."""
    names = [name for name, _ in encoder.named_modules() if name]
    exact: list[str] = []
    for target in targets:
        reached = [name for name in names if name == target or name.endswith(f".{target}")]  # PEFT's own match
        meant = named_by(names, target)
        exact += [target] if meant == reached else meant
    return list(dict.fromkeys(exact))


def adapter_parameters(model: nn.Module, name: str = ADAPTER) -> list[nn.Parameter]:
    """The parameters of PEFT adapter ``name`` in the model's backbone (PEFT puts the name in their path)."""
    return [p for n, p in model.backbone.named_parameters() if f".{name}." in f".{n}."]


class PeftStrategy(Strategy):
    """Base of the PEFT methods: ``peft_config`` says what to inject; the adapter and the head train together."""

    needs_encoder = True
    modalities = ("text",)  # prompts, IA3 and the default targets are transformer-shaped; lora opts in to images

    defaults = {"lr": 2e-4, "head_lr": 1e-3, "min_steps": 100}
    lr_grid = (1e-4, 2e-4, 3e-4)  # --tune lr candidates: the usual LoRA range

    def peft_config(self, options: Any, backbone: nn.Module) -> Any:
        raise NotImplementedError

    def attach(self, model: nn.Module, options: Any, *, precision: str, seed: int = 0, directory: Any = None) -> None:
        import warnings

        from peft import PeftModel, get_peft_model

        encoder = encoder_of(model.backbone)
        with warnings.catch_warnings():  # transformers' deprecation notices about PEFT's own calls are noise here
            warnings.simplefilter("ignore", FutureWarning)
            if directory is not None:
                model.backbone.model = PeftModel.from_pretrained(encoder, saved_adapter(directory), adapter_name=ADAPTER)
                return
            try:
                with torch.random.fork_rng(devices=[]):  # adapter init (LoRA's A, prompt embeddings) is seeded
                    torch.manual_seed(seed)
                    model.backbone.model = get_peft_model(encoder, self.peft_config(options, model.backbone), adapter_name=ADAPTER)
            except ValueError as e:  # PEFT: target modules not found in the model, and similar
                raise ConfigError(f"{self.name}: {str(e).splitlines()[0][:300].rstrip('.')}; check --targets against the backbone's module "
                                  f"names ({', '.join(module_names(encoder))})") from None

    def saved_part(self, model: nn.Module, trained: list[str]) -> str:
        return "adapter"  # PEFT's files (save_files); weights.safetensors keeps the head

    def save_files(self, model: nn.Module, out: Path) -> None:
        from headstart.backbones.registry import adapter_base

        save_adapter(model.backbone.model, out, base=adapter_base(getattr(model.backbone, "name", "")))

    def plan(self, model: nn.Module, options: Any, cfg: Any, budget: Budget) -> list[Phase]:
        return [Phase("adapter", [ParamGroup("adapter", adapter_parameters(model), cfg.lr), head_group(model, cfg)], budget.steps)]


def saved_adapter(directory: Any) -> str:
    """``directory`` as PEFT should read it: a local folder holding ``adapter_config.json``. Without that file PEFT takes
    the path for a hub repository id and retries a download for ~30 s; here it is a damaged run, said at once.

    Raises:
        StoreError: the folder has no ``adapter_config.json``, or it or ``adapter_model.safetensors`` is damaged.
    """
    if not (Path(directory) / "adapter_config.json").is_file():
        raise StoreError(f"{str(directory)!r} has no adapter_config.json: its PEFT adapter is missing or incomplete; "
                         "train the run again (or copy the whole run folder)")
    import json

    from safetensors import safe_open

    reading = Path(directory) / "adapter_config.json"
    try:  # read before PEFT does: its errors on a damaged file are tracebacks (JSONDecodeError, SafetensorError)
        if not isinstance(json.loads(reading.read_text()), dict):
            raise ValueError("not a JSON object")
        reading = Path(directory) / "adapter_model.safetensors"
        if reading.exists():
            with safe_open(str(reading), "pt") as f:
                list(f.keys())
    except Exception as e:  # safetensors raises its own error types on truncated / foreign files
        raise StoreError(f"cannot read {str(reading)!r} ({type(e).__name__}): the file is corrupt; train the run again "
                         "(or copy the whole run folder)") from None
    return str(directory)


def save_adapter(encoder: torch.nn.Module, out: Path, *, base: str | None = None) -> None:
    """PEFT's ``save_pretrained`` (adapter_config.json + adapter_model.safetensors), written atomically; ``base``, where
    given, is the ``base_model_name_or_path`` it names (a built-in's Hub id) in place of the folder the base was read
    from, which PEFT writes: this machine's package path, which no one else's ``AutoPeftModel`` finds."""
    import json
    import os
    import shutil
    import tempfile

    from headstart.atomic import write_json

    with tempfile.TemporaryDirectory(dir=out, prefix=".adapter-") as tmp:
        encoder.save_pretrained(tmp, selected_adapters=[ADAPTER], safe_serialization=True)
        source = Path(tmp) if (Path(tmp) / "adapter_config.json").exists() else Path(tmp) / ADAPTER
        if base is not None:
            config = json.loads((source / "adapter_config.json").read_text())
            config["base_model_name_or_path"] = base
            write_json(source / "adapter_config.json", config)
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            os.replace(source / name, out / name)
        shutil.rmtree(tmp, ignore_errors=True)


def check_targets(targets: Any) -> list[str] | str | None:
    """``--targets``: None (PEFT's default for the architecture), "all-linear", or module names (``named_by``)."""
    if targets is None or targets == "all-linear":
        return targets
    if isinstance(targets, str):
        targets = comma_entries(targets, name="targets", noun="module name", flag="targets=")
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise ConfigError(f"targets must be 'all-linear' or comma-separated module names, got {targets!r}; try targets=query,value")
    return targets
