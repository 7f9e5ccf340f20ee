"""How an arm is written: ``strategy[options]+term[options]``, on the command line (``--arms``, ``--terms``,
``--option``) and as a sweep TOML's ``[[arm]]`` tables; the text read into a strategy, its options, its training
overrides and its objective terms (``parse_arm``), numbers in brackets read as numbers, mistakes named in the arm's
words."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from headstart.errors import ConfigError, closest, comma_entries
from headstart.specs import TrainConfig


def terms_of(terms: dict[str, dict[str, Any]] | str | None, strategy: str) -> dict[str, dict[str, Any]]:
    """Objective terms as a dict: given as one, or as ``--terms`` text (``"l2sp[weight=0.01]+ewc"``), read as the terms
    of an arm of ``strategy``.

    Raises:
        ConfigError: neither a dict nor text, or text that is not a known term with valid options.
    """
    if isinstance(terms, str):
        parts = arm_parts(terms.strip())
        for i, part in enumerate(parts):  # read as terms, not as an arm: a mistake is named in the term syntax
            if terms.strip() and not re.match(ARM_PATTERN, part):
                closed = part.rstrip() + "]"
                unclosed = part.count("[") > part.count("]") and re.match(ARM_PATTERN, closed)
                example = "+".join(parts[:i] + [closed.strip()] + parts[i + 1:]) if unclosed else "l2sp[weight=0.01]+ewc"
                which = "" if len(parts) == 1 else f"{part.strip()!r}: "
                why = which + ("a [ without its ]" if unclosed else "not a term name, or a [...] not at its end")
                raise ConfigError(f"cannot read --terms {terms!r} ({why}); write NAME or NAME[key=value, ...], joined by +, "
                                  f"e.g. --terms {example}")
        return parse_arm(f"{strategy}+{terms}")[3] if terms.strip() else {}
    if terms is not None and not isinstance(terms, dict):
        raise ConfigError(f"terms must be a dict such as {{'l2sp': {{'weight': 0.01}}}} or text such as "
                          f"'l2sp[weight=0.01]', got {terms!r}")
    return dict(terms or {})


def _bracket_values(text: str, where: str) -> dict[str, Any]:
    """``"rank=4, alpha=8"`` -> ``{"rank": 4, "alpha": 8}`` (numbers and booleans as JSON, the rest as text; a value
    may hold commas: ``targets=query,value``)."""
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in _bracket_entries(text))):
        if "=" not in part:
            raise ConfigError(f"{where}: expected name=value inside [...], got {part!r}; e.g. lora[rank=4]")
        key, value = (x.strip() for x in part.split("=", 1))
        zeros = leading_zero_fix(key, value)
        if zeros:
            raise ConfigError(f"{where}: {zeros}")
        out[key] = option_value(value)
    return out


def _bracket_entries(text: str) -> list[str]:
    """``"rank=4, targets=query,value"`` -> ``["rank=4", " targets=query,value"]``, unstripped: a comma starts a new
    entry only before "name=", so a value's own comma list stays whole."""
    return re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_.]*\s*=)", text)


def _without_empty_entries(text: str) -> str | None:
    """The brackets' text with its empty entries dropped (``"rank=4,, alpha=8"`` -> ``"rank=4, alpha=8"``; a comma
    that ends an entry ends an empty one), or None when it has none. A value's own list (``targets=query,,value``) is
    left to the option that reads it."""
    entries = [p.strip() for p in _bracket_entries(text)] if text.strip() else []
    kept = [re.sub(r"[\s,]+$", "", p) for p in entries]
    if all(kept) and kept == entries:
        return None
    return ", ".join(p for p in kept if p)


