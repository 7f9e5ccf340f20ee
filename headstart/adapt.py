"""``headstart adapt``: labelled source, unlabelled target — which way of bridging the gap works on these data?

One store holds two experiments: every method trained on the source and scored on the target's test split (a compare
with ``eval_data`` = the target; alignment terms read the target's pool inputs, test-time adaptations adapt a copy to
them), and the oracle — the same strategy trained on the target's own labels — as the ceiling. The target's labels
are read only to score (and, for the oracle, to train the ceiling); every choice is made on the source's validation
split. ``adaptation.md`` / ``adaptation.json`` beside the usual report give each method's target accuracy, its gain
over source-only paired by seed, the share of the gap to the oracle it closes, and the target's majority-class rate,
with a flag on any method at or below it or answering one class for every target row.

A method that cannot apply to the backbone or the strategy (bn-adapt without BatchNorm, tent on a regression, an
alignment term on fixed features) is refused before anything trains; the default set leaves such methods out and says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.callable_module import make_callable
from headstart.errors import ColumnError, ConfigError, DataError, closest
from headstart.results import RunResult

METHODS = ("source-only", "dann", "coral", "mmd", "importance", "bn-adapt", "tent", "tent-episodic")  # the default: those that apply
TERMS = ("dann", "coral", "mmd", "importance")  # terms that read the target's unlabelled inputs
BASELINE = "source-only"
# Settings whose new value grows the study a report in --out holds (its rows stay in the new report): not refused.
GROWN = {"methods": lambda old, new: set(old) <= set(new), "sizes": lambda old, new: set(old) <= set(new),
         "seeds": lambda old, new: old <= new, "oracle": lambda old, new: old <= new}


@dataclass
class AdaptResult:
    """What ``adapt`` returns. Its one-line repr gives every method's target score at the largest size, a flagged one
    marked, and calls none best: those scores read the target's test labels, and adapt has no target labels to choose
    on (its choices are made on the source's validation split, which says nothing about the target)."""

    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, Path] = field(default_factory=dict)
    trained: int = 0
    notes: list[str] = field(default_factory=list)  # what the run decided for the user: default methods left out

    def __repr__(self) -> str:  # one line: the rows hold each method's estimates
        # a flagged method may be the majority class answered for every row: marked, as adaptation.md marks it
        from headstart.analysis.units import size_key

        largest = max((r["n"] for r in self.rows), key=size_key, default=None)  # "all" last
        at = [r for r in self.rows if r["n"] == largest]
        scored = (f"; on the target's test split at n={largest}: "
                  + ", ".join(f"{r['method']} {r['mean']:.4g}" + (" (flagged)" if r.get("flags") else "") for r in at)
                  if at else "")
        return (f"AdaptResult({len({r['method'] for r in self.rows})} method(s), {self.trained} run(s) trained{scored}; "
                f"out={self.out}" + (f"; {len(self.notes)} note(s)" if self.notes else "") + ")")


def plan_methods(methods: list[str], *, strategy: str, target: str) -> tuple[list[str], list[str], dict[str, tuple[str, str]]]:
    """The source sweep's arms and test-time adaptations for ``methods``, and each method's (arm, where) in its scores.

    Raises:
        ConfigError: an unknown method, one given twice, or no source-only baseline.
    """
    from headstart.arguments import check_once
    from headstart.strategies import STRATEGIES
    from headstart.tta import METHODS as TTA

    unknown = [m for m in methods if m not in (*METHODS, *TERMS, *TTA) and m not in STRATEGIES]
    if unknown:  # before the baseline check: a misspelt name is the first thing to fix
        # a strategy only when very like one ('lpft', 'LoRA'), else a method: half alike, 'bogus' was 'houlsby'
        meant = closest(unknown[0], STRATEGIES, cutoff=0.75) or closest(unknown[0], METHODS)
        raise ConfigError(f"unknown adaptation method {unknown[0]!r}{meant} (methods: {', '.join(METHODS)}, or a strategy "
                          "name such as lp-ft)")
    check_once("--methods", methods, "method")
    if BASELINE not in methods:
        raise ConfigError(f"--methods must include {BASELINE} (what every method is compared with); e.g. --methods "
                          f"{','.join(METHODS)}")
    arms, tta, where = [], [], {}
    for method in methods:
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


