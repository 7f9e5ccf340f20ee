"""A trained run's scores after its training: ``unscored``, its ``RunResult`` before any (keyed, with its record and
validation metrics), and ``score``, the test split, retention on ``spec.retain`` and the scores on ``spec.eval_data``
added to it. ``ScoringInterrupted`` is Ctrl-C or SIGTERM in between, carrying the scores made before it: ``fit``
saves the trained run before it scores, and adds what was scored once the scoring ends either way."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from headstart.backbones import count_parameters
from headstart.engine import FitReport
from headstart.progress import PartFn, part_of
from headstart.resolved import resolve
from headstart.results import RunResult
from headstart.specs import RunSpec, run_key


class ScoringInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM while a trained run was scored (``score``): ``result`` holds the scores made before it,
    ``not_scored`` what was left (``not_scored``), and
    ``ended_by`` says so ("interrupted by SIGTERM after training, while measuring retention on sst2"). A
    KeyboardInterrupt still: a sweep's cell stops as it did, stored as nothing."""

    def __init__(self, result: RunResult, *, ended_by: str, not_scored: dict[str, Any]) -> None:
        super().__init__(ended_by)
        self.result, self.ended_by, self.not_scored = result, ended_by, not_scored


def unscored(spec: RunSpec, s: Any, report: FitReport, chosen: dict[str, Any], trials: list[dict[str, Any]],
             tune_seconds: float) -> RunResult:
    """The ``RunResult`` of a trained run before any scoring: keyed by ``spec`` as asked (with --tune, before the rate
    was chosen), its record (``headstart.record``), its validation metrics; no test metrics yet."""
    from headstart.record import run_record
    from headstart.saved import backbone_saved, saved_bytes

    resolved = resolve(spec, s.data, s.pretrained, split_config=s.split_config, n_train=len(s.train_rows), precision=s.precision)
    common = dict(key=run_key(resolved), spec=resolved, train_seconds=report.seconds + tune_seconds, steps=report.steps,
                  trainable_params=report.trainable_params, total_params=count_parameters(s.model),
                  record={**run_record(s, report, tuned=bool(trials)),
                          **({"estimates": report.estimates} if report.estimates else {}),
                          **({"feature_seconds": round(report.feature_seconds, 3)} if report.feature_seconds else {})})
    if report.status != "done":
        return RunResult(status=report.status, chosen=chosen, error=report.error, **common)
    chosen = {**chosen, **({"tune_seconds": round(tune_seconds, 2), "trials": trials} if trials else {})}
    return RunResult(status="done", metrics={}, val_metrics=report.val_metrics, chosen=chosen,
                     saved_bytes=saved_bytes(s.model, report, backbone_saved(s, report)), best_step=report.best_step, **common)


def score(spec: RunSpec, s: Any, report: FitReport, result: RunResult, *, test: bool = True,
          stage: Callable[[str], None] | None = None, rows: Callable[[int], None] | None = None,
          counted: PartFn | None = None) -> RunResult:
    """``result`` (``unscored``) with test metrics when ``test``, then retention on each of ``spec.retain`` and the
    scores on each of ``spec.eval_data`` (out of domain: other datasets' test splits, never this one's);
    ``stage(text)`` says each scoring step on the progress bar; ``rows(done)``, where given, the test rows scored so far
    (``recipe.counts_rows``); ``counted(what, done, total, unit)`` (``progress.scoring_counter``) each step's rows,
    batches or fits as they go. A run that did not finish is not scored.

    Raises:
        ScoringInterrupted: Ctrl-C (or SIGTERM read as one) while scoring, with the scores made before it.
    """
    from headstart.data.splits import uncapped_test_rows
    from headstart.interrupts import ended_by
    from headstart.record import retained, score_test, scored_elsewhere
    from headstart.saved import backbone_saved

    if result.status != "done":
        return result
    start = time.perf_counter()
    features = backbone_saved(s, report) == "none"
    record, tested = dict(result.record or {}), {}
    left: dict[str, Any] = {"test": test, "retain": list(spec.retain), "eval_data": list(spec.eval_data)}
    stage = stage or (lambda text: None)  # after the last step: what the bar still waits for is said
    doing = "scoring the test split"

    caches: list = []  # the feature caches read: each counted at what its rows cost, not what this run spent on them

    def made() -> RunResult:
        metrics = {**tested, **{f"retention:{r['data']}": r["retention"] for r in record.get("retention", ())},
                   **{f"ood:{o['data']}{'+' + o['tta'] if o['tta'] else ''}:{k}": v for o in record.get("ood", ())
                      for k, v in o["metrics"].items()}}
        return dataclasses.replace(result, metrics=metrics, record=charged(record, caches),
                                   eval_seconds=charged_seconds(time.perf_counter() - start, caches))

    try:
        if test:
            stage(doing)
            tested, record["test"] = score_test(s, features=features, progress=rows, counted=None if rows else part_of(counted, doing),
                                                caches=caches)
            uncapped = uncapped_test_rows(s.data, s.split_config)
            if uncapped is not None:  # --max-test (or an image split's default cap): whether it cut anything, for the report
                record["test_split_rows"] = uncapped
            left["test"] = False
        if spec.retain:
            stage(f"measuring retention on {', '.join(spec.retain)}")
            record["retention"] = []
            for name in spec.retain:  # one at a time: an interrupt keeps those measured
                doing = f"measuring retention on {name}"
                record["retention"] += retained(s, [name], progress=part_of(counted, doing), caches=caches)
                left["retain"].remove(name)
        if spec.eval_data:
            stage(f"scoring {', '.join(spec.eval_data)}" + (f" (with {', '.join(spec.tta)})" if spec.tta else ""))
            record["ood"] = []
            for text in spec.eval_data:
                doing = f"scoring {text} out of domain"
                record["ood"] += scored_elsewhere(s, features=features, names=[text], progress=counted, caches=caches)
                left["eval_data"].remove(text)
    except KeyboardInterrupt as interrupt:
        raise ScoringInterrupted(made(), ended_by=f"{ended_by(interrupt)} after training, while {doing}",
                                 not_scored=not_scored(left, spec.tta)) from None
    return made()


def charged_seconds(wall: float, caches: list) -> float:
    """``wall`` seconds of scoring with the backbone features it read (``features.FeatureCache``) counted at what computing
    them costs, not at what this run spent on them: the first arm of a compare to score the test split computes its
    features, the next reads them, and each arm's ``eval_seconds`` is then what it costs run alone on a cold cache."""
    spent = sum(c.computed_seconds for c in caches)
    return max(0.0, wall - spent) + sum(c.read_seconds for c in caches)


def charged(record: dict[str, Any], caches: list) -> dict[str, Any]:
    """``record`` with ``eval_feature_seconds``: of ``eval_seconds``, what the backbone features scoring read cost."""
    cost = sum(c.read_seconds for c in caches)
    return {**record, "eval_feature_seconds": round(cost, 3)} if cost else record


def not_scored(left: dict[str, Any], tta: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """What is left to score, as metrics.json says it: the non-empty parts of ``left`` (``{"test": True, "retain":
    [...], "eval_data": [...]}``), with ``tta``, the adaptations each ``eval_data`` dataset is also scored after."""
    return {k: v for k, v in {**left, "tta": list(tta) if left.get("eval_data") else []}.items() if v}
