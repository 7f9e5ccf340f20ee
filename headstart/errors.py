"""User-facing errors: one line naming the bad value and the fix.

Every mistake a user can make (a bad path, an unknown name, an out-of-range number) raises a
``HeadstartError`` subclass. The CLI prints ``error: <message>`` and exits with status 2; no traceback.
"""

from __future__ import annotations

import ast
import contextvars
import dataclasses
import difflib
import errno
import functools
import inspect
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any


class HeadstartError(Exception):
    """Base class of every error caused by the user's input or environment, not by a bug."""

    exit_code = 2


class ConfigError(HeadstartError):
    """A hyperparameter, option or name is invalid."""


class DataError(HeadstartError):
    """A dataset cannot be read or does not fit the task (missing column, one class, n too large…)."""


class ColumnError(DataError):
    """A file's text or label column is missing or cannot be told apart. ``problem`` says what is wrong and ``kind``
    which column ("text" or "label"); the message adds the CLI's fix, and a command that names columns another way
    (``multitask``'s FILE:COLUMN, ``adapt``'s column names) gives its own fix after ``problem`` instead."""

    def __init__(self, problem: str, kind: str) -> None:
        self.problem, self.kind = problem, kind
        super().__init__(f"{problem}; pass --{kind}-column NAME")

    def __reduce__(self):  # re-raised from a worker process as itself, not as a TypeError
        return type(self), (self.problem, self.kind)


class BackboneError(HeadstartError):
    """A backbone cannot be found or loaded."""


class StoreError(HeadstartError):
    """A run directory or results store is missing, unwritable or incompatible."""


class WriteError(StoreError, OSError):
    """A file headstart writes could not be made: one line for the CLI (a StoreError), and an OSError with the errno and
    strerror for a caller that says what the failure costs (a spooled result, a ranking)."""

    def __init__(self, folder: str, code: int | None, strerror: str | None) -> None:
        OSError.__init__(self, code, strerror, folder)
        hint = {errno.ENOSPC: "free disk space", errno.EROFS: "the file system is read-only: choose another folder",
                errno.EACCES: "check its permissions", errno.EPERM: "check its permissions"}.get(code or 0, "check the folder")
        self.message = f"cannot write into {folder!r} ({strerror}); {hint}"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # re-raised from a worker process as itself
        return type(self), (self.filename, self.errno, self.strerror)


def with_article(words: str) -> str:
    """``words`` after its indefinite article: "an image classification", "a text regression"."""
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


def closest(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when nothing is close (or ``name`` is no text);
    a choice equal but for case comes first, and case counts for nothing in the closeness."""
    if not isinstance(name, str):
        return ""
    choices = [c for c in choices if isinstance(c, str)]
    folded = {c.casefold(): c for c in choices}  # 'LoRA' is 'lora' in the wrong case: that first
    match = ([folded[name.casefold()]] if name.casefold() in folded else difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
             or [folded[m] for m in difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.5)])
    return f"; did you mean {match[0]!r}?" if match else ""


def unknown(kind: str, name: str, choices: Iterable[str], *, error: type[HeadstartError] = ConfigError) -> HeadstartError:
    """Build the standard "unknown <kind>" error listing the valid names and suggesting the closest."""
    choices = sorted(choices)
    return error(f"unknown {kind} {name!r}{closest(name, choices)} (available: {', '.join(choices)})")


# Messages name the CLI's flags ("try --n 64"). Called from Python, a public function's error names its parameters
# instead ("try n=64"): the CLI marks its calls (``cli_surface``), and ``python_named`` rewrites at the API boundary.
_SURFACE: contextvars.ContextVar[str] = contextvars.ContextVar("headstart_surface", default="python")
SURFACE_ENV = "HEADSTART_SURFACE"
_FLAG = re.compile(r"(?<![\w/-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?: (\S+?))?(?=\s|;|,\s|,$|\)|\.\s|\.$|$)")
_ASKS = {"try", "e.g.", "pass", "use", "add", "give", "set", "or", "write"}  # a value follows: "try --n 64"
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


@functools.cache
def config_fields() -> frozenset[str]:
    """The fields of TrainConfig and SplitConfig, which ``fit`` / ``compare`` take as ``config`` / ``split`` (neither
    module imports torch: an error stays cheap)."""
    import importlib  # at call time, by name: errors sits below every module whose settings it names

    classes = [getattr(importlib.import_module(module), name)
               for module, name in (("headstart.specs", "TrainConfig"), ("headstart.data.splits", "SplitConfig"))]
    return frozenset(f.name for cls in classes for f in dataclasses.fields(cls))


# The settings classes a public function's ``config`` takes, by the name its annotation gives them.
CONFIG_CLASSES = {"TrainConfig": "headstart.specs", "SftConfig": "headstart.llm.sft", "PreferConfig": "headstart.llm.dpo",
                  "MetaConfig": "headstart.meta.config"}


def settings_of(function: Callable[..., Any]) -> frozenset[str]:
    """The fields of the settings class ``function``'s ``config`` parameter takes (by its annotation; TrainConfig when
    it names none), imported by name at call time as ``config_fields``; empty without a ``config``."""
    import importlib

    parameter = inspect.signature(function).parameters.get("config")
    if parameter is None:
        return frozenset()
    named = [name for name in CONFIG_CLASSES if name in str(parameter.annotation)] or ["TrainConfig"]
    return frozenset(f.name for name in named
                     for f in dataclasses.fields(getattr(importlib.import_module(CONFIG_CLASSES[name]), name)))


def check_settings_keywords(function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Refuse keywords ``function`` lacks that are fields of its ``config``: the CLI's ``--max-steps 5`` is
    ``config={'max_steps': 5}`` in Python, and a bare TypeError named no way there.

    Raises:
        ConfigError: naming the call that works.
    """
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = [k for k in kwargs if k not in parameters]
    if not unknown:
        return
    fields = settings_of(function)
    settings = {k: kwargs[k] for k in unknown if k in fields}
    if settings:
        given = kwargs.get("config") is not None
        raise ConfigError(f"{function.__name__}() takes these settings through config, not as keywords: "
                          + (f"add {settings!r} to the config you passed" if given else f"config={settings!r}"))


