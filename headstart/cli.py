"""The ``headstart`` command line: parse, call the API, print. Heavy imports happen inside commands."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from headstart.errors import ConfigError, HeadstartError

app = typer.Typer(
    name="headstart",
    help="Measure how to adapt a pre-trained model to your small labelled dataset, then do it.\n\n"
    "Example: headstart train --strategy linear-probe --n 64 --out runs/lp",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"headstart {version('headstart')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("headstart (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print headstart's version and exit.")] = False,
) -> None:
    """Measure how to adapt a pre-trained model to your small labelled dataset, then do it.

    Example: headstart train --strategy linear-probe --n 64 --out runs/lp
    """


DataOpt = Annotated[str, typer.Option("--data", "-d", help="Built-in dataset (headstart datasets), a .csv/.tsv/.jsonl/.parquet file, "
                                                           "or a folder of class folders of images.")]
BackboneOpt = Annotated[str, typer.Option("--backbone", "-b", help="Built-in backbone (headstart backbones) or a local model folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
LEAKAGE_WARN = 0.01  # warn when over 1% of the test set duplicates training data: that can move accuracy by a point


def _echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


def _parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"--option expects KEY=VALUE, got {text!r}; e.g. --option freeze=3")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


@app.command()
def train(
    data: DataOpt = "rotten-tomatoes",
    backbone: BackboneOpt = "all-minilm-l6-v2",
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Strategy (headstart strategies).")] = "linear-probe",
    n: Annotated[str, typer.Option("--n", help="Labelled training examples drawn from the pool, or 'all'.")] = "all",
    seed: Annotated[int, typer.Option(help="Seed of the subsample, head init and shuffling.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")] = Path("runs/latest"),
    lr: Annotated[Optional[float], typer.Option(help="Backbone learning rate (default: the strategy's).")] = None,
    head_lr: Annotated[Optional[float], typer.Option(help="Head learning rate (default: the strategy's, 1e-3).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: the strategy's).")] = None,
    min_steps: Annotated[Optional[int], typer.Option(help="Floor on optimiser steps for tiny n.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Cap on optimiser steps per phase.")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per micro-batch.")] = 16,
    accumulate: Annotated[int, typer.Option(help="Micro-batches per optimiser step.")] = 1,
    warmup: Annotated[float, typer.Option(help="Warmup fraction of each phase.")] = 0.1,
    schedule: Annotated[str, typer.Option(help="cosine | linear | constant.")] = "cosine",
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.01,
    clip: Annotated[float, typer.Option(help="Max gradient norm (0: off).")] = 1.0,
    patience: Annotated[Optional[int], typer.Option(help="Validation checks without improvement before stopping a phase (default: the strategy's, 3; the probe's 5).")] = None,
    evals_per_phase: Annotated[Optional[int], typer.Option(help="Validation checks per phase (default: the strategy's, 5; the probe's 30, one an epoch).")] = None,
    evals_per_epoch: Annotated[Optional[int], typer.Option(help="At most this many checks an epoch, but at least 5 a phase (default: none; the probe's 1).")] = None,
    metric: Annotated[str, typer.Option(help="Validation metric for early stopping: auto | accuracy | macro_f1 | balanced_accuracy | rmse | loss.")] = "auto",
    class_weights: Annotated[str, typer.Option(help="none | auto (weight classes when imbalance > 3x) | balanced.")] = "none",
    precision: Annotated[str, typer.Option(help="auto (measured) | fp32 | bf16.")] = "auto",
    max_length: Annotated[int, typer.Option(help="Truncate inputs to this many tokens.")] = 128,
    image_size: Annotated[Optional[int], typer.Option(help="Image backbones: input side in pixels (default: the network's, 224 / 28).")] = None,
    augment: Annotated[str, typer.Option(help="Image training batches: none | crop | flip-crop (never at evaluation).")] = "none",
    bn: Annotated[str, typer.Option(help="Image backbones' BatchNorm statistics in trained blocks: auto (frozen if pre-trained, "
                                         "train from scratch) | train (update) | frozen (never).")] = "auto",
    freeze: Annotated[Optional[int], typer.Option(help="partial-freeze: bottom blocks to freeze.")] = None,
    decay: Annotated[Optional[float], typer.Option(help="llrd: per-block lr decay in (0, 1].")] = None,
    rank: Annotated[Optional[int], typer.Option(help="lora/dora/qlora: rank r of the update (8).")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="lora/dora/qlora: scale alpha; the update is (alpha/r)BA (16).")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="lora/dora/qlora: dropout on the adapter input (0.1).")] = None,
    targets: Annotated[Optional[str], typer.Option(help="lora/dora/qlora/ia3/houlsby: module names to adapt, or all-linear.")] = None,
    reduction: Annotated[Optional[int], typer.Option(help="houlsby: bottleneck width = hidden size / reduction (16).")] = None,
    virtual_tokens: Annotated[Optional[int], typer.Option(help="prompt-tuning/prefix-tuning: learned tokens (20).")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adamw | adamw8bit | paged-adamw8bit (CUDA) (default: the strategy's).")] = None,
    tune: Annotated[Optional[str], typer.Option(help="lr: choose the learning rate on validation (successive halving over the strategy's grid).")] = None,
    terms: Annotated[Optional[str], typer.Option(help="Objective terms added to the task loss, '+'-separated: e.g. l2sp[weight=0.01].")] = None,
    grid: Annotated[Optional[str], typer.Option(help="With --tune lr: the learning rates to search instead of the strategy's grid, e.g. 2e-5,5e-5,1e-4.")] = None,
    retain: Annotated[Optional[list[str]], typer.Option(help="After training, measure forgetting on this classification dataset "
                                                             "(repeatable): a probe on the adapted vs the original encoder.")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="Other strategy option KEY=VALUE (repeatable).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    task: Annotated[Optional[str], typer.Option(help="classification | multilabel | regression (default: inferred).")] = None,
    group_column: Annotated[Optional[str], typer.Option(help="Column of group ids kept on one side of the split (a patient, a movie).")] = None,
    split_column: Annotated[Optional[str], typer.Option(help="Column holding the file's own split: train / validation / test (validation cut from train if absent).")] = None,
    pooling: Annotated[Optional[str], typer.Option(help="mean | cls (default: from the backbone folder).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train one run and save it (spec.json, weights.safetensors, metrics.json on validation).

    Example: headstart train --data rotten-tomatoes --strategy full-finetune --n 64 --seed 0 --out runs/ft64
    """
    from headstart.api import fit
    from headstart.specs import TrainConfig

    _check_writable(out)  # before training, not after minutes of it
    options = dict(_parse_option(o) for o in option or [])
    flags = {"freeze": freeze, "decay": decay, "rank": rank, "alpha": alpha, "dropout": dropout, "targets": targets,
             "reduction": reduction, "virtual_tokens": virtual_tokens}
    options.update({k: v for k, v in flags.items() if v is not None})
    config = TrainConfig(lr=lr, head_lr=head_lr, epochs=epochs, min_steps=min_steps, max_steps=max_steps, batch_size=batch_size,
                         accumulate=accumulate, warmup=warmup, schedule=schedule, weight_decay=weight_decay, clip=clip,
                         patience=patience, evals_per_phase=evals_per_phase, evals_per_epoch=evals_per_epoch, metric=metric, class_weights=class_weights, precision=precision, max_length=max_length,
                         optimizer=optimizer, image_size=image_size, augment=augment, bn=bn)
    result = fit(data, backbone, strategy=strategy, n=n, seed=seed, out=out, options=options, config=config,
                 text_column=text_column, label_column=label_column, task=task, pooling=pooling, tune=tune, grid=grid,
                 group_column=group_column, split_column=split_column,
                 progress=not quiet, terms=_parse_terms(terms, strategy), retain=list(retain or ()))
    summary = {"out": str(out), "key": result.key, "status": result.status, "steps": result.steps, "best_step": result.best_step,
               "train_seconds": round(result.train_seconds, 2), "trainable_params": result.trainable_params,
               "total_params": result.total_params, "peak_rss_bytes": result.peak_rss_bytes, "chosen": result.chosen, "base_weights": result.base_weights,
               "val": {k: v for k, v in result.val_metrics.items() if k != "per_class"},
               **({"retention": [{k: v for k, v in r.items() if k != "rows"} for r in result.retention]} if result.retention else {}),
               "flags": result.flags}
    if result.error:
        summary["error"] = result.error
    if as_json:
        _echo_json(summary)
        if result.status != "done":  # --json changes what is printed, never the exit status
            raise typer.Exit(1)
        return
    pct = 100 * result.trainable_params / max(result.total_params, 1)
    typer.echo(f"{result.status}: {strategy} on {data}, n={n}, seed={seed} -> {out}")
    typer.echo(f"trainable params: {result.trainable_params:,} of {result.total_params:,} ({pct:.2f}%); "
               f"{result.steps} steps in {result.train_seconds:.1f}s, best at step {result.best_step}")
    memory = f"peak memory {result.peak_rss_bytes / 1e6:.0f} MB (RSS)"
    if result.base_weights:
        stored, fp32 = result.base_weights["stored"], result.base_weights["fp32"]
        memory += f"; 4-bit base linear weights {stored / 1e6:.1f} MB = {stored / fp32:.2f}x of fp32 ({fp32 / 1e6:.1f} MB)"
    typer.echo(memory)
    if result.chosen:
        picked = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.chosen.items())
        typer.echo(f"chosen on validation: {picked}" + (f" (tuning took {result.tune_seconds:.1f}s)" if result.tune_seconds else ""))
    for flag in result.flags:
        typer.echo(f"note: this run {flag['text']}; {flag['advice']}")
    for r in result.retention:
        typer.echo(f"retention on {r['data']}: {r['retention']:.3f} (probe accuracy {100 * r['adapted']:.1f}% on the adapted "
                   f"encoder vs {100 * r['original']:.1f}% on the original, {r['test_rows']} test rows)")
    if result.status != "done":
        typer.echo(f"{result.status}: {result.error}", err=True)
        raise typer.Exit(1)
    typer.echo("validation: " + _metric_line(result.val_metrics))
    typer.echo(f"next: headstart evaluate {out}")


