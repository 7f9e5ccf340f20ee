"""Before a sweep's cells train: its backend checked, its cells planned against the data, its split's leakage measured."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from headstart.data.leakage import LeakageReport, split_leakage
from headstart.errors import ConfigError, DataError
from headstart.specs import RunSpec
from headstart.sweep_cell import loaded_cell, loaded_data
from headstart.sweep_spec import SweepSpec

BACKENDS = ("local", "ray")


def plan(sweep: SweepSpec) -> list[tuple[RunSpec, str, dict[str, Any]]]:
    """Every cell with its run key and resolved spec, after checking the sizes against the data.

    Raises:
        DataError: a size exceeds the training pool or is below the number of classes.
        ConfigError: an ``--eval-data`` dataset whose labels do not map onto the task's, a ``metric`` the task lacks, or
            an arm a backbone cannot take (``Strategy.refuses``; what its config.json tells, before it loads).
        HeadstartError: a ``--retain`` dataset or an arm's term ``data=`` that cannot be read (an unknown name: "did
            you mean"), as ``train`` refuses it (``run_checks.check_other_data``).
    """
    from headstart.backbones.naming import listed_in

    cells = sweep.cells()
    _refused_before_load(cells)
    with listed_in("--backbones") if sweep.backbones else contextlib.nullcontext():  # a failed load names its flag
        return _planned(sweep, cells)


def _refused_before_load(cells: list[RunSpec]) -> None:
    """``run_checks.check_before_load`` of each arm on each backbone, before any backbone loads, its refusal in the
    words ``_planned`` says it in once they have (``_scoped_options``: compare's ``--option STRATEGY.KEY=VALUE``)."""
    from headstart.run_checks import check_before_load

    asked = set()
    for spec in cells:  # one question per arm and backbone: its sizes and seeds share the answer
        key = (spec.strategy, spec.backbone, repr(spec.options), spec.train.max_length)
        if key in asked:
            continue
        asked.add(key)
        try:
            check_before_load(spec)
        except ConfigError as e:
            raise ConfigError(_scoped_options(str(e), spec.strategy)) from None


def _planned(sweep: SweepSpec, cells: list[RunSpec]) -> list[tuple[RunSpec, str, dict[str, Any]]]:
    from headstart.data import split_dataset
    from headstart.precision import resolve_precision
    from headstart.precision import pick_device
    from headstart.resolved import resolve
    from headstart.run_checks import check_other_data, check_retained_apart, say_retain_costs
    from headstart.specs import run_key

    data, _ = _loaded_among(cells[0], cells)
    split_config = sweep.split
    pool = len(split_dataset(data, split_config).pool)
    from headstart.metrics import check_metric

    for spec in cells:  # a strategy's own [train_by_strategy] may name it
        check_metric(spec.train.metric, data.task)
    for n in sweep.sizes:
        if n is not None and n > pool:
            raise DataError(f"size {n} in --sizes is larger than the training pool of {data.name!r} ({pool}); drop it or use 'all'")
        if n is not None and n == pool:  # the pool's rows in another order: a second curve point of the same data
            raise DataError(f"size {n} in --sizes is the whole training pool of {data.name!r} ({pool}), which 'all' names; "
                            + ("drop it: 'all' runs these rows already" if None in sweep.sizes else "write all instead"))
        if n is not None and n > 0 and data.task == "classification" and n < data.num_classes:
            raise DataError(f"size {n} in --sizes is below the number of classes ({data.num_classes}); start at {data.num_classes}")
    if sweep.eval_data:  # labels that do not map, or an adaptation that cannot apply, are refused before any cell trains
        from headstart.run_checks import check_out_of_domain

        for backbone in dict.fromkeys(spec.backbone for spec in cells):
            check_out_of_domain(sweep, data, _loaded_among(next(c for c in cells if c.backbone == backbone), cells)[1])
    precision = resolve_precision(sweep.train.precision, pick_device())
    planned = []
    for spec in cells:  # a strategy's own [train_by_strategy] may change the preprocessing (--image-size)
        try:
            resolved = resolve(spec, data, _loaded_among(spec, cells)[1], split_config=split_config,
                               n_train=pool if spec.n is None else spec.n, precision=precision)
        except ConfigError as e:
            raise ConfigError(_scoped_options(str(e), spec.strategy)) from None
        planned.append((spec, run_key(resolved), resolved))
    check_other_data(cells, data.modality)  # every backbone reads it: resolve checked each against the data
    check_retained_apart(sweep.retain, data, split_config)
    say_retain_costs(sweep.retain, data.modality)  # every check passed: what retention will cost after each cell
    return planned


def _loaded_among(spec: RunSpec, cells: list[RunSpec]) -> tuple[Any, Any]:
    """``loaded_cell(spec)``; a backbone that cannot read the sweep's --image-size is named as one of the sweep's several,
    since the size applies to each of them (its refusal alone said "drop --image-size", losing the size for the others).

    Raises:
        ConfigError: that backbone's refusal, with the way to read the others at the size.
    """
    try:
        return loaded_cell(spec)
    except ConfigError as error:
        others = [b for b in dict.fromkeys(c.backbone for c in cells) if b != spec.backbone]
        if spec.train.image_size is None or not others:
            raise
        raise ConfigError(f"{error}, or, as --image-size {spec.train.image_size} applies to every backbone of this compare, "
                          f"compare {spec.backbone} in a sweep of its own (another --out) to read {', '.join(others)} at "
                          f"{spec.train.image_size}") from None


def leakage_report(sweep: SweepSpec) -> LeakageReport:
    """Test examples of the sweep's split duplicated in its pool + validation (``headstart.data.leakage``).

    Measured on the split without ``dedupe``: with dedupe on, these are the test rows the sweep leaves out.
    """
    return split_leakage(loaded_data(sweep), sweep.split)


def check_backend(backend: str, address: str | None, workers: int = 1, *, address_from: str | None = None) -> None:
    """Refuse a backend this sweep cannot use, before any data is loaded.

    Args:
        address_from: the sweep TOML ``address`` came from, named as its key in the message (None: ``--address``).

    Raises:
        ConfigError: an unknown backend, ``workers`` not a positive integer, ``address`` or ``workers`` > 1 with the wrong
            backend, or ``ray`` not installed.
    """
    from headstart.errors import closest

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a positive integer, got {workers!r}; try --workers 1")
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be local or ray, got {backend!r}{closest(str(backend), BACKENDS)}")
    if address is not None and backend != "ray":
        from headstart.ray_backend import address_text

        raise ConfigError(f"{address_text(address, address_from)} names a Ray cluster; add --backend ray to run there")
    if backend == "ray":
        if workers != 1:
            raise ConfigError(f"--workers {workers} sets local processes; on Ray the cluster's CPUs decide how many cells "
                              "run at once (one CPU each): drop --workers, or give a local cluster more with "
                              "`ray start --head --num-cpus N`")
        from headstart.ray_backend import check_address, import_ray

        import_ray()
        check_address(address, source=address_from)


def note_oversubscribed(workers: int) -> None:
    """Say (one ``note:`` line, no refusal: the user may know better) when ``workers`` exceeds the CPUs this process may
    use: the workers then take turns on the cores, each loading its own data and backbone, and the sweep runs slower
    than with one per core (16 workers on 2 cores took 82 s where 2 took 46 s)."""
    from headstart.distributed import usable_cpus

    cores = usable_cpus()
    if workers > cores:
        logging.getLogger("headstart").info(
            "--workers %d is more than the %d CPU(s) this process may use: the workers take turns on them and the sweep "
            "runs slower than with one per CPU; try --workers %d", workers, cores, cores)


def _scoped_options(message: str, strategy: str) -> str:
    """A strategy's option refusal as compare takes the fix: train's ``--option rank=8`` is compare's ``--option
    lora.rank=8`` (Python: ``options={'lora': {'rank': 8}}``), which one compare of several strategies needs."""
    import re

    from headstart.surface import spoken

    def scoped(match: re.Match) -> str:
        key, value = match.group(1), match.group(2)
        return spoken(f"--option {strategy}.{key}={value}", f"options={{{strategy!r}: {{{key!r}: {value}}}}}")

    return re.sub(r"--option ([a-z_]+)=([^\s;,)]+)", scoped, message)


def stood_in_by_more_tta(planned: list[tuple[RunSpec, str, dict[str, Any]]],
                         stored: list[tuple[str, dict[str, Any]]]) -> list[tuple[RunSpec, str, dict[str, Any]]]:
    """``planned`` with each cell that ``stored`` lacks replaced by a stored one that differs from it only in running
    more test-time adaptations (its ``tta`` a superset): the same training and the same scores, and more of them. An
    adapt store from before its test-time methods ran on the source-only arm alone keeps its other arms' cells.

    Args:
        stored: the store's finished cells as ``(key, resolved spec)``.
    """
    from headstart.specs import run_key

    def without_tta(resolved: dict[str, Any]) -> str:  # canonical as the key is
        return run_key({k: v for k, v in resolved.items() if k != "tta"})

    have = {key for key, _ in stored}
    alike: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, resolved in stored:
        alike.setdefault(without_tta(resolved), []).append((key, resolved))
    kept = []
    for spec, key, resolved in planned:
        wanted = set(resolved.get("tta") or ())
        more = [] if key in have else [(k, r) for k, r in alike.get(without_tta(resolved), [])
                                       if wanted <= set(r.get("tta") or ())]
        kept.append((spec, *more[0]) if more else (spec, key, resolved))
    return kept


def seed_repeats(planned: list[tuple[RunSpec, str, dict[str, Any]]]) -> dict[str, str]:
    """The cells that repeat another seed's run, each key -> the key of the run it repeats (its lowest seed's).

    A label-free arm at size 0 (``Strategy.needs_labels`` False: zero-shot's head is its descriptions' embeddings,
    zero-shot-prompt's the identity on the LM's answer words) draws no row by seed, takes no step and overwrites the
    head the seed initialised, so every seed makes the same run: the sweep trains the lowest seed's and stores its
    result for the others (``record["same_run_as"]``; the report counts such a cell as one run, ``cells.same_run``).
    Not where something else reads the seed: ``retain`` (the probe's rows), ``eval_data`` (an out-of-domain score's
    order, test-time adaptation's rows), objective terms."""
    import json

    first: dict[str, tuple[int, str]] = {}  # the spec without its seed -> (lowest seed, its key)
    free = []
    for spec, key, resolved in planned:
        if not repeats_a_seed(spec):
            continue
        same = json.dumps({k: v for k, v in resolved.items() if k != "seed"}, sort_keys=True, default=str)
        free.append((key, same))
        if same not in first or spec.seed < first[same][0]:
            first[same] = (spec.seed, key)
    return {key: first[same][1] for key, same in free if first[same][1] != key}


def repeats_a_seed(spec: RunSpec) -> bool:
    """Whether every seed of ``spec`` makes the same run (``seed_repeats``): a label-free arm at size 0 with nothing
    else that reads the seed."""
    from headstart.strategies import get_strategy

    return (spec.n == 0 and not get_strategy(spec.strategy).needs_labels and not spec.retain and not spec.eval_data
            and not spec.terms)