def option_value(text: str) -> Any:
    """An option's value as typed: JSON (numbers, true / false), a number JSON refuses (``+0.5``, ``.5``) as that
    number, anything else as the text."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", text):
        return int(text) if text.strip().lstrip("+-").isdigit() else float(text)
    return text


def leading_zero_fix(key: str, value: str) -> str | None:
    """For an option ``key=value`` whose value is a number written with a leading zero (``007``, ``07.5``; not ``0``,
    ``0.5`` or ``0e3``), the fix naming the number it likely means; None for anything else. Read on, ``007`` would be
    7 where 0.07 may have been meant."""
    match = re.fullmatch(r"\s*([+-]?)0+(\d+)(\.\d*)?([eE][+-]?\d+)?\s*", value)
    if not match:
        return None
    sign, digits, point, exponent = (match.group(i) or "" for i in range(1, 5))
    fix = f"{key}={value.strip()} is a number with a leading zero; write {key}={sign}{int(digits)}{point}{exponent}"
    if point or exponent or not int(digits):
        return fix
    return f"{fix} (or {key}={sign}0.{value.strip().lstrip('+-')[1:]} if a point was left out)"


def arm_parts(text: str) -> list[str]:
    """``"lora[rank=4]+l2sp[weight=1e+2]"`` -> ``["lora[rank=4]", "l2sp[weight=1e+2]"]``: an arm's parts, split at
    each + but one inside [...] that signs a number (an exponent's ``1e+2``, a value's ``+0.5``)."""
    parts, start, depth = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "[") - (char == "]")
        signs = depth > 0 and re.match(r"\.?\d", text[i + 1:]) and re.search(r"(\d[eE]|[=,]\s*)$", text[:i])
        if char == "+" and not signs:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


ARM_PATTERN = r"^\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?\s*$"


def parse_arm(text: str) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """An arm as written on the command line: ``strategy[options]+term[options]+...``.

    ``full-finetune+l2sp[weight=0.01]``, ``lora[rank=4]``, ``llrd[decay=0.8, lr=5e-5]+l2sp``. Inside the strategy's
    brackets, TrainConfig fields (lr, epochs, min_steps ...) are training overrides and the rest strategy options.

    Returns:
        ``(strategy, options, train_overrides, terms)``.

    Raises:
        ConfigError: malformed text, naming it and giving an example.
    """
    parts = arm_parts(str(text))
    matches = [re.match(ARM_PATTERN, p) for p in parts]
    for i, part in enumerate(parts):  # a [ without its ] is named, with the bracket closed
        closed = part.rstrip() + "]"
        if matches[i] is None and part.count("[") > part.count("]") and re.match(ARM_PATTERN, closed):
            example = "+".join(p.strip() for p in [*parts[:i], closed, *parts[i + 1:]])
            which = "" if len(parts) == 1 else f"{part.strip()!r}: "
            raise ConfigError(f"cannot read arm {text!r} ({which}a [ without its ]); write strategy[options]+term[options], "
                              f"e.g. {example}")
    if not parts or any(m is None for m in matches):
        raise ConfigError(f"cannot read arm {text!r}; write strategy[options]+term[options], e.g. full-finetune+l2sp[weight=0.01]")
    fixed = [_without_empty_entries(m.group(2) or "") for m in matches]
    if any(f is not None for f in fixed):  # read on, rank=4,, would reach the strategy as the text '4,'
        example = "+".join(m.group(1) if f == "" else m.group(0).strip() if f is None else f"{m.group(1)}[{f}]"
                           for m, f in zip(matches, fixed))
        raise ConfigError(f"arm {text!r} has an empty entry (a comma with no option beside it); drop the extra comma or "
                          f"add the option, e.g. {example}")
    strategy, given = matches[0].group(1), _bracket_values(matches[0].group(2) or "", f"arm {text!r}")
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    train = {k: v for k, v in given.items() if k in train_fields}
    options = {k: v for k, v in given.items() if k not in train_fields}
    try:  # a training override out of range, named in the arm's words (TrainConfig's fix is a flag: try --lr 1e-5)
        TrainConfig(**train)
    except ConfigError as e:
        problem = re.split(r"; (?:try|e\.g\.|leave it out)\b", str(e))[0]
        problem = re.sub(r"^--([a-z-]+)", lambda m: m.group(1).replace("-", "_"), problem)  # the arm's key, not its flag
        fix = "" if "did you mean" in problem else f"; change it inside the brackets, or drop it for {strategy}'s default"
        raise ConfigError(f"arm {text!r}: {problem}{fix}") from None
    terms = {m.group(1): _bracket_values(m.group(2) or "", f"arm {text!r}") for m in matches[1:]}
    if len(terms) != len(matches) - 1:
        raise ConfigError(f"arm {text!r} names a term twice; give each term once")
    return strategy, options, train, terms


def arm_text(table: dict[str, Any], where: str) -> str:
    """A sweep TOML ``[[arm]]`` table as the arm it writes: ``strategy`` plus its options and training overrides as
    keys, objective terms under ``terms``::

        [[arm]]
        strategy = "lora"
        rank = 4
        targets = ["query", "value"]
        terms = { ewc = { weight = 100 } }

    is ``lora[rank=4, targets=query,value]+ewc[weight=100]``.

    Raises:
        ConfigError: no strategy, a terms entry that is not a table, or a value the arm syntax cannot hold.
    """
    from headstart.surface import toml_text

    if not isinstance(table, dict) or not isinstance(table.get("strategy"), str) or not table["strategy"].strip():
        misspelt = [key for key in (table if isinstance(table, dict) else ()) if key != "strategy" and closest(key, ("strategy",))]
        raise ConfigError(f"each [[arm]] in {where} needs strategy = \"NAME\", e.g. [[arm]] strategy = \"lora\" rank = 4; got {table!r}"
                          + (f"; did you mean 'strategy' for {misspelt[0]!r}?" if misspelt else ""))
    terms = table.get("terms", {})
    if not isinstance(terms, dict) or not all(isinstance(v, dict) for v in terms.values()):
        raise ConfigError(f"terms of [[arm]] {table['strategy']!r} in {where} must be a table of term = {{options}}, "
                          f"e.g. terms = {{ ewc = {{ weight = 100 }} }}; got {toml_text(terms)}")

    _check_switches(table, terms, where)

    def bracket(values: dict[str, Any]) -> str:
        shown = []
        for key, value in values.items():
            text = ",".join(map(str, value)) if isinstance(value, list) else json.dumps(value) if isinstance(value, bool) else str(value)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)  # 1e+20: its + reads back (arm_parts)
            if (not number and any(c in text for c in "[]+=")) or isinstance(value, dict):
                raise ConfigError(f"[[arm]] {table['strategy']!r} in {where}: {key} = {toml_text(value)} cannot be written in an arm "
                                  "(no [ ] + = or tables inside a value)")
            shown.append(f"{key}={text}")
        return f"[{', '.join(shown)}]" if shown else ""

    own = {k: v for k, v in table.items() if k not in ("strategy", "terms")}
    return table["strategy"].strip() + bracket(own) + "".join(f"+{name}{bracket(options)}" for name, options in terms.items())


def _switches(options: type) -> set[str]:
    """The fields of an options dataclass that are true or false (``calibrate``, ``checkpointing``)."""
    return {f.name for f in dataclasses.fields(options) if f.type in ("bool", bool) or isinstance(f.default, bool)}


def _check_switches(table: dict[str, Any], terms: dict[str, Any], where: str) -> None:
    """A switch of an ``[[arm]]`` table (its strategy's or a term's) given as anything but true / false: ``calibrate = 1``
    would become the arm text ``calibrate=1``, refused later in the option flag's words, not the file's.

    Raises:
        ConfigError: the arm, the key and the file, and the value as TOML writes it.
    """
    from headstart.objectives import TERMS
    from headstart.strategies import STRATEGIES
    from headstart.surface import toml_text

    strategy = STRATEGIES.get(table["strategy"].strip())  # a misspelt one is named where the arm is read
    parts = [(strategy, {k: v for k, v in table.items() if k not in ("strategy", "terms")}, "")] + [
        (TERMS.get(name), options, f"terms.{name}.") for name, options in terms.items()]
    for owner, values, prefix in parts:
        if owner is None:
            continue
        for key in sorted(_switches(owner.Options) & set(values)):
            if not isinstance(values[key], bool):
                raise ConfigError(f"[[arm]] {table['strategy']!r} {prefix}{key} in {where} must be true or false, got "
                                  f"{toml_text(values[key])}; e.g. {key} = true")


def split_arms(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"lora[rank=4, alpha=8],full-finetune+l2sp"`` -> the two arms: commas inside [...] belong to the arm."""
    if not isinstance(text, (str, list, tuple)):
        raise ConfigError(f"arms must be a list of arms or a comma-separated string, got {text!r}; "
                          "e.g. arms='linear-probe,lora[rank=4]'")
    if not isinstance(text, str):
        return tuple(str(a).strip() for a in text if str(a).strip())
    arms, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            arms.append(current)
            current = ""
        else:
            current += char
    arms.append(current)
    if depth > 0:  # a [ without its ]: the arm swallowed the commas (and arms) after it
        raise _unclosed_arm(text, arms)
    return tuple(comma_entries(text, name="--arms", noun="arm", entries=arms))


