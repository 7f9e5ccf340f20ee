"""What a run is refused for before it trains: data, backbone, strategy and settings that do not fit together
(``check_compatible``, ``check_labelled``), and the datasets it reads beside its own (retained, a term's ``data=``, scored
out of domain) where they cannot be read, do not map, or would share rows with what they measure. ``headstart.recipe``
runs them in ``setup`` and ``run``; a sweep's plan runs them once for all its cells.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from headstart.backbones import modality_of
from headstart.backbones.registry import REGISTRY as BACKBONES
from headstart.data import Dataset, SplitConfig, load_dataset, split_dataset
from headstart.data.builtin import known_dataset
from headstart.data.labels import no_task_fix
from headstart.errors import ConfigError, with_article
from headstart.specs import RunSpec, TrainConfig
from headstart.strategies import get_strategy
from headstart.strategies.registry import STRATEGIES, check_applies

if TYPE_CHECKING:  # the checks read no tensor: torch only for the annotations
    import torch


def _term_data(spec: RunSpec) -> list[str]:
    """The datasets ``spec``'s objective terms read beside its own (``replay[data=]``, ``ewc[data=]``, ``dann[data=]``)."""
    return [str(options["data"]) for options in spec.terms.values() if (options or {}).get("data")]


def check_other_data(specs: list[RunSpec], modality: str) -> None:
    """Refuse, before any run of ``specs`` trains, a dataset they read beside their own that cannot be read: a
    ``--retain`` dataset (``retention.retained_data``) or a term's ``data=``, each loaded once. Without this, a
    misspelt name is found only after training (retention) or when the term is built, in every cell of a sweep.

    Args:
        modality: what the backbone reads ("text" or "image"); a retained dataset must hold the same.

    Raises:
        HeadstartError: an unknown name or an unreadable file (the loader's message, with "did you mean"), or a
            retained dataset that is not a classification dataset of ``modality``.
    """
    with no_task_fix():  # --task is the run's own data's: the notes of a file read beside it name no fix
        _check_other_data(specs, modality)


def _check_other_data(specs: list[RunSpec], modality: str) -> None:
    from headstart.ood_labels import parse_eval_data
    from headstart.retention import retained_data

    for name in dict.fromkeys(name for spec in specs for name in spec.retain):
        retained_data(name, modality)
    for spec in specs:  # found here, not once the model is built and the term prepared (a sweep: before any cell)
        for term, options in spec.terms.items():
            name = str((options or {}).get("data") or "")
            if name and _same_data(name, (str(spec.data),)):
                raise ConfigError(f"{term}[data={name}]: {name!r} is this run's own dataset; {term} reads another "
                                  f"dataset (an earlier task, or a target domain's inputs), e.g. "
                                  f"{term}[data={_another(modality, (str(spec.data),))}]")
    own = tuple(dict.fromkeys(str(spec.data) for spec in specs))
    for term, name in dict.fromkeys((t, str(o["data"])) for spec in specs for t, o in spec.terms.items() if (o or {}).get("data")):
        # its own words ("replay[data=x] is an unknown dataset"), listing what it can read: another dataset than the
        # run's, for replay and ewc an earlier classification task (``recipe.term_context``'s ``other``), for the
        # alignment terms any dataset's inputs
        known_dataset(name, modality, f"{term}[data={name}]", task="classification" if term in STRATIFIED_CUT else None,
                      besides=own)
        data = load_dataset(name)
        reads = f"{modality} classification" if term in STRATIFIED_CUT else modality
        if data.modality != modality or (term in STRATIFIED_CUT and data.task != "classification"):
            # found here, not once the term is prepared, after the model is built
            raise ConfigError(f"{term}[data={name}]: {name!r} is {with_article(data.modality)} {data.task} dataset; "
                              f"{term} reads {with_article(reads)} dataset, e.g. {term}[data={_another(modality, own)}]")
    uses = {(term, str(options["data"]), spec.retain, tuple(parse_eval_data(d)[0] for d in spec.eval_data))
            for spec in specs for term, options in spec.terms.items() if (options or {}).get("data")}
    for use in sorted(uses):
        _check_rows_apart(*use)


def _another(modality: str, own: tuple[str, ...]) -> str:
    """A built-in dataset of ``modality`` none of ``own`` is, to name in a refusal's example."""
    candidates = ("opencv-digits", "fashion-mnist") if modality == "image" else ("drug-reviews", "rotten-tomatoes")
    return next((o for o in candidates if not _same_data(o, own)), candidates[0])


def say_retain_costs(retain: Iterable[str], modality: str) -> None:
    """Say what measuring retention on each ``retain`` dataset costs (``retention.cost_text``), once a process: after
    every check of the run or sweep, before it trains, so a refused command says its one line and nothing before it.
    A sweep's plan says it in the driver; its cells, in worker processes or not, leave it unsaid (``run_cell``)."""
    from headstart.retention import cost_text, retained_data

    for name in dict.fromkeys(retain):
        other = retained_data(name, modality)
        if (name, other.hash) not in _COST_SAID:
            _COST_SAID.add((name, other.hash))
            logging.getLogger("headstart").info("%s", cost_text(name, other))


