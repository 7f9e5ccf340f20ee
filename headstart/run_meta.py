"""A run's ``spec.json`` read and checked without torch: what ``check-leakage --run``, ``export``'s refusals and the
data-source look-ups need, before (or instead of) ``saved.load_run`` rebuilding its model."""

from __future__ import annotations

import json
import shlex
from os import PathLike
from pathlib import Path
from typing import Any

from headstart.data.dataset import TASKS
from headstart.errors import ConfigError, StoreError
from headstart.surface import spoken

FORMAT_VERSION = 1  # of the run directory layout


def as_run_path(value: Any, *, name: str = "run", what: str = "a run folder", example: str, unsaved: str = "") -> Path:
    """``value`` as a Path; one that names no path (None, a number) is a ConfigError naming it, not Python's TypeError.

    Args:
        name: the argument, as the message names it.
        what: the folder it names ("a run folder", "a compare store").
        example: the call with a path, e.g. ``"headstart.predict('runs/lp64', texts)"``.
        unsaved: the way on where ``value`` is None, most likely ``FitResult.out`` after a ``fit`` without ``out=``.
    """
    if isinstance(value, (str, PathLike)) and str(value).strip():
        return Path(value)
    hint = f" (a fit without out= saved nothing: {unsaved})" if value is None and unsaved else ""
    shown = repr(value) if value is None or isinstance(value, (str, int, float)) else f"a {type(value).__name__}"
    raise ConfigError(f"{name} must be the path of {what}, got {shown}; e.g. {example}{hint}")


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The run folder ``directory``'s spec.json, checked for the fields a run is rebuilt from.

    Raises:
        StoreError: no such folder, a folder that is no run (a store's, said as such), a causal LM's run (naming what
            asks it), another format version, or a damaged spec.json (naming the field).
    """
    directory = Path(directory)
    path = directory / "spec.json"
    if not path.exists():
        refuse_other_folder(directory)
        raise StoreError(f"{str(directory)!r} is not a headstart run (no spec.json); {_trained()}")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise StoreError(f"cannot read {str(path)!r} ({type(e).__name__}); the run directory is damaged, train it again") from None
    if not isinstance(meta, dict):
        raise StoreError(f"{str(path)!r} is damaged (not a JSON object); train the run again")
    if meta.get("kind") in ("sft", "prefer"):  # a causal LM's run (headstart.llm): generated from, not scored as a classifier
        ask = spoken(f"headstart generate {directory} --prompt TEXT", f"headstart.generate({str(directory)!r}, prompts)")
        standalone = spoken(f"headstart export {directory} --format hf --out FOLDER",
                            f"headstart.export({str(directory)!r}, 'FOLDER', format='hf')")
        scored = (" (its test exact match: " + spoken(f"headstart evaluate {directory}", f"headstart.evaluate({str(directory)!r})")
                  + ")" if meta["kind"] == "sft" and _drew_test(meta) else "")  # prefer answers no test prompts: its scores are on validation pairs
        raise StoreError(f"{str(directory)!r} is a headstart {meta['kind']} run; ask it with: {ask}{scored}, or make it a "
                         f"model transformers loads: {standalone}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"{str(directory)!r} was written by an incompatible headstart (format {meta.get('format_version')!r}, "
                         f"this version reads {FORMAT_VERSION}); train it again with this version")
    _check_meta(meta, path)
    return meta


def _trained() -> str:
    return spoken("pass the --out directory of 'headstart train'", "pass the folder headstart.fit(..., out=DIR) saved")


def refuse_other_folder(directory: str | Path) -> None:
    """Refuse what is plainly no run folder, saying what it is: a path that does not exist, a store (runs.sqlite), or
    an export of a run (``is_export``); return for any other folder (the caller says what it lacks).

    Raises:
        StoreError: naming what ``directory`` is and the run folder to pass instead.
    """
    directory = Path(directory)
    if not directory.exists():
        raise StoreError(f"{str(directory)!r} does not exist; {_trained()}")
    from headstart.outdir import KINDS, STORES, held
    from headstart.store_rows import FILENAME

    if (directory / FILENAME).is_file():  # a store holds many runs' rows, not one run's weights
        kind = held(directory)
        quoted = shlex.quote(str(directory))
        look = spoken(f"headstart runs {quoted} lists its runs, headstart report {quoted} renders its report",
                      f"headstart.runs({str(directory)!r}) lists its runs")
        raise StoreError(f"{str(directory)!r} is {KINDS[kind] if kind in (*STORES, 'store') else 'a store (runs.sqlite)'}, not a "
                         f"run: {look}; a run folder comes from "
                         + spoken("headstart train --out DIR", "headstart.fit(..., out=DIR)"))
    if is_export(directory):
        raise StoreError(f"{str(directory)!r} is an export of a run (written by headstart export for other libraries), not a "
                         "run; pass the run folder it was exported from: "
                         + spoken("the --out directory of 'headstart train'", "the folder headstart.fit(..., out=DIR) saved"))


def is_export(directory: str | Path) -> bool:
    """Whether ``directory`` is what ``headstart export`` writes: no spec.json or metrics.json (a run's), and its
    README.md is headstart's model card (``library_name: headstart``; an sft / prefer export's "tuned by headstart"),
    or its config.json names headstart's model (hf) or ONNX format."""
    directory = Path(directory)
    if not directory.is_dir() or (directory / "spec.json").exists() or (directory / "metrics.json").exists():
        return False
    try:
        card = (directory / "README.md").read_text(errors="replace")[:2000]
    except OSError:
        card = ""
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    marked = isinstance(config, dict) and (config.get("model_type") == "headstart" or config.get("format") == "headstart-onnx")
    front = card.split("---", 2)[1] if card.startswith("---") and card.count("---") >= 2 else ""  # the card's metadata
    return marked or "library_name: headstart" in front or "tuned by headstart" in card.partition("\n")[0]


def check_saved_files(directory: str | Path, saved: str | None) -> None:
    """Refuse a run folder missing a weight file it saved: ``weights.safetensors`` (the head), and for an adapter run
    (``saved`` "adapter", spec.json's ``backbone_saved``) ``adapter_config.json`` and ``adapter_model.safetensors``,
    whose pickle-based ``adapter_model.bin`` in its place is never loaded. Loading (``saved.load_run``,
    ``AdapterSet.add``) and listing (``adapter_info.inspect``) refuse by this one check; a run's metrics.json is not
    among what it needs (its scores are informational: a listing notes it missing).

    Raises:
        StoreError: naming the missing file, and the .bin found in its place.
    """
    directory = Path(directory)
    if not (directory / "weights.safetensors").exists():
        raise StoreError(f"{str(directory / 'weights.safetensors')!r} is missing; the run did not finish saving, train it again")
    if saved == "adapter" and not (directory / "adapter_config.json").is_file():  # PEFT would take the folder for a hub id
        raise StoreError(f"{str(directory)!r} has no adapter_config.json: its PEFT adapter is missing or incomplete; "
                         "train the run again (or copy the whole run folder)")
    if saved == "adapter" and not (directory / "adapter_model.safetensors").exists():
        pickled = " (adapter_model.bin is pickle-based and is not loaded)" if (directory / "adapter_model.bin").exists() else ""
        raise StoreError(f"{str(directory / 'adapter_model.safetensors')!r} is missing{pickled}; the run did not finish "
                         "saving, train it again")


def check_lm_saved_files(directory: str | Path, spec: dict[str, Any]) -> None:
    """Refuse an sft / prefer run folder missing a weight file it saved, as ``check_saved_files`` refuses a classifier
    run's: a LoRA / QLoRA run's ``adapter_config.json`` and ``adapter_model.safetensors``; a full-finetune or merged
    run's ``config.json`` and its weights, ``model.safetensors`` or the shards its ``model.safetensors.index.json``
    names. Loading (``llm.runs.load_run``) and listing (``adapter_info``) refuse by this one check.

    Raises:
        StoreError: naming the missing file, and the .bin found in its place.
    """
    directory = Path(directory)
    if spec.get("strategy") == "full-finetune" or spec.get("merged"):  # a transformers folder of every weight
        needed = ["config.json"]
        index = directory / "model.safetensors.index.json"
        try:
            shards = json.loads(index.read_text()).get("weight_map", {}).values() if index.is_file() else ["model.safetensors"]
        except (OSError, ValueError, AttributeError):
            raise StoreError(f"cannot read {str(index)!r}; the run directory is damaged, train it again") from None
        needed += sorted(set(map(str, shards)))
        pickled = "pytorch_model.bin"
    else:
        needed, pickled = ["adapter_config.json", "adapter_model.safetensors"], "adapter_model.bin"
    for name in needed:
        if not (directory / name).is_file():
            instead = f" ({pickled} is pickle-based and is not loaded)" if name.endswith(".safetensors") and (directory / pickled).exists() else ""
            raise StoreError(f"{str(directory / name)!r} is missing{instead}; the run did not finish saving, train it again")


def _drew_test(meta: dict[str, Any]) -> bool:
    """Whether an sft run drew test prompts that ``evaluate`` answers: spec.json's ``eval_rows`` above 0 (a run saved
    before it was recorded is taken to have: sft's default drew 32)."""
    rows = meta.get("eval_rows")
    return rows is None or not isinstance(rows, int) or isinstance(rows, bool) or rows > 0


# The fields a run is rebuilt from, with their JSON types: a hand-edited or damaged spec.json is refused by name.
_META_SHAPE = {"spec": dict, "spec.backbone": str, "resolved": dict, "resolved.strategy": str, "resolved.seed": int,
               "resolved.backbone_config": dict, "resolved.data": dict, "resolved.data.task": str, "resolved.options": dict,
               "resolved.train": dict, "resolved.train.precision": str, "label_names": list, "backbone_saved": str}


def _check_meta(meta: dict[str, Any], path: Path) -> None:
    for dotted, kind in _META_SHAPE.items():
        value: Any = meta
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            raise StoreError(f"{str(path)!r} is damaged: {dotted} is {value!r}, not a {kind.__name__}; train the run again")
    if not all(isinstance(name, str) for name in meta["label_names"]):
        raise StoreError(f"{str(path)!r} is damaged: label_names holds non-text values; train the run again")
    task = meta["resolved"]["data"]["task"]
    if task not in TASKS or (task != "regression" and len(meta["label_names"]) < 2):
        raise StoreError(f"{str(path)!r} is damaged: task {task!r} with {len(meta['label_names'])} label names; train the run again")


# The kinds of causal-LM run (``headstart.llm``) a spec.json names: generated from, not a classifier.
KINDS = ("sft", "prefer")


def is_lm_run(directory: str | Path) -> bool:
    """Whether ``directory`` holds an sft / prefer run (its spec.json names the kind), read without raising."""
    try:
        spec = json.loads((Path(directory) / "spec.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(spec, dict) and spec.get("kind") in KINDS
