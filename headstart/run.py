"""One run, top to bottom: setup -> train -> save. Plus loading a saved run to evaluate or predict.

A saved run directory (built whole beside the old one, then swapped in: ``save``) holds ``spec.json`` (the spec as given, the resolved spec, its key, the data
identity and split), ``weights.safetensors`` (the head, and whatever part of the backbone changed) and
``metrics.json`` (validation metrics and the training record). Nothing is pickled.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.backbones import count_parameters, load_backbone
from headstart.backbones.registry import REGISTRY as BACKBONES
from headstart.data import Dataset, SplitConfig, load_dataset, split_dataset, subsample
from headstart.engine import FitData, FitReport, fit
from headstart.backbones.image import set_bn_mode
from headstart.errors import ConfigError, StoreError
from headstart.features import FeatureCache
from headstart.killpoints import kill_point
from headstart.model import TaskModel
from headstart.objectives import TaskLoss, TermContext, build_objective, class_weights
from headstart.precision import resolve_precision
from headstart.progress import ProgressFn
from headstart.specs import RunSpec, TrainConfig, run_key
from headstart.strategies import get_strategy
from headstart.strategies.base import budget_for  # noqa: F401  (run.budget_for: tuning and the benchmarks use it)
from headstart.strategies.registry import check_applies
from headstart.strategies.peft_base import ADAPTER, is_peft

FORMAT_VERSION = 1  # of the run directory layout


@dataclass
class Setup:
    """Everything a run needs, built from its spec (no training yet)."""

    spec: RunSpec
    data: Dataset
    splits: Any
    train_rows: np.ndarray
    strategy: Any
    options: Any
    cfg: TrainConfig
    pretrained: torch.nn.Module
    model: TaskModel
    encoded: list
    precision: str
    device: torch.device
    split_config: SplitConfig

    def resolved(self) -> dict[str, Any]:
        """The fully resolved spec: hashed into the run key and stored with every result."""
        return resolve(self.spec, self.data, self.pretrained, split_config=self.split_config, n_train=len(self.train_rows),
                       precision=self.precision)


def resolve(spec: RunSpec, data: Dataset, pretrained: torch.nn.Module, *, split_config: SplitConfig, n_train: int,
            precision: str) -> dict[str, Any]:
    """The resolved spec of ``spec`` (strategy defaults filled in) as plain data; cheap, builds no model."""
    strategy = get_strategy(spec.strategy)
    cfg = spec.train.with_defaults(strategy.defaults_for(modality_of(pretrained)))
    check_compatible(strategy, data, pretrained, cfg)
    identity = pretrained.describe()
    if identity["name"] in BACKBONES:
        identity.pop("source")  # a registered backbone is identified by its (pinned) name, not its install path
    # The input size actually used: an explicit --image-size equal to the network's own gives the same key.
    cfg = dataclasses.replace(cfg, image_size=identity.get("image_size"))
    return {
        "data": {"name": data.name, "hash": data.hash, "task": data.task, "split": dataclasses.asdict(split_config)},
        "backbone": identity.pop("name"),
        "backbone_config": identity,
        "strategy": strategy.name,
        "options": dataclasses.asdict(strategy.options(spec.options)),
        "train": _train_identity(cfg, precision),
        "n": n_train,
        "n_requested": "all" if spec.n is None else spec.n,
        "seed": spec.seed,
        **_tuning(spec, strategy, modality_of(pretrained)),
        **_terms(spec, strategy),
        **({"retain": list(spec.retain)} if spec.retain else {}),  # measured after training: stored with the run
    }


def _terms(spec: RunSpec, strategy: Any) -> dict[str, Any]:
    """The objective terms of a resolved spec, their options filled in; absent without terms, so keys stay as they were.

    Raises:
        ConfigError: a term that means nothing with ``strategy``, with the reason.
    """
    if not spec.terms:
        return {}
    from headstart.objectives import get_term
    from headstart.objectives.terms import term_options

    resolved = {}
    for name, given in sorted(spec.terms.items()):
        term = get_term(name)
        why = term.refuses(strategy)
        if why:
            raise ConfigError(f"{name} cannot be used with {strategy.name}: {why}")
        resolved[name] = dataclasses.asdict(term_options(term, dict(given or {})))
    return {"terms": resolved}


def _train_identity(cfg: TrainConfig, precision: str) -> dict[str, Any]:
    """The resolved TrainConfig in a run key. Fields added after results version 4 are left out while unset, so
    runs that do not use them keep their keys."""
    train = {**dataclasses.asdict(cfg), "precision": precision}
    if train["evals_per_epoch"] is None:
        del train["evals_per_epoch"]
    return train


def _tuning(spec: RunSpec, strategy: Any, modality: str) -> dict[str, Any]:
    """The tuning part of a resolved spec: absent when not tuning, so untuned run keys stay as they were."""
    from headstart.tuning import ETA, TRIAL_CHECKS, plan_for

    plan = plan_for(spec, strategy, modality)
    return {"tune": {"param": plan[0], "grid": list(plan[1]), "eta": ETA, "trial_checks": TRIAL_CHECKS}} if plan else {}


def check_compatible(strategy: Any, data: Dataset, pretrained: torch.nn.Module, cfg: TrainConfig) -> None:
    """Data, backbone, strategy and the image-only settings fit together.

    Raises:
        ConfigError: images with a text backbone (or the reverse), a strategy that cannot adapt this kind of
            backbone (naming those that can), or --augment / --bn with a text backbone.
    """
    modality = modality_of(pretrained)
    if data.modality != modality:
        fits = [name for name, entry in BACKBONES.items() if entry.modality == data.modality]
        raise ConfigError(f"{data.name!r} holds {data.modality}s but backbone {getattr(pretrained, 'name', '?')!r} reads {modality}s; "
                          f"use --backbone {fits[0]} ({data.modality} backbones: {', '.join(fits)})")
    check_applies(strategy, modality)
    if modality != "image" and (cfg.augment != "none" or cfg.bn == "frozen"):
        raise ConfigError(f"--augment and --bn apply to image backbones, not to {getattr(pretrained, 'name', '?')!r}; drop them")


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_for(precision: str, device: torch.device):
    if precision != "bf16":
        return None
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def modality_of(backbone: torch.nn.Module | None) -> str:
    """"text" or "image": what a (pre-trained) backbone reads; strategies' defaults and grids depend on it."""
    return getattr(backbone, "modality", "text")