def python_names(message: str, names: set[str]) -> str:
    """``message`` with each ``--flag [VALUE]`` whose parameter is in ``names`` written as Python: ``n=64``,
    ``arms='naive,ewc'``, a bare ``arms`` where no value follows (``--arms is empty`` -> ``arms is empty``)."""
    def renamed(match: re.Match) -> str:
        flag, value = match.group(1), match.group(2)
        name = _RENAMED.get(flag, flag.replace("-", "_"))
        if name not in names or any(a <= match.start() < b for a, b in commands):
            return match.group(0)  # not this function's, or inside a shell command the message quotes
        if value is not None and (value[:1] in "'\"" and (len(value) < 2 or value[-1] != value[0])
                                  or value.endswith((":", ".")) or value.startswith("/--")):
            return match.group(0)  # a value cut short (a quoted one with spaces), or punctuation: left as the CLI's
        before = message[:match.start()].split()
        asked = bool(before) and before[-1].lower().lstrip("([") in _ASKS  # "(pass --task classification ...)" too
        if name == "options" and value is not None and "=" in value:  # --option KEY=VALUE -> options={'KEY': VALUE}
            key, _, given = value.partition("=")
            return f"options={{{key!r}: {given}}}"
        if value is not None and value.lower() in _PROSE:  # "--arms is empty": a sentence goes on, no value
            return f"{name} {value}"
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


