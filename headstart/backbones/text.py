"""Hugging Face text encoders (BERT-like AutoModel or a sentence-transformers folder) as backbones.

Features pool the last hidden states over real tokens: "mean" (sentence-transformers' default), "cls" (the first
token), "max", "mean_sqrt_len" (the sum over √length), "weightedmean" (position-weighted) or "lasttoken"; several
modes joined by "+" are concatenated in sentence-transformers' order. A sentence-transformers folder is read as that
library reads it (``read_pipeline``): its Pooling modes, then its Dense layers (weights from safetensors), then its
Normalize; a module of another kind is refused by name rather than skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.data.dataset import PAIR_SEP
from headstart.errors import BackboneError, ConfigError, DataError
from headstart.specs import pooling_modes

ST_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max", "pooling_mode_mean_tokens": "mean",
                   "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len", "pooling_mode_weightedmean_tokens": "weightedmean",
                   "pooling_mode_lasttoken": "lasttoken"}
ACTIVATIONS = {"Tanh": nn.Tanh, "Identity": nn.Identity, "ReLU": nn.ReLU, "GELU": nn.GELU, "Sigmoid": nn.Sigmoid}


def is_causal(config: Any) -> bool:
    """Whether a transformers config describes a decoder-only LM (its saved architecture is ``*ForCausalLM``)."""
    return any(str(a).endswith("ForCausalLM") for a in (getattr(config, "architectures", None) or []))


def pool(hidden: torch.Tensor, mask: torch.Tensor, modes: tuple[str, ...]) -> torch.Tensor:
    """(B, T, d) hidden states and (B, T) attention mask -> (B, len(modes)·d), each mode as sentence-transformers
    computes it."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    counts = m.sum(1).clamp_min(1.0)
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(hidden[:, 0])
        elif mode == "max":
            out.append(hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(1).values)
        elif mode == "mean":
            out.append((hidden * m).sum(1) / counts)
        elif mode == "mean_sqrt_len":
            out.append((hidden * m).sum(1) / counts.sqrt())
        elif mode == "weightedmean":
            w = m * torch.arange(1, hidden.shape[1] + 1, device=hidden.device, dtype=hidden.dtype).view(1, -1, 1)
            out.append((hidden * w).sum(1) / w.sum(1).clamp_min(1.0))
        else:  # lasttoken: the last real token of each row
            last = (mask.sum(1) - 1).clamp_min(0)
            out.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
    return torch.cat(out, -1) if len(out) > 1 else out[0]


