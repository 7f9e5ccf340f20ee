"""Reading ``--eval-data DATA[their=ours]``: an out-of-domain dataset's labels mapped onto a run's.

Labels match by name; where the names differ they are mapped in brackets,
``drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]`` (``-``: rows of that label are left out; a label
holding = , or ] goes in double quotes, ``"a=b"=fresh``), and the built-in pairs carry their mapping (``KNOWN_MAPS``).
A label that maps nowhere is refused with the whole mapping to write (``suggested_map``: by name, never a label onto
its negation). A file's own text and label columns go in the same brackets, ``other.csv[text=txt, label=lab]``
(``COLUMN_KEYS``: unquoted ``text=`` / ``label=``; a label so named is written in double quotes, ``"text"=fresh``).
Torch-free: specs reads ``--eval-data`` with ``parse_eval_data``; ``headstart.ood`` scores the run there.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from headstart.errors import ConfigError

DROP = "-"  # a label mapped to this is left out of the out-of-domain test rows
COLUMN_KEYS = {"text": "text_column", "label": "label_column"}  # [text=COLUMN, label=COLUMN]: a file's own columns
PLACEHOLDER = "?"  # a suggested mapping's stand-in where no run label matches by name: the user picks one
# (dataset, the run's class names) -> mapping of the dataset's labels onto the run's; None drops the label's rows.
KNOWN_MAPS: dict[tuple[str, tuple[str, ...]], dict[str, str | None]] = {
    ("drug-reviews-sentiment", ("fresh", "rotten")): {"negative": "rotten", "positive": "fresh", "neutral": None},
}


QUOTED = r'"(?:[^"\\]|\\.)*"'  # a label in double quotes, as JSON writes a string: it may hold = , [ ] and \"
# One label in a mapping: in double quotes only where a quote opens it and closes it before = , ] or the end, so a lone
# " inside a label (5" screen) is a character; atomic, so a quoted label is never also read char by char (no backtracking).
_LABEL = rf'\s*(?>{QUOTED}\s*(?=[,=\]]|$)|[^,=\]]*)'
_LABEL_AT = re.compile(_LABEL)


def parse_eval_data(text: str, flag: str = "--eval-data") -> tuple[str, dict[str, str | None]]:
    """``"drug-reviews-sentiment[negative=rotten, neutral=-]"`` -> ``("drug-reviews-sentiment", {"negative": "rotten",
    "neutral": None})``; a name without brackets maps nothing. A label holding = , or ] is written in double quotes
    (``"a=b"=pos``, as ``written`` writes it); a " that does not open a label is part of it (``5" screen=pos``).
    ``flag``: the option the text came from, for errors. The file's columns (``text=``, ``label=``) are
    ``eval_columns``'."""
    return parse_eval_entry(text, flag)[:2]


def eval_columns(text: str, flag: str = "--eval-data") -> dict[str, str]:
    """``"other.csv[text=txt, label=lab]"`` -> ``{"text_column": "txt", "label_column": "lab"}``: the columns the file
    is read by (``load_dataset``'s keywords); empty where none is named."""
    return parse_eval_entry(text, flag)[2]


def parse_eval_entry(text: str, flag: str = "--eval-data") -> tuple[str, dict[str, str | None], dict[str, str]]:
    """``(name, label mapping, columns)`` of one ``--eval-data`` entry (``parse_eval_data``, ``eval_columns``)."""
    match = re.match(rf"^\s*(.*?)\s*(?:\[({_LABEL}(?:[,=]{_LABEL})*)\])?\s*$", str(text))
    name, inside = (match.group(1), match.group(2)) if match else ("", None)
    if not name:
        raise ConfigError(f"{flag} {text!r} names no dataset; e.g. {flag} drug-reviews-sentiment")
    if inside is None and "[" in name and "]" not in name[name.rfind("["):] and not Path(name).exists():
        raise ConfigError(f"{flag} {text!r}: the brackets after {name[:name.rfind('[')].strip()!r} have no closing ']'; e.g. "
                          f"{flag} {shlex.quote(name + ']')}")  # else read as a file name, "not found"
    mapping: dict[str, str | None] = {}
    columns: dict[str, str] = {}
    pending = ""
    for piece in _unquoted_split(inside or "", ","):  # "Diabetes, Type 2=-": a piece without = joins the next
        pending = f"{pending},{piece}" if pending.strip() else piece
        label, *rest = _unquoted_split(pending, "=")
        if rest:
            target = "=".join(rest).strip()
            if label.strip() in COLUMN_KEYS:  # unquoted text= / label=: a column of the file, not a label
                if not target or target == DROP:
                    raise ConfigError(f"{flag} {text!r}: {label.strip()}= names a column of the file, got {target!r}; "
                                      f"e.g. {name}[text=review, label=sentiment]")
                columns[COLUMN_KEYS[label.strip()]] = _unquoted(target)
            else:
                mapping[_unquoted(label)] = None if target == DROP else _unquoted(target)
            pending = ""
    if pending.strip():
        raise ConfigError(f"{flag} {text!r}: expected LABEL=RUN_LABEL inside [...], got {pending.strip()!r}; "
                          f"e.g. {name}[negative=rotten, neutral=-]")
    return name, mapping, columns


