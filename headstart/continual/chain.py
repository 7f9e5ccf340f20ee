"""One continual chain: an arm and a seed over a stream's tasks, in order, each step a run through the one recipe.

The stream's tasks are laid end to end in one dataset (``continual.prepared``: ``Prepared.data`` holds their inputs,
their labels as the stream's label ids), so one ``recipe.Setup`` serves every step: task k's rows are its own split
(pool / validation / test, cut as any run's data is) moved by its offset. Step k trains the chain's model on task k's n drawn rows with the method's
penalties (``recipe.train``: the one engine), choosing its checkpoint on task k's validation split, then scores every
task seen so far on its validation and test split: row k of the accuracy matrix. A step is stored as a run (its key:
the step's resolved spec with the stream, method and step, and a validation cap other than 300 and a test cap other
than 1000) after the chain's checkpoint — the model and what the
method keeps — is written beside the store; a re-run resumes after the last stored step from that checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from headstart.atomic import write_atomic
from headstart.continual.heads import MaskedHead
from headstart.continual.method_base import Method
from headstart.continual.prepared import Prepared, drawn_rows
from headstart.continual.streams import Stream
from headstart.data.splits import SplitConfig, Splits
from headstart.evaluation import scored_rows
from headstart.objectives import Objective
from headstart.results import RunResult
from headstart.specs import RunSpec, TrainConfig, run_key

MAX_TEST = 1000  # test rows per task (each is scored after every later task); another cap is part of each step's key


@dataclass(frozen=True)
class ContinualArm:
    """A method with its options on a strategy: ``ewc[weight=100]``, ``lora[rank=4]+ewc``."""

    label: str
    method: str
    options: dict[str, Any]
    strategy: str
    strategy_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    family: str | None = None  # with --tune: the arm as written, whose weight grid this arm is one point of


@dataclass
class Chain:
    """The state of one (arm, seed) chain as it moves along the stream; what a method reads and keeps."""

    prepared: Prepared
    arm: ContinualArm
    method: Method
    options: Any
    seed: int
    n: int | None
    train_config: TrainConfig
    out: Path
    setup: Any = None  # recipe.Setup of the chain's model (independent methods: the latest task's)
    models: dict[int, torch.nn.Module] = field(default_factory=dict)  # independent methods: each task's model
    memory: dict[str, torch.Tensor] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    train_rows: list[np.ndarray] = field(default_factory=list)
    scratch: dict[str, Any] = field(default_factory=dict)  # a method's state within one task (SI's path integral)
    keys: list[str] = field(default_factory=list)  # the run keys of the chain's steps (set by run_chain)

    def __post_init__(self) -> None:
        self.train_rows.extend(drawn_rows(self.prepared, self.n, self.seed))

    # ---- what methods read ------------------------------------------------------------------------------
    @property
    def stream(self) -> Stream:
        return self.prepared.stream

    @property
    def model(self) -> torch.nn.Module:
        return self.setup.model

    def allowed(self, step: int, *, own: bool = False) -> torch.Tensor:
        """(C,) the classes a prediction may choose while task ``step`` trains (or is scored, task-incremental): the
        task's own classes in the task scenario or with ``own``, else every class seen so far."""
        tasks = [step] if own or self.stream.scenario == "task" else range(step + 1)
        mask = torch.zeros(len(self.stream.labels), dtype=torch.bool)
        for k in tasks:
            mask[torch.as_tensor(self.stream.tasks[k].classes)] = True
        return mask

    def encoded(self, task: int, row: int) -> Any:
        return self.setup.encoded[row]

    def label_of(self, task: int, row: int) -> int:
        return int(self.prepared.data.targets[row])

    def collate(self, items: list[Any]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.setup.device) for k, v in self.model.backbone.collate(items).items()}

    def batches(self, step: int, rows: np.ndarray, size: int) -> list[dict[str, torch.Tensor]]:
        return [self.collate([self.setup.encoded[r] for r in rows[i : i + size]]) for i in range(0, len(rows), size)]

    def kept_bytes(self) -> int:
        """What the method keeps between tasks: its tensors, the replay buffer's inputs, LwF's copy of the model."""
        total = sum(t.numel() * t.element_size() for t in self.memory.values())
        for _, row in self.state.get("buffer", []):
            item = self.setup.encoded[row]
            total += item.numel() * item.element_size() if isinstance(item, torch.Tensor) else 8 * len(item)
        if self.method.name == "lwf":
            total += sum(p.numel() * p.element_size() for p in self.model.parameters())
        for k, model in self.models.items():  # a model per task: what each earlier task keeps of its own
            if k < max(self.models):
                own = [p for p in model.parameters() if p.requires_grad] if self.method.strategy == "lora" else list(model.parameters())
                total += sum(p.numel() * p.element_size() for p in own)
        return total