def refusals(methods: list[str], *, model: Any, task: str, strategy: str) -> dict[str, str]:
    """Why each of ``methods`` that cannot apply cannot: ``{method: reason}``.

    Args:
        model: the loaded backbone; a test-time adaptation reads its modules (bn-adapt needs BatchNorm).
        strategy: the source-only arm's strategy: an alignment term is added to it, a test-time adaptation adapts its runs.
    """
    from headstart.objectives import get_term
    from headstart.strategies import get_strategy
    from headstart.tta import METHODS as TTA, refuses

    found = {}
    for method in dict.fromkeys(methods):
        if method in TTA:
            why = refuses(method, model, task, get_strategy(strategy))
        elif method in TERMS:
            why = get_term(method).refuses(get_strategy(strategy))
        else:
            continue
        if why:
            found[method] = why
    return found


def adapt(source: str, target: str, *, backbone: str = "all-minilm-l6-v2", strategy: str = "full-finetune",
          methods: list[str] | str | None = None,
          sizes: str | int | list[int | str | None] | tuple[int | str | None, ...] = "256", seeds: int = 5,
          out: str | Path = "runs/adapt", oracle: bool | None = None, tune: str | None = "lr", config: Any = None,
          image_size: int | None = None, bn: str | None = None, max_steps: int | None = None, min_steps: int | None = None,
          epochs: int | None = None, workers: int = 1, progress: bool | None = None, command: str | None = None,
          max_test: int | str | None = None, max_val: int | str | None = None) -> AdaptResult:
    """Train every method on ``source``, score it on ``target``'s test split, and the oracle on ``target``; write
    ``adaptation.md`` / ``adaptation.json`` and the usual report into ``out``. Mirrors ``headstart adapt``.

    Args:
        target: a dataset with the source's labels; ``"NAME[their=ours, other=-]"`` maps labels by name
            (``headstart.ood``), and a file's ``[text=COLUMN, label=COLUMN]`` names its columns, as ``eval_data``'s.
        methods: source-only (required), dann, coral, mmd, importance, bn-adapt, tent, tent-episodic, or strategy names (lp-ft, lora ...).
            None: every method of ``METHODS`` that applies to the backbone and strategy (a note names those left out);
            a method given that cannot apply is refused before anything trains.
        sizes: labelled source sizes, as ``compare`` takes them: text ("16,64,all"), one size (256), or a list or tuple
            of them ([16, 64, "all"]; "all" or None there is the whole pool); not 0, as every method trains on labels.
        oracle: also train ``strategy`` on the target's own labels (the ceiling). None (default): unless the methods'
            scores read those labels otherwise (a mapping in ``target``, or a built-in pair's such as
            drug-reviews-sentiment's: neutral left out), when a note says there is no oracle and why; True there is
            refused (another task, on other rows).
        config: training settings of every method and the oracle, a ``TrainConfig`` or a dict of its fields.
        image_size / bn / max_steps / min_steps / epochs: the ``TrainConfig`` fields of the same names, over
            ``config``'s, as ``--image-size`` and the others (None: ``config``'s; its defaults: the network's input
            side, bn "auto", the strategy's budget).
        max_test: about this many test rows of the source and of the target (a seeded cut in whole groups, as ``compare``'s; the
            oracle is scored on the same target rows as the methods).
        max_val: about this many validation rows at most, of the source and of the oracle's target (whole groups, the
            rest join the pool, as ``compare``'s); None: the split's own, 10% of the rows at most 300. Every check scores
            them: fewer is faster where a row costs much, at a noisier choice. Another cap is another run, and an
            ``out`` whose adaptation.json records another is refused.
        progress: progress with ETA on stderr; None (the default): on where someone watches it — stderr a terminal
            (a bar), or a Jupyter notebook (a line every 15 s) — off in a script's log. True or False: as said.

    Returns:
        ``AdaptResult``: ``rows`` (per method and size its target score with a 95% interval, ``over_baseline`` and
        ``gap_closed`` towards the oracle), ``reports`` (adaptation.md, adaptation.json and the usual report),
        ``trained`` (runs trained now; stored ones are skipped) and ``notes``.

    Example:
        >>> result = headstart.adapt("rotten-tomatoes", "drug-reviews-sentiment", methods="source-only,coral,dann",
        ...                          sizes=64, seeds=2, out="runs/adapt")
        >>> [(row["method"], row["mean"]) for row in result.rows]
        >>> headstart.adapt("mnist-5k", "opencv-digits", backbone="efficientnet-lite0", image_size=64, max_steps=50)

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.
    """
    from headstart.analysis.adaptation import adaptation_rows
    from headstart.progress import progress_default

    progress = progress_default(progress)
    from headstart.analysis.arms import with_arms
    from headstart.api_compare import run_compare
    from headstart.outdir import check_same_report, claim
    from headstart.store_command import check_not_a_compare
    from headstart.data_defaults import fill, test_capped
    from headstart.data.labels import no_task_fix
    from headstart.ood import read_elsewhere
    from headstart.ood_labels import eval_columns, parse_eval_data
    from headstart.run_checks import check_modality, check_out_of_domain
    from headstart.report.render import render
    from headstart.arguments import as_config, with_keywords
    from headstart.specs import TrainConfig
    from headstart.store import Store
    from headstart.sweep_cell import loaded_cell, loaded_data
    from headstart.sweep_spec import parse_list, parse_sizes

    from headstart.data.splits import SplitConfig, split_caps

    split = split_caps(SplitConfig(), max_test=max_test, max_val=max_val)
    max_test, max_val = split.max_test, None if max_val is None else split.max_val  # as read: "Produced by" names them so
    claim(out, "compare")  # adapt writes a compare store: before anything loads
    check_not_a_compare(Path(out))
    if command is None:  # the report's "Produced by": the CLI passes its command line, Python gets its call
        from headstart.surface import call_text

        command = call_text("headstart.adapt", adapt, locals())
    name, mapping = parse_eval_data(target, "--target")
    oracle_given = oracle is not None
    chosen = list(METHODS) if methods is None else parse_list(methods, name="--methods", noun="method") if isinstance(methods, str) else list(methods)
    arms, tta, where = plan_methods(chosen, strategy=strategy, target=name)
    size_list = parse_sizes(sizes)
    if 0 in size_list:
        kept = ",".join("all" if s is None else str(s) for s in size_list if s != 0) or "256"
        raise ConfigError(f"--sizes holds 0, but every adaptation method trains on the source's labels; drop it, e.g. "
                          f"--sizes {kept}")
    train = with_keywords(as_config(config, TrainConfig), image_size=image_size, bn=bn, max_steps=max_steps,
                          min_steps=min_steps, epochs=epochs)
    common = dict(backbone=backbone, sizes=size_list, seeds=seeds, train=train, tune=tune, split=split)
    sweep = _source_sweep(source, target, arms, tta, strategy=strategy, common=common)
    if oracle and mapping:
        raise ConfigError(f"the oracle trains on {name}'s own labels, which this mapping changes; drop --oracle (without "
                          "it, a mapped target has no oracle), or give a target with the source's labels")
    try:  # the source and the target load before anything trains; a source file's columns go by their names
        with no_task_fix():  # adapt has no --task: its notes name no fix it lacks
            source_data = loaded_data(sweep)
    except ColumnError as e:
        raise DataError(f"{e.problem}; name that column {e.kind} (adapt reads files by their column names)") from None
    # the target read as the methods' scores read it, by --eval-data's reader: a file by the columns in its brackets,
    # else by the source's where it has them, its labels as the source's task reads them; brackets on a built-in
    # dataset or a folder are refused by name
    target_data = read_elsewhere(name, source_data.source, eval_columns(target, "--target"), "--target",
                                 task=source_data.task)
    how = _read_otherwise(target, source_data) if oracle is not False and not mapping else None
    if oracle and how:  # a built-in pair maps the labels too (drug-reviews-sentiment: neutral left out)
        raise ConfigError(f"the oracle trains on {name}'s own labels, but the methods' scores read them otherwise "
                          f"({how}): another task, on other rows; drop --oracle (without it, a mapped target has no "
                          "oracle), or give a target with the source's labels")
    if oracle is None:  # the default: a ceiling where the target's own labels are the source's
        oracle = not (mapping or how)
    notes = [] if oracle or oracle_given else [
        f"no oracle: the methods' scores read {name}'s labels otherwise ({how or 'mapped by --target'}), so training on "
        "its own labels would be another task; no ceiling and no share of the gap is reported"]
    _, model = loaded_cell(sweep.cells()[0])  # what the sweep loads (once per process): its modules say what can apply
    check_modality(source_data, model)  # before the methods: a text backbone on images has no BatchNorm to name either
    out = Path(out)
    result = AdaptResult(out=out, notes=notes)
    refused = refusals(chosen, model=model, task=source_data.task, strategy=strategy)
    if refused:  # before the oracle trains: a refusal after it left a store holding the ceiling alone
        kept = [m for m in chosen if m not in refused]
        if methods is not None:
            (method, why), *rest = refused.items()
            nor = f" (nor can {', '.join(m for m, _ in rest)})" if rest else ""
            raise ConfigError(f"--methods {method} cannot apply to {strategy} on {backbone}: {why}{nor}; drop it, e.g. "
                              f"--methods {','.join(kept)}")
        result.notes.append(f"left out of the default methods, as they cannot apply to {strategy} on {backbone}: "
                            + "; ".join(f"{method} ({why})" for method, why in refused.items()))
        arms, tta, where = plan_methods(kept, strategy=strategy, target=name)
        sweep = _source_sweep(source, target, arms, tta, strategy=strategy, common=common)
    check_out_of_domain(sweep, source_data, model, "--target")  # the target's labels map: refused before the oracle trains
    settings = {"source": source, "target": target, "backbone": backbone, "strategy": strategy, "methods": list(where),
                "sizes": ["all" if s is None else s for s in size_list], "seeds": seeds, "oracle": bool(oracle),
                "max_test": max_test, "tune": tune, "train": dataclasses.asdict(train),
                # the cap as run: a record from before the flag lacks it, so holds 300's runs, and reads as the same
                "max_val": sweep.split.max_val}
    # another adapt's report in --out would be replaced by this one, its rows gone from it (an arm of other settings
    # is labelled apart, full-finetune[max_steps=2], and matches no method): refused before anything trains
    # an older adapt stored --max-test all as None, as it stores no --max-test: the same rows where no data default caps
    # the test split (an image test split over 2,000 is capped without --max-test, and all of it with --max-test all)
    same_rows = not test_capped(source_data, sweep.split)
    check_same_report(out, "adaptation.json", settings, kind="adapt", grown=GROWN,
                      defaults={"train": TrainConfig.field_defaults()},
                      alike={"max_test": lambda old, new: same_rows and {old, new} <= {None, "all"}})
    ceiling_keys: frozenset[str] = frozenset()  # no oracle this call: none in its report, whatever the store holds
    if oracle:  # first: the report's main experiment is the newest, the source's
        # the target cut as the methods' scores cut it (no label read, the methods' input size and test cap): the
        # ceiling is scored on the very rows the methods are, and never trains on one of them
        filled_train, filled_split, _ = fill(source_data, [backbone], sweep.train, sweep.split)
        ceiling = dataclasses.replace(sweep, data=name, arms=(strategy,), eval_data=(), tta=(), tta_arms=(), train=filled_train,
                                      split=dataclasses.replace(filled_split, stratify=False),
                                      **{k: target_data.source.get(k) for k in ("text_column", "label_column", "task")
                                         if "path" in target_data.source})  # the columns the methods are scored on
        done = run_compare(ceiling, out, workers=workers, progress=progress, command=command, by="adapt")
        result.trained, ceiling_keys = result.trained + done.trained, done.keys
    # reuse_more_tta: a store from before the test-time methods ran on source-only alone keeps its other arms' cells
    done = run_compare(sweep, out, workers=workers, progress=progress, command=command, by="adapt", reuse_more_tta=True)
    result.trained += done.trained
    with Store(out, create=False) as store:  # this call's runs only: another call's (one stopped before its report
        # recorded its settings) never shows in this report, its oracle least of all where this call has none
        runs = with_arms([r for r in store.results() if r.key in done.keys | ceiling_keys])
    mine = [r for r in runs if r.key in done.keys]
    ceiling = [r for r in runs if r.key in ceiling_keys]
    result.rows = adaptation_rows(mine, ceiling, methods=where, baseline=BASELINE)
    result.notes += budget_notes(mine, ceiling, max_test, where)
    adaptation = _write(out, result, source=source, target=target, strategy=strategy,
                        settings=settings)  # first: the report points to it
    result.reports = {**render(out), **adaptation}
    return result


