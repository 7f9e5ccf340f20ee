"""The ``headstart train`` command (and its ``headstart.fit`` call) that trains a recommended arm as the compare ran it.

A compare tunes by default and ``train`` does not: a recommended arm trained with ``train --strategy S --n N`` alone
ran at the strategy's untuned rate, not the one the compare chose. The command built here carries the arm's data and
columns, backbone, strategy, size, options, terms, its train settings that differ from ``train``'s defaults, the split
settings ``train`` takes, the precision ``--precision auto`` resolved to in its runs, and the learning rate tuning chose at that size (``--tune lr`` with the same grid where the
seeds chose different ones or one recorded none). It reads the store's last sweep (``Store.sweep()``: what the user asked, before any
default was filled), so only an arm of that sweep's plan gets one (its runs planned there, or made as a planned cell
was); any other gets a sentence saying why, which its band shows. Data passed to compare from Python gets the ``fit``
call alone, its data written as the variable the user holds it in (``df``). Torch-free unless the sweep set train settings
(which of them the arm reads is the strategy's to say).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from typing import Any

from headstart.results import RunResult

DEFAULT_BACKBONE = "all-minilm-l6-v2"  # backbones.DEFAULT, named here: that package imports torch
# split settings train has no flag for: an arm cut with another of these gets no command (it would train on other rows)
_SPLIT_FIXED = ("seed", "test_fraction", "val_fraction", "stratify")
_NOT_HOW = ("key", "seed", "n_actual", "n_requested", "arm")  # tell one arm's cells apart (arm: a report's label)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bracket(values: dict[str, Any]) -> str:
    return f"[{','.join(f'{k}={_text(v)}' for k, v in values.items())}]" if values else ""


def _arms(sweep: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]]:
    """The sweep's arms as ``(strategy, options, train overrides, terms)``, as ``SweepSpec.arm_specs`` reads them."""
    from headstart.arm_text import parse_arm

    if sweep.get("arms"):
        return [parse_arm(a) for a in sweep["arms"]]
    options = sweep.get("options") or {}
    return [(s, dict(options.get(s) or {}), {}, {}) for s in sweep.get("strategies") or ()]


def _same(given: Any, resolved: Any) -> bool:
    canon = (lambda v: json.dumps(list(v) if isinstance(v, tuple) else v, sort_keys=True, default=str))
    return canon(given) == canon(resolved) or _text(given) == _text(resolved)


def _arm_of(spec: dict[str, Any], sweep: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]] | None:
    """The sweep's arm a run's resolved ``spec`` is a cell of: the same strategy and terms, each option, term option
    and train override the arm gives equal to the run's; None unless exactly one arm (as given) matches."""
    options, train, terms = spec.get("options") or {}, spec.get("train") or {}, spec.get("terms") or {}
    found = []
    for strategy, given, overrides, given_terms in _arms(sweep):
        if (strategy == spec.get("strategy") and sorted(given_terms) == sorted(terms)
                and all(k in options and _same(v, options[k]) for k, v in given.items())
                and all(k in train and _same(v, train[k]) for k, v in overrides.items())
                and all(all(k in (terms[t] or {}) and _same(v, terms[t][k]) for k, v in (o or {}).items())
                        for t, o in given_terms.items())):
            found.append((strategy, given, overrides, given_terms))
    unique = {json.dumps(a, sort_keys=True, default=str) for a in found}
    return found[0] if len(unique) == 1 else None


def _backbone_of(spec: dict[str, Any], sweep: dict[str, Any]) -> str | None:
    """The backbone as the user gave it for this run: the sweep's one, or the one of ``--backbones`` the run names."""
    given = list(sweep.get("backbones") or [])
    if not given:
        return sweep.get("backbone")
    name = str(spec.get("backbone"))
    return next((b for b in given if b == name or str(b).rstrip("/").rsplit("/", 1)[-1] == name), None)


