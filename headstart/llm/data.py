"""Text tables for generation: prompt/response rows (sft) and prompt/chosen/rejected rows (prefer), with fixed splits.

A user file (``frames.data_files``: csv, tsv, jsonl, json, parquet) names its columns; its rows split train / validation / test as its ``split``
column says (unless ``group_column`` is given), else by a seeded permutation of whole groups (10% / 10% of them for validation and test): the values of
``group_column``, by default the prompt text where prompts repeat, so that a prompt answered several times never
has an answer on each side (a file whose prompts never repeat, or that has fewer than ``PROMPT_GROUPS`` distinct
ones, templates, splits by row). Two built-ins come from the rotten-tomatoes corpus (critic reviews with movie names, fresh or
rotten), split by movie so that train, validation and test movies are disjoint:

- ``rotten-tomatoes-sft``: "Write a positive review of <Movie>." → a fresh review of it, and "Write a negative review
  of <Movie>." → a rotten one (every fresh / rotten review of a movie that has both kinds);
- ``rotten-tomatoes-preferences``: the positive prompt with chosen = a fresh review, rejected = a rotten one of the
  same movie, and the negative prompt the other way round (min(#fresh, #rotten) pairs per movie and prompt, reviews
  paired by a seeded shuffle).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headstart.data.frames import INPUTS_ONLY, data_files, read_frame
from headstart.data.preferences import SENTIMENTS, SPLIT_SEED, preference_columns, review_prompt, split_groups
from headstart.errors import ConfigError, DataError, clipped, closest

SPLITS = ("train", "validation", "test")
log = logging.getLogger(__name__)  # rows dropped while reading; the CLI prints these as "note: ..." lines


@dataclass(frozen=True)
class TextTable:
    """Named string columns of equal length and each row's split.

    Attributes:
        name: built-in name or file path.
        columns: column -> values, one per row.
        split: (rows,) "train" / "validation" / "test".
        hash: content hash of the columns and split (part of a run's spec).
        dropped: what reading the file left out, in words (``dropped 3 rows with an empty 'response'``), or "".
    """

    name: str
    columns: dict[str, list[str]]
    split: np.ndarray
    hash: str
    dropped: str = ""

    def rows(self, split: str) -> np.ndarray:
        """Row indices of ``split``, in table order."""
        return np.flatnonzero(self.split == split)

    def spread(self, split: str, count: int) -> np.ndarray:
        """``count`` rows of ``split`` drawn with a fixed seed (the same for every run), in table order: a slice that
        covers many groups (movies), where the first rows would be a few."""
        rows = self.rows(split)
        return np.sort(np.random.default_rng(SPLIT_SEED).permutation(rows)[:count])


def _hash(columns: dict[str, list[str]], split: np.ndarray) -> str:
    h = hashlib.sha256()
    for name in sorted(columns):
        h.update(name.encode())
        for value in columns[name]:
            h.update(value.encode() + b"\x00")
    h.update("".join(split).encode())
    return h.hexdigest()[:16]


def read_table(path: str, columns: dict[str, str], *, group_column: str | None = None) -> TextTable:
    """Read ``path`` keeping ``columns`` (role -> column name), dropping rows with an empty value.

    Raises:
        DataError: unreadable file, a missing column (naming the ones there), a column of lists or dicts (a chat's
            messages) rather than text, too few rows, or a bad split column.
    """
    frame = read_frame(path, needs=f"give a table with {' / '.join(columns.values())} columns ({data_files(labelled=True)}), "
                                  f"e.g. {_example_table(columns)}", fields=False)  # not a classifier's text and label
    if Path(path).suffix.lower() in INPUTS_ONLY:  # one column, "text": naming a column cannot help
        raise DataError(f"{str(path)!r} holds one input per line, not a table of {' / '.join(columns)} columns; give "
                        f"{data_files(labelled=True)} with a column for each, e.g. {_example_table(columns)}")
    needed = list(dict.fromkeys(list(columns.values()) + ([group_column] if group_column else [])))
    missing = [column for column in needed if column not in frame.columns]
    if missing:  # every one named at once: a second run should not find the next
        chats = [c for c in frame.columns if _is_chat(_first(frame[c]))]
        if chats:  # a chat file: naming a column of it cannot help
            raise DataError(f"{_columns_text(missing)} not in {str(path)!r}: its {str(chats[0])!r} column holds chat turns "
                            f"(role/content lists), which are not read; {_chat_fix(columns)}")
        raise DataError(_missing_columns(missing, path, list(frame.columns), columns))
    for role, column in columns.items():
        structured = frame[column].map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray)))
        if structured.any():  # astype(str) would train on its Python repr, "[{'role': 'user', ..."
            cell = frame[column][structured].iloc[0]
            chat = _is_chat(cell)
            raise DataError(f"column {column!r} of {str(path)!r} holds {'chat turns (role/content lists)' if chat else type(cell).__name__ + 's'}, "
                            f"not text (row {int(np.flatnonzero(structured)[0]) + 1}: {clipped(repr(cell), 50)}); --{role}-column "
                            f"needs one text per row: " + (_chat_fix(columns) if chat else "name a column of plain text, or flatten this one first"))
    values = {role: frame[c].fillna("").astype(str).str.strip() for role, c in columns.items()}
    keep = np.logical_and.reduce([(v != "").to_numpy() for v in values.values()])
    dropped = empty_cells_note({columns[role]: int((v == "").sum()) for role, v in values.items()}, int((~keep).sum()))
    if dropped:
        log.info("%s: %s", Path(path).name, dropped)
    frame = frame[keep]
    if len(frame) < 3:
        raise DataError(f"{str(path)!r} has {_rows(len(frame))} with every column filled"
                        + (f" ({dropped})" if dropped else "") + "; it needs at least 3 (train, validation, test)")
    table = {role: values[role][keep].tolist() for role in columns}
    if "split" in frame.columns and not group_column:
        split = frame["split"].astype(str).str.strip().str.lower().replace({"val": "validation", "valid": "validation", "dev": "validation"}).to_numpy()
        bad = sorted(set(split) - set(SPLITS))
        if bad:
            raise DataError(f"the split column of {str(path)!r} holds {bad[0]!r}; use train, validation or test")
    else:
        split = split_groups(_groups(frame, table, group_column))
    split = np.asarray(split, dtype=str)
    return TextTable(str(path), table, split, _hash(table, split), dropped)


def empty_cells_note(empty: dict[str, int], rows: int) -> str:
    """The note on a file's rows dropped for an empty cell (``empty``: column -> its empty cells; ``rows``: the rows
    dropped): ``dropped 3 rows with an empty 'response'``, each column named with its count where several have
    empties; "" where none was dropped."""
    named = {column: count for column, count in empty.items() if count}
    if not rows:
        return ""
    which = (f"an empty {next(iter(named))!r}" if len(named) == 1 else
             "an empty cell (" + ", ".join(f"{count} in {column!r}" for column, count in named.items()) + ")")
    return f"dropped {_rows(rows)} with {which}"


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def _first(cells: "pd.Series") -> object:  # noqa: F821
    """The first cell that is not missing (None where there is none)."""
    filled = cells.dropna()
    return filled.iloc[0] if len(filled) else None


def _is_chat(cell: object) -> bool:
    """Whether ``cell`` is a chat: a list of {"role": ..., "content": ...} messages (a jsonl ``messages`` column)."""
    return (isinstance(cell, (list, tuple, np.ndarray)) and len(cell) > 0
            and all(isinstance(m, dict) and "role" in m and "content" in m for m in cell))


def _chat_fix(columns: dict[str, str]) -> str:
    """How to turn chats into the plain-text columns ``columns`` (role -> column) reads: sft and prefer take one prompt
    and its answer(s) per row, so a conversation's turns before its last assistant turn are its prompt."""
    answers = " / ".join(r for r in columns if r != "prompt")
    return (f"write each chat's last user turn into a prompt column and its last assistant turn into "
            f"{answers + ' columns' if '/' in answers else 'a ' + answers + ' column'} (the contents only; multi-turn chats are not read)")


