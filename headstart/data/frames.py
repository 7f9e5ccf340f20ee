"""A data file read into a DataFrame: CSV / TSV (its separator detected), JSON Lines, JSON (an array of records, an
object of equal-length column lists, or JSON lines), parquet, or plain text (one input per line, in a ``text`` column).

Which columns hold the text and the label is ``files``' question; here a file is only read, and a file that cannot be
read as a table is refused in one line naming the form it needs.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headstart.errors import DataError

log = logging.getLogger("headstart.data.files")  # as files.py's notes: the CLI prints them as "note: ..." lines

SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")  # every list of formats in a message or help is made from these
INPUTS_ONLY = (".txt",)  # one input a line, no label column: read where inputs to predict on are
SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
JSON_FORMS = ('an array of records ([{"text": ..., "label": ...}, ...]), an object of equal-length column lists '
              '({"text": [...], "label": [...]}), or one JSON object per line')


def data_files(*, labelled: bool) -> str:
    """The files read, as a message says them ("a .csv, ... file", from ``SUFFIXES``); ``labelled``: a training table,
    which a .txt (inputs only) is not."""
    names = [s for s in SUFFIXES if not (labelled and s in INPUTS_ONLY)]
    return f"a {', '.join(names[:-1])} or {names[-1]} file"


LABELLED_TABLE = (f'a table with a text and a label column ({data_files(labelled=True)}), e.g. a .csv whose header is '
                  'text,label and whose rows read like "a joy to watch",pos')


def read_frame(path: str | Path, *, labelled: bool = True, needs: str | None = None,
               fields: bool = True) -> "pd.DataFrame":  # noqa: F821
    """Read a table file into a DataFrame with string column names; ``labelled``: a training table (the messages say
    what one needs), else inputs to predict on. ``needs``: what an empty file should hold, where the caller's table is
    not a classifier's (an sft file's prompt / response columns). ``fields``: a JSON file's columns of objects read
    field by field (``nested_fields``), as a labelled table's text and label columns are chosen; False keeps each
    object whole in its column (predict carries it into its output as it is; an sft reader refuses it as no text).

    Raises:
        DataError: missing, empty, unreadable, not UTF-8, or of an unknown format.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {str(path)!r}; check the path"
                        + (", or use a built-in dataset (headstart datasets)" if labelled else ""))
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a directory; give {data_files(labelled=labelled)}")
    suffix = path.suffix.lower()
    if suffix in SPREADSHEETS:
        raise DataError(f"cannot read {str(path)!r}: a {suffix} spreadsheet is not read; save its sheet as CSV UTF-8 "
                        f"({path.stem}.csv) and give that")
    if suffix not in SUFFIXES:
        raise DataError(f"cannot read {str(path)!r}: unknown format {suffix or '(none)'!r}; give {data_files(labelled=labelled)}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {str(path)!r}: {e.strerror}; check its permissions") from None
    if not raw.strip():
        raise DataError(f"{str(path)!r} is empty; {needs or _empty_fix(suffix, labelled)}")
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises many types for a corrupt file
            raise DataError(f"cannot read {str(path)!r} as parquet ({type(e).__name__}); check the file") from None
        frame.columns = [str(c) for c in frame.columns]
        return frame
    text = decode_utf8(raw, repr(str(path)), path=path)
    if not text.strip():  # a byte-order mark and nothing else
        raise DataError(f"{str(path)!r} is empty; {needs or _empty_fix(suffix, labelled)}")
    try:
        if suffix in (".csv", ".tsv"):
            frame = _read_delimited(text, "\t" if suffix == ".tsv" else _sniff_sep(text), str(path))
        elif suffix == ".txt":
            frame = pd.DataFrame({"text": input_lines(text, path.name)})
        elif suffix == ".jsonl":
            frame = pd.DataFrame(_json_lines(text, str(path)))
        else:
            frame = pd.DataFrame(_json_table(text, str(path)))
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(f"cannot parse {str(path)!r}: {str(e).splitlines()[0]}; check the file's format") from None
    except RecursionError:
        raise DataError(f"cannot parse {str(path)!r}: its JSON is nested too deeply; a table needs one object per row") from None
    except TypeError as e:  # rows pandas cannot line up as a table (records mixed with lists)
        raise DataError(f"cannot read {str(path)!r} as a table ({e}); give one JSON object per row") from None
    if frame.columns.empty:  # [], {} or lines of {}
        raise DataError(f"{str(path)!r} holds no columns; {needs or _empty_fix(suffix, labelled)}")
    frame.columns = [str(c) for c in frame.columns]
    if fields and suffix in (".jsonl", ".json"):
        frame = nested_fields(frame)
    if suffix == ".tsv" and len(frame.columns) == 1:
        _check_single_column(str(path), frame.columns[0])
    return frame


