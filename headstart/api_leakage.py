"""``check_leakage`` mirrors ``headstart check-leakage``: the test (and validation) rows that duplicate training rows,
in the split a run is cut into, from the split flags ``train`` and ``compare`` take (``--max-test``, ``--max-val``,
``--dedupe``) or read from a saved run's spec (``--run``)."""

from __future__ import annotations

import dataclasses
import json
import logging
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headstart.data.leakage import DEFAULT_THRESHOLD
from headstart.data.memory import names_passed_data
from headstart.data.splits import SplitConfig
from headstart.errors import ConfigError, DataError, StoreError
from headstart.python_checks import python_named
from headstart.run_meta import as_run_path

if TYPE_CHECKING:
    from headstart.data.dataset import Dataset
    from headstart.data.leakage import LeakageReport

DEFAULT_DATA = "rotten-tomatoes"

log = logging.getLogger(__name__)  # where a compare store's data file was found; the CLI prints it as a "note: ..." line


@python_named
@names_passed_data
def check_leakage(data: Any = None, *, text_column: str | None = None, label_column: str | None = None,
                  task: str | None = None, group_column: str | None = None, split_column: str | None = None,
                  max_test: int | str | None = None, max_val: int | str | None = None, dedupe: bool = False,
                  run: str | Path | None = None, threshold: float = DEFAULT_THRESHOLD, examples: int = 5) -> LeakageReport:
    """Count the test examples of a split (as ``fit`` and ``compare`` cut it) that duplicate, exactly or nearly, an
    example of the pool or validation split, and the validation examples that duplicate a pool example.

    Args:
        data: a built-in dataset, a data file, or in-memory data as ``fit`` takes it (a DataFrame, ``(texts, labels)``,
            a ``datasets.Dataset``) (default: rotten-tomatoes; with ``run``, the run's own); the column options read it
            as ``load_dataset`` does.
        task: read a file's labels as this task, as ``fit(task=...)`` does (inferred when None): the split is
            stratified by them, so a ``task="regression"`` run on whole-number ratings is split as that run was.
        max_test / max_val / dedupe: the split settings of ``fit`` and ``compare``, read as theirs: the split checked
            is the one a run given them trains and is scored on. A test split of over 2,000 images keeps 2,000 where
            ``max_test`` is not given, as a run's does (``headstart.data_defaults``). Under ``dedupe`` the counts are
            of the cut before it: the rows it removes.
        run: a saved run's folder (``fit(out=...)``, also taken as ``data``): its data, columns, task and split
            settings are read from its spec, so the split checked is the run's own; an argument above given beside it
            must agree with the run's. Or a compare store (``compare(out=...)``, also taken as ``data``): the data and
            split its cells used, read from the store (a store whose cells were cut several ways is refused, naming
            each cut's flags); a data file it names by a relative path is read from where its compare read it, kept
            with the store, else (a store written before that was kept) from the working directory or the folder
            holding the store, whichever has it, said in a note.
        threshold: word-3-shingle Jaccard similarity at or above which a pair is a near-duplicate, in (0, 1].
        examples: duplicate pairs to keep in the report.

    Raises:
        HeadstartError: a bad threshold or split setting (checked before the data loads), an argument that disagrees
            with ``run``'s, a run whose data cannot be read again (missing, changed, or a DataFrame's copy cleared
            from the cache), unreadable data, or a bad column.
    """
    return checked_split(data, text_column=text_column, label_column=label_column, task=task, group_column=group_column,
                         split_column=split_column, max_test=max_test, max_val=max_val, dedupe=dedupe, run=run,
                         threshold=threshold, examples=examples)[0]


