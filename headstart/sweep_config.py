"""``--config sweep.toml``: the same knobs as the ``compare`` flags, in a file. Flags override it: a training flag
(``--max-steps``, ``--min-steps``, ``--epochs``, ...) replaces the field wherever the file sets it, ``[train]`` and every
``[train_by_strategy.NAME]``, and a split flag (``--max-test``, ``--max-val``, ``--dedupe``) its field in ``[split]``
(``overridden``, one note naming what each replaced), ``--max-steps`` caps the file's ``min_steps`` floors too
(``capped_floors``), ``--strategies`` / ``--arms`` leave out its tables for the strategies they drop, and its
``label_descriptions`` where no arm kept reads them (``narrowed``).

Example::

    data = "rotten-tomatoes"
    strategies = ["linear-probe", "partial-freeze", "full-finetune"]
    sizes = [16, 64, 256, "all"]
    seeds = 3
    tune = true          # choose each strategy's learning rate on validation (the default); false: its default lr

    [train]
    max_steps = 200

    [options.partial-freeze]
    freeze = 4

    [train_by_strategy.full-finetune]   # TrainConfig fields for one strategy only
    min_steps = 50

    [grid]                              # what tune searches for a strategy instead of its own grid
    full-finetune = [2e-5, 5e-5, 1e-4]

    [label_descriptions]                # zero-shot's text per class (default: "This example is {label}.")
    fresh = "a positive movie review"
    rotten = "a negative movie review"

Where the cells run: ``workers = 4`` (local processes), or ``backend = "ray"`` with ``address = "HOST:PORT"`` (a Ray
cluster's head; "auto" for the one on this machine; docs/SCALE.md).
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError, closest
from headstart.surface import cli_surface, reset_surface, toml_names, toml_text, toml_values
from headstart.data.splits import SplitConfig, split_given
from headstart.specs import TrainConfig

TOP_KEYS = {"data", "backbone", "strategies", "sizes", "seeds", "workers", "out", "text_column", "label_column", "task",
            "pooling", "train", "options", "train_by_strategy", "split", "tune", "grid", "arms", "arm", "retain", "eval_data", "tta", "backbones",
            "group_column", "split_column", "backend", "address", "label_descriptions", "test_data"}

# the keys whose value is one string, each with an example as the file writes it
STRING_KEYS = {"data": '"rotten-tomatoes"', "backbone": '"all-minilm-l6-v2"', "out": '"runs/compare"',
               "text_column": '"text"', "label_column": '"label"', "task": '"classification"', "pooling": '"mean"',
               "group_column": '"group"', "split_column": '"split"', "backend": '"ray"', "address": '"10.0.0.5:6379"',
               "test_data": '"test.csv"'}


def read_config(path: str | Path) -> dict[str, Any]:
    """Parse and check a sweep TOML file into plain data (``train`` stays a dict of TrainConfig fields)."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise ConfigError(f"config file {str(path)!r} {what}; give the path of a sweep .toml file")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot parse {str(path)!r}: {e}; check the TOML syntax") from None
    except OSError as e:
        raise ConfigError(f"cannot read {str(path)!r} ({e.strerror}); check the path and its permissions") from None
    for table in ("train", "options", "train_by_strategy", "split"):
        if table in config and not isinstance(config[table], dict):
            raise ConfigError(f"{table} must be a table in {str(path)!r} (e.g. [{table}]), got {toml_text(config[table])}")
    for table in ("options", "train_by_strategy"):
        for name, value in config.get(table, {}).items():
            if not isinstance(value, dict):
                raise ConfigError(f"[{table}] {name} must be a table in {str(path)!r} (e.g. [{table}.{name}]), got {toml_text(value)}")
    unknown = set(config) - TOP_KEYS
    if unknown:
        raise unknown_keys(unknown, TOP_KEYS, f"in {str(path)!r}")
    train = config.get("train", {})
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    bad = set(train) - fields
    if bad:
        raise unknown_keys(bad, fields, f"in {str(path)!r}", table="train")
    for strategy, overrides in config.get("train_by_strategy", {}).items():
        bad = set(overrides) - fields
        if bad:
            raise unknown_keys(bad, fields, f"in {str(path)!r}", table=f"train_by_strategy.{strategy}")
    split_fields = {f.name for f in dataclasses.fields(SplitConfig)}
    bad = set(config.get("split", {})) - split_fields
    if bad:
        raise unknown_keys(bad, split_fields, f"in {str(path)!r}", table="split")
    _check_values(path, "train", train, TrainConfig)
    for strategy, overrides in config.get("train_by_strategy", {}).items():
        _check_values(path, f"train_by_strategy.{strategy}", overrides, TrainConfig)
    split = split_given(config.get("split", {}))
    if "split" in config:
        config["split"] = split
    _check_values(path, "split", split, SplitConfig)
    for key, example in STRING_KEYS.items():  # a number there reached the data's or the store's code as it was
        if key in config and not isinstance(config[key], str):
            raise ConfigError(f"{key} in {str(path)!r} must be a string like {key} = {example}, got {toml_text(config[key])}")
    for key in ("seeds", "workers"):  # counts: named here as the file's keys, not as the flags they stand in for
        value = config.get(key)
        if key in config and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{key} in {str(path)!r} must be a positive integer like {key} = 3, got {toml_text(value)}")
    if "tune" in config:  # true / "lr": choose learning rates on validation; false: the strategies' defaults
        tune = config["tune"]
        if not isinstance(tune, bool) and tune != "lr":  # 1 == True in Python: a number is no switch here
            raise ConfigError(f"tune in {str(path)!r} must be true, false or \"lr\", got {toml_text(tune)}")
        config["tune"] = "lr" if tune is True or tune == "lr" else None
    if not isinstance(config.get("grid", {}), dict):
        raise ConfigError(f"grid must be a table of strategy = [values] in {str(path)!r}, e.g. [grid] full-finetune = [2e-5, 5e-5, 1e-4]")
    _check_strategy_tables(path, config)
    for key, kinds, example in (("strategies", (str,), '["linear-probe", "lora"]'), ("sizes", (int, str), '[16, 64, "all"]'),
                                ("arms", (str,), '["lora[rank=4]", "full-finetune+l2sp[weight=0.01]"]'),
                                ("retain", (str,), '["drug-reviews"]'), ("eval_data", (str,), '["drug-reviews-sentiment"]'), ("tta", (str,), '["bn-adapt", "tent"]'), ("backbones", (str,), '["all-minilm-l6-v2", "ENCODER_FOLDER"]')):
        value = config.get(key)
        if isinstance(value, list) and not all(isinstance(v, kinds) and not isinstance(v, bool) for v in value) or (
                key in config and not isinstance(value, (list, str)) and not (key == "sizes" and type(value) is int)):
            raise ConfigError(f"{key} in {str(path)!r} must be a list like {example}, got {toml_text(value)}")
    if "arm" in config:  # [[arm]] tables: arms whose options are easier to write as TOML than as text
        from headstart.arm_text import arm_text, split_arms

        if not isinstance(config["arm"], list):
            raise ConfigError(f"arm in {str(path)!r} must be [[arm]] tables (one per arm), e.g. [[arm]] strategy = \"lora\" rank = 4")
        config["arms"] = [*split_arms(config.get("arms") or ()), *(arm_text(t, repr(str(path))) for t in config.pop("arm"))]
    for key in ("retain", "eval_data", "tta"):  # a bare string would be read letter by letter
        if isinstance(config.get(key), str):
            raise ConfigError(f"{key} in {str(path)!r} must be a list, e.g. {key} = [{config[key]!r}]".replace("'", '"'))
    if "label_descriptions" in config:  # zero-shot's text per class: a table, or a file / LABEL=TEXT text as the flag takes
        described = config["label_descriptions"]
        if isinstance(described, dict) and all(isinstance(v, str) for v in described.values()):
            config["label_descriptions"] = list(described.items())
        elif not isinstance(described, str):
            raise ConfigError(f"label_descriptions in {str(path)!r} must be a table of label = text, e.g. "
                              f"label_descriptions = {{ fresh = \"a positive movie review\" }}, got {described!r}")
    if "sizes" in config:
        config["sizes"] = ",".join(str(s) for s in config["sizes"]) if isinstance(config["sizes"], list) else str(config["sizes"])
    if "strategies" in config and isinstance(config["strategies"], list):
        config["strategies"] = ",".join(config["strategies"])
    return config