def check_retained_apart(retain: tuple[str, ...], data: Dataset, split_config: SplitConfig) -> None:
    """Refuse a ``--retain`` dataset that is the run's own data, or whose inputs are, beyond ``RETAIN_SHARED`` of its
    rows, inputs of the run data's pool or validation split (drug-reviews and drug-reviews-sentiment are the same
    reviews): its probe would be fit and scored on texts the encoder was tuned on, which measures no forgetting.

    Raises:
        ConfigError: which dataset, how many rows it shares, and what to do instead.
    """
    key = (data.hash, split_config, tuple(retain))
    if not retain or key in _RETAIN_CHECKED:  # a sweep's plan checked it; its runs need not again
        return
    from headstart.data.duplicates import normalize
    from headstart.data.leakage import comparable
    from headstart.retention import retained_data

    splits = split_dataset(data, split_config)
    read, _ = comparable(data, 1.0)
    seen = {normalize(read[i]) if data.modality != "image" else read[i] for i in np.concatenate([splits.pool, splits.val])}
    for name in retain:
        other = retained_data(name, data.modality)
        if other.hash == data.hash:
            raise ConfigError(f"--retain {name!r} is the run's own data ({data.name!r}): retention measures what the run "
                              "forgets of another task; retain another dataset")
        theirs, _ = comparable(other, 1.0)
        shared = sum((normalize(x) if other.modality != "image" else x) in seen for x in theirs)
        if shared > RETAIN_SHARED * len(theirs):
            raise ConfigError(f"--retain {name!r}: {shared:,} of its {len(theirs):,} inputs are inputs of the "
                              f"training pool or validation split of {data.name!r}, so its probe would be fit and scored on "
                              "inputs this run trains on; retain a dataset of other inputs")
    _RETAIN_CHECKED.add(key)


_COST_SAID: set[tuple[str, str]] = set()  # per process: the --retain datasets whose cost say_retain_costs said
_RETAIN_CHECKED: set[tuple[str, SplitConfig, tuple[str, ...]]] = set()  # per process: what check_retained_apart passed


RETAIN_SHARED = 0.01  # shared inputs a retained dataset may hold (natural duplicates), as a fraction of its rows


STRATIFIED_CUT = ("replay", "ewc")  # TermContext.other: an earlier task's pool, cut by its labels (SplitConfig())


def _check_rows_apart(term: str, name: str, retained: tuple[str, ...], scored: tuple[str, ...]) -> None:
    """Refuse a term that reads dataset ``name`` beside a score on ``name`` whose test rows may be among those it reads.

    replay and ewc read ``name``'s pool under its own stratified cut: the test rows ``--eval-data`` scores (cut without
    labels) are partly in it, and retention cross-fits a small dataset over every row (a large one's stratified test
    rows lie outside that pool; replay with ``--retain`` of its own data is refused in ``_terms``). The alignment terms
    read ``name``'s inputs under the label-free cut whose test rows ``--eval-data`` scores, apart from them, but
    retention's test rows are cut another way and lie partly in that pool.

    Raises:
        ConfigError: the term and the score would share rows (which, and what to do instead).
    """
    from headstart.retention import SMALL

    if term in STRATIFIED_CUT:
        read = "rows and labels" if term == "replay" else "inputs"
        if _same_data(name, scored):
            raise ConfigError(f"{term}[data={name}] reads {read} of the pool of {name!r}, cut by its labels, and --eval-data "
                              f"{name} scores a test split cut without them: the two share rows; score another dataset out "
                              "of domain, or drop one of them")
        rows = len(load_dataset(name))
        if _same_data(name, retained) and rows < SMALL:
            raise ConfigError(f"{term}[data={name}] reads {read} of {name!r}, and --retain {name} cross-fits a dataset "
                              f"this small ({rows} rows, under {SMALL}) over every row, those too; retain another dataset"
                              + (", or let ewc read the task's own inputs (ewc without data=)" if term == "ewc" else ""))
    elif _same_data(name, retained):
        raise ConfigError(f"{term}[data={name}] reads inputs of {name!r}, and --retain {name} scores rows cut another way, "
                          "some of them among those: retain another dataset, or drop one of them")


def _same_data(name: str, others: tuple[str, ...]) -> bool:
    """``name`` is one of ``others``: the same built-in name, or the same file however its path is written."""
    from pathlib import Path

    def canonical(text: str) -> str:
        path = Path(text)
        return str(path.resolve()) if path.exists() else text

    return canonical(name) in {canonical(o) for o in others}


def check_modality(data: Dataset, pretrained: torch.nn.Module) -> str:
    """The backbone's modality, where it is the data's (texts or images).

    Raises:
        ConfigError: images with a text backbone or the reverse, naming the backbones that read the data.
    """
    modality = modality_of(pretrained)
    if data.modality != modality:
        fits = [name for name, entry in BACKBONES.items() if entry.modality == data.modality]
        raise ConfigError(f"{data.name!r} holds {data.modality}s but backbone {getattr(pretrained, 'name', '?')!r} reads {modality}s; "
                          f"use --backbone {fits[0]} ({data.modality} backbones: {', '.join(fits)})")
    return modality


