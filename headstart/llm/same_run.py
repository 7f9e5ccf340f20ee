"""Whether ``sft`` / ``prefer``'s ``--out`` holds another run than the one asked for, as ``headstart.same_run`` asks
for ``train``: the same request made again (the same settings, data and columns) replaces its run; a run of other
settings, or of the other kind (a prefer run under sft, an sft run under prefer), is a trained model the user may
still want, refused before anything loads unless ``--overwrite`` / ``overwrite=True``.

A request is compared with the stored ``spec.json`` as the run would write it (``sft_request``, ``prefer_request``):
its settings resolved as the run resolves them (the backbone's reference, the strategy's rate, prefer's start), and
its data by name and columns, not by hash (a data file edited since is the same request made again).
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError
from headstart.surface import on_cli

DERIVED = ("steps", "base", "format", "optimizer", "sft_interrupted")  # what the run works out, not what was asked


def sft_request(cfg: Any, data: str, *, prompt_column: str, response_column: str,
                group_column: str | None = None) -> dict[str, Any]:
    """The parts of the spec.json an sft run of ``cfg`` on ``data`` writes that a request decides (the column its
    split kept groups by among them: another cuts other test rows)."""
    from headstart.llm.lm import lm_reference

    return {"kind": "sft", **asdict(cfg), "backbone": lm_reference(cfg.backbone), "lr": cfg.rate,
            "data": {"name": str(data), "prompt_column": prompt_column, "response_column": response_column,
                     "group_column": group_column}}


def prefer_request(cfg: Any, data: str, *, prompt_column: str, chosen_column: str, rejected_column: str,
                   group_column: str | None = None) -> dict[str, Any]:
    """The parts of the spec.json a prefer run of ``cfg`` on ``data`` writes that a request decides: with ``--sft``
    its backbone and strategy are that run's (``check_start`` refuses others), else the given or default ones; the
    column its split kept groups by among them, as sft's."""
    from headstart.llm.dpo import DEFAULT_BACKBONE, DEFAULT_STRATEGY, LRS, check_start
    from headstart.llm.lm import lm_reference

    start = check_start(cfg)
    if start is not None:
        sft, backbone, strategy = str(Path(cfg.sft).resolve()), start.get("backbone"), start.get("strategy")
    else:
        sft, backbone, strategy = None, lm_reference(cfg.backbone or DEFAULT_BACKBONE), cfg.strategy or DEFAULT_STRATEGY
    return {"kind": "prefer", **asdict(cfg), "sft": sft, "backbone": backbone, "strategy": strategy,
            "lr": cfg.lr if cfg.lr is not None else LRS.get(strategy, cfg.lr),
            "data": {"name": str(data), "prompt_column": prompt_column, "chosen_column": chosen_column,
                     "rejected_column": rejected_column, "group_column": group_column}}


def other_run(out: str | Path, mine: dict[str, Any], defaults: Any) -> str | None:
    """The sft / prefer run in ``out`` that is not ``mine`` (a ``*_request``), in words: its kind, strategy, size and
    seed, and the settings that differ (each with the value there, then the one asked); None where ``out`` holds no such run, or the same one.

    Args:
        defaults: the settings class of ``mine`` (SftConfig, PreferConfig): a field a run of an earlier version did
            not record is read as its default, as that run meant it.
    """
    try:
        held = json.loads((Path(out) / "spec.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(held, dict) or held.get("kind") not in ("sft", "prefer"):
        return None  # not an sft / prefer run: outdir.claim has refused it already
    n = held.get("n")
    what = f"{held.get('strategy')}, n = {'all' if n is None else n}, seed {held.get('seed')}"
    if held["kind"] != mine["kind"]:
        start = f", started from {held['sft']!r}" if held.get("sft") else ""
        return f"{_article(held['kind'])} run ({what}{start}), not {_article(mine['kind'])} run"
    filled = {f.name: f.default for f in fields(defaults)}
    held, mine = (json.loads(json.dumps(s, default=str)) for s in (held, mine))
    differ = []
    for key in mine:
        if key in DERIVED:
            continue
        if isinstance(mine[key], dict):
            there = held.get(key) if isinstance(held.get(key), dict) else {}
            differ += [(f"{key}.{k}", there[k], v) for k, v in mine[key].items() if k in there and there[k] != v]
        elif held.get(key, filled.get(key, mine[key])) != mine[key]:
            differ.append((key, held.get(key, filled.get(key)), mine[key]))
    if not differ:
        return None
    named = [f"{_named(d)} {_value(d, there)} there, {_value(d, asked)} asked" for d, there, asked in differ]
    return (f"another {mine['kind']} run ({what}; settings that differ: {'; '.join(named[:4])}"
            f"{'; ...' if len(named) > 4 else ''})")


def _named(setting: str) -> str:
    """A setting as the user gave it: ``--max-steps`` on the CLI (``evals`` as ``--evals-per-phase``: ``sft.CLI_NAMES``),
    ``max_steps`` from Python; the data's columns as
    their flags (``--prompt-column``) or parameters (``prompt_column``), its name as ``--data`` / ``data``."""
    name = setting.removeprefix("data.")
    name = "data" if name == "name" else name
    if not on_cli():
        return name
    from headstart.llm.sft import CLI_NAMES

    return f"--{CLI_NAMES.get(name, name).replace('_', '-')}"


def _value(setting: str, value: Any) -> str:
    """A setting's value as its flag takes it: n None -> all, a list -> a,b, None -> none."""
    if value is None:
        return "all" if setting == "n" else "none"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def _article(kind: str) -> str:
    return f"{'an' if kind == 'sft' else 'a'} {kind}"


def check_replaces_same_run(out: str | Path, mine: dict[str, Any], defaults: Any) -> None:
    """Refuse to replace an sft / prefer run in ``out`` that is not ``mine`` (``other_run``) without ``--overwrite``.

    Raises:
        ConfigError: naming the run there, what differs, a folder beside ``out`` and the flag that replaces it.
    """
    from headstart.outdir import sibling

    what = other_run(out, mine, defaults)
    if what is None:
        return
    how = "add --overwrite" if on_cli() else "pass overwrite=True"  # a bare switch: python_names would drop its =True
    raise ConfigError(f"--out {str(out)!r} holds {what}; nothing was trained or replaced: give a new folder, e.g. "
                      f"--out {sibling(out, mine['kind'])}, or {how} to replace it")
