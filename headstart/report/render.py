"""Render the report of a run directory: a pure function of its store.

Reads ``DIR/runs.sqlite`` (and, where present, ``leakage.json`` from compare and ``rank.json`` from
rank-backbones) and writes ``chart.png``, ``report.html``, ``report.md`` and
``results.json`` beside it (or into the folder ``to`` names: ``headstart report DIR --to OTHER``), each atomically (temp file in the same directory, then ``os.replace``), so a
reader never sees a half-written file and a crash leaves the previous report intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from headstart.analysis import summarize
from headstart.analysis.backbone_ranking import ranked_beside_measured
from headstart.analysis.unfinished import unfinished
from headstart.data.leakage import LEAKAGE_WARN, conflict_sentence
from headstart.atomic import write_atomic
from headstart.data.leakage import how_found
from headstart.data.memory import shown_name
from headstart.errors import StoreError
from headstart.report.chart import chart_png
from headstart.report.destination import rendering, report_folder, unwritable_text
from headstart.report.html import report_html
from headstart.report.markdown import report_markdown
from headstart.report.ood_chart import ood_png
from headstart.report.pareto import pareto_png
from headstart.results import RunResult
from headstart.store import Store
from headstart.surface import spoken


def title_for(results: list[RunResult], metric: str) -> str:
    """``"sst2 · all-MiniLM-L6-v2 — accuracy vs labelled examples"`` from the runs' datasets and backbones."""
    data = dict.fromkeys(shown_name(str((r.spec.get("data") or {}).get("name", "?"))) for r in results)
    backbones = dict.fromkeys(str(r.spec.get("backbone", "?")) for r in results)
    what = " · ".join(", ".join(names) for names in (data, backbones) if names)
    return f"{what} — {metric} vs labelled examples" if what else f"{metric} vs labelled examples"


def selection_metrics(results: list[RunResult]) -> list[str]:
    """The validation metrics the finished runs chose their checkpoints on (``record["budget"]["metric"]``, written by
    ``metrics.selection_metric``), sorted; empty where a finished run was stored before runs recorded it (what it
    chose on is not known, so nothing is claimed of every run)."""
    said = [budget.get("metric") if isinstance(budget := (r.record or {}).get("budget"), dict) else None
            for r in results if r.status == "done"]
    return [] if not all(said) else sorted({str(m) for m in said})


def default_metric(results: list[RunResult]) -> str:
    """The metric every finished run chose its checkpoints on (``selection_metrics``: macro-F1 for multi-label data or
    classes more than 3:1 imbalanced, where accuracy sits near the majority-class share) when they agree and report it
    on test; else ``accuracy`` when finished runs report it, else ``rmse`` when they report that, else ``accuracy``."""
    found = {m for r in results if r.status == "done" for m in r.metrics}
    chosen = selection_metrics(results)
    if len(chosen) == 1 and chosen[0] in found:
        return chosen[0]
    return next((m for m in ("accuracy", "rmse") if m in found), "accuracy")


def metric_note(results: list[RunResult], metric: str, directory: Path) -> str | None:
    """Which metric the report shows and why, where that is not the plain default (accuracy or rmse, the metric the
    runs chose on): the selection metric it defaults to and how to see accuracy, or a ``--metric`` that differs from
    what the runs chose on. None for a report of accuracy (rmse) on runs that chose on it, or stored before they said.
    A multi-label run's accuracy is named exact-match accuracy (every label of a row right)."""
    import shlex

    chosen = selection_metrics(results)
    if not chosen or chosen == [metric] and metric in ("accuracy", "rmse"):
        return None
    multilabel = any(((r.spec.get("data") or {}).get("task")) == "multilabel" for r in results if r.status == "done")
    shown = {"macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy",
             "accuracy": "exact-match accuracy (every label of a row right)" if multilabel else "accuracy"}
    named = ", ".join(shown.get(m, m) for m in chosen)
    report = f"headstart report {shlex.quote(str(directory))}"
    if chosen == [metric]:
        auto = all(((r.spec.get("train") or {}).get("metric", "auto")) == "auto" for r in results if r.status == "done")
        why = (("the data is multi-label" if multilabel else "its classes are more than 3:1 imbalanced")
               + ", where accuracy can sit at the majority-class share whatever the model learned"
               if auto and metric == "macro_f1" else f"--metric {metric} at training")
        other = "accuracy" if metric != "accuracy" and "accuracy" in {m for r in results for m in r.metrics} else None
        return (f"scores are {named}, the metric every run chose its checkpoints on ({why}): the recommendation chooses on "
                f"validation {named} and every test figure is {named}"
                + (f"; {report} --metric accuracy shows {shown['accuracy']}" if other else ""))
    if len(chosen) == 1:
        return (f"scores are {shown.get(metric, metric)}, while the runs chose their checkpoints on {named}; {report} "
                f"without --metric shows {named}")
    others = [m for m in chosen if m != metric]
    return (f"scores are {shown.get(metric, metric)}; the runs chose their checkpoints on different metrics ({named}: "
            "auto picks macro-F1 where a size's training rows are more than 3:1 imbalanced), and the report compares "
            f"them all on one; {report} --metric {others[0]} shows {shown.get(others[0], others[0])}")


