"""``headstart export RUN --format hf``: the run as one ``HeadstartForSequenceClassification`` (``export_modeling.py``,
copied into the folder as ``modeling_headstart.py``), the tokenizer as transformers' own class, and the card; loaded
back with ``AutoModelForSequenceClassification`` and checked before it is kept. The model and the checks here are also
what ``export_onnx`` traces and compares with (``headstart.export`` drives both)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from headstart.atomic import publish
from headstart.errors import ConfigError
from headstart.model_card import model_card


def refuse_beyond(diff: float, tolerance: float, *, on: str = "the run's validation inputs") -> None:
    """Raises ConfigError when the export's outputs differ from the run's by more than ``tolerance`` on the inputs ``on``
    says (``output_checks.checked_on_text``'s words where they were fixed sentences); nothing is kept."""
    if not diff <= tolerance:
        raise ConfigError(f"the exported model's outputs differ from the run's by {diff:.3g} (> tolerance {tolerance:g}) "
                          f"on {on}; nothing written")


def hf_model(run: Any, encoder: torch.nn.Module) -> torch.nn.Module:
    """The run as one ``HeadstartForSequenceClassification`` (encoder → pooling → Dense → Normalize → classifier, the
    regression scaling folded in), its weights the run's; what both the hf and the onnx export write."""
    from headstart.export_modeling import HeadstartConfig, HeadstartForSequenceClassification

    backbone = run.model.backbone
    head = run.model.head
    problem = {"classification": "single_label_classification", "multilabel": "multi_label_classification"}.get(run.task, "regression")
    labels = list(run.label_names) if run.task != "regression" else ["value"]
    config = HeadstartConfig(
        encoder=encoder.config.to_dict(), pooling=list(backbone.modes),
        dense=[[d.linear.in_features, d.linear.out_features, d.activation_name, d.linear.bias is not None] for d in backbone.dense],
        normalize=bool(backbone.normalize), encoder_pooler=getattr(encoder, "pooler", None) is not None, target_mean=float(run.model.target_mean), target_std=float(run.model.target_std),
        num_labels=head.out_features, id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
        problem_type=problem)
    config.auto_map = {"AutoConfig": "modeling_headstart.HeadstartConfig",
                       "AutoModelForSequenceClassification": "modeling_headstart.HeadstartForSequenceClassification"}
    # transformers' pipeline truncates only when called with truncation=True, and a pipeline reads no tokenizer
    # settings from a folder: this one, which pipeline() builds from the folder's code, truncates by default
    config.custom_pipelines = {"text-classification": {"impl": "modeling_headstart.HeadstartTextClassificationPipeline",
                                                       "pt": ["AutoModelForSequenceClassification"], "type": "text"}}
    model = HeadstartForSequenceClassification(config)
    model.encoder.load_state_dict(encoder.state_dict())
    model.dense.load_state_dict(backbone.dense.state_dict())
    model.classifier.load_state_dict(head.state_dict())
    return model


def write_hf(run: Any, encoder: torch.nn.Module, tmp_dir: Path, out: Path, *, check: Any, tolerance: float,
             on: str = "the run's validation inputs") -> float:
    """The transformers folder written into ``tmp_dir``, checked (``check(tmp_dir)``), moved to ``out``; the difference."""
    from headstart.atomic import write_atomic

    backbone = run.model.backbone
    model = hf_model(run, encoder)
    tmp_dir.mkdir(parents=True, exist_ok=True)  # fresh_folder made it
    model.save_pretrained(tmp_dir, safe_serialization=True)
    backbone.tokenizer.save_pretrained(tmp_dir)
    tokenizer = plain_tokenizer(tmp_dir, type(backbone.tokenizer).__name__, max_length=backbone.max_length)
    write_atomic(tmp_dir / "modeling_headstart.py", Path(__file__).with_name("export_modeling.py").read_bytes())
    how = (f"```python\nfrom transformers import AutoModelForSequenceClassification, {tokenizer}\n"
           f"model = AutoModelForSequenceClassification.from_pretrained(PATH, trust_remote_code=True)\n"
           f"tokenizer = {tokenizer}.from_pretrained(PATH)\n"
           f"logits = model(**tokenizer(texts, padding=True, truncation=True, max_length={backbone.max_length}, "
           "return_tensors='pt')).logits\n```\n\n"
           f"The tokenizer's `model_max_length` is {backbone.max_length}, the run's `--max-length`: `truncation=True` cuts each "
           "text where the run did. `pipeline('text-classification', model=PATH, trust_remote_code=True)` does so unasked: "
           "the folder's config names its pipeline class (`HeadstartTextClassificationPipeline` in `modeling_headstart.py`), "
           "transformers' own with `truncation=True` as its default (`truncation=False` reads whole texts, and fails past "
           "the encoder's positions). "
           f"`AutoTokenizer.from_pretrained(PATH)` alone asks whether to run `modeling_headstart.py`: transformers reads "
           "`config.json` before the tokenizer's files, and its `auto_map` is the model's code; "
           f"`AutoTokenizer.from_pretrained(PATH, trust_remote_code=False)` loads the same {tokenizer} without asking "
           "and runs no code. "
           "`trust_remote_code=True` (the model only: the tokenizer is transformers' own "
           "class) loads `modeling_headstart.py` from this folder: "
           f"transformers has no class that pools as this encoder does ({'+'.join(backbone.modes)}"
           + (", a Dense layer" if len(backbone.dense) else "") + (", Normalize" if backbone.normalize else "")
           + "). Read it before you trust it; it imports torch and transformers only.")
    write_atomic(tmp_dir / "README.md", model_card(run.meta, run_metrics(run), how=how).encode())
    diff = check(tmp_dir)
    refuse_beyond(diff, tolerance, on=on)
    publish(tmp_dir, out)  # the whole folder, checked, moved into place at once
    return diff


def plain_tokenizer(folder: Path, name: str, *, max_length: int) -> str:
    """Make ``folder``'s tokenizer transformers' own class ``name`` with no ``auto_map``, cutting at the run's
    ``max_length``; returns ``name``.

    A backbone folder's tokenizer_config.json may map AutoTokenizer to code of its own (or a Hub repo's), which
    ``save_pretrained`` copies. The export's check and its card load the tokenizer by its class, never through the
    folder's code (AutoTokenizer would also read config.json, whose auto_map is headstart's model code).
    ``save_pretrained`` also keeps the base tokenizer's ``model_max_length`` (512 for BERTs) and the ``max_length`` its
    tokenizer.json last truncated at: both become the run's ``max_length``, so ``truncation=True`` (a transformers
    ``pipeline``'s too) and the tokenizers library cut each text where the run did.
    """
    import transformers

    from headstart.atomic import write_atomic

    if not isinstance(getattr(transformers, name, None), type):
        raise ConfigError(f"the run's tokenizer is a {name}, not a transformers class, so no folder could load it without "
                          "running code; train the run on a backbone folder whose tokenizer transformers has, then export")
    path = folder / "tokenizer_config.json"
    settings = json.loads(path.read_text()) if path.exists() else {}
    settings.pop("auto_map", None)
    settings["tokenizer_class"] = name
    settings["model_max_length"] = settings["max_length"] = max_length
    write_atomic(path, json.dumps(settings, indent=2, ensure_ascii=False).encode())
    fast = folder / "tokenizer.json"
    if fast.exists():
        backend = json.loads(fast.read_text())
        backend["truncation"] = {"direction": "Left" if settings.get("truncation_side") == "left" else "Right",
                                 "max_length": max_length, "strategy": "LongestFirst", "stride": 0}
        write_atomic(fast, json.dumps(backend, ensure_ascii=False).encode())
    return name


def run_metrics(run: Any) -> dict[str, Any] | None:
    path = run.directory / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def comparable_outputs(logits: torch.Tensor, task: str) -> torch.Tensor:
    """What the run's predictions compare on: softmax (classification), sigmoid (multilabel), the value (regression)."""
    if task == "classification":
        return torch.softmax(logits, -1)
    if task == "multilabel":
        return torch.sigmoid(logits)
    return logits.squeeze(-1)


def check_hf_folder(folder: Path, texts: list[str], reference: torch.Tensor, task: str) -> float:
    """Load the folder as a user would and compare its outputs with the run's (truncated where the folder's tokenizer
    says: its model_max_length is the run's max_length)."""
    import transformers
    from transformers import AutoModelForSequenceClassification

    with _staging_name_unsaid():
        model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()  # headstart's own class
    name = json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"]  # plain_tokenizer's: never the folder's code
    tokenizer = getattr(transformers, name).from_pretrained(folder)
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits
    return float((comparable_outputs(logits, task) - reference).abs().max())


class _NotAnIdentifier(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "is not a valid Python identifier" not in record.getMessage()


@contextmanager
def _staging_name_unsaid() -> Iterator[None]:
    """transformers' warning that the folder it imports ``modeling_headstart.py`` from is not named as a Python
    identifier, kept from the load of the export's staging folder only (``.NAME.<pid>-<host>-<random>.hf`` beside
    ``--out``: a space in the name, "exp hf", said it twice, of a folder the user never sees). A user's own load of
    the export still says it of the export's name."""
    logger, unsaid = logging.getLogger("transformers.dynamic_module_utils"), _NotAnIdentifier()
    logger.addFilter(unsaid)
    try:
        yield
    finally:
        logger.removeFilter(unsaid)
