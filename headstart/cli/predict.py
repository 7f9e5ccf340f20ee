"""``predict``: a trained run's labels and class probabilities for raw inputs, each row carrying its input's columns.

Reads texts, text pairs (a pair run) or images from a table, a .txt or stdin (``data.inputs``), predicts with the loaded
run (``loaded.predict_loaded``; several adapters on one base with ``--adapter-dir``) and writes JSON lines or a CSV.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from headstart.cli.common import app, utf8_stdout
from headstart.errors import ConfigError


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="Run directory written by 'headstart train' (or 'headstart adapters merge').")],
    inputs: Annotated[str, typer.Argument(help="A .csv/.tsv/.jsonl/.json/.parquet file with a text column (rows with empty text dropped, with a note), a .txt file (one per line; blank lines skipped, with a note), or '-' for stdin; "
                                                "for an image run: an image, a folder of images, or a table naming them.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write predictions here (.jsonl or .csv); default: stdout as JSONL.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of the input table (default: the run's own "
                                                            "text column where the table has it, else guessed by name).")] = None,
    adapter_dir: Annotated[Optional[list[str]], typer.Option("--adapter-dir", help="More adapter runs on the same base, [NAME=]DIR (repeatable); loaded once, sharing the base.")] = None,
    adapter: Annotated[Optional[str], typer.Option(help="Which loaded adapter predicts (default: RUN's; names are directory names unless NAME= is given); each prediction names it in an 'adapter' field (a CSV's column).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file (refused without it, before anything loads).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No 'wrote N predictions' line on stderr after --out is "
                                                              "written (notes on rows dropped still print, as train's do).")] = False,
) -> None:
    """Predict labels and class probabilities for raw texts (or images, for a run on an image backbone).

    Each row gives its input first (as text, or input for an image), then the table's other columns in the table's
    order, then the prediction; a column named like a key of the prediction (a labelled table's label) comes as
    input_<name>. A row's answer does not depend on the other rows given with it: a bf16 run scores rows in batches
    of one length, unpadded, as evaluate does.

    With --adapter-dir, several adapter runs share one base model in this process and --adapter picks
    the one that predicts (the Python API, headstart.AdapterSet, switches per call).

    \b
    Example: printf 'a joy to watch\\ndull and lifeless\\n' | headstart predict runs/ft64 -

    A run trained on a text pair (--text-column premise,hypothesis) reads pairs: a table with both columns (each kept in
    the output), or one pair a line on stdin or in a .txt, a tab between the two texts.

    \b
    Example: printf 'a film about x\\ta film\\n' | headstart predict runs/nli -

    \b
    Example: headstart predict runs/lora-a reviews.csv --adapter-dir b=runs/lora-b --adapter b

    An existing --out file is refused, not replaced: choose another name, or add --overwrite.

    \b
    Example: headstart predict runs/ft64 reviews.csv --out preds.csv --overwrite   # replaces preds.csv
    """
    from headstart.data.columns import run_pair
    from headstart.data.inputs import read_input_rows, read_pair_rows
    from headstart.loaded import predict_loaded
    from headstart.outdir import check_writable
    from headstart.predict_table import carry, lead
    from headstart.saved import load_run

    if out is not None and out.suffix.lower() not in (".jsonl", ".csv"):
        example = out / "predictions.jsonl" if not out.name or out.is_dir() else out.with_suffix(".jsonl")
        raise ConfigError(f"--out {str(out)!r}: predictions are written as .jsonl or .csv; e.g. --out {example}")
    if out is not None and inputs != "-" and Path(inputs).exists() and out.resolve() == Path(inputs).resolve():
        raise ConfigError(f"--out {str(out)!r} is the input file; predictions would overwrite it: choose another, e.g. "
                          f"--out {out.with_name(out.stem + '-predictions' + out.suffix)}")
    if out is not None and out.exists() and not overwrite:  # refused before the run loads: a second run would silently replace it
        raise ConfigError(f"--out {str(out)!r} already exists; choose another name, e.g. "
                          f"--out {out.with_name(out.stem + '-2' + out.suffix)}, or add --overwrite to replace it")
    if out is not None:  # a file where its folder goes, a read-only folder: before the run loads and every row is scored
        check_writable(out.parent)
    chosen = None  # the adapter that predicts, when several share the base: each row names it
    if adapter_dir or adapter:
        from headstart.adapter_set import AdapterSet

        adapters = AdapterSet()
        first = adapters.add(run)
        for entry in adapter_dir or []:
            name, _, path = entry.rpartition("=")
            adapters.add(Path(path), name or None)
        chosen = adapter or first
        loaded = adapters.use(chosen)
    else:
        from headstart.cli.runs import merge_gap_note

        loaded = load_run(run)  # a bad run directory fails before stdin is read
        gap = merge_gap_note(run, command="predict")  # a merged bf16 run: as evaluate says it (no adapter set takes one)
        if gap:
            typer.echo(gap, err=True)
    run_column = (loaded.meta.get("data_source") or {}).get("text_column")  # a table holding it is read by it
    if getattr(loaded.model.backbone, "modality", "text") == "image":
        from headstart.data.inputs import read_image_inputs

        names, images, carried = read_image_inputs(inputs, text_column=text_column, run_column=run_column)
        rows = [{"input": name, **{k: v for k, v in row.items() if k != "text"}} for name, row in zip(names, predict_loaded(loaded, images))]
    elif (pair := run_pair(loaded.meta.get("data_source"))) is not None:  # the two texts each under its column, as the input had them
        pairs, columns, carried = read_pair_rows(inputs, pair=pair, text_column=text_column)
        rows = predict_loaded(loaded, pairs, columns=columns)
    else:
        texts, carried = read_input_rows(inputs, text_column=text_column, run_column=run_column,
                                         run_file=(loaded.meta.get("data_source") or {}).get("path"), run=run,
                                         eval_refusal=lambda: _eval_refusal(loaded, inputs))
        rows = predict_loaded(loaded, texts)
    if chosen is not None:  # before the label, so a CSV reads text, its columns, adapter, label, p_...
        rows = [{**lead(row), "adapter": chosen, **{k: v for k, v in row.items() if k not in lead(row)}} for row in rows]
    rows = [carry(row, extra) for row, extra in zip(rows, carried)]
    if out is None:  # readable "Très", not "Tr\\u00e8s", where stdout takes UTF-8
        readable = utf8_stdout()
        for row in rows:
            typer.echo(_json_line(row, ascii_only=not readable))
        return
    _write_predictions(rows, out)
    if not quiet:
        typer.echo(f"wrote {len(rows)} prediction{'' if len(rows) == 1 else 's'} to {out}", err=True)


def _eval_refusal(loaded: Any, inputs: str) -> str | None:
    """What ``headstart evaluate RUN --eval-data INPUTS --eval-rows all`` refuses (its line), by evaluate's own check,
    None where it would score the file: predict names that command only then. Reading the file here says nothing (its
    notes are evaluate's to print)."""
    import logging

    from headstart.errors import HeadstartError
    from headstart.loaded import check_ood

    notes = logging.getLogger("headstart")
    level = notes.level
    notes.setLevel(logging.WARNING)
    try:
        check_ood(loaded, [inputs], rows="all")
    except HeadstartError as e:
        return str(e)
    finally:
        notes.setLevel(level)
    return None


def _json_line(row: dict[str, Any], *, ascii_only: bool = False) -> str:
    """A prediction row as one line of JSON, its text as written ("Très", not "Tr\\u00e8s") unless ``ascii_only``; U+2028
    and U+2029 stay escaped, as a reader splitting lines with ``str.splitlines`` would cut a row at them."""
    line = json.dumps(row, default=str, ensure_ascii=ascii_only)
    return line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _write_predictions(rows: list[dict[str, Any]], out: Path) -> None:
    from headstart.atomic import write_atomic

    if out.suffix.lower() == ".csv":
        import pandas as pd

        flat = [{**{k: v for k, v in r.items() if k != "probabilities"}, **{f"p_{k}": v for k, v in r.get("probabilities", {}).items()}} for r in rows]
        text = pd.DataFrame(flat).to_csv(index=False)
    else:
        text = "".join(_json_line(r) + "\n" for r in rows)  # written as UTF-8 below
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, text.encode())
    except OSError as e:  # a WriteError too
        raise ConfigError(f"cannot write predictions to {str(out)!r} ({e.strerror}); choose another --out") from None