def leakage_summary(directory: Path) -> dict[str, Any] | None:
    """What ``compare`` measured about test-set leakage (``leakage.json``), with a sentence and a warn flag."""
    path = directory / "leakage.json"
    if not path.exists():
        return None
    try:
        found = json.loads(path.read_text())
        leaked, n_test, fraction = found["exact"] + found["near"], found["n_test"], float(found["fraction"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # informational: a damaged file must not stop the report
    found_how = how_found(found["exact"], found["near"], found.get("threshold", 0.8), bool(found.get("exact_only")))
    text = (f"{leaked:,} of {n_test:,} test examples ({fraction:.1%}) duplicate pool/validation examples "
            f"({found_how.replace('>=', '≥')})")
    if found.get("removed_from_test"):
        text += f"; {found['removed_from_test']} removed from test by --dedupe"
    warn = fraction > LEAKAGE_WARN and not found.get("removed_from_test")
    if warn:
        text += "; above 1%: test scores are optimistic, re-run compare with --dedupe"
    val_leaked, n_val, val_removed = (found.get(k) for k in ("val_leaked", "n_val", "removed_from_validation"))
    if all(isinstance(c, int) and not isinstance(c, bool) for c in (val_leaked, n_val)) and val_leaked:
        text += (f"; {val_leaked:,} of {n_val:,} validation examples duplicate pool examples"
                 + (", removed from validation by --dedupe" if val_removed else ""))
    counts = [found.get(k) for k in ("conflicts", "conflict_rows")]  # informational: a damaged count is left out
    conflicts = conflict_sentence(*counts) if all(isinstance(c, int) and not isinstance(c, bool) for c in counts) else ""
    if conflicts:
        text += f". {conflicts[0].upper()}{conflicts[1:]}"
    removed = found.get("removed_from_test")
    return {"text": text, "warn": warn, "fraction": fraction, "exact": found["exact"], "near": found["near"], "n_test": n_test,
            "removed": removed if isinstance(removed, int) and not isinstance(removed, bool) else 0}


def test_split_summary(summary: dict[str, Any], leakage: dict[str, Any] | None, max_test: int | None = None,
                       uncapped: int | None = None) -> dict[str, Any] | None:
    """A line on the test split's size where it matters: when it is small (``stats.small_test``: a 50% accuracy's 95%
    Wilson interval wider than ±10 points, under 93 rows), with that error, when ``--dedupe`` shrank it (from the
    rows ``leakage.json`` counted to the rows the runs were scored on), and when ``--max-test`` (``max_test``, the runs'
    split setting) capped it: cut rows from the ``uncapped`` test split the runs recorded (``test_split_rows``). None
    otherwise, or with the rows unknown.

    Returns:
        ``{rows, before_dedupe, half_width, small, label, text}`` ("Small test split", "3 rows (--dedupe cut it from
        120); an accuracy ..."); ``half_width`` a fraction, None for a metric that is not a share (rmse ...), whose
        split is never called small here.
    """
    from headstart.analysis.stats import share_half_width, small_test

    rows = summary.get("test_rows")
    if not isinstance(rows, int) or rows <= 0:
        return None
    before = None
    if leakage and leakage.get("removed") and leakage["n_test"] - leakage["removed"] == rows:  # this experiment's split
        before = leakage["n_test"]
    share = summary.get("scale") == 100.0
    small = share and small_test(rows)
    # A cap that bound leaves at least max_test rows before --dedupe (each stratum fills its share in whole groups), but
    # so can a split the cap never cut: the runs record the uncapped split's rows as scored (after --dedupe, as ``rows``);
    # runs stored before they did are read by that first rule.
    capped = max_test is not None and (uncapped > rows if uncapped is not None
                                       else (before if before is not None else rows) >= max_test)
    if not small and before is None and not capped:
        return None
    cut = f" (--dedupe cut it from {before:,})" if before is not None else ""
    if capped:  # a draw of the whole test split (whole groups: it can overshoot a small cap)
        from headstart.data_defaults import IMAGE_MAX_TEST

        from headstart.surface import spoken

        flag = spoken("--max-test", "max_test")  # as the caller who renders the report sets it
        by = f"{flag} or an image dataset's default" if max_test == IMAGE_MAX_TEST else flag  # only it sets others
        cut += (f" (a part of the whole test split, capped at {max_test:,} by {by}"
                + (f"; {rows - max_test:,} over it: each class rounds its share up to whole rows, and to whole groups where "
                   "rows stay together, such as one movie's reviews)" if rows > max_test else ")"))
    half = share_half_width(rows) if share else None
    text = f"{rows:,} rows{cut}"
    if small:
        text += (f"; an accuracy measured on them is uncertain by up to ±{100 * half:.1f} points (95% Wilson interval at "
                 "50%), so differences smaller than that are not resolved by this test set")
        if summary.get("metric") in ("macro_f1", "balanced_accuracy"):  # the bound is accuracy's; these weigh each class equally
            text += (f"; the {summary['metric'].replace('_', ' ')} shown weighs each class equally, so a rare class's few rows "
                     "make it less certain still")
    return {"rows": rows, "before_dedupe": before, "half_width": half, "small": small,
            "label": "Small test split" if small else "Test split", "text": text}


def data_summary(record: dict[str, Any]) -> dict[str, Any] | None:
    """What reading the sweep's data did (``Store.sweep()["data"]``, kept by ``run_sweep``): the columns read as text and
    label (guessed where the user did not name them), and the loader's notes (rows dropped, the task inferred), with a
    sentence: ``"reviews2.csv: text from column 'review', labels from 'sentiment' (text column and label column
    guessed, not named); dropped 2 rows with empty text"``. None for a store written before it was kept, or damaged."""
    data = record.get("data")
    if not isinstance(data, dict):
        return None
    notes = [str(n) for n in data.get("notes") or [] if isinstance(n, str) and not n.startswith("using column")]
    text, label = data.get("text_column"), data.get("label_column")
    parts = []
    if isinstance(text, str) and isinstance(label, str):
        inputs = "images" if data.get("modality") == "image" else "text"
        guessed = [what for what, given in ((f"{inputs[:5]} column", "text_given"), ("label column", "label_given"))
                   if not data.get(given)]
        parts.append(f"{inputs} from column {text!r}, labels from {label!r}"
                     + (f" ({' and '.join(guessed)} guessed, not named)" if guessed else ""))
    parts += notes
    if not parts:
        return None
    name = shown_name(str(data.get("name") or ""))
    return {"name": name, "text_column": text, "label_column": label, "notes": notes,
            "text": (f"{name}: " if name else "") + "; ".join(parts)}


def ranking_summary(directory: Path, results: list[RunResult]) -> dict[str, Any] | None:
    """``DIR/rank.json`` (``headstart rank-backbones --out DIR``) beside what the store measured
    (``analysis.backbone_ranking.ranked_beside_measured``), or None without one."""
    path = directory / "rank.json"
    if not path.exists():
        return None
    try:
        ranked = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # informational: a damaged file must not stop the report
    return ranked_beside_measured(ranked, results) if isinstance(ranked, dict) else None


def render(store_dir: str | Path, *, metric: str | None = None, margin: float | None = None,
           to: str | Path | None = None) -> dict[str, Path]:
    """Write the four report files of a run directory.

    Args:
        store_dir: the directory holding ``runs.sqlite`` (the sweep's ``--out``).
        metric: test metric to compare; default ``accuracy``, or ``rmse`` for regression runs.
        margin: points a cheaper strategy may trail the best and still be recommended (default 2; percent of the
            best for rmse-like metrics).
        to: the folder the report files go to (made if missing; ``headstart report --to``), default ``store_dir``:
            a store in a folder that cannot be written (a read-only mount, another user's) is read where it is and
            reported elsewhere. leakage.json, rank.json and adaptation.md are still read beside the store.

    Returns:
        ``{"chart.png": path, "report.html": path, "report.md": path, "results.json": path}``, plus
        ``"forgetting.png"`` (target vs retention) when the runs measured retention, ``"ood.png"`` (in domain vs out
        of domain) when they were scored on ``--eval-data``.

    Raises:
        StoreError: no store in ``store_dir``, an incompatible store, an unwritable directory, or the store of a
            ``continual`` or ``multitask`` run (each writes its own report).
        ConfigError: ``metric`` is in no finished run.
    """
    directory = Path(store_dir)
    target = directory if to is None else report_folder(directory, Path(to))
    with Store(directory, create=False) as store, rendering(directory, target):
        results = store.results()
        owner = next((kind for kind in ("continual", "multitask") if any(kind in (r.spec or {}) for r in results)), None)
        if owner is not None:  # its own report (continual.md, the multitask report.md) is not a compare's: never overwritten
            raise StoreError(owned_text(directory, owner))
        rows = store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        if rows and not results and (target / "report.md").exists():  # the report may be the last readable copy
            raise StoreError(f"none of the {rows} runs in {str(directory / 'runs.sqlite')!r} can be read (each is damaged; "
                             "the warnings above name them), so the existing report was kept, not replaced by an empty "
                             "one; restore the store from a backup, or run the compare again into a new --out")
        record = {**(store.sweep() or {}), "commands": store.commands(), "commands_elsewhere": store.commands_elsewhere(),
                  "abandoned": store.abandoned()}
        return _write_report(directory, results, record, metric, margin, target=target)


def rerender(store_dir: str | Path) -> dict[str, Path]:
    """:func:`render` again with the settings the store's last report was rendered with (``report_settings`` in its
    results.json: the ``--metric`` / ``--margin`` of the last ``headstart report`` that set them), so that a re-render
    after a ``compare`` into the store or for a new section (``rank-backbones --out``) does not quietly undo them;
    the report then names them (``report_command``), and ``compare`` says it kept them. The defaults where there is no
    readable results.json; a kept metric that no finished run reports any more is dropped."""
    from headstart.errors import ConfigError

    try:
        last = json.loads((Path(store_dir) / "results.json").read_text())
    except (OSError, ValueError):
        last = {}
    last = last if isinstance(last, dict) else {}
    # a results.json from before report_settings: its metric and margin (defaults are dropped by _write_report)
    kept = last.get("report_settings") if "report_settings" in last else {"metric": last.get("metric"),
                                                                         "margin": last.get("margin_points")}
    kept = kept if isinstance(kept, dict) else {}
    metric, margin = kept.get("metric"), kept.get("margin")
    metric = metric if isinstance(metric, str) else None
    margin = float(margin) if isinstance(margin, (int, float)) and not isinstance(margin, bool) else None
    try:
        return render(store_dir, metric=metric, margin=margin)
    except ConfigError:
        if metric is None:
            raise
        return render(store_dir, margin=margin)


def preface(directory: Path) -> str | None:
    """A line for the top of the report where the store's own comparison lies elsewhere: ``headstart adapt`` writes
    adaptation.md beside it, and this report's recommendation is then the source experiment's, chosen on the source."""
    if (directory / "adaptation.md").exists():
        return ("This store was written by headstart adapt: adaptation.md compares the methods on the target domain. "
                "This report is the source experiment's: its recommendation is chosen on the source's validation split "
                "and says nothing about the target.")
    return None


def report_settings(results: list[RunResult], metric: str | None, margin: float | None) -> dict[str, Any]:
    """The ``headstart report`` settings this render departs from the defaults with: ``{"metric": ..., "margin": ...}``,
    each only where given and not the default (an empty dict for a default report). Kept in results.json, and
    re-applied by :func:`rerender` (a later ``compare`` into the store, ``rank-backbones --out``)."""
    from headstart.analysis import MARGIN_POINTS

    out: dict[str, Any] = {}
    if metric is not None and metric != default_metric(results):
        out["metric"] = metric
    if margin is not None and margin != MARGIN_POINTS:
        out["margin"] = margin
    return out


OWN_REPORTS = {"continual": "continual.json", "multitask": "results.json"}  # where each records the command that wrote it


def owned_text(directory: Path, owner: str) -> str:
    """Why ``report`` does not render ``directory``, the store of ``owner`` (continual, multitask), whose report that
    command writes: its command, as its report file records it (``OWN_REPORTS``), run again into this folder re-renders
    it and trains nothing stored; "with the same arguments" where no command is recorded (a report from before)."""
    import shlex

    try:
        command = json.loads((directory / OWN_REPORTS[owner]).read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        command = None
    where = spoken(f"--out {shlex.quote(str(directory))}", f"out={str(directory)!r}")
    writer = spoken(f"'headstart {owner}'", f"headstart.{owner}(...)")
    if not isinstance(command, str) or not command:
        again = spoken("run it again", "call it again")
        return (f"{str(directory)!r} is a {owner} store: its report is written by {writer}; {again} with the same arguments "
                "to re-render (it trains nothing already stored)")
    return (f"{str(directory)!r} is a {owner} store: its report is written by {writer}; to re-render it, run the command "
            f"that wrote it again with {where} (it trains nothing already stored): {command}")


def report_command(directory: Path, settings: dict[str, Any]) -> str | None:
    """``headstart report DIR --margin 1``: the command that sets ``settings`` (None for none), for "Produced by"."""
    import shlex

    if not settings:
        return None
    flags = ([f"--metric {shlex.quote(settings['metric'])}"] if "metric" in settings else []) + (
        [f"--margin {settings['margin']:g}"] if "margin" in settings else [])
    return " ".join(["headstart report", shlex.quote(str(directory)), *flags])


def _write_report(directory: Path, results: list[RunResult], record: dict[str, Any], metric: str | None,
                  margin: float | None = None, *, target: Path | None = None) -> dict[str, Path]:
    """The report of the store in ``directory`` (its runs ``results``, its sweep ``record``) written into ``target``
    (default ``directory``), each file atomically."""
    from headstart.errors import WriteError

    target = directory if target is None else target
    settings = report_settings(results, metric, margin)
    metric = metric or default_metric(results)
    leakage = leakage_summary(directory)
    summary = {**summarize(results, metric, margin_points=margin, plan=record.get("plan"), sweep=record), "leakage": leakage,  # checks margin first
               "backbone_ranking": ranking_summary(directory, results), "preface": preface(directory),
               "report_settings": settings, "report_command": report_command(directory, settings),
               "unfinished": unfinished(record.get("plan"), results, abandoned=record.get("abandoned") or set()), "data": data_summary(record),
               "commands_elsewhere": record.get("commands_elsewhere") or []}
    note = metric_note(results, metric, directory)
    if note:  # a report of the runs' own accuracy (rmse) carries none
        summary["metric_note"] = note
    caps = {((r.spec.get("data") or {}).get("split") or {}).get("max_test") for r in results if r.status == "done"}
    whole = {r.record.get("test_split_rows") for r in results if r.status == "done"}
    summary["test_split"] = test_split_summary(summary, leakage, next(iter(caps)) if len(caps) == 1 else None,
                                               next(iter(whole)) if len(whole) == 1 else None)
    title = (title_for(results, metric) if not summary["other_experiments"]
             else f"{summary['experiment']} — {metric} vs labelled examples")
    command = record.get("command")
    commands = record.get("commands") or ([command] if command else [])
    document: dict[str, Any] = {"title": title, "command": command, "commands": commands, "sweep": record.get("sweep"),
                                **summary}
    files = {
        "chart.png": chart_png(summary, title=title),
        "report.html": report_html(summary, title=title, command=commands).encode(),
        "report.md": report_markdown(summary, title=title, command=commands).encode(),
        "results.json": (json.dumps(document, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode(),
    }
    for i, other in enumerate(summary["other_experiments"], 2):  # each other experiment (another backbone, other data): its own chart
        files[f"chart-{i}.png"] = chart_png(other["summary"], title=f"{other['experiment']} — {metric} vs labelled examples")
    for name, png in (("forgetting.png", pareto_png(summary, title=title)), ("ood.png", ood_png(summary, title=title))):
        if png is not None:
            files[name] = png
    paths = {}
    for name, data in files.items():
        paths[name] = target / name
        try:
            write_atomic(paths[name], data)
        except WriteError as exc:  # the lock was there to take (made before), the folder no longer takes a file
            raise StoreError(unwritable_text(directory, target, exc.strerror)) from exc
    return paths
