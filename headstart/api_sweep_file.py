"""``compare(config="sweep.toml")`` ~ ``headstart compare --config sweep.toml``: the file's keys (``sweep_config``) fill
every keyword the caller did not give, as the CLI's flags override the file; the keywords the caller gave win.

``file_arguments`` is the one reader of a sweep file under what the caller typed: ``headstart compare --config`` gives
it its flags as ``compare``'s keywords. The file is read by ``sweep_config.read_config`` (a bad file is one one-line
ConfigError), and its tables are narrowed, overridden and its floors set against a given ``max_steps`` by ``narrowed``,
``overridden`` and ``capped_floors``: a file and the same settings as flags or as keywords build the same sweep, so
they share its stored runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError, HeadstartError

# compare's keywords a file's top-level key of the same name fills where the caller gave none
PLAIN_KEYS = ("data", "backbone", "backbones", "strategies", "arms", "sizes", "seeds", "workers", "out", "text_column",
              "label_column", "task", "pooling", "retain", "eval_data", "tta", "group_column", "split_column", "backend",
              "address", "label_descriptions", "test_data")
# the training keywords compare takes beside its config, as the CLI's flags beside --config
TRAIN_KEYWORDS = ("max_steps", "min_steps", "epochs", "image_size", "augment")
# compare's keywords that the data's checks name as their flags with the value (--text-column 'x'): one the file set is
# named as the file's key instead (file_keys_named)
COLUMN_KEYS = ("text_column", "label_column", "group_column", "split_column", "task")
# the split keywords compare takes beside its config, each over the file's [split] field of its name
SPLIT_KEYWORDS = ("max_test", "max_val", "dedupe")


@dataclass(frozen=True)
class FromFile:
    """What ``compare`` is given as ``config`` once a sweep file is read: the training settings and what else the
    file decided beyond keywords."""

    train: dict[str, Any]  # TrainConfig's fields: the file's [train] under the training keywords given
    cap_over_floors: bool  # a given max_steps caps the file's floors (SweepSpec.cap_over_floors), as --max-steps does
    command: str  # the call as the caller wrote it, config='sweep.toml' and all: the report's "Produced by"
    notes: tuple[str, ...] = field(default=())  # said once the sweep is built
    floors: dict[str, Any] = field(default_factory=dict)  # the file's [train] and [train_by_strategy], as overridden
    path: str = ""
    typed: dict[str, Any] = field(default_factory=dict)  # the max_steps / min_steps given
    filled: dict[str, Any] = field(default_factory=dict)  # the keywords the file's keys filled: a refusal names the key
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the strategies its [grid], [options.NAME] and
    # [train_by_strategy.NAME] name (after narrowed): one outside the sweep is named as the file's table

    def check_lists(self, *, task: Any, strategies: tuple[str, ...], arms: Any) -> None:
        """The lists and the task the file set, refused as the file's keys (``strategies in 'sweep.toml' is empty``)
        where the sweep's checks would name the flags they stand for: the task, the pooling, the backend, an empty
        strategies or arms, an arm listed twice, and a table for a strategy the sweep leaves out. Run before ``SweepSpec``, which names flags.

        Args:
            task: the task the sweep reads its labels as; strategies: those it compares (its arms' where it has arms).
            arms: the arms, as given.

        Raises:
            ConfigError: the file's key or table, the value and the fix as the file writes it.
        """
        from headstart.arguments import check_once
        from headstart.arm_text import split_arms
        from headstart.data.dataset import TASKS
        from headstart.errors import closest
        from headstart.surface import toml_text

        where = repr(self.path)
        if "task" in self.filled and task not in TASKS:
            guess = closest(str(task), TASKS)
            fix = f"did you mean task = {toml_text(guess.split(chr(39))[1])}?" if guess else 'e.g. task = "classification"'
            raise ConfigError(f"task in {where} must be one of {', '.join(TASKS)}, got {toml_text(task)}; {fix}")
        if "pooling" in self.filled:
            from headstart.specs import pooling_modes
            from headstart.surface import toml_names, toml_values

            try:
                pooling_modes(self.filled["pooling"])
            except ConfigError as e:  # "--pooling must be one of ...; e.g. --pooling mean", as the file writes it
                text, value = toml_values(toml_names(str(e), {"pooling"}), "pooling"), self.filled["pooling"]
                raise ConfigError(text.replace("pooling must", f"pooling in {where} must", 1) if text.startswith("pooling must")
                                  else text.replace(f"pooling {value!r}", f"pooling = {toml_text(value)} in {where}", 1)) from None
        if "backend" in self.filled and self.filled["backend"] not in ("local", "ray"):
            backend, guess = self.filled["backend"], closest(str(self.filled["backend"]), ("local", "ray"))
            raise ConfigError(f"backend in {where} must be \"local\" or \"ray\", got {toml_text(backend)}"
                              + (f"; did you mean backend = {toml_text(guess.split(chr(39))[1])}?" if guess else ""))
        if "arms" in self.filled:
            listed = split_arms(arms)
            if not listed:
                raise ConfigError(f"arms in {where} is empty; e.g. arms = [\"linear-probe\", \"lora[rank=4]\"], or leave it "
                                  "out for strategies")
            check_once(f"arms in {where}", listed, "arm")
        elif "strategies" in self.filled and not strategies:
            raise ConfigError(f"strategies in {where} is empty; e.g. strategies = [\"linear-probe\", \"lora\"], or leave it "
                              "out for the default (scratch, linear-probe, full-finetune)")
        compared = ("the strategies of arms" if "arms" in self.filled else "strategies" if "strategies" in self.filled
                    else "the default strategies")
        for table, names in self.tables.items():
            for name in names:
                if name not in strategies:
                    named = f"[grid] {name}" if table == "grid" else f"[{table}.{name}]"
                    raise ConfigError(f"{named} in {where} is for {name!r}, which is not in {compared}"
                                      + (f" in {where}" if compared != "the default strategies" else "")
                                      + f" ({', '.join(strategies)}){closest(name, strategies)}; "
                                      + ("add an arm of it to arms" if "arms" in self.filled else "add it to strategies")
                                      + " or drop the table")

    def capped(self) -> FromFile:
        """This with the note on the file's floors a given ``max_steps`` caps (``sweep_config.capped_floors``): run once
        the lists and the training values are read, as a user reads them, and before the sweep checks its floors.

        Raises:
            ConfigError: a floor above a cap set beside it, named where each was set.
        """
        from headstart.sweep_config import capped_floors

        note = capped_floors(self.floors, self.path, **self.typed)
        return dataclasses.replace(self, notes=(*self.notes, note)) if note else self


def reading_sweep_file(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (``compare``) taking ``config`` as a sweep TOML path too: the file's keys fill the keywords the
    caller did not pass (``file_arguments``); any other ``config`` passes through as given."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def reading(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs).arguments
        if not isinstance(bound.get("config"), (str, os.PathLike)):
            return function(*args, **kwargs)
        # None where None is the default is no value given (a caller forwarding its own None keeps the file's);
        # where the default is another value (tune's "lr"), None is one
        given = {k: v for k, v in bound.items() if v is not None or signature.parameters[k].default is not None}
        from headstart.surface import call_text

        return function(**file_arguments(Path(given["config"]), dict(given),
                                         command=call_text(f"headstart.{function.__name__}", function, given)))

    return reading


def file_arguments(path: Path, given: dict[str, Any], *, command: str, flags: bool = False) -> dict[str, Any]:
    """The keywords ``compare`` runs with: those in ``given`` (what the caller passed) over the file's keys. The one
    reader of a sweep file beside what the caller typed: ``headstart compare --config`` gives its flags here as
    ``compare``'s keywords too.

    Args:
        path: the sweep TOML (``docs`` of ``sweep_config``).
        given: the caller's arguments by name, ``config`` the path.
        command: the call, for the report.
        flags: the caller typed flags (the CLI): a refusal names them (``pass --tune``), not the keywords
            (``pass tune='lr'``). The notes name flags either way; ``say_note`` writes them as keywords for Python.

    Returns:
        ``given`` with the file's values where the caller gave none, and ``config`` a ``FromFile``.

    Raises:
        ConfigError: a file ``read_config`` refuses, or one whose keys contradict each other or the keywords, with
            the flag or keyword that fixes it.
    """
    from headstart.arguments import as_table
    from headstart.data.splits import SplitConfig, split_given
    from headstart.specs import tune_setting
    from headstart.surface import toml_text
    from headstart.sweep_config import narrowed, overridden, read_config
    from headstart.sweep_plan import check_backend

    file = read_config(path)
    where = repr(str(path))
    tune_on, grids_word = ("--tune", "--grid") if flags else ("tune='lr'", "grids")  # the fix as the caller writes it
    notes: list[str | None] = []
    if "strategies" not in given and "arms" not in given and "strategies" in file and file.get("arms"):
        raise ConfigError(f"strategies and arms in {where} both say what to compare; keep one (arms take plain "
                          "strategies too)")
    if "strategies" in given:  # the keyword names what to compare: the file's arms would otherwise take its place
        file.pop("arms", None)
    if "arms" in given:
        file.pop("strategies", None)
    if "backbone" in given:  # one backbone given: the file's list would otherwise sweep others
        file.pop("backbones", None)
    elif "backbones" in given or "backbones" in file:  # the list names the backbones, the first of it as backbone
        file.pop("backbone", None)
    if "label_descriptions" in given:  # the caller's texts take the place of the file's, neither used nor weighed
        file.pop("label_descriptions", None)
    named = named_strategies(given.get("strategies"), given.get("arms"))
    if named is not None:  # the file's settings for a strategy the keyword left out are not used, not refused
        file, unused = narrowed(file, path, strategies=named, flag="--arms" if "arms" in given else "--strategies")
        notes.append(unused)
    # a training keyword replaces its field in [train] and in every [train_by_strategy.NAME] of the file, as its flag;
    # a split keyword its field in [split] (dedupe=False sets nothing: the file's dedupe holds)
    file, replaced = overridden(file, path, {**{key: given.get(key) for key in TRAIN_KEYWORDS},
                                             **{key: given.get(key) or None for key in SPLIT_KEYWORDS}}, python=not flags)
    notes.append(replaced)
    tuned = "tune" in given
    tune = given["tune"] if tuned else file.get("tune", "lr")
    grids = as_table(given.get("grids"), name="grids", example="{'lora': [3e-4, 1e-3, 3e-3]}")
    file_grids = file.get("grid", {})
    if tune_setting(tune) is None and file_grids:
        if not tuned:
            raise ConfigError(f"[grid] in {where} lists the learning rates tune searches, but the same file sets "
                              f"tune = false; drop one (or pass {tune_on})")
        # the caller's tune=None overrides the file as every keyword does: its grids have nothing to search (grids
        # given beside it are refused by SweepSpec, unsaid here)
        if not grids:
            notes.append(f"note: {'--no-tune' if flags else f'tune={tune!r}'}: [grid] in {where} is not searched; each strategy "
                         "trains at its untuned learning rate")
        file_grids = {}
    if tune_setting(tune) is None and grids and not tuned:
        raise ConfigError(f"{grids_word} lists the learning rates tune searches, but {where} sets tune = false; drop "
                          f"{grids_word}, or pass {tune_on}")
    arguments = dict(given)
    filled = {key: file[key] for key in PLAIN_KEYS if key not in given and key in file}
    arguments.update(filled)
    arguments["tune"] = tune
    arguments["grids"] = {**file_grids, **grids}
    for table in ("options", "train_by_strategy"):  # per strategy: a keyword's setting over the file's
        mine = as_table(given.get(table), name=table, example="{'lora': {'rank': 4}}")
        merged = {name: dict(values) for name, values in file.get(table, {}).items()}
        for name, values in mine.items():
            merged[name] = {**merged.get(name, {}), **as_table(values, name=f"{table}[{name!r}]", example="{'rank': 4}")}
        arguments[table] = merged
    split, file_split = given.get("split"), file.get("split", {})
    if not isinstance(split, SplitConfig):  # a SplitConfig is the whole split; a dict sets fields over the file's
        mine = split_given(as_table(split, name="split", example="{'test_fraction': 0.2}"))
        arguments["split"] = {**file_split, **mine}
        other = [f"split[{k!r}]={v!r} replaces {k} = {toml_text(file_split[k])} in [split]" for k, v in mine.items()
                 if k in file_split and str(v).lower() != str(file_split[k]).lower()]
        notes.append(f"note: keywords override {str(path)!r}: {'; '.join(other)}" if other else None)
    elif file_split:  # said, as a keyword replacing one field is
        notes.append(f"note: split={type(split).__name__}(...) replaces [split] of {str(path)!r} (its "
                     f"{', '.join(f'{k} = {toml_text(v)}' for k, v in file_split.items())})")
    train_fields = {**file.get("train", {}), **{k: given[k] for k in TRAIN_KEYWORDS if given.get(k) is not None}}
    if "address" not in given and "address" in file:  # the file's key named, not the keyword
        check_backend(arguments.get("backend", "local"), file["address"], arguments.get("workers", 1),
                      address_from=str(path))
    arguments["config"] = FromFile(train=train_fields, cap_over_floors=given.get("max_steps") is not None,
                                   command=command, notes=tuple(filter(None, notes)),
                                   floors={k: file[k] for k in ("train", "train_by_strategy") if k in file}, path=str(path),
                                   typed={k: given.get(k) for k in ("max_steps", "min_steps")}, filled=filled,
                                   tables={"grid": tuple(file_grids), **{table: tuple(file.get(table, {}))
                                                                         for table in ("options", "train_by_strategy")}})
    return arguments


@contextlib.contextmanager
def file_keys_named(config: Any) -> Iterator[None]:
    """Within: a refusal of a column (or task) the sweep file set names the file's key and the file, as the file's other
    refusals do, where the data's checks name the flag they stand for: ``--text-column 'x' applies to files ...`` reads
    ``text_column = "x" in 'sweep.toml' applies to files ...``, and ``text column 'x' not found in 'data.csv'`` reads
    ``text_column = "x" in 'sweep.toml' names no column of 'data.csv' (columns: ...); name one of them there``.
    ``config``: compare's, a ``FromFile`` where a file was read (anything else renames nothing)."""
    from headstart.python_checks import reword
    from headstart.surface import toml_values

    try:
        yield
    except HeadstartError as error:
        if "sizes" in getattr(config, "filled", {}):  # the sizes checked against the data: "size 64 in --sizes is larger"
            reword(error, " in --sizes ", f" of sizes in {config.path!r} ")
            if str(error).startswith(f"sizes in {config.path!r} entry "):  # entry "many", as the file writes it
                reword(error, str(error), toml_values(str(error)).replace("'all'", '"all"').replace(
                    "e.g. --sizes 0,8,16,32,all", 'e.g. sizes = [0, 8, 16, 32, "all"]'))
        for key, value in getattr(config, "filled", {}).items():
            if key in COLUMN_KEYS and isinstance(value, str):
                flag, named = f"--{key.replace('_', '-')}", f"{key} = {json.dumps(value)} in {config.path!r}"
                reword(error, f"{flag} {value!r}", named)
                if f"{key.replace('_', ' ')} {value!r} not found in" in str(error):  # a ColumnError: fixed in the file
                    reword(error, f"{key.replace('_', ' ')} {value!r} not found in", f"{named} names no column of")
                    reword(error, f"; pass {flag} NAME", f"; name one of them there (or pass {flag} NAME)")
        raise


def say_note(note: str, function: Any) -> None:
    """A note a sweep file's reading left (``FromFile.notes``) on the ``headstart`` logger, as the CLI prints it, each
    flag in it written as ``function``'s keyword (``--max-steps 20`` -> ``max_steps=20``)."""
    from headstart.surface import python_names

    logging.getLogger("headstart").info(python_names(note.removeprefix("note: "), set(inspect.signature(function).parameters)))


def named_strategies(strategies: Any, arms: Any) -> tuple[str, ...] | None:
    """The strategies the caller's ``strategies`` or ``arms`` name, as far as they can be read before the sweep is
    checked (None: not given, or not readable: the sweep's own checks name that mistake)."""
    from headstart.arm_text import parse_arm, split_arms
    from headstart.sweep_spec import parse_list

    try:
        if arms:
            return tuple(parse_arm(arm)[0] for arm in split_arms(arms))
        if isinstance(strategies, str):
            return parse_list(strategies, name="strategies")
        if isinstance(strategies, (list, tuple)) and all(isinstance(s, str) for s in strategies):
            return tuple(strategies)
    except ConfigError:
        return None
    return None
