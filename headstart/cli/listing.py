"""``strategies``, ``backbones``, ``datasets``: what there is to choose from."""

from __future__ import annotations

from typing import Any

import typer

from headstart.cli.common import JsonOpt, _echo_json, app


@app.command()
def strategies(as_json: JsonOpt = False) -> None:
    """List the registered strategies with a one-line description.

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
    from headstart.backbones.registry import REGISTRY

    rows = [{"name": b.name, "modality": b.modality, "description": b.description, "package": b.package} for b in REGISTRY.values()]
    _list(rows, kind="modality", footer="or: --backbone /path/to/model-folder (config.json + *.safetensors)", as_json=as_json)


@app.command()
def datasets(as_json: JsonOpt = False) -> None:
    """List built-in datasets (any CSV / JSONL / parquet file also works).

    \b
    Example: headstart datasets
    """
    from headstart.data.builtin import REGISTRY

    rows = [{"name": d.name, "task": d.task, "modality": d.modality, "description": d.description, "package": d.package}
            for d in REGISTRY.values()]
    _list(rows, kind="task", footer="or: --data my.csv [--text-column T --label-column L], or --data images/ (images/<class>/*.png)",
          as_json=as_json)