def nested_fields(frame: "pd.DataFrame") -> "pd.DataFrame":  # noqa: F821
    """``frame`` with each column of JSON objects (``{"data": {"review": ...}}``) read as a column per field, named by
    its dotted path (``data.review``), in the column's place and as deep as the objects go: a nested field is then named
    as a flat one is (``--text-column data.review``), and the object itself, which is no text nor label, is no column.
    A column holding objects in some rows and other values in others is left as it is (``files`` refuses it by name)."""
    import pandas as pd

    objects = [c for c in frame.columns if (present := frame[c].dropna()).size and all(isinstance(v, dict) for v in present)]
    if not objects:
        return frame
    parts = []
    for column in frame.columns:
        if column not in objects:
            parts.append(frame[[column]])
            continue
        fields = pd.json_normalize([v if isinstance(v, dict) else {} for v in frame[column]], sep=".", max_level=None)
        fields.index = frame.index
        fields.columns = [f"{column}.{c}" for c in fields.columns]
        parts.append(fields)
    return pd.concat(parts, axis=1)


def nested_paths(columns: "list[str]", name: str) -> list[str]:
    """The dotted paths ``nested_fields`` read out of a column of objects called ``name`` (none for another name)."""
    return [c for c in map(str, columns) if c.startswith(f"{name}.")]


UTF_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode_utf8(raw: bytes, where: str, *, path: Path | None = None) -> str:
    """``raw`` as UTF-8 text, a byte-order mark dropped; ``where`` names it in an error, ``path`` (a file, else stdin)
    is what the error's iconv command converts.

    Raises:
        DataError: bytes that are not UTF-8 text, with the encoding they look like: UTF-16 / UTF-32 (by a byte-order
            mark, or by a NUL byte after each ASCII character), Windows-1252 or Latin-1; a binary file (NUL bytes) as such.
    """
    bom = _bom_encoding(raw)
    if bom is None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            bad = f"byte 0x{raw[e.start]:02x} at offset {e.start}"
        else:
            head = raw[:4096]
            if "\x00" not in text:
                return text
            if head.count(0) < 0.05 * len(head):  # UTF-8 text with a stray NUL, not UTF-16 nor a binary file
                line = raw[: raw.index(0)].count(b"\n") + 1
                raise DataError(f"{where} holds a NUL byte (offset {raw.index(0)}, line {line}), which no text holds; "
                                "remove it, e.g. tr -d '\\000'")
            bad = f"a NUL byte at offset {raw.index(0)}"
    if bom:
        source, bad = bom, f"it starts with a {bom.upper()} byte-order mark"
    elif 0 in raw:
        head, bad = raw[:4096], f"a NUL byte at offset {raw.index(0)}"
        odd, even = head[1::2].count(0), head[0::2].count(0)  # UTF-16 of mostly ASCII text: every other byte is 0
        if max(odd, even) < 0.3 * len(head) / 2:
            fix = "save the table as a UTF-8 .csv and give that" if path else "give it text, one input per line"
            raise DataError(f"{where} is not text ({bad}, as in a binary file); {fix}")
        source = "utf-16le" if odd > even else "utf-16be"
        bad = f"{bad}: it looks {source.upper()}"
    else:  # one byte per character: Windows' code page where it has its printable 0x80-0x9f, else Latin-1
        high = set(raw) & set(range(0x80, 0xA0))
        source = "cp1252" if high and not high & {0x81, 0x8D, 0x8F, 0x90, 0x9D} else "latin1"
    if path is not None:
        fix = f"re-save it as UTF-8, e.g. iconv -f {source} -t utf-8 {path.name} > fixed{path.suffix}"
    else:
        fix = f"convert it first, e.g. iconv -f {source} -t utf-8"
    raise DataError(f"{where} is not UTF-8 ({bad}); {fix}")