def load_pretrained(spec: RunSpec) -> torch.nn.Module:
    """The pre-trained backbone ``spec`` names, with its preprocessing settings (what ``setup`` loads)."""
    return load_backbone(spec.backbone, max_length=spec.train.max_length, pooling=spec.pooling, image_size=spec.train.image_size)


def setup(spec: RunSpec, *, data: Dataset | None = None, pretrained: torch.nn.Module | None = None) -> Setup:
    """Load data and backbone, draw the subsample, resolve the config, build the model.

    Args:
        spec: the run.
        data / pretrained: already loaded dataset / backbone to reuse (a sweep loads them once).
    """
    strategy = get_strategy(spec.strategy)
    options = strategy.options(spec.options)
    data = data or load_dataset(spec.data, text_column=spec.text_column, label_column=spec.label_column, task=spec.task)
    split_config = spec.split
    splits = split_dataset(data, split_config)
    train_rows = subsample(data, splits.pool, spec.n, spec.seed)
    pretrained = pretrained or load_pretrained(spec)
    cfg = spec.train.with_defaults(strategy.defaults_for(modality_of(pretrained)))
    check_compatible(strategy, data, pretrained, cfg)
    device = pick_device()
    precision = resolve_precision(cfg.precision, device)
    # The strategy may train the backbone in place: give it a private copy (the tokenizer is shared, read-only),
    # unless it never changes the backbone it is given.
    private = pretrained if strategy.leaves_backbone else copy.deepcopy(
        pretrained, memo={id(getattr(pretrained, "tokenizer", None)): getattr(pretrained, "tokenizer", None)})
    backbone = strategy.backbone(private, seed=spec.seed)
    if getattr(backbone, "modality", None) == "image":
        set_bn_mode(backbone, cfg.bn)
    mean, std = 0.0, 1.0
    if data.task == "regression":
        y = data.targets[train_rows].astype(np.float64)
        mean, std = float(y.mean()), float(y.std()) or 1.0
    model = TaskModel(backbone, data.num_outputs, seed=spec.seed, target_mean=mean, target_std=std).to(device)
    strategy.attach(model, options, precision=precision, seed=spec.seed)
    # A twin of the pre-trained backbone (scratch) reads inputs as it does; a backbone of another kind
    # (tfidf-logreg's TF-IDF featuriser) reads them its own way.
    encoded = encoded_inputs(pretrained if type(backbone) is type(pretrained) else backbone, data)
    return Setup(spec, data, splits, train_rows, strategy, options, cfg, pretrained, model, encoded, precision, device, split_config)


_ENCODED: dict[str, list] = {}