def checked_split(data: Any, *, text_column: str | None, label_column: str | None, task: str | None,
                  group_column: str | None, split_column: str | None, max_test: Any, max_val: Any, dedupe: bool,
                  run: str | Path | None, threshold: float, examples: int) -> tuple[LeakageReport, SplitConfig]:
    """``check_leakage``'s report and the split it counted (the CLI prints both). Raises as ``check_leakage``."""
    from headstart.data import load_dataset, split_dataset
    from headstart.data.leakage import check_threshold, find_leakage
    from headstart.data.memory import as_data, is_in_memory
    from headstart.data.splits import split_caps
    from headstart.data_defaults import IMAGE_MAX_TEST, test_capped

    check_threshold(threshold)
    split = split_caps(SplitConfig(), max_test=max_test, max_val=max_val, dedupe=dedupe)  # a bad cap before any data loads
    if run is None and isinstance(data, (str, Path)) and (_is_store(data) or _is_run(data)):  # as --run: its own split
        data, run = None, data
    if run is not None:  # a FitResult of a fit without out= is no folder to read
        run = as_run_path(run, example="headstart.check_leakage(run='runs/lp64')")
    if data is not None and is_in_memory(data):  # a DataFrame: staged in the cache as fit stages it
        data, split_column = as_data(data, split_column=split_column, text_column=text_column, label_column=label_column,
                                     task=task, group_column=group_column)
    reading = {"text_column": text_column, "label_column": label_column, "task": task, "group_column": group_column,
               "split_column": split_column}
    if run is not None:
        meta = _store_meta(run) if _is_store(run) else _run_meta(run)
        if meta.get("places"):  # a compare store's file: where its compare read it, before --data is checked against it
            meta["data_source"]["path"] = _store_file(run, meta)
        _check_agrees(run, meta, data, reading, max_test=max_test, max_val=max_val, dedupe=dedupe)
        dataset = _run_data(run, meta)
        split = SplitConfig(**meta["resolved"]["data"]["split"])  # filled in as the run cut it (an image test cap included)
    else:
        dataset = load_dataset(DEFAULT_DATA if data is None else data, **reading)
        if split.max_test is None and test_capped(dataset, split):  # as fit and compare fill it in
            split = dataclasses.replace(split, max_test=IMAGE_MAX_TEST)
    if dataset.modality == "image" and threshold != DEFAULT_THRESHOLD:
        raise ConfigError(f"--threshold {threshold:g} is the word-shingle similarity of near-duplicate texts; {dataset.name!r} "
                          "holds images, which are compared pixel for pixel (exact copies only): drop --threshold")
    if split.dedupe and threshold != DEFAULT_THRESHOLD:
        which = f"{_where(run)} was split with --dedupe, which" if run is not None else "--dedupe"
        raise ConfigError(f"--threshold {threshold:g}: {which} drops the copies at Jaccard >= {DEFAULT_THRESHOLD:g}, so counts at "
                          f"another threshold would not be the rows it removes; drop --threshold")
    # under dedupe, the cut before it: the copies counted are the rows it removes (as train and compare say them)
    splits = split_dataset(dataset, dataclasses.replace(split, dedupe=False))
    return find_leakage(dataset, splits, threshold=threshold, examples=examples), split


def _run_meta(run: str | Path) -> dict[str, Any]:
    """The spec.json of the run folder ``run`` (``run_meta.read_meta``: a folder that is no run is refused by name)."""
    from headstart.run_meta import read_meta

    meta = read_meta(run)
    if not isinstance(meta.get("data_source"), dict) or not isinstance(meta["resolved"]["data"].get("split"), dict):
        raise StoreError(f"{str(Path(run) / 'spec.json')!r} is damaged: it names no data source or split; train the run again")
    return meta


def _is_store(run: str | Path) -> bool:
    """Whether ``run`` is a store's folder (runs.sqlite) rather than a run's."""
    from headstart.store_rows import FILENAME

    return (Path(run) / FILENAME).is_file()


def _is_run(folder: str | Path) -> bool:
    """Whether ``folder`` is a saved run's (its spec.json), given as the data: a folder of class folders holds none."""
    return Path(folder).is_dir() and (Path(folder) / "spec.json").is_file()


def _where(run: str | Path) -> str:
    """``run`` as the messages name it: "the run in 'runs/lp'", or "the compare store 'cmp'"."""
    return f"the compare store {str(run)!r}" if _is_store(run) else f"the run in {str(run)!r}"


