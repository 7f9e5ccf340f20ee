"""``headstart export RUN --format hf|sentence-transformers|onnx --out DIR``: a trained run as a folder another library loads.

The folder holds ``config.json`` (the encoder's own config inside a ``headstart`` config, the pooling, Dense layers,
Normalize, labels), ``model.safetensors`` (encoder with any LoRA folded in, Dense layers, classifier), the tokenizer,
``modeling_headstart.py`` (``headstart/export_modeling.py``: transformers has no class that pools as
sentence-transformers does) and a README.md model card. ``AutoModelForSequenceClassification.from_pretrained(DIR,
trust_remote_code=True)`` gives headstart's outputs. ``--format sentence-transformers`` writes a folder that library
loads (Transformer, Pooling, the run's Dense and Normalize modules, and the head as a last Dense: ``encode`` returns the
run's logits). ``--format onnx`` (the ``onnx`` extra) writes the same model as ``model.onnx`` (torch's dynamo exporter;
batch and sequence axes dynamic; ``input_ids``, ``attention_mask`` -> ``logits``), the tokenizer, a small
``config.json`` (labels, max_length, task) and the card. Every format's tokenizer has the run's max_length as its
``model_max_length`` (``export_hf.plain_tokenizer``), so ``truncation=True`` cuts each text where the run did (the hf
folder's own text-classification pipeline, named in its config, passes it unasked). Each
export is loaded back and checked on the run's own validation inputs (fixed sentences where its data cannot be read:
``output_checks.check_texts``), tokenized as a user would (``truncation=True``), before it is kept (``tolerance`` on
probabilities, or on logits; ONNX in three batchings, so other batch sizes and padded lengths than the traced one),
and nothing is left behind when the check fails.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from headstart.atomic import fresh_folder, publish
from headstart.callable_module import make_callable
from headstart.errors import ConfigError
from headstart.export_hf import check_hf_folder, plain_tokenizer, refuse_beyond, run_metrics, write_hf
from headstart.model_card import model_card
from headstart.outdir import as_folder
from headstart.output_checks import ExportReport
from headstart.report.mdtext import md_text
from headstart.export_refusal import image_run, no_linear_head, refusal  # noqa: F401  (refusal: export's own check)
from headstart.run_meta import as_run_path

# Default largest difference per format. ONNX Runtime fuses LayerNorm, GELU and attention into kernels that sum in
# another order than torch: about 1e-7 on probabilities, so 1e-4 still catches a wrong graph (0.1 and more).
TOLERANCES = {"hf": 1e-5, "sentence-transformers": 1e-5, "onnx": 1e-4}
FORMATS = tuple(TOLERANCES)
ST_POOLING_KEYS = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens", "mean": "pooling_mode_mean_tokens",
                   "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens", "weightedmean": "pooling_mode_weightedmean_tokens",
                   "lasttoken": "pooling_mode_lasttoken"}


def export(directory: str | Path, out: str | Path, *, format: str = "hf", tolerance: float | None = None,
           inputs: int = 64, progress: Any = None) -> ExportReport:
    """Write run ``directory`` to ``out`` in ``format``; mirrors ``headstart export``.

    Args:
        tolerance: largest difference allowed to the run's outputs; None: the format's default (``TOLERANCES``).
        progress: the export's stages as ``sft``'s ``progress``: True a bar on stderr, None or False none, a function
            ``(done, total, info)`` told each (``progress.Stages``). An sft / prefer run's: loading, its logits on the
            check's sequences, merging, saving, loading back, the folder's logits (both logits passes counted in
            sequences); a classifier's, after its refusals (read from its spec.json before it loads): loading, its
            outputs on the check's inputs, merging its adapter, saving (or exporting to ONNX), loading the folder back
            and comparing its outputs.

    Raises:
        ConfigError: an unknown format, ``out`` already there, a run that cannot be exported (images, prompts,
            4-bit base, houlsby adapters, k-NN or TF-IDF heads), outputs that differ by more than ``tolerance`` (nothing written), or
            ``--format onnx`` without the onnx extra. An sft / prefer run exports as ``hf`` only
            (``headstart.llm.merge.export``: a folder ``AutoModelForCausalLM`` loads, its LoRA merged in).
    """
    from headstart.llm.runs import is_lm_run
    from headstart.progress import Stages, check_progress, progress_callback

    check_progress(progress)
    directory = as_run_path(directory, name="directory", example="headstart.export('runs/lp64', 'exports/lp64')",
                            unsaved="fit again with out='runs/NAME' and export that folder")
    out = as_folder(out)
    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}; e.g. --format hf")
    lm = is_lm_run(directory)
    if lm:  # a causal LM: a folder AutoModelForCausalLM loads, its LoRA merged in
        if format != "hf":
            raise ConfigError(f"{str(directory)!r} is an sft / prefer run (a causal LM); export writes it as --format hf "
                              f"only (a folder transformers' AutoModelForCausalLM loads), not {format}")
    elif format == "onnx":
        from headstart.export_onnx import require_onnx

        require_onnx()
    with progress_callback(progress, "export") as update:  # True: the CLI's bar
        if lm:
            from headstart.llm import merge as lm_merge

            return lm_merge.export(directory, out, tolerance=tolerance, inputs=inputs, progress=update)
        return _export_encoder(directory, out, format=format, tolerance=tolerance, inputs=inputs, stages=Stages(update))


def _export_encoder(directory: str | Path, out: str | Path, *, format: str, tolerance: float | None, inputs: int,
                    stages: Any) -> ExportReport:
    """``export`` of a classifier run (a transformers text encoder and its head), each stage told to ``stages`` (a
    ``progress.Stages``)."""
    from headstart.output_checks import (VALIDATION_ROWS, check_inputs, check_texts, check_tolerance, checked_on_text, precision_gap,
                                         run_autocast)
    from headstart.outdir import check_new
    from headstart.run_meta import read_meta
    from headstart.saved import load_run
    from headstart.strategies import get_strategy

    tolerance = TOLERANCES[format] if tolerance is None else tolerance
    check_tolerance(tolerance)
    directory, out = Path(directory), Path(out)
    check_inputs(inputs, "the export")
    check_new(out, "the export", source=directory)
    meta = read_meta(directory)  # what export refuses is read from spec.json (and adapter_config.json) before the load
    strategy = get_strategy(meta["resolved"]["strategy"])
    why = refusal(directory, meta)
    if why is not None:
        raise ConfigError(why)
    stages.said("loading the run")
    run = load_run(directory)
    backbone = run.model.backbone  # what only the loaded model says: a backbone folder's kind, its head's
    if getattr(backbone, "modality", "text") == "image":
        raise image_run(directory)
    if not hasattr(getattr(backbone, "model", None), "config"):
        raise ConfigError(f"{str(directory)!r} is not a run on a transformers text encoder, which every --format of export "
                          "writes; serve it with headstart predict")
    if strategy.solved and type(run.model.head) is not torch.nn.Linear:
        raise no_linear_head(directory, strategy.name)
    texts, checked_on = check_texts(run, inputs, what="the export")
    stages.said(f"the run's outputs on {len(texts)} inputs")
    reference = _probabilities(run.model, texts, run.task)
    precision, autocast = run_autocast(run)  # the export runs in fp32: how far the run's own predictions are from that
    at_precision = None if autocast is None else precision_gap(_probabilities(run.model, texts, run.task, autocast), reference,
                                                               precision, run.task)
    encoder = backbone.model
    if hasattr(encoder, "merge_and_unload"):
        stages.said("merging its adapter into the encoder")
        encoder = encoder.merge_and_unload(safe_merge=True)
    tmp = fresh_folder(out, "export.tmp")  # our own new folder: never one of the user's, never a planted link
    on = "the run's validation inputs" if checked_on == VALIDATION_ROWS else checked_on_text(len(texts), checked_on)
    stages.said("exporting the model to ONNX" if format == "onnx" else "saving the model")

    def told(check: Any) -> Any:  # the writers call ``check(folder)`` once, after writing
        def checked(folder: Path) -> float:
            stages.said("loading the written folder back and comparing its outputs")
            return check(folder)

        return checked

    try:
        if format == "hf":
            diff = write_hf(run, encoder, tmp, out, check=told(lambda d: check_hf_folder(d, texts, reference, run.task)),
                            tolerance=tolerance, on=on)
        elif format == "sentence-transformers":
            diff = _export_st(run, encoder, tmp, out, check=told(lambda d: _check_st(d, texts, _logits_of(run, texts))),
                              tolerance=tolerance, on=on)
        else:
            from headstart import export_onnx

            diff = export_onnx.export_onnx(run, encoder, tmp, out, texts=texts, tolerance=tolerance, on=on,
                                           check=told(lambda d: export_onnx.check_onnx(d, texts, reference, run.task)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportReport(str(out), diff, len(texts), tolerance, at_precision, tokenizer=type(backbone.tokenizer).__name__,
                        checked_on=checked_on)


def _logits_of(run: Any, texts: list[str]) -> torch.Tensor:
    """The run's head outputs (regression: in the targets' units), as the sentence-transformers export's last Dense gives them."""
    from headstart.output_checks import logits_of

    logits = logits_of(run.model, texts)
    if run.task == "regression":
        return logits * run.model.target_std + run.model.target_mean
    return logits