def _unquoted_split(text: str, sep: str) -> list[str]:
    """``text`` split at each ``sep`` outside a double-quoted label."""
    parts, start, at = [], 0, 0
    while True:
        at = _LABEL_AT.match(text, at).end()  # a label, a quoted one passed over whole
        if at >= len(text):
            return [*parts, text[start:]]
        if text[at] == sep:
            parts.append(text[start:at])
            start = at + 1
        at += 1


def _unquoted(text: str) -> str:
    """One side of LABEL=RUN_LABEL as the label it names: a double-quoted one as JSON reads it, else stripped."""
    text = text.strip()
    try:
        return json.loads(text) if re.fullmatch(QUOTED, text) else text
    except ValueError:  # an escape JSON does not know ("\q"): the text as typed
        return text


def written(label: str) -> str:
    """``label`` as a mapping writes it: in double quotes where it holds = , [ ] " or spaces at an end, or is -."""
    plain = label == label.strip() and label != DROP and not any(c in label for c in '=,[]"')
    return label if plain and label else json.dumps(label, ensure_ascii=False)


def label_map(name: str, labels: tuple[str, ...], run_labels: tuple[str, ...],
              given: dict[str, str | None], flag: str = "--eval-data") -> tuple[dict[str, str | None], str | None]:
    """Each of DATA's labels -> the run's label it stands for (None: left out), and the note that says what was mapped.

    Raises:
        ConfigError: a label of DATA that matches none of the run's and is not mapped, or a mapping onto a label the
            run does not have; the message shows the mapping to write.
    """
    known = KNOWN_MAPS.get((name, tuple(sorted(run_labels))))
    mapping = {label: label for label in labels if label in run_labels}
    mapping.update({**(known or {}), **given})  # what is given overrides the built-in pair, label by label
    unknown = [label for label in labels if label not in mapping]
    stray = [label for label in given if label not in labels]
    wrong = sorted({t for t in mapping.values() if t is not None and t not in run_labels})
    if unknown or stray or wrong:
        theirs, ours = ", ".join(map(written, labels)), ", ".join(map(written, run_labels))  # "a, b" quoted: one label
        what = "; ".join([*([f"its label(s) {unknown} match none of the run's ({ours})"] if unknown else []),
                          *([f"it has no label(s) {stray} (it has {theirs})"] if stray else []),
                          *([f"the run has no label(s) {wrong} (it has {ours})"] if wrong else [])])
        suggested = suggested_map(labels, run_labels, mapping, given)
        example = ", ".join(f"{written(k)}={DROP if v is None else written(v)}" for k, v in suggested.items())
        pick = (f"; put one of the run's labels ({ours}) or {DROP} for each {PLACEHOLDER}"
                if PLACEHOLDER in suggested.values() else "")
        raise ConfigError(f"{flag} {name}: {what}; map them by name, e.g. {flag} {shlex.quote(f'{name}[{example}]')} "
                          f"(a label mapped to {DROP} is left out{pick})")
    if all(mapping[label] is None for label in labels):
        raise ConfigError(f"{flag} {name}: every label is mapped to {DROP}, so no test row would be left; map at "
                          f"least one onto the run's ({', '.join(run_labels)})")
    moved = {k: mapping[k] for k in labels if mapping[k] != k}  # in the dataset's label order
    if not moved:
        return mapping, None
    shown = ", ".join(f"{k} as {v}" if v is not None else f"{k} left out" for k, v in moved.items())
    filled = [k for k in moved if k not in given and known and k in known]  # a partial mapping: the built-in pair's rest
    source = (" (built-in pair)" if known and not given else
              f" ({', '.join(map(written, filled))} as the built-in pair maps {'it' if len(filled) == 1 else 'them'})" if filled else "")
    return mapping, f"{name}'s labels read as the run's: {shown}" + source


