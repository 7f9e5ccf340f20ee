"""The ``headstart`` command line: parse, call the API, print. Heavy imports happen inside commands."""

from __future__ import annotations

import json
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

DataOpt = Annotated[str, typer.Option("--data", "-d", help="Built-in dataset (headstart datasets) or a .csv/.tsv/.jsonl/.parquet file.")]
BackboneOpt = Annotated[str, typer.Option("--backbone", "-b", help="Built-in backbone (headstart backbones) or a local model folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


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
    patience: Annotated[int, typer.Option(help="Validation checks without improvement before stopping a phase.")] = 3,
    metric: Annotated[str, typer.Option(help="Validation metric for early stopping: auto | accuracy | macro_f1 | balanced_accuracy | rmse | loss.")] = "auto",
    class_weights: Annotated[str, typer.Option(help="none | auto (weight classes when imbalance > 3x) | balanced.")] = "none",
    precision: Annotated[str, typer.Option(help="auto (measured) | fp32 | bf16.")] = "auto",
    max_length: Annotated[int, typer.Option(help="Truncate inputs to this many tokens.")] = 128,
    freeze: Annotated[Optional[int], typer.Option(help="partial-freeze: bottom blocks to freeze.")] = None,
    decay: Annotated[Optional[float], typer.Option(help="llrd: per-block lr decay in (0, 1].")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="Other strategy option KEY=VALUE (repeatable).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    task: Annotated[Optional[str], typer.Option(help="classification | multilabel | regression (default: inferred).")] = None,
    pooling: Annotated[Optional[str], typer.Option(help="mean | cls (default: from the backbone folder).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train one run and save it (spec.json, weights.safetensors, metrics.json on validation).

    Example: headstart train --data rotten-tomatoes --strategy full-finetune --n 64 --seed 0 --out runs/ft64
    """
    from headstart.api import fit
    from headstart.specs import TrainConfig

    options = dict(_parse_option(o) for o in option or [])
    if freeze is not None:
        options["freeze"] = freeze
    if decay is not None:
        options["decay"] = decay
    config = TrainConfig(lr=lr, head_lr=head_lr, epochs=epochs, min_steps=min_steps, max_steps=max_steps, batch_size=batch_size,
                         accumulate=accumulate, warmup=warmup, schedule=schedule, weight_decay=weight_decay, clip=clip,
                         patience=patience, metric=metric, class_weights=class_weights, precision=precision, max_length=max_length)
    result = fit(data, backbone, strategy=strategy, n=n, seed=seed, out=out, options=options, config=config,
                 text_column=text_column, label_column=label_column, task=task, pooling=pooling, progress=not quiet)
    summary = {"out": str(out), "key": result.key, "status": result.status, "steps": result.steps, "best_step": result.best_step,
               "train_seconds": round(result.train_seconds, 2), "trainable_params": result.trainable_params,
               "total_params": result.total_params, "val": {k: v for k, v in result.val_metrics.items() if k != "per_class"}}
    if result.error:
        summary["error"] = result.error
    if as_json:
        _echo_json(summary)
        return
    pct = 100 * result.trainable_params / max(result.total_params, 1)
    typer.echo(f"{result.status}: {strategy} on {data}, n={n}, seed={seed} -> {out}")
    typer.echo(f"trainable params: {result.trainable_params:,} of {result.total_params:,} ({pct:.2f}%); "
               f"{result.steps} steps in {result.train_seconds:.1f}s, best at step {result.best_step}")
    if result.status != "done":
        typer.echo(f"{result.status}: {result.error}", err=True)
        raise typer.Exit(1)
    typer.echo("validation: " + _metric_line(result.val_metrics))
    typer.echo(f"next: headstart evaluate {out}")


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
    run: Annotated[Path, typer.Argument(help="Run directory written by 'headstart train'.")],
    inputs: Annotated[str, typer.Argument(help="CSV / JSONL / parquet with a text column, a .txt file (one per line), or '-' for stdin.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write predictions here (.jsonl or .csv); default: stdout as JSONL.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of the input table.")] = None,
) -> None:
    """Predict labels and class probabilities for raw texts.

    Example: printf 'a joy to watch\\ndull and lifeless\\n' | headstart predict runs/ft64 -
    """
    from headstart.data import read_inputs
    from headstart.saved import load_run, predict_loaded

    loaded = load_run(run)  # a bad run directory fails before stdin is read
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

    rows = [{"name": d.name, "task": d.task, "description": d.description, "package": d.package} for d in REGISTRY.values()]
    _list(rows, kind="task", footer="or: --data my.csv [--text-column T --label-column L]", as_json=as_json)


@app.command()
def compare(
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Built-in dataset or a data file.")] = None,
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b", help="Built-in backbone or a local model folder.")] = None,
    strategies_: Annotated[Optional[str], typer.Option("--strategies", "-s", help="Comma-separated strategies.")] = None,
    sizes: Annotated[Optional[str], typer.Option(help="Comma-separated labelled-set sizes; 'all' = the whole pool.")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Seeds per cell (0 .. seeds-1).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Directory of the store and the report.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Local worker processes (threads are divided between them).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="sweep.toml with the same keys; flags override it.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Cap on optimiser steps per phase (quick sweeps).")] = None,
    min_steps: Annotated[Optional[int], typer.Option(help="Floor on optimiser steps for tiny n.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: each strategy's).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Sweep strategies x labelled-set sizes x seeds, store every run, write the report and a recommendation.

    Re-running the same command trains nothing already done; adding a size, seed or strategy trains only
    the new cells.

    Example: headstart compare --strategies scratch,linear-probe,full-finetune --sizes 16,64,256 --seeds 3 --out runs/cmp
    """
    import shlex

    from headstart.progress import progress_bar
    from headstart.report.render import render
    from headstart.data.splits import SplitConfig
    from headstart.specs import TrainConfig
    from headstart.sweep import DEFAULT_SIZES, DEFAULT_STRATEGIES, SweepSpec, parse_list, parse_sizes, run_sweep
    from headstart.sweep_config import read_config

    cfg = read_config(config) if config else {}
    pick = lambda flag, key, default: flag if flag is not None else cfg.get(key, default)  # noqa: E731
    train_fields = dict(cfg.get("train", {}))
    for name, value in (("max_steps", max_steps), ("min_steps", min_steps), ("epochs", epochs)):
        if value is not None:
            train_fields[name] = value
    strategies_text = pick(strategies_, "strategies", ",".join(DEFAULT_STRATEGIES))
    sizes_text = pick(sizes, "sizes", ",".join("all" if n is None else str(n) for n in DEFAULT_SIZES))
    sweep = SweepSpec(
        data=pick(data, "data", "rotten-tomatoes"), backbone=pick(backbone, "backbone", "all-minilm-l6-v2"),
        strategies=parse_list(strategies_text), sizes=parse_sizes(sizes_text), seeds=pick(seeds, "seeds", 5),
        train=TrainConfig(**train_fields), options=dict(cfg.get("options", {})),
        train_by_strategy=dict(cfg.get("train_by_strategy", {})), split=SplitConfig(**cfg.get("split", {})),
        text_column=pick(text_column, "text_column", None), label_column=pick(label_column, "label_column", None),
        task=cfg.get("task"), pooling=cfg.get("pooling"),
    )
    out_dir = Path(pick(out, "out", "runs/compare"))
    command = "headstart " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with progress_bar("sweep", enabled=not quiet) as update:
        outcome = run_sweep(sweep, out_dir, workers=pick(workers, "workers", 1), command=command, progress=update)
    typer.echo(f"{outcome.total} cells: {outcome.skipped} already done, {outcome.trained} trained now "
               f"({', '.join(f'{v} {k}' for k, v in sorted(outcome.statuses.items())) or 'nothing new'}) in {outcome.seconds:.0f}s")
    _print_report(render(out_dir), out_dir)


def _print_report(paths: dict[str, Path], out_dir: Path) -> None:
    summary = json.loads(paths["results.json"].read_text())
    head = summary.get("head_start")
    if head:
        lo, hi = head["ci"]
        typer.echo(f"head-start at n={head['n']}: {head['strategy']} {head['points']:+.1f} points over scratch (95% CI {lo:+.1f} to {hi:+.1f})")
    cross = summary.get("crossover") or {}
    if cross.get("text"):
        typer.echo(f"crossover: {cross['text']}")
    for band in summary.get("recommendation", []):
        typer.echo(f"recommendation: {band['text']}")
    typer.echo(f"report: {paths['report.html']} (also chart.png, report.md, results.json in {out_dir})")


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
) -> None:
    """Re-render chart.png, report.html, report.md and results.json from the store alone.

    Example: headstart report runs/cmp
    """
    from headstart.report.render import render

    _print_report(render(directory, metric=metric), directory)


def main() -> None:
    """Console entry point: user mistakes print one line and exit 2; no tracebacks."""
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