def _parse_terms(text: str | None, strategy: str) -> dict[str, dict[str, Any]]:
    """``--terms "l2sp[weight=0.01]"`` -> ``{"l2sp": {"weight": 0.01}}``, read as the terms of an arm."""
    from headstart.specs import parse_arm

    return parse_arm(f"{strategy}+{text}")[3] if text else {}


def _check_writable(out: Path) -> None:
    """Refuse an output directory that cannot be created or written, without creating anything."""
    import os

    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    reason = "not a directory" if not existing.is_dir() else "permission denied" if not os.access(existing, os.W_OK | os.X_OK) else ""
    if reason:
        raise ConfigError(f"cannot write to output directory {str(out)!r} ({str(existing)!r}: {reason}); choose another --out")


def _metric_line(metrics: dict[str, Any]) -> str:
    keys = [k for k in ("accuracy", "macro_f1", "balanced_accuracy", "micro_f1", "rmse", "mae", "r2", "loss") if k in metrics]
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in keys)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run directory written by 'headstart train'.")],
    split: Annotated[str, typer.Option(help="test | val.")] = "test",
    as_json: JsonOpt = False,
) -> None:
    """Print a trained run's metrics on the test (or validation) split.

    Example: headstart evaluate runs/ft64 --split test --json
    """
    from headstart.api import evaluate as evaluate_run

    if split not in ("test", "val"):
        raise ConfigError(f"--split must be 'test' or 'val', got {split!r}")
    metrics = evaluate_run(run, split)
    if as_json:
        _echo_json(metrics)
        return
    typer.echo(f"{split} ({metrics['n']} examples): {_metric_line(metrics)}")
    for name, row in metrics.get("per_class", {}).items():
        cells = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
        typer.echo(f"  {name}: {cells}")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="Run directory written by 'headstart train' (or 'headstart adapters merge').")],
    inputs: Annotated[str, typer.Argument(help="CSV / JSONL / parquet with a text column, a .txt file (one per line), or '-' for stdin; "
                                                "for an image run: an image, a folder of images, or a table naming them.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write predictions here (.jsonl or .csv); default: stdout as JSONL.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of the input table.")] = None,
    adapter_dir: Annotated[Optional[list[str]], typer.Option("--adapter-dir", help="More adapter runs on the same base, [NAME=]DIR (repeatable); loaded once, sharing the base.")] = None,
    adapter: Annotated[Optional[str], typer.Option(help="Which loaded adapter predicts (default: RUN's; names are directory names unless NAME= is given).")] = None,
) -> None:
    """Predict labels and class probabilities for raw texts (or images, for a run on an image backbone).

    With --adapter-dir, several adapter runs share one base model in this process and --adapter picks
    the one that predicts (the Python API, headstart.AdapterSet, switches per call).

    Example: printf 'a joy to watch\\ndull and lifeless\\n' | headstart predict runs/ft64 -
    Example: headstart predict runs/lora-a reviews.csv --adapter-dir b=runs/lora-b --adapter b
    """
    from headstart.data import read_inputs
    from headstart.saved import load_run, predict_loaded

    if adapter_dir or adapter:
        from headstart.adapters import AdapterSet

        adapters = AdapterSet()
        first = adapters.add(run)
        for entry in adapter_dir or []:
            name, _, path = entry.rpartition("=")
            adapters.add(Path(path), name or None)
        loaded = adapters.use(adapter or first)
    else:
        loaded = load_run(run)  # a bad run directory fails before stdin is read
    if getattr(loaded.model.backbone, "modality", "text") == "image":
        from headstart.data.images import read_image_inputs

        names, images = read_image_inputs(inputs, column=text_column)
        rows = [{"input": name, **{k: v for k, v in row.items() if k != "text"}} for name, row in zip(names, predict_loaded(loaded, images))]
    else:
        rows = predict_loaded(loaded, read_inputs(inputs, text_column=text_column))
    if out is None:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    _write_predictions(rows, out)
    typer.echo(f"wrote {len(rows)} predictions to {out}", err=True)


