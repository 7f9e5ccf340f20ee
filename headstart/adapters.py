"""The adapter lifecycle: merge an adapter into its base (checked on real inputs), unmerge it, merge a plain PEFT
adapter into a model folder; listing and showing adapters is ``adapter_info`` (its ``find`` and ``inspect`` are
importable from here too, as the public ``headstart.adapters`` API), serving several adapters on one base in one
process is ``adapter_set.AdapterSet``.

A headstart adapter run directory is a PEFT adapter directory plus the task head and the run's record:
``adapter_config.json`` + ``adapter_model.safetensors`` (PEFT's format), ``weights.safetensors`` (head),
``spec.json`` and ``metrics.json``. A directory with only PEFT's two files (trained with plain PEFT) is a
"peft" adapter: it can be listed, shown and merged into its base model; it has no head to predict with.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from headstart.adapter_info import MERGEABLE, find, inspect  # noqa: F401 - find: the public headstart.adapters API; MERGEABLE: its listing
from headstart.atomic import fresh_folder, publish
from headstart.backbones import modality_of
from headstart.errors import ConfigError, StoreError
from headstart.progress import Stages
from headstart.python_checks import flags_checked
from headstart.surface import on_cli
from headstart.outdir import check_new
from headstart.output_checks import (MergeReport, PrecisionGap, VALIDATION_ROWS, check_inputs, check_texts, check_tolerance,
                                      checked_on_text, logits_of, precision_gap, run_autocast)

TOLERANCE = 1e-4  # max abs difference of logits accepted between a merged model and its adapter


def _write_run(out: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor], metrics_from: Path, extra: dict[str, Path], *,
               image: bool = False) -> None:
    """Write a run directory atomically: into ``out``.tmp, then renamed over nothing (``out`` must not exist); ``image``:
    a run on an image backbone, whose model card shows predicting on image files."""
    from safetensors.torch import save_file

    from headstart.atomic import write_json
    from headstart.saved import CARD_PATH, FORMAT_VERSION, card_name, write_model_card

    if out.exists():
        raise ConfigError(f"{str(out)!r} already exists; choose a new --out (nothing is overwritten)")
    tmp = fresh_folder(out, "tmp")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / "weights.safetensors"),
                  metadata={"format": "headstart-run", "version": str(FORMAT_VERSION)})
        write_json(tmp / "spec.json", {**meta, CARD_PATH: card_name(out)})  # not the path of the run it came from
        if (metrics_from / "metrics.json").exists():
            _copy_record(metrics_from / "metrics.json", tmp / "metrics.json")
        for name, source in extra.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp / name)
        write_model_card(tmp, name=card_name(out), image=image)
        publish(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StoreError(f"cannot write {str(out)!r} ({e.strerror}); choose another --out") from None


def _copy_record(source: Path, target: Path) -> None:
    """The source run's metrics.json (its training record) into the new run, without the test score ``evaluate`` wrote
    of the source's weights (``saved.record_test``): the new run's weights are others, scored by its own evaluate. A
    file that does not read as JSON is copied as it is."""
    from headstart.atomic import write_atomic, write_json

    try:
        metrics = json.loads(source.read_text())
    except ValueError:
        metrics = None
    if not isinstance(metrics, dict):
        write_atomic(target, source.read_bytes())
        return
    write_json(target, {k: v for k, v in metrics.items() if k != "test"})


@flags_checked  # from Python its errors name its arguments (out=, tolerance=), not the CLI's flags
def merge(directory: str | Path, out: str | Path, *, dequantize: bool = False, tolerance: float | None = None,
          inputs: int = 64, progress: Any = None) -> MergeReport:
    """Fold a run's PEFT adapter into its base; check the merged model's outputs equal the adapter's on real inputs.

    Writes ``out`` as a run directory whose ``weights.safetensors`` holds the full merged model (backbone +
    head); the adapter is kept in ``out/adapter/`` so ``unmerge`` can recover it. An sft / prefer run merges into a
    run of its kind whose folder transformers loads (``headstart.llm.merge.merge``).

    Args:
        progress: the merge's stages as ``export``'s: True a bar on stderr, None or False none, a function
            ``(done, total, info)`` told each (``progress.Stages``). An sft / prefer run's: loading, its logits on the
            check's sequences, merging, saving, loading back, the folder's logits; a headstart run's, from after its
            refusals: loading, its logits on the check's inputs, merging, the merged model's logits (both counted in
            inputs), saving.

    Raises:
        ConfigError: the method cannot be merged (prompts, bottleneck adapters), the base is 4-bit and
            ``dequantize`` is off, or the merged outputs differ by more than ``tolerance`` (nothing written; None:
            ``TOLERANCE``, an sft / prefer run's logits ``llm.merge.TOLERANCE``).
    """
    from headstart.llm.runs import is_lm_run
    from headstart.strategies.peft_base import saved_adapter

    from headstart.progress import check_progress, progress_callback

    check_progress(progress)
    directory, out = Path(directory), Path(out)
    if is_lm_run(directory):  # a causal LM's LoRA: merged into a run generate reads and transformers loads
        from headstart.llm import merge as lm_merge

        with progress_callback(progress, "merge") as update:  # True: the CLI's bar
            return lm_merge.merge(directory, out, dequantize=dequantize, inputs=inputs,
                                  tolerance=lm_merge.TOLERANCE if tolerance is None else tolerance, progress=update)
    tolerance = TOLERANCE if tolerance is None else tolerance
    check_inputs(inputs)
    check_tolerance(tolerance)
    check_new(out, "the merged run", source=directory)
    info = inspect(directory)
    if info.kind == "peft":
        raise ConfigError(f"{str(directory)!r} is a plain PEFT adapter without a task head; merge it into its base with "
                          "merge_base() (the CLI's 'headstart adapters merge' does this for plain PEFT adapters)")
    if info.kind == "merged":
        raise ConfigError(f"{str(directory)!r} is already merged; 'headstart adapters unmerge' takes it apart again")
    if info.kind != "headstart-peft":
        why = {"houlsby": "bottleneck adapters are nonlinear and do not fold into the base weights",
               "bitfit": "its trained biases already are the model's own parameters; predict with it as it is"}
        raise ConfigError(f"cannot merge {str(directory)!r} ({info.strategy}): {why.get(info.strategy, 'it has no PEFT adapter')}")
    saved_adapter(directory)  # its adapter files are there: a damaged run is named as such, not as the wrong method
    if info.method not in MERGEABLE:
        raise ConfigError(f"cannot merge {str(directory)!r}: {info.method} adds virtual tokens, it has no weight update to "
                          "fold into the base; serve it as an adapter (headstart predict)")
    from headstart.strategies import get_strategy

    quantized = get_strategy(info.strategy).quantized
    switch = "--dequantize" if on_cli() else "dequantize=True"  # a bare switch: python_named would drop its =True
    if quantized and not dequantize:
        raise ConfigError(f"{str(directory)!r} was trained on a 4-bit base: merging into 4-bit weights re-rounds them and "
                          f"changes outputs; pass {switch} to merge into an fp32 copy of the 4-bit base")
    if dequantize and not quantized:
        raise ConfigError(f"{switch} is for a run trained on a 4-bit base (qlora); {str(directory)!r} ({info.strategy}) "
                          f"was not: drop {switch}")
    with progress_callback(progress, "merge") as update:  # True: the CLI's bar
        return _merge_checked(directory, out, quantized=quantized, tolerance=tolerance, inputs=inputs,
                              stages=Stages(update))


def _merge_checked(directory: Path, out: Path, *, quantized: bool, tolerance: float, inputs: int,
                   stages: Stages) -> MergeReport:
    """``merge`` of a headstart run, after its refusals: load, compare, fold, write; each stage told to ``stages``."""
    from headstart.saved import load_run

    stages.said("loading the run")
    run = load_run(directory)
    texts, checked_on = check_texts(run, inputs)
    reference = _logits(run.model, texts, stages.counter("the run's logits", "inputs"))
    precision, autocast = run_autocast(run)
    reference_own = None if autocast is None else logits_of(run.model, texts, autocast)
    if quantized:
        stages.said("rebuilding its base as an fp32 copy of the 4-bit weights")
        run = _dequantized_copy(run)
    stages.said("merging its adapter into the encoder")
    encoder = run.model.backbone.model
    run.model.backbone.model = encoder.merge_and_unload(safe_merge=True)
    merged = _logits(run.model, texts, stages.counter("the merged model's logits", "inputs"))
    diff = float((merged - reference).abs().max())
    # The check is of the merge's arithmetic, in fp32. At bf16 the merged weight W + BA is rounded as one matrix where
    # the adapter rounds W and B, A apart, so outputs there differ by rounding: measured and said, not checked.
    at_precision = (None if reference_own is None else
                    precision_gap(logits_of(run.model, texts, autocast), reference_own, precision, run.task))
    if not diff <= tolerance:
        raise ConfigError(f"merged outputs differ from the adapter's by {diff:.3g} (> --tolerance {tolerance:g}) on "
                          f"{checked_on_text(len(texts), checked_on)}; not writing {str(out)!r}")
    meta = {**run.meta, "backbone_saved": "merged",
            "merge": {"from": str(directory), "max_abs_diff": diff, "inputs": len(texts), "checked_on": checked_on,
                      "tolerance": tolerance, "dequantized": quantized,
                      "at_precision": None if at_precision is None else asdict(at_precision)}}
    stages.said("saving the merged run")
    _write_run(out, meta, run.model.state_dict(), directory,
               {"adapter/adapter_config.json": directory / "adapter_config.json",
                "adapter/adapter_model.safetensors": directory / "adapter_model.safetensors",
                "adapter/weights.safetensors": directory / "weights.safetensors"},
               image=modality_of(run.model.backbone) == "image")
    return MergeReport(str(out), diff, len(texts), tolerance, quantized, (out / "weights.safetensors").stat().st_size, at_precision,
                       checked_on)


def _logits(model: torch.nn.Module, texts: list[str], counted: Any = None, *, batch: int = 64) -> torch.Tensor:
    """``logits_of`` over ``texts`` a batch at a time (the batches it runs anyway), ``counted(done, total)`` told before
    the first and after each: the check's passes are its minutes on a CPU."""
    found = []
    for start in range(0, len(texts), batch):
        if counted:
            counted(start, len(texts))
        found.append(logits_of(model, texts[start : start + batch]))
    if counted:
        counted(len(texts), len(texts))
    return torch.cat(found) if found else logits_of(model, texts)


def _dequantized_copy(run: Any) -> Any:
    """The run rebuilt on an fp32 copy of its 4-bit base (the same NF4-rounded values), adapter loaded on top."""
    from peft import PeftModel
    from safetensors.torch import load_file

    from headstart.backbones import load_backbone
    from headstart.backbones.registry import preprocessing
    from headstart.model import TaskModel
    from headstart.quantize import dequantize_linears, quantize_linears
    from headstart.strategies.peft_base import ADAPTER, saved_adapter

    identity = run.resolved["backbone_config"]
    backbone = load_backbone(run.meta["spec"]["backbone"], **preprocessing(identity), download=False)
    quantize_linears(backbone.model)
    dequantize_linears(backbone.model)
    backbone.model = PeftModel.from_pretrained(backbone.model, saved_adapter(run.directory), adapter_name=ADAPTER)
    model = TaskModel(backbone, run.model.head.out_features, seed=0)
    model.load_state_dict(load_file(str(run.directory / "weights.safetensors")), strict=False)
    run.model = model.to(run.device).eval()
    return run


@dataclass
class UnmergeReport:
    out: str
    base_max_abs_diff: float  # recovered base weights vs the pre-trained ones
    output_max_abs_diff: float  # the recovered adapter run's outputs vs the merged model's
    inputs: int
    checked_on: str = VALIDATION_ROWS  # output_checks.FIXED / CHANGED: the run's data could not be read / changed


@flags_checked
def unmerge(directory: str | Path, out: str | Path, *, tolerance: float = TOLERANCE, inputs: int = 64) -> UnmergeReport:
    """Take a merged run apart again: subtract the adapter's update from the merged weights, check the result
    equals the pre-trained base, and write ``out`` as the adapter run (PEFT files + head).

    Raises:
        ConfigError: not a merged run, or the recovered base / outputs differ by more than ``tolerance``.
    """
    check_tolerance(tolerance)
    from peft import PeftModel

    from headstart.backbones import load_backbone
    from headstart.backbones.registry import preprocessing
    from headstart.quantize import dequantize_linears, quantize_linears
    from headstart.saved import load_run
    from headstart.strategies import get_strategy
    from headstart.strategies.peft_base import ADAPTER, saved_adapter

    directory, out = Path(directory), Path(out)
    from headstart.llm.runs import is_lm_run, read_spec

    if is_lm_run(directory):
        merged = (read_spec(directory).get("merged") or {}).get("from")
        raise ConfigError(f"{str(directory)!r} is an sft / prefer run; a merged one is not taken apart again"
                          + (f": its adapter is the run it was merged from, {merged!r}" if merged else ""))
    check_inputs(inputs, "the unmerge")
    check_new(out, "the adapter run", source=directory)
    merged_run = load_run(directory)
    if merged_run.meta.get("backbone_saved") != "merged" or not (directory / "adapter" / "adapter_config.json").exists():
        raise ConfigError(f"{str(directory)!r} is not a merged run (written by 'headstart adapters merge'); nothing to unmerge")
    texts, checked_on = check_texts(merged_run, inputs, what="the unmerge")
    merged_logits = logits_of(merged_run.model, texts)
    # Re-attach the adapter to the merged weights, mark it merged, and let PEFT subtract its update.
    encoder = merged_run.model.backbone.model
    peft_model = PeftModel.from_pretrained(encoder, saved_adapter(directory / "adapter"), adapter_name=ADAPTER)
    for module in peft_model.modules():
        if hasattr(module, "merged_adapters") and hasattr(module, "unmerge"):
            module.merged_adapters = [ADAPTER]
    peft_model.unmerge_adapter()
    identity = merged_run.resolved["backbone_config"]
    pristine = load_backbone(merged_run.meta["spec"]["backbone"], **preprocessing(identity), download=False)
    quantized = get_strategy(merged_run.resolved["strategy"]).quantized
    if quantized:  # a --dequantize merge started from the NF4-rounded base
        quantize_linears(pristine.model)
        dequantize_linears(pristine.model)
    recovered = peft_model.get_base_model().state_dict()
    expected = pristine.model.state_dict()
    base_diff = max(float((recovered[k].float() - v.float()).abs().max()) for k, v in expected.items() if k in recovered)
    merged_run.model.backbone.model = peft_model
    output_diff = float((logits_of(merged_run.model, texts) - merged_logits).abs().max())
    if not (base_diff <= tolerance and output_diff <= tolerance):
        raise ConfigError(f"unmerged weights differ from the pre-trained base by {base_diff:.3g} and outputs by {output_diff:.3g} "
                          f"(> --tolerance {tolerance:g}); not writing {str(out)!r}")
    from headstart.saved import read_tensors

    head = read_tensors(directory / "adapter" / "weights.safetensors")
    meta = {k: v for k, v in merged_run.meta.items() if k != "merge"}
    _write_run(out, {**meta, "backbone_saved": "adapter"}, head, directory,
               {"adapter_config.json": directory / "adapter" / "adapter_config.json",
                "adapter_model.safetensors": directory / "adapter" / "adapter_model.safetensors"},
               image=modality_of(merged_run.model.backbone) == "image")
    return UnmergeReport(str(out), base_diff, output_diff, len(texts), checked_on)


@flags_checked
def merge_base(directory: str | Path, out: str | Path, *, base: str | None = None) -> Path:
    """Merge a plain PEFT adapter (no head) into its base and write a model folder usable as ``--backbone``."""
    from peft import PeftModel

    from headstart.backbones import load_backbone
    from headstart.strategies.peft_base import saved_adapter

    directory, out = Path(directory), Path(out)
    check_new(out, "the merged model", source=directory)
    info = inspect(directory)
    if info.method not in MERGEABLE:
        raise ConfigError(f"cannot merge {str(directory)!r}: {info.method} has no weight update to fold into the base")
    name = base or info.base
    if not name:
        raise ConfigError(f"{str(directory)!r} does not name its base model; give --base NAME_OR_FOLDER")
    if base is None:  # a built-in's Hub id, as a headstart run's adapter names it, is read from its package here
        from headstart.backbones.registry import local_base

        name = local_base(name)
    backbone = load_backbone(name, download=base is not None)  # a base named only by the run's files is never fetched
    try:
        merged = PeftModel.from_pretrained(backbone.model, saved_adapter(directory)).merge_and_unload(safe_merge=True)
    except (ValueError, RuntimeError, KeyError) as e:
        raise ConfigError(f"the adapter in {str(directory)!r} does not fit base {name!r}: {str(e).splitlines()[0][:200]}; give --base") from None
    if out.exists():
        raise ConfigError(f"{str(out)!r} already exists; choose a new --out (nothing is overwritten)")
    tmp = fresh_folder(out, "tmp")
    try:
        merged.save_pretrained(tmp, safe_serialization=True)
        backbone.tokenizer.save_pretrained(tmp)
        publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
