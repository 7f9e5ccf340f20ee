"""Direct preference optimisation (Rafailov et al. 2023) on top of an sft run.

For a prompt x with a chosen response y_w and a rejected one y_l, the policy π (initialised at the SFT model) is
trained against the reference π_ref (the SFT model, frozen) with

    L = −log σ(β [(log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))])

where log π(y|x) sums the response tokens' log-probabilities (prompt tokens masked as in sft) and β (0.1) sets how
far π may move from π_ref. β·(log π − log π_ref) is each response's implicit reward; the reward margin is chosen minus
rejected.

The reference is the SFT policy exactly: before the first step the policy *is* π_ref, so π_ref's log-probabilities
of every pair the steps will visit (the batches are drawn up front) and of the validation pairs are computed then,
in eval mode, and kept — no frozen copy of the model, and with LoRA the SFT adapter itself trains on (it is not
disabled to get a reference: the base without it is not the SFT policy). Written here rather than through TRL's
``DPOTrainer``: that trains through the transformers ``Trainer`` (its own loop, logging, checkpointing), and the loss
is these few lines, checked against a hand-computed value in tests/llm/test_dpo.py.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from headstart.errors import ConfigError, DataError
from headstart.python_checks import settings_class
from headstart.llm.runs import LoadedLM
from headstart.llm.sft import check_draw, check_loop, flag
from headstart.progress import ETA_KEY, pace

LRS = {"lora": 5e-5, "qlora": 5e-5, "full-finetune": 1e-6}  # DPO moves a policy much less than SFT (TRL: 1e-6 full)
REFERENCE = "computing the reference model's log-probabilities"  # the pass before the steps, as its bar says it


TIE = 1e-6  # a margin this small is the policy still equal to the reference on that pair


def reward_accuracy(margins: list[float]) -> float:
    """The share of pairs whose implicit reward ranks chosen above rejected, a tie (``|margin| <= TIE``) counting half:
    before training the policy is the reference, every margin 0, and the score is chance (0.5), not "always wrong"."""
    m = np.asarray(margins, dtype=np.float64)
    return float(np.mean(np.where(np.abs(m) <= TIE, 0.5, m > 0)))


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
             *, beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The DPO loss and each pair's reward margin.

    Args:
        policy_chosen, policy_rejected: (B,) log π(y|x) of the chosen / rejected responses (summed over tokens).
        ref_chosen, ref_rejected: (B,) the same under π_ref.
        beta: the KL-penalty strength β (> 0).

    Returns:
        (mean of −log σ(margin) over the batch, (B,) margin = β[(π_c − ref_c) − (π_r − ref_r)]).
    """
    margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -F.logsigmoid(margin).mean(), margin


def sequence_logps(model: torch.nn.Module, rows: list[tuple[list[int], list[int]]], *, pad_id: int) -> torch.Tensor:
    """(len(rows),) log π(response | prompt) of each (ids, labels) row: the sum over its labelled tokens."""
    from headstart.llm.format import collate, token_logps

    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in collate(rows, pad_id=pad_id).items()}
    logps, _ = token_logps(model, batch)
    return logps.sum(-1)


@settings_class
@dataclass(frozen=True)
class PreferConfig:
    """A prefer run's settings (saved in spec.json). ``backbone`` and ``strategy`` (default smollm2-135m, lora) apply
    without an sft run; with one they are the run's, and a different value given is refused (``check_start``)."""

    sft: str | None = None
    backbone: str | None = None
    strategy: str | None = None
    beta: float = 0.1  # Rafailov et al.'s default; larger keeps the policy nearer the SFT model
    n: int | Literal["all"] | None = None  # "all" reads as None: every row
    seed: int = 0
    lr: float | None = None
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 4  # pairs: each step runs 2 x batch_size sequences
    max_length: int = 256
    warmup: float = 0.1
    evals: int = 5
    patience: int = 3
    val_rows: int = 64

    def __post_init__(self) -> None:
        from headstart.llm.lm import check_strategy

        if self.strategy is not None:
            check_strategy(self.strategy)  # also with --sft (which sets the strategy): a typo is named, not ignored
        if self.backbone is not None and (not isinstance(self.backbone, str) or not self.backbone.strip()):
            raise ConfigError(f"--backbone must be a causal LM's name, folder or .gguf file, got {self.backbone!r}; "
                              f"e.g. --backbone {DEFAULT_BACKBONE}")
        if not isinstance(self.beta, (int, float)) or not self.beta > 0 or not math.isfinite(self.beta):
            raise ConfigError(f"--beta must be > 0, got {self.beta!r}; try --beta 0.1")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr!r}; try --lr 5e-5")
        for name in ("batch_size", "max_length", "evals", "val_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{flag(name)} must be a positive integer, got {value!r}; e.g. {flag(name)} {_DEFAULTS[name]}")
        check_draw(self)
        check_loop(self)
        if self.max_length < 2:
            raise ConfigError(f"--max-length must be >= 2 (a prompt token and a response token), got {self.max_length}; e.g. --max-length 256")


