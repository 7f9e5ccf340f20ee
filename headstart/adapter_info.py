"""Listing and showing adapters: what ``headstart adapters list/show`` prints about a run or adapter directory.

``inspect`` describes one directory (a headstart run with or without a PEFT adapter, a merged run, or a plain PEFT
adapter with no head), reading the sizes of its weight files from their headers so a damaged one is named here
rather than at predict; ``find`` lists the adapters among paths or one level down in folders of them, a damaged run
listed as such, and ``passed_over`` / ``exports_passed`` name the sft / prefer runs and the exports of runs such a
listing leaves out. The public API
``headstart.adapters.find`` / ``inspect`` is this module's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import ConfigError, StoreError
from headstart.interrupts import USABLE, run_status, steps_interrupted
from headstart.python_checks import flags_checked


MERGEABLE = ("LORA", "IA3")  # PEFT types whose update folds into the base weights (prompts add tokens instead)


@dataclass
class AdapterInfo:
    """What ``headstart adapters list/show`` prints about one directory."""

    directory: str
    # "headstart-peft" | "headstart" (bitfit / houlsby: weights.safetensors) | "peft" (no head) | "merged" | "damaged"
    # (a run in a listed folder that could not be read: config["error"] says why)
    kind: str
    strategy: str | None
    method: str | None  # PEFT type (LORA, IA3, PROMPT_TUNING, ...) or the headstart strategy
    base: str | None
    labels: list[str] = field(default_factory=list)
    task: str | None = None
    trainable_params: int | None = None
    adapter_bytes: int = 0  # what trained (adapter + head): its tensors' bytes, as a report's "saved size" counts them (files add headers)
    config: dict[str, Any] = field(default_factory=dict)
    val: dict[str, Any] = field(default_factory=dict)
    ended_by: str | None = None  # a run that an interrupt ended: "interrupted by SIGTERM at step 37 of 120" (metrics.json)
    note: str | None = None  # a usable run whose metrics.json is missing or unreadable: no scores to show, predict works

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise StoreError(f"cannot read {str(path)!r} ({type(e).__name__}); the directory is damaged") from None


@flags_checked
def inspect(directory: str | Path) -> AdapterInfo:
    """Describe an adapter / run directory.

    Raises:
        StoreError: neither a headstart run nor a PEFT adapter directory (one that does not exist, a store or an
            export of a run said as such: ``run_meta.refuse_other_folder``); a run missing a weight file it saved
            (``run_meta.check_saved_files``, as loading it refuses it: a PEFT run's adapter_config.json too) or holding
            a corrupt one (a missing or unreadable metrics.json is not: ``note`` says it); an sft / prefer run
            (said as such: what to ask it with), or one of them missing a weight file it saved (said as damaged).
    """
    directory = Path(directory)
    peft_config = directory / "adapter_config.json"
    if (directory / "spec.json").exists():
        from headstart.run_meta import check_saved_files, read_meta

        if _causal_lm_run(directory):  # its files first: a damaged one is named as such, not sent to generate
            _check_lm_run(directory)
        meta = read_meta(directory)  # an sft / prefer run: refused, naming what to ask it with
        resolved = meta["resolved"]
        metrics, note = _metrics(directory)
        saved = meta.get("backbone_saved")
        config = _read_json(peft_config) if peft_config.exists() else {}
        kind = {"adapter": "headstart-peft", "merged": "merged"}.get(saved, "headstart")
        files = ["adapter_model.safetensors", "weights.safetensors"] if saved == "adapter" else ["weights.safetensors"]
        if run_status(metrics) in USABLE:  # a diverged run keeps its record, never weights: listed as it is
            check_saved_files(directory, saved)  # "fine" only when the files are there and load, as predict refuses them
        for name in files:  # a damaged one is named here, not at predict
            if (directory / name).exists():
                _parameters(directory / name)
        return AdapterInfo(str(directory), kind, resolved["strategy"], config.get("peft_type") or resolved["strategy"],
                           shown_base(resolved["strategy"], meta["spec"]["backbone"]), list(meta.get("label_names", [])), resolved["data"]["task"],
                           metrics.get("trainable_params"), sum(_tensor_bytes(directory / f) for f in files if (directory / f).exists()),
                           _summary(config) if config else resolved.get("options", {}),
                           {k: v for k, v in metrics.get("val", {}).items() if k != "per_class"},
                           steps_interrupted(metrics), note)  # not one interrupted while scored: its steps finished
    if peft_config.exists():
        config = _read_json(peft_config)
        weights = directory / "adapter_model.safetensors"
        if not weights.exists():
            pickled = [p.name for p in directory.glob("adapter_model.bin")]
            hint = " (adapter_model.bin is pickle-based and is not loaded; re-save it with safe_serialization=True)" if pickled else ""
            raise StoreError(f"{str(directory)!r} has adapter_config.json but no adapter_model.safetensors{hint}")
        return AdapterInfo(str(directory), "peft", None, config.get("peft_type"), config.get("base_model_name_or_path"),
                           trainable_params=_parameters(weights), adapter_bytes=_tensor_bytes(weights), config=_summary(config))
    from headstart.run_meta import refuse_other_folder

    refuse_other_folder(directory)  # one that does not exist, a store, an export: said as what it is
    raise StoreError(f"{str(directory)!r} is neither a headstart run (spec.json) nor a PEFT adapter (adapter_config.json)")


def _metrics(directory: Path) -> tuple[dict[str, Any], str | None]:
    """A run's metrics.json, and a note when it is missing or unreadable: loading does not need it
    (``saved.check_usable`` reads it only for a diverged run's status), so such a run is usable, its scores unknown."""
    path = directory / "metrics.json"
    if not path.exists():
        return {}, f"{str(path)!r} is missing (a copy cut short?): no scores to show; predict, merge and export still work"
    try:
        metrics = json.loads(path.read_text())
        if not isinstance(metrics, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        return {}, (f"cannot read {str(path)!r} ({type(e).__name__}): no scores to show; predict, merge and export "
                    "still work")
    return metrics, None


def shown_base(strategy: str, backbone: str) -> str:
    """A run's base as ``adapters list`` and its card say it: the backbone, or ``none (TF-IDF features)`` for a strategy
    that reads nothing of the one given (``Strategy.own_features``: the given one is loaded, never used)."""
    from headstart.strategies import STRATEGIES

    own = getattr(STRATEGIES.get(strategy), "own_features", None)
    return f"none ({own})" if own else backbone


def _parameters(path: Path) -> int:
    """How many numbers a safetensors file holds, read from its header.

    Raises:
        StoreError: the file is not readable safetensors (truncated, overwritten).
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
    except (SafetensorError, OSError, ValueError) as e:
        raise StoreError(f"cannot read {str(path)!r} ({type(e).__name__}): the file is corrupt; train the run again") from None


def _tensor_bytes(path: Path) -> int:
    """The bytes a safetensors file's tensors take: its size less the 8-byte length and the JSON header that name them
    (a few kB for an adapter's many tensors), so a run's size here is the report's "saved size" (``saved.saved_bytes``)."""
    with path.open("rb") as f:
        header = int.from_bytes(f.read(8), "little")
    return max(path.stat().st_size - 8 - header, 0)


def _summary(config: dict[str, Any]) -> dict[str, Any]:
    keys = ("peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "use_dora", "target_modules", "feedforward_modules",
            "num_virtual_tokens", "modules_to_save", "peft_version")
    return {k: config[k] for k in keys if config.get(k) is not None}


@flags_checked
def find(paths: str | Path | list[str | Path]) -> list[AdapterInfo]:
    """Adapters among ``paths`` (one path or a list): each an adapter / run directory, or a folder of them (one level
    down). A damaged run in a folder is listed as kind "damaged", ``config["error"]`` saying why; an sft / prefer run
    in a folder is passed over (``passed_over`` names it), unless it is missing a weight file it saved: damaged too.

    Raises:
        StoreError: a directory named in ``paths`` is damaged.
    """
    from headstart.run_meta import is_export, refuse_other_folder

    found = []
    for path in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        if not path.is_dir():
            raise ConfigError(f"{str(path)!r} is not a directory; give adapter or run directories (or a folder of them)")
        if is_export(path):
            refuse_other_folder(path)  # named alone, an export is said as such, as inspect says it
        if (path / "spec.json").exists() or (path / "adapter_config.json").exists():
            found.append(inspect(path))
            continue
        for p in sorted(path.iterdir()):
            if not (p.is_dir() and ((p / "spec.json").exists() or (p / "adapter_config.json").exists())):
                continue
            try:
                if _causal_lm_run(p):
                    _check_lm_run(p)  # a whole one is passed over (passed_over names it), a damaged one listed as such
                    continue
                found.append(inspect(p))
            except StoreError as e:  # one damaged run of a folder is listed as such, not the end of the listing
                found.append(AdapterInfo(str(p), "damaged", None, None, None, config={"error": str(e)}))
    return found


def passed_over(paths: str | Path | list[str | Path]) -> list[Path]:
    """The sft / prefer runs that ``find`` passes over in the folders among ``paths`` (said beside a listing); a damaged
    one ``find`` lists as such instead."""
    folders = [p for p in map(Path, [paths] if isinstance(paths, (str, Path)) else paths)
               if p.is_dir() and not (p / "spec.json").exists() and not (p / "adapter_config.json").exists()]
    return [p for folder in folders for p in sorted(folder.iterdir()) if p.is_dir() and _causal_lm_run(p) and _whole(p)]


def exports_passed(paths: str | Path | list[str | Path]) -> list[Path]:
    """The exports of runs (``run_meta.is_export``: folders other libraries load) that ``find`` passes over in the
    folders among ``paths`` (said beside a listing)."""
    from headstart.run_meta import is_export

    folders = [p for p in map(Path, [paths] if isinstance(paths, (str, Path)) else paths)
               if p.is_dir() and not (p / "spec.json").exists() and not (p / "adapter_config.json").exists()]
    return [p for folder in folders for p in sorted(folder.iterdir()) if is_export(p)]


def _causal_lm_run(directory: Path) -> bool:
    """An sft / prefer run (``headstart.llm``): a causal LM generated from, not a classifier's adapter; a folder's
    listing passes over it (named on its own, ``inspect`` says what to do with it)."""
    from headstart.run_meta import is_lm_run

    return is_lm_run(directory)


def _check_lm_run(directory: Path) -> None:
    """Refuse an sft / prefer run missing a weight file it saved (``run_meta.check_lm_saved_files``, as loading it
    refuses it), or holding one that is not readable safetensors (truncated, overwritten), as a classifier run's are.

    Raises:
        StoreError: naming the missing or corrupt file, or an unreadable spec.json.
    """
    from headstart.run_meta import check_lm_saved_files

    check_lm_saved_files(directory, _read_json(directory / "spec.json"))
    for weights in sorted(directory.glob("*.safetensors")):  # the adapter, or the model (or its shards)
        _parameters(weights)


def _whole(directory: Path) -> bool:
    """Whether an sft / prefer run holds every weight file it saved (``_check_lm_run``)."""
    try:
        _check_lm_run(directory)
    except StoreError:
        return False
    return True
