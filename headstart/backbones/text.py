"""Hugging Face text encoders (BERT-like AutoModel or a sentence-transformers folder) as backbones.

Features pool the last hidden states over real tokens: "mean" (sentence-transformers' default), "cls" (the first
token), "max", "mean_sqrt_len" (the sum over √length), "weightedmean" (position-weighted) or "lasttoken"; several
modes joined by "+" are concatenated in sentence-transformers' order. A sentence-transformers folder is read as that
library reads it (``st_folder.read_pipeline``): its Pooling modes, then its Dense layers (weights from safetensors),
then its Normalize; a module of another kind is refused by name rather than skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.backbones.base import weights_fingerprint
from headstart.backbones.st_folder import Dense, Pipeline, detect_pooling, load_dense, read_pipeline, transformer_dir
from headstart.data.dataset import PAIR_SEP
from headstart.errors import BackboneError, ConfigError, DataError
from headstart.specs import pooling_modes


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
            raise ConfigError(f"--max-length must be >= 2, got {max_length!r}; try --max-length 128")
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
            out = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)["input_ids"]
        else:
            out = []
            for text, pair in zip(texts, pairs):
                args = pair if pair else [text]
                out.append(self.tokenizer(*args, truncation=True, max_length=self.max_length, padding=False)["input_ids"])
        _note_cut(out, self.max_length)
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
        BackboneError: the folder has no config / weights / tokenizer, the weights are corrupt, or its model is code
            of the folder's own (``custom_code.refuse_custom_code``: never run, never asked about).
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from headstart.backbones.custom_code import refuse_custom_code

    directory = Path(directory)
    pipeline = read_pipeline(directory) if st_modules else Pipeline(pooling=detect_pooling(directory))
    pooling = pooling or pipeline.pooling
    dense = [load_dense(folder) for folder in pipeline.dense]
    directory = transformer_dir(directory)
    if not (directory / "config.json").exists():
        raise BackboneError(f"{str(directory)!r} has no config.json; give a Hugging Face or sentence-transformers model folder")
    refuse_custom_code(directory, named=repr(str(directory)))
    weights = list(directory.glob("*.safetensors"))
    if not weights:
        pickled = [p.name for p in directory.glob("*.bin")] + [p.name for p in directory.glob("*.pt")]
        hint = f" (found {', '.join(pickled)}: pickle-based weights are not loaded; convert them to safetensors)" if pickled else ""
        raise BackboneError(f"{str(directory)!r} has no .safetensors weights{hint}")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were not used" (pooler etc.) is noise here
    hf_logging.disable_progress_bar()  # a bar for loading 100 tensors from local disk is noise too
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=False)
        if quantize:
            from headstart.quantize import load_quantized

            model = load_quantized(directory)
        else:
            model = AutoModel.from_pretrained(directory, use_safetensors=True, dtype=torch.float32, trust_remote_code=False)
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


_CUT_SAID: set[tuple[int, int, int]] = set()  # (texts, cut, max_length): a sweep encodes one dataset once per backbone, said once


def _note_cut(encoded: list[list[int]], max_length: int) -> None:
    """Says (a ``note:`` line) how many texts reach ``max_length`` tokens, where the tokenizer cut them: without it a
    long document is scored on its first few sentences unannounced. A text exactly that long counts too (telling it
    from a cut one would take a second, untruncated tokenisation)."""
    cut = sum(len(ids) >= max_length for ids in encoded)
    if not cut or (len(encoded), cut, max_length) in _CUT_SAID:
        return
    _CUT_SAID.add((len(encoded), cut, max_length))
    logging.getLogger("headstart.data.files").info(
        "%d of %d texts (%.0f%%) reach --max-length %d tokens and are cut there; a run trained with a longer "
        "--max-length reads more of each, at more memory and time", cut, len(encoded), 100 * cut / len(encoded), max_length)
