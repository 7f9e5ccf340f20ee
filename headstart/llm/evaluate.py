"""``headstart evaluate RUN`` of a saved sft run: its held-out test prompts answered again, as sft answers them after
training — the same rows (``sft.test_prompts`` on the run's data, read again by its spec and checked against the hash
it trained on), greedy, exact match (``sft.answer_test``) — and the score written into the run (``sft.record_test``:
metrics.json's test fields and README.md, in place of a ``test_not_scored`` or an earlier score; the weights and every
other field left as they are), refused where the run's folder holds another run by then (its spec.json is not the one
the run was loaded or trained with).

A prefer run is refused: it answers no test prompts (its scores are DPO's on validation pairs), so there is nothing of
its own to score again. Ctrl-C or SIGTERM before the score is written leaves the run as it was (``Kept``); one while
it is written is held back until metrics.json and README.md both are, and then says the score is saved (``Written``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError, DataError, StoreError
from headstart.llm.runs import LoadedLM
from headstart.surface import spoken


class Kept(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during ``evaluate_sft``, before its score was written: the run is as it was. A
    KeyboardInterrupt, so a script or a notebook stops as it would; its text is the one line the CLI prints."""


class Written(KeyboardInterrupt):
    """Ctrl-C or SIGTERM that came while ``evaluate_sft`` wrote its score, held back until metrics.json and README.md
    were both written, then delivered: the score is saved. ``scored`` is what ``evaluate_sft`` would have returned; the
    text is the one line the CLI prints."""

    def __init__(self, said: str, scored: dict[str, Any]) -> None:
        super().__init__(said)
        self.scored = scored


