"""A run directory, written and read in one place: ``save`` after training, ``load_run`` to rebuild its model.

A saved run directory (built whole beside the old one, then swapped in: ``save``) holds ``spec.json`` (the spec as
given, the resolved spec, its key, the data identity and split, the path its model card names),
``weights.safetensors`` (the head, and whatever part of the backbone changed) and ``metrics.json`` (validation metrics
and the training record); a strategy adds its own files (a PEFT adapter, a vocabulary: ``Strategy.save_files``) and
reads them back in ``Strategy.attach``. Nothing is pickled. What a loaded run then answers (evaluate, evaluate out of
domain, predict) is ``headstart.loaded``.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from headstart.backbones import load_backbone
from headstart.backbones.registry import preprocessing
from headstart.engine import FitReport, own_seconds
from headstart.atomic import write_atomic, write_json
from headstart.backbones import count_parameters
from headstart.backbones.base import unused_parameters
from headstart.errors import StoreError
from headstart.interrupts import USABLE, run_status, steps_interrupted
from headstart.model import TaskModel
from headstart.precision import pick_device
from headstart.run_meta import FORMAT_VERSION, check_saved_files, read_meta
from headstart.specs import run_key
from headstart.strategies import get_strategy


# ---- writing ------------------------------------------------------------------------------------------


def backbone_saved(s: Any, report: FitReport) -> str:
    """What a run saves of the backbone (``Strategy.saved_part``): "full", "adapter", "trained" or "none"; a run that did
    not finish saves no trained weights, only a backbone of its own ("full") is still described."""
    part = s.strategy.saved_part(s.model, report.trained)
    return part if report.status == "done" or part == "full" else "none"


def save(s: Any, report: FitReport, out: str | Path, *, notes: dict[str, Any] | None = None, staged: bool = False,
         record: RunRecord | None = None) -> Path:
    """Write the run into ``out``: built complete in a sibling staging directory, then swapped in.

    ``notes`` (e.g. budget flags, retention) are added to metrics.json. ``staged``: the staging directory is returned
    as it is, not swapped in (``atomic.swap_in`` puts it at ``out``): a run still to be scored
    after training goes into ``out`` only once it is, so the finished run there stays until then.

    A failure while writing (a full disk, a kill) leaves ``out`` as it was: the previous run there still loads,
    and the staging directory is removed. ``out`` must be new, empty, or a run directory: a directory holding other
    files is refused rather than replaced. ``record``: ``run_record(s, report)``, where the caller took it already.

    Raises:
        StoreError: ``out`` cannot be written, or is a non-empty directory that is not a run.
    """
    return save_record(record or run_record(s, report), s.model, out, notes=notes, staged=staged)


@dataclass
class RunRecord:
    """What a trained run's folder holds besides its model's tensors, taken when it trains (``run_record``): spec.json
    and metrics.json (before the notes a save adds), which of the model's tensors are saved, and the strategy that
    writes its own files (a PEFT adapter, a vocabulary). ``FitResult.save`` writes a run kept in memory from it."""

    spec: dict[str, Any] = field(repr=False)
    metrics: dict[str, Any] = field(repr=False)
    keep: frozenset[str] = field(repr=False)
    strategy: Any = field(repr=False)
    done: bool = True
    image: bool = False
    planned_steps: int | None = None  # the steps planned, said beside an interrupt's ended_by


def run_record(s: Any, report: FitReport, *, spec: Any = None, trials: list[dict[str, Any]] | None = None,
               tune_seconds: float = 0.0) -> RunRecord:
    """The record of a run just trained (``recipe.Setup``, ``engine.FitReport``): saves the head (+ regression
    scaling) and, of the backbone, everything when it was trained from scratch, only the parameters that trained
    otherwise (the rest reloads from the pre-trained source); a run that did not finish, no weights.

    Args:
        spec: the ``RunSpec`` as asked, where it is not ``s.spec``: a ``--tune`` run's final setup is its chosen
            rate's trial spec, but the run is saved (and keyed, as the store keys it) as the request, with its tuning,
            so the same command made again is the same run.
        trials / tune_seconds: the tuning's trials (``tuning.halve``) and their wall seconds: metrics.json's ``tuning``.
    """
    import dataclasses

    from headstart.provenance import environment

    asked = s if spec is None else dataclasses.replace(s, spec=spec)

    state = s.model.state_dict()
    saved = backbone_saved(s, report)
    if report.status != "done":  # diverged: keep the record (spec, metrics with the reason), never the NaN weights
        keep = set()
    elif saved == "full":
        keep = set(state)
    elif saved == "adapter":  # the strategy's files hold the adapter (save_files); weights.safetensors keeps the head
        keep = {k for k in state if not k.startswith("backbone.")}
    else:
        keep = {k for k in state if not k.startswith("backbone.")} | set(report.trained) | trained_buffers(s.model, report.trained)
    metrics = {
        "split": "val",
        "status": "interrupted" if report.status == "done" and report.ended_by else report.status,  # a one-step model is no finished run
        "error": report.error,
        "val": report.val_metrics,
        "val_held_out": report.held_out,  # the checkpoint choice scored on validation rows that did not make it
        "val_checks": report.checks,  # validation checks the checkpoint was chosen among: its score is their best
        "steps": report.steps,
        "best_step": report.best_step,
        "train_seconds": round(own_seconds(report), 3),  # the run's own time, as fit reports it
        **({"feature_seconds": round(report.feature_seconds, 3)} if report.feature_seconds else {}),
        "processes": report.processes,
        "trainable_params": report.trainable_params,
        "total_params": count_parameters(s.model),
        "history": report.history,
        "chosen": report.chosen,
        **({"tuning": _tuning_record(asked, trials, tune_seconds)} if trials else {}),
        **({"quantization": _quantization(s.model)} if s.strategy.quantized else {}),  # what its 4-bit base is
        **({"estimates": report.estimates} if report.estimates else {}),  # what objective terms estimated (importance)
        **_majority(s),
    }
    resolved = asked.resolved()
    spec = {
        "format_version": FORMAT_VERSION,
        "key": run_key(resolved),
        "spec": asked.spec.to_dict(),
        "resolved": resolved,
        "data_source": s.data.source,
        "label_names": list(s.data.label_names),
        "train_rows": s.train_rows.tolist(),
        "backbone_saved": saved,
        "environment": environment(),
    }
    return RunRecord(spec=spec, metrics=metrics, keep=frozenset(keep), strategy=s.strategy, done=report.status == "done",
                     image=getattr(s.model.backbone, "modality", "text") == "image", planned_steps=report.planned_steps)


def _quantization(model: torch.nn.Module) -> dict[str, Any]:
    """A 4-bit run's base (``quantize.quantization``: NF4, double quantisation, compute dtype, bytes vs fp32)."""
    from headstart.quantize import quantization

    return quantization(model.backbone)