def build_setup(chain: Chain, step: int) -> Any:
    """A ``recipe.Setup`` whose model is fresh from the pre-trained backbone (the arm's strategy attached, the head over
    the stream's labels, masked), with task ``step``'s rows."""
    from headstart.recipe import setup

    train = dataclasses.replace(chain.train_config, **chain.arm.train)
    if chain.method.joint:
        train = joint_budget(train, chain.arm.strategy, chain.prepared.pretrained, len(chain.stream.tasks))
    spec = RunSpec(data=chain.stream.name, backbone=chain.prepared.pretrained.name, strategy=chain.arm.strategy,
                   options=dict(chain.arm.strategy_options), n=chain.n, seed=chain.seed,
                   train=train, split=chain.prepared.split_config)
    s = setup(spec, data=chain.prepared.data, pretrained=chain.prepared.pretrained, train_rows=step_rows(chain, step))
    s.model.head = MaskedHead(s.model.head)
    return for_step(s, chain, step)


def joint_budget(train: TrainConfig, strategy: str, pretrained: torch.nn.Module, tasks: int) -> TrainConfig:
    """``train`` for the joint reference, which learns every task in one run: ``tasks`` times one task's step floor
    (``min_steps``) and cap (``max_steps``), the budget a sequential chain spends over the stream. Its epochs already
    cover every task's rows. Without this a floor-bound budget (100 steps) gave joint one task's share of the steps
    every other arm takes over the stream, and the "ceiling" fell below the arms it bounds."""
    from headstart.backbones import modality_of
    from headstart.strategies import get_strategy

    own = train.with_defaults(get_strategy(strategy).defaults_for(modality_of(pretrained)))
    return dataclasses.replace(train, min_steps=tasks * own.min_steps,
                               max_steps=None if own.max_steps is None else tasks * own.max_steps)


def check_arm(prepared: Any, arm: Any, n: int | None, train_config: Any) -> None:
    """Resolve ``arm``'s run spec as every step will (no model built): a strategy that cannot apply to this backbone or
    data, or options it does not take, is refused before the store or any chain exists.

    Raises:
        ConfigError: as ``resolved.resolve`` words it.
    """
    from headstart.resolved import resolve

    spec = RunSpec(data=prepared.data.name, backbone=prepared.pretrained.name, strategy=arm.strategy,
                   options=dict(arm.strategy_options), n=n, seed=0,
                   train=dataclasses.replace(train_config, **arm.train), split=prepared.split_config)
    resolve(spec, prepared.data, prepared.pretrained, split_config=prepared.split_config, n_train=n or 0, precision="fp32")


def for_step(s: Any, chain: Chain, step: int) -> Any:
    """``s`` pointed at task ``step``: its pool, validation and test rows, its n drawn rows."""
    splits = chain.prepared.splits[step]
    if chain.method.joint:
        splits = Splits(pool=np.concatenate([p.pool for p in chain.prepared.splits]),
                        val=np.concatenate([p.val for p in chain.prepared.splits]),
                        test=np.concatenate([p.test for p in chain.prepared.splits]))
    return dataclasses.replace(s, splits=splits, train_rows=step_rows(chain, step))


def step_rows(chain: Chain, step: int) -> np.ndarray:
    """The rows task ``step`` trains on: its n drawn rows (each task draws its own n from its own classes), or every
    task's for the joint reference."""
    return np.concatenate(chain.train_rows) if chain.method.joint else chain.train_rows[step]


