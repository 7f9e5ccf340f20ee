"""The Python API; mirrors the CLI: ``fit`` ~ ``headstart train``, ``compare``, ``evaluate``, ``predict``; ``sft``, ``prefer``,
``generate`` for a causal LM."""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headstart.backbones import DEFAULT as DEFAULT_BACKBONE
from headstart.errors import ConfigError, HeadstartError, flags_checked, on_cli, python_named, spoken
from headstart.arm_text import terms_of
from headstart.specs import RunSpec, TrainConfig, as_table, parse_n

if TYPE_CHECKING:  # the LLM modules import torch and transformers: only for the annotations
    from headstart.llm.dpo import PreferConfig
    from headstart.llm.runs import LoadedLM
    from headstart.llm.sft import SftConfig


@dataclass
class FitResult:
    """What ``fit`` returns: the run's identity, validation metrics and training record.

    ``evaluate`` / ``predict`` on the result use the in-memory model; on a path they load the saved run.
    """

    key: str
    out: Path | None
    status: str
    val_metrics: dict[str, Any]
    steps: int
    best_step: int
    train_seconds: float
    trainable_params: int
    total_params: int
    error: str | None
    chosen: dict[str, Any] | None = None  # hyperparameters picked on validation (--tune lr; C / k of the baselines)
    tune_seconds: float = 0.0  # wall time of the tuning trials
    peak_rss_bytes: int = 0  # the process's peak resident memory after training (getrusage)
    base_weights: dict[str, int] | None = None  # 4-bit strategies: {"stored": bytes, "fp32": bytes} of the linear weights
    retention: list[dict[str, Any]] = field(default_factory=list)  # per --retain dataset: headstart.retention's measure
    ood: list[dict[str, Any]] = field(default_factory=list)  # per --eval-data dataset: headstart.ood's scores (rows left out)
    flags: list[dict[str, str]] = field(default_factory=list)  # where the score may understate the strategy: {reason, text, advice}
    mlflow: dict[str, Any] | None = None  # with report_to="mlflow": tracking.log_run_dir's {logged, uri, run_id}
    val_held_out: dict[str, Any] | None = None  # validation metrics of the checkpoint choice on rows that did not make it
    _loaded: Any = field(default=None, repr=False)  # the model in memory: a module's repr is pages long

    def __repr__(self) -> str:  # one line: the fields hold the rest (val_metrics, flags, ood ...)
        scores = {k: v for k, v in self.val_metrics.items() if isinstance(v, (int, float)) and k in ("accuracy", "macro_f1", "rmse", "r2", "loss")}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
        return (f"FitResult({self.status}, val {shown or '-'}; best step {self.best_step} of {self.steps}, "
                f"{self.train_seconds:.1f} s; out={str(self.out) if self.out else None}"
                + (f"; {len(self.flags)} flag(s)" if self.flags else "") + (f"; error {self.error}" if self.error else "") + ")")

    def _usable(self) -> None:
        if self.status != "done":
            from headstart.errors import StoreError

            raise StoreError(f"this run {self.status} ({self.error}); nothing to evaluate or predict with, train it again")

    @python_named
    def evaluate(self, split: str = "test") -> dict[str, Any]:
        from headstart.saved import evaluate_loaded

        split = split_name(split)
        self._usable()
        return evaluate_loaded(self._loaded, split)

    @python_named
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        from headstart.saved import predict_loaded

        self._usable()
        return predict_loaded(self._loaded, texts)