def check_roles(columns: dict[str, str]) -> None:
    """Refuse one column named for two roles (``--prompt-column messages --response-column messages`` would learn to
    repeat the prompt; ``--rejected-column chosen`` would prefer a response over itself).

    Raises:
        ConfigError: naming both flags and the column.
    """
    seen: dict[str, str] = {}
    for role, column in columns.items():
        if column in seen:
            raise ConfigError(f"--{seen[column]}-column and --{role}-column both name {column!r}; each needs its own "
                              f"column, e.g. --{seen[column]}-column {seen[column]} --{role}-column {role}")
        seen[column] = role


EXAMPLE_ROW = {"prompt": "Write a haiku about rain.", "response": "Soft rain on the roof",
               "chosen": "Soft rain on the roof", "rejected": "Rain is water"}


def _example_table(columns: dict[str, str]) -> str:
    """A .csv of ``columns`` (role -> column name) as a message shows it: its header and one row."""
    row = ",".join(f'"{EXAMPLE_ROW.get(role, "...")}"' for role in columns)
    return f"a .csv whose header is {','.join(columns.values())} and whose rows read like {row}"


PROMPT_GROUPS = 20  # fewer distinct prompts are templates ("Write a positive review."): holding one out would keep it
# from training altogether, so such a file splits by row


