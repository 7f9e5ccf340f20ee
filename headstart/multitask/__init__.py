"""``headstart multitask``: several tasks on one shared trunk with a head each, against each task trained alone.

For every seed, each task trains alone (the single-task baseline) and all tasks train together under each weighting
(``multitask.weighting``: equal, uncertainty, gradnorm) — the same trunk, strategy, rows, head initialisation and
budget (``multitask.run``). The tasks' split is cut once over their shared inputs (``multitask.tasks``), so no
task's test input is another's training input. Each finished run is stored in the SQLite store in ``out`` (keyed by
its resolved spec), so a re-run skips what is done and a killed run loses at most the run in progress. The report
(``report.md``, ``results.json``) is a pure function of the store (``analysis.multitask``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.callable_module import make_callable
from headstart.errors import ConfigError
from headstart.multitask.weighting import WEIGHTINGS, WeightingOptions, parse_weightings

DEFAULT_WEIGHTINGS = ("equal", "uncertainty", "gradnorm")
MAX_TEST = 1000  # test rows kept per task
# Settings whose new value grows the study a report in --out holds (its runs stay in the new report): not refused.
GROWN = {"weightings": lambda old, new: set(old) <= set(new), "seeds": lambda old, new: old <= new}

__all__ = ["DEFAULT_WEIGHTINGS", "WEIGHTINGS", "MultitaskResult", "multitask"]


@dataclass
class MultitaskResult:
    out: Path
    analysis: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, Path] = field(default_factory=dict)
    trained: int = 0
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # one line: the analysis holds each task's intervals
        from headstart.analysis.stats import has_interval

        tasks = self.analysis.get("tasks", [])
        weightings = list(dict.fromkeys(w for row in tasks for w in row.get("difference", {})))
        gains = [(w, [g for row in tasks if w in row.get("difference", {})
                      if has_interval(g := row["difference"][w]["gain"])]) for w in weightings]  # none: neither
        versus = "; ".join(f"{w} better on {sum(g['ci_low'] > 0 for g in found)}, worse on {sum(g['ci_high'] < 0 for g in found)}"
                           for w, found in gains)
        return (f"MultitaskResult({len(tasks)} task(s), {self.trained} run(s) trained"
                + (f"; vs each task alone: {versus}" if versus else "") + f"; out={self.out}"
                + (f"; {len(self.notes)} note(s)" if self.notes else "") + ")")


def _check_strategy(name: str) -> None:
    from headstart.strategies import get_strategy

    strategy = get_strategy(name)  # unknown: the names and the closest
    if strategy.solved or strategy.leaves_backbone or not strategy.needs_labels:
        raise ConfigError(f"strategy {name!r} trains no shared trunk (it {'is solved in closed form' if strategy.solved else 'trains heads only'}), "
                          "so its tasks would not share anything they learn; use --strategy full-finetune or lora")


def multitask(tasks: str | list[str] = "drug-reviews,drug-reviews-sentiment,drug-reviews-rating", *,
              weighting: str | list[str] = DEFAULT_WEIGHTINGS, backbone: str = "all-minilm-l6-v2",
              strategy: str = "full-finetune", options: dict[str, Any] | None = None, n: int | str | None = 256,
              seeds: int = 3, max_test: int | str | None = MAX_TEST, max_val: int | str | None = None,
              out: str | Path = "runs/multitask", config: Any = None,
              lr: float | None = None, head_lr: float | None = None, epochs: int | None = None,
              min_steps: int | None = None, max_steps: int | None = None, batch_size: int | None = None,
              alpha: float = 1.5, weight_lr: float = 0.025, text_column: str | None = None,
              progress: bool | None = None, command: str | None = None) -> MultitaskResult:
    """Train the tasks alone and together under each weighting for each seed; store each run; write the report.
    Mirrors ``headstart multitask``.

    Args:
        tasks: comma-separated (or a list): built-in datasets, files, or ``FILE:COLUMN`` (one label column of a file).
        weighting: equal, uncertainty, gradnorm (comma-separated or a list).
        strategy: what trains in the shared trunk (full-finetune, lora, ...; not a head-only or solved one).
        options: the strategy's options (``{"rank": 4}``), as ``fit``'s and the CLI's ``--option rank=4``.
        n: labelled rows per task and seed (None or "all": each task's whole pool).
        max_test: test rows kept per task (None: all of them).
        max_val: validation rows kept per task at most (None: the split's own, at most 300). Every checkpoint choice
            scores them: fewer is faster, at a noisier choice. Part of each run's key, so another cap is another run.
        config: a ``TrainConfig`` or a dict of its fields (its budget is per task: a multi-task step draws
            ``batch_size`` rows of each task).
        lr / head_lr / epochs / min_steps / max_steps / batch_size: the ``TrainConfig`` fields of the same names, over
            ``config``'s, as ``--lr`` and the others (None: ``config``'s, else the strategy's; ``batch_size`` 16).
        alpha: gradnorm's asymmetry α. weight_lr: the learning rate of the weightings' own parameters.
        text_column: the text column of file tasks (None: guessed).
        progress: progress with ETA on stderr; None (the default): on where someone watches it — stderr a terminal
            (a bar), or a Jupyter notebook (a line every 15 s) — off in a script's log. True or False: as said.
        command: what results.json and report.md name as having produced them (and ``headstart report`` of the store
            names to re-render it); None: this call as written (``headstart.multitask(tasks='a,b', ...)``), the CLI
            passes its command line.

    Returns:
        ``MultitaskResult``: ``analysis["tasks"]`` (per task its score alone, under each weighting, and each
        weighting's paired difference from alone with its interval and reading), ``analysis["weights"]``, ``reports``
        (report.md, results.json), ``trained`` (runs trained now; stored ones are skipped) and ``notes``.

    Example:
        >>> result = headstart.multitask("drug-reviews,drug-reviews-sentiment", weighting="equal,uncertainty",
        ...                              strategy="lora", options={"rank": 4}, n=64, seeds=2, out="runs/mt")
        >>> [(row["task"], row["difference"]["uncertainty"]["reading"]) for row in result.analysis["tasks"]]

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.
        StoreInterrupted: Ctrl-C or SIGTERM while the runs train (a KeyboardInterrupt), saying which and how many runs
            the store holds ("interrupted by SIGTERM: 2 of 6 runs stored; ..."); the same call resumes.
    """
    from headstart.analysis.multitask import multitask_rows
    from headstart.atomic import write_atomic, write_json
    from headstart.backbones import load_backbone
    from headstart.data.splits import SplitConfig, split_caps
    from headstart.evaluation import reference_metrics
    from headstart.interrupts import StoreInterrupted, interrupted_by, sigterm_as_interrupt
    from headstart.multitask.run import Job, Plan, plan_key, run
    from headstart.multitask.tasks import Layout, load_tasks, split_tasks
    from headstart.progress import progress_bar, progress_default
    from headstart.report.multitask import budget_note, multitask_markdown
    from headstart.arguments import as_config, parse_n, with_keywords
    from headstart.specs import TrainConfig
    from headstart.outdir import check_same_report, claim
    from headstart.store import Store

    if command is None:  # before any argument is read into another form: the call as its caller wrote it
        from headstart.surface import call_text

        command = call_text("headstart.multitask", multitask, locals())
    progress = progress_default(progress)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds must be a positive integer, got {seeds!r}; e.g. --seeds 3")
    capped = split_caps(SplitConfig(), max_test=max_test, max_val=max_val)
    max_test = capped.test_cap  # no data default caps these splits: "all" and none read every row either way
    split = dataclasses.replace(capped, max_test=max_test)
    claim(out, "multitask")  # before the tasks load: a folder of something else is refused, never written into
    size = parse_n(n)
    if size == 0:
        raise ConfigError("--n 0 gives each task no labelled rows; multi-task learning trains on some: try --n 256")
    weightings = parse_weightings(weighting)
    weighting_options = WeightingOptions(alpha=alpha, lr=weight_lr)
    _check_strategy(strategy)
    train = with_keywords(as_config(config, TrainConfig), lr=lr, head_lr=head_lr, epochs=epochs, min_steps=min_steps,
                          max_steps=max_steps, batch_size=batch_size)
    settings = {"tasks": split_tasks(tasks), "weightings": list(weightings), "backbone": backbone, "strategy": strategy,
                "strategy_options": dict(options or {}), "n": size, "seeds": seeds, "max_test": max_test,
                "alpha": alpha, "weight_lr": weight_lr, "text_column": text_column, "train": dataclasses.asdict(train),
                "max_val": split.max_val}  # as run: a report from before max_val lacks it, so holds 300's runs
    check_same_report(Path(out), "results.json", settings, kind="multitask", grown=GROWN,
                      defaults={"train": TrainConfig.field_defaults()})  # before the tasks load
    loaded = load_tasks(tasks, text_column=text_column)
    layout = Layout.build(loaded, split, n=size, seeds=range(seeds))
    pretrained = load_backbone(backbone, max_length=train.max_length, image_size=train.image_size)
    job = Job(layout, pretrained, strategy, dict(options or {}), train, weighting_options)
    members = tuple(range(len(loaded)))
    plans = [Plan((t,), "equal", seed) for seed in range(seeds) for t in members]
    plans += [Plan(members, w, seed) for seed in range(seeds) for w in weightings]
    plans.sort(key=lambda p: p.seed)  # seed by seed: an interrupted call leaves whole pairs
    keyed = [(plan, *plan_key(job, plan)) for plan in plans]  # resolves every run: a bad option is refused here
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = MultitaskResult(out=out)
    with Store(out) as store:
        done = store.done_keys()
        todo = [(plan, key, spec) for plan, key, spec in keyed if key not in done]
        cost = {id(p): len(p.members) for p, _, _ in todo}  # a run's time grows with the tasks it trains
        left, spent, started = sum(cost.values()), 0, time.monotonic()
        if progress and len(todo) < len(keyed):
            print(f"multitask: {len(keyed) - len(todo)} of {len(keyed)} runs already stored in {out}; training the other "
                  f"{len(todo)}", file=sys.stderr, flush=True)
        kept = len(keyed) - len(todo)  # runs done in the store: a re-run skips them (one that diverged trains again)
        try:  # SIGTERM (timeout, a scheduler's limit) ends the loop as Ctrl-C does: the runs stored so far, said
            with sigterm_as_interrupt():
                for i, (plan, key, spec) in enumerate(todo):
                    what = f"{plan.label} ({'+'.join(loaded[t].name for t in plan.members)}) seed {plan.seed}"
                    with progress_bar(f"multitask {i + 1}/{len(todo)}: {what}", enabled=progress) as bar:
                        stored = run(job, plan, key, spec, progress=bar)
                    store.put(stored)
                    result.trained += 1
                    kept += stored.status == "done"
                    spent += cost[id(plan)]
                    if progress:
                        elapsed = time.monotonic() - started
                        print(f"multitask: run {i + 1}/{len(todo)} {stored.status} ({what}); elapsed {elapsed:.0f}s, "
                              f"ETA {(left - spent) * elapsed / spent:.0f}s", file=sys.stderr, flush=True)
        except KeyboardInterrupt as stop:
            raise StoreInterrupted(kept, len(keyed), "runs", interrupted_by(stop)) from None
        planned = {key for _, key, _ in keyed}
        runs = [r for r in store.results() if r.key in planned]  # only this call's settings
    names = [t.name for t in loaded]
    reference = {t.name: float(reference_metrics(t.kind, t.data.targets, s.pool, s.test, t.data.label_names)[t.metric])
                 for t, s in zip(loaded, layout.splits)}  # a constant predictor of each task's pool: the line to beat
    result.analysis = multitask_rows(runs, names, list(weightings), reference)
    failed = [r for r in runs if r.status != "done"]
    counts = ", ".join(f"{t.name} {len(layout.train[i][0])} train / {len(layout.splits[i].val)} validation / "
                       f"{len(layout.splits[i].test)} test" for i, t in enumerate(loaded))
    result.notes = [
        f"{pretrained.name}, strategy {strategy}; {seeds} seed(s); rows per task: {counts}.",
        "One split over the tasks' shared inputs (a review is on the same side for every task that has it), not stratified; "
        f"at most {max_test} test rows per task." if max_test else "One split over the tasks' shared inputs, not stratified.",
        "Each step draws a batch of every task it trains; a run's budget is the strategy's for one task's n rows, so each "
        "task sees its rows as often alone as with the others.",
        "Checkpoints are chosen on validation only (the mean of the tasks' selection scores: accuracy, or macro-F1 when "
        "imbalanced; R² for a regression); test rows are scored once, after training.",
        f"gradnorm α = {alpha:g}; the weightings' own parameters train at lr {weight_lr:g}.",
        *([said] if (said := budget_note(result.analysis)) else []),
        *([f"{len(failed)} run(s) did not finish: " + "; ".join(f"{r.spec['multitask']['weighting'] or 'single-task'} seed "
                                                                  f"{r.spec['seed']}: {r.error}" for r in failed)] if failed else []),
    ]
    payload = {"config": {"tasks": names, "weightings": list(weightings), "backbone": pretrained.name, "strategy": strategy,
                          "strategy_options": dict(options or {}), "n": size, "seeds": seeds, "max_test": max_test,
                          "alpha": alpha, "weight_lr": weight_lr}, "settings": settings, "command": command, "notes": result.notes,
               **result.analysis}
    write_json(out / "results.json", payload)
    write_atomic(out / "report.md", multitask_markdown(result.analysis, tasks=names, weightings=list(weightings),
                                                       notes=result.notes, command=command).encode())
    result.reports = {"results.json": out / "results.json", "report.md": out / "report.md"}
    return result


make_callable(__name__, multitask)  # headstart.multitask(...) mirrors headstart multitask; the package stays importable