@flags_checked
def fit(data: Any = "rotten-tomatoes", backbone: str = DEFAULT_BACKBONE, *, strategy: str = "linear-probe",
        n: int | str | None = None, seed: int = 0, out: str | Path | None = None, options: dict[str, Any] | None = None,
        config: TrainConfig | None = None, text_column: str | None = None, label_column: str | None = None,
        task: str | None = None, pooling: str | None = None, tune: str | None = None,
        grid: str | list[float] | None = None, progress: bool = False,
        terms: dict[str, dict[str, Any]] | str | None = None, retain: list[str] | None = None,
        group_column: str | None = None, split_column: str | None = None, eval_data: str | list[str] | None = None,
        tta: str | list[str] | None = None, max_test: int | None = None, nproc: int = 1,
        label_descriptions: str | dict[str, str] | None = None, report_to: str | None = None,
        overwrite: bool = False) -> FitResult:
    """Train ``backbone`` on ``data`` with ``strategy`` using ``n`` labelled examples; save to ``out``.

    Args:
        data: built-in dataset name (``headstart datasets``), a table file (.csv/.tsv/.jsonl/.json/.parquet) or image folder, or the data
            itself: a pandas DataFrame, ``(texts, labels)`` or a ``datasets.Dataset`` (``headstart.data.memory``).
        backbone: built-in name (``headstart backbones``) or a local model folder.
        strategy: ``headstart strategies`` name.
        n: labelled examples drawn from the training pool (int, or "all" for all of it); None: all of it, or 0 for a
            strategy that reads no labels (zero-shot), as ``headstart train`` without ``--n``.
        seed: subsample, initialisation and shuffling seed.
        out: run directory to write (spec.json, weights.safetensors, metrics.json); None keeps it in memory.
        options: the strategy's options, e.g. ``{"freeze": 3}`` or ``{"decay": 0.7}``.
        config: training hyperparameters (defaults: the strategy's).
        text_column / label_column / task: how to read a user file (auto-detected when None).
        group_column / split_column: a user file's group ids (kept on one side of the split) and its own
            train / validation / test split (validation cut from train when absent).
        pooling: "mean", "cls", "max", "mean_sqrt_len", "weightedmean", "lasttoken" or several joined by "+" (default:
            from the backbone folder, else mean).
        tune: "lr" chooses the strategy's learning rate on validation by successive halving (``headstart.tuning``).
        grid: with ``tune="lr"``, the values to search instead of the strategy's grid (``[2e-5, 5e-5, 1e-4]``).
        progress: draw a progress bar with ETA on stderr.
        terms: objective terms added to the task loss, e.g. ``{"l2sp": {"weight": 0.01}}`` or the CLI's text
            ``"l2sp[weight=0.01]"`` (``headstart.objectives``).
        retain: classification datasets on which forgetting is measured after training (``FitResult.retention``:
            a probe on the adapted vs the original encoder, ``headstart.retention``).
        eval_data: datasets with the run's labels on whose test split the trained run is also scored, out of domain
            (``FitResult.ood``; ``"drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]"`` maps labels
            by name, ``headstart.ood``).
        tta: test-time adaptations (``"bn-adapt"``, ``"tent"``: ``headstart.tta``) each ``eval_data`` score is also
            taken after, on a copy of the model adapted to that dataset's unlabelled pool inputs.
        max_test: keep a stratified part of this many rows of a larger test split (the rest join the pool); unset, a
            test split of over 2,000 images keeps 2,000 (``headstart.data_defaults``; said in ``flags``).
        nproc: spread training over this many processes (``headstart.distributed``: one CPU or GPU each, gradients
            summed over each global batch of ``batch_size`` × ``accumulate`` rows, rank 0 validates and writes); the
            result equals one process's up to float rounding. Head-only strategies train in one process.
        label_descriptions: a text per class for the strategies that read them (zero-shot, zero-shot-prompt, icl):
            ``{"fresh": "a positive movie review", "rotten": "a negative movie review"}``, or the CLI's text or file.
        report_to: "mlflow" also logs the saved run to MLflow once it is done (``tracking.log_run_dir``: the tracking
            URI is ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<out's parent>/mlflow.db``); ``FitResult.mlflow`` says
            where. Needs ``out``.
        overwrite: replace a saved run of another spec in ``out`` (refused without it, before training: a trained
            model is not lost to a typo in ``out``); the same spec trained again replaces its run either way.

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.

    Example:
        >>> run = headstart.fit("rotten-tomatoes", strategy="linear-probe", n=64, seed=0, out="runs/lp")
        >>> run = headstart.fit("rotten-tomatoes", strategy="full-finetune", n=256, nproc=2, out="runs/ft")
        >>> run.evaluate("test")["accuracy"]
    """
    from headstart.backbones import count_parameters
    from headstart.data.splits import SplitConfig
    from headstart.distributed import check_nproc
    from headstart.outdir import claim, finished
    from headstart.precision import pick_device
    from headstart.progress import progress_bar
    from headstart.recipe import run
    from headstart.saved import LoadedRun, backbone_saved, save
    from headstart.specs import as_config, as_items, run_key

    if out is not None:  # before anything trains: a store or a folder of other files is refused, never replaced
        claim(out, "run")
    check_nproc(nproc, pick_device())  # before any data loads
    check_report_to(report_to, out)
    data, split_column = _as_data(data, text_column=text_column, label_column=label_column, task=task,
                                  group_column=group_column, split_column=split_column)
    if n is None:  # train without --n: every label, or none for a strategy that reads none
        from headstart.strategies import get_strategy

        n = "all" if get_strategy(strategy).needs_labels else 0
    options = as_table(options, name="options", example="{'rank': 4}")
    if label_descriptions is not None:  # --label-descriptions: the strategy's descriptions option
        from headstart.strategies import get_strategy

        if "descriptions" not in {f.name for f in dataclasses.fields(get_strategy(strategy).Options)}:
            raise ConfigError(f"--label-descriptions gives the classes' texts to zero-shot, zero-shot-prompt or icl; {strategy} "
                              "reads labelled rows, not descriptions: drop it, or use --strategy zero-shot")
        options["descriptions"] = label_texts(label_descriptions)
    spec = RunSpec(data=data, backbone=backbone, strategy=strategy, n=parse_n(n), seed=seed, options=options,
                   train=as_config(config, TrainConfig), text_column=text_column, label_column=label_column, task=task, pooling=pooling,
                   tune=tune, grid=grid, terms=terms_of(terms, strategy), retain=as_items(retain, name="retain"), group_column=group_column,
                   split_column=split_column, eval_data=as_items(eval_data, name="eval_data"), tta=_methods(tta),
                   split=SplitConfig(max_test=max_test))
    check_tune_and_rate(spec)
    check_settings_used(spec)
    if out is not None and not overwrite:  # before the data loads (an image backbone's defaults read it) ...
        check_replaces_same_run(Path(out), spec, settled=False)
    spec, loaded, defaults = _with_data_defaults(spec)
    if out is not None and not overwrite:  # ... and with the settings those defaults filled
        check_replaces_same_run(Path(out), spec)
    with progress_bar(f"{strategy} n={'all' if spec.n is None else spec.n} seed={seed}", enabled=progress) as update:
        outcome = run(spec, data=loaded, progress=update, test=False, nproc=nproc)
    s, report = outcome.setup, outcome.report
    flags = defaults + budget_notes(outcome.result)
    retention = (outcome.result.record or {}).get("retention") or []
    ood = [{k: v for k, v in o.items() if k != "rows"} for o in (outcome.result.record or {}).get("ood") or ()]
    if out is not None and report.status != "done" and finished(Path(out), "run"):  # nothing stored is lost to a failure
        flags.append({"reason": "kept", "text": f"{report.status} and was not saved: the finished run already in "
                                                f"{str(out)!r} was kept",
                      "advice": "train again with a lower learning rate (--lr) or more warmup to replace it"})
    elif out is not None:
        if not overwrite:
            out, moved = saved_beside(Path(out), spec)
            flags += [moved] if moved else []
        save(s, report, out, notes={"flags": flags, **({"retention": retention} if retention else {}), **({"ood": ood} if ood else {})})
    s.model.eval()
    base_weights = None
    if s.strategy.quantized:
        from headstart.quantize import weight_bytes

        counted = weight_bytes(s.model.backbone, linear_only=True)
        base_weights = {"stored": counted.stored, "fp32": counted.fp32}
    meta = {"resolved": s.resolved(), "data_source": s.data.source, "backbone_saved": backbone_saved(s, report),
            "label_names": list(s.data.label_names)}
    loaded = LoadedRun(Path(out) if out else Path("."), meta, s.model, s.data.task, s.data.label_names, s.device)
    logged = None
    if report_to and report.status == "done":
        from headstart.tracking import log_run_dir

        logged = log_run_dir(out)
    return FitResult(key=run_key(s.resolved()), out=Path(out) if out else None, status=report.status,
                     val_metrics=report.val_metrics, steps=report.steps, best_step=report.best_step,
                     train_seconds=report.seconds, trainable_params=report.trainable_params,
                     total_params=count_parameters(s.model), error=report.error, chosen=outcome.chosen,
                     tune_seconds=outcome.tune_seconds, peak_rss_bytes=_peak_rss(), base_weights=base_weights,
                     retention=retention, ood=ood, flags=flags, mlflow=logged, val_held_out=report.held_out, _loaded=loaded)