def _write_predictions(rows: list[dict[str, Any]], out: Path) -> None:
    import os

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        if out.suffix.lower() == ".csv":
            import pandas as pd

            flat = [{**{k: v for k, v in r.items() if k != "probabilities"}, **{f"p_{k}": v for k, v in r.get("probabilities", {}).items()}} for r in rows]
            pd.DataFrame(flat).to_csv(tmp, index=False)
        else:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, out)
    except OSError as e:
        raise ConfigError(f"cannot write predictions to {str(out)!r} ({e.strerror}); choose another --out") from None


@app.command()
def strategies(as_json: JsonOpt = False) -> None:
    """List the registered strategies with a one-line description.

    Example: headstart strategies --json
    """
    from headstart.strategies import list_strategies

    rows = list_strategies()
    if as_json:
        _echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        opts = f"  [options: {', '.join(f'{k}={v}' for k, v in r['options'].items())}]" if r["options"] else ""
        typer.echo(f"{r['name']:<{width}}  {r['description']}{opts}")
    import dataclasses

    from headstart.objectives import TERMS

    typer.echo("\nobjective terms (train --terms NAME[options]; compare --arms 'strategy+NAME[options]'):")
    for name, term in sorted(TERMS.items()):
        opts = ", ".join(f"{f.name}={f.default}" for f in dataclasses.fields(term.Options))
        typer.echo(f"{name:<{width}}  {term.description}  [options: {opts}]")