def _bom_encoding(raw: bytes) -> str | None:
    """"utf-16" / "utf-32" where ``raw`` starts with its byte-order mark and reads as lines of it: a Latin-1 text may
    start with the bytes of one ("\xff\xfe" is "ÿþ")."""
    name = next((name for mark, name in UTF_BOMS if raw.startswith(mark)), None)
    try:
        return name if name and "\n" in raw.decode(name) else None
    except UnicodeDecodeError:
        return None


def input_lines(text: str, source: str | None = None) -> list[str]:
    """The non-blank lines of a text of inputs, one input a line: a line ends at "\\n" (a "\\r" before it is dropped),
    so a .txt file and the same text on stdin give the same inputs; ``str.splitlines`` would also cut at U+2028, a form
    feed or a lone "\\r" inside a line of text. A text with no "\\n" at all ends its lines at "\\r" (classic Mac).

    Args:
        source: where the text came from (a file's name, "standard input"): a blank line between inputs is then
            noted, naming its line, since an output row per input no longer lines up with the input's line numbers.
    """
    if "\n" not in text and "\r" in text.strip():  # classic Mac line ends ("Text (Macintosh)" exports): a line a \r
        lines = text.split("\r")
    else:
        lines = [line.removesuffix("\r") for line in text.split("\n")]
    kept = [line for line in lines if line.strip()]
    if source is not None and kept:
        last = max(i for i, line in enumerate(lines) if line.strip())  # blank lines after the last input: a file's end
        blank = [i + 1 for i, line in enumerate(lines[:last]) if not line.strip()]
        if blank:
            shown = ", ".join(map(str, blank[:5])) + (", …" if len(blank) > 5 else "")
            log.info("%s: %d blank line%s skipped (line %s): the output has a row per non-blank line, so its row numbers "
                     "are not the input's line numbers", source, len(blank), "" if len(blank) == 1 else "s", shown)
    return kept


def _json_lines(text: str, path: str) -> list[Any]:
    """One JSON value per non-blank line, each read as ``_rows`` reads it. Lines end at "\\n" only, as JSON Lines
    defines them: a string may hold a raw U+2028, which ``str.splitlines`` would cut, and an error names the line as an
    editor numbers it.

    Raises:
        DataError: a line that is not JSON, one that is a bare value (a number, a string) where a row goes, or a line
            ``_rows`` refuses.
    """
    lines = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:  # a JSONDecodeError, or a number past int's digit limit
            detail = f"{e.msg} (column {e.colno})" if isinstance(e, json.JSONDecodeError) else str(e).splitlines()[0]
            raise DataError(f"cannot parse {path!r}: line {number}: {detail}; fix that line: each line holds one JSON "
                            "object") from None
        if not isinstance(row, (dict, list)):
            raise DataError(f"line {number} of {path!r} is {json.dumps(row)[:40]}, not a row; each line holds one JSON "
                            'object, e.g. {"text": "...", "label": "..."}')
        lines.append((number, row))
    return _rows(lines, "line", lambda number: f"line {number} of {path!r}",
                 'each line holds one JSON object, e.g. {"text": "...", "label": "..."}')