def python_named(function: Callable[..., Any], *, inside: bool = True) -> Callable[..., Any]:
    """``function`` whose HeadstartError names its parameters (and its ``config``'s fields) the Python way when called
    from Python; from the CLI (``cli_surface``) the message is left naming flags. ``inside=False``: called by headstart's
    own modules it leaves them too, for a caller that reads or rewrites its flags (``load_dataset``: adapt, multitask)."""
    if getattr(function, "__python_named__", False):
        return function
    names = set(inspect.signature(function).parameters)

    @functools.wraps(function)
    def named(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        for_user = inside or not (caller == "headstart" or caller.startswith("headstart."))
        try:
            check_settings_keywords(function, kwargs)
            return function(*args, **kwargs)
        except HeadstartError as e:
            if for_user and not on_cli() and not getattr(e, "__python_named__", False):
                _rename(e, names | config_fields() | settings_of(function))
            raise

    named.__python_named__ = True  # type: ignore[attr-defined]
    return named


def _rewrite(error: HeadstartError, change: Callable[[str], str]) -> None:
    """``error``'s text through ``change``, the error kept as itself: its class, a WriteError's own ``message`` (its
    __str__), a ColumnError's ``problem`` (__reduce__ rebuilds from problem and kind, and a caller that names columns its
    own way reads problem alone)."""
    if isinstance(getattr(error, "message", None), str):
        error.message = change(error.message)
    error.args = tuple(change(a) if isinstance(a, str) else a for a in error.args)
    if isinstance(error, ColumnError):
        error.problem = change(error.problem)


def reword(error: HeadstartError, old: str, new: str) -> None:
    """``error``'s message with ``old`` written as ``new`` (a file headstart staged as what the user passed)."""
    _rewrite(error, lambda text: text.replace(old, new))


def _rename(error: HeadstartError, names: set[str]) -> None:
    error.__python_named__ = True  # type: ignore[attr-defined]  # an outer public function leaves it as it is
    _rewrite(error, lambda text: python_names(text, names))


def settings_class(cls: type) -> type:
    """``cls``, a settings dataclass (TrainConfig, SftConfig ...), speaking Python when built from Python: a field it
    lacks is a ConfigError naming the close one (not a bare TypeError), and its checks' ``try --lr 1e-5`` reads
    ``try lr=1e-5``. Built by the CLI (``cli_surface``), its messages keep naming flags.

    Apply over ``@dataclass``; the class keeps its own ``__init__`` and ``__post_init__`` behind these.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    init, post_init = cls.__init__, cls.__post_init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            raise ConfigError(f"{cls.__name__} has no field {unknown[0]!r}{closest(unknown[0], names)} "
                              f"(its fields: {', '.join(names)})")
        init(self, *args, **kwargs)

    @functools.wraps(post_init)
    def __post_init__(self: Any) -> None:
        try:
            _check_types(self)  # before the class's own checks, which compare the numbers
            post_init(self)
        except HeadstartError as e:
            if not on_cli() and not getattr(e, "__python_named__", False):
                _rename(e, set(names))
            raise

    cls.__init__, cls.__post_init__ = __init__, __post_init__  # type: ignore[method-assign]
    return cls


def python_checked(cls: type) -> type:
    """``cls``, a spec dataclass (SweepSpec) whose ``__post_init__`` checks name the CLI's flags, speaking Python when
    built from Python: ``--sizes is empty`` reads ``sizes is empty``, naming its fields (and its settings' fields) as
    ``python_named`` names a function's parameters. Built by the CLI (``cli_surface``), its messages keep naming flags.

    Apply over ``@dataclass``; unlike ``settings_class`` it adds no checks of its own.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    post_init = cls.__post_init__

    @functools.wraps(post_init)
    def __post_init__(self: Any) -> None:
        try:
            post_init(self)
        except HeadstartError as e:
            if not on_cli() and not getattr(e, "__python_named__", False):
                _rename(e, names | config_fields())
            raise

    cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
    return cls


def spoken(cli: str, python: str) -> str:
    """``cli`` to the CLI's user, ``python`` to a Python caller: for a fix whose Python spelling is no plain rename of
    the flag (``--grid lora=...`` is ``grids={'lora': [...]}``, ``--no-tune`` is ``tune=None``)."""
    return cli if on_cli() else python


_KINDS = {"int": "a whole number", "float": "a number", "bool": "True or False"}  # a TOML file (the CLI) writes true or false


def _check_types(settings: Any) -> None:
    """Refuse a field of the wrong type: a string, bool or None where a number goes (a bool is no number here), a
    non-bool where a switch goes. Fields of other types (text, paths, tuples) are left to the class's own checks; a
    numpy number or bool becomes its Python value, as the class's checks, run keys and JSON take it.

    Raises:
        ConfigError: naming the field, the value, what it must be and an example.
    """
    for f in dataclasses.fields(settings):
        value, parts = getattr(settings, f.name), [p.strip() for p in str(f.type).split("|")]
        literals = [v for p in parts if (m := re.fullmatch(r"Literal\[(.*)\]", p)) for v in ast.literal_eval(f"({m[1]},)")]
        kinds = [p for p in parts if p != "None" and not p.startswith("Literal[")]
        if not kinds or any(k not in _KINDS for k in kinds) or (value is None and "None" in parts):
            continue  # not a number or a switch; or unset where unset is allowed
        if type(value).__module__ == "numpy" and hasattr(value, "item"):
            value = value.item()
            object.__setattr__(settings, f.name, value)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if (number and ("float" in kinds or "int" in kinds and isinstance(value, int))
                or "bool" in kinds and isinstance(value, bool) or isinstance(value, str) and value in literals):
            continue
        wants = " or ".join([_KINDS[k].lower() if on_cli() else _KINDS[k] for k in kinds] + [repr(v) for v in literals])
        given = toml_text(value) if on_cli() else repr(value)  # the CLI's settings come from a TOML file: true, not True
        raise ConfigError(f"{f.name} must be {wants}, got {given:.40}; {_example(f, value, kinds)}")


def _example(f: dataclasses.Field, value: Any, kinds: list[str]) -> str:
    """The fix for ``_check_types``: the number a string spells (``"0.2"``: no quotes), else the default, written as a
    TOML file (the CLI's way to a settings field) or a Python keyword would take it."""
    example = f.default
    for kind in ("int", "float"):
        if kind in kinds and isinstance(value, str):
            try:
                example = {"int": int, "float": float}[kind](value)
                break
            except ValueError:
                pass
    if "bool" in kinds and isinstance(example, bool):
        example = not example  # the other setting: the default needs no line
    if example is None or example is dataclasses.MISSING:
        return "leave it out for the default"
    return f"e.g. {setting_text(f.name, example)}"


def setting_text(name: str, value: Any) -> str:
    """The settings field ``name`` set to ``value`` as the user writes it: ``name = value`` in a TOML file (the CLI's way
    to a settings field), ``name=value`` as a Python keyword."""
    return f"{name} = {toml_text(value)}" if on_cli() else f"{name}={value!r}"


def toml_text(value: Any) -> str:
    """``value`` as a TOML file writes it: ``true``, ``"x"``, ``[16, "all"]``; a number as Python writes it (TOML reads
    ``1e-05`` and ``inf`` too)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(map(toml_text, value))}]"
    return repr(value)


def flags_checked(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` refusing a non-bool for each parameter whose default is a bool (``dedupe="no"`` would read as true).

    The CLI's flags are bools already; this guards the Python API's mirror of them. A ConfigError names the value.
    """
    signature = inspect.signature(function)
    flags = [p.name for p in signature.parameters.values() if isinstance(p.default, bool) or _maybe_bool(p)]

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:  # a wrong call: Python's own message says which argument (a config's setting: python_named)
            return function(*args, **kwargs)
        for name in flags:
            value = bound.arguments.get(name, False)
            if value is None and _maybe_bool(signature.parameters[name]):
                continue
            if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
                bound.arguments[name] = bool(value)  # numpy's True is a bool for any caller's purpose
            elif not isinstance(value, bool):
                kind = f"{type(value).__module__}.{type(value).__name__}" if type(value).__module__ != "builtins" else type(value).__name__
                parameter = signature.parameters[name]
                either = "True, False or None (the default)" if _maybe_bool(parameter) else "True or False"
                raise ConfigError(f"{name} must be {either}, got {kind} {value!r:.40}; "
                                  f"e.g. {name}={not parameter.default if isinstance(parameter.default, bool) else False}")
        return function(*bound.args, **bound.kwargs)

    return python_named(checked)


def _maybe_bool(parameter: inspect.Parameter) -> bool:
    """A switch whose None default means "decide for me" (``adapt``'s oracle)."""
    spelled = str(parameter.annotation).replace(" ", "").replace("typing.", "")
    return parameter.default is None and spelled in ("bool|None", "None|bool", "Optional[bool]", "Union[bool,None]",
                                                     "Union[None,bool]")


def comma_entries(text: str, *, name: str, noun: str, entries: list[str] | None = None, flag: str | None = None) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an empty entry (``"a,,b"``, a trailing comma) is refused, never dropped: the
    entry typed between the commas may be missing. Text with no entry at all gives ``[]``, for the caller to name.

    Args:
        name: where the list came from (``--sizes``, ``sizes in 'sweep.toml'``, ``--grid lora=``), for the message.
        noun: what one entry is (``size``, ``strategy``), for the message.
        entries: ``text`` already split (arms split at commas outside [...]); by default split at every comma.
        flag: the flag the example writes (default ``name``); a flag ending in ``=`` takes the list without a space.

    Raises:
        ConfigError: an empty entry, naming ``name``, the text and the list without it.
    """
    entries = [p.strip() for p in (str(text).split(",") if entries is None else entries)]
    parts = [p for p in entries if p]
    if parts and len(parts) < len(entries):
        flag = flag or name
        raise ConfigError(f"{name} {str(text)!r} has an empty entry (a comma with no {noun} beside it); drop the extra "
                          f"comma or add the {noun}, e.g. {flag}{'' if flag.endswith('=') else ' '}{','.join(parts)}")
    return parts