def _list(rows: list[dict[str, Any]], *, kind: str, footer: str, as_json: bool) -> None:
    """Print registry rows (name, kind column, description) as a table, or as JSON."""
    if as_json:
        _echo_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['name']:<{width}}  {r[kind]:<14}  {r['description']}")
    typer.echo(footer)


@app.command()
def backbones(as_json: JsonOpt = False) -> None:
    """List built-in backbones (any local Hugging Face / sentence-transformers folder also works).

    Example: headstart backbones
    """
    from headstart.backbones.registry import REGISTRY

    rows = [{"name": b.name, "modality": b.modality, "description": b.description, "package": b.package} for b in REGISTRY.values()]
    _list(rows, kind="modality", footer="or: --backbone /path/to/model-folder (config.json + *.safetensors)", as_json=as_json)


@app.command()
def datasets(as_json: JsonOpt = False) -> None:
    """List built-in datasets (any CSV / JSONL / parquet file also works).

    Example: headstart datasets
    """
    from headstart.data.builtin import REGISTRY

    rows = [{"name": d.name, "task": d.task, "modality": d.modality, "description": d.description, "package": d.package}
            for d in REGISTRY.values()]
    _list(rows, kind="task", footer="or: --data my.csv [--text-column T --label-column L], or --data images/ (images/<class>/*.png)",
          as_json=as_json)