def _why_tune(recorded: list[float], seeds: int) -> str:
    """Why ``seeds`` runs whose tuned rates are ``recorded`` (a seed that recorded none left out) give no one rate."""
    unrecorded = seeds - len(recorded)
    missing = f"{unrecorded} of its {seeds} seeds recorded no rate" if unrecorded else ""
    distinct = list(dict.fromkeys(recorded))
    if len(distinct) > 1:
        chose = f"its {len(recorded)} seeds{' that recorded one' if unrecorded else ''} chose different rates ({', '.join(_text(v) for v in recorded)})"
        return f"{chose}; {missing}" if missing else chose
    return f"{missing} (the rest chose {_text(distinct[0])})" if distinct else missing


def train_command(runs: list[RunResult], sweep_record: dict[str, Any] | None, n: int | str) -> dict[str, Any] | None:
    """The command that trains the arm of ``runs`` (one arm's finished runs at requested size ``n``) as the compare ran it.

    Args:
        runs: the arm's finished runs at that size (its seeds).
        sweep_record: ``Store.sweep()``: ``{"sweep": SweepSpec as a dict, "plan": [{"key", ...}]}``.
        n: the requested size (``"all"`` for the whole pool).

    Returns:
        ``{"n", "cli", "python", "note"}``: ``cli`` the ``headstart train`` line (shell-quoted; no ``--out``: the user
        names it, else runs/latest), ``python`` the ``headstart.fit(...)`` call, ``note`` why ``--tune lr`` is in it ("" where the rate is
        fixed). Data passed to compare from Python (a DataFrame) gives ``cli`` None and a call naming the data by a
        variable (``headstart.fit(df, ...)``), which ``note`` says is the data passed to compare. None where the runs are
        not cells of the store's last sweep (its settings as asked are not stored) or the sweep cut the data in a way
        ``train`` cannot.
    """
    return command_or_why(runs, sweep_record, n)[0]


def _made_as(spec: dict[str, Any]) -> str:
    """How a run (or a planned cell) was made: its resolved spec less what tells the cells of one arm apart."""
    made = {k: v for k, v in spec.items() if k not in _NOT_HOW and v is not None}
    return json.dumps(made, sort_keys=True, default=str)


