"""What an output folder already holds, and whether a command may write there.

Every command that writes a folder (``compare``, ``adapt``, ``continual``, ``multitask``, ``meta-train``, ``train``,
``export``) claims its ``--out`` first, before anything loads or trains: a new or empty folder, or one holding the
same kind of output (a store to resume, a run to replace: train replaces only its own spec's unless told to,
``same_run.check_replaces_same_run``), is taken; anything else — a user's own files, a store of
another kind, a saved run under a store command — is refused with one line, and nothing there is touched.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from headstart.errors import ConfigError
from headstart.interrupts import steps_interrupted
from headstart.staging import clear_stale, is_staging, sibling
from headstart.store_rows import FILENAME

__all__ = ["KINDS", "check_new", "check_writable", "claim", "finished", "foreign", "held", "sibling"]

# what each kind of output is called in a refusal, and the command that writes it
KINDS = {
    "store": "an empty store (runs.sqlite, no run yet)",
    "compare": "a compare store (runs.sqlite)",
    "continual": "a continual store",
    "multitask": "a multitask store",
    "run": "a saved run (spec.json, metrics.json)",
    "lm-run": "a saved sft / prefer run (spec.json, adapter or model)",
    "meta": "a meta-train output (meta.json)",
    "file": "a file",
    "other": "files headstart did not write",
}
STORES = ("compare", "continual", "multitask")  # the kinds kept in a runs.sqlite
# what a saved run holds (train, sft, prefer, merge): its own files, PEFT's, a tokenizer's, a model's; an entry of
# any other kind is a user's, and a folder holding one is not replaced (a replace removes the old folder whole)
RUN_FILES = frozenset({
    "spec.json", "metrics.json", "README.md", "weights.safetensors", "tfidf.json", "demonstrations.json",  # headstart's
    "adapter_config.json", "adapter_model.safetensors",  # PEFT's
    "config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",  # a model's
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json",
    "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "chat_template.jinja", "chat_template.json"})
RUN_FOLDERS = ("adapter",)  # a merged run's adapter
SHARD = re.compile(r"model-\d+-of-\d+\.safetensors")


def held(folder: str | Path) -> str | None:
    """The kind of output ``folder`` holds (a key of ``KINDS``), or None when it does not exist or is empty.

    A store's kind comes from its rows: a continual step's or a multitask run's spec says so; a store with no row yet
    is "store" (any store command may fill it); one whose rows cannot be read is taken as a compare store (its
    command then says what is wrong with it).
    Entries that say nothing of whose the folder is do not count (``ignored``).
    """
    folder = Path(folder)
    if not folder.exists():
        return None
    if not folder.is_dir():
        return "file"
    if all(ignored(p.name) for p in folder.iterdir()):
        return None
    if (folder / FILENAME).is_file():
        return _store_kind(folder / FILENAME)
    run = _run_kind(folder)
    if run is not None:
        return run
    if (folder / "meta.json").is_file() or _meta_arms_only(folder):
        return "meta"
    return "other"


def finished(folder: str | Path, kind: str) -> bool:
    """Whether ``folder`` holds a saved run of ``kind`` ("run" or "lm-run") that finished (its metrics.json says
    "done", or says no status, and no interrupt ended its steps: a classifier's ``ended_by``, not one that came while it
    was scored after them, ``not_scored``): a run that diverged, failed or was interrupted is not written over it."""
    folder = Path(folder)
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        return held(folder) == kind and metrics.get("status", "done") == "done" and steps_interrupted(metrics) is None
    except (OSError, ValueError, AttributeError):
        return False


def ignored(name: str) -> bool:
    """An entry that says nothing of whose a folder is: a file manager's ``.DS_Store``, a report's ``.report.lock``, or
    one of headstart's own temp files (``.NAME.….tmp``) a kill left behind. Any other hidden entry (``.git``, ``.env``)
    is a user's: a folder holding one is not empty, and a run holding one is not replaced (the replace removes it).
    A folder headstart builds before it moves into place (``staging.is_staging``: a meta-train arm's, in its ``--out``)
    is one of its own too."""
    return name in (".DS_Store", ".report.lock") or (name.startswith(".") and name.endswith(".tmp")) or is_staging(name)


def _run_kind(folder: Path) -> str | None:
    """"run" for a saved train / merge run (spec.json with its key and resolved settings), "lm-run" for an sft / prefer
    run (spec.json naming its kind), None for anything else — a spec.json headstart did not write, or an entry no run
    writes (``foreign``). The two kinds never replace each other: a classifier written over a LoRA'd causal LM would
    lose the adapter, and the other way round."""
    try:
        spec = json.loads((folder / "spec.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(spec, dict) or foreign(folder):
        return None
    if spec.get("kind") in ("sft", "prefer"):
        return "lm-run"
    return "run" if "key" in spec and "resolved" in spec else None


def foreign(folder: str | Path) -> list[str]:
    """The entries of ``folder`` (``ignored`` ones aside) that no saved run writes, by name, sorted."""
    return sorted(p.name for p in Path(folder).iterdir() if not ignored(p.name)
                  and not (p.name in RUN_FOLDERS if p.is_dir() else p.name in RUN_FILES or SHARD.fullmatch(p.name)))


def _meta_arms_only(folder: Path) -> bool:
    """A meta-train stopped before meta.json: only arm folders, each a backbone it saved (headstart-image.json)."""
    entries = [p for p in folder.iterdir() if not ignored(p.name)]
    return all(p.is_dir() and _meta_trained(p / "headstart-image.json") for p in entries)


def _meta_trained(manifest: Path) -> bool:
    try:
        return json.loads(manifest.read_text()).get("trained_by", {}).get("command") == "meta-train"
    except (OSError, ValueError, AttributeError):
        return False


def _store_kind(file: Path) -> str:
    wal = file.with_name(file.name + "-wal")  # rows a killed writer left in the log: read them through it
    logged = wal.exists() and wal.stat().st_size > 0
    try:  # read-only; immutable when there is no log, so that not even -wal/-shm files are created
        conn = sqlite3.connect(file.resolve().as_uri() + ("?mode=ro" if logged else "?mode=ro&immutable=1"), uri=True)
    except sqlite3.Error:
        return "compare"
    try:
        specs = [row[0] for row in conn.execute("SELECT spec FROM runs LIMIT 20")]
    except sqlite3.Error:  # empty, damaged or not SQLite: the store's own open says which
        return "compare"
    finally:
        conn.close()
    if not specs:
        return "store"  # no run yet (a first call stopped early): any store command may fill it
    for text in specs:
        try:
            spec = json.loads(text)
        except (TypeError, ValueError):
            continue
        for kind in ("continual", "multitask"):
            if isinstance(spec, dict) and kind in spec:
                return kind
    return "compare"


def as_folder(out: Any, flag: str = "--out") -> Path:
    """``out`` as a Path; a value that names no path (a number, None, a list) is a ConfigError, not a TypeError."""
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise ConfigError(f"{flag} must name a folder, got {out!r}; give a path such as 'runs/mine'")
    return Path(out)


def check_writable(out: str | Path, flag: str = "--out") -> None:
    """Refuse an output folder that cannot be created or written, leaving nothing behind.

    Raises:
        ConfigError: a file stands on the path, or its nearest existing folder is not writable.
    """
    out = as_folder(out, flag)
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    reason = ("not a directory" if not existing.is_dir()
              else "permission denied" if not os.access(existing, os.W_OK | os.X_OK) else _probe(existing))
    if reason:
        raise ConfigError(f"cannot write to output directory {str(out)!r} ({str(existing)!r}: {reason}); choose another {flag}")


def _probe(folder: Path) -> str:
    """Why a file cannot be created in ``folder`` ("" when it can): creating one and removing it is the only test that
    holds for root, for whom ``os.access`` calls ``/proc`` or a read-only mount writable. The probe is named as
    headstart's temp files are (``ignored``), should a kill leave it behind."""
    try:
        handle, name = tempfile.mkstemp(prefix=".headstart-probe-", suffix=".tmp", dir=folder)
    except OSError as error:
        return f"cannot create a file there: {(error.strerror or type(error).__name__).lower()}"
    os.close(handle)
    os.unlink(name)
    return ""


def claim(out: str | Path, kind: str, *, flag: str = "--out") -> None:
    """Refuse ``out`` unless it is new, empty, or holds ``kind`` (a store with no run yet: any store kind); then check
    it can be written. What a command killed while writing ``out`` left beside it goes first (``staging.clear_stale``:
    a staged copy removed, a run it moved aside put back where ``out`` is missing).

    Args:
        kind: the kind this command writes, a key of ``KINDS`` (``adapt`` writes a compare store).

    Raises:
        ConfigError: ``out`` holds something else (named), or cannot be written.
    """
    out = as_folder(out, flag)
    clear_stale(out)  # what a command killed while writing it left beside it
    found = held(out)
    if found == "store" and kind in STORES:
        found = kind
    if found is not None and found != kind:
        suffix = "sft" if kind == "lm-run" else kind
        if found == "file":
            folder = out.with_suffix("") if out.suffix else sibling(out, suffix)
            raise ConfigError(f"{flag} {str(out)!r} is a file, not a folder; choose a folder, e.g. {str(folder)!r}")
        names = foreign(out) if found == "other" else []
        what = KINDS[found] + (f" ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})" if names else
                               " (its spec.json is not a headstart run's)" if found == "other" and (out / "spec.json").is_file()
                               else "")
        raise ConfigError(f"{flag} {str(out)!r} holds {what}, not {KINDS[kind]}; nothing was written there; "
                          f"choose a new or empty folder, e.g. {str(sibling(out, suffix))!r}")
    check_writable(out, flag)


def check_new(out: str | Path, what: str, flag: str = "--out", *, source: str | Path | None = None) -> None:
    """Refuse an ``out`` that exists (nothing is overwritten), lies inside ``source`` (the run it is made from: that
    folder would then hold files no run writes, and be refused as a run's ``--out`` from then on) or cannot be
    created; ``what`` it is for, e.g. "the export".

    Raises:
        ConfigError: ``out`` exists, is inside ``source``, or cannot be created.
    """
    out = as_folder(out, flag)
    if out.exists() or out.is_symlink():
        raise ConfigError(f"{flag} {str(out)!r} already exists; give a new folder for {what} (nothing is overwritten)")
    if source is not None and out.resolve().is_relative_to(Path(source).resolve()):
        raise ConfigError(f"{flag} {str(out)!r} is inside the run {str(source)!r}, which would then hold files no run "
                          f"writes; give a folder beside it for {what}, e.g. {str(sibling(source, out.name))!r}")
    check_writable(out, flag)


def check_same_report(out: Path, report: str, settings: dict[str, Any], *, kind: str,
                      grown: dict[str, Any] | None = None, defaults: dict[str, dict[str, Any]] | None = None,
                      alike: dict[str, Any] | None = None) -> None:
    """Refuse ``out`` when its report file (``report``: ``continual.json``, a multi-task ``results.json``) records other
    settings (its ``settings``): the new report would replace it, and the old one's runs would drop out of it. A folder
    without that report, or with one written before the settings were recorded, is not refused.

    Args:
        settings: this call's settings, JSON-able (a Path is compared as its text, as ``write_json`` stores it).
        kind: the command, as the refusal names it ("another continual run").
        grown: per setting, ``(old, new) -> bool``: True where the new value is the same study grown (more seeds, more
            arms: the new report covers the old one's runs).
        defaults: per nested setting (``"train"``: a dict of ``TrainConfig``'s fields), the value of a field one version
            of the record lacks.
        alike: per setting, ``(old, new) -> bool``: True where the two are one setting that versions of the record
            write apart (adapt's ``max_test`` None of an older ``--max-test all``, "all" now).

    Raises:
        ConfigError: the first setting that differs, its old and new values, and a folder to use instead.
    """
    try:
        before = json.loads((out / report).read_text()).get("settings")
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(before, dict):
        return
    now = json.loads(json.dumps(settings, default=str))
    grown, defaults, alike = grown or {}, defaults or {}, alike or {}
    for name, value in now.items():
        if name not in before or before[name] == value or (name in alike and alike[name](before[name], value)):
            continue
        if name in grown and isinstance(before[name], type(value)) and grown[name](before[name], value):
            continue
        if isinstance(value, dict):
            if not isinstance(before[name], dict):
                return  # a damaged record says nothing of the settings
            fill = defaults.get(name, {})
            differ = [k for k in sorted(set(value) | set(before[name]))
                      if before[name].get(k, fill.get(k)) != value.get(k, fill.get(k))]
            if not differ:
                continue
            field = differ[0]
            old, new = before[name].get(field, fill.get(field)), value.get(field, fill.get(field))
            name = field
        else:
            old, new = before[name], value
        shown = ",".join(map(str, old)) if isinstance(old, list) else old
        raise ConfigError(f"--out {str(out)!r} holds the report of another {kind} run ({name} {shown}, not "
                          f"{','.join(map(str, new)) if isinstance(new, list) else new}), which this one would replace; "
                          f"nothing was trained; give it its own folder, e.g. {str(sibling(out, '2'))!r}")
