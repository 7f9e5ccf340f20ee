"""Python callers' checks: a public function or settings class refuses a wrong keyword or type and names its parameters."""

from __future__ import annotations

import ast
import contextlib
import contextvars
import dataclasses
import functools
import inspect
import logging
import numbers
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

from headstart.errors import ColumnError, ConfigError, HeadstartError, closest
from headstart.keyword_routes import routed_hint
from headstart.surface import on_cli, python_names, setting_text, toml_text


@functools.cache
def config_fields() -> frozenset[str]:
    """The fields of TrainConfig and SplitConfig, which ``fit`` / ``compare`` take as ``config`` / ``split`` (neither
    module imports torch: an error stays cheap)."""
    import importlib  # at call time, by name: python_checks sits below every module whose settings it names

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


# A keyword one function (or the CLI) spells one way and another function another way -> the parameters it may mean
# there, in order: the CLI's ``--option`` (and a stored multitask config's ``strategy_options``) is ``options``;
# compare's ``grids`` is fit's ``grid``; continual's and compare's ``arms`` are adapt's ``methods``; ``--quiet`` is
# ``progress=False``; a bare ``column`` (read_image_inputs' before it was ``text_column``) is ``text_column``. A
# keyword not here gets the closest of the function's own (``errors.closest``).
OTHER_SPELLINGS: dict[str, tuple[str, ...]] = {
    "option": ("options",), "strategy_options": ("options",),
    "grid": ("grids",), "grids": ("grid",),
    "strategies": ("arms", "strategy"), "strategy": ("strategies",),
    "methods": ("arms",), "arms": ("methods", "strategies"),
    "weightings": ("weighting",), "quiet": ("progress",),
    "data": ("tasks", "stream", "source"), "dataset": ("data", "tasks", "stream", "source"),
    "run": ("directory",), "inputs": ("texts",), "column": ("text_column",),
}
# A command's flag whose Python equivalent is another function (the function as called, the flag's keyword) -> that call.
OTHER_FUNCTIONS: dict[tuple[str, str], str] = {
    ("runs", "to_mlflow"): "headstart.tracking.log_store(directory) is the CLI's runs --to-mlflow",
    ("runs", "mlflow_uri"): "headstart.tracking.log_store(directory, uri=...) is the CLI's runs --to-mlflow --mlflow-uri",
    ("datasets", "install"): "headstart.install_datasets(names) is the CLI's datasets --install",
    ("cache_info", "clear"): "headstart.clear_cache(kind) is the CLI's cache --clear",
    ("predict", "adapter"): "headstart.AdapterSet().add(run, name=...).predict(texts, adapter=name) is the CLI's predict --adapter",
    ("predict", "adapter_dir"): "headstart.AdapterSet().add(directory).predict(texts) is the CLI's predict --adapter-dir",
}


