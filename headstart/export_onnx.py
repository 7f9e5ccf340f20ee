"""``headstart export RUN --format onnx``: the hf export's model as ``model.onnx`` (torch's dynamo exporter; batch and
sequence axes dynamic; ``input_ids``, ``attention_mask`` -> ``logits``), the tokenizer, a small ``config.json`` and the
card, checked in onnxruntime in three batchings before it is kept (``headstart.export`` drives it; the model is ``export_hf``'s)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from headstart.atomic import publish
from headstart.errors import ConfigError
from headstart.export_hf import comparable_outputs, hf_model, plain_tokenizer, refuse_beyond, run_metrics
from headstart.model_card import model_card
from headstart.report.mdtext import md_text

ONNX_MISSING = "--format onnx needs the onnx extra: pip install 'headstart[onnx]'"


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401  (torch's exporter writes with it)
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401  (torch's dynamo exporter translates with it)
    except ImportError:
        raise ConfigError(ONNX_MISSING) from None


class _Logits(torch.nn.Module):
    """input_ids, attention_mask (B, T) -> logits (B, labels): the traced signature, without the output dataclass."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_onnx(run: Any, encoder: torch.nn.Module, tmp_dir: Path, out: Path, *, texts: list[str], check: Any,
                tolerance: float, on: str = "the run's validation inputs") -> float:
    """``model.onnx`` (the hf export's model; batch and sequence axes dynamic), the tokenizer, ``config.json`` and
    README.md written into ``tmp_dir``, checked (``check(tmp_dir)``), moved to ``out``; the difference.

    The graph is traced on the two longest validation texts: a batch of 2 and a length above 1, which torch.export
    would otherwise specialise to constants. Pair runs are refused before, so no ``token_type_ids`` input.
    """
    from headstart.atomic import write_atomic

    backbone = run.model.backbone
    model = _Logits(hf_model(run, encoder)).eval()
    tmp_dir.mkdir(parents=True, exist_ok=True)  # fresh_folder made it
    backbone.tokenizer.save_pretrained(tmp_dir)
    plain_tokenizer(tmp_dir, type(backbone.tokenizer).__name__, max_length=backbone.max_length)
    sample = backbone.tokenizer((sorted(texts, key=len)[-2:] * 2)[:2], padding=True, truncation=True,
                                max_length=backbone.max_length, return_tensors="pt")
    axes = {0: "batch", 1: "sequence"}
    # protobuf caps one file at 2 GB: a larger model keeps its weights in model.onnx.data beside model.onnx
    large = sum(p.numel() * p.element_size() for p in model.parameters()) > 1_800_000_000
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    try:
        exporter_log.setLevel(logging.ERROR)  # its notes on torchvision ops and axis names are not the user's concern
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (sample["input_ids"], sample["attention_mask"]), str(tmp_dir / "model.onnx"),
                              dynamo=True, verbose=False, input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_shapes={"input_ids": axes, "attention_mask": axes}, external_data=large)
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(f"torch.onnx.export could not export {type(encoder).__name__}: {first}; "
                          "export it with --format hf instead") from error
    finally:
        exporter_log.setLevel(level)
    labels = list(run.label_names) if run.task != "regression" else ["value"]
    write_atomic(tmp_dir / "config.json", json.dumps({
        "format": "headstart-onnx", "task": run.task, "inputs": ["input_ids", "attention_mask"], "output": "logits",
        "id2label": dict(enumerate(labels)), "max_length": backbone.max_length}, indent=2).encode())
    then = {"classification": "softmax them for class probabilities",
            "multilabel": "a sigmoid of each gives that label's probability",
            "regression": "the one column is the value, in the targets' units"}[run.task]
    how = ("```python\nimport onnxruntime\nfrom transformers import AutoTokenizer\n"
           "session = onnxruntime.InferenceSession(f'{PATH}/model.onnx', providers=['CPUExecutionProvider'])\n"
           "tokenizer = AutoTokenizer.from_pretrained(PATH)\n"
           f"batch = tokenizer(texts, padding=True, truncation=True, max_length={backbone.max_length}, return_tensors='np')\n"
           "logits = session.run(['logits'], {'input_ids': batch['input_ids'], 'attention_mask': batch['attention_mask']})[0]\n"
           f"```\n\n`logits` has one column per label ({', '.join(md_text(n) for n in labels)}; `id2label` in config.json): {then}. Any batch "
           f"size and sequence length up to {backbone.max_length} tokens (the tokenizer's `model_max_length`: `truncation=True` "
           "alone cuts there). The graph is the encoder ({'+'.join(backbone.modes)} "
           "pooling" + (", Dense" if len(backbone.dense) else "") + (", Normalize" if backbone.normalize else "")
           + f") and the head; it was checked against the run to {tolerance:g} before this folder was written.")
    write_atomic(tmp_dir / "README.md", model_card(run.meta, run_metrics(run), how=how).encode())
    diff = check(tmp_dir)
    refuse_beyond(diff, tolerance, on=on)
    publish(tmp_dir, out)  # the whole folder, checked, moved into place at once
    return diff


def check_onnx(folder: Path, texts: list[str], reference: torch.Tensor, task: str) -> float:
    """Run ``model.onnx`` in onnxruntime (CPU) on the texts, tokenized by the folder's tokenizer (its model_max_length
    the run's max_length), all at once, in batches
    of 7 and one by one (batch sizes and padded lengths the trace never saw); the largest difference to the run's."""
    import numpy as np
    import onnxruntime
    from transformers import AutoTokenizer

    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    diff = 0.0
    for size in (len(texts), 7, 1):
        logits = []
        for start in range(0, len(texts), size):
            batch = tokenizer(texts[start:start + size], padding=True, truncation=True, return_tensors="np")
            logits.append(session.run(["logits"], {name: batch[name].astype(np.int64) for name in names})[0])
        got = comparable_outputs(torch.from_numpy(np.concatenate(logits)), task)
        diff = max(diff, float((got - reference).abs().max()))
    return diff
