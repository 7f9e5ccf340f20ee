"""``headstart multitask``: tasks on one shared trunk with a head each, against each task alone (``headstart.multitask``)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from headstart.cli.common import JsonOpt, _echo_json, _scoped_options, _strategy_options, app


@app.command()
def multitask(
    tasks: Annotated[str, typer.Option(help="Comma-separated tasks: built-in datasets, files, or FILE:COLUMN (one label column of a "
                                            "file: reviews.csv:condition,reviews.csv:rating; :classification after one reads "
                                            "its numbers as classes).")]
    = "drug-reviews,drug-reviews-sentiment,drug-reviews-rating",
    weighting: Annotated[str, typer.Option(help="Comma-separated loss weightings: equal, uncertainty (Kendall et al. 2018), "
                                                "gradnorm (Chen et al. 2018).")] = "equal,uncertainty,gradnorm",
    backbone: Annotated[str, typer.Option("--backbone", "-b", help="The shared trunk: a built-in backbone or a model folder.")]
    = "all-minilm-l6-v2",
    strategy: Annotated[str, typer.Option(help="What trains in the trunk: full-finetune, lora, ... (not a head-only one).")] = "full-finetune",
    option: Annotated[Optional[list[str]], typer.Option("--option", help="A strategy option KEY=VALUE (repeatable), e.g. rank=4 "
                                                                          "for lora.")] = None,
    n: Annotated[str, typer.Option("--n", help="Labelled rows per task and seed; 'all' = each task's whole pool.")] = "256",
    seeds: Annotated[int, typer.Option(help="Seeds; each trains every task alone and all together under each weighting.")] = 3,
    max_test: Annotated[str, typer.Option(help="Test rows kept per task, or all.")] = "1000",
    max_val: Annotated[Optional[str], typer.Option(help="Validation rows kept per task at most: every checkpoint choice scores "
                                                        "them, so fewer is faster, at a noisier choice (default: 10% of the "
                                                        "shared rows, at most 300).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the store, report.md and results.json.")] = Path("runs/multitask"),
    alpha: Annotated[float, typer.Option(help="GradNorm's asymmetry α (0: equal gradient norms).")] = 1.5,
    weight_lr: Annotated[float, typer.Option(help="Learning rate of the weightings' own parameters (log-variances, task "
                                                  "weights).")] = 0.025,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of file tasks (default: guessed).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate of the trunk (default: the strategy's).")] = None,
    head_lr: Annotated[Optional[float], typer.Option(help="Learning rate of the heads (default: the strategy's).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs over each task's rows (default: the strategy's).")] = None,
    min_steps: Annotated[Optional[int], typer.Option(help="At least this many optimiser steps a run.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="At most this many optimiser steps a run.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Rows of each task in a step (default 16).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train several tasks on one shared trunk with a head each, under each loss weighting, and each task alone with the
    same trunk, rows, seeds and budget; report each task's score multi-task vs single-task with paired 95% intervals
    (report.md, results.json). Finished runs are stored in --out: a re-run skips them; a folder whose report is of
    other settings is refused (more seeds or weightings grow it).

    \b
    Example: headstart multitask --tasks drug-reviews,drug-reviews-sentiment,drug-reviews-rating --weighting equal,uncertainty,gradnorm --n 256 --seeds 3 --out runs/multitask-drug
    Example: headstart multitask --tasks reviews.csv:condition,reviews.csv:rating --strategy lora --option rank=4
    Example: headstart multitask --tasks drug-reviews,drug-reviews-sentiment --n 64 --seeds 1 --max-val 100   # validation capped at 100 rows a task (whole groups can take it over), not 300
    """
    from headstart.analysis.stats import has_interval, range_text
    from headstart.cli.common import InterruptReported
    from headstart.interrupts import StoreInterrupted
    from headstart.report.multitask import ON_ONE_SEED, reading_text, signed_text, verdict_caveat
    from headstart.multitask import multitask as run_multitask
    from headstart.specs import TrainConfig

    scoped = _scoped_options(option)
    extra = sorted(name for name in scoped if name and name != strategy)
    if extra:
        from headstart.errors import ConfigError

        raise ConfigError(f"--option {extra[0]}.KEY applies to {extra[0]!r}, not to this run's strategy {strategy!r}; "
                          "write --option KEY=VALUE")
    given = {k: v for k, v in {"lr": lr, "head_lr": head_lr, "epochs": epochs, "min_steps": min_steps, "max_steps": max_steps,
                               "batch_size": batch_size}.items() if v is not None}
    try:
        result = run_multitask(tasks, weighting=weighting, backbone=backbone, strategy=strategy,
                               options=_strategy_options(scoped, strategy, {}), n=n, seeds=seeds,
                               max_test=max_test, max_val=max_val, out=out, config=TrainConfig(**given), alpha=alpha,
                               weight_lr=weight_lr, text_column=text_column, progress=not quiet,
                               command="headstart " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    except StoreInterrupted as stopped:  # which signal and how many runs are stored, which main's "interrupted" cannot say
        typer.echo(str(stopped), err=True)
        raise InterruptReported() from None
    if as_json:
        _echo_json({"tasks": result.analysis["tasks"], "weights": result.analysis["weights"], "notes": result.notes})
        return
    for row in result.analysis["tasks"]:
        scale, unit = (100, " points") if row["metric"] == "accuracy" else (1, "")
        single = row.get("single")
        parts = [f"single-task {scale * single['mean']:.{1 if scale == 100 else 3}f}" if single else "single-task –"]
        for w, diff in row["difference"].items():
            span = range_text(diff, lambda v: signed_text(row["metric"], v), joiner=" to ")
            parts.append(f"{w} {signed_text(row['metric'], diff['mean'])}{unit} ({'CI ' if has_interval(diff) else ''}{span}): "
                         f"{reading_text(diff)}")
        typer.echo(f"{row['task']} ({row['metric']}): " + ", ".join(parts))
    read = [reading_text(d) for row in result.analysis["tasks"] for d in row["difference"].values()]
    one_seed = any(text.endswith(ON_ONE_SEED) for text in read)
    verdicts = any(text.startswith(("negative transfer", "multi-task helps")) for text in read)
    if one_seed or (verdicts and result.analysis.get("capped")):
        typer.echo(f"note: {verdict_caveat(result.analysis, one_seed=one_seed).removeprefix('Caveat: ')}")
    typer.echo(f"report: {result.reports['report.md']} ({result.trained} run{'' if result.trained == 1 else 's'} trained now)")