def _tuning_record(s: Any, trials: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """metrics.json's ``tuning`` of a ``--tune`` run: the parameter searched, its grid, each trial (its value, steps,
    status, validation score and loss, in the order they ran) and the trials' wall seconds (the final run's excluded)."""
    tune = s.resolved().get("tune") or {}
    return {"param": tune.get("param"), "grid": tune.get("grid"), "trials": trials, "seconds": round(seconds, 2)}


def save_record(record: RunRecord, model: torch.nn.Module, out: str | Path, *, notes: dict[str, Any] | None = None,
                staged: bool = False) -> Path:
    """``save`` of a run's ``record`` and its trained ``model``, as there (``notes``, ``staged``, the staging, what is
    refused)."""
    from headstart.atomic import build_directory, swap_in

    def fill(staging: Path) -> None:
        _write_run(record, model, staging, notes or {}, name=card_name(out))
        write_model_card(staging, name=card_name(out), image=record.image)

    from headstart.outdir import held

    built = build_directory(Path(out), fill, is_replaceable=lambda d: held(d) == "run", what="headstart run")
    return built if staged else swap_in(built, Path(out))


def _write_run(record: RunRecord, model: torch.nn.Module, out: Path, notes: dict[str, Any], *, name: str) -> None:
    """Write weights.safetensors (+ the strategy's files: a PEFT adapter, a vocabulary), metrics.json and spec.json into
    ``out``; ``name``, the run's path in its card's commands (``card_name``), goes into spec.json (``CARD_PATH``)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k in record.keep}
    if tensors:
        metadata = {"format": "headstart-run", "version": str(FORMAT_VERSION)}
        write_atomic(out / "weights.safetensors", lambda tmp: save_file(tensors, str(tmp), metadata=metadata))  # streamed
    write_json(out / "metrics.json", {**record.metrics, **notes})
    if record.done:
        record.strategy.save_files(model, out)
    write_json(out / "spec.json", {**record.spec, CARD_PATH: name})


def _majority(s: Any) -> dict[str, Any]:
    """A classifier's ``{"majority": {"val": ..., "test": ...}}`` (``evaluation.majority_class`` of each split): the
    accuracy of always answering the split's most frequent class, which the card quotes beside the run's own; a test
    split that ``max_test`` cut says its full size (``"of"``)."""
    from headstart.evaluation import majority_class

    if s.data.task != "classification":
        return {}
    from headstart.data.splits import uncapped_test_rows

    split = {part: majority_class(s.data.targets[rows], tuple(s.data.label_names))
             for part, rows in (("val", s.splits.val), ("test", s.splits.test))}
    full = uncapped_test_rows(s.data, s.split_config) if split["test"] is not None else None
    if full is not None and full > split["test"]["rows"]:  # --max-test cut the split: "of" its full size, as evaluate says
        split["test"]["of"] = full
    return {"majority": {part: m for part, m in split.items() if m is not None}}


def card_name(out: str | Path, *, kept: bool = False) -> str:
    """The run folder ``out`` as its model card's commands write it: train, a save, a copy, a merge and evaluate's card
    all take it from here. The path as given, in ``Path``'s form (``runs/lp/`` and ``./runs/lp`` read ``runs/lp``); with
    ``kept`` (a card made again in place: ``evaluate``), the path the folder's card already names where it still names
    this folder, so evaluate given ``/abs/runs/lp``, or run from another folder, leaves train's ``runs/lp`` as it was (a
    folder moved since takes the path given)."""
    given = str(Path(out))
    if not kept:
        return given
    written = _card_path(Path(out))
    if written is None:
        return given
    here, named = Path(out).resolve(), Path(written).expanduser()
    relative_tail = not named.is_absolute() and ".." not in named.parts and here.parts[-len(named.parts):] == named.parts
    return written if relative_tail or named.resolve() == here else given


# spec.json's field holding the run's path as the command that wrote the folder named it (``card_name``: train, a
# save, a copy, a merge): the path its model card's commands run on, which evaluate's card keeps.
CARD_PATH = "card_path"


def _card_path(directory: Path) -> str | None:
    """The run path ``directory``'s model card names, as its spec.json records it (``CARD_PATH``); for a run saved before
    that field, as its card's evaluate line writes it (``_named_in_card``). None where neither says."""
    try:
        meta = json.loads((directory / "spec.json").read_text())
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and CARD_PATH in meta:
        named = meta[CARD_PATH]
        return named if isinstance(named, str) and named else None
    return _named_in_card(directory / "README.md")


