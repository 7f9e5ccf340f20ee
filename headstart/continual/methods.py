"""Continual-learning methods: what a method adds to the loss while a task trains, and what it keeps after it.

Each method is a small class (``method_base.Method``; the importance-weighted pulls in ``continual.importance``)
behind a registry (``METHODS``): ``penalties(chain, step)`` returns the terms added to the
task loss while task ``step`` trains (``objectives.Objective``: the engine sums them), ``after(chain, step)`` updates
what it keeps (``chain.memory``: tensors saved with the chain's checkpoint) once the task is learnt.

- ``naive``: fine-tune on each task in turn.
- ``ewc`` (Kirkpatrick et al. 2017): after task k, the Fisher F_k of the model's own predictions on k's training
  inputs and the weights θ*_k; later tasks add Σ_k (λ/2) Σ F_k (θ − θ*_k)². Each importance here (F, Ω) is measured
  for the weights the task trained (its last phase's: the adapters and head of a ``lora+`` arm) and normalised to mean 1
  over them (λ on L2-SP's scale); the weights it froze get none.
- ``online-ewc`` (Schwarz et al. 2018): one running F ← γ F + F_k and the latest θ*: one penalty, constant memory. The
  paper's penalty weighs γF; here it weighs F (λ absorbs the constant γ; none at the default γ = 1).
- ``si`` (Zenke et al. 2017): while a task trains, each weight's share of the drop in loss along its path
  ω = −Σ_steps g·Δθ (g the task loss's gradient); after it Ω += max(ω, 0) / (Δ² + ξ) (each task's ω clamped at 0;
  the authors' code clamps the summed Ω), normalised to mean 1; later tasks add (c/2) Σ Ω (θ − θ*)², θ* the weights the
  task ended with — the ½ is EWC's, kept for all three pulls, so c here is twice the paper's c.
- ``mas`` (Aljundi et al. 2018): Ω += mean |∂‖f(x)‖²/∂θ| over the task's inputs (no labels), normalised to mean 1;
  (λ/2) Σ Ω (θ − θ*)² (the paper's λ Σ Ω (θ − θ*)² without the ½: λ here is twice the paper's).
- ``lwf`` (Li & Hoiem 2016): a copy of the model before the task; on the task's own inputs, λ · T² · KL between the
  copy's and the model's predictions over the earlier classes (per earlier task when task-incremental), T = 2. The T²
  (Hinton et al.'s, keeping the gradient's scale as T changes) is not in Li & Hoiem: λ = 1 here is their λ_o = 4.
- ``replay``: a buffer of ``size`` earlier training rows (reservoir over the stream, or class-balanced), never a test
  or validation row; each step adds λ · cross-entropy on a batch of it.
- ``lora-per-task``: a LoRA and a head per task on the frozen base (task-incremental only): nothing is shared that
  training changes, so nothing learnt can be forgotten.
- ``progressive`` (Rusu et al. 2016; the CNN backbones, task-incremental): a new column per task with zero-initialised
  laterals from the frozen earlier columns (``continual.progressive``); nothing learnt can be forgotten.
- ``alone``: each task trained from the pre-trained model by itself — the reference of forward transfer.
- ``joint``: every task's training rows at once — the reference, not a continual method (often the best ACC, but no
  bound: ``alone`` or a capped budget can put an arm above it; ``notes.joint_notes`` says where).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.continual.heads import masked
from headstart.continual.importance import EWC, MAS, SI, OnlineEWC
from headstart.continual.method_base import Method
from headstart.errors import ConfigError, closest
from headstart.objectives.terms import Penalty, check_count, check_weight, cycle, options_from


@dataclass(frozen=True)
class LwFOptions:
    weight: float = 1.0  # λ
    temperature: float = 2.0
    batch: int = 16

    def __post_init__(self) -> None:
        check_weight("lwf", self.weight, 1.0)
        if not isinstance(self.temperature, (int, float)) or isinstance(self.temperature, bool) or not self.temperature > 0:
            raise ConfigError(f"lwf temperature must be > 0, got {self.temperature!r}; e.g. lwf[temperature=2] (its default)")
        check_count("lwf", "batch", self.batch)


@dataclass(frozen=True)
class ReplayOptions:
    size: int = 200  # rows the buffer holds, over all earlier tasks
    policy: str = "reservoir"  # or "balanced": the same number of rows of each class seen
    weight: float = 1.0  # λ on the buffer batch's cross-entropy
    batch: int = 16

    def __post_init__(self) -> None:
        check_count("replay", "size", self.size)
        check_count("replay", "batch", self.batch)
        check_weight("replay", self.weight, 1.0)
        if self.policy not in ("reservoir", "balanced"):
            raise ConfigError(f"replay policy must be reservoir or balanced, got {self.policy!r}; e.g. replay[policy=balanced]")


class Naive(Method):
    name = "naive"
    description = "fine-tune on each task in turn (the lower bound)"


def raw_logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The head's logits over every label of the stream (no mask)."""
    return model.head.linear(model.backbone(batch)).float()