def _rows(values: list[tuple[int, Any]], unit: str, where: Callable[[int], str], forms: str) -> list[Any]:
    """The rows of a .jsonl file's lines or a .json array's items (``values``: each with its number), read alike: a
    record is a row, an array of records a batch of rows (``[]`` a batch of none); where every one is an array of
    values, each is one row's values, and all are as wide as the first (pandas would pad a short one with NaN).

    Args:
        unit: "line" / "item", and ``where(number)`` that one in full, for a message; ``forms``: the fix it ends with.

    Raises:
        DataError: an array of values beside records, an array mixing records with values, or a row of values wider or
            narrower than the first, each named by ``where`` (the first in the file).
    """
    if values and all(isinstance(v, list) and not any(isinstance(item, dict) for item in v) for _, v in values):
        first, width = values[0][0], len(values[0][1])
        number, row = next(((n, v) for n, v in values if len(v) != width), (0, None))
        if number:
            raise DataError(f"{where(number)} holds {_count(len(row), 'value')} where {unit} {first} holds {width}; give "
                            f"every row {_count(width, 'value')}, one per column (null for a missing one)")
        return [v for _, v in values]
    rows = []
    for number, value in values:
        batch = _records_of(value, where(number))
        if batch is None and not isinstance(value, dict):
            raise DataError(f"{where(number)} is {json.dumps(value)[:40]}, not a record; {forms}")
        rows.extend([value] if batch is None else batch)
    return rows


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _records_of(value: Any, where: str) -> list[dict[str, Any]] | None:
    """The records of an array of records (a batch of rows: a line of a .jsonl file, an item of a .json array; ``[]``
    is a batch of none), or None for anything else (a record, an array of one row's values).

    Raises:
        DataError: an array mixing records with other values, named by ``where`` and the item.
    """
    if value == []:  # beside records, an empty batch; rows of values do not come here ([] is then a row of none)
        return []
    if not isinstance(value, list) or not any(isinstance(item, dict) for item in value):
        return None
    item, bad = next(((i, v) for i, v in enumerate(value, start=1) if not isinstance(v, dict)), (0, None))
    if item:
        raise DataError(f"{where} is an array of records whose item {item} is {json.dumps(bad)[:40]}, not a record; "
                        'give each row as a JSON object, e.g. {"text": "...", "label": "..."}')
    return value