def check_report_to(report_to: str | None, out: Any = "") -> None:
    """Refuse a ``report_to`` other than "mlflow", or one with nothing saved to log; name a missing tracking extra
    before anything trains.

    Raises:
        ConfigError: an unknown destination, ``out`` None (a run kept in memory), or MLflow not installed.
    """
    if report_to is None:
        return
    if report_to != "mlflow":
        raise ConfigError(f"report_to takes 'mlflow', got {report_to!r}; e.g. --report-to mlflow (report_to='mlflow' in Python)")
    if out is None:
        raise ConfigError("report_to='mlflow' logs the saved run, but out is None (kept in memory); give out='runs/NAME'")
    from headstart.tracking import _mlflow

    _mlflow()


def check_replaces_same_run(out: Path, spec: RunSpec, *, settled: bool = True) -> None:
    """Refuse to replace a saved run in ``out`` unless it was asked for with the same spec (the same run made again,
    e.g. after its data file changed): another strategy, size, seed or setting there is a trained model the user may
    still want, replaced only with ``--overwrite``.

    Args:
        settled: whether the data's defaults are in ``spec`` (``_with_data_defaults``). Before they are, its train and
            split settings are not compared (an image dataset's defaults fill them), so a run of another strategy,
            size or seed is refused before the data loads; the settings are compared once they are.

    Raises:
        ConfigError: ``out`` holds a finished or failed run of another spec, named by its strategy, n, seed and the
            settings that differ.
    """
    from headstart.outdir import sibling

    what = other_run(out, spec, settled=settled)
    if what is None:
        return
    how = "add --overwrite" if on_cli() else "pass overwrite=True"  # a bare switch: python_names would drop its =True
    raise ConfigError(f"--out {str(out)!r} holds another run ({what}); nothing was trained or replaced: give a new "
                      f"folder, e.g. --out {sibling(out, spec.strategy)}, or {how} to replace it")


def saved_beside(out: Path, spec: RunSpec) -> tuple[Path, dict[str, str] | None]:
    """Where a trained run is saved: ``out``, or a free folder beside it when another run came into ``out`` while this
    one trained (two ``train`` commands given the same new ``--out`` at once: the check before training saw an empty
    folder, and saving would replace the other's model); then the note that says so.
    """
    from headstart.outdir import sibling

    what = other_run(out, spec)
    if what is None:
        return out, None
    beside, k = sibling(out, spec.strategy), 2
    while beside.exists():
        beside, k = sibling(out, f"{spec.strategy}-{k}"), k + 1
    return beside, {"reason": "moved", "text": f"was saved to {str(beside)!r}: another run ({what}) was saved into "
                                               f"--out {str(out)!r} while this one trained, and is kept there",
                    "advice": f"evaluate it in {str(beside)!r}"}


def other_run(out: Path, spec: RunSpec, *, settled: bool = True) -> str | None:
    """The saved run of another spec in ``out`` (``check_replaces_same_run``), named by its strategy, n, seed and the
    settings that differ; None where ``out`` holds none, or the same run."""
    import json

    try:
        held = json.loads((out / "spec.json").read_text()).get("spec")
    except (OSError, ValueError, AttributeError):  # none there, or a damaged run (outdir.held took it as a run): replaced
        return None
    if not isinstance(held, dict):
        return None
    try:  # an older version's spec lacks settings added since: read with their defaults, as the run meant them
        held = RunSpec.from_dict(held).to_dict()
    except (TypeError, ValueError, HeadstartError):  # a setting no longer valid: compared as written
        pass
    held, mine = (json.loads(json.dumps(s, default=str)) for s in (held, spec.to_dict()))
    skipped = () if settled else ("train", "split")
    differ = []  # the settings that differ: "seed", or "train.head_lr" within a table
    for key in sorted(set(held) | set(mine)):
        if key in skipped or held.get(key) == mine.get(key):
            continue
        if isinstance(held.get(key), dict) and isinstance(mine.get(key), dict):
            differ += [f"{key}.{k}" for k in sorted(set(held[key]) | set(mine[key])) if held[key].get(k) != mine[key].get(k)]
        else:
            differ.append(key)
    if not differ:
        return None
    n = held.get("n")
    what = f"{held.get('strategy')}, n = {'all' if n is None else n}, seed {held.get('seed')}"
    others = [d for d in differ if d not in ("strategy", "n", "seed")]
    if others and not set(differ) & {"strategy", "n", "seed"}:  # the same strategy, size and seed: name what differs
        what += f"; settings that differ: {', '.join(others[:3])}{', ...' if len(others) > 3 else ''}"
    return what


