"""Supervised fine-tuning of a causal LM on prompt → response pairs, the loss on response tokens only.

The recipe reads top to bottom: ``setup`` (table, splits, LM, trainable parameters) → ``train`` (``llm.loop``: the
checkpoint with the lowest validation loss) → ``save`` (``llm.runs``) → ``evaluate`` (exact match of greedy
generations on test responses, added to the saved run: a stop while answering keeps the trained run). The objective is the mean over response tokens of −log p(y_t | x, y_<t) (Ouyang et al. 2022's
SFT step; prompt tokens carry label -100, so only the response is learned).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from time import monotonic
from typing import Any, Literal

import numpy as np
import torch

from headstart.errors import ConfigError, DataError, comma_entries
from headstart.python_checks import settings_class
from headstart.surface import on_cli
from headstart.llm.lm import check_strategy
from headstart.arguments import check_count, check_seed
from headstart.llm.runs import LoadedLM

LRS = {"lora": 2e-4, "qlora": 2e-4, "full-finetune": 2e-5}  # the usual LoRA / full SFT rates (QLoRA paper: 2e-4 at small scale)


def check_draw(cfg: Any) -> None:
    """What an sft or prefer config draws and how long it trains, checked alike: ``max_steps`` and ``n`` whole numbers
    >= 1 or None (``n="all"`` read as None), ``seed`` one numpy and torch take, ``epochs`` > 0."""
    check_count("max_steps", cfg.max_steps, example=50)
    object.__setattr__(cfg, "n", check_count("n", cfg.n, example=256))
    check_seed(cfg.seed)
    if isinstance(cfg.epochs, bool) or not isinstance(cfg.epochs, (int, float)) or not cfg.epochs > 0:
        raise ConfigError(f"--epochs must be > 0, got {cfg.epochs!r}; e.g. --epochs 1")


CLI_NAMES = {"evals": "evals-per-phase"}  # a field whose flag is spelled otherwise: train's flag of the same setting


def flag(name: str) -> str:
    """The field ``name`` of an sft or prefer config as its errors name it: its flag on the CLI (``--evals-per-phase``);
    from Python ``--evals``, which the settings class writes as the field (``evals=5``)."""
    return f"--{(CLI_NAMES.get(name, name) if on_cli() else name).replace('_', '-')}"


def check_loop(cfg: Any) -> None:
    """How an sft or prefer config's loop warms up and stops, checked alike: ``warmup`` a fraction in [0, 1),
    ``patience`` a whole number >= 0 (0: never stop early)."""
    if isinstance(cfg.warmup, bool) or not isinstance(cfg.warmup, (int, float)) or not 0 <= cfg.warmup < 1:
        raise ConfigError(f"--warmup must be a fraction in [0, 1), got {cfg.warmup!r}; try --warmup 0.1")
    if isinstance(cfg.patience, bool) or not isinstance(cfg.patience, int) or cfg.patience < 0:
        raise ConfigError(f"--patience must be an integer >= 0 (validation checks without improvement before the "
                          f"run stops; 0 never stops early), got {cfg.patience!r}; try --patience 3")


@settings_class
@dataclass(frozen=True)
class SftConfig:
    """An sft run's settings (saved in spec.json).

    Attributes (defaults in brackets):
        backbone: causal LM by registry name, folder or .gguf file [smollm2-135m].
        strategy: lora | qlora | full-finetune [lora].
        n: training examples drawn (seeded) from the train split; None for all.
        lr: peak rate; None for the strategy's (LRS).
        epochs / max_steps: steps = max_steps, else ceil(epochs · train rows / batch_size) (with packing, packed rows).
        packing: pack whole examples into rows of max_length tokens, each attending only to itself (``format.pack``).
        rank / alpha / dropout / targets: the LoRA update (α/r)·BA, the dropout on its input, the modules it adapts.
        warmup: fraction of the steps warming up linearly [0.1].
        evals / patience: validation checks over the run; checks without improvement before it stops (0: never) [5, 3].
        val_rows / eval_rows: validation examples whose loss picks the checkpoint; test examples generated for exact match.
        max_new_tokens: tokens generated at most per test answer [64].
    """

    backbone: str = "smollm2-135m"
    strategy: str = "lora"
    n: int | Literal["all"] | None = None  # "all" reads as None: every row
    seed: int = 0
    lr: float | None = None
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 8
    packing: bool = False
    max_length: int = 256  # rotten-tomatoes prompt + review is ~60 tokens; a long response is truncated, not dropped
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05  # QLoRA's for small models; LoRA's 0.1 over-regularises a few hundred steps
    targets: str | None = None  # None: PEFT's default for the architecture (q_proj,v_proj on Llama)
    warmup: float = 0.1
    evals: int = 5
    patience: int = 3
    val_rows: int = 64  # a fixed draw: validation loss at every check stays cheap next to the steps
    eval_rows: int = 32  # greedy generation is the slow part of evaluating on a CPU
    max_new_tokens: int = 64

    def __post_init__(self) -> None:
        check_strategy(self.strategy)
        positive = {"batch_size": self.batch_size, "max_length": self.max_length, "rank": self.rank, "evals": self.evals,
                    "max_new_tokens": self.max_new_tokens}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{flag(name)} must be a positive integer, got {value!r}; e.g. {flag(name)} {_DEFAULTS[name]}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr!r}; try --lr {LRS[self.strategy]:g}")
        check_draw(self)
        if self.max_length < 2:
            raise ConfigError(f"--max-length must be >= 2 (a prompt token and a response token), got {self.max_length}; e.g. --max-length 256")
        if not self.alpha > 0:
            raise ConfigError(f"--alpha must be > 0, got {self.alpha!r}; e.g. --alpha 16")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout must be a fraction in [0, 1), got {self.dropout!r}; try --dropout 0.05")
        check_loop(self)
        if self.val_rows < 1:
            raise ConfigError(f"--val-rows must be >= 1, got {self.val_rows!r}; e.g. --val-rows 64")
        if self.eval_rows < 0:
            raise ConfigError(f"--eval-rows must be >= 0 (0: none), got {self.eval_rows!r}; e.g. --eval-rows 32")
        if isinstance(self.targets, str) and self.targets != "all-linear":  # "q_proj,,v_proj": refused before the model loads
            comma_entries(self.targets, name="--targets", noun="module name")
        # an adapter setting other than its default, on full-finetune, would be ignored (one equal to its default is
        # told apart where the caller knows what was given: the CLI's flags, a dict config)
        check_adapter_given(self.strategy, [k for k in ADAPTER_SETTINGS if getattr(self, k) != _DEFAULTS[k]], flag=False)

    @property
    def rate(self) -> float:
        """The peak learning rate: ``lr``, else the strategy's default."""
        return self.lr if self.lr is not None else LRS[self.strategy]


