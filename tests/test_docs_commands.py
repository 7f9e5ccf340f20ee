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
DELIBERATE_TYPOS = {"headstart trian", "headstart meta", "headstart adapters info", "headstart ls"}  # RELIABILITY's bad-input table shows what a mistyped command prints


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
        assert any(" ".join(tokens[:k]) in DELIBERATE_TYPOS for k in (2, 3)), f"{doc}: {line!r}: {e}"  # a subcommand's too
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


def help_texts(command=None) -> list[tuple[str, str]]:
    """(command path, text) of every command's and option's help, the groups' included."""
    command = command or root_command()
    found = [(command.name or "headstart", command.help or "")]
    found += [(f"{command.name} {'/'.join(p.opts)}", getattr(p, "help", None) or "") for p in command.params]
    for sub in getattr(command, "commands", {}).values():
        found += help_texts(sub)
    return found


def test_a_placeholder_is_written_as_one_not_as_a_path_that_might_exist():
    """``--backbones all-minilm-l6-v2,path/to/other-encoder`` read as a path to copy: placeholders are capitals, as
    FILE, DIR and COLUMN are (ENCODER_FOLDER), in the docs' examples, --help and the examples messages give."""
    placeholder = re.compile(r"(?<![\w/])/?path/to/")
    texts = [(path.name, s) for path in DOCS for s in snippets(path.read_text())] + help_texts()
    texts += [(str(path.relative_to(ROOT)), path.read_text()) for path in sorted((ROOT / "headstart").rglob("*.py"))]
    assert [(where, text[:120]) for where, text in texts if placeholder.search(text)] == []
    assert [where for where, text in help_texts() if "ENCODER_FOLDER" in text]  # the check reads --help at all


def option_values(command, rest: list[str], name: str) -> list[str]:
    """The values ``rest`` gives the option whose parameter is ``name`` (``--data X``, ``-d X``, ``--data=X``), else
    its default as a one-item list (none where it has no default)."""
    param = next(p for p in command.params if p.name == name)
    found = [rest[i + 1] for i, token in enumerate(rest[:-1]) if token in param.opts]
    found += [token.split("=", 1)[1] for token in rest if token.split("=", 1)[0] in param.opts and "=" in token]
    default = param.default if isinstance(param.default, str) else None
    return found or ([default] if default else [])


def mapped_label_examples() -> list[tuple[str, str, str | None, str]]:
    """(doc, line, the data the run was trained on, the mapping text) of every documented ``--eval-data X[...]`` and
    ``adapt --target X[...]``. An ``evaluate RUN`` finds RUN's data on the doc's ``train … --out RUN`` line above it
    (None where the doc trains no such run); train, compare and adapt name it on their own line."""
    found = []
    for path in DOCS:
        trained: dict[str, str] = {}
        for s in snippets(path.read_text()):
            line = s.split(" #")[0].strip()
            if not line.startswith("headstart "):
                continue
            try:
                command, rest, words = resolve(shlex.split(line))
            except (ValueError, LookupError):
                continue
            verb = words[-1]
            if verb == "train":
                trained.update({out: option_values(command, rest, "data")[0] for out in option_values(command, rest, "out")})
            own = (trained.get(rest[0]) if verb == "evaluate" and rest else
                   (option_values(command, rest, "source") or [None])[0] if verb == "adapt" else
                   (option_values(command, rest, "data") or [None])[0] if verb in ("train", "compare") else None)
            for flag in ("eval_data", "target"):
                if any(p.name == flag for p in command.params):
                    found += [(path.name, line, own, text) for text in option_values(command, rest, flag) if "[" in text]
    return found


def test_the_docs_show_label_mappings_at_all():
    assert any(doc == "README.md" for doc, *_ in mapped_label_examples())  # the extraction still finds the README's


@pytest.mark.parametrize("doc,line,data,text", mapped_label_examples())
def test_each_documented_label_mapping_maps_onto_labels_the_run_has(doc, line, data, text):
    """README mapped other.csv onto neg / pos for a run trained on rotten-tomatoes (rotten / fresh): it failed as
    written. A mapping's targets must be labels of the data the run trained on (a built-in dataset; a file the doc
    does not ship, or a run it does not train, cannot be checked)."""
    from headstart.data import load_dataset
    from headstart.data.builtin import REGISTRY
    from headstart.ood_labels import parse_eval_data

    if data is None or data not in REGISTRY:
        pytest.skip(f"{doc}: {line!r}: the run's data ({data}) is not a built-in dataset")
    labels = load_dataset(data).label_names
    targets = {t for t in parse_eval_data(text)[1].values() if t is not None}
    assert targets <= set(labels), f"{doc}: {line!r}: {data} has labels {labels}, not {sorted(targets - set(labels))}"