def _with_data_defaults(spec: RunSpec) -> tuple[RunSpec, Any, list[dict[str, str]]]:
    """``spec`` with the data's defaults filled in (``headstart.data_defaults``: image runs only), the dataset when it
    had to be loaded to decide (None otherwise), and a note per default applied."""
    import dataclasses

    from headstart.data import load_dataset
    from headstart.data_defaults import fill, image_backbone
    from headstart.specs import file_options

    if not image_backbone(spec.backbone):  # a text backbone: nothing depends on the data
        return spec, None, []
    data = load_dataset(spec.data, **file_options(spec))
    train, split, notes = fill(data, [spec.backbone], spec.train, spec.split)
    return dataclasses.replace(spec, train=train, split=split), data, notes


def _as_data(data: Any, *, split_column: str | None, **reading: Any) -> tuple[str, str | None]:
    """A dataset name or path as given, or in-memory data written to the cache (``data.memory``); with the split column
    a DatasetDict's split names went to.

    Raises:
        ConfigError: a DatasetDict beside --split-column (its splits are the split already).
    """
    from headstart.data.memory import SPLIT_COLUMN, as_path, is_in_memory, is_split_dict
    from headstart.specs import file_options

    if not is_in_memory(data):
        return str(data), split_column
    if is_split_dict(data):
        if split_column is not None:
            raise ConfigError(f"a DatasetDict brings its own splits; drop split_column={split_column!r}")
        split_column = SPLIT_COLUMN
    return as_path(data, **file_options({**reading, "split_column": split_column})), split_column


ADVICE = {  # what to try when a single run carries a budget flag (analysis.flags.REASONS)
    "improving": "give it more steps (--epochs, --min-steps) or a higher learning rate (--tune lr searches one on validation)",
    "unchecked": "validate more often (--evals-per-phase) to see whether it had converged",
    "slow": "try a higher learning rate (--tune lr searches one on validation, or --lr) or more steps",
    "majority": "try --tune lr, a higher --lr or more steps; with very few labels the head may need more of them",
}


def check_tune_and_rate(spec: RunSpec) -> None:
    """One run cannot both search its learning rate and fix it: ``--tune lr`` with ``--lr`` (``--head-lr`` for a head-only
    strategy) is refused, not silently left untuned. (A compare keeps a rate the user set for every arm, and tunes the
    arms whose rate it does not set.)

    Raises:
        ConfigError: both given.
    """
    from headstart.strategies import get_strategy
    from headstart.tuning import grid_for

    if not spec.tune or spec.grid is not None:  # --grid beside the rate: tuning.plan_for names that conflict
        return
    plan = grid_for(get_strategy(spec.strategy))
    if plan is not None and getattr(spec.train, plan[0]) is not None:
        flag = "--" + plan[0].replace("_", "-")
        raise ConfigError(f"--tune lr searches {spec.strategy}'s {plan[0]} on validation, and {flag} "
                          f"{getattr(spec.train, plan[0]):g} fixes it; give one of them (drop {flag}, or --tune)")


def check_settings_used(spec: RunSpec) -> None:
    """Refuse a setting ``train`` would silently ignore for its one strategy: ``--lr`` where nothing but the head trains
    (linear-probe: its rate is ``--head-lr``), a rate or step budget for a strategy fitted in closed form (embed-logreg,
    zero-shot ...), ``--tune lr`` for one with no learning rate to search. (A compare shares its settings across arms,
    each taking those it reads.)

    Raises:
        ConfigError: naming the setting, why it does nothing, and what to give instead.
    """
    from headstart.strategies import get_strategy
    from headstart.tuning import grid_for

    strategy = get_strategy(spec.strategy)
    closed = strategy.solved and "lr" not in strategy.defaults  # no backbone rate, no steps: a solve, a lookup, a prompt
    if closed:
        given = [f for f in ("lr", "head_lr", "epochs", "min_steps", "max_steps") if getattr(spec.train, f) is not None]
        if given:
            flags = spoken(", ".join("--" + f.replace("_", "-") for f in given), f"config's {', '.join(given)}")
            raise ConfigError(f"{flags}: {spec.strategy} is fitted in closed form, with no learning rate and no steps; drop "
                              f"{'it' if len(given) == 1 else 'them'}")
    elif spec.train.lr is not None and "lr" not in strategy.defaults:
        raise ConfigError(f"--lr sets the backbone's rate, and {spec.strategy} trains only its head; its rate is --head-lr "
                          f"(e.g. --head-lr {spec.train.lr:g})")
    if spec.tune and spec.grid is None and grid_for(strategy) is None:
        tune = spoken("--tune lr", "tune='lr'")
        raise ConfigError(f"{tune}: {spec.strategy} has no learning rate to search ({strategy.untuned_why}); drop "
                          + spoken("--tune", "tune"))


