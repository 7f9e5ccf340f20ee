"""``headstart continual``: learn a stream of tasks in order with each method, and measure what each forgets.

Every (arm, seed) chain trains the tasks one after another (``continual.chain``), each step a run stored in the same
SQLite store as a compare (resumable, kill-safe). The ``alone`` reference (each task from the pre-trained model by
itself, for forward transfer) runs with the arms unless ``alone=False``. The report (``continual.md`` / ``.json`` /
``.png``) is a pure function of the store (``analysis.continual``). Arms are read by ``continual.arms``; the report's
notes on budgets and majority-class tasks come from ``continual.notes``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from headstart.continual.arms import grid_arms, parse_continual_arm, weight_tuning
from headstart.continual.chain import MAX_TEST, Chain, ContinualArm, check_arm, run_chain
from headstart.continual.methods import METHODS, get_method
from headstart.continual.notes import (below_majority, budget_notes, constant_acc, joint_notes, recommended_caveat,
                                      withheld_rerun)
from headstart.continual.prepared import Prepared, drawn_rows
from headstart.continual.streams import BUILTIN, SCENARIOS, load_stream
from headstart.callable_module import make_callable
from headstart.errors import ConfigError
from headstart.outdir import check_same_report
from headstart.arguments import check_once

DEFAULT_ARMS = ("naive", "ewc", "online-ewc", "si", "mas", "lwf", "replay", "joint")
# Settings whose new value grows the study a report in --out holds (its runs stay in the new report): not refused.
GROWN = {"arms": lambda old, new: set(old) <= set(new), "seeds": lambda old, new: old <= new}

__all__ = ["BUILTIN", "DEFAULT_ARMS", "METHODS", "SCENARIOS", "ContinualResult", "continual", "parse_continual_arm"]


@dataclass
class ContinualResult:
    out: Path
    analysis: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, Path] = field(default_factory=dict)
    trained: int = 0
    flags: list[str] = field(default_factory=list)  # arms that learnt a task no better than its majority class; other settings in the store

    def __repr__(self) -> str:  # one line: the analysis holds every arm's accuracy matrix
        arms = self.analysis.get("arms", [])
        best = next((r for r in arms if r["arm"] == self.analysis.get("recommended")), None)
        picked = (f"; recommended {best['arm']}: ACC {best['acc']['mean']:.4g} (validation {best['val_acc']['mean']:.4g})"
                  if best else "; no arm recommended" if arms else "")
        return (f"ContinualResult({len(arms)} arm(s), {self.trained} step(s) trained{picked}; out={self.out}"
                + (f"; {len(self.flags)} flag(s)" if self.flags else "") + ")")


def continual(stream: str = "permuted-mnist", *, scenario: str = "class", arms: list[str] | str = DEFAULT_ARMS,
              strategy: str = "full-finetune", backbone: str | None = None, n: int | str | None = 256, seeds: int = 3,
              out: str | Path = "runs/continual", config: Any = None, lr: float | None = None,
              head_lr: float | None = None, epochs: int | None = None, min_steps: int | None = None,
              max_steps: int | None = None, image_size: int | None = None, max_test: int | str | None = MAX_TEST, max_val: int | str | None = None,
              alone: bool = True, tune: bool | str | None = False, workers: int = 1, backend: str = "local", address: str | None = None,
              progress: bool | None = None, command: str | None = None) -> ContinualResult:
    """Train every arm along ``stream`` for each seed, store each step, write the report. Mirrors ``headstart continual``.

    Args:
        stream: a built-in stream (``split-fashion-mnist``, ``permuted-mnist``, ``text``) or a TOML file of tasks.
        scenario: "class" (one head over every class, no task id at test) or "task" (the task id given).
        arms: methods, each optionally on a strategy (``lora+ewc``); default strategy ``strategy``.
        backbone: default ``mnist-cnn`` for image streams, ``all-minilm-l6-v2`` for text.
        n: labelled rows drawn from each task's pool (None or "all": the whole pool).
        config: training settings of every task, a ``TrainConfig`` or a dict of its fields.
        lr / head_lr / epochs / min_steps / max_steps / image_size: the ``TrainConfig`` fields of the same names, over
            ``config``'s, as ``--lr`` and the others (None: ``config``'s, else the strategy's; the budget is a task's).
        max_test: test rows kept per task (the rest go to its pool); None or "all": every test row. Part of each
            step's key where it is not ``MAX_TEST``, so another cap is another run.
        max_val: validation rows kept per task at most (the rest go to its pool); None: the split's own, 10% of the
            rows at most 300. Every checkpoint choice scores them: fewer is faster, at a noisier choice. Part of each
            step's key, so another cap is another run.
        workers: chains trained at once, each in its own process (threads divided between them); one store.
        backend: "local" (this process, or ``workers`` processes) or "ray": each chain a Ray task
            (``continual/ray_chains.py``), this process the store's only writer; ``address`` names the cluster
            (HOST:PORT or "auto"; None starts a local Ray).
        tune: True runs each method with a weight (ewc, online-ewc, si, mas, lwf) at every weight of its grid unless
            its arm sets one; the report keeps the weight with the highest ACC on the tasks' validation splits. False
            or None (compare's "off"): the default weights. It tunes no learning rate: ``tune="lr"`` is refused.
        progress: progress with ETA on stderr; None (the default): on where someone watches it — stderr a terminal
            (a bar), or a Jupyter notebook (a line every 15 s) — off in a script's log. True or False: as said.
        command: what continual.json, continual.md and continual.html name as having produced them (and
            ``headstart report`` of the store names to re-render it); None: this call as written
            (``headstart.continual(stream='text', ...)``), the CLI passes its command line.

    Returns:
        ``ContinualResult``: ``analysis`` (per arm its accuracy matrix, ACC, BWT, plasticity, FWT with 95% intervals;
        ``recommended``, the arm with the best validation ACC), ``reports`` (continual.md, continual.html, charts),
        ``trained`` (tasks trained now, over every arm and seed; stored ones are skipped) and ``flags``.

    Example:
        >>> result = headstart.continual("text", arms="naive,ewc,replay", n=64, seeds=2, out="runs/cl")
        >>> result.analysis["recommended"], result.reports["continual.md"]

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.
        StoreInterrupted: Ctrl-C or SIGTERM while the chains train (a KeyboardInterrupt), saying which and how many
            tasks the store holds ("interrupted by SIGTERM: 3 of 8 tasks stored; ..."); the same call resumes.
    """
    from headstart.analysis.continual import continual_rows, withhold_below_majority
    from headstart.atomic import write_json
    from headstart.backbones import load_backbone
    from headstart.continual.methods import get_method as method_of
    from headstart.data.splits import SplitConfig, split_caps
    from headstart.interrupts import StoreInterrupted, interrupted_by, sigterm_as_interrupt
    from headstart.report.continual import continual_charts, continual_markdown
    from headstart.report.continual_html import continual_html
    from headstart.atomic import write_atomic
    from headstart.arm_text import split_arms
    from headstart.arguments import as_config, parse_n, with_keywords
    from headstart.specs import TrainConfig
    from headstart.store import Store

    if command is None:  # before any argument is read into another form: the call as its caller wrote it
        from headstart.surface import call_text

        command = call_text("headstart.continual", continual, locals())
    tune = weight_tuning(tune)
    from headstart.progress import eta_by_kind, progress_default

    progress = progress_default(progress)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"--seeds must be a positive integer, got {seeds!r}; e.g. --seeds 3")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ConfigError(f"--workers must be a positive integer, got {workers!r}; e.g. --workers 2")
    if not isinstance(stream, (str, Path)):
        raise ConfigError(f"--stream takes one stream, got {type(stream).__name__} {stream!r:.60}: a built-in stream's name "
                          f"({', '.join(BUILTIN)}) or a TOML file of tasks, e.g. --stream text")
    capped = split_caps(SplitConfig(), max_test=max_test, max_val=max_val)
    max_test = capped.test_cap  # no data default caps these splits: "all" and none read every row either way
    split = dataclasses.replace(capped, max_test=max_test)
    from headstart.outdir import claim
    from headstart.sweep_plan import check_backend

    claim(out, "continual")  # before the stream loads: a folder of something else is refused, never written into
    check_backend(backend, address, workers)  # a missing extra or a dead address is named before the stream loads
    if parse_n(n) == 0:
        raise ConfigError("--n 0 gives each task no labelled rows, and every continual method trains on some; try --n 64")
    given = split_arms(arms) if isinstance(arms, str) else list(arms) if isinstance(arms, (list, tuple)) else None
    if given is None:
        raise ConfigError(f"--arms must be a list of methods or a comma-separated string, got {arms!r}; "
                          f"e.g. --arms {','.join(DEFAULT_ARMS[:3])}")
    if not given or (alone and all(str(a).strip() == "alone" for a in given)):  # the reference alone compares nothing
        raise ConfigError(f"--arms is empty{' but for the reference alone' if given else ''}; "
                          f"try --arms {','.join(DEFAULT_ARMS)}")
    loaded = load_stream(stream, scenario)
    parsed = [parse_continual_arm(a, strategy) for a in given]
    if tune:
        parsed = [tuned for arm in parsed for tuned in grid_arms(arm)]
    if alone and not any(a.method == "alone" for a in parsed):
        parsed.append(parse_continual_arm("alone", strategy))
    for arm in parsed:
        if scenario not in method_of(arm.method).scenarios:
            raise ConfigError(f"{arm.method} applies to the {'/'.join(method_of(arm.method).scenarios)}-incremental scenario "
                              f"only (it needs the task id at test); use --scenario task or drop it")
    modality = loaded.tasks[0].data.modality
    for arm in parsed:
        if modality not in method_of(arm.method).modalities:
            raise ConfigError(f"{arm.method} applies to {'/'.join(method_of(arm.method).modalities)} streams (a column per task of "
                              f"a CNN); {stream!r} holds {modality}s")
    check_once("--arms", [a.label for a in parsed], "arm")
    image = loaded.tasks[0].data.modality == "image"
    train = with_keywords(as_config(config, TrainConfig), lr=lr, head_lr=head_lr, epochs=epochs, min_steps=min_steps,
                          max_steps=max_steps, image_size=image_size)
    pretrained_name = backbone or ("mnist-cnn" if image else "all-minilm-l6-v2")
    settings = {"stream": stream, "scenario": scenario, "backbone": pretrained_name, "strategy": strategy,
                "n": parse_n(n), "max_test": max_test, "train": dataclasses.asdict(train), "tune": bool(tune),
                "arms": [a.label for a in parsed], "seeds": seeds,
                "max_val": split.max_val}  # as run: a report from before max_val lacks it, so holds 300's steps
    check_same_report(Path(out), "continual.json", settings, kind="continual", grown=GROWN,
                      defaults={"train": TrainConfig.field_defaults()})
    pretrained = load_backbone(pretrained_name, max_length=train.max_length, image_size=train.image_size)
    prepared = Prepared.build(loaded, pretrained, split)
    size = parse_n(n)
    for arm in parsed:  # before the store exists: a strategy that cannot apply leaves nothing behind
        check_arm(prepared, arm, size, train)
    for seed in range(seeds):  # and a size the tasks cannot give (fewer rows than classes) neither
        drawn_rows(prepared, size, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = ContinualResult(out=out)
    total = len(parsed) * seeds
    per_arm = {a.label: (1 if get_method(a.method).joint else len(loaded.tasks)) * seeds for a in parsed}
    steps_total = sum(per_arm.values())
    # each arm's remaining tasks at that arm's own pace (lwf's cost 3-6x naive's): progress.eta_by_kind
    clock: dict[str, Any] = {"start": time.monotonic(), "mark": time.monotonic(), "left": dict(per_arm), "seconds": {}}

    def said(chain: Chain, step: int) -> None:
        now = time.monotonic()
        clock["seconds"].setdefault(chain.arm.label, []).append(now - clock["mark"])
        clock["mark"] = now
        clock["left"][chain.arm.label] -= 1
        elapsed = now - clock["start"]
        eta = eta_by_kind(clock["left"], clock["seconds"])
        if progress:
            print(f"continual: {task_done_text(chain, step)}; "
                  f"{steps_total - sum(clock['left'].values())}/{steps_total} tasks trained (over every arm and seed), "
                  f"elapsed {elapsed:.0f}s, "
                  f"ETA {eta:.0f}s",
                  file=sys.stderr, flush=True)

    def stored(arm: str, count: int) -> None:  # a chain's steps already in the store, told before its first step trains
        clock["left"][arm] -= count
        if count:  # a resumed chain's loading of the stored steps is no task's time
            clock["mark"] = time.monotonic()

    chains = [(arm, seed) for arm in parsed for seed in range(seeds)]
    planned: set[str] = set()  # the step keys this invocation asked for: the report reads only these
    job = dict(stream=stream, scenario=scenario, backbone=pretrained_name, train=dataclasses.asdict(train), max_test=max_test,
               max_val=split.max_val, n=size, out=str(out))
    try:  # SIGTERM (timeout, a scheduler's limit) ends the chains as Ctrl-C does: the tasks stored so far, said
        with sigterm_as_interrupt():
            if backend == "ray":
                from headstart.continual.ray_chains import run_chains

                result.trained = run_chains(chains, planned=planned, job=job, address=address, progress=progress)
            elif workers > 1:
                result.trained = _run_pool(chains, planned=planned, workers=workers, job=job, progress=progress)
            else:
                with Store(out) as store:
                    for i, (arm, seed) in enumerate(chains):
                        chain = Chain(prepared, arm, get_method(arm.method), get_method(arm.method).Options(**arm.options),
                                      seed, size, train, out)
                        if progress:
                            print(f"continual: chain {i + 1}/{total}: {arm.label} seed {seed}", file=sys.stderr, flush=True)
                        trained = run_chain(chain, store, progress=said,
                                            resumed=lambda count, arm=arm.label: stored(arm, count))
                        planned.update(chain.keys)
                        result.trained += trained
    except KeyboardInterrupt as stop:  # the worker processes' chains store their own tasks: counted here only in this one
        kept = steps_total - sum(clock["left"].values()) if backend != "ray" and workers == 1 else None
        raise StoreInterrupted(kept, steps_total, "tasks", interrupted_by(stop)) from None
    with Store(out) as store:
        runs = store.results()
    mine = [r for r in runs if r.key in planned]  # never another invocation's settings under the same arm label
    result.analysis = continual_rows(mine)
    tasks = [t.name for t in loaded.tasks]
    notes = [f"{pretrained.name}; strategy {strategy} unless an arm names another; n = {size or 'all'} labelled rows per task; "
             f"at most {max_test} test rows per task." if max_test else ""]
    notes += budget_notes(mine)
    notes += ["Checkpoints are chosen on the current task's validation split only (a continual learner has no other)."]
    others = len(runs) - len(mine)
    elsewhere = ([f"this store also holds {others} trained task{'s' if others != 1 else ''} of other settings (another stream, "
                  "scenario, n, seed count or arm options, or an earlier headstart version's runs, whose keys have since "
                  "changed) that this report leaves out; re-run continual with those settings to see them, and give each "
                  "setting its own --out"] if others else [])
    notes += ["--tune: each method's weight is the one of its grid with the highest ACC on the tasks' validation splits at "
              "the end of the stream (every task seen by then); the other weights are listed under Tried."
              if tune else "Methods run at their default weights (ewc, online-ewc 100; si, mas, lwf 1; each importance "
              "normalised to mean 1; replay 200 rows) unless an arm sets them: the weights are not tuned (--tune tries a grid)."]
    if scenario == "task":
        notes.append("Task-incremental: one head over every task's own classes, masked to the task's classes; joint trains "
                     "them all under one softmax and is scored masked per task.")
    majority = [float(np.bincount(prepared.data.targets[split.test]).max() / max(len(split.test), 1)) for split in prepared.splits]
    withhold_below_majority(result.analysis, constant_acc(prepared, scenario))
    withheld_rerun(result.analysis, mine)
    result.flags = joint_notes(result.analysis, mine, scenario) + below_majority(result.analysis, majority, tasks) + elsewhere
    result.analysis["recommended_caveat"] = recommended_caveat(result.analysis, majority, mine)
    notes += result.flags
    notes = [n for n in notes if n]
    write_json(out / "continual.json", {"stream": stream, "scenario": scenario, "tasks": tasks, "majority": majority,
                                        "settings": settings, "command": command, **result.analysis})
    write_atomic(out / "continual.md", continual_markdown(result.analysis, stream=stream, scenario=scenario, tasks=tasks,
                                                          notes=notes, command=command).encode())
    kind = "class-incremental" if scenario == "class" else "task-incremental"
    write_atomic(out / "continual.html", continual_html(result.analysis, title=f"Continual learning: {stream}, {kind}",
                                                        tasks=tasks, notes=notes, command=command).encode())
    result.reports = {"continual.json": out / "continual.json", "continual.md": out / "continual.md",
                      "continual.html": out / "continual.html", **continual_charts(result.analysis, out, tasks=tasks)}
    return result


def task_done_text(chain: Chain, step: int) -> str:
    """A finished task as progress says it, numbered from 0 and named as the report's R[i][j] matrix and notes do:
    "ewc seed 0: task 1 (fashion-mnist[Pullover, Dress]) of tasks 0–4 done"; joint trains the stream at once."""
    tasks = chain.stream.tasks
    if chain.method.joint:
        return f"{chain.arm.label} seed {chain.seed}: every task at once (tasks 0–{len(tasks) - 1}) done"
    return f"{chain.arm.label} seed {chain.seed}: task {step} ({tasks[step].name}) of tasks 0–{len(tasks) - 1} done"


_PREPARED: dict[str, Prepared] = {}  # a worker process's stream and backbone, loaded once for its chains


def _chain_job(job: dict[str, Any], arm: dict[str, Any], seed: int, progress: bool, *, store: Any = None) -> tuple[int, list[str]]:
    """One chain in a worker process (``continual(workers=...)``, or a Ray task): the stream and backbone loaded once
    per process; its steps go to ``job["out"]``'s store, or to ``store`` (a Ray worker's ``CollectingStore``)."""
    import json

    from headstart.backbones import load_backbone
    from headstart.data.splits import SplitConfig
    from headstart.specs import TrainConfig
    from headstart.store import Store

    train = TrainConfig(**job["train"])
    key = json.dumps([job["stream"], job["scenario"], job["backbone"], job["train"], job["max_test"], job["max_val"]],
                     sort_keys=True, default=str)
    if key not in _PREPARED:
        pretrained = load_backbone(job["backbone"], max_length=train.max_length, image_size=train.image_size)
        _PREPARED.clear()
        split = SplitConfig(max_test=job["max_test"], max_val=job["max_val"])
        _PREPARED[key] = Prepared.build(load_stream(job["stream"], job["scenario"]), pretrained, split)
    chosen = ContinualArm(**arm)
    method = get_method(chosen.method)
    chain = Chain(_PREPARED[key], chosen, method, method.Options(**chosen.options), seed, job["n"], train, Path(job["out"]))

    def said(chain: Chain, step: int) -> None:
        if progress:
            print(f"continual: {task_done_text(chain, step)}", file=sys.stderr, flush=True)

    if store is not None:
        return run_chain(chain, store, progress=said), chain.keys
    with Store(job["out"]) as opened:
        return run_chain(chain, opened, progress=said), chain.keys


def _run_pool(chains: list[tuple[ContinualArm, int]], *, planned: set[str], workers: int, job: dict[str, Any],
              progress: bool) -> int:
    """The chains on ``workers`` processes (spawned; each exits with its driver); returns the steps trained and adds the
    chains' step keys to ``planned``."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from headstart.sweep_cell import worker_init, pool_devices, stop_workers

    threads = max(1, (os.cpu_count() or 1) // workers)
    started, trained = time.monotonic(), 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=worker_init,
                             initargs=(threads, os.getpid(), pool_devices(workers), context.Value("i", 0))) as pool:
        futures = {pool.submit(_chain_job, job, dataclasses.asdict(arm), seed, progress): (arm, seed) for arm, seed in chains}
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                steps, keys = future.result()
                trained += steps
                planned.update(keys)
                if progress:
                    elapsed = time.monotonic() - started
                    arm, seed = futures[future]
                    print(f"continual: chain {done}/{len(chains)} finished ({arm.label} seed {seed}); elapsed {elapsed:.0f}s, "
                          f"ETA {(len(chains) - done) * elapsed / done:.0f}s", file=sys.stderr, flush=True)
        except BaseException:  # Ctrl-C, SIGTERM: no chain starts, and the running ones end (as compare's pool)
            stop_workers(pool)
            raise
    return trained


make_callable(__name__, continual)  # headstart.continual(...) mirrors headstart continual; the package stays importable