def _store_meta(store: str | Path) -> dict[str, Any]:
    """A compare store's cells' data and split, in the shape of a run's spec.json (``_run_meta``): the data and reading
    options of the compare that wrote it, and the one split (and data hash) its cells were cut by.

    Raises:
        StoreError: a store of another command, one with no cell yet, or one whose cells were cut more than one way
            (two compares with another --max-test into one --out), naming the ``--data`` and split flags of each.
    """
    from headstart.data import REGISTRY as DATASETS
    from headstart.outdir import KINDS, held
    from headstart.specs import file_options
    from headstart.store import Store

    kind = held(store)
    with Store(Path(store), create=False) as opened:
        sweep = opened.sweep() or {}
        cells = opened.results()
    if kind not in ("compare", "store") or sweep.get("by", "compare") != "compare":
        what = KINDS.get(kind, "a store") if sweep.get("by", "compare") == "compare" else "an adapt store"
        raise StoreError(f"{str(store)!r} is {what}, whose cells check-leakage does not read; pass --run with a run folder "
                         "(headstart train --out DIR), a compare store, or --data with the data and its split flags")
    spec = sweep.get("sweep") if isinstance(sweep.get("sweep"), dict) else {}
    cuts = {}
    for cell in cells:
        data = cell.spec.get("data") if isinstance(cell.spec, dict) else None
        if isinstance(data, dict) and isinstance(data.get("split"), dict):
            cuts.setdefault(json.dumps([data.get("name"), data["split"]], sort_keys=True), data)
    if not cuts or not spec.get("data"):
        raise StoreError(f"{str(store)!r} is a compare store with no cell yet, so no split to check; check the data "
                         "with --data and compare's split flags, or run the compare first")
    name = spec["data"]
    read = sweep.get("data") if isinstance(sweep.get("data"), dict) else {}
    found = {"split_column": read["split_column"]} if read.get("split_column") else {}  # a split column found by default
    source = {"name": name} if name in DATASETS else {"path": name, **found, **file_options(spec)}
    if len(cuts) > 1:
        flags = [_split_flags({"data_source": source, "resolved": {"data": data}}) for data in cuts.values()]
        raise StoreError(f"the cells of {str(store)!r} were cut {len(cuts)} ways (compares with other split flags into one "
                         f"store); check one: " + "; ".join(f"--data {shlex.quote(str(name))}{f}" for f in flags))
    (data,) = cuts.values()
    if data.get("name") != Path(str(name)).name and data.get("name") != name:
        raise StoreError(f"the cells of {str(store)!r} read {data.get('name')!r}, not the data of its last compare "
                         f"({name!r}); check it with --data and its split flags")
    places = _places(store, str(name), read.get("path")) if "path" in source else None
    return {"data_source": source, "resolved": {"data": data}, **({"places": places} if places else {})}


def _places(store: str | Path, given: str, read: Any) -> list[tuple[str, Path]]:
    """Where a compare store's data file may be, in the order tried, each with how a note names the place: the path its
    compare read (``sweep.data_read`` keeps it with the store), else the path as compare was given it: relative to the
    folder compare ran in, which a store written before that path was kept does not know, so the working directory,
    then the folder holding the store (``compare --out cmp`` run beside the data)."""
    places = [("", Path(read))] if isinstance(read, str) and read else []
    path = Path(given).expanduser()
    if path.is_absolute():
        return [*places, ("", path)]
    return [*places, ("the working directory", Path.cwd() / path), ("the folder holding the store", Path(store).resolve().parent / path)]


def _store_file(store: str | Path, meta: dict[str, Any]) -> str:
    """The data file of a compare store's cells (``_places``, the first that is there; where two different files are,
    the one whose content its cells were cut from), said in a note where it was found relative to a guessed folder.

    Raises:
        DataError: no such file in any of the places, naming them.
    """
    from headstart.data import load_dataset
    from headstart.specs import stored_reading

    source, recorded = meta["data_source"], meta["resolved"]["data"].get("hash")
    found: dict[Path, str] = {}
    for said, path in meta["places"]:
        if path.exists():
            found.setdefault(path.resolve(), said)
    if not found:
        looked = " nor ".join(f"{said} ({str(path.parent)!r})" for said, path in meta["places"] if said)
        raise DataError(f"the data file {source['path']!r} of {_where(store)} is missing"
                        + (f": it is not in {looked}, and the store does not record where compare ran" if looked else "")
                        + "; put it back, run from the folder compare ran in, or check a copy with --data FILE"
                        + _split_flags(meta))
    chosen = next(iter(found))
    if len(found) > 1 and recorded is not None:  # the same name in both places: the file the cells were cut from
        chosen = next((path for path in found if load_dataset(str(path), **stored_reading(source)).hash == recorded), chosen)
    if found[chosen]:
        log.info("%s names its data %r, relative to the folder compare ran in, which it does not record: read from %s, "
                 "%r", _where(store), source["path"], found[chosen], str(chosen))
    return str(chosen)


def _run_values(meta: dict[str, Any]) -> dict[str, Any]:
    """A saved run's data and split settings, keyed as ``check_leakage``'s arguments."""
    source, data = meta["data_source"], meta["resolved"]["data"]
    return {"data": source.get("name") or source.get("path"), "task": data.get("task"),
            **{k: source.get(k) for k in ("text_column", "label_column", "group_column", "split_column")},
            "max_test": data["split"].get("max_test"), "max_val": data["split"].get("max_val", SplitConfig().max_val),
            "dedupe": bool(data["split"].get("dedupe"))}


