"""Whose store a folder holds, by the command it records (``Store.sweep``): adapt writes a compare store, and neither
command adds its runs to the other's (each would replace the other's report). Both ``adapt`` and ``compare`` ask here
before anything loads."""

from __future__ import annotations

from pathlib import Path

from headstart.errors import ConfigError, clipped


ROOT_VALUE_OPTIONS = ("--device",)  # options of ``headstart`` itself that take a value, before the command's name


def by_adapt(command: str) -> bool:
    """Whether a store's recorded command is adapt's: ``headstart [--device X] adapt ...`` from the CLI,
    ``headstart.adapt(...)`` from Python (a compare whose --out merely names "adapt" is not)."""
    import shlex

    if command.startswith("headstart.adapt("):
        return True
    try:
        words = shlex.split(command)
    except ValueError:  # an unbalanced quote in a hand-edited record: read by spaces
        words = command.split()
    if words[:1] != ["headstart"]:
        return False
    rest = words[1:]
    while rest and rest[0].startswith("-"):  # the root's own options
        option = rest.pop(0)
        if option in ROOT_VALUE_OPTIONS and rest:
            rest.pop(0)
    return rest[:1] == ["adapt"]


def recorded(out: Path) -> tuple[str, int, str]:
    """The command a store in ``out`` records (``Store.sweep``; "" when none), how many finished runs it holds (a cell
    claimed and stopped is none), and whose store
    it is ("adapt", "compare", or "" when nothing is recorded): ("", 0, "") where it cannot be read (damaged, too new,
    killed at its first write): the command's own open of it, as the writer it is, repairs it or names what is wrong.
    A store written before the owner was kept is adapt's by its command (``by_adapt``)."""
    from headstart.errors import HeadstartError
    from headstart.store import Store

    if not (out / "runs.sqlite").is_file():
        return "", 0, ""
    try:
        with Store(out, create=False) as store:
            record = store.sweep() or {}
            runs = store.conn.execute("SELECT COUNT(*) FROM runs WHERE status IN ('done', 'failed', 'diverged')").fetchone()[0]
    except HeadstartError:
        return "", 0, ""
    command = str(record.get("command") or "")
    by = record.get("by")
    if by not in ("adapt", "compare"):
        by = "adapt" if by_adapt(command) else "compare" if record else ""
    return command, runs, by


def check_not_a_compare(out: Path) -> None:
    """Refuse an ``--out`` holding a compare's store: adapt would add its runs to it and replace its recorded sweep
    and its report. A store adapt wrote (its recorded command is adapt's) resumes.

    Raises:
        ConfigError: naming the command that wrote it and a folder to use instead.
    """
    from headstart.outdir import sibling

    command, runs, by = recorded(out)
    if runs and by == "compare":
        raise ConfigError(f"--out {str(out)!r} holds the store of another command ({clipped(command or 'compare', 80)}); adapt would "
                          f"add its runs to it and replace its report; nothing was written; give adapt its own folder, e.g. "
                          f"{str(sibling(out, 'adapt'))!r}")


def check_not_an_adapt(out: Path) -> None:
    """Refuse a compare into an ``--out`` holding adapt's store, as adapt refuses a compare's: compare would add its
    runs to it and its report would replace adapt's (it read "This store was written by headstart adapt" above
    another experiment's recommendation).

    Raises:
        ConfigError: naming the adapt command and a folder to use instead.
    """
    from headstart.outdir import sibling

    command, runs, by = recorded(out)
    if runs and by == "adapt":
        raise ConfigError(f"--out {str(out)!r} holds the store of an adapt ({clipped(command or 'adapt', 80)}); compare would add "
                          f"its runs to it and replace its report; nothing was written; give compare its own folder, e.g. "
                          f"{str(sibling(out, 'compare'))!r}")