def budget_notes(result: Any) -> list[dict[str, str]]:
    """``analysis.flags.run_flags`` of one run, as ``{reason, text, advice}``: the same evidence the report flags, the
    advice naming ``headstart train``'s flags on the CLI and ``fit``'s arguments from Python (``flags.asked``)."""
    from headstart.analysis.flags import (asked, capped_by_max_steps, reason_text, run_flags, solver_steps, stopped_early,
                                          task_of)

    budget = (result.record or {}).get("budget") or {}
    solved = solver_steps(result)  # setfit: the steps its solve took, outside the engine's budget
    planned = budget.get("planned_steps") or solved
    stopped = stopped_early(result)  # validation ended it before its budget did: no cap bound it, more steps go unused
    capped = capped_by_max_steps(result)  # as compare reads a cell's runs (analysis.flags.budget_flags)
    closed = not planned

    def advice(reason: str) -> str:
        if solved and not budget.get("planned_steps") and reason == "majority" and not capped:
            return "draw more pairs (--option iterations=…) or try --tune lr; with these labels it learned nothing so far"
        if closed and reason == "majority" and not result.spec.get("n"):  # reads no label: its descriptions are all it has
            return ("it reads no labels and takes no optimiser steps: describe the classes better (--label-descriptions) "
                    "or train a strategy on labels")
        if closed and reason == "majority":  # no steps to add: the arm itself is the question
            return "it takes no optimiser steps; with these labels it learned nothing: try another strategy"
        if capped and reason in ("improving", "slow", "majority"):  # the user's own --max-steps set the budget
            return ADVICE[reason] + f" (--max-steps {budget['max_steps']} capped this run: raise it first)"
        if stopped and reason == "majority":  # as a compare says of such a cell (analysis.flags.budget_flags)
            return ("validation stopped improving before its budget ended, so more steps would go unused: try --tune lr "
                    "or a higher --lr; with very few labels the head may need more of them")
        return ADVICE[reason]

    return [{"reason": reason, "text": reason_text(reason, task_of(result)), "advice": asked(advice(reason))}
            for reason in run_flags(result)]


@dataclass
class CompareResult:
    """What ``compare`` returns: the sweep's counts and the report's content (``results.json``).

    ``summary`` has ``curves``, ``head_start``, ``crossover``, ``recommendation``, ``grid_edges``, ``counts`` and
    ``totals`` (``analysis.summarize``; ``curves`` in the metric's own units, fractions for accuracy, while
    ``head_start`` and ``crossover`` are in points, as ``headstart.analysis`` says); ``reports`` maps each written file (report.html, report.md, chart.png,
    results.json) to its path.
    """

    out: Path
    total: int
    skipped: int
    trained: int
    statuses: dict[str, int]
    seconds: float
    summary: dict[str, Any] = field(repr=False)  # results.json's content: see ``recommendation`` and ``reports``
    reports: dict[str, Path]
    leakage: Any = None  # headstart.data.leakage.LeakageReport of the split
    notes: list[dict[str, str]] = field(default_factory=list)  # defaults the data decided (headstart.data_defaults)
    mlflow: dict[str, int] | None = None  # with report_to="mlflow": tracking.log_store's {logged, skipped}
    elsewhere: int = 0  # cells another compare on the same store claimed first (training there, or done meanwhile)

    @property
    def recommendation(self) -> list[str]:
        return [band["text"] for band in self.summary.get("recommendation", [])]