def step_spec(chain: Chain, s: Any, step: int) -> dict[str, Any]:
    """The stored spec of step ``step``: the step's resolved run spec, with the stream, the method and the step."""
    task = chain.stream.tasks[step]
    # a validation cap other than the default moves rows to the pool and changes each checkpoint's choice, a test cap
    # other than the default the rows every score reads: keyed; the default's steps keep the keys they had before
    # continual keyed them (--max-val, --max-test)
    split = chain.prepared.split_config
    test_cap = "all" if split.max_test is None else split.max_test  # continual reads None as every test row
    capped = {**({"max_val": split.max_val} if split.max_val != SplitConfig.max_val else {}),
              **({"max_test": test_cap} if test_cap != MAX_TEST else {})}
    return {**s.resolved(), "data": {"name": task.name, "hash": task.data.hash, **({"split": capped} if capped else {})},
            "continual": {"stream": chain.stream.identity(), "arm": chain.arm.label, "method": chain.arm.method,
                          "method_options": dataclasses.asdict(chain.options), "step": step, "steps": len(chain.stream.tasks),
                          **({"classes": "own"} if chain.method.independent and chain.stream.scenario == "class" else {}),
                          **({"family": chain.arm.family} if chain.arm.family else {})}}


def score_seen(chain: Chain, step: int) -> dict[str, list[float]]:
    """Validation and test accuracy on every task seen so far (row ``step`` of the accuracy matrix)."""
    from headstart.precision import autocast_for

    s = chain.setup
    row: dict[str, list[float]] = {"val": [], "test": []}
    for k in range(step + 1):
        model = chain.models.get(k, s.model) if chain.method.independent else s.model
        own = chain.stream.scenario == "task" or chain.method.independent  # a task's own model: scored as it trained
        model.head.allow(chain.allowed(k, own=chain.method.independent) if own else chain.allowed(step))
        for part in ("val", "test"):
            rows = getattr(chain.prepared.splits[k], part)
            metrics, _ = scored_rows(model, s.encoded, rows, chain.prepared.data.targets[rows], task="classification",
                                     label_names=chain.stream.labels, batch_size=s.cfg.eval_batch_size,
                                     autocast=autocast_for(s.precision, s.device))
            row[part].append(float(metrics["accuracy"]))
    return row


# ---- checkpoints ------------------------------------------------------------------------------------------------


def _checkpoint_dir(chain: Chain, first_key: str) -> Path:
    return chain.out / "continual" / first_key


def save_checkpoint(chain: Chain, folder: Path, step: int) -> None:
    """The chain after ``step``: every model's weights and the method's tensors (safetensors), its state (JSON)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"memory.{k}": v.detach().contiguous().cpu() for k, v in chain.memory.items()}
    models = chain.models if chain.method.independent else {-1: chain.model}
    aliases: dict[str, str] = {}  # a tensor shared by several models (a frozen backbone per task) is written once
    first: dict[tuple[int, int, tuple[int, ...]], str] = {}
    for k, model in models.items():
        for name, t in model.state_dict().items():
            key, where = f"model.{k}.{name}", (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
            if where in first:
                aliases[key] = first[where]
                continue
            first[where] = key
            tensors[key] = t.detach().contiguous().cpu()
    write_atomic(folder / f"step-{step}.safetensors", lambda tmp: save_file(tensors, str(tmp), metadata={"aliases": json.dumps(aliases)}),
                 point="write:checkpoint")
    write_atomic(folder / f"step-{step}.json", json.dumps(chain.state).encode())


def load_checkpoint(chain: Chain, folder: Path, step: int) -> bool:
    """Put the chain back as it was after ``step``; False when that checkpoint is not there."""
    from safetensors.torch import load_file

    path = folder / f"step-{step}.safetensors"
    if not path.exists() or not (folder / f"step-{step}.json").exists():
        return False
    try:
        tensors = load_file(str(path), device=str(chain.setup.device))
        state = json.loads((folder / f"step-{step}.json").read_text())
        tensors.update({alias: tensors[key] for alias, key in _aliases(path).items()})
    except Exception:  # a torn file (a power cut before the data reached the disk): start the chain again
        return False
    chain.memory = {k[len("memory."):]: v for k, v in tensors.items() if k.startswith("memory.")}
    chain.state = state
    if chain.method.independent:
        for k in range(step + 1):
            chain.setup = build_setup(chain, k)
            chain.method.prepare(chain, k)
            chain.setup.model.load_state_dict({n[len(f"model.{k}."):]: t for n, t in tensors.items() if n.startswith(f"model.{k}.")})
            chain.models[k] = chain.setup.model
    else:
        chain.model.load_state_dict({n[len("model.-1."):]: t for n, t in tensors.items() if n.startswith("model.-1.")})
    return True


def _aliases(path: Path) -> dict[str, str]:
    """The names ``save_checkpoint`` wrote once for several models: alias -> the name the tensor is stored under."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get("aliases") or "{}")


