"""A sentence-transformers folder read as that library reads it: modules.json, then Pooling, Dense and Normalize."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from headstart.errors import BackboneError

ST_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max", "pooling_mode_mean_tokens": "mean",
                   "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len", "pooling_mode_weightedmean_tokens": "weightedmean",
                   "pooling_mode_lasttoken": "lasttoken"}
ACTIVATIONS = {"Tanh": nn.Tanh, "Identity": nn.Identity, "ReLU": nn.ReLU, "GELU": nn.GELU, "Sigmoid": nn.Sigmoid}


class Dense(nn.Module):
    """A sentence-transformers Dense module: ``activation(linear(x))``."""

    def __init__(self, linear: nn.Linear, activation: str) -> None:
        super().__init__()
        self.linear = linear
        self.activation_name = activation
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x))



@dataclass(frozen=True)
class Pipeline:
    """What a sentence-transformers folder puts after its Transformer (``modules.json``)."""

    pooling: str | None = None
    dense: tuple[Path, ...] = ()  # each Dense module's folder
    normalize: bool = False


def read_pipeline(directory: Path) -> Pipeline:
    """The modules of a sentence-transformers folder after its Transformer; an empty Pipeline for a plain HF folder.

    Raises:
        BackboneError: a module headstart cannot read (it reads Transformer, Pooling, Dense, Normalize), named, or a
            modules.json / Pooling config that cannot be parsed or is not the shape it should be (``module_entries``).
    """
    if not (directory / "modules.json").exists():
        return Pipeline()
    pooling, dense, normalize = None, [], False
    for entry in module_entries(directory):
        kind = entry.get("type", "").rsplit(".", 1)[-1]
        folder = directory / entry.get("path", "")
        if kind == "Transformer":
            continue
        if kind == "Pooling":
            if not (folder / "config.json").exists():  # sentence-transformers' Pooling defaults to mean
                continue
            try:
                config = json.loads((folder / "config.json").read_text())
            except (OSError, ValueError) as e:
                raise BackboneError(f"cannot read the Pooling config {str(folder / 'config.json')!r}: {e}") from None
            if not isinstance(config, dict):
                raise BackboneError(f"the Pooling config {str(folder / 'config.json')!r} must hold a JSON object of "
                                    f"pooling_mode_* flags, got {json.dumps(config)[:80]}; fix or remove it")
            modes = [mode for key, mode in ST_POOLING_KEYS.items() if config.get(key)]
            pooling = "+".join(modes) if modes else None
        elif kind == "Dense":
            dense.append(folder)
        elif kind == "Normalize":
            normalize = True
        else:
            raise BackboneError(f"{str(directory)!r}: modules.json lists {entry.get('type')!r}, which headstart cannot read "
                                "(it reads Transformer, Pooling, Dense, Normalize); remove that module or give a plain "
                                "Hugging Face folder")
    return Pipeline(pooling, tuple(dense), normalize)


def module_entries(directory: Path) -> list[dict[str, str]]:
    """The entries of a sentence-transformers folder's ``modules.json``, each an object whose ``type`` and ``path`` are
    strings and whose path stays inside the folder (a downloaded folder must not point the loader at other files).

    Raises:
        BackboneError: a modules.json that cannot be parsed, is not a list of such objects, or points outside the
            folder; it names the file, the bad value and what it should hold.
    """
    modules = directory / "modules.json"
    try:
        entries = json.loads(modules.read_text())
    except (OSError, ValueError) as e:
        raise BackboneError(f"cannot read {str(modules)!r}: {e}; fix or remove it") from None
    should = 'a list of module objects such as {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}'
    if not isinstance(entries, list):
        raise BackboneError(f"{str(modules)!r} must hold {should}, got {json.dumps(entries)[:80]}; fix or remove it")
    root = directory.resolve()
    for entry in entries:
        if not isinstance(entry, dict):
            raise BackboneError(f"{str(modules)!r} must hold {should}, got the entry {json.dumps(entry)[:80]}; fix or "
                                "remove it")
        for key in ("type", "path"):
            if not isinstance(entry.get(key, ""), str):
                raise BackboneError(f"{str(modules)!r}: a module's {key} must be a string, got "
                                    f"{json.dumps(entry[key])[:80]}; fix or remove it")
        if not (directory / entry.get("path", "")).resolve().is_relative_to(root):
            raise BackboneError(f"{str(modules)!r} puts module {entry.get('type')!r} at {entry['path']!r}, outside "
                                f"the model folder {str(root)!r}; a module's path must be a folder inside it")
    return entries


def detect_pooling(directory: Path) -> str | None:
    """The pooling a sentence-transformers folder declares, or None for a plain HF folder (or one whose modules cannot
    be read: its other modules are not this function's concern)."""
    try:
        return read_pipeline(directory).pooling
    except BackboneError:
        return None


def load_dense(folder: Path) -> Dense:
    """A Dense module from its folder: config.json (in/out features, bias, activation) and safetensors weights.

    Raises:
        BackboneError: a config that is not an object with positive integer in/out features, no safetensors weights
            (pickled ones are not loaded) or weights that do not fit the config, or an activation it does not know.
    """
    from safetensors.torch import load_file

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise BackboneError(f"cannot read the Dense config {str(folder / 'config.json')!r}: {e}") from None
    features = [config.get(key) for key in ("in_features", "out_features")] if isinstance(config, dict) else None
    if features is None or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in features):
        got = f"in_features, out_features = {json.dumps(features)}" if features is not None else json.dumps(config)[:80]
        raise BackboneError(f"the Dense config {str(folder / 'config.json')!r} must hold an object with positive "
                            f"integer in_features and out_features, got {got}; fix or remove that module")
    activation = str(config.get("activation_function", "torch.nn.modules.activation.Tanh")).rsplit(".", 1)[-1]  # its default
    if activation not in ACTIVATIONS:
        raise BackboneError(f"the Dense module in {str(folder)!r} uses activation {activation!r}; headstart knows "
                            f"{', '.join(ACTIVATIONS)}")
    weights = folder / "model.safetensors"
    if not weights.exists():
        pickled = [p.name for p in folder.glob("*.bin")]
        hint = f" (found {', '.join(pickled)}: pickle-based weights are not loaded; convert them to safetensors)" if pickled else ""
        raise BackboneError(f"the Dense module in {str(folder)!r} has no model.safetensors{hint}")
    linear = nn.Linear(*features, bias=bool(config.get("bias", True)))
    try:
        linear.load_state_dict({k.removeprefix("linear."): v for k, v in load_file(str(weights)).items()})
    except Exception as e:  # safetensors raises its own error type on truncated files
        raise BackboneError(f"the Dense weights {str(weights)!r} do not fit its config ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200]}); fix or remove that module") from None
    return Dense(linear, activation)


def transformer_dir(directory: Path) -> Path:
    """The folder holding the encoder: the root, or a sentence-transformers ``0_Transformer``-style module path.

    Raises:
        BackboneError: a modules.json that is not the shape it should be (``module_entries``).
    """
    if (directory / "config.json").exists() or not (directory / "modules.json").exists():
        return directory
    for entry in module_entries(directory):
        if entry.get("type", "").endswith("Transformer") and entry.get("path"):
            return directory / entry["path"]
    return directory