@flags_checked
def compare(data: Any = "rotten-tomatoes", backbone: str = DEFAULT_BACKBONE, *, strategies: str | list[str] | None = None,
            sizes: str | int | list[int | str | None] | tuple[int | str | None, ...] | None = None, seeds: int = 5,
            out: str | Path = "runs/compare", workers: int = 1,
            config: TrainConfig | None = None, options: dict[str, dict[str, Any]] | None = None,
            train_by_strategy: dict[str, dict[str, Any]] | None = None, split: Any = None, tune: str | None = "lr",
            grids: dict[str, Any] | None = None, text_column: str | None = None, label_column: str | None = None,
            task: str | None = None, pooling: str | None = None, progress: bool = False,
            arms: str | list[str] | None = None, retain: list[str] | None = None,
            backbones: str | list[str] | None = None, group_column: str | None = None,
            split_column: str | None = None, eval_data: str | list[str] | None = None, tta: str | list[str] | None = None,
            backend: str = "local", address: str | None = None, label_descriptions: str | dict[str, str] | None = None,
            max_test: int | None = None, dedupe: bool = False, report_to: str | None = None) -> CompareResult:
    """Sweep ``strategies`` (or ``arms``) x ``sizes`` x ``seeds``, store every run in ``out/runs.sqlite`` and write the report.

    Re-running with the same arguments trains nothing already done; a new size, seed or strategy trains only
    the new cells. Mirrors ``headstart compare``.

    Args:
        strategies: names (list or "a,b,c"); default scratch, linear-probe, full-finetune.
        sizes: labelled-set sizes: text ("16,64,all"), one size (64), or a list or tuple of them ([16, 64, "all"]; "all"
            or None there is the whole pool); None (the default) is 8 .. 256 and all.
        seeds: seeds per cell (0 .. seeds-1); seed s draws the same labelled rows for every strategy.
        out: directory of the store and the report.
        workers: local worker processes (threads are divided between them).
        config: training hyperparameters shared by every strategy; ``train_by_strategy`` overrides per strategy.
        options: per-strategy options, e.g. ``{"partial-freeze": {"freeze": 3}}``.
        split: a ``SplitConfig`` or a dict of its fields (pool / validation / test cut, ``max_test``, ``dedupe``);
            ``max_test`` and ``dedupe`` also stand alone, as the CLI's flags.
        tune: "lr" (the default) chooses each cell's learning rate on validation; None uses the defaults.
        grids: per-strategy values for ``tune`` to search, e.g. ``{"full-finetune": [2e-5, 5e-5, 1e-4]}``.
        progress: draw a progress bar with ETA on stderr.
        arms: arms to compare instead of ``strategies`` (list or "a,b"), each ``strategy[options]+term[options]``,
            e.g. ``["lora[rank=4]", "lora[rank=16]", "full-finetune+l2sp[weight=0.01]"]``.
        retain: classification datasets on which each run's forgetting is measured (``headstart.retention``).
        backbones: several backbones (list or "a,b") instead of ``backbone``: every arm on each, reported per backbone.
        group_column / split_column: a user file's group ids and its own train / validation / test split (as ``fit``).
        eval_data: datasets with the task's labels on whose test split every run is also scored, out of domain (as
            ``fit``); the report sets in-domain and out-of-domain accuracy side by side, with the gap per arm.
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
        >>> result.recommendation
    """
    from headstart.data.splits import SplitConfig
    from headstart.specs import as_config, as_items
    from headstart.sweep_spec import DEFAULT_SIZES, DEFAULT_STRATEGIES, SweepSpec, parse_list, parse_sizes

    command = call_text("headstart.compare", compare, locals())  # the report's "Produced by", as the CLI's argv is

    def text(value: Any) -> str:
        if isinstance(value, str):
            return value
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"strategies must be a name or a list of names, got {value!r:.60}; "
                              "e.g. strategies=['linear-probe', 'lora']")
        return ",".join(map(str, value))

    if strategies is not None and arms is not None:  # as the CLI refuses --strategies with --arms
        raise ConfigError("strategies and arms both say what to compare; give one: arms take plain strategies too, "
                          "e.g. arms='linear-probe,lora'")
    if backbones is not None and backbone != DEFAULT_BACKBONE:
        raise ConfigError(f"backbone={backbone!r} and backbones both name the backbone; give the list alone, e.g. "
                          f"backbones=[{backbone!r}, 'all-minilm-l6-v2']")
    data, split_column = _as_data(data, text_column=text_column, label_column=label_column, task=task,
                                  group_column=group_column, split_column=split_column)
    sweep = SweepSpec(data=data, backbone=backbone,  # an empty list is refused by name, never read as the defaults
                      strategies=parse_list(text(DEFAULT_STRATEGIES if strategies is None else strategies), name="strategies", noun="strategy", flag="strategies="),
                      sizes=parse_sizes(DEFAULT_SIZES if sizes is None else sizes, name="sizes"), seeds=seeds, train=as_config(config, TrainConfig),
                      options=as_table(options, name="options", example="{'lora': {'rank': 4}}"),
                      train_by_strategy=as_table(train_by_strategy, name="train_by_strategy",
                                                 example="{'lora': {'lr': 1e-3}}"),
                      split=dataclasses.replace(as_config(split, SplitConfig, name="split"), **({"max_test": max_test} if max_test is not None else {}),
                                                **({"dedupe": True} if dedupe else {})), tune=tune, grids=as_table(grids, name="grids", example="{'lora': [3e-4, 1e-3, 3e-3]}"), text_column=text_column,
                      label_column=label_column, task=task, pooling=pooling, arms=arms or (), retain=as_items(retain, name="retain"),
                      backbones=backbones or (), group_column=group_column, split_column=split_column,
                      eval_data=as_items(eval_data, name="eval_data"), tta=_methods(tta))
    if label_descriptions is not None:
        sweep = with_label_descriptions(sweep, label_descriptions)
    return run_compare(sweep, out, workers=workers, command=command, progress=progress, backend=backend, address=address,
                       report_to=report_to)


def _methods(tta: Any) -> tuple[str, ...]:
    """``tta`` as methods: a list, or a string of one or more comma-separated names (``"bn-adapt,tent"``)."""
    from headstart.specs import as_items
    from headstart.sweep_spec import parse_list

    return parse_list(tta, name="tta", noun="method", flag="tta=") if isinstance(tta, str) else as_items(tta, name="tta")


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


def label_texts(described: str | dict[str, str] | list) -> list[tuple[str, str]]:
    """The classes' texts as (label, text) pairs: the CLI's ``LABEL=TEXT,...`` or a .json / .toml file, a dict, or pairs."""
    from headstart.strategies.zero_shot import read_label_descriptions

    if isinstance(described, str):
        return read_label_descriptions(described)
    return list(described.items()) if isinstance(described, dict) else [tuple(p) for p in described]


def call_text(name: str, function: Any, arguments: dict[str, Any]) -> str:
    """``name(...)`` with the arguments that differ from ``function``'s defaults, as Python would read them back:
    ``headstart.compare(strategies='lora', seeds=3, config=TrainConfig(max_steps=20))``. An object given for data (a
    Dataset, a DataFrame) is named by its type, its contents being no literal."""
    import inspect

    parts = [f"{p.name}={_literal(arguments[p.name])}" for p in inspect.signature(function).parameters.values()
             if p.name in arguments and not (_is_literal(arguments[p.name]) and arguments[p.name] == p.default)]
    return f"{name}({', '.join(parts)})"


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, Path)) or (
        isinstance(value, (list, tuple, dict)) and all(_is_literal(v) for v in (value.values() if isinstance(value, dict) else value)))