def _json_table(text: str, path: str) -> list[Any] | dict[str, Any]:
    """The rows (or columns) of a .json file, whichever of ``JSON_FORMS`` it is: one JSON document (an array of records,
    an item of which may be an array of records as a .jsonl line may be; an object of columns; pandas' ``to_json`` of
    {column: {row: value}}; or a single record), else JSON lines.

    Raises:
        DataError: a file of none of these forms, naming the forms that are read.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        first = next(line for line in text.split("\n") if line.strip())  # read_frame refuses a blank file
        if e.msg == "Extra data" and _is_json_row(first):  # a value per line: JSON lines, each error named by its line
            return _json_lines(text, path)
        raise DataError(f"cannot parse {path!r}: line {e.lineno}: {e.msg} (column {e.colno}); a .json file holds "
                        f"{JSON_FORMS}") from None
    if isinstance(document, list):  # each item read as a line of a .jsonl file is
        return _rows(list(enumerate(document, start=1)), "item", lambda number: f"item {number} of the array in {path!r}",
                     f"a .json file holds {JSON_FORMS}")
    if not isinstance(document, dict):
        raise DataError(f"{path!r} holds {json.dumps(document)[:40]}, not a table; a .json file holds {JSON_FORMS}")
    columns = list(document.values())
    nested = [name for name, v in document.items() if isinstance(v, list) and v and all(isinstance(row, dict) for row in v)]
    if nested:  # records under a key (SQuAD's "data", a "train" and a "test"), whatever else the object holds
        name = nested[0]
        key = f".{name}" if name.isidentifier() else f".[{json.dumps(name)}]"
        others = f" (and under {', '.join(map(repr, nested[1:]))})" if len(nested) > 1 else ""
        raise DataError(f"the records of {path!r} sit under its key {name!r}{others}; take them out, e.g. jq '{key}' "
                        f"{Path(path).name} > records.json (a .json file holds {JSON_FORMS})")
    if document and all(isinstance(v, list) for v in columns):
        lengths = {name: len(v) for name, v in document.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"the columns of {path!r} differ in length ({', '.join(f'{k}: {n}' for k, n in lengths.items())}); "
                            "give every column one value per row")
        return document
    if document and all(isinstance(v, dict) for v in columns) and len({tuple(v) for v in columns}) == 1 and columns[0]:
        return document  # pandas' to_json: {column: {row: value}}, the same rows in each
    return [document]  # one record: a JSON lines file of one line


def _is_json_row(line: str) -> bool:
    try:
        return isinstance(json.loads(line), (dict, list))
    except (ValueError, RecursionError):
        return False


def _empty_fix(suffix: str, labelled: bool) -> str:
    """What an empty file of this format should hold: only a .csv / .tsv has a header row."""
    rows = "at least a few labelled rows" if labelled else "a row for each input to predict on"
    if suffix in (".csv", ".tsv"):
        return f"it needs a header row and {rows}"
    if suffix == ".txt":
        return f"a .txt holds inputs to predict on; to train, give {LABELLED_TABLE}" if labelled else "it needs one input per line"
    fields = "its text and label" if labelled else "its text"
    if suffix == ".jsonl":
        return f"it needs one JSON object per line, with {fields}"
    if suffix == ".json":
        return f"it needs an array of JSON objects, one per row, with {fields}"
    return f"it needs {rows}"


def _check_single_column(path: str, header: str) -> None:
    """A .tsv read as one column whose name holds another separator was written with that separator."""
    found = [name for sep, name in SEPARATORS.items() if sep != "\t" and sep in header]
    if found:
        raise DataError(f"{path!r} was read as tab-separated but has one column ({header!r}); it looks {found[0]}-separated: "
                        f"rename it to .csv (the separator of a .csv is detected)")


FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_delimited(text: str, sep: str, path: str) -> "pd.DataFrame":  # noqa: F821
    """A CSV / TSV text as a frame of strings.

    Raises:
        DataError: a row with more fields than the header names (an unquoted separator inside a value): pandas reads
            the first such row as an index column, shifting every row, or stops at a later one with a C error.
    """
    import pandas as pd

    name = SEPARATORS[sep]
    quote = f'quote a value that holds a {name}, e.g. "good, not great"' if sep == "," else f"quote a value that holds a {name}"
    try:
        frame = pd.read_csv(io_text(text), sep=sep, dtype=object, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as e:
        found = FIELD_COUNT.search(str(e))
        if not found:
            raise
        header, line, fields = found.groups()
        spaced = _spaced_read(text, sep, path, line)
        if spaced is None:
            raise DataError(f"line {line} of {path!r} has {fields} {name}-separated fields, its header {header}; {quote}") from None
        return spaced
    if not isinstance(frame.index, pd.RangeIndex):  # the first row had more fields: pandas took them as an index
        fields = len(frame.columns) + frame.index.nlevels
        line = [n for n, row in enumerate(text.split("\n"), start=1) if row.strip()][1]  # the first row after the header
        spaced = _spaced_read(text, sep, path, line)
        if spaced is None:
            raise DataError(f"line {line} of {path!r} has {fields} {name}-separated fields, its header {len(frame.columns)}; {quote}")
        return spaced
    return frame


def _spaced_read(text: str, sep: str, path: str, line: int | str) -> "pd.DataFrame | None":  # noqa: F821
    """``text`` read with the spaces after each separator skipped, as a hand-written ``1, "Well, no", rotten`` means
    it (a space before the opening quote makes pandas read the quote as text and split at the comma inside), said in
    a note; None when that reads no better (the plain read's error, at ``line``, stands)."""
    import pandas as pd

    try:
        frame = pd.read_csv(io_text(text), sep=sep, dtype=object, keep_default_na=False, na_values=[""], skipinitialspace=True)
    except pd.errors.ParserError:
        return None
    if not isinstance(frame.index, pd.RangeIndex):
        return None
    log.info("%s: a space stands between a %s and a quoted value's opening quote (line %s), which splits the value at "
             "its own %s; read with the spaces after each %s skipped", Path(path).name, SEPARATORS[sep], line,
             SEPARATORS[sep], SEPARATORS[sep])
    return frame


def io_text(text: str):
    import io

    return io.StringIO(text)


def _sniff_sep(text: str) -> str:
    header = text.splitlines()[0]
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","