_DEFAULTS = {f.name: f.default for f in fields(PreferConfig)}
DEFAULT_BACKBONE, DEFAULT_STRATEGY = "smollm2-135m", "lora"  # without --sft


def check_start(cfg: PreferConfig) -> dict[str, Any] | None:
    """The sft run's spec (None without one), after refusing a ``backbone`` or ``strategy`` given beside it that is not
    the run's: a prefer run continues its sft run's weights, so neither can change, and a silent override would save
    a run that says it did what it did not.

    Raises:
        StoreError: ``cfg.sft`` is not an sft / prefer run.
        ConfigError: a given backbone or strategy differs from the sft run's.
    """
    if cfg.sft is None:
        return None
    from headstart.llm.lm import lm_reference
    from headstart.llm.runs import read_spec

    spec = read_spec(cfg.sft)
    if spec.get("merged"):  # its LoRA is folded into the weights: no adapter left to keep training
        raise ConfigError(f"--sft {str(cfg.sft)!r} is a merged run (headstart adapters merge), with no adapter to keep "
                          f"training; start from the run it was merged from, {spec['merged'].get('from')!r}, or give it as "
                          "--backbone for a fresh LoRA")
    if cfg.strategy is not None and cfg.strategy != spec.get("strategy"):
        raise ConfigError(f"--strategy {cfg.strategy} differs from the sft run's ({spec.get('strategy')}): prefer continues "
                          f"{str(cfg.sft)!r} as it was trained; drop --strategy, or give no --sft to start a {cfg.strategy} run")
    if cfg.backbone is not None and lm_reference(cfg.backbone) != spec.get("backbone") and cfg.backbone != spec.get("backbone"):
        raise ConfigError(f"--backbone {cfg.backbone} differs from the sft run's ({spec.get('backbone')}): prefer continues "
                          f"{str(cfg.sft)!r} on its own base; drop --backbone, or give no --sft to start on {cfg.backbone}")
    return spec


def check_out(out: str | Path, cfg: PreferConfig) -> None:
    """Refuse an ``out`` that is the sft run this one starts from: writing there would replace the reference policy
    before it is read, and the new run would name itself as its start.

    Raises:
        ConfigError: ``out`` and ``cfg.sft`` are the same folder.
    """
    from headstart.outdir import sibling

    if cfg.sft is not None and Path(out).expanduser().resolve() == Path(cfg.sft).expanduser().resolve():
        raise ConfigError(f"--out {str(out)!r} is the --sft run this one starts from, and writing there would replace it; "
                          f"choose another folder, e.g. {str(sibling(out, 'dpo'))!r}")


def _start(cfg: PreferConfig) -> tuple[LoadedLM, list[torch.nn.Parameter], dict[str, Any]]:
    """The policy at its start: the sft run with its weights trainable, or the base LM with a fresh LoRA (then π_ref is
    the base). Returns (model, trainable parameters, what the spec records of the start)."""
    from headstart.llm.lm import lm_folder, lm_reference, load_lm, prepare, recompute_activations
    from headstart.llm.runs import load_run
    from headstart.precision import pick_device

    if cfg.sft is not None:
        start = load_run(cfg.sft, trainable=True)
        if start.spec["strategy"] == "qlora":
            recompute_activations(start.model)
        params = [p for p in start.model.parameters() if p.requires_grad]
        stopped = (start.metrics or {}).get("error") if (start.metrics or {}).get("status") == "interrupted" else None
        return start, params, {"sft": str(Path(cfg.sft).resolve()), "backbone": start.spec["backbone"],
                               "strategy": start.spec["strategy"], "base": start.spec["base"],
                               **({"sft_interrupted": stopped} if stopped else {})}  # said by prefer and its model card
    backbone, strategy = cfg.backbone or DEFAULT_BACKBONE, cfg.strategy or DEFAULT_STRATEGY
    folder = lm_folder(backbone)
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_lm(folder, device=pick_device(), quantize=strategy == "qlora")
    model, params = prepare(model, strategy)
    return LoadedLM(model, tokenizer, {}), params, {"sft": None, "backbone": lm_reference(backbone), "strategy": strategy,
                                                    "base": str(folder)}


