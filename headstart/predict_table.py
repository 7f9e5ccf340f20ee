"""Python's ``predict`` on a pandas DataFrame, as ``headstart predict FILE`` reads a table: the run's text column (or
``text_column``; a pair run's two columns), rows with empty text dropped with a note, and each prediction carrying
its row's other columns (``carry``, which the CLI's rows go through too)."""

from __future__ import annotations

import logging
from typing import Any

from headstart.errors import ConfigError

log = logging.getLogger("headstart.data.files")  # as the CLI's notes on a table's rows

_PREDICTED = ("adapter", "label", "labels", "probabilities", "prediction")  # a row's keys past its input
_SHOWN = "the DataFrame"  # the table, as the column messages name it


def predict_inputs(loaded: Any, inputs: Any, *, text_column: str | None = None) -> list[dict[str, Any]]:
    """``loaded.predict_loaded``'s rows for ``inputs``: a DataFrame is read as a table (``table_rows``), anything else
    as a list of inputs, which ``text_column`` does not apply to.

    Raises:
        ConfigError: ``text_column`` beside a list, or a dict or set as the inputs (their keys or order are no rows).
    """
    from headstart.loaded import predict_loaded

    if _is_frame(inputs):
        return table_rows(loaded, inputs, text_column=text_column)
    if isinstance(inputs, (dict, set, frozenset)):
        kind = type(inputs).__name__
        raise ConfigError(f"predict takes a list of inputs or a pandas DataFrame, got a {kind} {inputs!r:.40}; pass "
                          "a list, e.g. list(texts.values()) for a dict, or pd.DataFrame(...) with a text column")
    if text_column is not None:
        raise ConfigError(f"text_column={text_column!r} names a DataFrame's column, but the inputs are a "
                          f"{type(inputs).__name__}; pass the DataFrame, or drop text_column")
    return predict_loaded(loaded, inputs)


def _is_frame(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame, without importing pandas for a list."""
    import sys

    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def table_rows(loaded: Any, frame: Any, *, text_column: str | None = None) -> list[dict[str, Any]]:
    """Predictions for a DataFrame's rows, as ``headstart predict`` gives a table's: the text column (an image run's
    column of image paths) is ``text_column``,
    else the run's own where the frame has it, else guessed by name (said in a note); a pair run reads its two columns
    (``text_column="FIRST,SECOND"`` names others). A row whose text is empty is dropped with a note naming its index
    label; every other row gives its text, then its other columns in the frame's order (``carry``), then the prediction.

    Raises:
        DataError / ColumnError: a ``text_column`` the frame lacks, no column to guess, an empty frame or no text in it;
            for an image run (which reads the frame's column of image paths, relative to the working directory, as
            ``headstart predict`` reads a path table's: ``data.inputs.image_rows``), no such column or a missing image.
    """
    from headstart.data.columns import find_run_column, pair_columns, pick_text_column, run_pair, text_values
    from headstart.data.inputs import other_columns
    from headstart.errors import DataError
    from headstart.loaded import predict_loaded

    frame = frame.rename(columns=str)
    source = loaded.meta.get("data_source") or {}
    if getattr(loaded.model.backbone, "modality", "text") == "image":  # its column of image paths, as a path table's
        from headstart.data.inputs import image_rows

        names, images, extras = image_rows(frame, None, text_column=text_column, run_column=source.get("text_column"))
        rows = [{"input": name, **{k: v for k, v in row.items() if k != "text"}}
                for name, row in zip(names, predict_loaded(loaded, images))]
        return [carry(row, extra) for row, extra in zip(rows, extras)]
    pair = run_pair(source)
    trained = ",".join(pair) if pair else source.get("text_column")
    column = find_run_column(frame, trained) if text_column is None else None
    if column is None and pair is not None and text_column is None:
        missing = ", ".join(repr(c) for c in pair if c not in frame.columns)
        raise DataError(f"{_SHOWN} lacks {missing}: this run reads text pairs (trained on {trained}; columns here: "
                        f"{', '.join(frame.columns)}); name its two columns: text_column='FIRST,SECOND'")
    if column is None:
        column = pick_text_column(frame, text_column, _SHOWN)
        if text_column is None and column != "text" and len(frame.columns) > 1:  # a guess: said, as the CLI says it
            also = f" (the run's own text column {trained!r} is not in it)" if trained else ""
            log.info("%s: reading column %r as the text to predict on%s; text_column=NAME picks another", _SHOWN, column, also)
    names = pair_columns(column) if column not in frame.columns else None
    if (names is not None) != (pair is not None):
        raise DataError(f"text_column={column!r} names {'two columns' if names else 'one column'}, but this run reads "
                        + (f"text pairs (trained on {trained}); name two: text_column='FIRST,SECOND'" if pair
                           else "single texts; name one column"))
    texts = text_values(frame, column)
    if not len(texts):
        raise DataError(f"{_SHOWN} has no rows to predict on; add one input per row")
    empty = (texts == "").to_numpy()
    if empty.all():
        raise DataError(f"{_SHOWN} has no text to predict on: column {column!r} is empty in every row; text_column=NAME "
                        "picks another")
    if empty.any():  # as headstart predict drops a table's row with empty text
        dropped = [repr(i) for i in frame.index[empty][:5]]
        log.info("%s: dropped %d row%s with empty text (index %s%s); each prediction carries its row's other columns",
                 _SHOWN, int(empty.sum()), "" if empty.sum() == 1 else "s", ", ".join(dropped),
                 ", …" if empty.sum() > 5 else "")
        frame, texts = frame[~empty], texts[~empty]
    if names is not None:
        pairs = list(zip(text_values(frame, names[0]).tolist(), text_values(frame, names[1]).tolist()))
        rows = predict_loaded(loaded, pairs, columns=names)
        used = set(names)
    else:
        rows = predict_loaded(loaded, texts.tolist())
        used = {column}
    return [carry(row, extra) for row, extra in zip(rows, other_columns(frame, used))]


def carry(row: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """A prediction row with its input's other columns after the input: a column named like one of the prediction's
    keys (``label`` in a labelled table, or a CSV's ``p_<class>``) comes as ``input_<name>``."""
    if not extra:
        return row
    taken = {*row, *(f"p_{k}" for k in row.get("probabilities", {}))}
    carried = {}
    for name, value in extra.items():
        while name in taken or name in carried:
            name = f"input_{name}"
        carried[name] = value
    first = lead(row)
    return {**first, **carried, **{k: v for k, v in row.items() if k not in first}}


def lead(row: dict[str, Any]) -> dict[str, Any]:
    """A prediction row's input: its text (a pair's two texts, each under its column) or image, before the prediction."""
    return {k: v for k, v in row.items() if k not in _PREDICTED}
