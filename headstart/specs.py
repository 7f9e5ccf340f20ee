"""Run specifications: frozen dataclasses, validated on construction, hashed into stable run keys.

A run is fully described by its ``RunSpec``: data, backbone, strategy (+ its options), labelled-set size,
seed and ``TrainConfig``. Fields left ``None`` take the strategy's default (``resolve``); the resolved
spec is what is saved beside the weights and hashed into the key, so an explicit value equal to the
default gives the same key, and any changed hyperparameter gives a new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from headstart.arguments import check_once, check_seed, parse_grid
from headstart.data.splits import SplitConfig
from headstart.errors import ConfigError, clipped
from headstart.python_checks import settings_class
from headstart.surface import spoken

# Bump when a change to the code changes results for the same spec: old store rows then stop matching.
RESULTS_VERSION = 7  # 2: dropout stays on inside trained blocks; 3: frozen blocks stay in eval mode after each validation;
# 4: CPU dropout masks from headstart.fastdropout (same distribution, another random stream); 5: the best checkpoint
# restores BatchNorm statistics with its weights (text encoders have none: their results are unchanged); 6: tent scores
# a shuffled test split, bn-adapt / tent on a --bn frozen run map BatchNorm statistics through the source's, and images
# are not bucketed by channel count (a run without --tta on images of one channel count is unchanged); 7: EWC's Fisher and
# continual EWC / MAS / SI importance are measured and normalised over the weights that train (a run whose every weight
# trains, full fine-tuning, is unchanged)

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16")
CLASS_WEIGHTS = ("none", "auto", "balanced")
METRICS = ("auto", "accuracy", "macro_f1", "balanced_accuracy", "rmse", "loss")
OPTIMIZERS = ("adamw", "adamw8bit", "paged-adamw8bit")
BN_MODES = ("auto", "train", "frozen")  # image backbones' BatchNorm during training (headstart.backbones.image)
AUGMENTS = ("none", "crop", "flip-crop")  # image training batches (headstart.backbones.image.augment_pixels)
POOLINGS = ("cls", "max", "mean", "mean_sqrt_len", "weightedmean", "lasttoken")  # text backbones; sentence-transformers' concatenation order


def tune_setting(tune: Any) -> str | None:
    """What to tune: "lr", or None for nothing; a bool (Python's natural on / off) reads as "lr" / None.

    Raises:
        ConfigError: any other value, named.
    """
    if tune is False or tune is None:
        return None
    if tune is True:
        return "lr"
    if tune not in ("lr",):
        # no "--no-tune" here: compare has it, train does not (it tunes only when asked)
        python = " or None (no tuning; True and False mean these two)"
        raise ConfigError(f"--tune must be 'lr' (the learning rate, chosen on validation){spoken('', python)}, "
                          f"got {tune!r}; try --tune lr")
    return tune


MAX_IMAGE_SIZE = 2048  # pixels a side: the backbones here were trained at 224-320


def check_image_size(size: Any) -> None:
    """Refuse an ``--image-size`` no backbone can take (None: the network's own).

    Raises:
        ConfigError: not an integer >= 8, or above ``MAX_IMAGE_SIZE``.
    """
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 8):
        raise ConfigError(f"--image-size must be an integer >= 8, got {size!r}; try --image-size 224")
    if size is not None and size > MAX_IMAGE_SIZE:  # 22400 for 224: a traceback asking 140 GB
        raise ConfigError(f"--image-size must be at most {MAX_IMAGE_SIZE} (a batch of 16 images at {size} px "
                          f"is {16 * 3 * 4 * size ** 2 / 1e9:.0f} GB of input alone), got {size}; try --image-size 224")


# What the engine reads only while it takes optimiser steps. A strategy fitted in closed form (a solve, no backbone
# rate: embed-logreg, embed-knn, tfidf-logreg, zero-shot, zero-shot-prompt, icl) reads none of them: ``resolve`` puts
# them back to its defaults, and an arm's label (``analysis.arms``) leaves them out of such a run's settings.
STEP_SETTINGS = ("lr", "head_lr", "epochs", "min_steps", "max_steps", "batch_size", "accumulate", "warmup", "schedule",
                 "weight_decay", "clip", "patience", "evals_per_phase", "evals_per_epoch", "optimizer")


@settings_class
@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of the training loop. ``None`` means "the strategy's default" (see ``resolve``)."""

    lr: float | None = None  # backbone learning rate
    head_lr: float | None = None  # the task head learns from scratch, so it gets its own (higher) rate
    epochs: int | None = None
    min_steps: int | None = None  # floor on optimiser steps: 16 examples x 3 epochs would be 3 steps
    max_steps: int | None = None
    batch_size: int = 16
    eval_batch_size: int = 128  # no activations are kept for backward, so evaluation batches can be big
    accumulate: int = 1
    warmup: float = 0.1  # fraction of each phase's steps spent warming up linearly
    schedule: str = "cosine"
    weight_decay: float = 0.01
    clip: float = 1.0  # max gradient norm; 0 disables clipping
    patience: int | None = None  # validation checks without improvement before stopping a phase (default 3); 0 never stops early
    evals_per_phase: int | None = None  # validation checks spread evenly over each phase (default 5; each costs a val pass)
    evals_per_epoch: int | None = None  # cap on checks an epoch (None: no cap), never below 5 checks a phase; the probe's: 1
    metric: str = "auto"  # selection metric on validation; auto: accuracy, macro_f1 if imbalanced, rmse
    class_weights: str = "none"
    precision: str = "auto"
    max_length: int = 128
    optimizer: str | None = None  # adamw (fused) | adamw8bit | paged-adamw8bit (bitsandbytes; paged on CUDA only)
    image_size: int | None = None  # image backbones: input side; None: the network's own (224 for efficientnet-lite0)
    bn: str = "auto"  # image backbones' BatchNorm statistics in trained blocks: auto = frozen if pre-trained, else train
    augment: str = "none"  # image training batches only: "crop" (pad + random crop) or "flip-crop"; never at evaluation

    def __post_init__(self) -> None:
        for name, hint in (("lr", "1e-5"), ("head_lr", "1e-3")):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {value!r}; try --{name.replace('_', '-')} {hint}")
        positive = {"epochs": 3, "batch_size": 16, "eval_batch_size": 128, "accumulate": 1, "max_steps": 1000,
                    "evals_per_phase": 10, "evals_per_epoch": 1, "max_length": 128}
        for name, example in positive.items():
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}; try --{name.replace('_', '-')} {example}")
        at_least_zero = {"min_steps": ("a floor on optimiser steps", 100),
                         "patience": ("validation checks without improvement before a phase stops; 0 never stops early", 3)}
        for name, (what, example) in at_least_zero.items():
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 0 ({what}), got {value!r}; try --{name.replace('_', '-')} {example}")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"--warmup must be a fraction in [0, 1), got {self.warmup!r}; try --warmup 0.1")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):  # nan / inf: a diverged run, not a refusal
            raise ConfigError(f"--weight-decay must be a finite number >= 0, got {self.weight_decay!r}; try --weight-decay 0.01")
        if not (math.isfinite(self.clip) and self.clip >= 0):
            raise ConfigError(f"--clip must be a finite number >= 0 (0 disables clipping), got {self.clip!r}; try --clip 1.0")
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("class_weights", self.class_weights, CLASS_WEIGHTS)
        _choice("metric", self.metric, METRICS)
        if self.optimizer is not None:
            _choice("optimizer", self.optimizer, OPTIMIZERS)
        check_image_size(self.image_size)
        _choice("bn", self.bn, BN_MODES)
        _choice("augment", self.augment, AUGMENTS)

    def check_as_given(self, *, set_in: dict[str, str] | None = None, file: str = "") -> None:
        """Checks of the settings as a caller gives them, which a resolved config need not pass: a strategy's default
        floor above a given cap is fine (the cap wins, and the report says so), a floor the caller set above the cap
        they set asks for two budgets at once. Not in ``__post_init__``: ``with_defaults`` and stored specs build
        such configs.

        Args:
            set_in: the table of a ``compare --config`` file that set ``min_steps`` / ``max_steps``, by field
                (``{"min_steps": "[train_by_strategy.lora]"}``; ``sweep_config.capped_floors``); a field not in it
                was typed on the command line (``--min-steps``).
            file: that file, as the message names it (``'sweep.toml'``).

        Raises:
            ConfigError: ``min_steps`` above ``max_steps``, naming where each was set and a fix that works there.
        """
        low, high = self.min_steps, self.max_steps
        if low is None or high is None or low <= high:
            return
        set_in = set_in or {}

        def named(field: str, value: int) -> str:
            return f"{field} = {value} in {set_in[field]} of {file}" if field in set_in else f"--{field.replace('_', '-')} {value}"

        def fix(field: str, bound: str, value: int) -> str:
            return (f"{field} {bound} {value} in {set_in[field]}" if field in set_in
                    else f"--{field.replace('_', '-')} {bound} {value}")

        # a flag replaces the file's value wherever the file sets it (sweep_config.overridden), and --max-steps caps
        # the file's floors: either way the command line's --max-steps is a fix that works there too
        more = ("" if "max_steps" not in set_in else f", or --max-steps {high} beside the file, which caps the file's "
                "floors" if "min_steps" in set_in else f", or --max-steps {low} beside the file, which replaces the file's caps")
        raise ConfigError(f"{named('min_steps', low)} is above {named('max_steps', high)}, so the cap would cut the floor; "
                          f"give {fix('min_steps', 'at most', high)}, or {fix('max_steps', 'at least', low)}{more}")

    def with_defaults(self, defaults: dict[str, Any]) -> "TrainConfig":
        """Fill the ``None`` fields from ``defaults`` (a strategy's), then from the global fallbacks."""
        fallback = {"lr": 1e-5, "head_lr": 1e-3, "epochs": 3, "min_steps": 100, "optimizer": "adamw", "patience": 3, "evals_per_phase": 5,
                    "evals_per_epoch": None}
        filled = {name: defaults.get(name, fallback[name]) for name in fallback if getattr(self, name) is None}
        return dataclasses.replace(self, **filled)

    @classmethod
    def field_defaults(cls) -> dict[str, Any]:
        """Each field's default: the value of a setting a record written before the field existed stands for."""
        return {f.name: f.default for f in dataclasses.fields(cls)}


def pooling_modes(pooling: str) -> tuple[str, ...]:
    """``"cls+mean"`` -> ("cls", "mean"), in sentence-transformers' order (``headstart.backbones.text.pool``).

    Raises:
        ConfigError: an unknown mode, naming the known ones; an empty part (``mean++cls``, a trailing '+') or a mode
            given twice (``mean+mean``), which are refused, never dropped: the mode meant there may be missing.
    """
    parts = [m.strip() for m in str(pooling).split("+")]
    modes = [m for m in parts if m]
    unknown = [m for m in modes if m not in POOLINGS]
    if not modes or unknown:
        raise ConfigError(f"--pooling must be one of {', '.join(POOLINGS)} (or several joined by '+'), got {pooling!r}; "
                          "e.g. --pooling mean")
    if len(modes) < len(parts):
        raise ConfigError(f"pooling {pooling!r} has an empty part (a '+' with no mode beside it); drop the extra '+' or "
                          f"add the mode, e.g. --pooling {'+'.join(modes)}")
    repeated = next((m for i, m in enumerate(modes) if m in modes[:i]), None)
    if repeated is not None:
        raise ConfigError(f"pooling {pooling!r} names {repeated!r} twice; give each mode once, e.g. --pooling "
                          f"{'+'.join(dict.fromkeys(modes))}")
    return tuple(m for m in POOLINGS if m in modes)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        from headstart.errors import closest

        raise ConfigError(f"--{name.replace('_', '-')} must be one of {', '.join(choices)}, got {value!r}{closest(value, choices)}")


@dataclass(frozen=True)
class RunSpec:
    """One training run: backbone x strategy x objective on data, at labelled-set size n with a seed.

    Attributes:
        data: built-in dataset name or path to a .csv/.tsv/.jsonl/.json/.parquet file.
        backbone: registry name or local model folder.
        strategy: registered strategy name (``headstart strategies``).
        n: labelled training examples drawn from the pool; None uses the whole pool ("all").
        seed: drives the subsample, head init, shuffling and dropout.
        options: the strategy's own options (e.g. ``{"freeze": 3}`` for partial-freeze).
        train: training-loop hyperparameters.
        text_column / label_column / task: how to read a user file (None: auto-detect).
        group_column / split_column: a user file's group ids (kept on one side of the split) and its own
            train / validation / test split (``data.files.read_table``).
        test_data: a file with the data's columns whose rows are the test split (``--test-data``), or None.
        pooling: "mean", "cls", "max", "mean_sqrt_len", "weightedmean", "lasttoken" (or several joined by "+"), or None
            (from the backbone folder).
        split: how the dataset is cut into pool / validation / test (the same for every run on it).
        tune: "lr" picks the learning rate on validation by successive halving over the strategy's grid.
        grid: the values ``tune`` searches instead of the strategy's grid (at least two positive numbers).
        terms: objective terms added to the task loss, ``{name: options}`` (``headstart.objectives``), e.g.
            ``{"l2sp": {"weight": 0.1}}``.
        retain: classification datasets on which forgetting is measured after training (``headstart.retention``).
        eval_data: datasets with the run's labels on whose test split the trained run is also scored, out of domain
            (``headstart.ood``): ``"drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]"``.
        tta: test-time adaptations (``headstart.tta``: bn-adapt, tent, tent-episodic) each ``eval_data`` score is also taken after.
    """

    data: str = "rotten-tomatoes"
    backbone: str = "all-minilm-l6-v2"
    strategy: str = "linear-probe"
    n: int | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    text_column: str | None = None
    label_column: str | None = None
    task: str | None = None
    pooling: str | None = None
    split: SplitConfig = field(default_factory=SplitConfig)
    tune: str | None = None  # "lr": choose the strategy's learning rate on validation (headstart.tuning)
    grid: tuple[float, ...] | None = None  # what --tune searches; None: the strategy's own grid
    terms: dict[str, dict[str, Any]] = field(default_factory=dict)
    retain: tuple[str, ...] = ()
    group_column: str | None = None
    split_column: str | None = None
    test_data: str | None = None  # read as the test split; validation is still cut from data
    eval_data: tuple[str, ...] = ()
    tta: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from headstart.data.own_split import check_test_data

        check_test_data(self.test_data, self.split_column)
        if isinstance(self.retain, str) or not all(isinstance(d, str) and d.strip() for d in self.retain):
            raise ConfigError(f"--retain must be a list of dataset names, got {self.retain!r}; e.g. --retain drug-reviews")
        object.__setattr__(self, "retain", tuple(dict.fromkeys(d.strip() for d in self.retain)))
        object.__setattr__(self, "eval_data", check_eval_data(self.eval_data))
        object.__setattr__(self, "tta", check_tta(self.tta, self.eval_data))
        if not isinstance(self.terms, dict):
            raise ConfigError(f"terms must be a table of term = {{options}}, got {self.terms!r}; e.g. --terms l2sp[weight=0.01]")
        if self.terms:  # imported only when used: the objectives import torch
            from headstart.objectives import get_term
            from headstart.objectives.terms import term_options

            for name, given in self.terms.items():
                term_options(get_term(name), dict(given or {}))  # an unknown term or option fails now, not mid-sweep
        object.__setattr__(self, "tune", tune_setting(self.tune))
        if self.grid is not None:
            object.__setattr__(self, "grid", parse_grid(self.grid))
            if self.tune is None:
                raise ConfigError("--grid lists the learning rates --tune searches; add --tune lr (or drop --grid)")
        if self.n is not None and (not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 0):
            raise ConfigError(f"--n must be a non-negative integer or 'all', got {self.n!r}; try --n 64")
        check_seed(self.seed)
        if self.pooling is not None:  # before the data or a backbone loads, and for a backbone that does not pool
            pooling_modes(self.pooling)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunSpec":
        data = dict(data)
        train = TrainConfig(**data.pop("train", {}))
        split = SplitConfig(**data.pop("split", {}))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(train=train, split=split, **{k: v for k, v in data.items() if k in names})


FILE_OPTIONS = ("text_column", "label_column", "task", "group_column", "split_column", "test_data")  # how a user file is read


def file_options(spec: Any) -> dict[str, Any]:
    """``load_dataset``'s reading options from a RunSpec / SweepSpec (or a run's stored data source): only those set."""
    get = spec.get if isinstance(spec, dict) else lambda k: getattr(spec, k, None)
    return {k: get(k) for k in FILE_OPTIONS if get(k) is not None}


def stored_reading(source: dict[str, Any]) -> dict[str, Any]:
    """``load_dataset``'s options to read a run's stored data source again as the run read it: a source with no
    ``split_column`` read no column as the split (a run trained before a column named ``split`` / ``fold`` / ... was
    read as one by default, or one that read none), so it is read with ``--split-column none``; a run that read one
    (named, or found by default) records it."""
    return {**file_options(source), "split_column": source.get("split_column") or "none"}


def kept_split_column(split_column: str | None, held: Any) -> str | None:
    """The ``split_column`` to read a file with into an ``--out`` that already holds a run or store of it: "none" where
    none is named and ``held`` (the data source there: a run's ``data_source``, a store's data record) read a file by no
    split column, so the same command goes on with the data it meant (a run or store made before a column named
    ``split`` was read as the split by default); ``split_column`` otherwise."""
    if split_column is None and isinstance(held, dict) and held.get("path") and not held.get("split_column"):
        return "none"
    return split_column


def run_key(resolved: dict[str, Any]) -> str:
    """Stable 16-hex key of a resolved spec (canonical JSON, plus the results version)."""
    payload = json.dumps({"spec": resolved, "version": RESULTS_VERSION}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def check_eval_data(values: Any) -> tuple[str, ...]:
    """``--eval-data`` values as a tuple, each read (``ood_labels.parse_eval_data``) so a malformed one fails before training.

    Raises:
        ConfigError: not a list of non-empty names, or a bracket that cannot be read.
    """
    from headstart.ood_labels import parse_eval_data

    if values is None:
        return ()
    check_eval_names(values)
    values = tuple(dict.fromkeys(d.strip() for d in values))
    check_once("--eval-data", [parse_eval_data(d)[0] for d in values], "dataset")
    return values


def check_eval_names(values: Any) -> None:
    """Refuse ``--eval-data`` values that are not a list of non-empty names, naming an object by its type (its repr may
    run to pages: an array).

    Raises:
        ConfigError: the value, or the first item that is no name.
    """
    if not (isinstance(values, (list, tuple)) and all(isinstance(d, str) and d.strip() for d in values)):
        odd = values if not isinstance(values, (list, tuple)) else next((d for d in values if not isinstance(d, str)), None)
        got = (clipped(repr(values), 80) if odd is None or isinstance(odd, str)
               else f"an object of type {type(odd).__name__}" + ("" if odd is values else f" in the {type(values).__name__}"))
        raise ConfigError(f"--eval-data must be a list of dataset names, got {got}; e.g. "
                          + spoken("--eval-data drug-reviews-sentiment", "eval_data=('drug-reviews-sentiment',)"))


def check_tta(values: Any, eval_data: tuple[str, ...]) -> tuple[str, ...]:
    """``--tta`` methods (``headstart.tta``), which adapt to an ``--eval-data`` dataset and so need one."""
    if not values:  # headstart.tta imports torch: only when a method is named
        return ()
    from headstart.tta import check_methods

    methods = check_methods(values)
    if methods and not eval_data:
        raise ConfigError(f"--tta {methods[0]} adapts the model to an --eval-data dataset before scoring it there; "
                          "add --eval-data DATA")
    return methods
