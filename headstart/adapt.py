"""``headstart adapt``: labelled source, unlabelled target — which way of bridging the gap works on these data?

One store holds two experiments: every method trained on the source and scored on the target's test split (a compare
with ``eval_data`` = the target; alignment terms read the target's pool inputs, test-time adaptations adapt a copy to
them), and the oracle — the same strategy trained on the target's own labels — as the ceiling. The target's labels
are read only to score (and, for the oracle, to train the ceiling); every choice is made on the source's validation
split. ``adaptation.md`` / ``adaptation.json`` beside the usual report give each method's target accuracy, its gain
over source-only paired by seed, and the share of the gap to the oracle it closes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.callable_module import make_callable
from headstart.errors import ColumnError, ConfigError, DataError, closest

METHODS = ("source-only", "dann", "coral", "mmd", "importance", "bn-adapt", "tent", "tent-episodic")  # the default set; any strategy name is one more
TERMS = ("dann", "coral", "mmd", "importance")  # terms that read the target's unlabelled inputs
BASELINE = "source-only"


@dataclass
class AdaptResult:
    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, Path] = field(default_factory=dict)
    trained: int = 0


def plan_methods(methods: list[str], *, strategy: str, target: str) -> tuple[list[str], list[str], dict[str, tuple[str, str]]]:
    """The source sweep's arms and test-time adaptations for ``methods``, and each method's (arm, where) in its scores.

    Raises:
        ConfigError: an unknown method, or no source-only baseline.
    """
    from headstart.strategies import STRATEGIES
    from headstart.tta import METHODS as TTA

    unknown = [m for m in methods if m not in (*METHODS, *TERMS, *TTA) and m not in STRATEGIES]
    if unknown:  # before the baseline check: a misspelt name is the first thing to fix
        raise ConfigError(f"unknown adaptation method {unknown[0]!r}{closest(unknown[0], METHODS)} (methods: "
                          f"{', '.join(METHODS)}, or a strategy name such as lp-ft)")
    if BASELINE not in methods:
        raise ConfigError(f"--methods must include {BASELINE} (what every method is compared with); e.g. --methods "
                          f"{','.join(METHODS)}")
    arms, tta, where = [], [], {}
    for method in dict.fromkeys(methods):
        if method == BASELINE:
            arms.append(strategy)
            where[method] = (strategy, target)
        elif method in TERMS:
            arms.append(f"{strategy}+{method}[data={target}]")
            where[method] = (f"{strategy}+{method}", target)
        elif method in TTA:
            tta.append(method)
            where[method] = (strategy, f"{target} after {method}")
        elif method in STRATEGIES:
            if method != strategy:
                arms.append(method)
            where[method] = (method, target)
        else:
            raise ConfigError(f"unknown adaptation method {method!r}; use {', '.join(METHODS)} or a strategy name (e.g. lp-ft)")
    return arms, tta, where


def adapt(source: str, target: str, *, backbone: str = "all-minilm-l6-v2", strategy: str = "full-finetune",
          methods: list[str] | str = METHODS, sizes: str | list[int | str] = "256", seeds: int = 5,
          out: str | Path = "runs/adapt", oracle: bool = True, tune: str | None = "lr", config: Any = None,
          workers: int = 1, progress: bool = False, command: str | None = None) -> AdaptResult:
    """Train every method on ``source``, score it on ``target``'s test split, and the oracle on ``target``; write
    ``adaptation.md`` / ``adaptation.json`` and the usual report into ``out``. Mirrors ``headstart adapt``.

    Args:
        target: a dataset with the source's labels; ``"NAME[their=ours, other=-]"`` maps labels by name
            (``headstart.ood``), and then no oracle is trained (its labels are not the source's).
        methods: source-only (required), dann, coral, mmd, importance, bn-adapt, tent, tent-episodic, or strategy names (lp-ft, lora ...).

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.
    """
    from headstart.analysis.adaptation import adaptation_rows
    from headstart.analysis.arms import with_arms
    from headstart.api import run_compare
    from headstart.data import load_dataset
    from headstart.ood import parse_eval_data
    from headstart.report.render import render
    from headstart.specs import TrainConfig, as_config
    from headstart.store import Store
    from headstart.sweep_spec import SweepSpec, parse_list, parse_sizes

    if command is None:  # the report's "Produced by": the CLI passes its command line, Python gets its call
        from headstart.api import call_text

        command = call_text("headstart.adapt", adapt, locals())
    name, mapping = parse_eval_data(target)
    chosen = parse_list(methods) if isinstance(methods, str) else list(methods)
    arms, tta, where = plan_methods(chosen, strategy=strategy, target=name)
    size_list = parse_sizes(sizes if isinstance(sizes, str) else ",".join(str(s) for s in sizes))
    train = as_config(config, TrainConfig)
    common = dict(backbone=backbone, sizes=size_list, seeds=seeds, train=train, tune=tune)
    sweep = SweepSpec(data=source, arms=tuple(arms), eval_data=(target,), tta=tuple(tta), **common)
    if oracle and mapping:
        raise ConfigError(f"the oracle trains on {name}'s own labels, which this mapping changes; add --no-oracle, or "
                          "give a target with the source's labels")
    try:  # both load before anything trains; adapt has no column options, so a file's columns go by their names
        source_hash, target_hash = load_dataset(source).hash, load_dataset(name).hash
    except ColumnError as e:
        raise DataError(f"{e.problem}; name that column {e.kind} (adapt reads files by their column names)") from None
    out = Path(out)
    result = AdaptResult(out=out)
    if oracle:  # first: the report's main experiment is the newest, the source's
        result.trained += run_compare(dataclasses.replace(sweep, data=name, arms=(strategy,), eval_data=(), tta=()), out,
                                      workers=workers, progress=progress, command=command).trained
    result.trained += run_compare(sweep, out, workers=workers, progress=progress, command=command).trained
    with Store(out, create=False) as store:
        runs = with_arms(store.results())
    mine = [r for r in runs if (r.spec.get("data") or {}).get("hash") == source_hash and r.spec.get("backbone") == sweep.backbone]
    ceiling = [r for r in runs if (r.spec.get("data") or {}).get("hash") == target_hash and r.spec.get("strategy") == strategy
               and r.spec.get("backbone") == sweep.backbone]
    result.rows = adaptation_rows(mine, ceiling, methods=where, baseline=BASELINE)
    adaptation = _write(out, result.rows, source=source, target=target, strategy=strategy)  # first: the report points to it
    result.reports = {**render(out), **adaptation}
    return result


def _write(out: Path, rows: list[dict[str, Any]], *, source: str, target: str, strategy: str) -> dict[str, Path]:
    from headstart.atomic import write_json
    from headstart.report.markdown import adaptation_markdown
    from headstart.report.ood_chart import adaptation_chart
    from headstart.atomic import write_atomic

    paths = {"adaptation.json": out / "adaptation.json", "adaptation.md": out / "adaptation.md"}
    write_json(paths["adaptation.json"], {"source": source, "target": target, "strategy": strategy, "rows": rows})
    write_atomic(paths["adaptation.md"], adaptation_markdown(rows, source=source, target=target, strategy=strategy).encode())
    chart = adaptation_chart(rows, out / "adaptation.png", source=source, target=target)
    return {**paths, **({"adaptation.png": chart} if chart else {})}


make_callable(__name__, adapt)  # headstart.adapt(...) mirrors headstart adapt; the module stays importable