# The card's evaluate line, ``headstart evaluate PATH{EVALUATE_LINE_END}``: written by ``write_model_card``, read back
# by ``_named_in_card`` for a run saved before spec.json recorded its path (``CARD_PATH``).
EVALUATE_LINE_END = "   # the test split"


def _named_in_card(card: Path) -> str | None:
    """The run path a model card's Use section writes (its ``headstart evaluate PATH   # the test split`` line, as
    ``write_model_card`` writes it in every form), None where the card has none or cannot be read: the path of a run
    saved before spec.json recorded it (``CARD_PATH``)."""
    try:
        lines = card.read_text().splitlines()
    except (OSError, ValueError):
        return None
    for line in lines:
        if line.startswith("headstart evaluate ") and line.endswith(EVALUATE_LINE_END):
            command = line.removesuffix(EVALUATE_LINE_END)
            try:
                words = shlex.split(command)
            except ValueError:
                return None
            return words[2] if len(words) == 3 else None
    return None


def write_model_card(out: Path, *, name: str, image: bool = False) -> None:
    """README.md in a run directory: what trained on what, its validation metrics, where it ran, how to use it (for a
    run on an image backbone, ``image``: predict on image files, and no export, which writes text encoders only; for a
    text-pair run: predict on pairs, and no export, which writes single-text models only); ``name``, the run's path in
    its commands, is ``card_name``'s."""
    from headstart.data.columns import run_pair
    from headstart.model_card import model_card
    from headstart.report.mdtext import md_fence, md_text

    meta = {**json.loads((out / "spec.json").read_text()), **_adapted(out)}
    metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() else None
    run = shlex.quote(name)  # the commands run on the path as written, spaces and all
    status = run_status(metrics)
    if status not in USABLE:  # no weights were kept: every command below would refuse the run
        error = (metrics or {}).get("error")
        how = (f"This run {md_text(str(status))}{f' ({md_text(str(error))})' if error else ''} and kept no weights: "
               "nothing here predicts, evaluates or exports it. Train it again with what the error names changed (a "
               "diverged run: a lower --lr).")
    elif image:
        how = md_fence(f"headstart predict {run} photo.png   # or a folder of images, or a table naming them\n"
                       f"headstart evaluate {run}{EVALUATE_LINE_END}", "bash")
    elif (pair := run_pair(meta.get("data_source"))) is not None:  # export refuses pairs
        first, second = pair
        line = shlex.quote(f"a {first}\\ta {second}\\n")
        how = md_fence(f"printf {line} | headstart predict {run} -   # a pair a line: {first}<TAB>{second}\n"
                       f"headstart predict {run} pairs.csv   # a table with columns "
                       f"{first},{second}\nheadstart evaluate {run}{EVALUATE_LINE_END}", "bash")
    else:
        how = md_fence(f"echo 'a review to score' | headstart predict {run} -\nheadstart evaluate {run}{EVALUATE_LINE_END}"
                       f"{_export_lines(out, meta, run=run, name=name)}", "bash")
    write_atomic(out / "README.md", model_card(meta, metrics, how=how).encode())


