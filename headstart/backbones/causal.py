"""Causal language models (decoder-only: SmolLM2, Gemma 3, a local causal-LM folder or GGUF file) as backbones.

A causal LM reads left to right, so the hidden state of a text's last real token is the one that has seen all of
it: ``lasttoken`` pooling is these backbones' default (as ``LlamaForSequenceClassification`` does; right padding
keeps the last real token at ``mask.sum() - 1``). The backbone is the LM's trunk (``AutoModel``: the decoder
without its vocabulary projection); ``lm_head_weight`` gives the projection back to the arms that score words.

GGUF files hold quantised weights; transformers' GGUF reader dequantises them to fp32 on load (~20 s for SmolLM2's
135M parameters). ``gguf_folder`` does that once per file and caches the result as an ordinary safetensors folder
under ``$HEADSTART_CACHE/models/<stem>-<hash of the file>``; later loads read that folder in a fraction of a second.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import torch

from headstart.atomic import fresh_folder, share_files
from headstart.errors import BackboneError


def converted_folder(path: Path) -> Path:
    """Where ``gguf_folder`` keeps the GGUF file ``path`` converted, whether or not it is there yet:
    ``$HEADSTART_CACHE/models/<stem>-<hash of the file>``."""
    from headstart.backbones.base import weights_fingerprint
    from headstart.cache import cache_dir

    return cache_dir() / "models" / f"{path.stem}-{weights_fingerprint([path])}"


def gguf_folder(path: Path) -> Path:
    """The cached safetensors folder of the GGUF file ``path``, converting it on first use.

    Raises:
        BackboneError: no such file, a file that is not GGUF or is damaged / truncated, the ``gguf`` reader is not
            installed, or transformers cannot read this file's architecture.
    """
    from headstart.backbones.naming import backbone_named

    path = Path(path)
    if not path.is_file():
        raise BackboneError(f"{backbone_named(str(path))}: no such file; check the path (or use smollm2-135m / gemma3-270m)")
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:  # before the weights are hashed and the reader starts
            raise BackboneError(f"{str(path)!r} is not a GGUF file (it does not start with GGUF's magic bytes); give a .gguf "
                                "model file, or a causal-LM folder (config.json + *.safetensors)")
    target = converted_folder(path)
    if (target / "config.json").exists():
        return target
    try:
        import gguf  # noqa: F401  (transformers' GGUF reader needs it)
    except ImportError:
        raise BackboneError(f"reading {path.name!r} needs the gguf package; run: pip install 'headstart[llm]' (or make install)") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # one of headstart's notes: the CLI prints it as "note: ..." on stderr, Python callers' logging decides
    logging.getLogger(__name__).info("converting %s to a safetensors folder once (cached in %s)", path.name, target)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError, KeyError, struct.error) as e:
        if damaged(path):  # the reader's own error is a numpy reshape or struct unpack deep inside it
            raise BackboneError(f"the GGUF file {str(path)!r} is damaged or truncated ({path.stat().st_size:,} bytes, fewer "
                                "than its header says its tensors take); download or copy it again, whole") from None
        raise BackboneError(f"cannot read the GGUF file {str(path)!r}: {str(e).splitlines()[0][:200]}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    # The weights are plain fp32 now; transformers refuses to save a model it still marks as GGUF-quantised.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    tmp = fresh_folder(target, "tmp")  # new: no planted link followed
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        share_files(tmp)  # readable as any file the user makes
    except BaseException:  # a failed conversion leaves no half folder (0.5 GB) behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.replace(tmp, target)
    except OSError:  # another process converted it meanwhile: theirs is the same file
        shutil.rmtree(tmp, ignore_errors=True)
    return target


GGUF_MAGIC = b"GGUF"
# GGUF's metadata value types: the bytes of each fixed-size one (8: a string, 9: an array, read apart)
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_file_type(path: Path) -> str | None:
    """The quantisation a GGUF file's header names (its ``general.file_type``: "Q4_1", "Q4_K_M", "F16", "F32"), read
    from the header alone (milliseconds; gguf's reader maps every tensor, ~10 s); None where the file is not here, not
    GGUF version 2 or later, or does not say."""
    import struct as st

    def read(f: Any, fmt: str) -> Any:
        return st.unpack("<" + fmt, f.read(st.calcsize(fmt)))[0]

    def skip(f: Any, kind: int) -> None:
        if kind == 8:
            f.seek(read(f, "Q"), 1)
        elif kind == 9:
            inner, count = read(f, "I"), read(f, "Q")
            if inner in _GGUF_SIZES:
                f.seek(_GGUF_SIZES[inner] * count, 1)
            else:
                for _ in range(count):
                    skip(f, inner)
        else:
            f.seek(_GGUF_SIZES[kind], 1)

    try:
        with open(path, "rb") as f:
            if f.read(4) != GGUF_MAGIC or read(f, "I") < 2:
                return None
            read(f, "Q")  # tensors
            for _ in range(read(f, "Q")):
                key = f.read(read(f, "Q")).decode("utf-8", "replace")
                kind = read(f, "I")
                if key == "general.file_type" and kind in (4, 5):
                    value = read(f, "I" if kind == 4 else "i")
                    break
                skip(f, kind)
            else:
                return None
    except (OSError, KeyError, st.error, OverflowError, ValueError):
        return None
    try:
        import gguf

        return gguf.LlamaFileType(value).name.removeprefix("MOSTLY_").removeprefix("ALL_")
    except (ImportError, ValueError):
        return f"file type {value}"


def damaged(path: Path) -> bool:
    """Whether the GGUF file ``path`` is cut short: its header unreadable, or its tensors reaching past its end. The
    reader maps the file and parses its header and tensor table (~2 s for SmolLM2's), so it runs only once reading failed."""
    import gguf

    try:
        reader = gguf.GGUFReader(path)
    except Exception:  # noqa: BLE001 - the header or tensor table itself is cut: whatever the reader raised
        return True
    end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    return end > path.stat().st_size


def lm_head_weight(backbone: Any) -> torch.Tensor:
    """(vocabulary, d) the LM's output projection: the input embeddings when tied (SmolLM2, Gemma 3), else the
    ``lm_head.weight`` in its folder's safetensors.

    Raises:
        BackboneError: the backbone is not a causal LM, or its folder holds no ``lm_head.weight``.
    """
    from headstart.backbones.text import is_causal

    model = backbone.model
    if not is_causal(model.config):
        raise BackboneError(f"{backbone.name!r} is not a causal language model; scoring words needs one, e.g. --backbone smollm2-135m")
    if getattr(model.config, "tie_word_embeddings", False):
        return model.get_input_embeddings().weight
    from safetensors import safe_open

    for file in sorted(Path(backbone.source).glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            if "lm_head.weight" in f.keys():
                return f.get_tensor("lm_head.weight").to(model.get_input_embeddings().weight.device)
    raise BackboneError(f"{backbone.source!r} holds no lm_head.weight; give the causal LM's full folder")
