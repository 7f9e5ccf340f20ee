"""The resolved spec of a run: its spec with the strategy's defaults, the data's identity, the backbone's and the
terms' options filled in, as plain data. ``run_key`` hashes it and every result stores it, so a part that a run does
not use stays out of it, and earlier runs keep their keys.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from headstart.backbones import modality_of
from headstart.backbones.registry import REGISTRY as BACKBONES
from headstart.data import Dataset, SplitConfig
from headstart.errors import ConfigError
from headstart.run_checks import _same_data, _term_data, check_compatible, check_labelled
from headstart.specs import STEP_SETTINGS, RunSpec, TrainConfig
from headstart.strategies import get_strategy
from headstart import tuning

if TYPE_CHECKING:  # resolving builds no model: torch only for the annotations
    import torch


def resolve(spec: RunSpec, data: Dataset, pretrained: torch.nn.Module, *, split_config: SplitConfig, n_train: int,
            precision: str) -> dict[str, Any]:
    """The resolved spec of ``spec`` (strategy defaults filled in) as plain data; cheap, builds no model."""
    strategy = get_strategy(spec.strategy)
    cfg = spec.train.with_defaults(strategy.defaults_for(modality_of(pretrained)))
    check_compatible(strategy, data, pretrained, cfg, pooling=spec.pooling, options=strategy.options(spec.options))
    check_labelled(strategy, spec.n)
    identity = pretrained.describe()
    if identity["name"] in BACKBONES:
        identity.pop("source")  # a registered backbone is identified by its (pinned) name, not its install path
    # The input size actually used: an explicit --image-size equal to the network's own gives the same key.
    cfg = dataclasses.replace(cfg, image_size=identity.get("image_size"))
    if strategy.head_only(modality_of(pretrained)):  # a compare's --augment never reaches a probe: no part of its run
        cfg = dataclasses.replace(cfg, augment="none")
    cfg = _closed_form_settings(cfg, strategy, modality_of(pretrained))
    options = strategy.for_labels(strategy.options(spec.options), data.label_names, data.task)
    return {
        "data": {"name": data.name, "hash": data.hash, "task": data.task, "split": split_config.identity()},
        "backbone": identity.pop("name"),
        "backbone_config": identity,
        "strategy": strategy.name,
        "options": dataclasses.asdict(options),
        **_targets(options, pretrained),
        "train": _train_identity(cfg, precision),
        "n": n_train,
        "n_requested": "all" if spec.n is None else spec.n,
        "seed": spec.seed,
        **_tuning(spec, strategy, modality_of(pretrained)),
        **_terms(spec, strategy),
        **({"retain": list(spec.retain)} if spec.retain else {}),  # measured after training: stored with the run
        **({"eval_data": list(spec.eval_data)} if spec.eval_data else {}),  # scored after training, out of domain
        **({"tta": list(spec.tta)} if spec.tta else {}),
        **_other_files(spec),
    }


def _targets(options: Any, pretrained: torch.nn.Module) -> dict[str, Any]:
    """``{"targets_exact": [...]}``, the modules a ``--targets`` list reaches (``peft_base.exact_targets``: each entry
    names modules exactly, so ``output.dense`` is not also ``attention.output.dense``, as PEFT's match by a name's
    ending made it before 2026-12-07): a run given the same list before adapted other modules, and its key differs.
    Absent without a list (the default targets, ``all-linear``), so those runs keep their keys."""
    targets = getattr(options, "targets", None)
    if not isinstance(targets, list):
        return {}
    from headstart.strategies.peft_base import encoder_of, exact_targets

    return {"targets_exact": exact_targets(encoder_of(pretrained), targets)}


# How a file scored out of domain (--eval-data) or read by a term (data=) is read: by the run's own text and label
# columns where it has them (files.read_table's run_source), no longer by name order. A file's hash is of its bytes,
# not of the column read, so the rule is keyed: a store from before it holds scores read from another column.
READ_AGAINST_RUN = "the run's columns first"


def _other_files(spec: RunSpec) -> dict[str, Any]:
    """``{"other_data": {path: hash}}`` for the user files the run reads beside its data (retained, replayed, EWC's
    reference, scored out of domain), and ``other_data_read`` (``READ_AGAINST_RUN``) where one of them is read against
    the run's columns; absent when there are none, so runs on built-in datasets keep their keys."""
    from headstart.data import file_hash

    from headstart.ood_labels import parse_eval_data

    against = [*_term_data(spec), *(parse_eval_data(d)[0] for d in spec.eval_data)]  # read by the run's columns
    hashes = {name: h for name in dict.fromkeys([*spec.retain, *against]) if (h := file_hash(name)) is not None}
    return ({"other_data": hashes} if hashes else {}) | ({"other_data_read": READ_AGAINST_RUN} if set(against) & set(hashes) else {})


def _terms(spec: RunSpec, strategy: Any) -> dict[str, Any]:
    """The objective terms of a resolved spec, their options filled in; absent without terms, so keys stay as they were.

    Raises:
        ConfigError: a term that means nothing with ``strategy``, with the reason; or a dataset both replayed and
            retained (retention would score rows the run rehearsed).
    """
    if not spec.terms:
        return {}
    replayed = (spec.terms.get("replay") or {}).get("data")
    if replayed and _same_data(replayed, spec.retain):
        raise ConfigError(f"replay rehearses {replayed!r} while --retain {replayed!r} measures forgetting on it: the measure "
                          "would score rows the run trained on; retain another dataset, or drop one of them")
    from headstart.objectives import get_term
    from headstart.objectives.terms import term_options

    resolved = {}
    for name, given in sorted(spec.terms.items()):
        term = get_term(name)
        why = term.refuses(strategy)
        if why:
            raise ConfigError(f"{name} cannot be used with {strategy.name}: {why}")
        # An option left unset (None) stays out of the key, so options added later keep earlier runs' keys.
        resolved[name] = {k: v for k, v in dataclasses.asdict(term_options(term, dict(given or {}))).items() if v is not None}
    return {"terms": resolved}


def _closed_form_settings(cfg: TrainConfig, strategy: Any, modality: str) -> TrainConfig:
    """``cfg`` with the ``STEP_SETTINGS`` of a closed-form strategy put back to its defaults: a compare's --max-steps 6
    (or --lr, --batch-size) reaches its stepping arms only, so the closed-form arm keeps one key and one label
    whatever those are. Their defaults, not their removal: a closed-form run stored with them unset keeps its key."""
    if not strategy.solved or "lr" in strategy.defaults_for(modality):  # setfit steps through its encoder: it reads them
        return cfg
    default = TrainConfig().with_defaults(strategy.defaults_for(modality))
    return dataclasses.replace(cfg, **{name: getattr(default, name) for name in STEP_SETTINGS})


def _train_identity(cfg: TrainConfig, precision: str) -> dict[str, Any]:
    """The resolved TrainConfig in a run key. Fields added after results version 4 are left out while unset, so
    runs that do not use them keep their keys."""
    train = {**dataclasses.asdict(cfg), "precision": precision}
    if train["evals_per_epoch"] is None:
        del train["evals_per_epoch"]
    return train


def _tuning(spec: RunSpec, strategy: Any, modality: str) -> dict[str, Any]:
    """The tuning part of a resolved spec: absent when not tuning, so untuned run keys stay as they were."""
    plan = tuning.plan_for(spec, strategy, modality)
    return {"tune": {"param": plan[0], "grid": list(plan[1]), "eta": tuning.ETA, "trial_checks": tuning.TRIAL_CHECKS}} if plan else {}