def _export_lines(out: Path, meta: dict[str, Any], *, run: str, name: str) -> str:
    """The card's export commands: ``headstart export`` where export writes the run (``export_refusal.refusal``, which export
    itself asks), a 4-bit run's merge first, and none where no format writes it (predict serves it)."""
    from headstart.export_refusal import refusal
    from headstart.strategies import get_strategy

    if refusal(out, meta) is None:
        return f"\nheadstart export {run} --format hf --out {shlex.quote(f'{name}-hf')}   # a folder transformers loads"
    if get_strategy(meta["resolved"]["strategy"]).quantized and meta.get("backbone_saved") != "merged":
        merged = shlex.quote(f"{name}-merged")
        return (f"\nheadstart adapters merge {run} --dequantize --out {merged}   # the adapter folded into an fp32 base"
                f"\nheadstart export {merged} --format hf --out {shlex.quote(f'{name}-merged-hf')}   # a folder transformers loads")
    return ""


def _adapted(out: Path) -> dict[str, Any]:
    """``{"adapted": [...]}``: the modules a PEFT run's adapter is on, as its adapter_config.json names them (``targets``
    unset is PEFT's default for the architecture: BERT's query and value), for its card; {} where none is named."""
    try:
        targets = json.loads((out / "adapter_config.json").read_text()).get("target_modules")
    except (OSError, ValueError, AttributeError):
        return {}
    if isinstance(targets, str):
        return {"adapted": targets}
    return {"adapted": sorted(map(str, targets))} if isinstance(targets, list) and targets else {}


def saved_stamp(directory: Path) -> tuple[int, int] | None:
    """Which save of a run ``directory`` holds: its spec.json's inode and modification time (a save swaps in a new
    folder, so a run saved again with the same spec gets another; ``record_test`` and an sft run's ``rescore`` leave
    spec.json as it is); None where there is no spec.json."""
    try:
        found = (Path(directory) / "spec.json").stat()
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns


def record_test(run: "LoadedRun", scored: dict[str, Any], *, stamp: tuple[int, int] | None) -> str | None:
    """Write the test score ``headstart evaluate`` made (``loaded.evaluate_loaded``'s, on the run's own test split)
    into the run's folder: metrics.json's ``test`` (its rows, numbers, the accuracy's 95% interval and the capped
    split's note; in place of an earlier one, every other field as the file has it) and README.md made again from it
    (``write_model_card``). Both are written whole, a Ctrl-C or SIGTERM held back until they are.

    Args:
        stamp: ``saved_stamp`` of the folder before the run was loaded: a folder that holds another save by now
            (``train --out`` into it meanwhile) is not written.

    Returns:
        None where written; else why not, one line (the folder holds another run now, or cannot be written: a
        read-only folder still evaluates).
    """
    from headstart.interrupts import signals_held
    from headstart.model_card import TEST_METRICS

    directory = run.directory
    if saved_stamp(directory) != stamp:
        return "it holds another save of a run since this one was loaded"
    test = {k: v for k, v in scored.items() if k in ("n", "accuracy_ci", "note", *TEST_METRICS)}
    try:
        metrics = json.loads((directory / "metrics.json").read_text())
    except (OSError, ValueError):
        return "its metrics.json cannot be read"
    if not isinstance(metrics, dict):
        return "its metrics.json is damaged (not a JSON object)"
    try:
        with signals_held():  # metrics.json and README.md both, or the old pair
            write_json(directory / "metrics.json", {**metrics, "test": test})
            write_model_card(directory, name=card_name(directory, kept=True), image=getattr(run.model.backbone, "modality", "text") == "image")
    except OSError as e:
        return f"it cannot be written ({e.strerror or type(e).__name__})"
    return None