def _check_agrees(run: str | Path, meta: dict[str, Any], data: str | None, reading: dict[str, Any], *, max_test: Any,
                  max_val: Any, dedupe: bool) -> None:
    """Refuse an argument given beside ``run`` that says another split than the run's (one given as the run has it is
    accepted: a command line copied from train's).

    Raises:
        ConfigError: the first that disagrees, with what the run has.
    """
    from headstart.data.memory import shown_name
    from headstart.data.splits import max_test_rows, max_val_rows
    from headstart.surface import spoken

    has = _run_values(meta)
    where = _where(run)
    if data is not None and data != has["data"] and not (
            has["data"] and Path(data).expanduser().resolve() == Path(has["data"]).expanduser().resolve()):
        raise ConfigError(f"--data {data!r} is not the data of {where} ({shown_name(Path(has['data']).name)!r}); drop --data; "
                          "--run reads the run's own")
    for name, value in reading.items():
        if value is not None and value != has[name]:
            flag = f"--{name.replace('_', '-')}"
            said = f"{flag} {has[name]!r}" if has[name] is not None else f"no {flag}"
            raise ConfigError(f"{flag} {value!r} is not how {where} read its data ({said}); drop {flag}; --run reads the run's own")
    test = max_test_rows(max_test)
    if test is not None and (None if test == "all" else test) != has["max_test"]:
        said = f"--max-test {has['max_test']}" if has["max_test"] is not None else "every test row"
        raise ConfigError(f"--max-test {spoken('all', repr('all')) if test == 'all' else test} is not the split of {where} ({said}); drop --max-test; --run checks the "
                          "run's own split")
    val = max_val_rows(max_val)
    if val is not None and val != has["max_val"]:
        raise ConfigError(f"--max-val {val} is not the split of {where} (--max-val {has['max_val']}); drop --max-val; "
                          "--run checks the run's own split")
    if dedupe and not has["dedupe"]:
        raise ConfigError(f"--dedupe is not the split of {where} (split without --dedupe); drop --dedupe; --run checks the "
                          "run's own split")


def _run_data(run: str | Path, meta: dict[str, Any]) -> Dataset:
    """The dataset a saved run trained on, read again as ``evaluate`` reads it.

    Raises:
        DataError: its file is gone (a DataFrame's copy in the cache included), or its content changed since.
    """
    from headstart.data import load_dataset
    from headstart.data.memory import shown_name
    from headstart.specs import stored_reading

    source, recorded = meta["data_source"], meta["resolved"]["data"].get("hash")
    where = _where(run)
    if "name" in source:
        dataset = load_dataset(source["name"])
    else:
        path = Path(str(source.get("path")))
        passed = shown_name(path.name) != path.name  # a DataFrame (or other in-memory data) the cache kept as a table
        if not path.exists():
            if passed:
                raise DataError(f"{where} trained on data passed from Python (a DataFrame), whose copy in the cache "
                                f"({str(path)!r}) is gone; write that data to a file and check it with --data FILE"
                                + _split_flags(meta))
            raise DataError(f"the data file {str(path)!r} of {where} is missing; put it back, or check a copy with "
                            "--data FILE" + _split_flags(meta))
        dataset = load_dataset(str(path), **stored_reading(source))
    if recorded is not None and dataset.hash != recorded:
        raise DataError(f"the data {shown_name(dataset.name)!r} changed since {where} was trained (hash {dataset.hash} != "
                        f"{recorded}), so its split is not the run's; check the original data, or train again")
    return dataset


def _split_flags(meta: dict[str, Any]) -> str:
    """`` --max-test 100 --max-val 50``: the flags that cut a saved run's split, for a check of a copy of its data; ""
    where it was cut with the defaults."""
    has = _run_values(meta)
    flags = [f"--{name.replace('_', '-')} {has[name]}" for name in ("text_column", "label_column", "task", "group_column",
                                                                    "split_column") if has[name] is not None]
    flags += [f"--max-test {has['max_test']}"] if has["max_test"] is not None else []
    flags += [f"--max-val {has['max_val']}"] if has["max_val"] != SplitConfig().max_val else []
    flags += ["--dedupe"] if has["dedupe"] else []
    return f" {' '.join(flags)}" if flags else ""
