"""What a finished run records for the analysis beyond its scores (``RunResult.record``).

The validation checks and the budget as run (for ``analysis.flags``), the majority-class reference on validation and
test (the line every report draws), the checkpoint choice's held-out validation score (what the report's choices
read, ``held_out``), and each test row's prediction beside its target (for intervals that resample the test rows,
``analysis.stats``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def run_record(s: Any, report: Any, *, tuned: bool) -> dict[str, Any]:
    """What the analysis reads beyond the scores (``RunResult.record``): the validation checks, the budget as run,
    the majority-class reference on validation and test, the checkpoint choice scored on held-out validation rows
    (``held_out.choose``, where the run made it) and where it ran (``provenance.environment``)."""
    from headstart.evaluation import reference_metrics
    from headstart.metrics import selection_metric

    cfg, data = s.cfg, s.data
    reference = {part: reference_metrics(data.task, data.targets, s.splits.pool, rows, data.label_names)
                 for part, rows in (("val", s.splits.val), ("test", s.splits.test))}
    history = [{k: v for k, v in h.items() if k in ("step", "phase", "val_score")} | ({"solved": True} if "chosen" in h else {})
               for h in report.history]
    budget = budget_record(cfg, report, len(s.train_rows), tuned=tuned, metric=selection_metric(cfg, data, s.train_rows))
    from headstart.provenance import environment

    held_out = {"held_out": report.held_out} if report.held_out else {}
    return {"history": history, "budget": budget, "reference": reference, **held_out, "environment": environment()}


def budget_record(cfg: Any, report: Any, n_train: int, *, tuned: bool, metric: str) -> dict[str, Any]:
    """The budget as run (``record["budget"]``, what ``analysis.budgets.budget_text`` words): the steps planned and taken,
    the epochs / ``min_steps`` rule, whether ``max_steps`` cut what the rule asked, the rates, and each phase's steps.

    Args:
        cfg: the resolved ``TrainConfig`` the run trained with. report: its ``engine.FitReport``.
        n_train: the training rows the budget was counted on (``budget_for``).
    """
    from headstart.strategies.base import budget_for

    asked = budget_for(dataclasses.replace(cfg, max_steps=None), n_train).steps  # what epochs / min_steps wanted
    by_epochs = budget_for(dataclasses.replace(cfg, max_steps=None, min_steps=0), n_train).steps  # the epochs alone
    return {"planned_steps": report.planned_steps, "steps": report.steps, "epochs": cfg.epochs, "min_steps": cfg.min_steps,
            "max_steps": cfg.max_steps, "capped": cfg.max_steps is not None and asked > cfg.max_steps,
            "lr": cfg.lr if any(n.startswith("backbone.") for n in report.trained) else None,
            "head_lr": cfg.head_lr, "tuned": tuned, "processes": report.processes, "metric": metric, "epoch_steps": by_epochs,
            **({"phases": [list(p) for p in report.phase_steps]} if len(report.phase_steps) > 1 else {})}  # a list: in order


def score_test(s: Any, *, features: bool, progress: Callable[[int], None] | None = None,
               counted: Callable[..., None] | None = None, caches: list | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test metrics of a trained setup, and its prediction per test row beside the target (``evaluation.scored_rows``);
    ``progress``: the rows scored so far; ``counted(what, done, total)`` (``progress.part_of``): those rows, and the
    rows whose backbone features are cached first (``features``), each part counted; ``caches``: gets the feature cache
    read (``FeatureCache``: what its rows cost, and what this call spent computing them)."""
    from headstart.evaluation import scored_rows
    from headstart.features import feature_cache
    from headstart.precision import autocast_for
    from headstart.progress import caching_part

    rows = s.splits.test
    if counted is not None:
        counted("", 0, len(rows))
        progress = progress or (lambda done: counted("", done, len(rows)))
    cached = feature_cache(s, progress=caching_part(counted)) if features else None
    if cached is not None and caches is not None:
        caches.append(cached)
    return scored_rows(s.model, s.encoded, rows, s.data.targets[rows], task=s.data.task, label_names=s.data.label_names,
                       batch_size=s.cfg.eval_batch_size, features=cached,
                       autocast=autocast_for(s.precision, s.device), progress=progress)


def retained(s: Any, names: list[str] | None = None, *, progress: Callable[..., None] | None = None,
             caches: list | None = None) -> list[dict[str, Any]]:
    """``retention.retention`` of the trained setup on each of ``names`` (default ``s.spec.retain``): the adapted
    backbone against the pre-trained one it started from; the same object when the strategy leaves the backbone
    untouched. ``progress`` and ``caches``: ``retention``'s."""
    from headstart.retention import retention
    from headstart.precision import autocast_for

    adapted = s.pretrained if s.strategy.leaves_backbone else s.model.backbone
    return [retention(adapted, s.pretrained, name, seed=s.spec.seed, batch_size=s.cfg.eval_batch_size,
                      autocast=autocast_for(s.precision, s.device), progress=progress, caches=caches)
            for name in (s.spec.retain if names is None else names)]


def scored_elsewhere(s: Any, *, features: bool, names: list[str] | None = None,
                     progress: Callable[..., None] | None = None, caches: list | None = None) -> list[dict[str, Any]]:
    """``ood.evaluate_elsewhere`` of the trained setup on each of ``names`` (default ``s.spec.eval_data``): other datasets' test splits,
    with the run's labels (mapped by name), as trained and after each of ``s.spec.tta``. ``features``: the backbone is unchanged, so the head runs on the
    pre-trained backbone's cached features of each dataset. ``progress(what, done, total, unit)``
    (``progress.scoring_counter``): each scoring's parts counted, named "scoring DATA" (" after TTA"). ``caches``:
    gets each feature cache read (as ``score_test``'s)."""
    from headstart.features import FeatureCache
    from headstart.ood import evaluate_elsewhere
    from headstart.precision import autocast_for
    from headstart.progress import scoring_part

    autocast = autocast_for(s.precision, s.device)
    encoder = s.pretrained if type(s.model.backbone) is type(s.pretrained) else s.model.backbone  # as setup encoded

    def cached(data: Any, encoded: list, progress: Callable[[int, int], None] | None = None) -> Any:
        cache = FeatureCache(s.pretrained, encoded, data.hash, batch_size=s.cfg.eval_batch_size, autocast=autocast,
                             identity={**s.pretrained.describe(), "precision": s.precision}, progress=progress)
        if caches is not None:
            caches.append(cache)
        return cache

    from headstart.errors import HeadstartError

    found = []
    for text in s.spec.eval_data if names is None else names:
        for tta in (None, *s.spec.tta):
            said = scoring_part(progress, text, tta)
            try:
                found.append(evaluate_elsewhere(s.model, encoder, text, run_data=s.data, split_config=s.split_config,
                                                batch_size=s.cfg.eval_batch_size, autocast=autocast,
                                                features=cached if features else None, tta=tta, seed=s.spec.seed,
                                                progress=said))
            except (HeadstartError, RuntimeError) as exc:  # an adaptation that could not run: the run and its scores stay
                if tta is None:
                    raise
                found.append({"data": text, "tta": tta, "metrics": {}, "error": str(exc).splitlines()[0][:300]})
    return found