def encoded_inputs(backbone: torch.nn.Module, data: Dataset) -> list:
    """``backbone.encode(data.inputs)``, memoised per (preprocessing, dataset) so a sweep tokenises once."""
    key = json.dumps([backbone.describe(), data.hash], sort_keys=True, default=str)
    if key not in _ENCODED:
        while len(_ENCODED) >= 2:  # sweeps go one dataset at a time, read by the backbone's encoder and TF-IDF's at most
            _ENCODED.pop(next(iter(_ENCODED)))
        _ENCODED[key] = backbone.encode(data.inputs)
    return _ENCODED[key]



def selection_metric(cfg: TrainConfig, data: Dataset, train_rows: np.ndarray) -> str:
    if cfg.metric != "auto":
        return cfg.metric
    if data.task == "regression":
        return "rmse"
    if data.task == "multilabel":
        return "macro_f1"
    counts = np.bincount(data.targets[train_rows].astype(np.int64), minlength=data.num_classes)
    return "macro_f1" if counts.max() > 3 * max(counts.min(), 1) else "accuracy"


def feature_cache(s: Setup) -> FeatureCache | None:
    """Cached features of the pre-trained backbone, when the strategy starts from it."""
    if not s.strategy.uses_pretrained:
        return None
    identity = {**s.pretrained.describe(), "precision": s.precision}
    return FeatureCache(s.pretrained, s.encoded, s.data.hash, batch_size=s.cfg.eval_batch_size,
                        autocast=autocast_for(s.precision, s.device), identity=identity)


def train(s: Setup, *, progress: ProgressFn | None = None) -> FitReport:
    """Plan the strategy's phases on the model and run the engine."""
    budget = budget_for(s.cfg, len(s.train_rows))
    phases = s.strategy.plan(s.model, s.options, s.cfg, budget)
    targets = s.data.targets
    if s.data.task == "regression":
        targets = (targets - float(s.model.target_mean)) / float(s.model.target_std)
    weights = class_weights(s.data.targets[s.train_rows], s.data.num_classes, s.cfg.class_weights) if s.data.task == "classification" else None
    loss_fn = TaskLoss(s.data.task, None if weights is None else weights.to(s.device))
    fit_data = FitData(encoded=s.encoded, targets=torch.as_tensor(targets), raw_targets=s.data.targets,
                       train_rows=s.train_rows, val_rows=s.splits.val, features=feature_cache(s), class_weights=weights)
    objective = build_objective(s.model, s.strategy, s.spec.terms, term_context(s)) if s.spec.terms else None
    return fit(s.model, phases, loss_fn, fit_data, s.cfg, seed=s.spec.seed, task=s.data.task,
               label_names=s.data.label_names, metric=selection_metric(s.cfg, s.data, s.train_rows),
               autocast=autocast_for(s.precision, s.device), progress=progress,
               penalty=objective.penalty if objective is not None else None)