@app.command()
def compare(
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Built-in dataset or a data file.")] = None,
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b", help="Built-in backbone or a local model folder.")] = None,
    backbones: Annotated[Optional[str], typer.Option(help="Several backbones, comma-separated: each its own curves in the report "
                                                          "(e.g. all-minilm-l6-v2,all-mpnet-base-v2).")] = None,
    strategies_: Annotated[Optional[str], typer.Option("--strategies", "-s", help="Comma-separated strategies.")] = None,
    retain: Annotated[Optional[list[str]], typer.Option(help="After training, measure forgetting on this classification dataset "
                                                            "(repeatable): a probe on the adapted vs the original encoder.")] = None,
    arms: Annotated[Optional[str], typer.Option(help="Arms to compare instead of --strategies: strategy[options]+term[options], "
                                                     "comma-separated, e.g. 'lora[rank=4],lora[rank=16],full-finetune+l2sp[weight=0.01]'.")] = None,
    sizes: Annotated[Optional[str], typer.Option(help="Comma-separated labelled-set sizes; 'all' = the whole pool.")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Seeds per cell (0 .. seeds-1).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Directory of the store and the report.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Local worker processes (threads are divided between them).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="sweep.toml with the same keys; flags override it.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Cap on optimiser steps per phase (quick sweeps).")] = None,
    min_steps: Annotated[Optional[int], typer.Option(help="Floor on optimiser steps for tiny n.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: each strategy's).")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Image backbones: input side in pixels (default: the network's).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    group_column: Annotated[Optional[str], typer.Option(help="Column of group ids kept on one side of the split (a patient, a movie).")] = None,
    split_column: Annotated[Optional[str], typer.Option(help="Column holding the file's own split: train / validation / test (validation cut from train if absent).")] = None,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="Drop test examples that duplicate pool/validation ones (see check-leakage).")] = False,
    tune: Annotated[Optional[bool], typer.Option("--tune/--no-tune", help="Choose each cell's learning rate on validation (default: on).")] = None,
    grid: Annotated[Optional[list[str]], typer.Option("--grid", help="STRATEGY=V1,V2,...: the learning rates --tune searches for one strategy instead of its own grid (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Sweep strategies x labelled-set sizes x seeds, store every run, write the report and a recommendation.

    Re-running the same command trains nothing already done; adding a size, seed or strategy trains only
    the new cells.

    Example: headstart compare --strategies scratch,linear-probe,full-finetune --sizes 16,64,256 --seeds 3 --out runs/cmp
    """
    import shlex

    from headstart.api import run_compare
    from headstart.data.splits import SplitConfig
    from headstart.specs import TrainConfig
    from headstart.sweep import DEFAULT_SIZES, DEFAULT_STRATEGIES, SweepSpec, parse_list, parse_sizes
    from headstart.sweep_config import read_config

    cfg = read_config(config) if config else {}
    pick = lambda flag, key, default: flag if flag is not None else cfg.get(key, default)  # noqa: E731
    train_fields = dict(cfg.get("train", {}))
    for name, value in (("max_steps", max_steps), ("min_steps", min_steps), ("epochs", epochs), ("image_size", image_size)):
        if value is not None:
            train_fields[name] = value
    strategies_text = pick(strategies_, "strategies", ",".join(DEFAULT_STRATEGIES))
    sizes_text = pick(sizes, "sizes", ",".join("all" if n is None else str(n) for n in DEFAULT_SIZES))
    split_fields = {**cfg.get("split", {}), **({"dedupe": True} if dedupe else {})}
    sweep = SweepSpec(
        data=pick(data, "data", "rotten-tomatoes"), backbone=pick(backbone, "backbone", "all-minilm-l6-v2"),
        strategies=parse_list(strategies_text), sizes=parse_sizes(sizes_text), seeds=pick(seeds, "seeds", 5),
        train=TrainConfig(**train_fields), options=dict(cfg.get("options", {})),
        train_by_strategy=dict(cfg.get("train_by_strategy", {})), split=SplitConfig(**split_fields),
        text_column=pick(text_column, "text_column", None), label_column=pick(label_column, "label_column", None),
        task=cfg.get("task"), pooling=cfg.get("pooling"),
        tune=("lr" if tune else None) if tune is not None else cfg.get("tune", "lr"),
        grids={**cfg.get("grid", {}), **dict(_parse_grid_flag(g) for g in grid or [])},
        arms=pick(arms, "arms", ()), retain=tuple(retain or cfg.get("retain", ())),
        backbones=pick(backbones, "backbones", ()),
        group_column=pick(group_column, "group_column", None), split_column=pick(split_column, "split_column", None),
    )
    out_dir = Path(pick(out, "out", "runs/compare"))
    _check_writable(out_dir)
    command = "headstart " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = run_compare(sweep, out_dir, workers=pick(workers, "workers", 1), command=command, progress=not quiet,
                         announce=lambda report: _print_leakage(report, dedupe=sweep.split.dedupe))
    typer.echo(f"{result.total} cells: {result.skipped} already done, {result.trained} trained now "
               f"({', '.join(f'{v} {k}' for k, v in sorted(result.statuses.items())) or 'nothing new'}) in {result.seconds:.0f}s")
    _print_report(result.reports, out_dir)


def _parse_grid_flag(text: str) -> tuple[str, str]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--grid must be STRATEGY=V1,V2,..., got {text!r}; e.g. --grid full-finetune=2e-5,5e-5,1e-4")
    return name.strip(), values


def _print_leakage(report: Any, *, dedupe: bool) -> None:
    typer.echo(report.summary() + ("; removed from test (--dedupe)" if dedupe and report.exact + report.near else ""))
    if report.fraction > LEAKAGE_WARN and not dedupe:
        typer.echo(f"warning: {100 * report.fraction:.1f}% of the test set duplicates training data, so test scores are "
                   "optimistic; re-run with --dedupe (headstart check-leakage shows the pairs)")


def _print_report(paths: dict[str, Path], out_dir: Path) -> None:
    summary = json.loads(paths["results.json"].read_text())
    from headstart.report.markdown import reference_text

    if reference_text(summary):
        typer.echo(f"reference: {reference_text(summary)}")
    head = summary.get("head_start")
    if head:
        typer.echo(f"head-start: {head['text']}")
    cross = summary.get("crossover") or {}
    if cross.get("text"):
        typer.echo(f"crossover: {cross['text']}")
    for band in summary.get("recommendation", []):
        typer.echo(f"recommendation: {band['text']}")
    for flag in summary.get("budget_flags", []):
        typer.echo(f"budget: {flag['text']}")
    for edge in summary.get("grid_edges", []):
        typer.echo(f"tuning: {edge['text']}")
    typer.echo(f"report: {paths['report.html']} (also chart.png, report.md, results.json in {out_dir})")


@app.command("check-leakage")
def check_leakage(
    data: DataOpt = "rotten-tomatoes",
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    group_column: Annotated[Optional[str], typer.Option(help="Column of group ids kept on one side of the split (a patient, a movie).")] = None,
    split_column: Annotated[Optional[str], typer.Option(help="Column holding the file's own split: train / validation / test (validation cut from train if absent).")] = None,
    threshold: Annotated[float, typer.Option(help="Jaccard similarity of word 3-shingles at or above which a pair is a near-duplicate.")] = 0.8,
    examples: Annotated[int, typer.Option(help="Duplicate pairs to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Count test examples that duplicate (exactly or nearly) an example of the pool or validation split.

    Example: headstart check-leakage --data reviews.csv --threshold 0.8 --examples 3
    """
    from headstart.data import load_dataset, split_dataset
    from headstart.leakage import check_threshold, find_leakage

    check_threshold(threshold)  # before loading the data
    dataset = load_dataset(data, text_column=text_column, label_column=label_column, group_column=group_column,
                           split_column=split_column)
    report = find_leakage(dataset, split_dataset(dataset), threshold=threshold, examples=examples)
    if as_json:
        _echo_json({"data": dataset.name, **report.to_dict()})
        return
    typer.echo(report.summary())
    for test_text, train_text, similarity in report.examples:
        typer.echo(f"  {similarity:.2f}  test:  {_clip(test_text)}\n        train: {_clip(train_text)}")
    if report.fraction > LEAKAGE_WARN:
        typer.echo(f"warning: {100 * report.fraction:.1f}% of the test set duplicates training data; "
                   "compare --dedupe drops those test examples")


def _clip(text: str, width: int = 100) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
def runs(
    directory: Annotated[Path, typer.Argument(help="Directory of a compare store.")],
    status: Annotated[Optional[str], typer.Option(help="Only runs with this status.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the runs in a compare store.

    Example: headstart runs runs/cmp --status done --json
    """
    from headstart.store import Store

    with Store(directory, create=False) as store:
        results = store.results(status)
    rows = [{"key": r.key, "strategy": r.spec.get("strategy"), "n": r.spec.get("n_requested"), "seed": r.spec.get("seed"),
             "status": r.status, "accuracy": r.metrics.get("accuracy"), "macro_f1": r.metrics.get("macro_f1"),
             "rmse": r.metrics.get("rmse"), "train_seconds": r.train_seconds, "trainable_params": r.trainable_params,
             "error": r.error} for r in results]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        score = next((f"{k} {r[k]:.4f}" for k in ("accuracy", "rmse") if r[k] is not None), "")
        typer.echo(f"{r['key']}  {r['status']:<8} {r['strategy']:<16} n={str(r['n']):<5} seed={r['seed']}  {score}  "
                   f"{r['train_seconds']:.1f}s{'  ' + r['error'] if r['error'] else ''}")
    typer.echo(f"{len(rows)} runs")


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="Directory of a compare store.")],
    metric: Annotated[Optional[str], typer.Option(help="Metric to plot (default: accuracy, rmse for regression).")] = None,
    margin: Annotated[Optional[float], typer.Option(help="Points a cheaper strategy may trail the best (if not significantly "
                                                         "worse) and be recommended instead (default 2; for rmse-like "
                                                         "metrics, percent of the best).")] = None,
) -> None:
    """Re-render chart.png, report.html, report.md and results.json from the store alone.

    Example: headstart report runs/cmp --margin 1
    """
    from headstart.report.render import render

    _print_report(render(directory, metric=metric, margin=margin), directory)


adapters_app = typer.Typer(help="Adapters: list, show, merge into the base (checked), unmerge.\n\n"
                           "Example: headstart adapters merge runs/lora --out runs/lora-merged", no_args_is_help=True)
app.add_typer(adapters_app, name="adapters")


@adapters_app.command("list")
def adapters_list(
    paths: Annotated[list[Path], typer.Argument(help="Adapter / run directories, or folders holding them.")],
    as_json: JsonOpt = False,
) -> None:
    """List adapters: method, base, trainable parameters and size on disk.

    Example: headstart adapters list runs/
    """
    from headstart.adapters import find

    infos = find(paths)
    if as_json:
        _echo_json([i.to_dict() for i in infos])
        return
    for i in infos:
        params = f"{i.trainable_params:,}" if i.trainable_params is not None else "?"
        typer.echo(f"{i.directory}  {i.kind:<14} {str(i.method):<14} base={i.base}  trainable={params}  "
                   f"{i.adapter_bytes / 1e6:.2f} MB")
    typer.echo(f"{len(infos)} adapters")


@adapters_app.command("show")
def adapters_show(
    directory: Annotated[Path, typer.Argument(help="An adapter or run directory.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one adapter: its PEFT config, base, labels, size and validation metrics.

    Example: headstart adapters show runs/lora --json
    """
    from headstart.adapters import inspect

    info = inspect(directory).to_dict()
    if as_json:
        _echo_json(info)
        return
    for key, value in info.items():
        typer.echo(f"{key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")


@adapters_app.command("merge")
def adapters_merge(
    directory: Annotated[Path, typer.Argument(help="A LoRA / DoRA / IA3 / QLoRA run directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New run directory for the merged model (must not exist).")],
    dequantize: Annotated[bool, typer.Option(help="QLoRA: merge into an fp32 copy of the 4-bit base.")] = False,
    tolerance: Annotated[float, typer.Option(help="Largest accepted |merged - adapter| logit difference.")] = 1e-4,
    inputs: Annotated[int, typer.Option(help="Validation inputs the outputs are compared on.")] = 64,
    base: Annotated[Optional[str], typer.Option(help="Plain PEFT adapter only: base model name or folder (default: from adapter_config.json).")] = None,
) -> None:
    """Fold an adapter into its base weights; refuse if the merged outputs differ from the adapter's.

    A headstart run becomes a run with full weights (predict/evaluate work on it; the adapter is kept
    for unmerge). A plain PEFT adapter (no head) becomes a model folder usable as --backbone.

    Example: headstart adapters merge runs/lora --out runs/lora-merged
    """
    from headstart.adapters import inspect, merge, merge_base

    if inspect(directory).kind == "peft":
        folder = merge_base(directory, out, base=base)
        typer.echo(f"merged the PEFT adapter into its base: {folder} (use it with --backbone {folder})")
        return
    report = merge(directory, out, dequantize=dequantize, tolerance=tolerance, inputs=inputs)
    typer.echo(f"merged {directory} -> {report.out}: max |merged - adapter| = {report.max_abs_diff:.2e} on {report.inputs} "
               f"validation inputs (tolerance {report.tolerance:g}){'; base dequantized from 4-bit' if report.dequantized else ''}; "
               f"{report.merged_bytes / 1e6:.1f} MB")


@adapters_app.command("unmerge")
def adapters_unmerge(
    directory: Annotated[Path, typer.Argument(help="A run directory written by 'headstart adapters merge'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New adapter run directory (must not exist).")],
    tolerance: Annotated[float, typer.Option(help="Largest accepted difference to the pre-trained base.")] = 1e-4,
) -> None:
    """Recover the adapter run from a merged one; checks the base weights come back to the pre-trained ones.

    Example: headstart adapters unmerge runs/lora-merged --out runs/lora-again
    """
    from headstart.adapters import unmerge

    report = unmerge(directory, out, tolerance=tolerance)
    typer.echo(f"unmerged {directory} -> {report.out}: base weights within {report.base_max_abs_diff:.2e} of the pre-trained ones, "
               f"outputs within {report.output_max_abs_diff:.2e} on {report.inputs} validation inputs")


class _NoteHandler(logging.Handler):
    """Prints what the data loaders did (rows dropped) as ``note: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"note: {record.getMessage()}", err=True)


def _show_notes() -> None:
    logger = logging.getLogger("headstart")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler())
        logger.setLevel(logging.INFO)  # info, not warning: sweep workers (no handler) then stay quiet
        logger.propagate = False


def main() -> None:
    """Console entry point: user mistakes print one line and exit 2; no tracebacks."""
    _show_notes()
    try:
        app()
    except HeadstartError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # python -m headstart.cli
    main()