def unknown_keys(unknown: set[str], allowed: set[str], where: str, *, table: str | None = None) -> ConfigError:
    """The error for keys of a config file's ``table`` (None: its top level) outside ``allowed``, each with the allowed
    key it is closest to: ``unknown key(s) ['size'] in 'sweep.toml'; did you mean 'sizes'? (allowed: ...)``."""
    keys = sorted(unknown)
    guesses = [(key, closest(key, allowed)) for key in keys]
    if len(keys) == 1:
        guessed = guesses[0][1]
    else:  # each typo beside its fix: "did you mean 'sizes' for 'size', 'seeds' for 'sed'?"
        named = [f"{hint.removeprefix('; did you mean ').removesuffix('?')} for {key!r}" for key, hint in guesses if hint]
        guessed = f"; did you mean {', '.join(named)}?" if named else ""
    return ConfigError(f"unknown {f'[{table}] ' if table else ''}key(s) {keys} {where}{guessed} "
                       + (f"(allowed: {', '.join(sorted(allowed))})" if allowed else "(it takes none)"))


def _check_strategy_tables(path: Path, config: dict[str, Any]) -> None:
    """The tables a strategy names ([grid] NAME, [options.NAME], [train_by_strategy.NAME]) checked where the file writes
    them: a misspelt strategy, a misspelt option of [options.NAME] and a value there or in [grid] out of range are
    named by the file's table and key, with the fix as the file writes it (``try rank = 8``), not by the ``--grid`` /
    ``--option`` flags that stand in for them. Whether a strategy is one of the sweep's is checked once the flags are in.

    Raises:
        ConfigError: the table, key and file, and the fix.
    """
    import re

    from headstart.arguments import parse_grid
    from headstart.errors import unknown
    from headstart.strategies import STRATEGIES

    where = f"in {str(path)!r}"
    for table in ("grid", "options", "train_by_strategy"):
        for name in config.get(table, {}):
            if name not in STRATEGIES:
                named = f"[{table}] {name}" if table == "grid" else f"[{table}.{name}]"
                raise ConfigError(f"{named} {where}: {unknown('strategy', name, STRATEGIES)}")
    for name, values in config.get("options", {}).items():
        strategy = STRATEGIES[name]
        known = {f.name for f in dataclasses.fields(strategy.Options)}
        if set(values) - known:
            raise unknown_keys(set(values) - known, known, where, table=f"options.{name}")
        try:
            strategy.options(values)
        except ConfigError as e:  # "try --option rank=8" -> "try rank = 8"
            text = re.sub(r"--option ([a-z_]+)=([^\s;)]*[^\s;),.])", lambda m: f"{m.group(1)} = " + (
                m.group(2) if re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?|true|false|\[.*\]", m.group(2)) else toml_text(m.group(2))),
                str(e))
            key = next((k for k in values if text.startswith(f"{k} ")), None)
            text = toml_values(text, key)
            raise ConfigError(f"[options.{name}] {key} {where}{text[len(key):]}" if key
                              else f"[options.{name}] {where}: {text}") from None
    for name, values in config.get("grid", {}).items():
        try:
            parse_grid(values, name=f"[grid] {name} {where}", example=f"{name} = [2e-5, 5e-5, 1e-4]")
        except ConfigError as e:
            raise ConfigError(toml_values(str(e))) from None


def _check_values(path: Path, table: str, values: dict[str, Any], kind: type) -> None:
    """Build ``kind`` (TrainConfig, SplitConfig) from one table of the file alone, so that a bad value is named where it
    is written, as TOML writes it: ``[split] test_fraction in 'sweep.toml' must be a number, got "x"``, and its fix as a
    key of the file (``try lr = 1e-5``, not the CLI's ``--lr``). Each field's checks read that field alone, so a table's
    values are right or wrong whatever the flags add to them.

    Raises:
        ConfigError: the settings class's message, led by the table, the key and the file.
    """
    marked = cli_surface()  # a file's settings are named as a file writes them (true, not True), from any caller
    try:
        kind(**values)
    except ConfigError as e:
        text = toml_names(str(e), {f.name for f in dataclasses.fields(kind)})
        key = next((k for k in values if text.startswith(f"{k} ")), None)
        text = toml_values(text, key)  # got "x", as the file writes it, not got 'x'
        raise ConfigError(f"[{table}] {key} in {str(path)!r}{text[len(key):]}" if key
                          else f"[{table}] in {str(path)!r}: {text}") from None
    finally:
        reset_surface(marked)


def overridden(config: dict[str, Any], path: str | Path, flags: dict[str, Any], *,
               python: bool = False) -> tuple[dict[str, Any], str | None]:
    """``config`` without the fields the command line sets: a training flag replaces its field everywhere the file
    sets it, ``[train]`` and every ``[train_by_strategy.NAME]``, so ``--min-steps 20`` is every strategy's floor, one
    with a table of its own included; a split flag (``--max-test``, ``--max-val``, ``--dedupe``) replaces its field in
    ``[split]``.

    Args:
        config: ``read_config``'s tables (after ``narrowed``, so that only the sweep's strategies' tables are named).
        flags: the TrainConfig and SplitConfig fields the command line sets, by field (``{"max_steps": 20}``,
            ``{"dedupe": True}``); a None is not set.
        python: the fields are ``compare(config=FILE, ...)``'s keywords: the note says "keywords" and writes each as
            one (``max_test='all'``, not ``--max-test all``).

    Returns:
        The config with those fields left out of its tables (a table left empty stays, empty), and a note naming the
        file's values each flag replaced (None where it replaced none).
    """
    given = {name: value for name, value in flags.items() if value is not None}
    split_fields = {f.name for f in dataclasses.fields(SplitConfig)}
    train_tables = {"[train]": config.get("train", {}),
                    **{f"[train_by_strategy.{name}]": values for name, values in config.get("train_by_strategy", {}).items()}}
    def other(typed: Any, there: Any) -> bool:  # --max-val 100 (text) beside max_val = 100 replaces nothing to say
        return str(typed).lower() != str(there).lower()

    replaced = {name: [f"{name} = {toml_text(values[name])} in {table}"
                       for table, values in ({"[split]": config.get("split", {})} if name in split_fields
                                             else train_tables).items() if name in values and other(given[name], values[name])]
                for name in given}
    kept = dict(config)
    if "train" in config:
        kept["train"] = {k: v for k, v in config["train"].items() if k not in given}
    if "train_by_strategy" in config:
        # a table left empty stays, so that one naming a strategy outside the sweep is still refused as a typo
        kept["train_by_strategy"] = {name: {k: v for k, v in values.items() if k not in given}
                                     for name, values in config["train_by_strategy"].items()}
    if "split" in config:
        kept["split"] = {k: v for k, v in config["split"].items() if k not in given}
    # as the caller typed it: --dedupe bare, a keyword with its value as Python writes it
    typed = {name: f"{name}={value!r}" if python else f"--{name.replace('_', '-')}" + ("" if value is True else f" {value}")
             for name, value in given.items()}
    said = [f"{typed[name]} replaces {', '.join(found)}" for name, found in replaced.items() if found]
    if not said:
        return kept, None
    return kept, f"note: {'keywords' if python else 'flags'} override {str(path)!r}: {'; '.join(said)}"


def capped_floors(config: dict[str, Any], path: str | Path, *, max_steps: int | None = None,
                  min_steps: int | None = None) -> str | None:
    """Each strategy's floor (``min_steps``) against its cap (``max_steps``), as the file and the flags set them. A cap
    typed on the command line (``--max-steps``) wins over every floor the file sets, as it does over a strategy's own
    floor: the run takes the cap, and the report says "capped at N by max_steps". A floor above a cap set beside it
    (both flags, both in the file, or ``--min-steps`` over the file's cap) asks for two budgets at once, refused by
    ``TrainConfig.check_as_given`` naming where each was set.

    Args:
        config: ``overridden``'s tables (no field a flag sets is left in them); ``train`` and ``train_by_strategy``
            are read.
        max_steps / min_steps: the command line's ``--max-steps`` / ``--min-steps`` (None: not given).

    Returns:
        A note naming the file's floors the command line's cap cuts, or None where it cuts none.

    Raises:
        ConfigError: a floor above its cap that is not the file's under the command line's cap.
    """
    where = repr(str(path))
    train = config.get("train", {})
    # each setting as (value, the file's table that set it; None: the command line)
    floor = (min_steps, None) if min_steps is not None else (train.get("min_steps"), "[train]")
    cap = (max_steps, None) if max_steps is not None else (train.get("max_steps"), "[train]")
    pairs = [(floor, cap)]
    for name, overrides in config.get("train_by_strategy", {}).items():
        table = f"[train_by_strategy.{name}]"
        pairs.append(((overrides["min_steps"], table) if "min_steps" in overrides else floor,
                      (overrides["max_steps"], table) if "max_steps" in overrides else cap))
    cut = []
    for (low, low_table), (high, high_table) in pairs:
        if low is None or high is None or low <= high:
            continue
        if high_table is None and low_table is not None:  # the command line's cap over the file's floor: it wins
            cut.append(f"min_steps = {low} in {low_table}")
            continue
        TrainConfig(min_steps=low, max_steps=high).check_as_given(
            set_in={k: t for k, t in (("min_steps", low_table), ("max_steps", high_table)) if t}, file=where)
    if not cut:
        return None
    return (f"note: --max-steps {max_steps} caps the floors {where} sets above it ({'; '.join(dict.fromkeys(cut))}): "
            f"the cap wins, as over a strategy's own floor, and the report says 'capped at {max_steps} by max_steps'")


def narrowed(config: dict[str, Any], path: str | Path, *, strategies: tuple[str, ...], flag: str) -> tuple[dict[str, Any], str | None]:
    """``config`` without its settings for strategies a flag (``--strategies`` / ``--arms``) left out of the sweep:
    flags override the file, so ``--strategies linear-probe`` beside a file with ``[train_by_strategy.scratch]`` runs
    without scratch rather than being refused for its settings, and beside a file's ``label_descriptions`` runs
    without them where no strategy kept reads them (zero-shot, zero-shot-prompt, icl). Without such a flag the file's
    own list and tables are checked against each other by the sweep (a misspelt table is still refused).

    Args:
        strategies: the strategies of the flag's sweep.
        flag: the flag that named them, for the note.

    Returns:
        The tables [options.NAME], [train_by_strategy.NAME] and [grid] NAME kept for ``strategies``, and
        label_descriptions where one of them reads it; and a note naming those left out (None where none is).
    """
    from headstart.strategies import STRATEGIES

    kept, unused = dict(config), {}
    for table in ("options", "train_by_strategy", "grid"):
        if table in config:
            kept[table] = {name: values for name, values in config[table].items() if name in strategies}
            for name in set(config[table]) - set(strategies):
                unused.setdefault(name, []).append(f"[grid] {name}" if table == "grid" else f"[{table}.{name}]")
    readers = [name for name, strategy in STRATEGIES.items()
               if "descriptions" in {f.name for f in dataclasses.fields(strategy.Options)}]
    described = "label_descriptions" in config and not set(readers) & set(strategies)
    if described:
        del kept["label_descriptions"]
    if not unused and not described:
        return kept, None
    tables = [t for name in sorted(unused) for t in unused[name]] + (["label_descriptions"] if described else [])
    left = (f"leaves out {', '.join(sorted(unused))}" if unused
            else f"keeps no strategy that reads label_descriptions ({', '.join(readers)})")
    return kept, (f"note: {flag} {left}: {', '.join(tables)} in {str(path)!r} "
                  f"{'is' if len(tables) == 1 else 'are'} not used"
                  + (f" (no strategy kept reads label_descriptions: {', '.join(readers)} do)" if described and unused else ""))