ADAPTER_SETTINGS = ("rank", "alpha", "targets", "dropout")  # shape a lora/qlora adapter; full-finetune has none
_DEFAULTS = {f.name: f.default for f in fields(SftConfig)}


def check_adapter_given(strategy: str, given: list[str], *, flag: bool = True) -> None:
    """Refuse adapter settings (``ADAPTER_SETTINGS``) given for full-finetune, which would quietly ignore them.

    Raises:
        ConfigError: ``given`` is not empty and ``strategy`` is full-finetune.
    """
    if strategy != "full-finetune" or not given:
        return
    named = [f"--{k}" if flag else repr(k) for k in given]
    raise ConfigError(f"{', '.join(named)} {'shapes' if len(named) == 1 else 'shape'} a lora/qlora adapter, and full-finetune "
                      f"trains every weight instead; drop {'it' if len(named) == 1 else 'them'}, or use "
                      f"{'--strategy lora' if flag else 'strategy=' + repr('lora')}")


def draw(rows: np.ndarray, n: int | None, seed: int, *, dropped: str = "") -> np.ndarray:
    """``n`` of ``rows`` drawn with ``seed`` (all of them, in table order, for None).

    Raises:
        DataError: ``n`` above the number of rows; ``dropped`` (``TextTable.dropped``) says which rows reading the file
            left out.
    """
    if n is None:
        return rows
    if n > len(rows):
        left = f" (reading the file {dropped})" if dropped else ""
        raise DataError(f"--n {n} is more than the {len(rows)} training row{'s' if len(rows) != 1 else ''}{left}; "
                        f"use --n {len(rows)} or fewer (or all)")
    return np.sort(np.random.default_rng(seed).choice(rows, size=n, replace=False))


