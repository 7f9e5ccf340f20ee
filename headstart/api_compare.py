"""``compare`` ~ ``headstart compare``: every arm x size x seed stored and reported; ``run_compare`` on a built sweep
(the CLI's compare and ``adapt`` run through it) and the plan line it says before it trains (the call a report names
as what produced it is ``surface.call_text``)."""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headstart.api import _methods, label_texts
from headstart.api_sweep_file import reading_sweep_file
from headstart.backbones import DEFAULT as DEFAULT_BACKBONE
from headstart.compare_result import CompareResult
from headstart.data.memory import as_data, has_frames, names_passed_data, staged_eval_data, staged_names
from headstart.errors import ConfigError
from headstart.progress import REPEATS_KEY, ProgressFn
from headstart.python_checks import flags_checked
from headstart.arguments import as_table
from headstart.specs import TrainConfig
from headstart.surface import call_text, on_cli
from headstart.tracking import check_report_to
from headstart.train_keywords import with_train_keywords


@flags_checked
@names_passed_data
@with_train_keywords(options=False)
@reading_sweep_file
def compare(data: Any = "rotten-tomatoes", backbone: str | None = None, *, strategies: str | list[str] | None = None,
            sizes: str | int | list[int | str | None] | tuple[int | str | None, ...] | None = None, seeds: int = 5,
            out: str | Path = "runs/compare", workers: int = 1,
            config: TrainConfig | dict[str, Any] | str | Path | None = None, max_steps: int | None = None,
            min_steps: int | None = None, epochs: int | None = None, image_size: int | None = None,
            augment: str | None = None, options: dict[str, dict[str, Any]] | None = None,
            train_by_strategy: dict[str, dict[str, Any]] | None = None, split: Any = None, tune: str | None = "lr",
            grids: dict[str, Any] | None = None, text_column: str | None = None, label_column: str | None = None,
            task: str | None = None, pooling: str | None = None, progress: ProgressFn | bool | None = None,
            arms: str | list[str] | None = None, retain: Any = None,
            backbones: str | list[str] | None = None, group_column: str | None = None,
            split_column: str | None = None, test_data: Any = None, eval_data: Any = None,
            tta: str | list[str] | None = None,
            backend: str = "local", address: str | None = None, label_descriptions: str | dict[str, str] | None = None,
            max_test: int | str | None = None, max_val: int | str | None = None, dedupe: bool = False,
            report_to: str | None = None) -> CompareResult:
    """Sweep ``strategies`` (or ``arms``) x ``sizes`` x ``seeds``, store every run in ``out/runs.sqlite`` and write the report.

    Re-running with the same arguments trains nothing already done; a new size, seed or strategy trains only
    the new cells. Mirrors ``headstart compare``.

    Args:
        strategies: names (list or "a,b,c"); default scratch, linear-probe, full-finetune.
        sizes: labelled-set sizes: text ("16,64,all"), one size (64), or a list or tuple of them ([16, 64, "all"]; "all"
            or None there is the whole pool; a range or a 1-D numpy array of integers too); None (the default) is 8 ..
            256 and all.
        seeds: seeds per cell (0 .. seeds-1); seed s draws the same labelled rows for every strategy.
        out: directory of the store and the report.
        workers: local worker processes (threads are divided between them).
        config: training hyperparameters shared by every strategy (a ``TrainConfig`` or a dict of its fields);
            ``train_by_strategy`` overrides per strategy. Or the path of a sweep TOML file (``headstart compare
            --config``'s, keys as in ``headstart.sweep_config``): its keys fill every keyword not given, and the
            keywords given win, as flags do over the file (a ``split`` dict, ``options`` and ``train_by_strategy``
            set their fields over the file's tables; a ``SplitConfig`` replaces its [split]; None for a keyword whose
            default is None is none given).
        max_steps / min_steps / epochs / image_size / augment: the ``TrainConfig`` fields of the same names, over
            ``config``'s, as ``--max-steps`` and the others (None: ``config``'s, else each strategy's). ``max_steps``
            over a sweep file caps its ``min_steps`` floors too, as ``--max-steps`` does.
        lr / head_lr / batch_size / ... (every other ``TrainConfig`` field): as ``fit``'s, set in ``config`` as
            ``config={"lr": 1e-3}`` would be (``headstart.train_keywords``); one that ``config`` sets too is refused,
            and so is one beside a sweep file (its ``[train]`` table holds them).
        options: per-strategy options, e.g. ``{"partial-freeze": {"freeze": 3}}``.
        split: a ``SplitConfig`` or a dict of its fields (pool / validation / test cut, ``max_test``, ``max_val``,
            ``dedupe``); ``max_test`` (rows, or "all" as None: no cap of the caller's), ``max_val`` (validation rows at
            most; None: the split's, 300) and ``dedupe`` also stand alone, as the CLI's flags, and win over ``split``'s
            and a sweep file's [split].
        tune: "lr" (the default) chooses each cell's learning rate on validation; None uses the defaults. True reads
            as "lr", False as None (continual's spelling).
        grids: per-strategy values for ``tune`` to search, e.g. ``{"full-finetune": [2e-5, 5e-5, 1e-4]}``.
        progress: progress with ETA on stderr; None (the default): on where someone watches it — stderr a terminal
            (a bar), or a Jupyter notebook (a line every 15 s) — off in a script's log. True or False: as said. A
            function ``progress(done, total, info)`` (``progress.progress_bar``'s, as ``evaluate`` takes) instead of
            the bar follows the cells: ``done`` (a float: the training cell's share of its steps added) of ``total``
            cells, the cells already stored counted from its first call, ``(stored, total, {...})`` before any cell
            trains; ``info`` holds ``eta_s``, None while the time left is not known. The plan line is printed on
            stderr first, as with the bar.
        arms: arms to compare instead of ``strategies`` (list or "a,b"), each ``strategy[options]+term[options]``,
            e.g. ``["lora[rank=4]", "lora[rank=16]", "full-finetune+l2sp[weight=0.1]"]``.
        retain: classification datasets on which each run's forgetting is measured (``headstart.retention``); a
            pandas DataFrame among them is staged in the cache as ``data`` is.
        backbone: a built-in backbone or a local model folder; None (the default) is all-minilm-l6-v2.
        backbones: several backbones (list or "a,b") instead of ``backbone``, which is then not given: every arm on
            each, reported per backbone.
        group_column / split_column: a user file's group ids and its own train / validation / test split (as ``fit``).
        test_data: a file (or a DataFrame) whose every row is every run's test split (as ``fit``).
        eval_data: datasets with the task's labels on whose test split every run is also scored, out of domain (as
            ``fit``; a pandas DataFrame among them is staged in the cache as ``fit`` stages it); the report sets
            in-domain and out-of-domain accuracy side by side, with the gap per arm.
        tta: test-time adaptations each out-of-domain score is also taken after (as ``fit``).
        backend: "local" (this process, or ``workers`` processes) or "ray": each cell a Ray task, this process the
            store's only writer (needs ``headstart[ray]``; docs/SCALE.md).
        address: with ``backend="ray"``, the cluster to join: "HOST:PORT" of its head or "auto"; None starts a local
            Ray (an already connected ``ray.init`` is used as is).
        label_descriptions: a text per class, ``{"fresh": "a positive movie review", ...}`` (or the CLI's text or a
            .json / .toml file), given to every arm that reads them (zero-shot, zero-shot-prompt, icl).
        report_to: "mlflow" also logs the store's finished runs and the report files to MLflow
            (``tracking.log_store``: ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<out>/mlflow.db``); ``CompareResult.mlflow``
            counts them.

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.

    Example:
        >>> result = headstart.compare(strategies="linear-probe,full-finetune", sizes="16,64", seeds=3, out="runs/cmp")
        >>> result.recommendation  # a list of lines, one per band of sizes
        >>> headstart.compare(config="sweep.toml", seeds=3, max_steps=20)  # headstart compare --config sweep.toml --seeds 3 --max-steps 20
    """
    from headstart.progress import check_progress, progress_default

    from headstart.api_sweep_file import FromFile, file_keys_named, say_note

    # the report's "Produced by", as the CLI's argv is (a sweep file's: the call as written, config='sweep.toml')
    given = {**locals(), **({"progress": None} if callable(progress) else {})}  # a function is no literal to rerun
    command = config.command if isinstance(config, FromFile) else call_text("headstart.compare", compare, given)
    check_progress(progress)
    progress = progress if callable(progress) else progress_default(progress)
    if strategies is not None and arms is not None:  # as the CLI refuses --strategies with --arms
        raise ConfigError("strategies and arms both say what to compare; give one: arms take plain strategies too, "
                          "e.g. arms='linear-probe,lora'")
    if backbones is not None and backbone is not None:  # whatever its value, as the CLI refuses --backbone with --backbones
        listed = backbones.split(",") if isinstance(backbones, str) else list(backbones) if isinstance(backbones, (list, tuple)) else []
        listed = [b.strip() if isinstance(b, str) else b for b in listed]
        raise ConfigError(f"backbone={backbone!r} and backbones both name the backbone; give the list alone, e.g. "
                          f"backbones={listed if backbone in listed else [backbone, *listed]!r}")
    with file_keys_named(config):  # a column the file set is named as its key in the file
        sweep = built_sweep(locals(), say=lambda note: say_note(note, compare))
        return run_compare(sweep, out, workers=workers, command=command, progress=progress, backend=backend,
                           address=address, report_to=report_to)