def term_context(s: Setup) -> TermContext:
    """What the objective terms read before training: the task, and reference inputs drawn (with the run's seed) from
    the training pool — inputs only, their labels are never read."""
    def reference(rows: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
        chosen = np.random.default_rng(s.spec.seed).permutation(s.splits.pool)[:rows]
        return [{k: v.to(s.device) for k, v in s.model.backbone.collate([s.encoded[r] for r in chosen[i : i + batch_size]]).items()}
                for i in range(0, len(chosen), batch_size)]

    return TermContext(task=s.data.task, reference=reference, seed=s.spec.seed)


def backbone_saved(s: Setup, report: FitReport) -> str:
    """What a run changed in the backbone: "full" (trained from scratch), "adapter" (a PEFT adapter, saved in
    PEFT's format), "trained" (some params), or "none"."""
    if not s.strategy.uses_pretrained:
        return "full"
    if is_peft(getattr(s.model.backbone, "model", None)):
        return "adapter" if report.status == "done" else "none"
    if report.status == "done" and any(k.startswith("backbone.") for k in report.trained):
        return "trained"
    return "none"


def write_json(path: Path, payload: Any) -> None:
    """Atomic JSON write: a temp file in the same directory, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2, default=_plain))
        kill_point(f"write:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no temp file survives a handled error
        raise


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


RUN_FILES = ("spec.json", "metrics.json")  # a directory holding either is a run (perhaps half-saved before issue 25)


def save(s: Setup, report: FitReport, out: str | Path) -> Path:
    """Write the run into ``out``: built complete in a sibling staging directory, then swapped in.

    A failure while writing (a full disk, a kill) leaves ``out`` as it was: the previous run there still loads,
    and the staging directory is removed. ``out`` must be new, empty, or a run directory: a directory holding other
    files is refused rather than replaced.

    Raises:
        StoreError: ``out`` cannot be written, or is a non-empty directory that is not a run.
    """
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not any((out / name).exists() for name in RUN_FILES):
        raise StoreError(f"--out {str(out)!r} is a directory holding other files, not a headstart run; "
                         f"choose a new directory, e.g. {str(out / 'run')!r}")
    staging = out.parent / f".{out.name}.saving-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as e:
        raise StoreError(f"cannot write to output directory {str(out)!r} ({e.strerror}); choose another --out") from None
    try:
        _write_run(s, report, staging)
        kill_point("swap:run")
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _swap_in(staging: Path, out: Path) -> None:
    """Put the complete ``staging`` directory at ``out``: two renames, the old run removed only after both."""
    if not out.exists():
        os.replace(staging, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def _write_run(s: Setup, report: FitReport, out: Path) -> None:
    """Write weights.safetensors (+ a PEFT adapter, + the strategy's files), metrics.json and spec.json into ``out``.

    Saves the head (+ regression scaling) and, of the backbone, everything when it was trained from
    scratch, only the parameters that trained otherwise (the rest reloads from the pre-trained source).
    """
    from safetensors.torch import save_file

    state = s.model.state_dict()
    saved = backbone_saved(s, report)
    if report.status != "done":  # diverged: keep the record (spec, metrics with the reason), never the NaN weights
        keep = set()
    elif saved == "full":
        keep = set(state)
    elif saved == "adapter":  # the adapter goes to PEFT's files; weights.safetensors keeps the head
        save_adapter(s.model.backbone.model, out)
        keep = {k for k in state if not k.startswith("backbone.")}
    else:
        keep = {k for k in state if not k.startswith("backbone.")} | set(report.trained) | trained_buffers(s.model, report.trained)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items() if k in keep}
    if tensors:
        tmp = out / f".weights.{os.getpid()}.tmp"
        save_file(tensors, str(tmp), metadata={"format": "headstart-run", "version": str(FORMAT_VERSION)})
        kill_point("write:weights.safetensors")
        os.replace(tmp, out / "weights.safetensors")
    write_json(out / "metrics.json", {
        "split": "val",
        "status": report.status,
        "error": report.error,
        "val": report.val_metrics,
        "steps": report.steps,
        "best_step": report.best_step,
        "train_seconds": round(report.seconds, 3),
        "trainable_params": report.trainable_params,
        "total_params": count_parameters(s.model),
        "history": report.history,
        "chosen": report.chosen,
    })
    if report.status == "done":
        s.strategy.save_files(s.model, out)
    resolved = s.resolved()
    write_json(out / "spec.json", {
        "format_version": FORMAT_VERSION,
        "key": run_key(resolved),
        "spec": s.spec.to_dict(),
        "resolved": resolved,
        "data_source": s.data.source,
        "label_names": list(s.data.label_names),
        "train_rows": s.train_rows.tolist(),
        "backbone_saved": saved,
    })


def trained_buffers(model: torch.nn.Module, trained: list[str]) -> set[str]:
    """State-dict names of the buffers of every module that owns a trained parameter: BatchNorm running statistics
    move with their block's weights when it trains in training mode, and must be saved with them."""
    owners = {name.rpartition(".")[0] for name in trained}
    return {f"{prefix}.{name}" if prefix else name
            for prefix, module in model.named_modules() if prefix in owners
            for name, _ in module.named_buffers(recurse=False)}


def save_adapter(encoder: torch.nn.Module, out: Path) -> None:
    """PEFT's ``save_pretrained`` (adapter_config.json + adapter_model.safetensors), written atomically."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(dir=out, prefix=".adapter-") as tmp:
        encoder.save_pretrained(tmp, selected_adapters=[ADAPTER], safe_serialization=True)
        source = Path(tmp) if (Path(tmp) / "adapter_config.json").exists() else Path(tmp) / ADAPTER
        for name in ("adapter_config.json", "adapter_model.safetensors"):
            os.replace(source / name, out / name)
        shutil.rmtree(tmp, ignore_errors=True)


def saved_bytes(model: torch.nn.Module, report: FitReport, backbone: str) -> int:
    """Bytes a run's saved weights take: the head plus what trained in the backbone (all of it from scratch)."""
    trained = set(report.trained)
    return sum(v.numel() * v.element_size() for k, v in model.state_dict().items()
               if not k.startswith("backbone.") or k in trained or backbone == "full")


def run_one(spec: RunSpec, *, out: str | Path | None = None, progress: ProgressFn | None = None,
            data: Dataset | None = None, pretrained: torch.nn.Module | None = None) -> tuple[Setup, FitReport]:
    """setup -> train -> (save). Returns the setup (with the trained model) and the fit report."""
    s = setup(spec, data=data, pretrained=pretrained)
    report = train(s, progress=progress)
    if out is not None:
        save(s, report, out)
    return s, report
