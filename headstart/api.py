"""The Python API; mirrors the CLI: ``fit`` ~ ``headstart train``, ``evaluate``, ``predict``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.backbones import DEFAULT as DEFAULT_BACKBONE
from headstart.specs import RunSpec, TrainConfig, parse_n


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
    _loaded: Any = None

    def _usable(self) -> None:
        if self.status != "done":
            from headstart.errors import StoreError

            raise StoreError(f"this run {self.status} ({self.error}); nothing to evaluate or predict with, train it again")

    def evaluate(self, split: str = "test") -> dict[str, Any]:
        from headstart.saved import evaluate_loaded

        self._usable()
        return evaluate_loaded(self._loaded, split)

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        from headstart.saved import predict_loaded

        self._usable()
        return predict_loaded(self._loaded, list(texts))


def fit(data: str = "rotten-tomatoes", backbone: str = DEFAULT_BACKBONE, *, strategy: str = "linear-probe",
        n: int | str | None = None, seed: int = 0, out: str | Path | None = None, options: dict[str, Any] | None = None,
        config: TrainConfig | None = None, text_column: str | None = None, label_column: str | None = None,
        task: str | None = None, pooling: str | None = None, tune: str | None = None, progress: bool = False) -> FitResult:
    """Train ``backbone`` on ``data`` with ``strategy`` using ``n`` labelled examples; save to ``out``.

    Args:
        data: built-in dataset name (``headstart datasets``) or a CSV / JSONL / parquet path.
        backbone: built-in name (``headstart backbones``) or a local model folder.
        strategy: ``headstart strategies`` name.
        n: labelled examples drawn from the training pool (int, or "all" / None for all of it).
        seed: subsample, initialisation and shuffling seed.
        out: run directory to write (spec.json, weights.safetensors, metrics.json); None keeps it in memory.
        options: the strategy's options, e.g. ``{"freeze": 3}`` or ``{"decay": 0.7}``.
        config: training hyperparameters (defaults: the strategy's).
        text_column / label_column / task: how to read a user file (auto-detected when None).
        pooling: "mean" or "cls" (default: from the backbone folder, else mean).
        tune: "lr" chooses the strategy's learning rate on validation by successive halving (``headstart.tuning``).
        progress: draw a progress bar with ETA on stderr.

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.

    Example:
        >>> run = headstart.fit("rotten-tomatoes", strategy="linear-probe", n=64, seed=0, out="runs/lp")
        >>> run.evaluate("test")["accuracy"]
    """
    from headstart.progress import progress_bar
    from headstart.run import save
    from headstart.tuning import tuned_run
    from headstart.saved import LoadedRun
    from headstart.specs import run_key

    spec = RunSpec(data=data, backbone=backbone, strategy=strategy, n=parse_n(n), seed=seed, options=dict(options or {}),
                   train=config or TrainConfig(), text_column=text_column, label_column=label_column, task=task, pooling=pooling,
                   tune=tune)
    with progress_bar(f"{strategy} n={'all' if spec.n is None else spec.n} seed={seed}", enabled=progress) as update:
        tuned = tuned_run(spec, progress=update)
    s, report = tuned.setup, tuned.report
    if out is not None:
        save(s, report, out)
    from headstart.backbones import count_parameters

    s.model.eval()
    base_weights = None
    if s.strategy.quantized:
        from headstart.quantize import weight_bytes

        counted = weight_bytes(s.model.backbone, linear_only=True)
        base_weights = {"stored": counted.stored, "fp32": counted.fp32}
    loaded = LoadedRun(Path(out) if out else Path("."), _meta(s, report), s.model, s.data.task, s.data.label_names, s.device)
    return FitResult(key=run_key(s.resolved()), out=Path(out) if out else None, status=report.status,
                     val_metrics=report.val_metrics, steps=report.steps, best_step=report.best_step,
                     train_seconds=report.seconds, trainable_params=report.trainable_params,
                     total_params=count_parameters(s.model), error=report.error, chosen=tuned.chosen, tune_seconds=tuned.seconds,
                     peak_rss_bytes=_peak_rss(),
                     base_weights=base_weights, _loaded=loaded)


def _peak_rss() -> int:
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kB


def _meta(s: Any, report: Any) -> dict[str, Any]:
    from headstart.run import backbone_saved

    return {"resolved": s.resolved(), "data_source": s.data.source, "backbone_saved": backbone_saved(s, report),
            "label_names": list(s.data.label_names)}


def evaluate(run: str | Path | FitResult, split: str = "test") -> dict[str, Any]:
    """Metrics of a trained run on ``split`` ("test" or "val"): accuracy, macro_f1, … (rmse, r2 for regression)."""
    if isinstance(run, FitResult):
        return run.evaluate(split)
    from headstart.saved import evaluate_loaded, load_run

    return evaluate_loaded(load_run(run), split)


def predict(run: str | Path | FitResult, texts: list[str]) -> list[dict[str, Any]]:
    """Label and class probabilities (or a value, for regression) for each raw text."""
    if isinstance(run, FitResult):
        return run.predict(texts)
    from headstart.saved import load_run, predict_loaded

    return predict_loaded(load_run(run), list(texts))