def built_sweep(arguments: dict[str, Any], *, say: Callable[[str], None],
                options: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Any:
    """The ``SweepSpec`` that ``compare`` and ``headstart compare`` run: the one builder of both, from ``compare``'s
    keywords (``arguments``: those given, ``compare``'s defaults for the rest; the CLI's flags under the same names;
    ``config`` a sweep file's ``FromFile``, as ``file_arguments`` returns it). ``options``: the CLI's ``--option``
    settings over the ``options`` table, read where that table is.

    Read in the order a user reads them: the lists first (a list the file gave named as its key in the file, an empty
    one refused by name, never read as the defaults), then each training value, then the file's floors against the
    caps, the sweep's own checks and the columns beside ``eval_data``; ``say`` gets each note the file's reading left,
    before the classes' texts (``label_descriptions``) are given to the arms that read them.

    Raises:
        ConfigError: any invalid setting, named as the caller gave it (a flag, a keyword, or the file's key).
    """
    from headstart.api_sweep_file import TRAIN_KEYWORDS, FromFile
    from headstart.arguments import as_config, as_items, with_keywords
    from headstart.data import REGISTRY as DATASETS, staged_test_data
    from headstart.data.splits import SplitConfig, split_caps, split_given
    from headstart.ood_labels import check_columns_for_eval
    from headstart.surface import spoken
    from headstart.sweep_spec import DEFAULT_SIZES, DEFAULT_STRATEGIES, SweepSpec, parse_list, parse_sizes

    a = {name: p.default for name, p in inspect.signature(compare).parameters.items()} | arguments
    config = a["config"]
    from_file = config if isinstance(config, FromFile) else None

    def named(key: str) -> str:  # a list the file gave is named as the file's key, as the file's other refusals are
        return f"{key} in {from_file.path!r}" if from_file and key in from_file.filled else spoken(f"--{key}", key)

    data, split_column = as_data(a["data"], text_column=a["text_column"], label_column=a["label_column"], task=a["task"],
                                  group_column=a["group_column"], split_column=a["split_column"])
    test_data = staged_test_data(a["test_data"], text_column=a["text_column"], label_column=a["label_column"])
    strategies = DEFAULT_STRATEGIES if a["strategies"] is None else a["strategies"]
    if not isinstance(strategies, (str, list, tuple)):
        raise ConfigError(f"strategies must be a name or a list of names, got {strategies!r:.60}; "
                          "e.g. strategies=['linear-probe', 'lora']")
    strategies_list = parse_list(strategies if isinstance(strategies, str) else ",".join(map(str, strategies)),
                                 name=named("strategies"), noun="strategy", flag=spoken("--strategies", "strategies="))
    sizes_list = parse_sizes(DEFAULT_SIZES if a["sizes"] is None else a["sizes"], name=named("sizes"))
    if from_file:  # its task, lists and tables named as the file's keys: the sweep's own checks name the flags
        from headstart.arm_text import parse_arm, split_arms

        compared = tuple(dict.fromkeys(parse_arm(arm)[0] for arm in split_arms(a["arms"]))) if a["arms"] else strategies_list
        from_file.check_lists(task=a["task"], strategies=compared, arms=a["arms"])
    train = with_keywords(TrainConfig(**from_file.train) if from_file else as_config(config, TrainConfig),
                          checked=False, **{key: a[key] for key in TRAIN_KEYWORDS})  # SweepSpec checks the floors
    if from_file:  # the file's floors against the caps, once the values are read: a cap typed beside it wins over them
        from_file = from_file.capped()
    table = as_table(a["options"], name="options", example="{'lora': {'rank': 4}}")
    eval_data = a["eval_data"]
    if has_frames(eval_data):  # a DataFrame: staged in the cache as fit stages it
        eval_data = staged_eval_data(eval_data, source={"text_column": a["text_column"], "label_column": a["label_column"]})
    backbone = DEFAULT_BACKBONE if a["backbone"] is None else a["backbone"]
    sweep = SweepSpec(data=data, backbone=backbone, strategies=strategies_list, sizes=sizes_list, seeds=a["seeds"],
                      train=train, options=options(table) if options else table,
                      train_by_strategy=as_table(a["train_by_strategy"], name="train_by_strategy",
                                                 example="{'lora': {'lr': 1e-3}}"),
                      split=split_caps(as_config(split_given(a["split"]), SplitConfig, name="split"),
                                       max_test=a["max_test"], max_val=a["max_val"], dedupe=a["dedupe"]),
                      tune=a["tune"], grids=as_table(a["grids"], name="grids", example="{'lora': [3e-4, 1e-3, 3e-3]}"),
                      text_column=a["text_column"], label_column=a["label_column"], task=a["task"], pooling=a["pooling"],
                      arms=a["arms"] or (), retain=staged_names(a["retain"], name="retain"), backbones=a["backbones"] or (),
                      group_column=a["group_column"], split_column=split_column, test_data=test_data,
                      eval_data=as_items(eval_data, name="eval_data"), tta=_methods(a["tta"]),
                      cap_over_floors=from_file is not None and from_file.cap_over_floors)
    check_columns_for_eval(sweep.data, text_column=sweep.text_column, label_column=sweep.label_column,
                           eval_data=list(sweep.eval_data), builtin=sweep.data in DATASETS)
    for note in from_file.notes if from_file else ():
        say(note)
    if a["label_descriptions"] is not None:
        sweep = with_label_descriptions(sweep, a["label_descriptions"])
    return sweep


def with_label_descriptions(sweep: Any, described: str | dict[str, str] | list) -> Any:
    """``sweep`` with the classes' texts (``--label-descriptions`` text or file, a ``{label: text}`` dict, or the TOML's
    table as pairs) given to every arm that reads them: zero-shot's descriptions, the prompt arms' answer words.

    Raises:
        ConfigError: descriptions for a sweep without such an arm, or ones that cannot be read.
    """
    from headstart.strategies import get_strategy

    readers = [name for name in sweep.strategies
               if "descriptions" in {f.name for f in dataclasses.fields(get_strategy(name).Options)}]
    if not readers:
        raise ConfigError(f"--label-descriptions gives the classes' texts to zero-shot, zero-shot-prompt or icl, none of which "
                          f"is among the arms ({', '.join(sweep.strategies)}); add one, e.g. --strategies zero-shot,{sweep.strategies[0]}")
    pairs = label_texts(described)
    options = {**sweep.options, **{name: {**sweep.options.get(name, {}), "descriptions": pairs} for name in readers}}
    return dataclasses.replace(sweep, options=options)


def run_compare(sweep: Any, out: str | Path, *, workers: int = 1, command: str = "", progress: ProgressFn | bool = False,
                announce: Any = None, backend: str = "local", address: str | None = None,
                report_to: str | None = None, by: str = "compare", reuse_more_tta: bool = False) -> CompareResult:
    """``compare`` on a built ``SweepSpec``: check the split for leakage (``announce(report)`` before training),
    run the missing cells (``backend`` / ``address`` as in ``compare``; ``progress`` a bar or a function, as there),
    render the report, log to ``report_to``;
    ``by="adapt"`` for adapt's own cells (recorded with the store: neither command takes the other's).
    ``reuse_more_tta``: a stored cell that differs from a planned one only in running more test-time adaptations
    stands for it (``sweep_plan.stood_in_by_more_tta``; adapt's store from before its tta ran on source-only alone)."""
    import json

    import dataclasses

    from headstart.data import REGISTRY as DATASETS
    from headstart.data_defaults import fill, image_backbone
    from headstart.progress import shown_progress
    from headstart.report.render import rerender
    from headstart.specs import kept_split_column
    from headstart.store_command import check_not_an_adapt
    from headstart.outdir import claim
    from headstart.sweep import run_sweep
    from headstart.sweep_cell import loaded_data
    from headstart.sweep_plan import check_backend, leakage_report, note_oversubscribed, plan, stood_in_by_more_tta

    claim(out, "compare")  # before the data loads: a folder of something else is refused, never written into
    if (Path(out) / "runs.sqlite").exists():  # a damaged or too-new store is named now, not after the leakage check
        from headstart.store import Store

        Store(out).open().close()  # as the writer it is: a store killed at its first write gets its tables
        with Store(out, create=False) as store:  # a store that read its file by no split column goes on reading none
            held = (store.sweep() or {}).get("data")
        if isinstance(held, dict) and sweep.data not in DATASETS:  # a store before 2026-12-08 records no path
            sweep = dataclasses.replace(sweep, split_column=kept_split_column(sweep.split_column, {"path": sweep.data, **held}))
    if by != "adapt":  # adapt's own cells come through here too
        check_not_an_adapt(Path(out))
    check_backend(backend, address, workers)  # a missing extra is named before the data loads
    note_oversubscribed(workers)
    check_report_to(report_to)
    backbones = list(sweep.backbones or (sweep.backbone,))
    notes: list[dict[str, str]] = []
    if any(image_backbone(b) for b in backbones):  # image runs: defaults that depend on the data
        train, split, notes = fill(loaded_data(sweep), backbones, sweep.train, sweep.split)
        sweep = dataclasses.replace(sweep, train=train, split=split)
    planned = plan(sweep)  # sizes, options, --eval-data: a mistake is refused before the leakage line and any cell
    if reuse_more_tta and (Path(out) / "runs.sqlite").exists():
        from headstart.store import Store

        with Store(out) as store:  # as the writer it is (``_changed``)
            done = store.done_keys()
            planned = stood_in_by_more_tta(planned, [(r.key, r.spec) for r in store.results("done") if r.key in done])
    leakage = leakage_report(sweep)
    if announce is not None:
        announce(leakage)
    elif not on_cli():  # a Python caller: the CLI's warning line, through the headstart logger
        from headstart.data.leakage import warn_of_leakage

        warn_of_leakage(leakage, dedupe=sweep.split.dedupe)
    changed = _changed(out, planned)  # a setting every arm runs with that the stored arms did not: said after the plan
    with shown_progress(progress, "sweep") as update:
        outcome = run_sweep(sweep, out, workers=workers, command=command, progress=_saying_plan(update, sweep, len(planned), changed),
                            leakage=leakage, backend=backend, address=address, planned=planned, by=by)
    training = _still_training(out, outcome.taken)  # before the report: a cell said training is one it leaves out
    reports = rerender(out)  # with the store's last `headstart report` settings (--margin, --metric), if it set any
    logged = None
    if report_to:
        from headstart.tracking import log_store

        logged = log_store(out)
    return CompareResult(out=Path(out), total=outcome.total, skipped=outcome.skipped, trained=outcome.trained,
                         statuses=_merged(outcome.stored, outcome.statuses), trained_statuses=dict(outcome.statuses),
                         seconds=outcome.seconds, reused=outcome.reused,
                         summary=json.loads(reports["results.json"].read_text()), reports=reports, leakage=leakage,
                         notes=notes, mlflow=logged, elsewhere=outcome.elsewhere, elsewhere_training=training, keys=frozenset(key for _, key, _ in planned))


def _merged(*counts: dict[str, int]) -> dict[str, int]:
    """Counts by status, added up: "done" first, then the others in the order met."""
    merged: dict[str, int] = {"done": 0}
    for count in counts:
        for status, n in count.items():
            merged[status] = merged.get(status, 0) + n
    return {status: n for status, n in merged.items() if n}


def plan_text(sweep: Any, cells: int, to_train: int, *, repeats: int = 0) -> str:
    """The line a compare says before it trains, e.g. ``plan: 105 runs (3 strategies x 7 sizes x 5 seeds): 0 already
    stored, 105 to train``. ``cells``: every cell of ``sweep``; ``to_train``: those the store does not hold yet, less
    ``repeats``: those it stores as the run of another seed they repeat (``sweep_plan.seed_repeats``)."""
    counts = [(len(sweep.backbones), "backbone")] if len(sweep.backbones) > 1 else []
    counts += [(len(sweep.arm_specs()), "arm" if sweep.arms else "strategy"), (len(sweep.sizes), "size"), (sweep.seeds, "seed")]
    plural = {"strategy": "strategies"}
    factors = " x ".join(f"{n} {word if n == 1 else plural.get(word, word + 's')}" for n, word in counts)
    if math.prod(n for n, _ in counts) != cells:  # sweep_spec.cells: size 0 holds the label-free arms, and only them
        factors += "; label-free arms at size 0 only, the others at every other size"
    line = (f"plan: {cells} run{'s' if cells != 1 else ''} ({factors}): {cells - to_train - repeats} already stored, "
            f"{to_train} to train" + (f", {repeats} stored from the seed {'it repeats' if repeats == 1 else 'they repeat'}"
                                      if repeats else ""))
    if 0 in sweep.sizes and sweep.seeds > 1:  # a label-free arm draws no rows: each seed is the same run again
        from headstart.sweep_plan import repeats_a_seed

        free = list(dict.fromkeys(spec.strategy for spec in sweep.cells() if repeats_a_seed(spec)))
        if free:
            line += (f"; size 0's {', '.join(free)} read{'s' if len(free) == 1 else ''} no labels and take"
                     f"{'s' if len(free) == 1 else ''} no step, so {'its' if len(free) == 1 else 'their'} {sweep.seeds} seeds are one run: trained once, "
                     "stored for each (deterministic: 1 run, no seed interval)")
    return line


def _changed(out: str | Path, planned: list[Any]) -> str | None:
    """``analysis.rerun.changed_text`` of the store at ``out`` (None without one): the shared training setting, say
    ``--max-steps``, in which the planned arms differ from the stored ones, and the new arms that makes."""
    from headstart.analysis.rerun import changed_text
    from headstart.store import Store

    if not (Path(out) / "runs.sqlite").exists():
        return None
    with Store(out) as store:  # as the writer it is: another compare on this store may have made the file, not yet its tables
        stored = store.results()
    return changed_text([resolved for _, _, resolved in planned], stored)


def _still_training(out: str | Path, taken: list[str]) -> int:
    """How many of ``taken`` (cells another compare held) are still ``running`` under a live owner: not finished there,
    nor abandoned by a compare that is gone (``Store.abandoned``, the verdict ``runs`` and the report use)."""
    from headstart.store import Store

    if not taken:
        return 0
    with Store(out) as store:
        live = set(store.running_owners()) - store.abandoned()
    return len(set(taken) & live)


def _saying_plan(update: Any, sweep: Any, cells: int, changed: str | None = None) -> Any:
    """``update`` (None: None), printing ``plan_text`` on stderr first, and ``changed`` (``_changed``) as a note under
    it: ``run_sweep`` calls ``update(stored, cells, {})`` once it has read which cells the store already holds, before
    any cell trains."""
    if update is None:
        return None
    said: list[bool] = []

    def first_says_plan(done: float, total: int, info: dict[str, Any]) -> None:
        repeats = info.get(REPEATS_KEY, 0)
        info = {k: v for k, v in info.items() if k != REPEATS_KEY}
        if not said:
            said.append(True)
            print(plan_text(sweep, cells, total - int(done), repeats=repeats), file=sys.stderr, flush=True)
            if changed:
                print(f"note: {changed}", file=sys.stderr, flush=True)
        update(done, total, info)

    return first_says_plan