def command_or_why(runs: list[RunResult], sweep_record: dict[str, Any] | None,
                   n: int | str) -> tuple[dict[str, Any] | None, str]:
    """``train_command``'s command and "", or None and why there is none (plain text; "" where ``runs`` is empty or
    the store keeps no sweep record: then no band has a command).

    A run the last sweep did not plan (another compare's seed, stored before it) counts as its cell where its resolved
    spec, less key, seed and sizes, is a planned cell's: it was made as that cell was.
    """
    record = sweep_record or {}
    sweep, plan = record.get("sweep"), record.get("plan")
    if not runs or not isinstance(sweep, dict) or not isinstance(plan, list):
        return None, ""  # no compare's settings kept: no band gets a command, so none is missing from one
    cells = [c for c in plan if isinstance(c, dict)]
    planned, made = {c.get("key") for c in cells}, {_made_as(c) for c in cells}
    if not all(r.key in planned or _made_as(r.spec or {}) in made for r in runs):
        return None, ("the store's last compare did not run it with these settings, and the store keeps the settings "
                      "as asked of its last compare alone; a compare that runs it again into this store gives one")
    if not isinstance(sweep.get("data"), str):
        return None, "the compare's data is no path or name train reads"
    from headstart.data.memory import shown_name

    name = str(sweep["data"]).replace("\\", "/").rsplit("/", 1)[-1]
    passed = _passed_as(record.get("command")) if shown_name(name) != name else None  # a table the user never named
    split = sweep.get("split") or {}
    from headstart.data.splits import SplitConfig

    default = SplitConfig()
    fixed = [k for k in _SPLIT_FIXED if split.get(k, getattr(default, k)) != getattr(default, k)]
    if fixed:  # train and fit take only the caps: a fraction, seed or stratify of their own cuts other rows
        caps = (f" (max_test and max_val cap the {100 * default.test_fraction:g}% test and {100 * default.val_fraction:g}% "
                "validation parts, as train's --max-test and --max-val do)" if {"test_fraction", "val_fraction"} & set(fixed) else "")
        return None, (f"the compare cut its split with {', '.join(f'{k} {_text(split[k])}' for k in fixed)}, which no train "
                      f"flag (nor fit keyword) sets, so no command trains it on that split; a compare that leaves "
                      f"{' and '.join(fixed)} at {'its default' if len(fixed) == 1 else 'their defaults'} gives one{caps}")
    spec = runs[0].spec or {}
    arm = _arm_of(spec, sweep)
    backbone = _backbone_of(spec, sweep)
    if arm is None:
        return None, "its settings are those of no one arm of the store's last compare"
    if backbone is None:
        return None, f"its backbone {spec.get('backbone')!s} is none the store's last compare named"
    strategy, options, overrides, terms = arm
    from headstart.specs import TrainConfig

    defaults = TrainConfig.field_defaults()
    given_train = {**(sweep.get("train") or {}), **((sweep.get("train_by_strategy") or {}).get(strategy) or {}), **overrides}
    train = {k: v for k, v in given_train.items() if k in defaults and v != defaults[k]}
    from headstart.strategies import get_strategy

    used = {((r.spec or {}).get("train") or {}).get("precision") for r in runs}
    if get_strategy(strategy).own_features is not None:  # no backbone runs (TF-IDF counts): no arithmetic to choose
        train.pop("precision", None)
    elif given_train.get("precision", "auto") == "auto" and len(used) == 1 and (resolved := used.pop()) in ("fp32", "bf16"):
        train["precision"] = resolved  # auto is a timing probe of the machine: another CPU may pick the other arithmetic
    if train:  # a compare shares its settings across arms, each reading its own: train refuses the rest for this arm
        from headstart.strategies.base import unread_settings

        image = bool((spec.get("backbone_config") or {}).get("image_size"))
        for unread in unread_settings(get_strategy(strategy), train, "image" if image else "text"):
            train.pop(unread)
    tuned = spec.get("tune") if isinstance(spec.get("tune"), dict) else None
    note, tune, grid = "", None, None
    if tuned and sweep.get("tune"):
        param = str(tuned.get("param"))
        recorded = [float(v) for r in runs for v in [(r.chosen or {}).get(param)]
                    if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(set(recorded)) == 1 and len(recorded) == len(runs):
            train[param] = recorded[0]
        else:
            tune = "lr"
            grid = (sweep.get("grids") or {}).get(strategy)
            note = f"--tune lr, not one {param}: {_why_tune(recorded, len(runs))}, so train tunes on validation as compare did"
    cli = ["headstart", "train", "--data", shlex.quote(sweep["data"])]
    python = [passed[0] if passed else repr(sweep["data"])]
    for field in ("text_column", "label_column", "task", "group_column", "split_column", "test_data"):
        if sweep.get(field) is not None:
            cli += [_flag(field), shlex.quote(str(sweep[field]))]
            python.append(f"{field}={sweep[field]!r}")
    if backbone != DEFAULT_BACKBONE:
        cli += ["--backbone", shlex.quote(str(backbone))]
        python.append(f"backbone={backbone!r}")
    size = "all" if n is None else n
    cli += ["--strategy", shlex.quote(strategy), "--n", str(size)]
    python += [f"strategy={strategy!r}", f"n={size!r}"]
    if sweep.get("pooling") is not None:
        cli += ["--pooling", shlex.quote(str(sweep["pooling"]))]
        python.append(f"pooling={sweep['pooling']!r}")
    for key, value in options.items():  # --option reads a value as JSON first: a nested one goes as JSON (descriptions)
        nested = isinstance(value, dict) or (isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple, dict)) for v in value))
        shown = json.dumps(value, ensure_ascii=False) if nested else _text(value)
        cli += ["--option", shlex.quote(f"{key}={shown}")]
    if options:
        python.append(f"options={dict(options)!r}")
    if terms:
        cli += ["--terms", shlex.quote("+".join(f"{t}{_bracket(o or {})}" for t, o in terms.items()))]
        python.append(f"terms={ {t: dict(o or {}) for t, o in terms.items()}!r}")
    ordered = {f.name: train[f.name] for f in dataclasses.fields(TrainConfig) if f.name in train}
    for key, value in ordered.items():
        cli += [_flag(key), shlex.quote(_text(value))]
    if ordered:
        python.append(f"config={ordered!r}")
    if tune:
        cli += ["--tune", "lr"] + (["--grid", _text(grid)] if grid else [])
        python += ["tune='lr'"] + ([f"grid={list(grid)!r}"] if grid else [])
    if split.get("max_test") is not None:
        cli += ["--max-test", _text(split["max_test"])]
        python.append(f"max_test={split['max_test']!r}")
    if split.get("max_val", default.max_val) != default.max_val:
        cli += ["--max-val", _text(split["max_val"])]
        python.append(f"max_val={split['max_val']!r}")
    if split.get("dedupe"):
        cli.append("--dedupe")
        python.append("dedupe=True")
    for field in ("retain", "eval_data", "tta"):
        values = list(sweep.get(field) or [])
        for value in values:
            cli += [_flag(field), shlex.quote(str(value))]
        if values:
            python.append(f"{field}={values!r}")
    if passed:  # the cached table's path is no name the user gave, and no file the CLI's user holds
        variable, kind = passed
        said = (f"{variable} is the {kind} you passed to compare; no headstart train command: the CLI reads no data "
                "held in Python")
        note = f"{said}; {note}" if note else said
    return {"n": size, "cli": None if passed else " ".join(cli), "python": f"headstart.fit({', '.join(python)})",
            "note": note}, ""