def _source_sweep(source: str, target: str, arms: list[str], tta: list[str], *, strategy: str,
                  common: dict[str, Any]) -> Any:
    """The compare on the source whose arms are the methods: scored on ``target`` too, and after each test-time method
    on the source-only arm alone (``SweepSpec.tta_arms``), the only row of the method table that reads those scores."""
    from headstart.sweep_spec import SweepSpec

    return SweepSpec(data=source, arms=tuple(arms), eval_data=(target,), tta=tuple(tta),
                     tta_arms=(strategy,) if tta else (), **common)


def _read_otherwise(target: str, source_data: Any) -> str | None:
    """How the methods' scores read ``target``'s labels when a built-in pair maps them ("negative as rotten, neutral
    left out, …"), None when they are read as they are (or do not map: refused later, after the methods' own
    refusals)."""
    from headstart.ood import check_elsewhere

    try:
        _, read_as, said = check_elsewhere(target, source_data, "--target")
    except ConfigError:
        return None
    if all(read_as[label] == label for label in read_as):
        return None
    return said.split(": ", 1)[-1].removesuffix(" (built-in pair)")


def budget_notes(runs: list[RunResult], ceiling: list[RunResult], max_test: int | str | None,
                 methods: dict[str, tuple[str, str]] | None = None) -> list[str]:
    """What the scores were bought with: each arm's budget as run (``budgets.budget_text``: steps, the rule and any
    ``max_steps`` cap, rates, tuning), one line when every arm ran the same, and the test cap when one was given.

    Args:
        methods: ``plan_methods``' ``where`` (method -> (arm, where scored)): an arm is named by the methods that train
            it ("source-only, tent" share the strategy's runs; "coral" is the strategy + coral), not by its label.
    """
    from headstart.analysis.arms import arm_name
    from headstart.analysis.budgets import budget_text

    called: dict[str, list[str]] = {}
    for method, (arm, _) in (methods or {}).items():
        called.setdefault(arm.split("[", 1)[0], []).append(method)
    groups: dict[str, list[RunResult]] = {}
    for r in runs:
        arm = arm_name(r)
        groups.setdefault(", ".join(called.get(arm.split("[", 1)[0], [arm])), []).append(r)
    if ceiling:
        groups["oracle"] = ceiling
    texts = {arm: text for arm, group in groups.items() if (text := budget_text(group))}
    notes = []
    if len(set(texts.values())) == 1:
        notes.append(f"budget as run, every method{' and the oracle' if 'oracle' in texts else ''}: {next(iter(texts.values()))}")
    elif texts:
        notes.append("budget as run: " + "; ".join(f"{arm}: {text}" for arm, text in texts.items()))
    if max_test not in (None, "all"):  # the counts themselves: this note is read in adaptation.md too, whose tables hold none
        source = _rows_text(r.metrics.get("n") for r in runs)
        target = _rows_text([o.get("test_rows") for r in runs for o in (r.record or {}).get("ood") or []]
                            + [r.metrics.get("n") for r in ceiling])
        scored = (f"{source} test rows of the source and {target} of the target" if source and target
                  else f"about {max_test} test rows of the source and of the target")
        notes.append(f"scored on {scored} (--max-test {max_test}; each class rounds its share up to whole rows and groups, "
                     "so a count can pass it): each interval covers those rows' sampling error, not the whole split's")
    return notes