def epochs_of(items: list[Any], batch_size: int, seed: int) -> Iterator[list[Any]]:
    """Endless batches of ``items``, reshuffled each epoch with one generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(items))
        for i in range(0, len(order), batch_size):
            yield [items[j] for j in order[i : i + batch_size]]


def mean_loss(model: torch.nn.Module, rows: list[tuple[list[int], list[int]]], *, pad_id: int, batch_size: int) -> float:
    """Response-token negative log-likelihood over ``rows``, each token weighted once."""
    from headstart.llm.format import collate, token_logps

    device = next(model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        batch = {k: v.to(device) for k, v in collate(rows[i : i + batch_size], pad_id=pad_id).items()}
        logps, counted = token_logps(model, batch)
        total, count = total - float(logps.sum()), count + int(counted.sum())
    return total / max(count, 1)


def answering(progress: Callable[[float, int, dict[str, Any]], None] | None) -> Callable[[float, int], None] | None:
    """``progress`` for the test prompts' greedy generation, the slow part of evaluating on a CPU (minutes after the
    last step): its own count of prompts answered and its own ETA, at the seconds a prompt has taken so far (the steps'
    rate would say 0s), a batch counted by its tokens generated (``runs.generate``), not known before the first token."""
    if progress is None:
        return None
    from headstart.progress import ETA_KEY

    start = monotonic()

    def said(done: float, total: int) -> None:
        took = monotonic() - start
        progress(done, total, {"generating": f"answers to {total} test prompt{'s' if total != 1 else ''}",
                               ETA_KEY: took / done * (total - done) if done else None})

    return said


def _read(said: dict[str, Any], seen: str) -> dict[str, Any]:
    """``loop.budget``'s fields as metrics.json names them: ``seen`` as ``rows_seen`` (sft), ``sequences_seen`` (sft
    with packing: packed rows) or ``pairs_seen`` (prefer); no ``ended_by`` where the planned steps ran."""
    return {seen: said["seen"], **{k: v for k, v in said.items() if k != "seen" and v is not None}}


def test_prompts(table: Any, count: int) -> tuple[list[str], list[str]]:
    """The held-out prompts an sft run answers and their reference responses: ``count`` rows of ``table``'s test split
    spread over it (``TextTable.spread``: the same draw for every run of the table), so ``evaluate`` of a saved run
    answers the very prompts its training run did."""
    rows = table.spread("test", count)
    return [table.columns["prompt"][r] for r in rows], [table.columns["response"][r] for r in rows]


class AnswersStopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM while the test prompts were answered (``answer_test``): ``said`` is what stopped it and how
    far it got ("interrupted by SIGTERM while answering the test prompts (3 of 32 answered)")."""

    def __init__(self, said: str) -> None:
        super().__init__(said)
        self.said = said


