"""Every command the README and docs/ show parses: its subcommand exists, each flag is one the command takes, and each
script, example file and flag of a ``python benchmarks/…`` / ``scripts/…`` line exists. A renamed or removed flag
otherwise leaves the docs teaching a command that fails (the docs' figures are reproduced by these lines)."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import pytest
import typer

from headstart.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DELIBERATE_TYPOS = {"headstart trian"}  # RELIABILITY's bad-input table shows what a typo'd command prints


def snippets(text: str) -> list[str]:
    """Each fenced block's lines (continuations joined) and each inline code span, whitespace collapsed."""
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        found += [line.strip().removeprefix("$ ") for line in re.sub(r"\\\n\s*", " ", block).splitlines()]
    found += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))]
    return found


def headstart_commands() -> list[tuple[str, str]]:
    return [(path.name, s.split(" #")[0].strip()) for path in DOCS for s in snippets(path.read_text())
            if s.startswith("headstart ")]


def script_commands() -> list[tuple[str, str, str]]:
    """(doc, script path, its arguments) of every ``python benchmarks|scripts|examples/X.py …`` in a snippet."""
    found = []
    for path in DOCS:
        for s in snippets(path.read_text()):
            for m in re.finditer(r"python ((?:benchmarks|scripts|examples)/[\w.]+\.py)(.*?)(?=python (?:benchmarks|scripts|examples)/|$)", s):
                found.append((path.name, m.group(1), m.group(2).split(" #")[0]))
    return found


def flags_of(command) -> set[str]:
    return {name for p in command.params for name in (*p.opts, *p.secondary_opts)} | {"--help"}


@functools.cache
def root_command():
    return typer.main.get_command(app)


def resolve(tokens: list[str]):
    """(the command ``tokens`` name, the tokens after it, the words walked); raises LookupError on an unknown word."""
    command, words, i = root_command(), ["headstart"], 1
    root = flags_of(command)
    while hasattr(command, "commands") and i < len(tokens):  # a group: the next word not a root option is a subcommand
        word = tokens[i]
        if word.startswith("-"):
            assert word.split("=")[0] in root, f"headstart has no root option {word}"
            i += 1 if "=" in word or word in ("--version",) else 2
            continue
        if word not in command.commands:
            raise LookupError(f"no command {word!r} under {' '.join(words)}")
        command, words, i = command.commands[word], [*words, word], i + 1
    return command, tokens[i:], words


def test_the_docs_show_commands_at_all():
    assert len(headstart_commands()) > 100 and len(script_commands()) > 30  # the extraction still finds them


@pytest.mark.parametrize("doc,line", headstart_commands())
def test_each_documented_headstart_command_parses(doc, line):
    try:
        tokens = shlex.split(line)
    except ValueError:  # an unbalanced quote is a prose fragment, not a command
        return
    try:
        command, rest, words = resolve(tokens)
    except LookupError as e:
        assert " ".join(tokens[:2]) in DELIBERATE_TYPOS, f"{doc}: {line!r}: {e}"
        return
    if hasattr(command, "commands"):  # "headstart adapters" named as a group
        return
    known = flags_of(command)
    for token in rest:
        if token.startswith("--") or re.fullmatch(r"-[a-zA-Z]", token):
            assert token.split("=")[0] in known, f"{doc}: {line!r}: {' '.join(words)} has no {token.split('=')[0]}"
    for token in rest:  # --config examples/x.toml and the like name files the repo ships
        if re.fullmatch(r"examples/[\w.-]+\.toml", token):
            assert (ROOT / token).is_file(), f"{doc}: {line!r}: {token} does not exist"


@pytest.mark.parametrize("doc,script,arguments", script_commands())
def test_each_documented_script_and_its_flags_exist(doc, script, arguments):
    path = ROOT / script
    assert path.is_file(), f"{doc}: {script} does not exist"
    declared = set(re.findall(r"[\"'](--[\w-]+)[\"']", path.read_text())) | {"--help"}
    for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", arguments):
        assert flag in declared, f"{doc}: python {script}{arguments}: the script takes no {flag}"


def test_the_check_catches_a_flag_that_does_not_exist():
    command, rest, _ = resolve(shlex.split("headstart train --strategy lora --nonsense 3"))
    assert "--strategy" in flags_of(command) and "--nonsense" not in flags_of(command) and rest[0] == "--strategy"
    with pytest.raises(LookupError):
        resolve(["headstart", "trian"])