class LwF(Method):
    name = "lwf"
    description = "LwF: distil the model as it was before the task (its predictions over earlier classes) on the task's inputs"
    Options = LwFOptions
    grid = (0.1, 1.0, 10.0)

    def penalties(self, chain: Any, step: int, options: LwFOptions) -> list[Penalty]:
        if step == 0:
            return []
        old = copy.deepcopy(chain.model).eval()
        for p in old.parameters():
            p.requires_grad_(False)
        rows = np.random.default_rng(chain.seed * 1000 + step).permutation(chain.train_rows[step])
        take = cycle(chain.batches(step, rows, options.batch))
        groups = [torch.as_tensor(chain.stream.tasks[k].classes) for k in range(step)]
        if chain.stream.scenario == "class":  # one distribution over every earlier class
            groups = [torch.unique(torch.cat(groups))]
        t = float(options.temperature)

        def penalty() -> torch.Tensor:
            batch = take()
            with torch.no_grad():
                before = raw_logits(old, batch)
            now = raw_logits(chain.model, batch)
            total = now.new_zeros(())
            for classes in groups:
                target = torch.softmax(before[:, classes] / t, -1)
                total = total + torch.nn.functional.kl_div(torch.log_softmax(now[:, classes] / t, -1), target, reduction="batchmean")
            return float(options.weight) * t * t * total

        return [penalty]


class Replay(Method):
    name = "replay"
    description = "experience replay: a fixed-size buffer of earlier training rows (reservoir or class-balanced), a batch a step"
    Options = ReplayOptions

    def after(self, chain: Any, step: int, options: ReplayOptions) -> None:
        buffer = [tuple(x) for x in chain.state.get("buffer", [])]
        rng = np.random.default_rng(chain.seed * 1000 + step)
        incoming = [(step, int(r)) for r in rng.permutation(chain.train_rows[step])]
        if options.policy == "reservoir":  # Vitter's algorithm R over every training row the stream has shown
            seen = int(chain.state.get("seen", 0))
            for item in incoming:
                seen += 1
                if len(buffer) < options.size:
                    buffer.append(item)
                else:
                    j = int(rng.integers(seen))
                    if j < options.size:
                        buffer[j] = item
            chain.state["seen"] = seen
        else:  # the same number of rows of each class seen so far (the earliest drawn first)
            pool = buffer + incoming
            by_class: dict[int, list[tuple[int, int]]] = {}
            for item in pool:
                by_class.setdefault(chain.label_of(*item), []).append(item)
            quota, extra = divmod(options.size, len(by_class))
            buffer = []
            for i, c in enumerate(sorted(by_class)):
                buffer += by_class[c][: quota + (1 if i < extra else 0)]
        chain.state["buffer"] = [list(x) for x in buffer]

    def penalties(self, chain: Any, step: int, options: ReplayOptions) -> list[Penalty]:
        buffer = [tuple(x) for x in chain.state.get("buffer", [])]
        if not buffer:
            return []
        order = np.random.default_rng(chain.seed * 1000 + step).permutation(len(buffer))
        items = [buffer[i] for i in order]
        batches = []
        for i in range(0, len(items), options.batch):
            part = items[i : i + options.batch]
            inputs = chain.collate([chain.encoded(task, row) for task, row in part])
            labels = torch.as_tensor([chain.label_of(task, row) for task, row in part])
            allowed = torch.stack([chain.allowed(task if chain.stream.scenario == "task" else step) for task, _ in part])
            batches.append((inputs, labels, allowed))
        take = cycle(batches)

        def penalty() -> torch.Tensor:
            inputs, labels, allowed = take()
            logits = masked(raw_logits(chain.model, inputs), allowed)
            return float(options.weight) * torch.nn.functional.cross_entropy(logits, labels.to(logits.device))

        return [penalty]


class LoraPerTask(Method):
    name = "lora-per-task"
    description = "a LoRA and a head per task on the frozen base (task-incremental): cannot forget by construction"
    scenarios = ("task",)
    independent = True
    strategy = "lora"


class Progressive(Method):
    name = "progressive"
    description = "progressive networks: a new column per task with zero-initialised laterals from the frozen earlier ones (CNNs, task-incremental)"
    scenarios = ("task",)
    independent = True
    modalities = ("image",)

    def prepare(self, chain: Any, step: int) -> None:
        from headstart.continual.progressive import ProgressiveBackbone

        model = chain.setup.model
        earlier = [chain.models[j].backbone.column for j in range(step)]
        device = next(model.parameters()).device
        model.backbone = ProgressiveBackbone(model.backbone, earlier).to(device)


class Alone(Method):
    name = "alone"
    description = "each task from the pre-trained model alone (the reference forward transfer is measured against)"
    independent = True


class Joint(Method):
    name = "joint"
    description = "every task's training rows at once: the reference a continual method is measured against"
    joint = True


METHODS: dict[str, Method] = {m.name: m for m in (Naive(), EWC(), OnlineEWC(), SI(), MAS(), LwF(), Replay(), LoraPerTask(), Progressive(), Alone(), Joint())}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ConfigError(f"unknown continual method {name!r}{closest(name, tuple(METHODS))} (methods: {', '.join(METHODS)})")
    return METHODS[name]


def method_options(method: Method, given: dict[str, Any]) -> Any:
    """The method's options dataclass from ``given`` (``objectives.terms.options_from``)."""
    return options_from(method.Options, given, what=method.name)