def suggested_map(labels: tuple[str, ...], run_labels: tuple[str, ...], mapping: dict[str, str | None],
                  given: dict[str, str | None]) -> dict[str, str | None]:
    """The whole mapping to write for DATA's ``labels``: every label that does not match one of the run's by name, so
    following the example leaves none out. A label ``mapping`` maps well keeps its target; any other takes what
    ``given`` maps a misspelling of it to (``mhe=-`` for ``meh``), else the run's label it or its wrong target clearly
    names (``same_by_name``: negative=neg) among the run's labels no other label matched (nontoxic=non-toxic where toxic
    matched toxic, never nontoxic=toxic). What is left is ``-`` where every run label already has a match (neutral
    beside negative=neg, positive=pos), else ``PLACEHOLDER``: a pairing by position would read as meant (neutral=pos).
    """
    stray = [label for label in given if label not in labels]
    valid = {k: v for k, v in mapping.items() if k in labels and (v is None or v in run_labels)}
    free = [r for r in run_labels if r not in valid.values()]  # a run label matched already is no one else's (toxic)
    out: dict[str, str | None] = {}
    for label in labels:
        if label in valid:
            if valid[label] != label:
                out[label] = valid[label]
            continue
        typed = same_by_name(label, [k for k in stray if given[k] is None or given[k] in run_labels])
        wrong = mapping.get(label)
        near = same_by_name(label, free) or (same_by_name(wrong, free) if wrong else None)
        if near and not typed:
            free.remove(near)  # one suggestion a run label: pos and positive are not both sent to positive_review
        out[label] = given[typed] if typed else near if near else PLACEHOLDER
    if {*run_labels} <= {*valid.values(), *out.values()}:  # each run label has its match: the rest have none
        out = {k: None if v == PLACEHOLDER else v for k, v in out.items()}
    return out


def same_by_name(label: str, names: list[str] | tuple[str, ...]) -> str | None:
    """The one of ``names`` that ``label`` clearly names, ignoring case: the same word, else the only one that begins
    the other or stands inside it (neg / negative; 3 characters at least inside), else the only one difflib finds close
    (pso / pos), else None — two equally good candidates are no clear match. A name that is ``label`` negated
    (``opposite``: unhelpful / helpful) is never its match, however alike they are written."""
    from difflib import SequenceMatcher

    low = str(label).strip().casefold()
    folded = {name: str(name).strip().casefold() for name in names if not opposite(str(label), str(name))}
    for test in (lambda a, b: a == b,
                 lambda a, b: min(len(a), len(b)) >= 2 and (a.startswith(b) or b.startswith(a)),
                 lambda a, b: min(len(a), len(b)) >= 3 and (a in b or b in a)):
        found = [name for name, other in folded.items() if low and other and test(low, other)]
        if len(found) == 1:
            return found[0]
        if found:
            return None
    ratios = sorted(((SequenceMatcher(None, low, other).ratio(), name) for name, other in folded.items()), reverse=True)
    if ratios and ratios[0][0] >= 0.6 and (len(ratios) == 1 or ratios[1][0] < ratios[0][0]):
        return ratios[0][1]
    return None


NEGATIONS = ("non", "not", "no", "un", "in", "dis", "anti")  # prefixes that make a label its opposite


def opposite(a: str, b: str) -> bool:
    """Whether one label is the other with a negating prefix, ignoring case, spaces, - and _: nontoxic / toxic,
    not_spam / spam, un-helpful / helpful."""
    a, b = (re.sub(r"[\W_]+", "", x.casefold()) for x in (a, b))
    short, long = sorted((a, b), key=len)
    return len(short) >= 4 and any(long == p + short for p in NEGATIONS)  # 4: not index / dex, notice / ice


def check_columns_for_eval(data: str, *, text_column: str | None, label_column: str | None, eval_data: list[str] | None,
                           builtin: bool) -> None:
    """Refuse ``--text-column`` / ``--label-column`` beside ``--eval-data`` on a built-in ``data`` (``builtin``): they
    name the training file's columns, and a user who meant the eval file's is told its brackets.

    Raises:
        ConfigError: which flag, and the ``--eval-data 'FILE[text=COLUMN, label=COLUMN]'`` to write instead.
    """
    given = {k: v for k, v in (("text", text_column), ("label", label_column)) if v}
    if not (builtin and given and eval_data):
        return
    flags = " and ".join(f"--{k}-column {v!r}" for k, v in given.items())
    file = parse_eval_data(eval_data[0])[0]
    from headstart.surface import spoken

    example = f"{file}[{', '.join(f'{k}={v}' for k, v in given.items())}]"
    raise ConfigError(f"{flags} name{'' if len(given) > 1 else 's'} the columns of the training data, but {data!r} is a "
                      f"built-in dataset whose columns are fixed; an --eval-data file's own columns go in its brackets: "
                      + spoken(f"--eval-data {shlex.quote(example)}", f"eval_data={example!r}"))