def _groups(frame: "pd.DataFrame", table: dict[str, list[str]], group_column: str | None) -> np.ndarray:  # noqa: F821
    """What keeps rows on one side of the split: ``group_column``'s values, else the prompt text, else each row alone."""
    if group_column:
        return frame[group_column].astype(str).to_numpy()
    prompts = np.asarray(table.get("prompt", ()), dtype=object)
    distinct = len(set(prompts.tolist()))
    if PROMPT_GROUPS <= distinct < len(prompts):  # prompts that repeat, and enough of them to hold some out
        return prompts.astype(str)
    return np.arange(len(frame)).astype(str)


def _columns_text(names: list[str]) -> str:
    """``column 'a'`` or ``columns 'a' and 'b'`` (``'a', 'b' and 'c'``)."""
    quoted = [repr(n) for n in names]
    return f"column {quoted[0]}" if len(quoted) == 1 else f"columns {', '.join(quoted[:-1])} and {quoted[-1]}"


# How alike (difflib's ratio) a file's column must be to a missing one to be suggested: 'responses' (0.94), 'Prompt'
# and 'txt' for 'text' (0.86) are; 'question' for 'response' (0.5, the default cutoff) was suggested, wrongly.
COLUMN_CUTOFF = 0.6


def _missing_columns(missing: list[str], path: str, present: list, columns: dict[str, str]) -> str:
    """One line naming every column of ``missing`` the file at ``path`` lacks, the columns it has, and each one's flag."""
    flags = [f"--{_flag(columns, c)}" for c in missing]
    near = [closest(c, present, cutoff=COLUMN_CUTOFF) for c in missing]  # 'response' is not 'question' (0.5 alike)
    if len(missing) == 1:
        return (f"column {missing[0]!r} not in {str(path)!r}{near[0]} "
                f"(columns: {', '.join(map(str, present))}); name it with {flags[0]}")
    hints = [hint.removeprefix("; ") for hint in near]
    named = [f"{c!r}" + (f" ({hint})" if hint else "") for c, hint in zip(missing, hints)]
    return (f"columns {', '.join(named[:-1])} and {named[-1]} not in {str(path)!r} (columns: {', '.join(map(str, present))}); "
            f"name them with {', '.join(flags[:-1])} and {flags[-1]}")


