"""Hugging Face text encoders (BERT-like AutoModel or a sentence-transformers folder) as backbones.

Features are the mean of the last hidden states over real tokens (sentence-transformers' "mean"
pooling) or the first token's state ("cls"); the pooling is read from a sentence-transformers
``1_Pooling/config.json`` when the folder has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.errors import BackboneError, ConfigError

POOLINGS = ("mean", "cls")


class TextBackbone(nn.Module):
    """A transformer encoder + its tokenizer, pooled to (B, dim) features.

    Args:
        model: a ``transformers`` encoder (``AutoModel``), returning ``last_hidden_state`` (B, T, dim).
        tokenizer: the matching fast tokenizer.
        name: display / registry name.
        source: the directory it was loaded from (part of its identity).
        pooling: "mean" or "cls".
        max_length: inputs are truncated to this many tokens (default 128: movie reviews are ~26 words).
        pretrained: False for a ``fresh()`` twin.
    """

    modality = "text"

    def __init__(self, model: nn.Module, tokenizer: Any, *, name: str, source: str, pooling: str = "mean",
                 max_length: int = 128, pretrained: bool = True, weights: str | None = None) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if max_length < 2:
            raise ConfigError(f"max_length must be >= 2, got {max_length!r}; try --max-length 128")
        model_max = getattr(tokenizer, "model_max_length", None) or 10**9
        max_positions = getattr(model.config, "max_position_embeddings", None) or 10**9
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        self.weights = weights  # fingerprint of a local folder's weight files: retrained in place, a new identity
        self.pooling = pooling
        self.max_length = min(max_length, model_max, max_positions)
        self.pretrained = pretrained
        self.dim = int(model.config.hidden_size)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def blocks(self) -> list[nn.Module]:
        """[embeddings, layer 1, …, layer L]: the input side first."""
        embeddings = getattr(self.model, "embeddings", None)
        layers = _transformer_layers(self.model)
        return ([embeddings] if embeddings is not None else []) + list(layers)

    def encode(self, inputs: list[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length`` (special tokens included), not padded."""
        return self.tokenizer(list(inputs), truncation=True, max_length=self.max_length, padding=False)["input_ids"]

    def collate(self, encoded: list[list[int]]) -> dict[str, torch.Tensor]:
        """Pad to the longest sequence in the batch (dynamic padding), with the attention mask."""
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            mask[row, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": mask}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        hidden = hidden[:, hidden.shape[1] - batch["attention_mask"].shape[1]:]  # drop virtual tokens (prompt tuning)
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    def fresh(self, seed: int) -> "TextBackbone":
        """The same architecture and tokenizer with weights drawn by the model's own initialiser."""
        from transformers import AutoModel

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModel.from_config(self.model.config)
        return TextBackbone(model, self.tokenizer, name=self.name, source=self.source, pooling=self.pooling,
                            max_length=self.max_length, pretrained=False, weights=self.weights)

    def describe(self) -> dict[str, Any]:
        identity = {"name": self.name, "source": self.source, "pooling": self.pooling, "max_length": self.max_length,
                    "pretrained": self.pretrained, "dim": self.dim}
        return identity | ({"weights": self.weights} if self.weights else {})


def _transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder's list of layers: the longest ``nn.ModuleList`` in the model."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise BackboneError(f"cannot find the layer list of {type(model).__name__}; depth-wise strategies need one")
    return max(lists, key=len)


def detect_pooling(directory: Path) -> str | None:
    """The pooling a sentence-transformers folder declares, or None for a plain HF folder."""
    modules = directory / "modules.json"
    if not modules.exists():
        return None
    try:
        entries = json.loads(modules.read_text())
        pooling_dir = next((directory / e["path"] for e in entries if e.get("type", "").endswith("Pooling")), None)
        config = json.loads((pooling_dir / "config.json").read_text()) if pooling_dir else {}
    except (OSError, ValueError, KeyError, StopIteration):
        return None
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    return None


def transformer_dir(directory: Path) -> Path:
    """The folder holding the encoder: the root, or a sentence-transformers ``0_Transformer``-style module path."""
    if (directory / "config.json").exists() or not (directory / "modules.json").exists():
        return directory
    try:
        entries = json.loads((directory / "modules.json").read_text())
    except (OSError, ValueError):
        return directory
    for entry in entries:
        if entry.get("type", "").endswith("Transformer") and entry.get("path"):
            return directory / entry["path"]
    return directory


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def weights_fingerprint(files: list[Path]) -> str:
    """A hash of the bytes of ``files`` (a model's weight files), memoised per (path, size, mtime) in this process.

    A local folder is named by its path; a model retrained into the same folder is another model, so its run keys and
    cached features must change with its weights (issue 24: they did not, and a re-run skipped cells as done and read
    stale features). blake2b reads ~1 GB/s: a 90 MB encoder costs about 0.1 s, once per process.
    """
    import hashlib

    total = hashlib.blake2b(digest_size=12)
    for path in sorted(files):
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _FINGERPRINTS:
            digest = hashlib.blake2b(digest_size=12)
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    digest.update(chunk)
            _FINGERPRINTS[key] = digest.hexdigest()
        total.update(path.name.encode() + b"\0" + _FINGERPRINTS[key].encode())
    return total.hexdigest()


def load_text_backbone(directory: str | Path, *, name: str, pooling: str | None = None, max_length: int = 128,
                       fingerprint: bool = False) -> TextBackbone:
    """Load an encoder and its tokenizer from a local HF or sentence-transformers directory.

    Args:
        fingerprint: put a hash of the weight files into the identity (``weights_fingerprint``): for folders the user
            gives, whose content may change under the same path; registered backbones are pinned by their name.

    Raises:
        BackboneError: the folder has no config / weights / tokenizer, or the weights are corrupt.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    directory = Path(directory)
    pooling = pooling or detect_pooling(directory)
    directory = transformer_dir(directory)
    if not (directory / "config.json").exists():
        raise BackboneError(f"{str(directory)!r} has no config.json; give a Hugging Face or sentence-transformers model folder")
    weights = list(directory.glob("*.safetensors"))
    if not weights:
        pickled = [p.name for p in directory.glob("*.bin")] + [p.name for p in directory.glob("*.pt")]
        hint = f" (found {', '.join(pickled)}: pickle-based weights are not loaded; convert them to safetensors)" if pickled else ""
        raise BackboneError(f"{str(directory)!r} has no .safetensors weights{hint}")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were not used" (pooler etc.) is noise here
    hf_logging.disable_progress_bar()  # a bar for loading 100 tensors from local disk is noise too
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModel.from_pretrained(directory, use_safetensors=True, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError) as e:
        raise BackboneError(f"cannot load the model in {str(directory)!r}: {str(e).splitlines()[0][:200]}; check its files") from None
    except Exception as e:  # safetensors raises its own error type on truncated files
        raise BackboneError(f"cannot load the model in {str(directory)!r} ({type(e).__name__}: {str(e)[:200]}); the weights may be corrupt") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval()
    chosen = pooling or "mean"
    return TextBackbone(model, tokenizer, name=name, source=str(directory.resolve()), pooling=chosen, max_length=max_length,
                        weights=weights_fingerprint(weights) if fingerprint else None)