class Dense(nn.Module):
    """A sentence-transformers Dense module: ``activation(linear(x))``."""

    def __init__(self, linear: nn.Linear, activation: str) -> None:
        super().__init__()
        self.linear = linear
        self.activation_name = activation
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x))


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
                 max_length: int = 128, pretrained: bool = True, weights: str | None = None,
                 dense: list[Dense] | None = None, normalize: bool = False) -> None:
        super().__init__()
        self.modes = pooling_modes(pooling)
        if max_length < 2:
            raise ConfigError(f"max_length must be >= 2, got {max_length!r}; try --max-length 128")
        model_max = getattr(tokenizer, "model_max_length", None) or 10**9
        max_positions = getattr(model.config, "max_position_embeddings", None) or 10**9
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        self.weights = weights  # fingerprint of a local folder's weight files: retrained in place, a new identity
        self.pooling = "+".join(self.modes)
        self.max_length = min(max_length, model_max, max_positions)
        self.pretrained = pretrained
        self.dense = nn.ModuleList(dense or [])
        self.normalize = normalize
        self.dim = int(self.dense[-1].linear.out_features) if len(self.dense) else int(model.config.hidden_size) * len(self.modes)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def blocks(self) -> list[nn.Module]:
        """[embeddings, layer 1, …, layer L]: the input side first."""
        embeddings = getattr(self.model, "embeddings", None) or getattr(self.model, "embed_tokens", None)  # BERT / decoder LMs
        layers = _transformer_layers(self.model)
        return ([embeddings] if embeddings is not None else []) + list(layers)

    def encode(self, inputs: list[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_length`` (special tokens included), not padded. A text pair (two texts
        joined by ``PAIR_SEP``: ``--text-column premise,hypothesis``) is encoded as the tokenizer encodes pairs
        ([CLS] a [SEP] b [SEP] for BERT), truncating the longer text first."""
        texts = list(inputs)
        at = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)  # an index: the odd value may be None
        if at is not None:
            odd = texts[at]
            raise DataError(f"a text model reads strings, got {type(odd).__name__} {odd!r:.40} among the inputs; pass texts "
                            "(str), e.g. [str(x) for x in inputs]")
        pairs = [t.split(PAIR_SEP, 1) if PAIR_SEP in t else None for t in texts]
        if not any(pairs):
            return self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)["input_ids"]
        out: list[list[int]] = []
        for text, pair in zip(texts, pairs):
            args = pair if pair else [text]
            out.append(self.tokenizer(*args, truncation=True, max_length=self.max_length, padding=False)["input_ids"])
        return out

    def collate(self, encoded: list[list[int]]) -> dict[str, torch.Tensor]:
        """Pad to the longest sequence in the batch (dynamic padding), with the attention mask; with segment ids
        (``token_type_ids``: 1 after the first separator) when a row is a text pair and the model has segments."""
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            mask[row, : len(ids)] = 1
        batch = {"input_ids": input_ids, "attention_mask": mask}
        sep = getattr(self.tokenizer, "sep_token_id", None)
        if sep is not None and int(getattr(self.model.config, "type_vocab_size", 0) or 0) >= 2:
            seps = (input_ids == sep) & (mask == 1)
            if bool((seps.sum(1) >= 2).any()):  # a pair: the second segment starts after the first separator
                batch["token_type_ids"] = ((seps.long().cumsum(1) - seps.long()) >= 1).long() * mask
        return batch

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        extra = {"token_type_ids": batch["token_type_ids"]} if "token_type_ids" in batch else {}
        hidden = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **extra).last_hidden_state
        hidden = hidden[:, hidden.shape[1] - batch["attention_mask"].shape[1]:]  # drop virtual tokens (prompt tuning)
        features = pool(hidden, batch["attention_mask"], self.modes)
        for layer in self.dense:
            features = layer(features)
        return torch.nn.functional.normalize(features, dim=-1) if self.normalize else features

    def fresh(self, seed: int) -> "TextBackbone":
        """The same architecture and tokenizer with weights drawn by the model's own initialiser."""
        from transformers import AutoModel

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModel.from_config(self.model.config)
            dense = [Dense(nn.Linear(d.linear.in_features, d.linear.out_features, bias=d.linear.bias is not None), d.activation_name)
                     for d in self.dense]
        return TextBackbone(model, self.tokenizer, name=self.name, source=self.source, pooling=self.pooling,
                            max_length=self.max_length, pretrained=False, weights=self.weights, dense=dense,
                            normalize=self.normalize)

    def describe(self) -> dict[str, Any]:
        identity = {"name": self.name, "source": self.source, "pooling": self.pooling, "max_length": self.max_length,
                    "pretrained": self.pretrained, "dim": self.dim}
        pipeline = {"dense": [[d.linear.in_features, d.linear.out_features, d.activation_name] for d in self.dense]} if len(self.dense) else {}
        return identity | pipeline | ({"normalize": True} if self.normalize else {}) | ({"weights": self.weights} if self.weights else {})


def _transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder's list of layers: the longest ``nn.ModuleList`` in the model."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise BackboneError(f"cannot find the layer list of {type(model).__name__}; depth-wise strategies need one")
    return max(lists, key=len)


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
                       fingerprint: bool = False, st_modules: bool = True, quantize: bool = False) -> TextBackbone:
    """Load an encoder and its tokenizer from a local HF or sentence-transformers directory.

    Args:
        st_modules: read a sentence-transformers folder's Dense and Normalize modules (``read_pipeline``); False reads
            its pooling only (the built-in all-minilm-l6-v2: the features every stored result was measured on).
        quantize: every linear layer loaded straight into NF4 (``quantize.load_quantized``: the fp32 base never held).
        fingerprint: put a hash of the weight files into the identity (``weights_fingerprint``): for folders the user
            gives, whose content may change under the same path; registered backbones are pinned by their name.

    Raises:
        BackboneError: the folder has no config / weights / tokenizer, or the weights are corrupt.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    directory = Path(directory)
    pipeline = read_pipeline(directory) if st_modules else Pipeline(pooling=detect_pooling(directory))
    pooling = pooling or pipeline.pooling
    dense = [load_dense(folder) for folder in pipeline.dense]
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
        if quantize:
            from headstart.quantize import load_quantized

            model = load_quantized(directory)
        else:
            model = AutoModel.from_pretrained(directory, use_safetensors=True, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError) as e:
        raise BackboneError(f"cannot load the model in {str(directory)!r}: {str(e).splitlines()[0][:200]}; check its files") from None
    except Exception as e:  # safetensors raises its own error type on truncated files
        raise BackboneError(f"cannot load the model in {str(directory)!r} ({type(e).__name__}: {str(e)[:200]}); the weights may be corrupt") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval()
    chosen = pooling or ("lasttoken" if is_causal(model.config) else "mean")  # a causal LM's last token has read the whole text
    files = weights + [folder / "model.safetensors" for folder in pipeline.dense]
    return TextBackbone(model, tokenizer, name=name, source=str(directory.resolve()), pooling=chosen, max_length=max_length,
                        weights=weights_fingerprint(files) if fingerprint else None, dense=dense,
                        normalize=pipeline.normalize)
