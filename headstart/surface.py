"""Who calls headstart, the CLI or Python, and a message's ``--flag``s in the caller's words (``n=64``, ``lr = 1e-5``);
a Python call as written (``call_text``: what a report names as having produced it)."""

from __future__ import annotations

import contextvars
import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any


# Messages name the CLI's flags ("try --n 64"). Called from Python, a public function's error names its parameters
# instead ("try n=64"): the CLI marks its calls (``cli_surface``), and ``python_named`` rewrites at the API boundary.
_SURFACE: contextvars.ContextVar[str] = contextvars.ContextVar("headstart_surface", default="python")
SURFACE_ENV = "HEADSTART_SURFACE"
_FLAG = re.compile(r"(?<![\w/-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?: (\S+?))?(?=\s|;|,\s|,$|\)|\.\s|\.$|$)")
_ASKS = {"try", "e.g.", "pass", "use", "add", "give", "set", "or", "write", "drop"}  # a value follows: "try --n 64"
_PROSE = {"is", "are", "was", "were", "be", "must", "and", "or", "to", "a", "an", "the", "takes", "needs", "both", "also",
          "only", "alone", "choose", "chooses", "says", "say", "gives", "reads", "has", "have", "does", "do", "can",
          "cannot", "would", "will", "applies", "apply", "searches", "changes", "tries", "writes", "for", "of", "on", "in"}
_PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*|…|\.\.\.")
_QUOTES = "'\""
_RENAMED = {"option": "options"}  # the CLI's flag -> the Python parameter, where they differ


def cli_surface() -> tuple[contextvars.Token, str | None]:
    """Mark what runs from here on as called by the CLI: its errors keep naming flags — in this process and in the
    worker processes it starts (``$HEADSTART_SURFACE``). Returns what ``reset_surface`` restores."""
    before = os.environ.get(SURFACE_ENV)
    os.environ[SURFACE_ENV] = "cli"
    return _SURFACE.set("cli"), before


def reset_surface(marked: tuple[contextvars.Token, str | None]) -> None:
    token, before = marked
    _SURFACE.reset(token)
    if before is None:
        os.environ.pop(SURFACE_ENV, None)
    else:
        os.environ[SURFACE_ENV] = before


def on_cli() -> bool:
    return _SURFACE.get() == "cli" or os.environ.get(SURFACE_ENV) == "cli"


def python_names(message: str, names: set[str], aliases: dict[str, str] | None = None, *,
                 settings: set[str] | frozenset[str] = frozenset()) -> str:
    """``message`` with each ``--flag [VALUE]`` whose parameter is in ``names`` written as Python: ``n=64``,
    ``arms='naive,ewc'``, a bare ``arms`` where no value follows (``--arms is empty`` -> ``arms is empty``). ``aliases``:
    a function's own flag -> parameter where the names differ (``load_backbone``: ``{"backbone": "name_or_path"}``).
    ``settings``: fields the function takes only through its ``config``, written so: ``config={'max_steps': 6}``, a
    bare one ``config's max_steps``."""
    renames = {**_RENAMED, **(aliases or {})}

    def renamed(match: re.Match) -> str:
        said = spelled(match)
        name = renames.get(match.group(1), match.group(1).replace("-", "_"))
        if name not in settings or said == match.group(0):
            return said
        body, colon = (said[:-1], ":") if said.endswith(":") else (said, "")
        if body.startswith(name + "="):  # max_steps=6 -> config={'max_steps': 6}
            return f"config={{{name!r}: {body[len(name) + 1:]}}}{colon}"
        return "config's " + said

    def spelled(match: re.Match) -> str:
        flag, value = match.group(1), match.group(2)
        if value is not None and len(value) > 3 and value[-1] == ":" and value[0] in _QUOTES and value[-2] == value[0]:
            said = renamed_value(match, flag, value[:-1])  # "--eval-data 'x': ..." -> "eval_data='x': ..."
            return said if said == match.group(0) else said + ":"
        return renamed_value(match, flag, value)

    def renamed_value(match: re.Match, flag: str, value: str | None) -> str:
        name = renames.get(flag, flag.replace("-", "_"))
        if name not in names | settings or any(a <= match.start() < b for a, b in commands):
            return match.group(0)  # not this function's, or inside a shell command the message quotes
        if value is not None and (value[:1] in "'\"" and (len(value) < 2 or value[-1] != value[0])
                                  or value.endswith((":", ".")) or value.startswith("/--")):
            return match.group(0)  # a value cut short (a quoted one with spaces), or punctuation: left as the CLI's
        before = message[:match.start()].split()
        asked = bool(before) and before[-1].lower().lstrip("([") in _ASKS  # "(pass --task classification ...)" too
        if name == "options" and value is not None and "=" in value:  # --option KEY=VALUE -> options={'KEY': VALUE}
            key, _, given = value.partition("=")
            return f"options={{{key!r}: {given}}}"
        if value is not None and (value.lower() in _PROSE or value.startswith("(")):
            return f"{name} {value}"  # "--arms is empty", "drop --bn (image runs only)": a sentence goes on, no value
        if value is None or not (asked or re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?|'.*'|\".*\"", value)
                                 or re.search(r"[/=\[\],]", value) or _PLACEHOLDER.fullmatch(value)):
            return name + ("" if value is None else f" {value}")
        if re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?|'.*'|\".*\"", value) or _PLACEHOLDER.fullmatch(value):
            return f"{name}={value}"
        return f"{name}={value!r}"

    commands = [m.span() for m in re.finditer(r"headstart [a-z][a-z-]*[^;)]*", message)]
    return _FLAG.sub(renamed, message)