def evaluate_sft(run: str | Path | LoadedLM, *, max_new_tokens: int | None = None,
                 progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Answer a saved sft run's test prompts greedily and write their exact match into it.

    Args:
        run: an sft run folder, or a run ``sft`` returned (written into its folder where it has one).
        max_new_tokens: tokens an answer may take; None for the run's own (spec.json's ``max_new_tokens``, 64).
        progress: called with (prompts answered, prompts, info), as sft's answering phase.

    Returns:
        ``{"split": "test", "rows", "exact_match", "max_new_tokens", "samples"}`` (``metrics["test"]`` with its split),
        and ``cut_short`` where an interrupt ended the run's steps (what it kept is what was scored).

    Raises:
        StoreError / ConfigError / DataError: not an sft run (a prefer run says what to do instead), a run that drew
            no test prompt, its data gone or changed since it trained, or its folder holding another run by the time
            the score is written (``runs.check_holds``: an sft --out since; nothing written) (one line each).
        Kept: Ctrl-C or SIGTERM before the score was written; the run is as it was.
        Written: Ctrl-C or SIGTERM while the score was written, held back until it was: the score is saved.
    """
    from headstart.llm.notes import many
    from headstart.interrupts import ended_by, sigterm_as_interrupt, signals_held
    from headstart.llm.runs import check_generation, check_holds, load_run, own_budget, saved_stamp
    from headstart.llm.sft import AnswersStopped, answer_test, record_test

    folder = run.directory if isinstance(run, LoadedLM) else Path(run)
    stamp = run.stamp if isinstance(run, LoadedLM) else saved_stamp(folder)  # the save scored: its score goes there only
    spec = sft_spec(run)
    where = str(folder) if folder is not None else "RUN"
    budget = own_budget(spec) if max_new_tokens is None else max_new_tokens
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise ConfigError(f"--max-new-tokens must be a whole number, got {budget!r}; e.g. --max-new-tokens 64")
    check_generation(budget, 0.0)
    prompts, references = test_of(spec, where)
    kept = f"{where!r} is kept as it was, nothing written" if folder is not None else "nothing scored"
    try:
        with sigterm_as_interrupt():  # a scheduler's time limit here leaves the run as Ctrl-C does
            loaded = run if isinstance(run, LoadedLM) else load_run(run)
            test = answer_test(loaded, prompts, references, max_new_tokens=budget, progress=progress)
    except AnswersStopped as stop:
        raise Kept(f"{stop.said}; {kept}") from None
    except KeyboardInterrupt as stop:  # while the model loaded
        raise Kept(f"{ended_by(stop)} before any test prompt was answered; {kept}") from None
    if loaded.metrics is None:
        loaded.metrics = {}
    cut = loaded.metrics.get("error") if loaded.metrics.get("status") == "interrupted" else None
    scored, written = {"split": "test", **test, **({"cut_short": cut} if cut else {})}, False
    try:
        with sigterm_as_interrupt(), signals_held():  # metrics.json and README.md both, or neither; a stop comes after
            if folder is not None:
                check_holds(folder, spec, stamp)  # the save whose spec drew its test prompts (a folder: before its model loaded)
            record_test(loaded, test)
            written = True
    except KeyboardInterrupt as stop:  # held back while the files were written (or refused), delivered now
        if not written:
            raise Kept(f"{ended_by(stop)} before the score was written; {kept}") from None
        into = (f"written into {where!r} (its metrics.json and README.md)" if folder is not None else
                "in the run's metrics (it has no folder to write)")
        raise Written(f"{ended_by(stop)} while the score was written, held back until it was: the score is saved, "
                      f"{into}: exact_match {test['exact_match']:.4g} on {many(test['rows'], 'test prompt')}", scored) from None
    return scored


def check_options(split: str, *, eval_data: Any, tta: Any, eval_rows: str, dedupe: bool) -> None:
    """Refuse an option of a classifier run's evaluate given for an sft run, naming it.

    Raises:
        ConfigError: the first such option, in one line.
    """
    from headstart.fit_result import split_name

    if split_name(split) != "test":
        raise ConfigError(f"--split {split}: an sft run's validation rows chose its checkpoint, and their loss is in its "
                          "metrics.json (val_loss); evaluate answers its held-out test prompts: drop --split")
    named = isinstance(eval_data, (str, list, tuple))  # a DataFrame has no one truth value
    given = [("--eval-data", bool(eval_data) if named else eval_data is not None, "scores a classifier on another dataset's labels"),
             ("--tta", bool(tta), "adapts a classifier to an --eval-data dataset"),
             (f"--eval-rows {eval_rows}", eval_rows != "test", "says which rows of an --eval-data dataset a classifier is scored on"),
             ("--dedupe", dedupe, "leaves out the rows of an --eval-data dataset that a classifier trained on")]
    for flag, present, what in given:
        if present:
            raise ConfigError(f"{flag} {what}; an sft run is scored on the test prompts it drew when it trained "
                              "(spec.json's eval_rows of them): drop it")


def refuse_for_classifier(run: Any, flag: str, what: str) -> None:
    """Refuse an option of an sft run's evaluate (``--max-new-tokens``) given for a
    classifier run, naming it; a folder that is no run at all is said as such first (``run_meta.read_meta``).

    Raises:
        StoreError: ``run`` is a folder, and no headstart run.
        ConfigError: otherwise, in one line naming ``flag`` and the run (``this run`` where it has no folder).
    """
    if isinstance(run, (str, Path)):
        from headstart.run_meta import read_meta

        read_meta(run)
    where = run if isinstance(run, (str, Path)) else getattr(run, "out", None)  # a FitResult: its folder, if saved
    raise ConfigError(f"{flag} {what}; {'this run' if where is None else repr(str(where))} is a classifier run, scored "
                      "without generating: drop it")


def sft_spec(run: str | Path | LoadedLM) -> dict[str, Any]:
    """The spec of ``run``, an sft run; a prefer run is refused: it answers no test prompts, so ``evaluate`` has no
    score of its own to make again.

    Raises:
        StoreError: not an sft / prefer run (``runs.read_spec``).
        ConfigError: a prefer run, naming what works instead: its sft run, generate.
    """
    from headstart.llm.runs import read_spec

    spec = run.spec if isinstance(run, LoadedLM) else read_spec(run)
    if spec.get("kind") == "sft":
        return spec
    where = str(run.directory if isinstance(run, LoadedLM) else run)
    start = (spoken(f"headstart evaluate {spec['sft']}", f"headstart.evaluate({spec['sft']!r})")
             + " scores the sft run it started from; " if spec.get("sft") else "")
    raise ConfigError(f"{where!r} is a prefer run: it answers no test prompts (its scores are DPO's on validation pairs, "
                      f"in metrics.json's val), so evaluate has nothing to score; {start}{_ask(where)} asks it")


def _ask(where: str) -> str:
    return spoken(f"headstart generate {where} --prompt TEXT", f"headstart.generate({where!r}, [TEXT])")


def test_of(spec: dict[str, Any], where: str) -> tuple[list[str], list[str]]:
    """The test prompts an sft run drew and their references: its data read again as spec.json names it, checked to
    be what it trained on (the table's hash), then ``sft.test_prompts`` with its ``eval_rows``.

    Raises:
        ConfigError: the run drew no test prompt (``eval_rows`` 0, or its data has no test row).
        StoreError: its spec.json names no data (a damaged folder).
        DataError: its data is not there, or changed since the run trained on it.
    """
    from headstart.llm.data import BUILTINS, load_table
    from headstart.llm.sft import test_prompts

    data = spec.get("data") or {}
    count = spec.get("eval_rows", 32)
    if not count:
        raise ConfigError(f"{where!r} was trained with {spoken('--eval-rows 0', 'eval_rows=0')}: it drew no test prompt "
                          f"to score; {_ask(where)} asks it, and an sft run of {spoken('--eval-rows 32', 'eval_rows=32')} "
                          "draws some")
    source = data.get("path") or data.get("name")  # a file by its absolute path; a run of before that, as it was given
    if not isinstance(source, str) or not source:
        raise StoreError(f"{str(Path(where) / 'spec.json')!r} names no data the run trained on (its data.name is missing): "
                         f"the run folder is damaged, so its test prompts cannot be drawn again; {_ask(where)} still asks it")
    if source not in BUILTINS and not Path(source).is_file():
        relative = "" if Path(str(source)).is_absolute() else f" (from {str(Path.cwd())!r})"
        raise DataError(f"the data {where!r} trained on, {source!r}, is not there{relative}; evaluate reads it again to "
                        "answer the same test prompts: put the file back" + (", or run it from the folder sft ran in" if relative else ""))
    table = load_table(source, {"prompt": data.get("prompt_column", "prompt"), "response": data.get("response_column", "response")},
                       group_column=data.get("group_column"))
    if data.get("hash") and table.hash != data["hash"] and "group_column" not in data:  # saved before it was recorded
        raise DataError(f"{where!r} was saved before spec.json recorded --group-column, and {source!r} read back without "
                        f"one does not give the rows and split it trained on (hash {data['hash']} then, {table.hash} "
                        "now): if it was split by a --group-column, its test prompts cannot be drawn again; train it "
                        "again with headstart sft (re-run its sft command), which records it")
    if data.get("hash") and table.hash != data["hash"]:
        raise DataError(f"{source!r} changed since {where!r} trained on it (its rows or their split differ: hash "
                        f"{data['hash']} then, {table.hash} now), so its test prompts cannot be drawn again; put the "
                        "file back as it was, or train on it again with headstart sft")
    prompts, references = test_prompts(table, count)
    if not prompts:
        raise ConfigError(f"{source!r} has no test row (its split column names none), so {where!r} drew no test prompt "
                          f"to score; {_ask(where)} asks it")
    return prompts, references