def _rows_text(counts: Any) -> str:
    """The test rows the runs were scored on: ``"300"``, ``"300 to 304"`` where runs differ, ``""`` where none said."""
    found = sorted({c for c in counts if isinstance(c, int) and not isinstance(c, bool)})
    return "" if not found else str(found[0]) if len(found) == 1 else f"{found[0]} to {found[-1]}"


def summary_lines(result: AdaptResult) -> list[str]:
    """What ``headstart adapt`` prints: its notes, then per size the target's majority-class rate (the floor) and each
    method's target score, gain over source-only and share of the gap closed, and the flags' sentences."""
    from headstart.analysis.adaptation import FLAGS, flag_text
    from headstart.analysis.cell_stats import signed_points
    from headstart.analysis.stats import has_interval

    lines = [f"note: {note}" for note in result.notes]
    floors_said = set()
    for r in result.rows:
        if r["n"] not in floors_said:
            floors_said.add(r["n"])
            if r.get("majority") is not None:
                lines.append(f"majority class n={r['n']}: {100 * r['majority']:.1f}% on the target (always answering its most "
                             "frequent class; a method at or below it does no better)")
            oracle = r.get("oracle")
            if oracle is not None:
                ci = f" ({_ci(oracle, signed=False)})" if has_interval(oracle) or oracle.get("no_interval") else ""
                lines.append(f"oracle n={r['n']}: {100 * oracle['mean']:.1f}% on the target{ci} (the strategy trained on the "
                             "target's own labels: the ceiling the gaps below are shares of)")
        over = r["over_baseline"]
        gain = "" if over is None else f"; {signed_points(100 * over['mean'])} points over source-only ({_ci(over)})"
        gap = "" if r["gap_closed"] is None else f"; closes {100 * r['gap_closed']:.0f}% of the gap to the oracle"
        flagged = f" [flagged: {'; '.join(FLAGS[f] for f in r['flags'])}]" if r.get("flags") else ""
        lines.append(f"{r['method']} n={r['n']}: {100 * r['mean']:.1f}% on the target{gain}{gap}{flagged}")
    return lines + [f"flag: {text}" for text in map(flag_text, result.rows) if text]