def _export_st(run: Any, encoder: torch.nn.Module, tmp_dir: Path, out: Path, *, check: Any, tolerance: float,
               on: str = "the run's validation inputs") -> float:
    """A sentence-transformers folder: Transformer, Pooling, the run's Dense layers and Normalize, and the head as a last
    Dense (identity activation) whose outputs are the run's logits (softmax them for class probabilities); written into
    ``tmp_dir``, checked (``check(tmp_dir)`` -> largest difference), moved to ``out``. Returns the difference."""
    from safetensors.torch import save_file

    from headstart.atomic import write_atomic

    backbone, head = run.model.backbone, run.model.head
    tmp_dir.mkdir(parents=True, exist_ok=True)  # fresh_folder made it
    tmp_transformer = tmp_dir / "0_Transformer"
    encoder.save_pretrained(tmp_transformer, safe_serialization=True)
    backbone.tokenizer.save_pretrained(tmp_transformer)
    plain_tokenizer(tmp_transformer, type(backbone.tokenizer).__name__, max_length=backbone.max_length)
    write_atomic(tmp_transformer / "sentence_bert_config.json",
                 json.dumps({"max_seq_length": backbone.max_length, "do_lower_case": False}).encode())
    modules = [{"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"}]
    (tmp_dir / "1_Pooling").mkdir()
    hidden = int(encoder.config.hidden_size)
    write_atomic(tmp_dir / "1_Pooling" / "config.json", json.dumps({"word_embedding_dimension": hidden, **{
        key: mode in backbone.modes for mode, key in ST_POOLING_KEYS.items()}}).encode())
    modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})
    layers = [(d.linear, d.activation_name) for d in backbone.dense]
    for i, (linear, activation) in enumerate(layers + [(head, "Identity")]):
        if i == len(layers) and backbone.normalize:  # Normalize comes before the head, as in the run
            modules.append({"idx": len(modules), "name": str(len(modules)), "path": f"{len(modules)}_Normalize",
                            "type": "sentence_transformers.models.Normalize"})
        tmp_dense = tmp_dir / f"{len(modules)}_Dense"
        tmp_dense.mkdir()
        weight, bias = linear.weight, linear.bias
        if linear is head and run.task == "regression":  # the head's outputs are standardised: fold the scaling in
            std, mean = float(run.model.target_std), float(run.model.target_mean)
            weight, bias = weight * std, bias * std + mean
        save_file({"linear.weight": weight.detach().contiguous().cpu(),
                   **({"linear.bias": bias.detach().contiguous().cpu()} if bias is not None else {})},
                  str(tmp_dense / "model.safetensors"))
        kind = "linear" if activation == "Identity" else "activation"
        write_atomic(tmp_dense / "config.json", json.dumps({
            "in_features": linear.in_features, "out_features": linear.out_features, "bias": bias is not None,
            "activation_function": f"torch.nn.modules.{kind}.{activation}"}).encode())
        modules.append({"idx": len(modules), "name": str(len(modules)), "path": tmp_dense.name,
                        "type": "sentence_transformers.models.Dense"})
    write_atomic(tmp_dir / "modules.json", json.dumps(modules, indent=2).encode())
    scale = " (in the targets' units)" if run.task == "regression" else ""
    labels = ", ".join(md_text(n) for n in run.label_names) if run.task != "regression" else "the value"
    how = ("```python\nfrom sentence_transformers import SentenceTransformer\n"
           "logits = SentenceTransformer(PATH).encode(texts, convert_to_tensor=True)\n```\n\n"
           f"The last Dense module is the run's classifier: `encode` returns its outputs{scale}, one per label ({labels}), "
           "not an embedding; softmax them for class probabilities. The modules before it give the encoder's features.")
    write_atomic(tmp_dir / "README.md", model_card(run.meta, run_metrics(run), how=how).encode())
    diff = check(tmp_dir)
    refuse_beyond(diff, tolerance, on=on)
    publish(tmp_dir, out)  # the whole folder, checked, moved into place at once
    return diff


def _check_st(folder: Path, texts: list[str], reference: torch.Tensor) -> float:
    """Load the folder with sentence-transformers and compare its outputs with the run's logits."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError("--format sentence-transformers is checked with the library itself: pip install sentence-transformers") from None
    got = SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_tensor=True).float().cpu()
    return float((got.reshape(reference.shape) - reference).abs().max())


def _probabilities(model: torch.nn.Module, texts: list[str], task: str, autocast: Any = None) -> torch.Tensor:
    from headstart.output_checks import logits_of

    logits = logits_of(model, texts, autocast)
    if task == "classification":
        return torch.softmax(logits, -1)
    if task == "multilabel":
        return torch.sigmoid(logits)
    return logits.squeeze(-1) * model.target_std + model.target_mean


make_callable(__name__, export)  # headstart.export(...) mirrors headstart export; the module stays importable
