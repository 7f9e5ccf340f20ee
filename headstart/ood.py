"""Out-of-domain evaluation: a trained run also scored on another dataset's test split (``--eval-data DATA``).

The other dataset must share the run's label space. Labels are matched by name; where the names differ they are
mapped in brackets, ``drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]`` (``-``: rows of that label
are left out; a label holding = , or ] goes in double quotes, ``"a=b"=fresh``), and the built-in pairs carry their
mapping (``KNOWN_MAPS``), said in a note; ``ood_labels`` reads and maps them. A regression run is scored on another
regression dataset as is; a file's labels are read as the run's task says (``read_elsewhere``: a regression run's
whole-number ratings are numbers, not classes). DATA is split as the run's own data is (the run's ``SplitConfig``), so its pool stays free
for methods that read unlabelled target inputs; its labels are read only here, after training — not even to split it
(``split_dataset(by_label=False)``: a seeded random cut).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any, Callable

from headstart.errors import ConfigError, DataError, with_article
from headstart.metrics import one_class
from headstart.progress import caching_part
from headstart.ood_labels import label_map, parse_eval_data, parse_eval_entry
from headstart.data.memory import shown_path

if TYPE_CHECKING:  # the module stays torch-free to import: the CLI imports it, and --help must stay instant
    import numpy as np
    import torch


def check_elsewhere(text: str, run_data: Any, flag: str = "--eval-data") -> tuple[Any, dict[str, str | None], str | None]:
    """The dataset ``text`` names, loaded, with its labels mapped onto ``run_data``'s: ``(data, mapping, note)``.

    Raises:
        ConfigError: it is the run's own data, of another task or input kind, or its labels do not map.
    """
    name, given, columns = parse_eval_entry(text, flag)
    data = read_elsewhere(name, run_data.source, columns, flag, task=run_data.task)
    if data.hash == run_data.hash:
        raise ConfigError(f"{flag} {name!r} is the run's own dataset, whose test split is already its in-domain "
                          "score; name another dataset with the same labels")
    if data.modality != run_data.modality or data.task != run_data.task:
        raise ConfigError(f"{flag} {name!r} is {with_article(data.modality)} {data.task} dataset; this run is "
                          f"{with_article(run_data.modality)} {run_data.task} run, so it cannot be scored there")
    if data.task == "multilabel":
        raise ConfigError(f"{flag} {name!r}: out-of-domain scores are for classification and regression runs")
    if data.task == "regression":
        if given:
            raise ConfigError(f"{flag} {text!r}: a regression dataset's values are read as they are; drop the [...]")
        return data, {}, None
    mapping, note = label_map(name, tuple(data.label_names), tuple(run_data.label_names), given, flag)
    return data, mapping, note


_READ: dict[str, Any] = {}  # the datasets read last, by name, run source and file state (``read_elsewhere``)


def read_elsewhere(name: str, run_source: Any, columns: dict[str, str] | None = None, flag: str = "--eval-data", *,
                   task: str | None = None) -> Any:
    """The dataset ``name`` names, read by ``columns`` (``[text=COLUMN, label=COLUMN]``), else by the run's own columns
    where a file has them (``run_source``): the one reader of ``--eval-data`` and of ``adapt --target`` (``flag``). A
    file's labels are read as the run's ``task`` says (a regression run's whole-number ratings as numbers, not classes);
    a built-in dataset and an image folder have their own. Once
    a process while the file is unchanged (``data.file_state``), as evaluate checks each --eval-data before it scores
    any, then reads it again to score it, and again after each --tta (its notes said once, not each time).

    Raises:
        ConfigError: ``columns`` named for a built-in dataset or an image folder, whose columns are fixed.
        DataError: a file whose text or label column cannot be told, or is not there: the message names the bracket.
    """
    import json
    from pathlib import Path

    from headstart.data import REGISTRY, file_state, load_dataset
    from headstart.data.labels import no_task_fix
    from headstart.errors import ColumnError

    columns = columns or {}
    if columns and (name in REGISTRY or Path(name).is_dir()):
        given = ", ".join(f"{k.split('_')[0]}={v}" for k, v in columns.items())
        raise ConfigError(f"{flag} {name!r}: [{given}] names a file's columns, but {name!r} is "
                          f"{'a built-in dataset' if name in REGISTRY else 'a folder of images'} whose columns are fixed; "
                          f"drop [{given}]")
    # a file's labels as the run reads its own (a regression run's ratings 1..10 are no ten classes); multilabel runs
    # are refused by name (``check_elsewhere``), so their files keep the task their labels make
    reads = task if task in ("classification", "regression") and name not in REGISTRY and not Path(name).is_dir() else None
    key = json.dumps([name, run_source, columns, file_state(name), reads], sort_keys=True, default=str)
    if key not in _READ:
        try:
            with no_task_fix():  # the run's task is fixed: --eval-data has no --task to name
                data = load_dataset(name, run_source=run_source, task=reads, **columns)
        except ColumnError as e:  # the run's --text-column names its own data's: the file's own go in brackets
            example = f"{name}[text={columns.get('text_column', 'COLUMN')}, label={columns.get('label_column', 'COLUMN')}]"
            raise DataError(f"{e.problem}; name the file's columns in brackets, e.g. {flag} {shlex.quote(example)}") from None
        if len(_READ) >= 2:  # a couple at a time: memory stays flat over a long process
            _READ.clear()
        _READ[key] = data
    return _READ[key]


def too_few_to_test(data: Any, split_config: Any, empty: "EmptySplit") -> str:  # noqa: F821
    """Why an --eval-data dataset has no test part to score (``empty``: the part its cut left empty), in the test
    part's words: the user asked for test rows, and a validation part they never read was what came up short."""
    from headstart.data.splits import rows_to_split

    share = {0.2: "fifth", 0.1: "tenth", 0.25: "quarter", 1 / 3: "third"}.get(split_config.test_fraction)
    test = f"test {share}" if share else f"test part ({split_config.test_fraction:.0%})"
    left = {"test": "no test row", "val": "no validation row", "pool": "no pool row"}[empty.part]
    groups = " (whole groups: more where groups are large)" if getattr(data, "groups", None) is not None else ""
    return (f"{data.name!r} has too few rows ({empty.rows}) to cut the {test} that --eval-data scores: every dataset is "
            f"cut into that {test}, a validation part and a pool, and {empty.rows} rows leave {left}; it needs "
            f"{rows_to_split(split_config)} rows or more{groups}; to score every row of {data.name!r}, pass --eval-rows all")


def rows_read(data: Any, split_config: Any, *, rows: str = "test", tta: str | None = None) -> np.ndarray:
    """The rows of ``data`` an out-of-domain score reads: its test part, cut without reading its labels, or every row
    (``rows="all"``: a file kept apart as a test set), which leaves no pool for a ``tta`` that adapts on one.

    Raises:
        ConfigError: ``rows`` is neither "test" nor "all", or "all" with bn-adapt or tent.
        DataError: ``data`` is too small to cut a test part (its message says to score every row).
    """
    import numpy as np

    from headstart.data import split_dataset
    from headstart.data.splits import EmptySplit

    check_rows(rows, tta)
    if rows == "all":
        return np.arange(len(data.targets))
    try:
        return split_dataset(data, split_config, by_label=False).test
    except EmptySplit as e:  # scoring reads the test part only, but every dataset is cut the same three ways
        raise DataError(too_few_to_test(data, split_config, e)) from None
    except DataError as e:
        raise DataError(f"{e}; to score every row of {data.name!r}, pass --eval-rows all") from None


def check_rows(rows: str, tta: str | None = None) -> None:
    """Refuse ``rows`` (``--eval-rows``) other than "test" or "all", and "all" with a ``tta`` that adapts on the pool.

    Raises:
        ConfigError: naming the value and the fix.
    """
    if rows not in ("test", "all"):
        raise ConfigError(f"--eval-rows must be test or all, got {rows!r}; e.g. --eval-rows all")
    if rows == "all" and tta in ("bn-adapt", "tent"):
        raise ConfigError(f"--tta {tta} adapts on the dataset's pool, and --eval-rows all scores every row, leaving none; "
                          "use --eval-rows test, or --tta tent-episodic (it adapts on each scored batch)")


def mapped_targets(data: Any, rows: np.ndarray, mapping: dict[str, str | None],
                   label_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``rows`` are scored (those whose label maps into the run's ``label_names`` by ``mapping``: a bool per
    row) and their targets in the run's class indices; a regression dataset's rows all, as they are.

    Raises:
        ConfigError: no row's label maps.
    """
    import numpy as np

    keep = np.ones(len(rows), dtype=bool)
    targets = data.targets[rows]
    if data.task == "classification":
        index = {label: i for i, label in enumerate(label_names)}
        to_run = np.array([-1 if mapping[label] is None else index[mapping[label]] for label in data.label_names])
        mapped = to_run[data.targets[rows]]
        keep, targets = mapped >= 0, mapped[mapped >= 0]
    if not keep.any():
        raise ConfigError(f"--eval-data {data.name!r} has no test rows left after its labels were mapped")
    return keep, targets


def evaluate_elsewhere(model: torch.nn.Module, encoder: torch.nn.Module, text: str, *, run_data: Any, split_config: Any,
                       batch_size: int, autocast: Callable | None = None,
                       features: Callable[[Any, list], Callable[[np.ndarray], torch.Tensor] | None] | None = None,
                       tta: str | None = None, seed: int = 0, rows: str = "test",
                       seen: dict[str, list[Any]] | None = None, dedupe: bool = False,
                       progress: Callable[..., None] | None = None) -> dict[str, Any]:
    """The run's ``model`` scored on the test split of the dataset ``text`` names (``parse_eval_data``); with ``tta``, a
    copy of it adapted first to that dataset's unlabelled pool inputs (``headstart.tta``, drawn with ``seed``).
    ``rows="all"`` scores every row of it instead (a file kept apart as a test set: nothing of it is a pool).

    Args:
        encoder: the backbone whose ``encode`` prepares DATA's inputs for ``model`` (as the run's own were prepared).
        run_data: the run's dataset: its task, label names, modality; DATA must not be it.
        features: ``features(data, encoded, progress)`` -> cached features of the unchanged pre-trained backbone (a
            run that left it untouched; ``progress`` as ``features.FeatureCache``'s), or None to run the whole model.
        seen: the run's own inputs, ``{"training": [...], "validation": [...]}``: the scored rows that duplicate them
            are counted (``data.seen.seen_rows``) and, over 1% of them, warned of under ``leakage``; None: not checked.
        dedupe: with ``seen``, drop those rows before anything is scored or adapted on, counted under ``dropped``.
        progress: ``told(what, done, total, unit)`` (``progress.part_of``): the rows scored (``what`` ""), the pool
            batches ``tta`` adapts on ("adapting to its pool"; tent-episodic's scored batches are its rows scored), the
            rows whose backbone features are cached first ("caching the backbone's features"), each from its 0.

    Returns:
        ``{data, tta, metrics, test_rows, note, rows: {target, predicted}}`` (``rows`` in the run's class indices), and
        ``leakage: {training, validation, scored, text}`` where ``seen`` finds over 1% of the scored rows in it.

    Raises:
        ConfigError: DATA is the run's own data, of another task or input kind, or its labels do not map; ``rows`` is
            neither "test" nor "all", or "all" with a ``tta`` that adapts on the pool.
        DataError: DATA is too small to split (its message says to score every row).
    """
    import numpy as np

    from headstart.data import split_dataset
    from headstart.evaluation import scored_rows
    from headstart.features import encoded_inputs

    from headstart.tta import caveat

    data, mapping, note = check_elsewhere(text, run_data)
    note = "; ".join(n for n in (note, caveat(tta, model)) if n) or note  # what the user should know before reading the score
    rows = rows_read(data, split_config, rows=rows, tta=tta)
    dropped = None
    if dedupe and seen is not None:  # the rows the run trained or chose on are not scored (tta adapts on its own pool)
        from headstart.data.seen import dropped_text, unseen_rows

        before, name = len(rows), parse_eval_data(text)[0]
        rows, counts = unseen_rows(data, rows, seen)
        dropped = {**counts, "rows": before, "text": dropped_text(counts, before, name)}
        if not len(rows):
            raise DataError(f"every row of {name} duplicates the run's own training or validation rows, so --dedupe "
                            "leaves none to score; drop --dedupe to score them")
    keep, targets = mapped_targets(data, rows, mapping, run_data.label_names)
    encoded = encoded_inputs(encoder, data)
    source = _source_batches(model, encoder, run_data, split_config, seed) if tta is not None else None
    common = {"data": shown_path(parse_eval_data(text)[0]), "tta": tta, "test_rows": int(keep.sum()), "note": note,
              "majority": majority_share(targets, data.task)}
    if dropped is not None:
        common["dropped"] = dropped
    elif seen is not None:  # rows the run trained or chose on make this score optimistic, as in-domain duplicates do
        from headstart.data.leakage import DEFAULT_THRESHOLD, comparable
        from headstart.data.seen import seen_rows, seen_text

        inputs, threshold = comparable(data, DEFAULT_THRESHOLD)
        counts = seen_rows(seen, [inputs[i] for i in rows[keep]], threshold=threshold)
        warning = seen_text(counts, int(keep.sum()), common["data"])
        if warning:
            common["leakage"] = {**counts, "scored": int(keep.sum()), "text": warning}
    def counter(what: str, total: int, unit: str = "rows") -> Callable[[int], None] | None:
        """``progress`` for one part, said at its 0."""
        if progress is None:
            return None
        progress(what, 0, total, unit)
        return lambda done: progress(what, done, total, unit)

    if tta in ("tent", "tent-episodic"):
        # tent normalises BatchNorm inputs with each scored batch's own statistics (tent-episodic also adapts on it), so
        # a batch's make-up moves its predictions: every test input is scored, unmapped labels too — which inputs the
        # adaptation sees must not depend on test labels — in a random order (a split lists them by class: one-class
        # batches); the metrics read the mapped rows only
        from headstart.evaluation import compute_metrics, model_outputs, outputs_to_predictions

        order = np.random.default_rng(seed).permutation(len(rows))
        back = np.argsort(order)
        if tta == "tent-episodic":  # each scored batch adapted alone, on its own inputs
            from headstart.tta import episodic_outputs

            batches = _batches(model, encoded, rows[order])
            outputs = episodic_outputs(model, batches, task=data.task, source=source, progress=counter("", len(batches), "batches"))
        else:
            from headstart.tta import ROWS, adapted, check_methods

            check_methods((tta,))
            pool = np.random.default_rng(seed).permutation(split_dataset(data, split_config, by_label=False).pool)[:ROWS]
            batches = _batches(model, encoded, pool)
            tuned = adapted(model, tta, batches, task=data.task, source=source,
                            progress=counter("adapting to its pool", len(batches), "batches"))
            outputs = model_outputs(tuned, encoded, rows[order], batch_size=batch_size, autocast=autocast,
                                    progress=counter("", len(rows)))
        predictions = outputs_to_predictions(outputs[back][keep], data.task, model)
        metrics = compute_metrics(data.task, predictions, targets, run_data.label_names)
        if data.task == "classification":
            kept = {"predicted": predictions.argmax(1).tolist(), "target": targets.astype(np.int64).tolist()}
        elif data.task == "regression":
            kept = {"predicted": [float(f"{v:.6g}") for v in predictions], "target": [float(v) for v in targets]}
        else:
            kept = {}
        return {**common, "metrics": metrics, "rows": kept,
                "one_class": one_class(kept.get("predicted") or [], run_data.label_names) if data.task == "classification" else None}
    if tta is not None:
        from headstart.tta import ROWS, adapted, check_methods

        check_methods((tta,))
        pool = np.random.default_rng(seed).permutation(split_dataset(data, split_config, by_label=False).pool)[:ROWS]
        batches = _batches(model, encoded, pool)
        model = adapted(model, tta, batches, task=data.task, source=source,
                        progress=counter("adapting to its pool", len(batches), "batches"))
        features = None
    scoring = counter("", int(keep.sum()))
    caching = caching_part(progress)
    metrics, kept = scored_rows(model, encoded, rows[keep], targets, task=data.task, label_names=run_data.label_names,
                                batch_size=batch_size, autocast=autocast, progress=scoring,
                                features=features(data, encoded, caching) if features is not None else None)
    return {**common, "metrics": metrics, "rows": kept,
            "one_class": one_class(kept.get("predicted") or [], run_data.label_names) if data.task == "classification" else None}


def one_class_text(found: dict[str, Any]) -> str:
    """What an out-of-domain score's line adds when it answered one class for every row ("" otherwise)."""
    if not found.get("one_class"):
        return ""
    fix = " (tent's entropy minimum is one confident class: compare tent-episodic)" if found.get("tta") == "tent" else ""
    return (f"; WARNING: it answered {found['one_class']!r} for every row, so this score is that class's share, not what "
            f"it learned{fix}")


BELOW_MAJORITY = "at or below always answering its most frequent class"  # compare's, evaluate's and train's words


def at_or_below_majority(found: dict[str, Any]) -> bool | None:
    """Whether a score's accuracy (``found["accuracy"]``, or ``found["metrics"]["accuracy"]`` as train records it) is
    no higher than ``found["majority"]``, the share of the scored rows in their most frequent class: always answering
    that class would do as well. None where either is missing (regression, multilabel)."""
    accuracy = found.get("accuracy", (found.get("metrics") or {}).get("accuracy"))
    majority = found.get("majority")
    if not isinstance(accuracy, (int, float)) or not isinstance(majority, (int, float)):
        return None
    return bool(accuracy <= majority + 1e-9)


def with_majority_flag(found: dict[str, Any]) -> dict[str, Any]:
    """``found`` with ``at_or_below_majority`` (``at_or_below_majority``) where its accuracy and majority are known."""
    flag = at_or_below_majority(found)
    return found if flag is None else {**found, "at_or_below_majority": flag}


def majority_text(found: dict[str, Any], *, elsewhere: bool) -> str:
    """What a score's line adds when it is at or below its rows' majority class ("" otherwise, or where its one-class
    warning already says why). ``elsewhere``: a score on --eval-data, a file out of the run's domain or a held-out one
    of its own kind, so the words hold for either (not "no transfer", which presumes another domain)."""
    if not at_or_below_majority(found) or found.get("one_class"):
        return ""
    what = "nothing the run learned shows on these rows" if elsewhere else "no better than that constant answer"
    return f"; WARNING: this score is {BELOW_MAJORITY}: {what}"


def _batches(model: torch.nn.Module, encoded: list, rows: Any) -> list[dict[str, torch.Tensor]]:
    """The encoded ``rows`` collated in test-time adaptation's batches, on the model's device."""
    from headstart.tta import BATCH

    device = next(model.parameters()).device
    return [{k: v.to(device) for k, v in model.backbone.collate([encoded[r] for r in rows[i : i + BATCH]]).items()}
            for i in range(0, len(rows), BATCH)]


def _source_batches(model: torch.nn.Module, encoder: torch.nn.Module, run_data: Any, split_config: Any,
                    seed: int) -> list[dict[str, torch.Tensor]] | None:
    """Batches of the run's own pool inputs (up to ``tta.ROWS`` of them, drawn with ``seed``; labels unread) where
    test-time adaptation maps BatchNorm statistics through the source's (``tta.frozen_statistics``); else None."""
    import numpy as np

    from headstart.data import split_dataset
    from headstart.tta import ROWS, frozen_statistics

    if not frozen_statistics(model):
        return None
    pool = np.random.default_rng(seed).permutation(split_dataset(run_data, split_config).pool)[:ROWS]  # as the run split it
    encoded = encoder.encode([run_data.inputs[r] for r in pool])
    return _batches(model, encoded, np.arange(len(pool)))


def majority_share(targets: Any, task: str) -> float | None:
    """The share of the scored rows in their most frequent class (classification): the accuracy of answering it alone."""
    import numpy as np

    if task != "classification" or len(targets) == 0:
        return None
    return float(np.bincount(np.asarray(targets, dtype=np.int64)).max() / len(targets))