def _unclosed_arm(text: str, arms: list[str]) -> ConfigError:
    """The error for ``--arms`` text whose last arm opens a [ it never closes, with the bracket closed: before the first
    comma inside it that is followed by what reads as an arm (an objective term's name, or a hyphenated name such as
    linear-probe: an arm that was swallowed), else at the end of the text. The registries of strategies and continual
    methods stand above this module, so their names are not read here; an option's value (``targets=query,value``)
    is neither."""
    from headstart.objectives import TERMS

    last, opened = arms[-1], []
    for i, char in enumerate(arms[-1]):
        opened = opened + [i] if char == "[" else opened[:-1] if char == "]" else opened
    cut = next((m.start() for m in re.finditer(r",\s*([A-Za-z0-9_.-]+)\s*(?=[\[+,]|$)", last[opened[0]:])
                if m.group(1) in TERMS or "-" in m.group(1)), None)
    arm = last if cut is None else last[:opened[0] + cut]
    closed = arm.rstrip() + "]" * len(opened) + ("" if cut is None else last[opened[0] + cut:])
    example = ",".join(a.strip() for a in [*arms[:-1], closed])
    which = "" if arm.strip() == text.strip() else f"{arm.strip()!r}: "
    return ConfigError(f"cannot read --arms {text!r} ({which}a [ without its ]); write strategy[options]+term[options], "
                       f"arms joined by commas, e.g. --arms {example}")