def identical_pairs(columns: dict[str, list[str]], rows: np.ndarray, data: str) -> int:
    """How many of ``rows`` have chosen == rejected: such a pair's margin is 0 whatever the policy, so it adds nothing
    but ln 2 to the loss and no gradient.

    Raises:
        DataError: every pair is such a pair (nothing to learn: a wrong --rejected-column, most likely).
    """
    same = sum(columns["chosen"][r] == columns["rejected"][r] for r in rows)
    if len(rows) and same == len(rows):
        raise DataError(f"every one of the {len(rows)} training pairs of {data!r} has chosen identical to rejected, so there "
                        "is no preference to learn; check --chosen-column / --rejected-column name two different responses")
    return int(same)


def run_prefer(data: str, cfg: PreferConfig, *, prompt_column: str = "prompt", chosen_column: str = "chosen",
               rejected_column: str = "rejected", group_column: str | None = None, out: str | Path | None = None,
               progress: Any = None) -> LoadedLM:
    """DPO on ``data``'s prompt / chosen / rejected rows, starting from (and referenced to) ``cfg.sft``; a file's rows
    split by ``group_column`` (default: the prompt text, ``llm.data``).

    Returns:
        The tuned model in memory with its spec and metrics (val DPO loss, reward accuracy and margin before / after).

    Raises:
        ConfigError / DataError / BackboneError / StoreError: bad settings, data, backbone or sft run (one line each).
        Interrupted: Ctrl-C or SIGTERM during the steps, after the best checkpoint so far was saved (its ``run``).
    """
    from headstart.llm.data import BUILTINS, load_table
    from headstart.llm.format import FIT_SAMPLE, check_fits, example, truncation
    from headstart.llm.lm import OPTIMIZERS, eos_id
    from headstart.llm.loop import LoopConfig, budget, train
    from headstart.llm.notes import many, run_notes
    from headstart.interrupts import setting_up
    from headstart.llm.runs import Interrupted, held_save, save_outcome, stopped_after_save
    from headstart.llm.sft import _read, draw, epochs_of

    started = time.time()  # a run saved into --out after this is another's: kept (save_outcome)
    with setting_up("prefer"):  # Ctrl-C here: nothing trained, nothing saved, said so (interrupts.NothingTrained)
        check_start(cfg)  # before the data loads
        table = load_table(data, {"prompt": prompt_column, "chosen": chosen_column, "rejected": rejected_column},
                           group_column=group_column)
        train_rows = draw(table.rows("train"), cfg.n, cfg.seed, dropped=table.dropped)
        val_rows = table.spread("validation", cfg.val_rows)
        if len(train_rows) == 0 or len(val_rows) == 0:
            raise DataError(f"{data!r} has {len(train_rows)} training and {many(len(val_rows), 'validation pair')}; it needs both")
        same = identical_pairs(table.columns, train_rows, data)  # before the LM loads
        policy, params, start = _start(cfg)
        model, tokenizer = policy.model, policy.tokenizer
        eos, pad = eos_id(model, tokenizer), tokenizer.pad_token_id
        col = table.columns
        check_fits(tokenizer, [(col["prompt"][r], col["chosen"][r]) for r in train_rows[:FIT_SAMPLE]], eos=eos,
                   max_length=cfg.max_length)

        cuts: Counter = Counter()

        def pair(r: int) -> tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]:
            return (example(tokenizer, col["prompt"][r], col["chosen"][r], eos=eos, max_length=cfg.max_length, cuts=cuts),
                    example(tokenizer, col["prompt"][r], col["rejected"][r], eos=eos, max_length=cfg.max_length, cuts=cuts))

        pairs = {int(r): pair(int(r)) for r in np.concatenate([train_rows, val_rows])}
        steps = cfg.max_steps or math.ceil(cfg.epochs * len(train_rows) / cfg.batch_size)
        batches = epochs_of([int(r) for r in train_rows], cfg.batch_size, cfg.seed)
        schedule = [next(batches) for _ in range(steps)]  # drawn up front: π_ref is needed for exactly these pairs

        def logps(rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:  # (B,) chosen and (B,) rejected, one forward pass
            both = sequence_logps(model, [pairs[r][0] for r in rows] + [pairs[r][1] for r in rows], pad_id=pad)
            return both[: len(rows)], both[len(rows):]

        model.eval()
        reference: dict[int, tuple[float, float]] = {}
        needed = sorted({r for batch in schedule for r in batch} | {int(r) for r in val_rows})
        reference_batches = math.ceil(len(needed) / cfg.batch_size)
        left = pace()

        def counted(done: int) -> None:  # the reference pass: its own count of batches, its own time left at its pace
            if progress:
                progress(done, reference_batches, {"setup": f"{REFERENCE}, {done}/{reference_batches} batches",
                                                   ETA_KEY: left(REFERENCE, done, reference_batches)})

        counted(0)
        with torch.no_grad():
            for i in range(0, len(needed), cfg.batch_size):
                rows = needed[i : i + cfg.batch_size]
                chosen, rejected = logps(rows)
                reference.update((r, (float(c), float(j))) for r, c, j in zip(rows, chosen, rejected))
                counted(i // cfg.batch_size + 1)

    def loss(rows: list[int], *, margins: bool = False) -> Any:
        chosen, rejected = logps(rows)
        ref = torch.tensor([reference[r] for r in rows], device=chosen.device)
        value, margin = dpo_loss(chosen, rejected, ref[:, 0], ref[:, 1], beta=cfg.beta)
        return (value, margin) if margins else value

    def judge() -> dict[str, float]:
        values, margins = [], []
        batches = [[int(r) for r in val_rows[i : i + cfg.batch_size]] for i in range(0, len(val_rows), cfg.batch_size)]
        for rows in batches:
            value, margin = loss(rows, margins=True)
            values.append(float(value) * len(rows))
            margins += margin.tolist()
        return {"loss": sum(values) / len(val_rows), "reward_accuracy": reward_accuracy(margins),
                "margin": float(np.mean(margins))}

    began: list[float] = []

    def after_reference(step: int, total: int, info: dict[str, Any]) -> None:
        """The steps' own count ("step 2/3"), after the reference pass's, and their own ETA at their pace (their checks
        included): one count over both ("2/6 π_ref 5/7", then "3/6 step 0/3") mixed batches with steps, and read
        "ETA ?" for the reference pass's 86 s."""
        if progress:
            if not began:  # the loop's first call (step 0, before its first check): the steps' clock starts
                began.append(time.monotonic())
            took = time.monotonic() - began[0]
            progress(step, total, {"step": f"{step}/{total}", **info,
                                   ETA_KEY: took / step * (total - step) if step else None})

    judged: list[dict[str, float]] = []  # each check's whole score: the first, before any step, is val_before

    def validate() -> float:
        judged.append(judge())
        return judged[-1]["loss"]

    rate = cfg.lr if cfg.lr is not None else LRS[start["strategy"]]
    # the loop's check before the first step is the one validation pass before training: it says it, and both the
    # history's step 0 and val_before are its result
    report = train(model, params, iter(schedule), loss, validate,
                   LoopConfig(steps=steps, lr=rate, warmup=cfg.warmup, evals=cfg.evals, patience=cfg.patience,
                              optimizer=OPTIMIZERS[start["strategy"]]), progress=after_reference,
                   on=f"{len(val_rows)} validation pair{'s' if len(val_rows) != 1 else ''}")

    def save() -> LoadedLM:  # the kept checkpoint scored on the validation pairs (one check's time), then saved
        before = judged[0]
        with torch.no_grad():
            after = judge()
        metrics = {"status": report.status, "error": report.error, "steps": report.steps, "best_step": report.best_step,
                   "val_before": before, "val": after, "history": report.history, "train_seconds": round(report.seconds, 2),
                   "train_pairs": len(train_rows), "val_pairs": len(val_rows), **({"identical_pairs": same} if same else {}),
                   **_read(budget(report, items=len(train_rows), batch_size=cfg.batch_size, planned=steps,
                                  capped=cfg.max_steps is not None), "pairs_seen"),
                   **({"truncated": cut} if (cut := truncation(cuts, 2 * len(pairs), cfg.max_length)) else {}),
                   **({"dropped": table.dropped} if table.dropped else {})}
        metrics["notes"] = run_notes(metrics)  # what the CLI prints after the numbers, and the model card lists
        spec = {"kind": "prefer", **asdict(cfg), **start, "lr": rate, "optimizer": OPTIMIZERS[start["strategy"]], "steps": steps,
                "data": {"name": table.name, "hash": table.hash, "prompt_column": prompt_column, "chosen_column": chosen_column,
                         "rejected_column": rejected_column,
                         "group_column": group_column,  # its split, and a file's path: merge and export check it unchanged
                         **({} if data in BUILTINS else {"path": str(Path(data).resolve())})}}
        return LoadedLM(model, tokenizer, spec, save_outcome(out, model, tokenizer, spec=spec, metrics=metrics, started=started), metrics)

    # a stop from the last step to the end of the save waits for it (seconds), then acts on the saved run
    run, stop = held_save(save)
    if stop is not None:
        raise stopped_after_save(run, stop) from None
    if report.status == "interrupted":
        raise Interrupted(run)
    return run