def _flag(columns: dict[str, str], column: str) -> str:
    role = next((r for r, c in columns.items() if c == column), "group")
    return f"{role}-column"


def _reviews() -> "pd.DataFrame":  # noqa: F821 - pandas imported lazily
    from headstart.data.builtin import critic_reviews

    return critic_reviews()


def rotten_tomatoes_sft() -> TextTable:
    """Prompt → a review of the asked sentiment, one row per review (``prompt``, ``response``, ``sentiment``)."""
    frame = _reviews()
    prompts = [review_prompt(SENTIMENTS[c], m) for c, m in zip(frame["category"], frame["movie"])]
    table = {"prompt": prompts, "response": frame["text"].tolist(), "sentiment": [SENTIMENTS[c] for c in frame["category"]]}
    split = split_groups(frame["movie"].to_numpy())
    return TextTable("rotten-tomatoes-sft", table, split, _hash(table, split))


def rotten_tomatoes_preferences() -> TextTable:
    """Prompt / chosen / rejected (and ``sentiment``, the asked one): fresh over rotten for a positive prompt, rotten
    over fresh for a negative one, reviews of the same movie (``data.preferences.preference_columns``)."""
    table, movies = preference_columns(_reviews())
    split = split_groups(movies)
    return TextTable("rotten-tomatoes-preferences", table, split, _hash(table, split))


BUILTINS = {"rotten-tomatoes-sft": rotten_tomatoes_sft, "rotten-tomatoes-preferences": rotten_tomatoes_preferences}
DESCRIPTIONS = {  # listed by headstart datasets beside the classification sets
    "rotten-tomatoes-sft": "sft: 'Write a positive / negative review of <Movie>.' -> a fresh / rotten critic review (12,396; split by movie)",
    "rotten-tomatoes-preferences": "prefer: the same prompts, chosen = a review of the asked sentiment, rejected = the other, same movie (6,452 pairs)",
}


def load_table(name_or_path: str, columns: dict[str, str], *, group_column: str | None = None) -> TextTable:
    """A built-in table (its own column names; ``columns`` maps roles onto them) or a user file.

    Raises:
        DataError: an unknown name that is no file, a built-in asked for columns it lacks, or the file's errors.
        ConfigError: one column named for two roles.
    """
    check_roles(columns)
    if name_or_path in BUILTINS:
        if group_column:
            raise ConfigError(f"{name_or_path} has its own split (by movie); --group-column is for a file")
        table = BUILTINS[name_or_path]()
        missing = [c for c in columns.values() if c not in table.columns]
        if missing:
            renamed = any(role != column for role, column in columns.items())  # the user named columns (--*-column)
            fix = ("drop the --*-column options for it" if renamed else
                   f"this command reads {', '.join(columns)}: use {' or '.join(b for b in BUILTINS if b != name_or_path)}, or a file with those columns")
            raise DataError(f"the built-in {name_or_path!r} has columns {', '.join(table.columns)}, not {missing[0]!r}; {fix}")
        return TextTable(table.name, table.columns | {role: table.columns[c] for role, c in columns.items()}, table.split, table.hash)
    if not Path(name_or_path).exists() and "." not in Path(name_or_path).name:
        from headstart.data.builtin import REGISTRY

        if name_or_path in REGISTRY:  # a classification dataset: it exists, as the wrong kind for a language model's data
            raise DataError(f"{name_or_path!r} is a labelled dataset for train / compare, not prompts and answers for a "
                            f"language model{closest(name_or_path, BUILTINS)} (built-in: {', '.join(BUILTINS)}; or "
                            f"{data_files(labelled=True)})")
        raise DataError(f"unknown dataset {name_or_path!r}{closest(name_or_path, BUILTINS)} (built-in: {', '.join(BUILTINS)}; "
                        f"or {data_files(labelled=True)})")
    return read_table(name_or_path, columns, group_column=group_column)
