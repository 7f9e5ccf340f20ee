"""What every command shares: the typer app, common options, small helpers, and the entry point ``main``."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Annotated, Any, Optional

import typer

from headstart.errors import ConfigError, HeadstartError

app = typer.Typer(
    name="headstart",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text is plain: lora[rank=4] and DATA[their=ours] are examples, not markup
)

def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"headstart {version('headstart')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("headstart (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print headstart's version and exit.")] = False,
    device: Annotated[Optional[str], typer.Option(help="auto (a CUDA GPU when there is one, else the CPU) | cpu | cuda | cuda:N "
                                                       "| mps, for every command after it (or $HEADSTART_DEVICE).")] = None,
) -> None:
    """Measure how to adapt a pre-trained model to your small labelled dataset, then do it.

    \b
    Example: headstart train --strategy linear-probe --n 64 --out runs/lp
    Example: headstart --device cpu compare --strategies linear-probe,lora --sizes 16,64
    """
    from headstart.surface import cli_surface, reset_surface

    _notes_anew()
    marked = cli_surface()  # errors name the flags the user typed, not the Python parameters behind them
    ctx.call_on_close(lambda: reset_surface(marked))
    if device is not None:
        from headstart.precision import use_device

        use_device(device)  # a device this machine lacks is refused here, in one line, before anything loads


DataOpt = Annotated[str, typer.Option("--data", "-d", help="Built-in dataset (headstart datasets), a .csv/.tsv/.jsonl/.json/.parquet file, "
                                                           "or a folder of class folders of images.")]
BackboneOpt = Annotated[str, typer.Option("--backbone", "-b", help="Built-in backbone (headstart backbones) or a local model folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TaskOpt = Annotated[Optional[str], typer.Option(help="classification | multilabel | regression (default: inferred).")]
PoolingOpt = Annotated[Optional[str], typer.Option(help="mean, cls, max, mean_sqrt_len, weightedmean or lasttoken; several joined "
                                                        "by + are concatenated (default: from the backbone folder).")]
GroupColumnOpt = Annotated[Optional[str], typer.Option(help="Column of group ids kept on one side of the split (a patient, a movie).")]
SplitColumnOpt = Annotated[Optional[str], typer.Option(help="Column holding the file's own split: train / validation / test "
                                                            "(validation cut from train if absent); default: a column named "
                                                            "split, fold, subset or partition holding only those values; "
                                                            "none: no column is the split.")]
TestDataOpt = Annotated[Optional[str], typer.Option(help="A file with --data's columns whose every row is the test split "
                                                         "(validation is cut from --data; never trained on or chosen by).")]


def utf8_stdout() -> bool:
    """Whether stdout takes UTF-8: JSON printed there then keeps text as written ("Très", not "Tr\\u00e8s")."""
    return (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "") == "utf8"


def _echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str, ensure_ascii=not utf8_stdout()))


def _scoped_options(texts: list[str] | None) -> dict[str, dict[str, Any]]:
    """``--option NAME.KEY=VALUE`` (repeatable) -> ``{NAME: {KEY: VALUE}}``; NAME a strategy or an objective term, whose
    options ``headstart strategies`` lists. A plain ``KEY=VALUE`` is scoped to ``""`` (the run's strategy).

    Raises:
        ConfigError: malformed text, or NAME neither a strategy nor a term.
    """
    from headstart.objectives import TERMS
    from headstart.strategies import get_strategy

    scoped: dict[str, dict[str, Any]] = {}
    for text in texts or []:
        key, value = _parse_option(text)
        name, _, field_name = key.rpartition(".")
        if name and name not in TERMS:
            get_strategy(name)  # raises: unknown strategy, with the names
        values = scoped.setdefault(name, {})
        if field_name in values and values[field_name] != value:  # neither silently wins
            raise ConfigError(f"--option {key}= is given twice, as {_shown(values[field_name])} and {_shown(value)}; "
                              "give it once")
        values[field_name] = value
    return scoped


def _strategy_options(scoped: dict[str, dict[str, Any]], strategy: str, flags: dict[str, Any]) -> dict[str, Any]:
    """The run's strategy options in one dict: ``--option KEY=VALUE`` and ``--option STRATEGY.KEY=VALUE`` (popped from
    ``scoped``, ``_scoped_options``'s) and the strategy flags given (``{"rank": 4}`` for ``--rank 4``; None: not given).

    Raises:
        ConfigError: two of them setting one option to different values (the same value twice is fine).
    """
    given = ([(f"--option {k}=", k, v) for k, v in scoped.pop("", {}).items()]
             + [(f"--option {strategy}.{k}=", k, v) for k, v in scoped.pop(strategy, {}).items()]
             + [(f"--{k.replace('_', '-')} ", k, v) for k, v in flags.items() if v is not None])
    options: dict[str, Any] = {}
    written: dict[str, str] = {}
    for how, key, value in given:
        if key in options and _listed(options[key]) != _listed(value):
            raise ConfigError(f"{written[key]}{_shown(options[key])} and {how}{_shown(value)} set {key} to different values; "
                              "give one")
        options[key], written[key] = value, how
    return options


def _own_flags(message: str, flags: dict[str, Any], *, typed: set[str]) -> str:
    """A strategy option's refusal with the fix written as the command's own flag where it has one: ``try --option
    rank=8`` -> ``try --rank 8`` (``flags``: ``_strategy_options``'s, by option name); the others keep ``--option``, and
    so does an option the user gave as ``--option KEY=VALUE`` and not as its flag (``typed``: their names): the fix is
    written as the user wrote the value (``--option rank=abc`` is answered ``try --option rank=8``)."""
    import re

    def flagged(match: re.Match) -> str:
        key, value = match.group(1), match.group(2)
        as_typed = key in typed and flags.get(key) is None
        return f"--{key.replace('_', '-')} {value}" if key in flags and not as_typed else match.group(0)

    def named(match: re.Match) -> str:  # "option 'virtual_tokens' does not apply": the flag as the user typed it
        key = match.group(1)
        return f"--{key.replace('_', '-')}" if flags.get(key) is not None and key not in typed else match.group(0)

    message = re.sub(r"^option '([a-z_]+)'(?= does not apply)", named, message)
    return re.sub(r"--option ([a-z_]+)=([^\s;)]*[^\s;),.])", flagged, message)


def _listed(value: Any) -> Any:
    """A comma-separated flag value as the list an ``--option`` gives (``--targets query,value`` is
    ``targets=["query","value"]``), for comparing the two; anything else as it is."""
    return [part.strip() for part in value.split(",")] if isinstance(value, str) and "," in value else value


def _shown(value: Any) -> str:
    """An option's value as the command line writes it: text as is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"--option expects KEY=VALUE, got {text!r}; e.g. --option freeze=3")
    from headstart.arm_text import leading_zero_fix, option_value

    key, value = text.split("=", 1)
    zeros = leading_zero_fix(f"--option {key.strip()}", value)
    if zeros:
        raise ConfigError(zeros)
    return key.strip(), option_value(value)


def _metric_line(metrics: dict[str, Any], *, interval: bool = False) -> str:
    """``accuracy 0.6168, macro_f1 …``; with ``interval``, the accuracy's 95% interval over the scored rows follows it
    (``evaluate``: a single run's test score is as precise as its rows make it)."""
    keys = [k for k in ("accuracy", "macro_f1", "balanced_accuracy", "micro_f1", "rmse", "mae", "r2", "loss") if k in metrics]
    ci = metrics.get("accuracy_ci") if interval else None
    return ", ".join(f"{k} {metrics[k]:.4f}" + (f" (95% CI {ci[0]:.4f}–{ci[1]:.4f} over these rows)" if k == "accuracy" and ci else "")
                     for k in keys)


class _NoteHandler(logging.Handler):
    """Prints what the data loaders did (rows dropped) as ``note: ...`` lines on stderr, each once in a command that
    reads its data more than once (``train`` reads it to fill defaults, then to train), in the order first said."""

    def __init__(self) -> None:
        super().__init__()
        self.said: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        note = record.getMessage()
        if note not in self.said:
            self.said.add(note)
            typer.echo(f"note: {note}", err=True)


def _show_notes() -> None:
    logger = logging.getLogger("headstart")
    if not any(isinstance(h, _NoteHandler) for h in logger.handlers):
        logger.addHandler(_NoteHandler())
        logger.setLevel(logging.INFO)  # info, not warning: sweep workers (no handler) then stay quiet
        logger.propagate = False


def _notes_anew() -> None:
    """A new command says its notes again, though an earlier one in this process (a test's, a notebook's) said them."""
    for handler in logging.getLogger("headstart").handlers:
        if isinstance(handler, _NoteHandler):
            handler.said.clear()


def _given(error: Exception, argv: list[str]) -> str | None:
    """What the command line gave the option a parser error names (``--seeds x`` or ``--seeds=x``), for the message:
    None for an argument, or an option given more than once (which of them failed is not known)."""
    param = getattr(error, "param", None)
    names = set(getattr(param, "opts", ())) | set(getattr(param, "secondary_opts", ()))
    if getattr(param, "param_type_name", "") != "option" or not names:
        return None
    values = []
    for i, token in enumerate(argv):
        if token == "--":
            break
        if token in names and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif "=" in token and token.split("=", 1)[0] in names:
            values.append(token.split("=", 1)[1])
    return values[0] if len(values) == 1 else None


RESUMABLE = ("compare", "adapt", "continual", "multitask")  # commands whose store a re-run resumes
RUN_FOLDERS = ("train", "sft", "prefer", "meta-train")  # commands that write a run folder (saved whole, or not at all)


def _without_device(argv: list[str]) -> list[str]:
    """``argv`` without the global ``--device VALUE`` that may come before the command's name."""
    out, skip = [], False
    for token in argv:
        if skip or token.startswith("--device="):
            skip = False
            continue
        if token == "--device":
            skip = True
            continue
        out.append(token)
    return out


def _command_path(argv: list[str]) -> str:
    """``headstart`` and the (sub)command names that lead ``argv``: whose --help to point at when the parser's error
    carries no context (an option at the end of the line, missing its value)."""
    command, path = typer.main.get_command(app), ["headstart"]
    for token in argv:
        commands = getattr(command, "commands", None)
        if not commands or token not in commands:
            break
        command = commands[token]
        path.append(token)
    return " ".join(path)


class InterruptReported(SystemExit):
    """Exit 130, as Ctrl-C does, raised by a command that has said what the Ctrl-C left (an sft run's best checkpoint,
    saved). A SystemExit, not ``typer.Exit(130)``: typer turns a raw Ctrl-C into that too, and ``main`` says
    "interrupted" for it; this one passes typer and ``main`` untouched, so nothing is said twice."""

    def __init__(self) -> None:
        super().__init__(130)


# Words a user reaches for that name a command by another name, per command group (its command path): "adapters info"
# means "adapters show". The parser's own suggestions are spelling matches only ('fit' -> 'sft').
COMMAND_SYNONYMS: dict[str, dict[str, str]] = {
    "headstart": {"ls": "runs", "list": "runs", "fit": "train", "finetune": "train", "fine-tune": "train",
                  "infer": "predict", "inference": "predict", "classify": "predict", "test": "evaluate",
                  "score": "evaluate", "results": "report", "merge": "adapters merge", "show": "adapters show"},
    "headstart adapters": {"info": "show", "inspect": "show", "describe": "show", "details": "show", "view": "show",
                           "ls": "list", "fold": "merge", "unfold": "unmerge", "split": "unmerge"},
}


def _with_command_hint(message: str, ctx: Any) -> str:
    """"No such command 'meta'." with a hint: the command a synonym names (``COMMAND_SYNONYMS``: 'info' -> " Did you mean
    'show'?", in place of the parser's spelling match), else the parser's own hint, else the commands of which the name
    given is a part between hyphens (" Did you mean 'meta-train'?": 'meta' is too short for a spelling match)."""
    import re

    typed = re.search(r"'([^']*)'", message)
    if typed is None or not typed.group(1):
        return message
    commands, word = getattr(ctx.command, "commands", {}), typed.group(1).lower()
    synonym = COMMAND_SYNONYMS.get(ctx.command_path, {}).get(word)
    if synonym is not None and synonym.split()[0] in commands:
        return f"{message.partition(' Did you mean')[0].rstrip()} Did you mean {synonym!r}?"
    parts = [name for name in commands if word in name.split("-")]
    if "Did you mean" in message or not parts:
        return message
    return f"{message} Did you mean {', '.join(repr(name) for name in parts)}?"


def main() -> None:
    """The command line, once its commands are imported (``headstart.console.main`` calls it): user mistakes print one
    line and exit 2; no tracebacks. A mistake the parser catches (a word where a number goes, an unknown option or
    command) is one line too, naming the command's --help."""
    parser = sys.modules[typer.BadParameter.__module__]  # click's exceptions, or typer's own copy of them (typer >= 0.26)

    # PEFT's notice to its maintainers (``headstart.GRADIENT_CHECKPOINTING_NOTICE``, ignored on import) is kept out of
    # the worker processes the CLI spawns too: they read PYTHONWARNINGS before they import headstart.
    from headstart import GRADIENT_CHECKPOINTING_NOTICE as notice

    entry, given = f"ignore:{notice}:FutureWarning", os.environ.get("PYTHONWARNINGS", "")
    if entry not in given:
        os.environ["PYTHONWARNINGS"] = f"{given},{entry}" if given else entry
    _show_notes()
    from headstart.atomic import placed
    from headstart.interrupts import BY_SIGTERM, interrupted_by, sigterm_as_interrupt, sigterms_read
    from headstart.store_open import writers_opened

    said, read, opened, wrote = "interrupted", sigterms_read(), writers_opened(), placed()  # the parser turns a KeyboardInterrupt into exit code 130, unseen here
    command = next(iter(_without_device(sys.argv[1:])), "")  # RESUMABLE's are top-level commands (no need to build the tree)
    # every command reads SIGTERM as Ctrl-C from its start, not only once its cells or steps run: killed while it
    # loaded (its modules import, torch among them: seconds), it ended silent, exit 143
    try:
        with sigterm_as_interrupt():
            code = app(standalone_mode=False, prog_name="headstart")
    except getattr(parser, "NoArgsIsHelpError", ()) as e:  # a bare command group: its help, as the parser shows it
        e.show()
        sys.exit(e.exit_code)
    except parser.UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else _command_path(sys.argv[1:])
        given = _given(e, sys.argv[1:]) if isinstance(e, parser.BadParameter) else None
        if given is not None:  # "Invalid value for '--seeds': got 'x'; input should be a valid integer, ..."
            e.message = f"got {given!r}; {e.message[:1].lower()}{e.message[1:]}"
        if e.message.startswith("No such command") and e.ctx is not None:
            e.message = _with_command_hint(e.message, e.ctx)
        typer.echo(f"error: {e.format_message()} (see {where} --help)", err=True)
        sys.exit(2)
    except parser.ClickException as e:
        typer.echo(f"error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except HeadstartError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except typer.Abort:  # end of input at a prompt
        typer.echo("aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt as stop:  # SIGTERM too, where a command reads it as Ctrl-C (``interrupts.Terminated``)
        code, said = 130, interrupted_by(stop)
    if code == 130:  # a raw Ctrl-C: the parser turns it into exit code 130 (``InterruptReported`` never gets here)
        said = BY_SIGTERM if sigterms_read() > read else said
        if command in RESUMABLE and writers_opened() == opened:  # stopped while it loaded: its --out not yet written
            said += " before anything was stored in its --out: run the same command again to start"
        elif command in RESUMABLE:
            said += "; what finished is stored in its --out: run the same command again to resume (finished runs are skipped)"
        elif command not in RUN_FOLDERS and placed() == wrote and writers_opened() == opened:  # evaluate, predict, export ...
            said += " before it wrote anything: nothing written; run the same command again"
        typer.echo(said, err=True)
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)  # a command's typer.Exit(code), else 0