def toml_names(message: str, names: set[str]) -> str:
    """``message`` with each ``--flag VALUE`` whose settings field is in ``names`` written as a TOML file sets it:
    ``try --lr 1e-5`` -> ``try lr = 1e-5``, ``--schedule cosine`` -> ``schedule = "cosine"``; a bare ``--flag`` -> its key."""
    def renamed(match: re.Match) -> str:
        flag, value = match.group(1), match.group(2)
        name = flag.replace("-", "_")
        if name not in names:
            return match.group(0)
        if value is None or value.lower() in _PROSE:
            return name + ("" if value is None else f" {value}")
        if re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?|true|false", value) or _PLACEHOLDER.fullmatch(value):
            return f"{name} = {value}"
        return f"{name} = {toml_text(value.strip(_QUOTES))}"

    return _FLAG.sub(renamed, message)


def spoken(cli: str, python: str) -> str:
    """``cli`` to the CLI's user, ``python`` to a Python caller: for a fix whose Python spelling is no plain rename of
    the flag (``--grid lora=...`` is ``grids={'lora': [...]}``, ``--no-tune`` is ``tune=None``)."""
    return cli if on_cli() else python


def setting_text(name: str, value: Any) -> str:
    """The settings field ``name`` set to ``value`` as the user writes it: ``name = value`` in a TOML file (the CLI's way
    to a settings field), ``name=value`` as a Python keyword."""
    return f"{name} = {toml_text(value)}" if on_cli() else f"{name}={value!r}"


def toml_text(value: Any) -> str:
    """``value`` as a TOML file writes it: ``true``, ``"x"``, ``[16, "all"]``, ``{ weight = 100 }``; a number as Python writes it (TOML reads
    ``1e-05`` and ``inf`` too)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(map(toml_text, value))}]"
    if isinstance(value, dict):  # an inline table: { ewc = { weight = 100 } }
        return "{ " + ", ".join(f"{k} = {toml_text(v)}" for k, v in value.items()) + " }" if value else "{}"
    return repr(value)


_PY_VALUE = re.compile(r"""\b(got|entry|did you mean) ('(?:[^'\\]|\\.)*'|\[(?:[^\[\]'"]|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")*\])""")


def toml_values(message: str, key: str | None = None) -> str:
    """``message`` (a settings check's, which quotes values as Python writes them) with the values it names written as
    a TOML file writes them: ``got 'meen'`` -> ``got "meen"``, ``entry 'a'`` -> ``entry "a"``, ``got ['a', 1]`` ->
    ``got ["a", 1]``, and ``did you mean 'fp32'?`` -> ``did you mean precision = "fp32"?`` where ``key`` names it.
    The file's path (``in 'sweep.toml'``) and the names of keys and tables stay as they are."""
    import ast

    def rewritten(match: re.Match) -> str:
        lead, text = match.group(1), match.group(2)
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return match.group(0)
        return f"{lead} {key} = {toml_text(value)}" if lead == "did you mean" and key else f"{lead} {toml_text(value)}"

    return _PY_VALUE.sub(rewritten, message)


def call_text(name: str, function: Any, arguments: dict[str, Any]) -> str:
    """``name(...)`` with the arguments that differ from ``function``'s defaults, as Python would read them back:
    ``headstart.compare(strategies='lora', seeds=3, config=TrainConfig(max_steps=20))``. An object given for data (a
    Dataset, a DataFrame) is named by its type, its contents being no literal."""
    import inspect

    parts = [f"{p.name}={_literal(arguments[p.name])}" for p in inspect.signature(function).parameters.values()
             if p.name in arguments and not (_is_literal(arguments[p.name]) and arguments[p.name] == p.default)]
    return f"{name}({', '.join(parts)})"


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, Path)) or (
        isinstance(value, (list, tuple, dict)) and all(_is_literal(v) for v in (value.values() if isinstance(value, dict) else value)))


def _literal(value: Any) -> str:
    if isinstance(value, Path):
        return repr(str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # only the fields set away from their defaults
        fields = [f"{f.name}={_literal(getattr(value, f.name))}" for f in dataclasses.fields(value)
                  if f.default is not dataclasses.MISSING and getattr(value, f.name) != f.default]
        return f"{type(value).__name__}({', '.join(fields)})"
    return repr(value) if _is_literal(value) else f"<{type(value).__name__}>"
