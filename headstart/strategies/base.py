"""What a strategy is: which parameters train, at which learning rates, in which phases.

A strategy answers narrow questions and never writes a loop: ``plan(model, options, cfg, budget)``
returns ``Phase``s (parameter groups with learning rates and a step budget); the engine trains them.
It may swap the backbone (``scratch`` uses a fresh twin) or change its structure in ``attach`` (adapters,
a 4-bit base), which runs before ``plan`` and again when a saved run is loaded. A phase may instead be
solved in closed form (``Phase.solve``: classical baselines); the engine still owns the data and validation.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from headstart.errors import ConfigError, closest


@dataclass(frozen=True)
class ParamGroup:
    """Parameters trained at one learning rate (``name`` shows in logs and tests)."""

    name: str
    params: list[nn.Parameter]
    lr: float
    clip: bool = True  # False: left out of the gradient-norm clip (a multi-task loss weighting's own weights, whose
    # gradient is not the model's and would otherwise shrink the model's step)


@dataclass(frozen=True)
class Phase:
    """A stretch of training with a fixed set of trainable parameter groups.

    Attributes:
        name: e.g. "probe", "finetune", "unfreeze-3".
        groups: what trains; every other parameter is frozen (and frozen modules run in eval mode).
        steps: optimiser steps in this phase.
        early_stopping: stop the phase when validation stops improving (``patience`` checks).
        solve: a closed-form solver run instead of optimiser steps (``steps`` is then 0):
            ``solve(model, problem) -> chosen`` sets the head (and anything else) in place from a ``Problem``
            and returns the hyperparameters it chose on validation, e.g. ``{"C": 1.0}``. The engine then
            validates once, as after any phase.
        learns: False where ``solve`` sets the groups without learning them from the training rows (zero-shot's head
            from the class descriptions, a prompt's identity head): they are saved, but count as 0 trainable.
    """

    name: str
    groups: list[ParamGroup]
    steps: int
    early_stopping: bool = True
    solve: Callable[[nn.Module, "Problem"], dict[str, Any]] | None = None
    learns: bool = True

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for g in self.groups for p in g.params]


@dataclass(frozen=True)
class Problem:
    """What a closed-form solver sees: the training rows and a judge of validation outputs, never the test split.

    Attributes:
        task: "classification", "multilabel" or "regression".
        train_inputs: encoded inputs of the training rows (``backbone.encode``), for solvers that read raw inputs.
        train_targets: (N,) class ids, (N, C) multi-hot or (N,) standardised values: what the loss would see.
        train_features / val_features: ``() -> (N, dim)`` float features of the training / validation rows:
            from the feature cache when the backbone is frozen and pre-trained, else by running the model's
            backbone as it is at the call (so a solver may fit the backbone first). Computed once each.
        rank: ``rank(outputs) -> (score, -loss)`` of head outputs (N_val, outputs) on the validation rows:
            the run's selection metric, ties going to the lower loss, as when the engine picks a checkpoint.
        class_weights: (C,) the loss's class weights, or None.
        autocast: the run's bf16 autocast factory (``precision.autocast_for``), or None for fp32: a solver that runs
            the backbone itself runs it under this, as the engine's own steps do.
        progress: ``progress(done, total)`` for a solver that loops (setfit's pair steps), drawn on the run's bar; None
            when the run shows none.
    """

    task: str
    train_inputs: list
    train_targets: torch.Tensor
    train_features: Callable[[], torch.Tensor]
    val_features: Callable[[], torch.Tensor]
    rank: Callable[[torch.Tensor], tuple[float, float]]
    class_weights: torch.Tensor | None = None
    autocast: Callable[[], Any] | None = None
    progress: Callable[[int, int], None] | None = None


@dataclass(frozen=True)
class Budget:
    """How long a run may train, computed by the run from data size and TrainConfig."""

    steps: int  # optimiser steps of a full-length phase
    steps_per_epoch: int


def budget_for(cfg: Any, n_train: int) -> Budget:
    """The budget of a run on ``n_train`` rows under a resolved TrainConfig: ``epochs`` epochs, at least
    ``min_steps`` and at most ``max_steps`` optimiser steps."""
    per_epoch = max(1, math.ceil(n_train / (cfg.batch_size * cfg.accumulate)))
    steps = max(cfg.epochs * per_epoch, cfg.min_steps)
    if cfg.max_steps is not None:
        steps = min(steps, cfg.max_steps)
    return Budget(steps=steps, steps_per_epoch=per_epoch)


@dataclass(frozen=True)
class NoOptions:
    """This strategy has no options of its own."""


# Fine-tuning a CNN (image backbones): the best AdamW rate spans orders of magnitude between networks, so the image
# grid is log-spaced over 1e-5..1e-3 and the default sits in its middle (benchmarks/image_lr.py, validation accuracy,
# n = 40, one seed, 128x128: EfficientNet-Lite0 on Fashion-MNIST 70.3 / 70.7 / 66.3 at 1e-5 / 1e-4 / 1e-3; the MNIST CNN on
# sklearn-digits 59.7% at 1e-5 and 79.5% at 1e-3, docs/DESIGN.md "Images").
CNN_FINETUNE_LR = 1e-4
CNN_FINETUNE_GRID = (1e-5, 1e-4, 1e-3)


class Strategy:
    """Base for strategies: a name, a description, an options dataclass, defaults and ``plan``."""

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    defaults: ClassVar[dict[str, Any]] = {}  # TrainConfig fields this strategy sets differently
    uses_pretrained: ClassVar[bool] = True
    # What the run reads in place of a backbone where it reads nothing of the one given ("TF-IDF features"): its card
    # and ``adapters list`` say "none (...)" rather than name a pre-trained model it never used. None: the backbone.
    own_features: ClassVar[str | None] = None
    # Never changes the backbone it is given (trains only the head, or builds its own backbone from it): the run
    # uses the loaded backbone as is, without the private copy (90 MB for MiniLM, ~0.3 s a run) others need.
    leaves_backbone: ClassVar[bool] = False
    solved: ClassVar[bool] = False  # fitted by a closed-form solver (Phase.solve), not by minimising a loss
    weighs_classes: ClassVar[bool] = True  # its loss or fit reads --class-weights; False: neither exists (a vote, a prompt)
    quantized: ClassVar[bool] = False  # trains on a 4-bit base (merging needs --dequantize)
    # Why no --format of export can write its runs (said by export, and the model card offers no export), or "".
    unexportable_why: ClassVar[str] = ""
    needs_encoder: ClassVar[bool] = False  # adapts the layers of a transformers encoder (backbone.model)
    tune_param: ClassVar[str] = "lr"  # what --tune lr searches: "lr", or "head_lr" for head-only strategies
    lr_grid: ClassVar[tuple[float, ...]] = ()  # --tune lr candidates (empty: nothing to tune)
    untuned_why: ClassVar[str] = "it chooses its own hyperparameters on validation"  # said when --grid names it
    loss_note: ClassVar[str] = ""  # why its validation loss reads unlike a trained model's: said beside it by train
    # On an image backbone (a CNN): defaults and --tune grid that differ from the transformer ones above
    # (ImageNet CNNs fine-tune with AdamW near 1e-4..1e-3, not 1e-5; benchmarks/image_lr.py). Empty: the same.
    image_defaults: ClassVar[dict[str, Any]] = {}
    image_lr_grid: ClassVar[tuple[float, ...]] = ()
    modalities: ClassVar[tuple[str, ...]] = ("text", "image")  # backbones it applies to (it uses blocks and parameters only)
    refused_why: ClassVar[dict[str, str]] = {}  # modality -> why it cannot apply there (said when refused)
    # Reads labelled training rows. False (zero-shot): the run takes n = 0 and a sweep runs it at size 0 only, while
    # strategies that need labels skip size 0 (SweepSpec.cells).
    needs_labels: ClassVar[bool] = True

    def refuses(self, pretrained: nn.Module, options: Any) -> str | None:
        """Why this strategy, with ``options`` (its Options), cannot adapt ``pretrained`` though it applies to its modality
        (one line naming the fix), or None; asked before anything trains, so a sweep refuses at once rather than failing
        every cell."""
        return None

    def refuses_before_load(self, backbone: str, options: Any, *, max_length: int) -> str | None:
        """What ``refuses`` will say of the backbone ``backbone`` names, where its config.json tells it
        (``registry.encoder_config``), asked before that backbone loads (seconds: MPNet's ~28); None: nothing yet
        (``refuses`` is still asked once it loads). Default: None."""
        return None

    def head_only(self, modality: str) -> bool:
        """Trains nothing but its head, on the backbone's cached features, or solves it (no backbone rate): what the
        backbone would read of an augmented training image never reaches it. scratch, which builds and trains its
        own backbone, is not."""
        return self.leaves_backbone and "lr" not in self.defaults_for(modality)

    def defaults_for(self, modality: str) -> dict[str, Any]:
        """The TrainConfig defaults on a backbone of ``modality`` ("text" or "image")."""
        return {**self.defaults, **self.image_defaults} if modality == "image" else dict(self.defaults)

    def grid_for(self, modality: str) -> tuple[float, ...]:
        """The ``--tune lr`` candidates on a backbone of ``modality``."""
        return self.image_lr_grid if modality == "image" and self.image_lr_grid else self.lr_grid

    def options(self, given: dict[str, Any]) -> Any:
        """Build (and validate) this strategy's options from plain data."""
        known = {f.name for f in dataclasses.fields(self.Options)}
        for key in given:
            if key not in known:
                hint = f" (its options: {', '.join(sorted(known))})" if known else " (it has no options)"
                raise ConfigError(f"option {key!r} does not apply to strategy {self.name!r}{closest(key, known)}{hint}")
        try:
            options = self.Options(**given)  # its own checks first: they name the range
        except ConfigError as e:  # "try rank=8" names no flag: the CLI's is --option rank=8 (Python's options={...})
            fixed = re.sub(r"\b(try|e\.g\.) ([a-z_]+)=", lambda m: f"{m.group(1)} --option {m.group(2)}="
                           if m.group(2) in known else m.group(0), str(e))
            if fixed == str(e):
                raise
            raise ConfigError(fixed) from None
        for key, value in given.items():  # nan slips past every "<= 0" check, and trains to a diverged run
            members = value if isinstance(value, (list, tuple)) else [value]  # a grid's members too
            if any(isinstance(v, float) and not math.isfinite(v) for v in members):
                default = next(f.default for f in dataclasses.fields(self.Options) if f.name == key)
                numbers = isinstance(default, (list, tuple)) and all(isinstance(v, (int, float)) for v in default)
                example = (f"; e.g. --option {key}={default}" if isinstance(default, (int, float)) else
                           f"; e.g. --option {key}=[{','.join(map(str, default))}]" if numbers else "")
                what = "finite numbers" if members is value else "a finite number"
                raise ConfigError(f"option {key} of {self.name} must be {what}, got {value!r}{example}")
        return options

    def for_labels(self, options: Any, label_names: tuple[str, ...], task: str) -> Any:
        """The options completed from the data's label names and task (zero-shot: one text per class), so the
        resolved spec, and the run key, say exactly what the run used. Default: as given.

        Raises:
            ConfigError: options that do not fit the data (a description of a label the data lacks)."""
        return options

    def backbone(self, pretrained: nn.Module, *, seed: int) -> nn.Module:
        """The backbone this strategy starts from (the pre-trained one, unless it trains from scratch)."""
        return pretrained

    def attach(self, model: nn.Module, options: Any, *, precision: str, seed: int = 0, directory: Any = None) -> None:
        """Change the model's structure before training (insert adapters, quantize the base; new weights are
        drawn from ``seed``) or, given the ``directory`` of a saved run, rebuild that structure and load what it
        saved there. Default: nothing."""

    def saved_part(self, model: nn.Module, trained: list[str]) -> str:
        """What of the backbone a finished run saves, given the state-dict names that ``trained``: "full" (a backbone
        of its own, e.g. trained from scratch), "trained" (those parameters; the rest reloads from the pre-trained
        source), "adapter" (files ``save_files`` writes) or "none" (the pre-trained backbone as it was)."""
        if not self.uses_pretrained:
            return "full"
        return "trained" if any(k.startswith("backbone.") for k in trained) else "none"

    def save_files(self, model: nn.Module, out: Path) -> None:
        """Write what ``attach(directory=out)`` reads back beyond ``weights.safetensors`` (e.g. a vocabulary as
        JSON); called after a run that finished is saved. Default: nothing."""

    def plan(self, model: nn.Module, options: Any, cfg: Any, budget: Budget) -> list[Phase]:
        raise NotImplementedError


def head_group(model: nn.Module, cfg: Any) -> ParamGroup:
    return ParamGroup("head", model.head_parameters(), cfg.head_lr)


def blocks_group(name: str, blocks: list[nn.Module], lr: float) -> ParamGroup:
    return ParamGroup(name, [p for b in blocks for p in b.parameters()], lr)


def other_backbone_params(model: nn.Module, blocks: list[nn.Module]) -> list[nn.Parameter]:
    """Backbone parameters that belong to no block (e.g. a final LayerNorm; never an encoder's unused pooler:
    ``TaskModel.backbone_parameters``)."""
    in_blocks = {id(p) for b in blocks for p in b.parameters()}
    return [p for p in model.backbone_parameters() if id(p) not in in_blocks]


def check_int_range(name: str, value: int, low: int, high: int, what: str, *, default: int | None) -> None:
    """Refuse ``value`` unless an integer in ``[low, high]``; the fix offered is ``default`` (the option's own), or where
    it has none the bound nearest ``value``: a range's midpoint is no sensible setting (2048 for a reduction)."""
    if not isinstance(value, int) or not low <= value <= high:
        near = high if isinstance(value, (int, float)) and not isinstance(value, bool) and value > high else low
        fix = default if default is not None and low <= default <= high else near
        raise ConfigError(f"{name} must be an integer in [{low}, {high}] ({what}), got {value!r}; try {name.replace('-', '_')}={fix}")


STEP_FIELDS = ("lr", "head_lr", "epochs", "min_steps", "max_steps")  # what a strategy fitted in closed form never reads


def unread_settings(strategy: Any, train: dict[str, Any], modality: str = "image") -> list[str]:
    """The fields of ``train`` (TrainConfig's, as given: a field absent or None is not given) that ``strategy`` never
    reads, which ``train`` refuses (``fit_checks.check_settings_used``) and a report's ``train it:`` command leaves out (a
    compare shares its settings across arms, each taking those it reads): a rate or step budget for a strategy fitted
    in closed form, ``lr`` where only the head trains, ``augment`` where the head trains on features computed once per
    image, ``class_weights`` where no loss or fit weighs classes (``Strategy.weighs_classes``)."""
    given = {k for k, v in train.items() if v is not None}
    unread = []
    if strategy.solved and "lr" not in strategy.defaults:  # no backbone rate, no steps: a solve, a lookup, a prompt
        unread += [f for f in STEP_FIELDS if f in given]
    elif "lr" in given and "lr" not in strategy.defaults:
        unread.append("lr")
    if train.get("augment") not in (None, "none") and strategy.head_only(modality):
        unread.append("augment")
    if train.get("class_weights") not in (None, "none") and not strategy.weighs_classes:
        unread.append("class_weights")
    return unread