def _ci(ci: dict[str, Any], *, signed: bool = True) -> str:
    """``CI +1.2 to +5.0`` of a gain over source-only (with its one-seed caveat), ``CI 35.0 to 41.0`` of a score, or
    why it has none (``stats.range_text``)."""
    from headstart.analysis.cell_stats import signed_points
    from headstart.analysis.stats import has_interval, range_text

    text = range_text(ci, lambda v: signed_points(100 * v) if signed else f"{100 * v:.1f}", joiner=" to ")
    return f"CI {text}" if has_interval(ci) else text


def _write(out: Path, result: AdaptResult, *, source: str, target: str, strategy: str,
           settings: dict[str, Any]) -> dict[str, Path]:
    from headstart.atomic import write_json
    from headstart.report.adaptation import adaptation_markdown
    from headstart.report.ood_chart import adaptation_chart
    from headstart.atomic import write_atomic

    rows = result.rows
    paths = {"adaptation.json": out / "adaptation.json", "adaptation.md": out / "adaptation.md"}
    write_json(paths["adaptation.json"], {"source": source, "target": target, "strategy": strategy, "notes": result.notes,
                                          "settings": settings, "rows": rows})
    write_atomic(paths["adaptation.md"], adaptation_markdown(rows, source=source, target=target, strategy=strategy,
                                                             notes=result.notes).encode())
    chart = adaptation_chart(rows, out / "adaptation.png", source=source, target=target)
    return {**paths, **({"adaptation.png": chart} if chart else {})}


make_callable(__name__, adapt)  # headstart.adapt(...) mirrors headstart adapt; the module stays importable