def trained_buffers(model: torch.nn.Module, trained: list[str]) -> set[str]:
    """State-dict names of the buffers of every module that owns a trained parameter: BatchNorm running statistics
    move with their block's weights when it trains in training mode, and must be saved with them."""
    owners = {name.rpartition(".")[0] for name in trained}
    return {f"{prefix}.{name}" if prefix else name
            for prefix, module in model.named_modules() if prefix in owners
            for name, _ in module.named_buffers(recurse=False)}


def saved_bytes(model: torch.nn.Module, report: FitReport, backbone: str) -> int:
    """Bytes a run's saved weights take: the head plus what trained in the backbone (all of it from scratch)."""
    trained = set(report.trained)
    return sum(v.numel() * v.element_size() for k, v in model.state_dict().items()
               if not k.startswith("backbone.") or k in trained or backbone == "full")


# ---- reading ------------------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    directory: Path
    meta: dict[str, Any] = field(repr=False)
    model: TaskModel = field(repr=False)
    task: str
    label_names: tuple[str, ...]
    device: torch.device

    @property
    def resolved(self) -> dict[str, Any]:
        return self.meta["resolved"]


def _status(directory: Path) -> str:
    try:
        metrics = json.loads((directory / "metrics.json").read_text())
    except (OSError, ValueError):
        return "done"  # metrics.json is informational; the weights check below decides
    return run_status(metrics)  # valid JSON, not an object: "done"


def weights_of(identity: dict[str, Any]) -> str | None:
    """The weight files' fingerprint a backbone identity records: a text folder's ``weights``, an image folder's
    ``source`` after its '#'; None for a built-in backbone (its package pins the weights)."""
    if identity.get("weights"):
        return str(identity["weights"])
    source = str(identity.get("source") or "")
    return source.rpartition("#")[2] if "#" in source else None