def _passed_as(command: Any) -> tuple[str, str]:
    """The variable a ``headstart.fit`` call names data passed to compare from Python by, and what that data was, from
    the compare's call as recorded (``surface.call_text``: ``data=<DataFrame>``): ``("df", "DataFrame")``,
    ``("ds", "Dataset")``, else ``("data", "data")``."""
    import re

    found = re.search(r"\bdata=<(\w+)>", command) if isinstance(command, str) else None
    kind = found.group(1) if found else "data"
    return {"DataFrame": "df", "Dataset": "ds", "DatasetDict": "ds"}.get(kind, "data"), kind


def band_commands(band: dict[str, Any], results: list[RunResult],
                  sweep_record: dict[str, Any] | None) -> tuple[list[dict[str, Any]], list[str]]:
    """One ``train_command`` per size of a recommendation band (``recommend``'s), for the arm picked there, and a
    sentence for each size that gets none saying why ("no command to train lora at n = 8 is given: ..."); ([], []) for
    a band that recommends nothing (nothing chosen, or no arm learned the task)."""
    from headstart.analysis.arms import arm_name

    if not band.get("strategy") or band.get("learned_nothing") or band.get("nothing_chosen"):
        return [], []
    out, missing = [], {}
    for pick in band.get("evidence") or []:
        n = 0 if pick.get("label_free") else pick["n"]  # a label-free arm stands at every size on its n = 0 runs
        runs = [r for r in results if r.status == "done" and arm_name(r) == pick["strategy"]
                and (r.spec or {}).get("n_requested") == n]
        command, why = command_or_why(runs, sweep_record, n)
        if command is not None and all(c["python"] != command["python"] for c in out):
            out.append(command)
        elif command is None and why:  # one sentence for the sizes that share a reason (a split: every size's)
            sizes = missing.setdefault((pick["strategy"], why), [])
            sizes += [] if ("all" if n is None else n) in sizes else ["all" if n is None else n]
    return out, [f"no command to train {strategy} at n = {', '.join(map(str, sizes))} is given: {why}"
                 for (strategy, why), sizes in missing.items()]
