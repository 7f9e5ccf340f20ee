"""``headstart continual``: a stream of tasks learnt in order, each method's accuracy matrix and what it forgets."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from headstart.cli.common import JsonOpt, _echo_json, app


@app.command()
def continual(
    stream: Annotated[str, typer.Option(help="split-fashion-mnist, permuted-mnist, text, or a TOML file: tasks = [\"a.csv\", \"b\"].")] = "permuted-mnist",
    scenario: Annotated[str, typer.Option(help="class: one head, no task id at test; task: the task id given.")] = "class",
    arms: Annotated[str, typer.Option(help="Comma-separated methods: naive, ewc, online-ewc, si, mas, lwf, replay, lora-per-task and "
                                           "progressive (task scenario; progressive on CNNs), joint; options in brackets (replay[size=500, policy=balanced]); on "
                                           "another strategy as lora+ewc.")] = "naive,ewc,online-ewc,si,mas,lwf,replay,joint",
    strategy: Annotated[str, typer.Option(help="The strategy every method trains with unless its arm names one.")] = "full-finetune",
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b", help="Default: mnist-cnn for image streams, "
                                                                             "all-minilm-l6-v2 for text.")] = None,
    n: Annotated[str, typer.Option("--n", help="Labelled rows drawn from each task's pool; 'all' = the whole pool.")] = "256",
    seeds: Annotated[int, typer.Option(help="Seeds (chains) per arm.")] = 3,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the store and the reports.")] = Path("runs/continual"),
    max_test: Annotated[str, typer.Option(help="Test rows kept per task (each is scored after every later task), or all; "
                                                "another cap than 1000 is part of each step's key, as --max-val's.")] = "1000",
    max_val: Annotated[Optional[str], typer.Option(help="Validation rows kept per task at most (the rest join its pool): every "
                                                        "checkpoint choice scores them, so fewer is faster, at a noisier choice "
                                                        "(default: 10% of the rows, at most 300).")] = None,
    alone: Annotated[bool, typer.Option("--alone/--no-alone", help="Also train each task alone from the pre-trained model "
                                                                  "(the reference of forward transfer).")] = True,
    tune: Annotated[bool, typer.Option("--tune/--no-tune", help="Run ewc, online-ewc, si, mas and lwf at each weight of "
                                                                "their grid; keep the one with the best validation ACC.")] = False,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate of what trains in the backbone (default: the strategy's).")] = None,
    head_lr: Annotated[Optional[float], typer.Option(help="Learning rate of the head (default: the strategy's).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs over each task's rows (default: the strategy's).")] = None,
    min_steps: Annotated[Optional[int], typer.Option(help="At least this many optimiser steps a task.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="At most this many optimiser steps a task.")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Image backbones: input side in pixels (default: the network's).")] = None,
    workers: Annotated[int, typer.Option(help="Chains trained at once, each in its own process.")] = 1,
    backend: Annotated[str, typer.Option(help="local (this machine: --workers processes) or ray (each chain a Ray task; "
                                              "docs/SCALE.md).")] = "local",
    address: Annotated[Optional[str], typer.Option(help="--backend ray: the cluster, HOST:PORT or auto (default: a local Ray).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Learn a stream of tasks in order with each method; store every step; report the accuracy matrix, average
    accuracy, backward and forward transfer, plasticity and cost per method (continual.md, continual.png). --json
    prints each arm's row (ACC, BWT, FWT, the accuracy matrix ...), the recommended arm and the notes instead.

    \b
    Example: headstart continual --stream split-fashion-mnist --scenario class --arms naive,ewc,replay,joint --seeds 3
    Example: headstart continual --stream text --arms naive,ewc --n 64 --seeds 1 --max-val 100   # validation capped at 100 rows a task (whole groups can take it over), not 300
    On a Ray cluster: headstart continual --stream permuted-mnist --backend ray --address auto
    """
    from headstart.analysis.cell_stats import signed_points
    from headstart.analysis.continual import recommended_word, versus_text, withheld_text
    from headstart.cli.common import InterruptReported
    from headstart.interrupts import StoreInterrupted
    from headstart.continual import continual as run_continual
    from headstart.specs import TrainConfig

    given = {k: v for k, v in {"lr": lr, "head_lr": head_lr, "epochs": epochs, "min_steps": min_steps, "max_steps": max_steps,
                               "image_size": image_size}.items() if v is not None}
    try:
        result = run_continual(stream, scenario=scenario, arms=arms, strategy=strategy, backbone=backbone, n=n, seeds=seeds,
                               out=out, config=TrainConfig(**given), max_test=max_test,
                               max_val=max_val, alone=alone, tune=tune,
                               workers=workers, backend=backend, address=address, progress=not quiet,
                               command="headstart " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    except StoreInterrupted as stopped:  # which signal and how many tasks are stored, which main's "interrupted" cannot say
        typer.echo(str(stopped), err=True)
        raise InterruptReported() from None
    if as_json:
        _echo_json({"arms": result.analysis["arms"], "recommended": result.analysis.get("recommended"),
                    "notes": result.flags})
        return
    for row in result.analysis["arms"]:
        bwt = row.get("bwt")
        what = {"alone": " (reference: a model per task, what FWT compares with; not one continual learner)",
                "joint": " (reference: every task's data at once; often the best arm, no bound on them: see the notes)"}.get(row["method"], "")
        typer.echo(f"{row['arm']}{what}: ACC {100 * row['acc']['mean']:.1f}%" + (f", BWT {signed_points(100 * bwt['mean'])} points" if bwt else ""))
    for flag in result.flags:
        typer.echo(f"note: {flag}")
    if result.analysis["recommended"]:
        caveat = result.analysis.get("recommended_caveat")
        against = versus_text(result.analysis.get("versus"))
        typer.echo(f"{recommended_word(result.analysis).lower()}: {result.analysis['recommended']}, highest validation ACC" + (f"; {against}" if against else "")
                   + (f"; caveat: {caveat}" if caveat else ""))
    elif result.analysis.get("withheld"):
        typer.echo(f"recommendation: {withheld_text(result.analysis['withheld'])}")
    typer.echo(f"report: {result.reports['continual.md']} ({result.trained} task{'' if result.trained == 1 else 's'} trained now, "
               "over every arm and seed)")