def check_same_weights(directory: Path, recorded: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse a run whose backbone folder holds other weights than when it trained: its head and any adapter were
    fitted to the old ones, so its predictions would be silently wrong.

    Raises:
        StoreError: the fingerprints differ.
    """
    before, now = weights_of(recorded), weights_of(current)
    if before and now and before != now:
        source = str(recorded.get("source") or recorded.get("name")).partition("#")[0]
        raise StoreError(f"the backbone {source!r} holds other weights than when {str(directory)!r} trained (fingerprint "
                         f"{before[:12]} then, {now[:12]} now), and the run's head was fitted to the old ones; put those "
                         "weights back, or train the run again on the new ones")


def check_usable(directory: Path, saved: str | None = None) -> None:
    """Refuse a run that diverged or failed, or that misses a weight file it saved (``run_meta.check_saved_files``:
    weights.safetensors, and with ``saved`` "adapter", spec.json's ``backbone_saved``, adapter_model.safetensors).

    Raises:
        StoreError: naming the run and what to do.
    """
    status = _status(directory)
    if status not in USABLE:
        raise StoreError(f"{str(directory)!r} holds a {status} run (no usable weights); train it again with a lower learning rate")
    check_saved_files(directory, saved)


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors.

    Raises:
        StoreError: the file is not readable safetensors (truncated, overwritten).
    """
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types on truncated / foreign files
        raise StoreError(f"cannot read {str(path)!r} ({type(e).__name__}): the file is corrupt; train the run again") from None


def load_weights(directory: Path, model: TaskModel) -> list[str]:
    """Load ``directory``'s weights.safetensors into ``model``: every head key, nothing foreign; the backbone keys it
    lacks (the pre-trained weights, which the file does not repeat) are returned.

    Raises:
        StoreError: the file is corrupt, or its keys or shapes do not match the model its spec.json describes.
    """
    weights = directory / "weights.safetensors"
    tensors = read_tensors(weights)
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as e:  # shapes that disagree with spec.json (its label_names edited, say)
        raise StoreError(f"{str(weights)!r} does not match its spec.json ({str(e).splitlines()[-1].strip()[:160]}); "
                         "train the run again") from None
    if unexpected or any(not k.startswith("backbone.") for k in missing):
        raise StoreError(f"{str(weights)!r} does not match its spec (unexpected {unexpected[:3]}, missing {[k for k in missing if not k.startswith('backbone.')][:3]}); train the run again")
    return missing


def load_run(directory: str | Path) -> LoadedRun:
    """Rebuild the trained model of a run directory.

    Raises:
        StoreError: not a run directory, incompatible format, missing or corrupt weights.
    """
    from safetensors import SafetensorError

    directory = Path(directory)
    meta = read_meta(directory)
    resolved = meta["resolved"]
    identity = resolved["backbone_config"]
    strategy = get_strategy(resolved["strategy"])
    backbone = load_backbone(meta["spec"]["backbone"], **preprocessing(identity), download=False)
    if meta["backbone_saved"] == "full":  # not the pre-trained backbone: the strategy's own (scratch's fresh twin, TF-IDF)
        backbone = strategy.backbone(backbone, seed=resolved["seed"])
    configure = getattr(backbone, "configure", None)  # the run's own backbone settings (an image backbone's BatchNorm mode)
    if configure is not None:
        configure(SimpleNamespace(**{"bn": "auto", **resolved["train"]}))
    label_names = tuple(meta["label_names"])
    task = resolved["data"]["task"]
    model = TaskModel(backbone, 1 if task == "regression" else len(label_names), seed=0)
    check_usable(directory, meta["backbone_saved"])
    if meta["backbone_saved"] != "merged":  # rebuild the strategy's structure (adapters, 4-bit base, kNN memory), then load
        try:
            strategy.attach(model, strategy.options(resolved["options"]), precision=resolved["train"]["precision"],
                            directory=directory)
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # a damaged adapter_model.safetensors, say
            raise StoreError(f"cannot load the adapter in {str(directory)!r} ({type(e).__name__}: {str(e).splitlines()[0][:200]}); train the run again") from None
    missing = load_weights(directory, model)
    unread = {n for n, p in model.named_parameters() if id(p) in unused_parameters(model.backbone)}  # a pooler: never saved
    if set(missing) - unread and meta["backbone_saved"] != "full":  # some weights come from the backbone folder: as then?
        check_same_weights(directory, identity, backbone.describe())
    device = pick_device()
    model.to(device).eval()
    return LoadedRun(directory, {**meta, "val_checks": validation_checks(directory), "val_grid": validation_grid(directory),
                                 "cut_short": cut_short(directory)}, model, task, label_names, device)


def cut_short(directory: Path) -> str | None:
    """What a saved run's metrics.json says of an interrupt that ended its steps ("interrupted by SIGTERM at step 77
    of 100 and kept its best validation checkpoint (step 60)"), so a later score says it is of that checkpoint; None for a run
    that finished its steps (one interrupted while it was scored after them included: it lists ``not_scored``)."""
    try:
        metrics = json.loads((Path(directory) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    ended = steps_interrupted(metrics)
    if ended is None:
        return None
    best = metrics.get("best_step")
    return f"{ended} and kept " + (f"its best validation checkpoint (step {best})" if isinstance(best, int) and best > 0
                                   else "the weights of its last step (no validation check had run)")


def validation_grid(directory: Path) -> str | None:
    """The setting a saved closed-form run chose on validation among a grid of its values (``held_out.grid_name``:
    embed-knn's ``k``), from its ``metrics.json``; None for a run that took steps, or when unknown."""
    from headstart.held_out import grid_name

    try:
        metrics = json.loads((Path(directory) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("chosen"), dict):
        return None
    return grid_name(metrics.get("steps"), metrics["chosen"])


def validation_checks(directory: Path) -> int:
    """How many validation checks a saved run's checkpoint was chosen among (``metrics.json``'s ``val_checks``; for a
    run saved before it, its held-out score's count, which counts a solver's ranked candidates, else its history's
    checks); 0 when unknown."""
    try:
        metrics = json.loads((Path(directory) / "metrics.json").read_text())
    except (OSError, ValueError):
        return 0
    if not isinstance(metrics, dict):
        return 0
    if isinstance(metrics.get("val_checks"), int):
        return metrics["val_checks"]
    held = metrics.get("val_held_out")
    if isinstance(held, dict) and isinstance(held.get("checks"), int):
        return held["checks"]
    history = metrics.get("history") if isinstance(metrics.get("history"), list) else []
    return sum(1 for h in history if isinstance(h, dict) and "val_score" in h)