def _literal(value: Any) -> str:
    if isinstance(value, Path):
        return repr(str(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # only the fields set away from their defaults
        fields = [f"{f.name}={_literal(getattr(value, f.name))}" for f in dataclasses.fields(value)
                  if f.default is not dataclasses.MISSING and getattr(value, f.name) != f.default]
        return f"{type(value).__name__}({', '.join(fields)})"
    return repr(value) if _is_literal(value) else f"<{type(value).__name__}>"


def run_compare(sweep: Any, out: str | Path, *, workers: int = 1, command: str = "", progress: bool = False,
                announce: Any = None, backend: str = "local", address: str | None = None,
                report_to: str | None = None) -> CompareResult:
    """``compare`` on a built ``SweepSpec``: check the split for leakage (``announce(report)`` before training),
    run the missing cells (``backend`` / ``address`` as in ``compare``), render the report, log to ``report_to``."""
    import json

    import dataclasses

    from headstart.data_defaults import fill, image_backbone
    from headstart.progress import progress_bar
    from headstart.report.render import rerender
    from headstart.outdir import claim
    from headstart.sweep import _loaded_data, check_backend, leakage_report, plan, run_sweep

    claim(out, "compare")  # before the data loads: a folder of something else is refused, never written into
    if (Path(out) / "runs.sqlite").exists():  # a damaged or too-new store is named now, not after the leakage check
        from headstart.store import Store

        Store(out).open().close()  # as the writer it is: a store killed at its first write gets its tables
    check_backend(backend, address, workers)  # a missing extra is named before the data loads
    check_report_to(report_to)
    backbones = list(sweep.backbones or (sweep.backbone,))
    notes: list[dict[str, str]] = []
    if any(image_backbone(b) for b in backbones):  # image runs: defaults that depend on the data
        train, split, notes = fill(_loaded_data(sweep), backbones, sweep.train, sweep.split)
        sweep = dataclasses.replace(sweep, train=train, split=split)
    planned = plan(sweep)  # sizes, options, --eval-data: a mistake is refused before the leakage line and any cell
    leakage = leakage_report(sweep)
    if announce is not None:
        announce(leakage)
    with progress_bar("sweep", enabled=progress) as update:
        outcome = run_sweep(sweep, out, workers=workers, command=command, progress=_saying_plan(update, sweep, len(planned)),
                            leakage=leakage, backend=backend, address=address, planned=planned)
    reports = rerender(out)  # with the store's last `headstart report` settings (--margin, --metric), if it set any
    logged = None
    if report_to:
        from headstart.tracking import log_store

        logged = log_store(out)
    return CompareResult(out=Path(out), total=outcome.total, skipped=outcome.skipped, trained=outcome.trained,
                         statuses=dict(outcome.statuses), seconds=outcome.seconds,
                         summary=json.loads(reports["results.json"].read_text()), reports=reports, leakage=leakage,
                         notes=notes, mlflow=logged, elsewhere=outcome.elsewhere)


def plan_text(sweep: Any, cells: int, to_train: int) -> str:
    """The line a compare says before it trains, e.g. ``plan: 105 runs (3 strategies x 7 sizes x 5 seeds): 0 already
    stored, 105 to train``. ``cells``: every cell of ``sweep``; ``to_train``: those the store does not hold yet."""
    counts = [(len(sweep.backbones), "backbone")] if len(sweep.backbones) > 1 else []
    counts += [(len(sweep.arm_specs()), "arm" if sweep.arms else "strategy"), (len(sweep.sizes), "size"), (sweep.seeds, "seed")]
    plural = {"strategy": "strategies"}
    factors = " x ".join(f"{n} {word if n == 1 else plural.get(word, word + 's')}" for n, word in counts)
    if math.prod(n for n, _ in counts) != cells:  # sweep_spec.cells: size 0 holds the label-free arms, and only them
        factors += "; label-free arms at size 0 only, the others at every other size"
    return f"plan: {cells} run{'s' if cells != 1 else ''} ({factors}): {cells - to_train} already stored, {to_train} to train"


def _saying_plan(update: Any, sweep: Any, cells: int) -> Any:
    """``update`` (None: None), printing ``plan_text`` on stderr first: ``run_sweep`` calls ``update(0, cells to
    train, {})`` once it has read which cells the store already holds, before any cell trains."""
    if update is None:
        return None
    said: list[bool] = []

    def first_says_plan(done: float, total: int, info: dict[str, Any]) -> None:
        if not said:
            said.append(True)
            print(plan_text(sweep, cells, total), file=sys.stderr, flush=True)
        update(done, total, info)

    return first_says_plan


def _peak_rss() -> int:
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kB


@python_named
def evaluate(run: str | Path | FitResult, split: str = "test", *, eval_data: str | list[str] | None = None,
             tta: str | list[str] | None = None, eval_rows: str = "test") -> dict[str, Any] | list[dict[str, Any]]:
    """Metrics of a trained run on ``split`` ("test", or "val" alias "validation"): accuracy, macro_f1, … (rmse, r2 for
    regression); with ``eval_data``, on that dataset's test split instead (a file read by the run's own text and label
    columns where it has them; a seeded fifth of a file's rows;
    ``eval_rows="all"``: every row, for a labelled file kept apart as a test set), out of domain (``headstart.ood``: labels mapped by name,
    ``"drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]"``), after ``tta`` (``headstart.tta``) when
    given; a list of datasets, or several ``tta`` methods, gives a list of those, one per (dataset, method) in order.
    The results carry ``majority``, the share of the scored rows in their most frequent class, ``accuracy_ci``, the
    95% Wilson interval of the accuracy over those rows, and ``tta``."""
    from headstart.saved import evaluate_loaded, evaluate_ood, load_run

    if eval_data is not None:
        if isinstance(run, FitResult):
            run._usable()
        loaded = run._loaded if isinstance(run, FitResult) else load_run(run)
        methods = list(_methods(tta)) or [None]
        if isinstance(eval_data, (list, tuple)) or len(methods) > 1:
            datasets = eval_data if isinstance(eval_data, (list, tuple)) else [eval_data]
            return [evaluate_ood(loaded, text, tta=method, rows=eval_rows) for text in datasets for method in methods]
        return evaluate_ood(loaded, eval_data, tta=methods[0], rows=eval_rows)
    if eval_rows != "test":
        raise ConfigError(f"--eval-rows {eval_rows} says which rows of an --eval-data dataset are scored; add --eval-data DATA")
    if tta is not None:
        raise ConfigError(f"--tta {tta} adapts the model to an --eval-data dataset before scoring it there; add --eval-data DATA")
    split = split_name(split)
    if isinstance(run, FitResult):
        return run.evaluate(split)
    return evaluate_loaded(load_run(run), split)


def split_name(split: str) -> str:
    """The part of a run's data that ``split`` names: "test", or "val" (also "validation", as ``train`` prints it).

    Raises:
        ConfigError: any other value (named as the CLI's ``--split``; ``errors.python_named`` rewrites it for Python).
    """
    if split == "validation":
        return "val"
    if split not in ("test", "val"):
        raise ConfigError(f"--split must be 'test' or 'val' ('validation' too), got {split!r}; e.g. --split val")
    return split


@python_named
def predict(run: str | Path | FitResult, texts: list[Any]) -> list[dict[str, Any]]:
    """Label and class probabilities (or a value, for regression) for each raw text; for a run on an image backbone,
    each image: a file path (the row's ``input``, as ``headstart predict`` writes it) or a pixel array."""
    if isinstance(run, FitResult):
        return run.predict(texts)
    from headstart.saved import load_run, predict_loaded

    return predict_loaded(load_run(run), texts)


@python_named
def sft(data: str = "rotten-tomatoes-sft", *, out: str | Path | None = None, prompt_column: str = "prompt",
        response_column: str = "response", group_column: str | None = None, config: SftConfig | dict | None = None,
        progress: Any = None) -> LoadedLM:
    """``headstart sft``: fine-tune a causal LM on prompt → response rows (``headstart.llm.sft.SftConfig``); returns the
    in-memory run (``.generate(prompts)``, ``.metrics``), saved to ``out`` when given. Ctrl-C during the steps saves
    the best checkpoint so far, then raises ``headstart.llm.runs.Interrupted`` (a KeyboardInterrupt whose ``run`` it
    is, status "interrupted")."""
    from headstart.llm.sft import ADAPTER_SETTINGS, SftConfig, check_adapter_given, run_sft
    from headstart.specs import as_config

    settings = as_config(config, SftConfig)
    if isinstance(config, dict):  # an SftConfig cannot tell a given rank from its default; a dict can
        check_adapter_given(settings.strategy, [k for k in ADAPTER_SETTINGS if k in config], flag=False)
    if out is not None:  # refused before anything loads or trains, as the CLI refuses it
        from headstart.outdir import claim

        claim(out, "lm-run")
    return run_sft(data, settings, prompt_column=prompt_column, response_column=response_column,
                   group_column=group_column, out=out, progress=progress)


@python_named
def prefer(data: str = "rotten-tomatoes-preferences", *, out: str | Path | None = None, prompt_column: str = "prompt",
           chosen_column: str = "chosen", rejected_column: str = "rejected", group_column: str | None = None,
           config: PreferConfig | dict | None = None, progress: Any = None) -> LoadedLM:
    """``headstart prefer``: DPO on prompt / chosen / rejected rows on top of an sft run (``headstart.llm.dpo.PreferConfig``).
    Ctrl-C during the steps saves the best checkpoint so far, then raises ``Interrupted``, as ``sft`` does."""
    from headstart.llm.dpo import PreferConfig, run_prefer
    from headstart.specs import as_config

    settings = as_config(config, PreferConfig)
    if out is not None:  # refused before anything loads or trains, as the CLI refuses it
        from headstart.llm.dpo import check_out
        from headstart.outdir import claim

        check_out(out, settings)
        claim(out, "lm-run")
    return run_prefer(data, settings, prompt_column=prompt_column, chosen_column=chosen_column,
                      rejected_column=rejected_column, group_column=group_column, out=out, progress=progress)


@python_named
def generate(run: str | Path | LoadedLM, prompts: list[str], *, max_new_tokens: int = 64, temperature: float = 0.0, seed: int = 0) -> list[str]:
    """``headstart generate``: each prompt's response from an sft / prefer run (a folder or what ``sft`` returned);
    greedy unless ``temperature`` > 0."""
    from headstart.llm.runs import LoadedLM, load_run

    if isinstance(prompts, (str, bytes, Path)):  # a string is a sequence too: it would be read as its characters
        raise ConfigError(f"generate takes a list of prompts, got one string {str(prompts)[:40]!r}: wrap it in a list")
    loaded = run if isinstance(run, LoadedLM) else load_run(run)
    return loaded.generate(list(prompts), max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