def answer_test(run: LoadedLM, prompts: list[str], references: list[str], *, max_new_tokens: int,
                progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Answer the test prompts greedily with ``run``'s model: their exact match, the token budget of an answer and the
    first three answers beside their references (``metrics["test"]``). Nothing is written.

    Raises:
        AnswersStopped: Ctrl-C or SIGTERM while answering (SIGTERM read as Ctrl-C, ``sigterm_as_interrupt``).
    """
    from headstart.interrupts import ended_by, sigterm_as_interrupt
    from headstart.llm.runs import exact_match, generate

    answered, said = [0], answering(progress)

    def counted(done: float, total: int) -> None:
        if isinstance(done, int):  # a whole batch answered; a float is a share of one, its tokens so far
            answered[0] = done
        if said:
            said(done, total)

    try:
        with sigterm_as_interrupt():  # a scheduler's time limit here stops as Ctrl-C does, and the caller keeps the run
            generated = generate(run.model, run.tokenizer, prompts, max_new_tokens=max_new_tokens, progress=counted)
    except KeyboardInterrupt as stop:
        raise AnswersStopped(f"{ended_by(stop)} while answering the test prompts ({answered[0]} of {len(prompts)} answered)") from None
    return {"rows": len(prompts), "exact_match": exact_match(generated, references), "max_new_tokens": max_new_tokens,
            "samples": [{"prompt": p, "generated": g, "reference": r} for p, g, r in list(zip(prompts, generated, references))[:3]]}


def record_test(run: LoadedLM, test: dict[str, Any]) -> None:
    """Put ``test`` (``answer_test``'s) into the saved run's metrics.json and README.md (``runs.rescore``: only its test
    fields, the weights left as they are), then into ``run.metrics["test"]``, in place of a ``test_not_scored`` or an
    earlier score.

    Raises:
        StoreError: the run's folder holds another run now (``runs.check_holds``); nothing written, ``run`` unchanged.
    """
    from headstart.llm.runs import rescore

    rescore(run, {"test": test})
    run.metrics.pop("test_not_scored", None)
    run.metrics["test"] = test


def score_test(run: LoadedLM, prompts: list[str], references: list[str], *, max_new_tokens: int,
               progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> None:
    """Answer the test prompts greedily and put their exact match into ``run.metrics["test"]`` (and the saved run's
    metrics.json and README.md), in place of ``run.metrics["test_not_scored"]``. Where the run's folder holds another
    save by then (an sft --out of the same folder while these prompts were answered), nothing is written there: the
    run is said to be unsaved (``replaced``).

    Raises:
        Interrupted: Ctrl-C or SIGTERM while answering; the run, saved trained before this began, keeps
            ``test_not_scored`` saying so and how many prompts were answered.
    """
    from headstart.llm.runs import Interrupted

    try:
        test = answer_test(run, prompts, references, max_new_tokens=max_new_tokens, progress=progress)
    except AnswersStopped as stop:
        run.metrics["test_not_scored"] = f"{stop.said}, after training finished"
        rescored(run, {"test_not_scored": run.metrics["test_not_scored"]})
        raise Interrupted(run) from None
    rescored(run, {"test": test})
    run.metrics.pop("test_not_scored", None)
    run.metrics["test"] = test


def rescored(run: LoadedLM, scores: dict[str, Any]) -> None:
    """``runs.rescore`` of the run sft just saved; where its folder holds another save by then, the run in memory is
    marked unsaved (``directory`` None, ``metrics["replaced"]`` saying why) and nothing is written: the folder's run is
    the other one's."""
    from headstart.errors import StoreError
    from headstart.llm.runs import rescore

    try:
        rescore(run, scores)
    except StoreError:
        run.metrics["replaced"] = (f"replaced in {str(run.directory)!r} by another run saved there while this one "
                                   "answered its test prompts (that run is kept); this one is in memory only")
        run.directory = run.stamp = None


def run_sft(data: str, cfg: SftConfig, *, prompt_column: str = "prompt", response_column: str = "response",
            group_column: str | None = None, out: str | Path | None = None, progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> LoadedLM:
    """Fine-tune ``cfg.backbone`` on ``data``'s prompt → response rows and save the run to ``out``.

    Args:
        data: a built-in table (``rotten-tomatoes-sft``) or a .csv/.tsv/.jsonl/.json/.parquet file.
        cfg: the run's settings.
        prompt_column / response_column: the file's columns.
        group_column: a file's column of ids kept on one side of the split (default: the prompt text).
        out: run directory, or None to keep nothing on disk.
        progress: called after each step with (step, steps, info).

    Returns:
        The trained model in memory, its spec and its metrics (also metrics.json): train / val losses, steps, history,
        exact match on test, status.

    Raises:
        ConfigError / DataError / BackboneError: a bad setting, data or backbone (one line each).
        Interrupted: Ctrl-C or SIGTERM during the steps, after the best checkpoint so far was saved (its ``run``), or
            while the test prompts are answered, after the trained run was saved (``score_test``).
    """
    from headstart.llm.data import BUILTINS, load_table
    from headstart.llm.format import (FIT_SAMPLE, check_fits, check_packing, collate, collate_packed, example,
                                      has_chat_template, pack, response_loss, truncation)
    from headstart.llm.lm import OPTIMIZERS, eos_id, lm_folder, lm_reference, load_lm, prepare
    from headstart.llm.loop import LoopConfig, budget, train
    from headstart.llm.notes import many, run_notes
    from headstart.interrupts import ended_by, setting_up
    from headstart.llm.runs import Interrupted, held_save, save_outcome, stopped_after_save
    from headstart.precision import pick_device

    started = time.time()  # a run saved into --out after this is another's: kept (save_outcome)
    with setting_up("sft"):  # setup; Ctrl-C here: nothing trained, nothing saved, said so (interrupts.NothingTrained)
        # setup
        table = load_table(data, {"prompt": prompt_column, "response": response_column}, group_column=group_column)
        train_rows = draw(table.rows("train"), cfg.n, cfg.seed, dropped=table.dropped)
        val_rows, (test_asked, test_answers) = table.spread("validation", cfg.val_rows), test_prompts(table, cfg.eval_rows)
        if len(train_rows) == 0 or len(val_rows) == 0:
            raise DataError(f"{data!r} has {len(train_rows)} training and {many(len(val_rows), 'validation row')}; it needs both")
        folder = lm_folder(cfg.backbone)
        torch.manual_seed(cfg.seed)  # LoRA's A matrices
        model, tokenizer = load_lm(folder, device=pick_device(), quantize=cfg.strategy == "qlora")
        model, params = prepare(model, cfg.strategy, rank=cfg.rank, alpha=cfg.alpha, dropout=cfg.dropout, targets=cfg.targets)
        eos, pad = eos_id(model, tokenizer), tokenizer.pad_token_id
        prompts, responses = table.columns["prompt"], table.columns["response"]
        check_fits(tokenizer, [(prompts[r], responses[r]) for r in train_rows[:FIT_SAMPLE]], eos=eos, max_length=cfg.max_length)
        cuts: Counter = Counter()
        encode = lambda rows: [example(tokenizer, prompts[r], responses[r], eos=eos, max_length=cfg.max_length, cuts=cuts)  # noqa: E731
                               for r in rows]
        train_items: list[Any] = encode(train_rows)
        if cfg.packing:
            check_packing(model)
            train_items = pack(train_items, cfg.max_length)
        batch_of = collate_packed if cfg.packing else collate
        val_items = encode(val_rows)
        steps = cfg.max_steps or math.ceil(cfg.epochs * len(train_items) / cfg.batch_size)
        device = next(model.parameters()).device
    # train
    report = train(model, params, epochs_of(train_items, cfg.batch_size, cfg.seed),
                   lambda rows: response_loss(model, {k: v.to(device) for k, v in batch_of(rows, pad_id=pad).items()}),
                   lambda: mean_loss(model, val_items, pad_id=pad, batch_size=cfg.batch_size),
                   LoopConfig(steps=steps, lr=cfg.rate, warmup=cfg.warmup, evals=cfg.evals, patience=cfg.patience,
                              optimizer=OPTIMIZERS[cfg.strategy]),
                   progress=progress, on=f"{len(val_rows)} validation prompt{'s' if len(val_rows) != 1 else ''}")
    answering_test = len(test_asked) and report.status == "done"  # interrupted: the checkpoint is saved untested

    def save() -> LoadedLM:  # before the test prompts are answered (minutes on a CPU), so a stop there keeps the trained run
        metrics: dict[str, Any] = {"status": report.status, "error": report.error, "steps": report.steps, "best_step": report.best_step,
                                   "val_loss": report.best_val, "val_loss_before": report.first_val, "val_rows": len(val_rows),
                                   "train_loss": next((h["train_loss"] for h in reversed(report.history) if "train_loss" in h), None),
                                   "history": report.history, "train_seconds": round(report.seconds, 2),
                                   "train_rows": len(train_rows), "train_sequences": len(train_items),
                                   **_read(budget(report, items=len(train_items), batch_size=cfg.batch_size, planned=steps,
                                                  capped=cfg.max_steps is not None), "sequences_seen" if cfg.packing else "rows_seen"),
                                   **({"truncated": cut} if (cut := truncation(cuts, len(train_rows) + len(val_rows), cfg.max_length)) else {}),
                                   **({"dropped": table.dropped} if table.dropped else {})}
        metrics["notes"] = run_notes(metrics, test_rows=len(test_asked))  # what the CLI prints after the numbers, and the card lists
        if answering_test:  # what metrics.json says if the process is killed while the test prompts are answered
            metrics["test_not_scored"] = f"the process ended while answering its {many(len(test_asked), 'test prompt')}, after training finished"
        spec = {"kind": "sft", **asdict(cfg), "backbone": lm_reference(cfg.backbone), "lr": cfg.rate,
                "optimizer": OPTIMIZERS[cfg.strategy], "steps": steps, "base": str(folder), "format": "chat" if has_chat_template(tokenizer) else "plain",
                "data": {"name": table.name, "hash": table.hash, "prompt_column": prompt_column, "response_column": response_column,
                         "group_column": group_column,  # a file's path from any folder, and its split: evaluate reads it again
                         **({} if data in BUILTINS else {"path": str(Path(data).resolve())})}}
        return LoadedLM(model, tokenizer, spec, save_outcome(out, model, tokenizer, spec=spec, metrics=metrics, started=started), metrics)

    # save; a stop from the last step to the end of the save waits for it (seconds), then acts on the saved run
    run, stop = held_save(save)
    if stop is not None and answering_test:  # trained and saved: its test prompts are left to evaluate
        run.metrics["test_not_scored"] = f"{ended_by(stop)} after training finished, before its test prompts were answered"
        rescored(run, {"test_not_scored": run.metrics["test_not_scored"]})
        raise Interrupted(run) from None
    if stop is not None:
        raise stopped_after_save(run, stop) from None
    if report.status == "interrupted":
        raise Interrupted(run)
    if answering_test:  # evaluate
        score_test(run, test_asked, test_answers, max_new_tokens=cfg.max_new_tokens, progress=progress)
    return run
