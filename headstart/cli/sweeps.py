"""``compare``, ``check-leakage``, ``runs``, ``report``: sweeps, their store and their report."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from headstart.cli.common import (GroupColumnOpt, JsonOpt, PoolingOpt, SplitColumnOpt, TaskOpt, TestDataOpt, _echo_json,
                                  _scoped_options, _shown, app)
from headstart.errors import ConfigError, clipped
from headstart.cli.summary import print_leakage, print_report

# What compare runs where neither a flag nor --config says (the help texts quote them). Literals, so that --help imports
# no torch: tests/test_cli.py checks them against sweep_spec's DEFAULT_STRATEGIES / DEFAULT_SIZES and api_compare.compare's.
COMPARE_DEFAULTS: dict[str, Any] = {"data": "rotten-tomatoes", "backbone": "all-minilm-l6-v2",
                                    "strategies": "scratch,linear-probe,full-finetune", "sizes": "8,16,32,64,128,256,all",
                                    "seeds": 5, "out": "runs/compare"}


@app.command()
def compare(
    data: Annotated[Optional[str], typer.Option("--data", "-d", help=f"Built-in dataset or a data file (default: {COMPARE_DEFAULTS['data']}).")] = None,
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b", help=f"Built-in backbone or a local model folder (default: {COMPARE_DEFAULTS['backbone']}).")] = None,
    backbones: Annotated[Optional[str], typer.Option(help="Several backbones, comma-separated: each its own curves in the report "
                                                          "(e.g. all-minilm-l6-v2,ENCODER_FOLDER).")] = None,
    strategies_: Annotated[Optional[str], typer.Option("--strategies", "-s", help=f"Comma-separated strategies (default: {COMPARE_DEFAULTS['strategies']}); "
                                                                              "--config's settings for others are left out, "
                                                                              "its label_descriptions too where none kept reads them.")] = None,
    retain: Annotated[Optional[list[str]], typer.Option(help="After training, measure forgetting on this classification dataset "
                                                            "(repeatable): a probe on the adapted vs the original encoder. Each run: up to 3,000 "
                                                            "of its rows (plus validation) encoded twice, by the original and the adapted encoder, "
                                                            "and 12 probes fitted (60 cross-fitted on a dataset under 3,000 rows); said with its "
                                                            "row count before it starts.")] = None,
    eval_data: Annotated[Optional[list[str]], typer.Option(help="Also score every run on this dataset's test split, out of domain "
                                                               "(repeatable; same labels, mapped by name: "
                                                               "'drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]'; a file's own columns: "
                                                               "'FILE[text=COLUMN, label=COLUMN]'; a file's labels read as the "
                                                               "run's task).")] = None,
    tta: Annotated[Optional[list[str]], typer.Option(help="Also score each --eval-data after test-time adaptation to its unlabelled "
                                                         "inputs: bn-adapt | tent | tent-episodic (repeatable).")] = None,
    arms: Annotated[Optional[str], typer.Option(help="Arms to compare instead of --strategies: strategy[options]+term[options], "
                                                     "comma-separated, e.g. 'lora[rank=4],lora[rank=16],full-finetune+l2sp[weight=0.1]'.")] = None,
    sizes: Annotated[Optional[str], typer.Option(help=f"Comma-separated labelled-set sizes; 'all' = the whole pool (a size equal to it is refused: write all) (default: {COMPARE_DEFAULTS['sizes']}).")] = None,
    seeds: Annotated[Optional[int], typer.Option(help=f"Seeds per cell, 0 .. seeds-1 (default: {COMPARE_DEFAULTS['seeds']}).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help=f"Directory of the store and the report (default: {COMPARE_DEFAULTS['out']}).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Local worker processes (threads are divided between them).")] = None,
    backend: Annotated[Optional[str], typer.Option(help="Where cells run: local (this process or --workers processes; the "
                                                        "default) or ray (each cell a Ray task; pip install 'headstart[ray]').")] = None,
    address: Annotated[Optional[str], typer.Option(help="With --backend ray: the cluster's head, HOST:PORT, or auto for the one "
                                                        "on this machine (default: start a local Ray).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="sweep.toml with the same keys; flags override it, its "
                                                        "[train_by_strategy.NAME] tables included.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Cap on optimiser steps per phase, for every strategy compared: "
                                                          "the linear probe's too, even below its own floor of 300, and "
                                                          "below the min_steps --config sets (a note names them; quick "
                                                          "sweeps). It replaces --config's max_steps, [train_by_strategy.NAME]'s "
                                                          "too, as every training flag does (a note names them); to cap one "
                                                          "strategy alone, set its table's and leave this out.")] = None,
    min_steps: Annotated[Optional[int], typer.Option(help="Floor on optimiser steps for tiny n, for every strategy "
                                                          "(--config's min_steps replaced, [train_by_strategy.NAME]'s too).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: each strategy's).")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Image backbones: input side in pixels (default: the network's; 160 for images of 32 px or less on a 224 network).")] = None,
    augment: Annotated[Optional[str], typer.Option(help="Image training batches of the strategies that train the backbone: "
                                                        "none | crop | flip-crop (never at evaluation; a probe's cached "
                                                        "features never are).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    task: TaskOpt = None,
    pooling: PoolingOpt = None,
    group_column: GroupColumnOpt = None,
    split_column: SplitColumnOpt = None,
    test_data: TestDataOpt = None,
    max_test: Annotated[Optional[str], typer.Option(help="Keep a stratified part of about this many test rows (the rest join the pool), "
                                                         "or all: every row (default: every row, but 2,000 of a larger image test split, said in a note) ([split] max_test).")] = None,
    max_val: Annotated[Optional[str], typer.Option(help="Cap the validation split at about this many rows (whole groups; the rest join the "
                                                        "pool): every check scores them, so fewer is faster where a row costs much to "
                                                        "score (icl on a causal LM), at a noisier choice (default: 10% of the rows, at "
                                                        "most 300) ([split] max_val).")] = None,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="Drop test examples that duplicate pool/validation ones, and validation examples that duplicate pool ones (see check-leakage).")] = False,
    tune: Annotated[Optional[bool], typer.Option("--tune/--no-tune", help="Choose each cell's learning rate on validation (default: on).")] = None,
    grid: Annotated[Optional[list[str]], typer.Option("--grid", help="STRATEGY=V1,V2,...: the learning rates --tune searches for one strategy instead of its own grid (repeatable).")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="STRATEGY.KEY=VALUE: one strategy's option for every "
                                                                          "run of it (repeatable; e.g. partial-freeze.freeze=3).")] = None,
    label_descriptions: Annotated[Optional[str], typer.Option(help="A text per class, 'fresh=\"a positive movie review\",rotten=...' "
                                                                  "or a .json / .toml file of label = text: zero-shot's descriptions (default: 'This example is {label}.'), "
                                                                  "zero-shot-prompt's and icl's answer words (default: the label name), e.g. 'fresh=positive,rotten=negative'.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sweep's counts and the report's summary (results.json) as "
                                                          "JSON on stdout; progress and notes go to stderr.")] = False,
    report_to: Annotated[Optional[str], typer.Option(help="mlflow: also log the store's runs and report files to MLflow "
                                                          "($MLFLOW_TRACKING_URI, else sqlite:///OUT/mlflow.db; headstart[tracking]).")] = None,
) -> None:
    """Sweep strategies x labelled-set sizes x seeds, store every run, write the report and a recommendation.

    Re-running the same command trains nothing already done; adding a size, seed or strategy trains only
    the new cells. Another shared training setting (--max-steps, --epochs, a --config file's [train], --no-tune)
    makes every arm that reads it a new one, lora[max_steps=4] beside the stored lora[max_steps=3]: a note under the
    plan line says which setting and which arms, and the stored ones stay in the report.

    \b
    Example: headstart compare --strategies scratch,linear-probe,full-finetune --sizes 16,64,256 --seeds 3 --out runs/cmp
    Example: headstart compare --strategies zero-shot,setfit,linear-probe --sizes 0,8,32 --label-descriptions 'fresh="a positive movie review",rotten="a negative movie review"'
    Example: headstart compare --backbone smollm2-135m --strategies icl,linear-probe --sizes 16 --seeds 1 --max-val 50   # validation capped at 50 rows (whole groups can take it over), not 300
    """

    from headstart.api_compare import built_sweep, run_compare
    from headstart.api_sweep_file import file_arguments, file_keys_named, named_strategies

    if backbone is not None and backbones is not None:
        raise ConfigError("--backbone and --backbones both name the backbone; give the list alone, e.g. --backbones a,b")
    if strategies_ is not None and arms is not None:
        raise ConfigError("--strategies and --arms both say what to compare; give one: --arms takes plain strategies too, "
                          "e.g. --arms linear-probe,lora")
    # the flags as compare's keywords: --config's file is read by the reader compare(config=FILE) reads it with
    typed = {"data": data, "backbone": backbone, "backbones": backbones, "strategies": strategies_, "arms": arms,
             "sizes": sizes, "seeds": seeds, "out": out, "workers": workers, "backend": backend, "address": address,
             "max_steps": max_steps, "min_steps": min_steps, "epochs": epochs, "image_size": image_size,
             "augment": augment, "text_column": text_column, "label_column": label_column, "task": task,
             "pooling": pooling, "group_column": group_column, "split_column": split_column, "test_data": test_data, "retain": retain or None,
             "eval_data": eval_data or None, "tta": tta or None, "label_descriptions": label_descriptions,
             "grids": dict(_parse_grid_flag(g) for g in grid) if grid else None,
             "max_test": max_test, "max_val": max_val, "dedupe": True if dedupe else None}  # the split's: for the note
    given = {k: v for k, v in typed.items() if v is not None}
    if tune is not None:  # --no-tune is tune=None given
        given["tune"] = "lr" if tune else None
    command = "headstart " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    arguments = file_arguments(config, given, command=command, flags=True) if config else given
    from headstart.cli.common import InterruptReported
    from headstart.outdir import claim
    from headstart.sweep import SweepInterrupted
    from headstart.tracking import check_report_to

    out_dir = Path(arguments.get("out", COMPARE_DEFAULTS["out"]))
    with file_keys_named(arguments.get("config")):  # a column the file set is named as its key in the file
        # the sweep compare(...) builds from the same keywords: --option's settings over the file's [options.NAME]
        sweep = built_sweep(arguments, say=lambda note: typer.echo(note, err=True),
                            options=lambda table: _sweep_options(table, option, strategies=named_strategies(
                                arguments.get("strategies", COMPARE_DEFAULTS["strategies"]), arguments.get("arms"))))
        claim(out_dir, "compare")  # before the report destination and the data: run_compare claims it again, cheaply
        check_report_to(report_to)  # an unknown destination or a missing extra is named before any cell trains
        try:
            result = run_compare(sweep, out_dir, workers=arguments.get("workers", 1), command=command, progress=not quiet,
                                 announce=lambda report: print_leakage(report, dedupe=sweep.split.dedupe, err=as_json),
                                 backend=arguments.get("backend", "local"), address=arguments.get("address"),
                                 report_to=report_to)
        except SweepInterrupted as stopped:  # how many cells the store holds, which main's plain "interrupted" cannot say
            typer.echo(str(stopped), err=True)
            raise InterruptReported() from None
    counts = (f"{result.total} cells: {result.skipped} already done, {result.trained} trained now "
              f"({', '.join(f'{v} {k}' for k, v in sorted(result.trained_statuses.items())) or 'nothing new'})"
              + (f", {result.reused} stored from the seed {'it repeats' if result.reused == 1 else 'they repeat'} "
                 "(deterministic: 1 run)" if result.reused else "")
              + (f", {result.elsewhere} taken by another compare on this store" if result.elsewhere else "")
              + (f" ({result.elsewhere_training} still training there {'is' if result.elsewhere_training == 1 else 'are'} "
                 f"not in this report: `headstart report {shlex.quote(str(out_dir))}` once it ends)"
                 if result.elsewhere_training else "")
              + f" in {result.seconds:.0f}s")
    for note in result.notes:
        typer.echo(f"note: every run {note['text']}; {note['advice']}", err=as_json)
    if as_json:
        typer.echo(counts, err=True)
        _echo_json({"total": result.total, "skipped": result.skipped, "trained": result.trained, "reused": result.reused,
                    "elsewhere": result.elsewhere,
                    "elsewhere_training": result.elsewhere_training,
                    "statuses": result.statuses, "trained_statuses": result.trained_statuses,
                    "seconds": round(result.seconds, 1), "reports": {k: str(v) for k, v in result.reports.items()},
                    "summary": result.summary, "notes": result.notes})
    else:
        typer.echo(counts)
        print_report(result.reports, out_dir)
    kept = result.summary.get("report_command")
    if kept:  # the store's last `headstart report` settings, re-applied (render.rerender): said, never silent
        typer.echo(f"note: the report keeps the settings of this store's last report ({kept}); headstart report "
                   f"{shlex.quote(str(out_dir))} renders it with the defaults", err=as_json)
    if result.mlflow is not None:
        logged = result.mlflow
        typer.echo(f"MLflow: {logged['logged']} runs logged, {logged['skipped']} already there ({logged['uri']})", err=as_json)
    if result.trained and not result.skipped and not result.trained_statuses.get("done"):
        typer.echo(f"error: every cell failed ({', '.join(f'{v} {k}' for k, v in sorted(result.trained_statuses.items()))}); "
                   f"headstart runs {out_dir} shows each reason", err=True)
        raise typer.Exit(1)


@app.command()
def adapt(
    source: Annotated[str, typer.Option(help="Labelled source: a built-in dataset or a data file.")],
    target: Annotated[str, typer.Option(help="Target with the source's labels, scored on its test split; its pool's inputs "
                                             "are what alignment and test-time adaptation read. TARGET[their=ours, x=-] maps "
                                             "labels (then there is no oracle); a file's own columns, as --eval-data's: "
                                             "'FILE[text=COLUMN, label=COLUMN]'; a file's labels read as the source's "
                                             "task (a regression source's 1..10 ratings as numbers).")],
    backbone: Annotated[str, typer.Option("--backbone", "-b", help="Built-in backbone or a local model folder.")] = "all-minilm-l6-v2",
    strategy: Annotated[str, typer.Option(help="How every method trains on the source (and the oracle on the target).")] = "full-finetune",
    methods: Annotated[Optional[str], typer.Option("--methods", "--arms", help="Comma-separated: source-only (required), dann, "
                                                        "coral, mmd, importance, bn-adapt, tent, tent-episodic, or strategy names "
                                                        "such as lp-ft. Default: all of those eight that apply to the backbone "
                                                        "(no bn-adapt without BatchNorm).")] = None,
    sizes: Annotated[str, typer.Option(help="Labelled source sizes, comma-separated; 'all' = the whole pool.")] = "256",
    seeds: Annotated[int, typer.Option(help="Seeds per cell.")] = 5,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the store and the reports.")] = Path("runs/adapt"),
    oracle: Annotated[Optional[bool], typer.Option("--oracle/--no-oracle", show_default=False,
                                                   help="Also train the strategy on the target's labels: the ceiling. "
                                                        "Default: on, unless the target's labels are mapped (by "
                                                        "TARGET[...] or a built-in pair), where it would be another task.")] = None,
    tune: Annotated[bool, typer.Option("--tune/--no-tune", help="Choose each cell's learning rate on (source) validation.")] = True,
    image_size: Annotated[Optional[int], typer.Option(help="Image backbones: input side in pixels (default: the network's).")] = None,
    bn: Annotated[str, typer.Option(help="Image backbones' BatchNorm statistics in trained blocks: auto (frozen if pre-trained), "
                                         "frozen, or train (bn-adapt assumes the statistics are the source's: train).")] = "auto",
    max_steps: Annotated[Optional[int], typer.Option(help="Cap on optimiser steps per phase (quick runs).")] = None,
    min_steps: Annotated[Optional[int], typer.Option(help="Floor on optimiser steps for tiny n.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: the strategy's).")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes.")] = 1,
    max_test: Annotated[Optional[str], typer.Option(help="About this many test rows of the source and of the target (a seeded "
                                                         "cut in whole groups; quick runs; each score's interval says so), or all: "
                                                         "every row (default: every row, but 2,000 of an image test split over 2,000).")] = None,
    max_val: Annotated[Optional[str], typer.Option(help="Cap the validation split of the source and of the oracle's target at "
                                                        "about this many rows (whole groups; the rest join the pool): every "
                                                        "check scores them, so fewer is faster, at a noisier choice (default: "
                                                        "10% of the rows, at most 300).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Labelled source, unlabelled target: train each method on the source, score it on the target's test split, and
    report its gain over source-only and the share of the gap to the oracle it closes (adaptation.md).

    \b
    Example: headstart adapt --source mnist-5k --target opencv-digits --backbone efficientnet-lite0 --image-size 64 --seeds 5
    Example: headstart adapt --source rotten-tomatoes --target drug-reviews-sentiment --sizes 64 --seeds 2 --max-val 100   # validation capped at 100 rows (whole groups can take it over), not 300
    """
    from headstart.adapt import adapt as run_adapt, summary_lines
    from headstart.cli.common import InterruptReported
    from headstart.specs import TrainConfig
    from headstart.sweep import SweepInterrupted

    try:
        result = run_adapt(source, target, backbone=backbone, strategy=strategy, methods=methods, sizes=sizes, seeds=seeds,
                           out=out, oracle=oracle, tune="lr" if tune else None,
                           config=TrainConfig(image_size=image_size, bn=bn, max_steps=max_steps, min_steps=min_steps, epochs=epochs),
                           workers=workers, progress=not quiet, command="headstart " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                           max_test=max_test, max_val=max_val)
    except SweepInterrupted as stopped:  # which signal, and how many cells are stored, as compare says
        typer.echo(str(stopped), err=True)
        raise InterruptReported() from None
    for line in summary_lines(result):
        typer.echo(line)
    typer.echo(f"report: {result.reports['adaptation.md']} (and report.html, results.json in {out})")


def _sweep_options(from_config: dict[str, dict[str, Any]], flags: list[str] | None, *,
                   strategies: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """``[options.STRATEGY]`` of the TOML, with ``--option STRATEGY.KEY=VALUE`` over it.

    Args:
        strategies: the sweep's strategies, where known: an option without its strategy is suggested with the one of
            them that has it (else with the one registered strategy that has it).

    Raises:
        ConfigError: an option without its strategy, or a term's option (terms belong to arms).
    """
    from headstart.objectives import TERMS

    options = {name: dict(values) for name, values in from_config.items()}
    for name, values in _scoped_options(flags).items():
        if not name:
            given = ", ".join(f"{k}={_shown(v)}" for k, v in values.items())
            owners = {k: _option_owner(k, strategies) for k in values}
            example = (" ".join(f"--option {owners[k]}.{k}={_shown(v)}" for k, v in values.items())
                       if all(owners.values()) else "partial-freeze.freeze=3")
            raise ConfigError(f"--option in compare names its strategy: STRATEGY.KEY=VALUE, e.g. {example} (got {given})")
        if name in TERMS:
            raise ConfigError(f"{name} is an objective term: its options go with the arm, e.g. --arms 'full-finetune+{name}[weight=10]'")
        options.setdefault(name, {}).update(values)
    return options


def _option_owner(key: str, strategies: tuple[str, ...] | None) -> str | None:
    """The one strategy of ``strategies`` (of the registered ones, where those are not known) with the option ``key``;
    None where none or several have it."""
    import dataclasses

    from headstart.strategies import STRATEGIES

    names = [s for s in strategies if s in STRATEGIES] if strategies else list(STRATEGIES)
    owners = [s for s in dict.fromkeys(names) if key in {f.name for f in dataclasses.fields(STRATEGIES[s].Options)}]
    return owners[0] if len(owners) == 1 else None


def _parse_grid_flag(text: str) -> tuple[str, str]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--grid must be STRATEGY=V1,V2,..., got {text!r}; e.g. --grid full-finetune=2e-5,5e-5,1e-4")
    return name.strip(), values


@app.command("check-leakage")
def check_leakage(
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Built-in dataset (headstart datasets), a .csv/.tsv/.jsonl/.json/.parquet "
                                                                     "file, or a folder of class folders of images (default: rotten-tomatoes; "
                                                                     "with --run, the run's own; a run folder or compare store: as "
                                                                     "--run).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    task: TaskOpt = None,
    group_column: GroupColumnOpt = None,
    split_column: SplitColumnOpt = None,
    max_test: Annotated[Optional[str], typer.Option(help="The split of a run given train's or compare's --max-test: about this many "
                                                         "test rows (the rest join the pool), or all (default: every row, but 2,000 of "
                                                         "a larger image test split, as a run's).")] = None,
    max_val: Annotated[Optional[str], typer.Option(help="The split of a run given train's or compare's --max-val: validation capped at "
                                                        "about this many rows (default: 10% of the rows, at most 300).")] = None,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="The split of a run given train's or compare's --dedupe: the copies counted "
                                                          "are the test and validation rows it removes.")] = False,
    run: Annotated[Optional[Path], typer.Option(help="A run folder (train --out): check the split it trained and was scored on, its "
                                                     "data, columns, task and split settings read from its spec.json; a flag above "
                                                     "given beside it must agree with the run's. Or a compare store (compare --out): "
                                                     "the data and split its cells used, its data file read where compare read "
                                                     "it.")] = None,
    threshold: Annotated[float, typer.Option(help="Jaccard similarity of word 3-shingles at or above which a pair is a near-duplicate.")] = 0.8,
    examples: Annotated[int, typer.Option(help="Duplicate pairs to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Count test examples that duplicate (exactly or nearly) an example of the pool or validation split, and
    validation examples that duplicate a pool example.

    The split is the one train and compare cut: give the split flags a run was trained with (--max-test, --max-val,
    --dedupe) and the --task it read the labels as (ratings 1..10 read as classes by default, as numbers with --task
    regression; the split is stratified by them), or --run with the run's folder, to check that run's split.

    \b
    Example: headstart check-leakage --data reviews.csv --threshold 0.8 --examples 3
    Example: headstart check-leakage --data ratings.csv --task regression   # the split of a --task regression run
    Example: headstart check-leakage --max-test 100 --max-val 50   # the split of train --max-test 100 --max-val 50
    Example: headstart check-leakage --run runs/ft64   # the split that run trained and was scored on
    Example: headstart check-leakage --run runs/cmp   # the split a compare store's cells used
    """
    from headstart.api_leakage import checked_split

    report, split = checked_split(data, text_column=text_column, label_column=label_column, task=task,
                                  group_column=group_column, split_column=split_column, max_test=max_test, max_val=max_val,
                                  dedupe=dedupe, run=run, threshold=threshold, examples=examples)
    if as_json:  # the split counted, and what its dedupe removes, as compare's leakage.json says them
        _echo_json({**report.to_dict(), "split": split.identity(),
                    "removed_from_test": report.exact + report.near if split.dedupe else 0,
                    "removed_from_validation": report.val_leaked if split.dedupe else 0,
                    **({"run": str(run)} if run is not None else {})})
        return
    typer.echo(report.summary(removed=split.dedupe))
    for test_text, train_text, similarity in report.examples:
        typer.echo(f"  {similarity:.2f}  test:  {clipped(test_text)}\n        train: {clipped(train_text)}")
    from headstart.data.leakage import LEAKAGE_WARN

    if report.fraction > LEAKAGE_WARN and not split.dedupe:
        typer.echo(f"warning: {100 * report.fraction:.1f}% of the test set duplicates training data; "
                   "train or compare --dedupe drops those test examples"
                   + (" and the validation examples that duplicate pool ones" if report.val_leaked else ""))
    if report.conflicts:
        typer.echo(report.conflicts_summary())
        for text, labels in report.conflict_examples:
            typer.echo(f"  {' / '.join(labels)}:  {clipped(text)}")


@app.command()
def runs(
    directory: Annotated[Path, typer.Argument(help="Directory of a compare store.")],
    status: Annotated[Optional[str], typer.Option(help="Only runs with this status: pending, running, done, failed, diverged, "
                                                       "or superseded (an older run of the same arm, size and seed, which "
                                                       "the report counts and leaves out).")] = None,
    to_mlflow: Annotated[bool, typer.Option("--to-mlflow", help="Log the store's finished runs (and report files) to MLflow; "
                                                                "runs already logged are skipped. Needs headstart[tracking].")] = False,
    mlflow_uri: Annotated[Optional[str], typer.Option(help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///DIR/mlflow.db).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the runs in a compare store (each run's test score), or log them to MLflow.

    \b
    Example: headstart runs runs/cmp --status done --json
    Example: headstart runs runs/cmp --status superseded    (the older runs the report leaves out)
    Example: headstart runs runs/cmp --to-mlflow    (then: mlflow ui --backend-store-uri sqlite:///runs/cmp/mlflow.db)
    """
    from headstart.listings import runs as store_runs

    if mlflow_uri is not None and not to_mlflow:
        raise ConfigError(f"--mlflow-uri {mlflow_uri!r} names where --to-mlflow logs; add --to-mlflow, or drop --mlflow-uri")
    if to_mlflow:
        if status is not None:
            raise ConfigError(f"--status {status} filters the listing; --to-mlflow logs every finished run: drop one of them")
        from headstart.tracking import log_store

        counts = log_store(directory, uri=mlflow_uri)
        typer.echo(f"MLflow: {counts['logged']} runs logged, {counts['skipped']} already there ({counts['uri']})")
        return
    rows = store_runs(directory, status=status)
    if as_json:
        _echo_json(rows)
        return
    from headstart.report.markdown import seconds_text
    width = max([16, *(len(r["arm"]) for r in rows)])
    # a store of several experiments (--backbones, continual's tasks, adapt's source and oracle, a data file edited
    # between two compares): say whose run each is, in the words of the report's section headings
    where = {k: len({str(r[k]) for r in rows}) > 1 for k in ("data", "backbone", "apart")}
    places = {id(r): " · ".join(str(r[k]) for k in ("data", "backbone", "apart") if where[k] and r[k]) for r in rows}
    place_width = max([0, *(len(p) for p in places.values())])
    for r in rows:
        score = next((f"test {k} {r[k]:.4f}" for k in ("accuracy", "rmse") if r[k] is not None), "") or r["per_task"]
        place = f"{places[id(r)]:<{place_width}}  " if place_width else ""
        typer.echo(f"{r['key']}  {r['status']:<8} {place}{r['arm']:<{width}} n={str(r['n']):<5} seed={r['seed']}  {score}  "
                   f"{seconds_text(r['train_seconds'])}s{'  ' + r['error'] if r['error'] else ''}"
                   + ("  superseded (a newer run of this arm, size and seed counts)" if r["superseded"] else "")
                   + ("  abandoned: the compare that claimed it is gone; compare again to train it" if r["abandoned"] else ""))
    typer.echo(f"{len(rows)} runs")


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="Directory of a compare store.")],
    metric: Annotated[Optional[str], typer.Option(help="Metric to plot (default: the one the runs chose their checkpoints on: accuracy, macro_f1 for multi-label or imbalanced classes, rmse for regression).")] = None,
    margin: Annotated[Optional[float], typer.Option(help="Points a cheaper strategy may trail the best (if not significantly "
                                                         "worse) and be recommended instead (default 2; for rmse-like "
                                                         "metrics, percent of the best).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the line naming the report's files, not the "
                                                              "summary lines before it (report.md says the same).")] = False,
    to: Annotated[Optional[Path], typer.Option("--to", help="Write the report files into this folder (made if missing) "
                                                            "instead of the store's: for a store in a folder that cannot "
                                                            "be written, which is only read.")] = None,
) -> None:
    """Re-render chart.png, report.html, report.md and results.json from the store alone.

    --metric and --margin stay with the store: a later compare into it (or rank-backbones --out) renders with them
    and says so; a report without them goes back to the defaults.

    \b
    Example: headstart report runs/cmp --margin 1
    Example: headstart report /mnt/shared/cmp --to cmp-report    (a store in a read-only folder)
    """
    from headstart.analysis.cells import MIN_PAIRS
    from headstart.report.render import render

    paths = render(directory, metric=metric, margin=margin, to=to)
    seeds = [r.get("seeds") or 0 for r in json.loads(paths["results.json"].read_text()).get("curves") or []]
    if margin is not None and seeds and max(seeds) < MIN_PAIRS:  # otherwise the flag changes nothing, silently
        typer.echo(f"note: --margin weighs a cheaper strategy only where it and the best share {MIN_PAIRS} or more seeds; "
                   f"this store has at most {max(seeds)} per cell, so the recommendation is the best on validation (a "
                   f"compare with --seeds {MIN_PAIRS} or more into the same --out adds them)", err=True)
    print_report(paths, paths["report.md"].parent, quiet=quiet)