def check_before_load(spec: RunSpec) -> None:
    """What the backbone's config.json already refuses for ``spec``'s strategy and options
    (``Strategy.refuses_before_load``: virtual tokens past a prompt arm's encoder positions), said before the backbone
    loads (seconds: MPNet's ~28) in the words ``check_compatible`` says it in once it has. Options that do not build
    are left to the run's own checks, which say them in their place.

    Raises:
        ConfigError: the refusal.
    """
    strategy = get_strategy(spec.strategy)
    try:
        options = strategy.options(spec.options)
    except ConfigError:
        return
    why = strategy.refuses_before_load(spec.backbone, options, max_length=spec.train.max_length)
    if why:
        raise ConfigError(why)


def check_compatible(strategy: Any, data: Dataset, pretrained: torch.nn.Module, cfg: TrainConfig, *,
                     pooling: str | None, options: Any) -> None:
    """Data, backbone, strategy and the settings of one modality fit together.

    Raises:
        ConfigError: images with a text backbone (or the reverse), a strategy that cannot adapt this kind of
            backbone (naming those that can) or this backbone with these ``options`` (``Strategy.refuses``: a prompt arm on
            an encoder, more virtual tokens than its positions leave room for), --augment / --bn with a text backbone, or
            --pooling with an image one.
    """
    modality = check_modality(data, pretrained)
    check_applies(strategy, modality)
    why = strategy.refuses(pretrained, options)
    if why:
        raise ConfigError(why)
    if modality != "image" and (cfg.augment != "none" or cfg.bn == "frozen"):
        raise ConfigError(f"--augment and --bn apply to image backbones, not to {getattr(pretrained, 'name', '?')!r}; drop them")
    if modality == "image" and pooling is not None:  # an image backbone pools by its own network, not by this option
        raise ConfigError(f"--pooling applies to text backbones, not to {getattr(pretrained, 'name', '?')!r}; drop it")


def check_labelled(strategy: Any, n: int | None) -> None:
    """A strategy that trains on labels has some (n > 0); a label-free one (zero-shot) reads none (n = 0).

    Raises:
        ConfigError: naming the strategy and the ``--n`` that fits it.
    """
    if strategy.needs_labels and n == 0:
        free = [name for name, s in STRATEGIES.items() if not s.needs_labels]
        raise ConfigError(f"strategy {strategy.name!r} trains on labelled examples, but n is 0; give --n 8 or more, or use a "
                          f"strategy that needs none: {', '.join(free)}")
    if not strategy.needs_labels and n != 0:
        raise ConfigError(f"strategy {strategy.name!r} reads no labelled examples (its result is the same at any n), but n is "
                          f"{'all' if n is None else n}; give --n 0")


def check_out_of_domain(spec: RunSpec | Any, data: Dataset, pretrained: torch.nn.Module, flag: str = "--eval-data") -> None:
    """Refuse ``--eval-data`` whose labels do not map and ``--tta`` that cannot adapt this backbone for this task
    (``flag``: the option the datasets came from, for errors: ``adapt`` says ``--target``).

    Raises:
        ConfigError: naming the dataset or method and the fix.
    """
    from headstart.arm_text import parse_arm
    from headstart.ood import check_elsewhere
    from headstart.tta import check_applies, refuses

    for text in spec.eval_data:
        check_elsewhere(text, data, flag)
    for method in spec.tta:  # bn-adapt without BatchNorm, tent on a regression run or a k-NN head
        # a sweep's arms that take them (``SweepSpec.tta_arms``), else every arm's strategy, else the run's
        taking = getattr(spec, "tta_arms", ())
        strategies = (tuple(dict.fromkeys(parse_arm(a)[0] for a in taking)) if taking
                      else getattr(spec, "strategies", None) or (spec.strategy,))
        if len(strategies) == 1:
            check_applies(method, pretrained, data.task, get_strategy(strategies[0]), given=tuple(spec.tta))
            continue
        found = {s: why for s in strategies if (why := refuses(method, pretrained, data.task, get_strategy(s)))}
        if found and len(set(found.values())) == 1 and len(found) == len(strategies):  # the backbone or the task: all alike
            raise ConfigError(f"--tta {method} cannot adapt these runs: {next(iter(found.values()))}; drop --tta {method}")
        if found:  # a sweep: which of its arms, and what to drop (scratch is no network adapted from the backbone)
            (strategy, why), *rest = found.items()
            kept = [s for s in strategies if s not in found]
            arms = getattr(spec, "arms", ())  # a sweep given as --arms keeps its arms' options and terms
            kept_text = (f"--arms {','.join(a for a in arms if parse_arm(a)[0] not in found)}" if arms else
                         f"--strategies {','.join(kept)}")
            raise ConfigError(f"--tta {method} cannot adapt the {strategy} runs: {why}"
                              + (f" (nor {', '.join(s for s, _ in rest)})" if rest else "")
                              + (f"; drop {' and '.join(found)} from the sweep (e.g. {kept_text}), or drop "
                                 f"--tta {method}" if kept else f"; drop --tta {method}"))