def check_keywords(function: Callable[..., Any], kwargs: dict[str, Any], *, name: str | None = None) -> None:
    """Refuse a keyword ``function`` lacks, by name, before Python's bare TypeError: a field of its ``config`` (the CLI's
    ``--max-steps 5`` is ``config={'max_steps': 5}``) says so; another keyword names the one it takes for what another
    function or the CLI spells that way (``OTHER_SPELLINGS``), else a strategy option or near miss of a setting as the
    ``options=`` / ``config=`` that passes it (``keyword_routes``), else the closest keyword, and lists its keywords.

    Args:
        name: the function as the caller calls it (``strategies`` for ``list_strategies``); default its ``__name__``.

    Raises:
        ConfigError: naming the keyword and the call that works.
    """
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = [k for k in kwargs if k not in parameters or parameters[k].kind is inspect.Parameter.POSITIONAL_ONLY]
    if not unknown:
        return
    called = f"{name or function.__name__}()"
    fields = settings_of(function)
    settings = {k: kwargs[k] for k in unknown if k in fields}
    if settings:
        given = kwargs.get("config")
        if isinstance(given, (str, os.PathLike)):  # compare's sweep file: its [train] table holds them
            lines = "; ".join(f"{k} = {toml_text(v)}" for k, v in settings.items())
            raise ConfigError(f"{called} takes these settings through config, not as keywords: add {lines} under "
                              f"[train] in {str(given)!r}")
        raise ConfigError(f"{called} takes these settings through config, not as keywords: "
                          + (f"add {settings!r} to the config you passed" if given is not None else f"config={settings!r}"))
    keywords = [k for k, p in parameters.items() if k != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    first = unknown[0]
    meant = [k for k in OTHER_SPELLINGS.get(first, ()) if k in keywords]
    other = OTHER_FUNCTIONS.get((name or function.__name__, first))
    if other:
        hint = f"; {other}"
    elif first == "quiet" and meant:
        hint = "; progress=False is the CLI's --quiet"
    elif meant:
        hint = f"; did you mean {' or '.join(repr(k) for k in meant)}?"
    else:
        per_strategy = None if "options" not in parameters else "strategies" in parameters  # compare's go by strategy
        hint = routed_hint(first, kwargs[first], kwargs=kwargs, keywords=keywords, settings=fields,
                           per_strategy=per_strategy) or closest(first, keywords)
    takes = f"its keywords: {', '.join(keywords)}" if keywords else "it takes none"
    raise ConfigError(f"{called} has no keyword {first!r}{hint} ({takes})")


def check_positional(function: Callable[..., Any], args: tuple[Any, ...], *, name: str | None = None) -> None:
    """Refuse more positional arguments than ``function`` takes, before Python's bare TypeError ("takes from 0 to 2
    positional arguments but 3 were given"): the message names those it takes and the keywords the others go by,
    guessed in order (``fit(data, backbone, 'lora')``: ``strategy='lora'``).

    Args:
        name: as ``check_keywords``'.

    Raises:
        ConfigError: naming the call, its positional parameters and the keywords for the rest.
    """
    from headstart.errors import clipped

    parameters = list(inspect.signature(function).parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(args) <= len(positional):
        return
    own = 1 if positional[:1] == ["self"] else 0  # a method's instance is no argument its caller counts
    shown, given, extra = positional[own:], len(args) - own, len(args) - len(positional)
    called = f"{name or function.__name__}()"
    keywords = [p.name for p in parameters if p.kind is p.KEYWORD_ONLY]
    takes = ("no arguments" if not shown and not keywords else "no positional arguments" if not shown else
             f"{shown[0]} as its only positional argument" if len(shown) == 1 else
             f"{len(shown)} positional arguments ({', '.join(shown)})")
    if not keywords:
        raise ConfigError(f"{called} takes {takes}, got {given}; drop the extra {'one' if extra == 1 else extra}")
    example = ", ".join(f"{k}={clipped(repr(v), 40)}" for k, v in zip(keywords, args[len(positional):]))
    raise ConfigError(f"{called} takes {takes}, got {given}; give {'the others' if shown else 'them'} by keyword, "
                      f"e.g. {example}")


def python_named(function: Callable[..., Any], *, inside: bool = True, name: str | None = None,
                 renamed: dict[str, str] | None = None) -> Callable[..., Any]:
    """``function`` refusing a keyword it lacks with a ConfigError that names the right one (``check_keywords``), and more
    positional arguments than it takes with one naming the keywords they go by (``check_positional``), and
    whose HeadstartError names its parameters (and its ``config``'s fields) the Python way when called from Python; from
    the CLI (``cli_surface``) the message is left naming flags. ``inside=False``: called by headstart's own modules it
    leaves them too, for a caller that reads or rewrites its flags (``load_dataset``: adapt, multitask). ``name``: the
    function as its callers call it, for ``check_keywords``' message. ``renamed``: its messages' flags named otherwise
    than its parameters (``surface.python_names``)."""
    if getattr(function, "__python_named__", False):
        return function
    names = set(inspect.signature(function).parameters)

    @functools.wraps(function)
    def named(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        for_user = inside or not (caller == "headstart" or caller.startswith("headstart."))
        args, kwargs = tuple(plain_integers(a) for a in args), {k: plain_integers(v) for k, v in kwargs.items()}
        try:
            check_positional(function, args, name=name)
            check_keywords(function, kwargs, name=name)
            with python_notes(names | config_fields() | settings_of(function), shown=for_user):
                return function(*args, **kwargs)
        except HeadstartError as e:
            if for_user and not on_cli() and not getattr(e, "__python_named__", False):
                _rename(e, names | config_fields() | settings_of(function), renamed,
                        settings=settings_of(function) - names)  # fit(max_steps=5) is refused: config={'max_steps': 5}
            raise

    named.__python_named__ = True  # type: ignore[attr-defined]
    return named


def plain_integers(value: Any) -> Any:
    """``value`` with every integer of another type (``numbers.Integral``: numpy's ``np.int64(1)``, a pandas scalar),
    alone or in a list, tuple or dict (``sizes=[np.int64(16)]``, ``options={"lora": {"rank": np.int64(4)}}``), as a
    Python int: each check and run key of the Python API reads an int, so ``seed=np.int64(1)`` is ``seed=1``. A bool
    stays a bool, and anything else (a DataFrame, an array) is left as it is; a container is copied only where an
    integer in it changes."""
    if isinstance(value, numbers.Integral) and not isinstance(value, int):
        return int(value)
    if type(value) in (list, tuple):
        changed = [plain_integers(v) for v in value]
        return type(value)(changed) if any(a is not b for a, b in zip(changed, value)) else value
    if type(value) is dict:
        changed = {k: plain_integers(v) for k, v in value.items()}
        return changed if any(changed[k] is not v for k, v in value.items()) else value
    return value


class _PythonNotes(logging.Handler):
    """What headstart decided about the caller's data (rows dropped, a column guessed, texts cut) as ``note: ...`` lines
    on stderr (a warning, a test split that duplicates training rows, as ``warning: ...``), its flags written as the
    caller's keywords: the CLI's notes, for a Python caller; each said once in a call that reads its data more than
    once (``fit`` reads it to fill defaults, then to train), and a note on a DataFrame's rows (named by its contents'
    hash: "data passed from Python (<hash>)") once in the session, where the CLI says it once: ``fit(df)`` then
    ``result.evaluate()`` read the same rows, and the second read tells nothing new."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(logging.INFO)
        self.names = names
        self.said: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            note = python_names(record.getMessage(), self.names)
            if note in self.said or note in _DATA_SAID:
                return
            self.said.add(note)
            if record.name.startswith("headstart.data") and _PYTHON_DATA in note:
                _DATA_SAID.add(note)
            # a warning (a test split that duplicates training rows) reads as the CLI writes one
            print(f"{'warning' if record.levelno >= logging.WARNING else 'note'}: {note}", file=sys.stderr)
        except Exception:  # a note must never break the call it describes
            self.handleError(record)


_PYTHON_DATA = "data passed from Python ("  # shown_name of a DataFrame's staged table: the same hash, the same rows
_DATA_SAID: set[str] = set()  # the notes on such rows said in this process

_NOTES_SHOWN: contextvars.ContextVar[bool] = contextvars.ContextVar("headstart_python_notes", default=False)


@contextlib.contextmanager
def python_notes(names: set[str], *, shown: bool = True) -> Iterator[None]:
    """The ``headstart`` logger's notes printed for the length of a public call from Python (the outermost one), where
    the caller has set up no logging of their own: a handler on the root logger or on ``headstart`` or one below it,
    or a level on one of them (``logging.getLogger("headstart").setLevel(logging.WARNING)`` keeps them quiet). From
    the CLI, whose own handler prints them, nothing changes. Process-wide, as logging is: two threads calling at once
    share the first one's handler, for its call's length."""
    logger, root = logging.getLogger("headstart"), logging.getLogger()
    theirs = [one for name, one in list(logging.root.manager.loggerDict.items())  # headstart.data.files and the like
              if (name == "headstart" or name.startswith("headstart.")) and isinstance(one, logging.Logger)
              and (one.handlers or one.level != logging.NOTSET)]
    if not shown or _NOTES_SHOWN.get() or on_cli() or theirs or root.handlers:
        yield
        return
    handler, token, propagate = _PythonNotes(names), _NOTES_SHOWN.set(True), logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        logger.propagate = propagate
        _NOTES_SHOWN.reset(token)


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


def _rename(error: HeadstartError, names: set[str], renamed: dict[str, str] | None = None, *,
            settings: frozenset[str] = frozenset()) -> None:
    """``error``'s flags as ``names`` (``surface.python_names``); ``settings``: fields the function takes through its
    ``config`` alone, written ``config={'max_steps': 5}``."""
    error.__python_named__ = True  # type: ignore[attr-defined]  # an outer public function leaves it as it is
    _rewrite(error, lambda text: python_names(text, names, renamed, settings=settings))


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


def flags_checked(function: Callable[..., Any] | None = None, *, inside: bool = True,
                  name: str | None = None, renamed: dict[str, str] | None = None) -> Callable[..., Any]:
    """``function`` refusing a non-bool for each parameter whose default is a bool (``dedupe="no"`` would read as true),
    and ``python_named`` (``inside``, ``name``, ``renamed``: as there); ``@flags_checked(inside=False)`` passes them.

    The CLI's flags are bools already; this guards the Python API's mirror of them. A ConfigError names the value.
    """
    if function is None:
        return functools.partial(flags_checked, inside=inside, name=name, renamed=renamed)
    signature = inspect.signature(function)
    flags = [p.name for p in signature.parameters.values()  # a switch that also takes text checks it itself (continual's tune)
             if (isinstance(p.default, bool) and "str" not in str(p.annotation)) or _maybe_bool(p)]

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

    return python_named(checked, inside=inside, name=name, renamed=renamed)


def _maybe_bool(parameter: inspect.Parameter) -> bool:
    """A switch whose None default means "decide for me" (``adapt``'s oracle)."""
    spelled = str(parameter.annotation).replace(" ", "").replace("typing.", "")
    return parameter.default is None and spelled in ("bool|None", "None|bool", "Optional[bool]", "Union[bool,None]",
                                                     "Union[None,bool]")