def drop_checkpoint(folder: Path, step: int) -> None:
    for suffix in (".safetensors", ".json"):
        (folder / f"step-{step}{suffix}").unlink(missing_ok=True)


# ---- the chain ---------------------------------------------------------------------------------------------------


def run_chain(chain: Chain, store: Any, *, progress: Any = None, resumed: Any = None) -> int:
    """Train the chain's remaining steps, storing each; returns how many steps were trained. ``resumed(k)`` is told,
    before any step trains, the k steps already stored that this call will not train (a count of the stream's steps
    then stays right during the chain, not only after it)."""
    from headstart.provenance import environment
    from headstart.recipe import train

    steps = 1 if chain.method.joint else len(chain.stream.tasks)
    last = len(chain.stream.tasks) - 1
    chain.setup = build_setup(chain, 0)
    indices = [last] if chain.method.joint else list(range(steps))
    keys = [run_key(step_spec(chain, for_step(chain.setup, chain, i), i)) for i in indices]
    done = store.done_keys()
    finished = 0
    while finished < len(keys) and keys[finished] in done:
        finished += 1
    chain.keys = keys
    folder = _checkpoint_dir(chain, keys[0])
    if finished == len(keys):
        _drop_folder(folder, indices)  # a run killed after storing its last step may have left its checkpoint
        if resumed:
            resumed(finished)
        return 0
    if finished and not load_checkpoint(chain, folder, indices[finished - 1]):
        finished = 0  # the checkpoint is gone: the chain starts again (every step is deterministic: the same rows)
    if resumed:
        resumed(finished)
    trained = 0
    for position in range(finished, len(keys)):
        step = indices[position]
        if chain.method.independent:
            chain.setup = build_setup(chain, step)
            chain.method.prepare(chain, step)
            chain.models[step] = chain.setup.model
        s = for_step(chain.setup, chain, step)
        chain.setup = s
        # a model per task (alone) learns its task's classes only: the classes of earlier tasks it never saw would be
        # its head's untrained rows, and in the class scenario their random logits decided what a few steps scored
        s.model.head.allow(torch.ones(len(chain.stream.labels), dtype=torch.bool) if chain.method.joint
                           else chain.allowed(step, own=chain.method.independent))
        penalties = chain.method.penalties(chain, step, chain.options)
        started = time.perf_counter()
        report = train(s, objective=Objective(tuple(penalties)) if penalties else None,
                       features=(position == 0 or s.strategy.leaves_backbone or chain.method.independent))
        if report.status == "done":
            chain.method.after(chain, step, chain.options)
        seconds = time.perf_counter() - started
        row = score_seen(chain, step) if report.status == "done" else {"val": [], "test": []}
        spec = step_spec(chain, s, step)
        result = RunResult(key=keys[position], spec=spec, status=report.status,
                           metrics={"accuracy": row["test"][-1]} if row["test"] else {},
                           val_metrics={"accuracy": row["val"][-1]} if row["val"] else {},
                           chosen=dict(report.chosen), train_seconds=seconds, steps=report.steps, best_step=report.best_step,
                           trainable_params=report.trainable_params, error=report.error,
                           total_params=sum(p.numel() for p in s.model.parameters()),
                           record={"continual": {**row, "kept_bytes": chain.kept_bytes()}, "environment": environment()})
        if report.status != "done":
            store.put(result)
            return trained + 1
        save_checkpoint(chain, folder, step)
        store.put(result)
        if position:
            drop_checkpoint(folder, indices[position - 1])
        trained += 1
        if progress:
            progress(chain, step)
    _drop_folder(folder, indices)  # the chain is complete: the store has every row
    return trained


def _drop_folder(folder: Path, indices: list[int]) -> None:
    for i in indices:
        drop_checkpoint(folder, i)
    for stray in folder.glob(".step-*.tmp"):  # a write_atomic temp file a kill left: the chain it was for is complete
        stray.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass
