"""What a loaded run answers: its metrics on its own test (or validation) split, on another dataset, and its predictions.

``evaluate_loaded`` re-reads the run's dataset (refused when its content changed) and re-splits it exactly as in
training, then scores the split with its 95% Wilson interval, the majority-class share, what a ``max_test`` cap traded
and any test rows that duplicate training ones; ``evaluate_ood`` scores another dataset's rows out of domain (after
test-time adaptation when asked); ``predict_loaded`` turns raw inputs (texts, image paths or arrays) into labels,
probabilities or values. The run itself comes from ``headstart.saved.load_run``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from headstart.data import SplitConfig, load_dataset, split_dataset
from headstart.data.columns import run_pair
from headstart.data.dataset import PAIR_SEP
from headstart.data.frames import SUFFIXES
from headstart.errors import ConfigError, StoreError
from headstart.evaluation import model_outputs, outputs_to_predictions, score_rows
from headstart.features import FeatureCache
from headstart.precision import autocast_for
from headstart.progress import PartFn, caching_part, part_of, scoring_part
from headstart.saved import LoadedRun
from headstart.specs import stored_reading


def evaluate_loaded(run: LoadedRun, split: str = "test", *, progress: PartFn | None = None) -> dict[str, Any]:
    """Metrics of a loaded run on its dataset's ``split`` ("test" or "val"), re-split exactly as in training;
    ``progress(what, done, total, unit)`` (``progress.scoring_counter``): the rows scored, and the rows whose backbone
    features are cached first, counted as "scoring the test split" (or "the validation split").

    Raises:
        StoreError: the dataset changed since training (its content hash differs).
    """
    resolved = run.resolved
    data = run_data(run)
    split_config = SplitConfig(**resolved["data"]["split"])
    splits = split_dataset(data, split_config)
    rows = splits.part(split)
    backbone = run.model.backbone
    encoded = backbone.encode(data.inputs)
    precision = resolved["train"]["precision"]
    autocast = autocast_for(precision, run.device)
    told = part_of(progress, f"scoring the {'test' if split == 'test' else 'validation'} split")
    if told is not None:
        told("", 0, len(rows))
    features = None
    if run.meta["backbone_saved"] == "none":  # backbone unchanged: reuse (or fill) the shared feature cache
        features = FeatureCache(backbone, encoded, data.hash, batch_size=resolved["train"]["eval_batch_size"], autocast=autocast,
                                identity={**backbone.describe(), "precision": precision},
                                progress=caching_part(told))
    metrics = score_rows(run.model, encoded, rows, data.targets, task=run.task, label_names=run.label_names,
                         batch_size=resolved["train"]["eval_batch_size"], features=features, autocast=autocast,
                         progress=(lambda done: told("", done, len(rows))) if told else None)
    from headstart.ood import majority_share, with_majority_flag

    note = _capped_test(data, split_config, len(rows), run.task, metrics.get("accuracy")) if split == "test" else None
    looks = int(run.meta.get("val_checks") or 0) if split == "val" else 0
    if looks > 1:  # the best of several checks on these rows: an interval over them would claim more than it holds
        from headstart.held_out import checks_text

        grid = run.meta.get("val_grid")  # a closed-form fit chose a value (k, C), not a checkpoint
        note = (f"these validation rows chose {grid or 'the checkpoint'}, the best of {checks_text(looks, grid)} on them: "
                "their score is optimistic and has no interval here; the test split's is the one to quote")
    leaked = _leakage(data, splits) if split == "test" else None
    scored = {"split": split, **metrics, **({"note": note} if note else {}), **({"leakage": leaked} if leaked else {}),
              **({"cut_short": run.meta["cut_short"]} if run.meta.get("cut_short") else {}),
              **({"majority": majority} if (majority := majority_share(data.targets[rows], run.task)) is not None else {})}
    return with_majority_flag(scored if looks > 1 else with_interval(scored))


def _leakage(data: Any, splits: Any) -> dict[str, Any] | None:
    """The test rows that duplicate pool or validation rows (``data.leakage.find_leakage``, as ``compare`` and
    ``check-leakage`` count them: 0.6 s on rotten-tomatoes' 12,808 reviews), when over ``LEAKAGE_WARN`` of them: the
    test score is then optimistic, and says so. None below it."""
    from headstart.data.leakage import LEAKAGE_WARN, find_leakage
    from headstart.surface import spoken

    report = find_leakage(data, splits)
    if report.fraction <= LEAKAGE_WARN:
        return None
    return {"duplicated": report.exact + report.near, "exact": report.exact, "near": report.near, "n_test": report.n_test,
            "fraction": report.fraction,
            "text": f"{report.exact + report.near:,} of the {report.n_test:,} test rows ({100 * report.fraction:.2f}%) duplicate "
                    "training or validation rows, so this test score is optimistic; "
                    + spoken("headstart check-leakage shows them (train --dedupe scores without them)",
                             "headstart.check_leakage shows them (fit(..., dedupe=True) scores without them)")}


def with_interval(scored: dict[str, Any]) -> dict[str, Any]:
    """``scored`` (an evaluation: ``accuracy`` on ``n`` rows) with ``accuracy_ci`` [low, high], the 95% Wilson interval
    of its test-set sampling error: one run has no seed spread, and a score on 285 rows is ±5 points."""
    from headstart.analysis.stats import wilson

    if not isinstance(scored.get("accuracy"), float) or not scored.get("n"):
        return scored
    return {**scored, "accuracy_ci": list(wilson(scored["accuracy"], int(scored["n"])))}


_RUN_DATA: dict[str, Any] = {}


def run_data(run: LoadedRun) -> Any:
    """The dataset a loaded run trained on, read again from where it came from: once a process while that source is
    unchanged (``data.file_state``), since evaluate --eval-data D --tta a,b,c asks for it for the run's own split and
    again for each score of D (~0.8 s each for rotten-tomatoes).

    Raises:
        StoreError: the dataset changed since training (its content hash differs).
        DataError: its file is missing (a DataFrame's copy in the cache: ``memory.check_staged_copy``).
    """
    import json

    from headstart.data import file_state
    from headstart.data.memory import check_staged_copy

    source = run.meta["data_source"]
    key = json.dumps([source, run.resolved["data"]["hash"], None if "name" in source else file_state(source["path"])],
                     sort_keys=True, default=str)
    if key in _RUN_DATA:
        return _RUN_DATA[key]
    if "name" in source:
        data = load_dataset(source["name"])
    else:
        check_staged_copy(source, "this run", task=(run.meta.get("spec") or {}).get("task"))
        data = load_dataset(source["path"], **stored_reading(source))
    if data.hash != run.resolved["data"]["hash"]:
        raise StoreError(f"the data {data.name!r} changed since this run was trained (hash {data.hash} != "
                         f"{run.resolved['data']['hash']}); evaluate on the original file or train again")
    if len(_RUN_DATA) >= 2:  # one run evaluated at a time is the common case: keep memory flat
        _RUN_DATA.clear()
    _RUN_DATA[key] = data
    return data


def _capped_test(data: Any, split: SplitConfig, scored: int, task: str, accuracy: float | None = None) -> str | None:
    """What a ``max_test`` cap traded, when it cut this test split: the rows scored of the split's full size, the
    binomial error that leaves at the accuracy measured, and the setting that scores them all (``--max-test all``; from
    Python ``max_test='all'``)."""
    if split.test_cap is None:
        return None
    from headstart.analysis.stats import wilson
    from headstart.data.splits import uncapped_test_rows

    full = uncapped_test_rows(data, split)
    if full <= scored:
        return None
    error = ""
    if task == "classification" and isinstance(accuracy, float):
        low, high = wilson(accuracy, scored)
        error = f": ±{100 * (high - low) / 2:.1f} points at 95% at this accuracy"
    from headstart.surface import spoken

    every = spoken("--max-test all", "max_test='all'")
    return f"a stratified {scored:,} of the {full:,} test rows{error}; train with {every} to score them all"


def evaluate_ood(run: LoadedRun, text: str, *, tta: str | None = None, rows: str = "test", dedupe: bool = False,
                 progress: PartFn | None = None) -> dict[str, Any]:
    """Metrics of a loaded run on another dataset's test split (``rows="all"``: on every row of it), out of domain
    (``headstart.ood``; ``text`` may map labels: ``"drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]"``);
    with ``dedupe``, less the rows that duplicate the run's own training or validation rows (``dropped`` counts them).
    ``progress(what, done, total, unit)`` (``progress.scoring_counter``): each part counted as ``ood.evaluate_elsewhere``
    counts it (features cached, the pool adapted on, the rows scored), named "scoring DATA" (" after TTA").

    Raises:
        ConfigError: ``dedupe`` for a run whose own data cannot be read back (its rows cannot be found).
    """
    from headstart.backbones import modality_of
    from headstart.ood import evaluate_elsewhere, with_majority_flag
    from headstart.tta import frozen_statistics

    resolved = run.resolved
    backbone = run.model.backbone
    precision = resolved["train"]["precision"]
    autocast = autocast_for(precision, run.device)
    if tta and frozen_statistics(run.model):  # the target's statistics are mapped through the run's own pool inputs
        own = run_data(run)
    else:
        own = SimpleNamespace(hash=resolved["data"]["hash"], task=run.task, label_names=tuple(run.label_names),
                              modality=modality_of(backbone), source=run.meta.get("data_source") or {})

    def cached(data: Any, encoded: list, progress: Callable[[int, int], None] | None = None) -> FeatureCache:
        return FeatureCache(backbone, encoded, data.hash, batch_size=resolved["train"]["eval_batch_size"], autocast=autocast,
                            identity={**backbone.describe(), "precision": precision}, progress=progress)

    seen, unread = own_inputs(run)
    if dedupe and seen is None:  # asked to leave the run's own rows out: scoring them all would not be what was asked
        raise ConfigError(_NO_DEDUPE.format(unread=unread))
    unchecked = f"not checked for rows the run trained on ({unread})" if unread else None
    found = evaluate_elsewhere(run.model, backbone, text, run_data=own, split_config=SplitConfig(**resolved["data"]["split"]),
                               batch_size=resolved["train"]["eval_batch_size"], autocast=autocast,
                               features=cached if run.meta["backbone_saved"] == "none" else None, tta=tta,
                               seed=int(resolved["seed"]), rows=rows, seen=seen, dedupe=dedupe,
                               progress=scoring_part(progress, text, tta))
    note = "; ".join(n for n in (found["note"], unchecked) if n)
    part = "every row" if rows == "all" else "test"
    return with_majority_flag(with_interval({
            "split": f"{part} of {found['data']}" + (f" after {tta}" if tta else ""), "n": found["test_rows"], **found["metrics"],
            **({"majority": found["majority"]} if found.get("majority") is not None else {}),
            **({"one_class": found["one_class"]} if found.get("one_class") else {}), **({"tta": tta} if tta else {}),
            **({"leakage": found["leakage"]} if found.get("leakage") else {}),
            **({"dropped": found["dropped"]} if found.get("dropped") else {}), **({"note": note} if note else {})}))


_NO_DEDUPE = ("--dedupe cannot leave out the run's own training and validation rows: its data does not read back "
              "({unread}); drop --dedupe to score every row of --eval-data")


def check_ood(run: LoadedRun, texts: list[str] | tuple[str, ...], *, tta: list[str] | tuple[str, ...] = (),
              rows: str = "test", dedupe: bool = False) -> None:
    """Refuse, before anything is scored, what ``evaluate_ood`` would refuse of each of ``texts`` only once it came to
    it (after the run's own split and the datasets before it, minutes on a large run): a dataset that is unknown,
    unreadable, the run's own, of another task or whose labels do not map; too small to cut a test part; ``rows="all"``
    with a ``tta`` method that adapts on a pool; a ``tta`` method that cannot adapt this run (bn-adapt without
    BatchNorm, tent on a regression run); ``dedupe`` where the run's own rows do not read back.

    Raises:
        ConfigError, DataError: as ``evaluate_ood`` would, with the same line.
    """
    from headstart.backbones import modality_of
    from headstart.ood import check_elsewhere, check_rows, mapped_targets, rows_read
    from headstart.strategies import get_strategy
    from headstart.tta import check_applies, check_methods

    tta = check_methods(tuple(tta)) if tta else ()
    for method in (None, *tta):
        check_rows(rows, method)
        if method is not None:
            check_applies(method, run.model, run.task, get_strategy(run.resolved["strategy"]), given=tuple(tta))
    own = SimpleNamespace(hash=run.resolved["data"]["hash"], task=run.task, label_names=tuple(run.label_names),
                          modality=modality_of(run.model.backbone), source=run.meta.get("data_source") or {})
    split_config = SplitConfig(**run.resolved["data"]["split"])
    for text in texts:
        data, mapping, _ = check_elsewhere(text, own)
        mapped_targets(data, rows_read(data, split_config, rows=rows), mapping, own.label_names)
    if dedupe and texts:
        seen, unread = own_inputs(run)
        if seen is None:
            raise ConfigError(_NO_DEDUPE.format(unread=unread))


def own_inputs(run: LoadedRun) -> tuple[dict[str, list[Any]] | None, str | None]:
    """The run's own training and validation inputs, as ``data.leakage.comparable`` gives them, for
    ``ood.evaluate_elsewhere`` to find among another file's rows (the training rows spec.json records; the whole pool
    for a run saved before it did); or None and the error, where the run's data cannot be read back as it trained."""
    from headstart.data.leakage import DEFAULT_THRESHOLD, comparable
    from headstart.errors import HeadstartError

    try:  # a check beside the score: whatever keeps the run's data from reading back leaves the score as it is
        data = run_data(run)
        splits = split_dataset(data, SplitConfig(**run.resolved["data"]["split"]))
    except (HeadstartError, OSError) as e:
        return None, str(e)
    train = run.meta.get("train_rows")
    train = splits.pool if train is None else np.asarray(train, dtype=np.int64)
    inputs, _ = comparable(data, DEFAULT_THRESHOLD)
    return {"training": [inputs[i] for i in train], "validation": [inputs[i] for i in splits.val]}, None


def predict_loaded(run: LoadedRun, texts: list[Any], *, batch_size: int = 128,
                   columns: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Predictions for raw inputs: label + class probabilities, labels (multilabel), or a value (regression). A run
    trained on a text pair (``--text-column premise,hypothesis``) reads each input as a ``(first, second)`` tuple (or
    2-list) of texts, and its rows give them under the two column names (``columns``, default: the run's own).

    One ``str`` is one input (a text; for an image run, an image's path, as a ``Path`` is) and gives a one-row list, as
    ``[texts]`` does; a text run refuses one ``str`` that names an existing file, or reads as a table file's name
    (its rows were meant: read them with ``headstart.data.read_inputs``; ``[texts]`` predicts the words).

    Raises:
        ConfigError: ``texts`` is bytes, a ``Path`` (or one str naming a file, or reading as a table file's name) for a
            text run (a file of inputs: read it first), or no collection at all; a single text for a pair run, or a
            pair for a single-text run; an empty (or blank) text, which ``headstart predict`` drops from a file with a
            note.
    """
    image = getattr(run.model.backbone, "modality", "text") == "image"
    if isinstance(texts, str) and not image and (os.path.isfile(texts) or (  # a file's name, meant as its rows
            Path(texts).suffix.lower() in SUFFIXES and not any(c.isspace() for c in texts))):
        which = "names a file" if os.path.isfile(texts) else "reads as a file's name (no such file here)"
        raise ConfigError(f"predict got {texts!r}, which {which}: to predict its rows read them first, "
                          f"headstart.data.read_inputs({texts!r}); to predict those words as a text, pass [{texts!r}]")
    if image and isinstance(texts, (str, Path)) and (os.path.isdir(texts) or Path(texts).suffix.lower() in SUFFIXES):
        raise ConfigError(f"predict got {str(texts)!r}, a folder or table of images, not one: read a folder's or a table's "
                          "images first: names, images, columns = headstart.data.read_image_inputs(PATH), then "
                          "predict(run, images)")
    if isinstance(texts, str) or (image and isinstance(texts, Path)):  # one input, not a string's characters
        texts = [texts]
    if isinstance(texts, (bytes, Path)):
        shown = repr(str(texts) if isinstance(texts, Path) else texts)
        shown = shown if len(shown) <= 42 else shown[:38] + "...'"
        kind, fix = (("bytes", "decode them to a str first, e.g. data.decode('utf-8')") if isinstance(texts, bytes) else
                     ("path", "read its inputs first: headstart.data.read_inputs(PATH), or pass a text as a str"))
        raise ConfigError(f"predict takes a text or a list of inputs, got {kind} {shown}; {fix}")
    try:
        texts = list(texts)
    except TypeError:  # None, a number: not a collection of inputs
        raise ConfigError(f"predict takes a list of inputs, got {type(texts).__name__} {texts!r:.40}; e.g. "
                          "['a gripping, funny film']") from None
    if not texts:
        return []
    # numpy's str (an array's items) is a str, but each row echoes its text: a plain one reads 'a joy', not np.str_('a joy')
    texts = [str(t) if isinstance(t, str) and type(t) is not str else t for t in texts]
    backbone = run.model.backbone
    pair = None if image else run_pair(run.meta.get("data_source"))
    if pair is not None:
        pairs = pair_inputs(texts, pair)
        texts = [f"{a.replace(PAIR_SEP, ' ')}{PAIR_SEP}{b.replace(PAIR_SEP, ' ')}" for a, b in pairs]
    elif not image:
        at = next((i for i, t in enumerate(texts) if isinstance(t, (tuple, list))), None)
        if at is not None:
            raise ConfigError(f"this run reads single texts, got a {type(texts[at]).__name__} {texts[at]!r:.60} (input "
                              f"{at + 1}); pass one str per input, e.g. ['a gripping, funny film']; a (first, second) pair "
                              "is read by a run trained on two columns (--text-column FIRST,SECOND)")
        blank = [i for i, t in enumerate(texts) if isinstance(t, str) and not t.strip()]
        if blank:  # headstart predict drops such a row with a note, its other columns kept beside each prediction; a
            # list has no columns to keep its place by, so it is refused rather than shortened
            more = f" (and {len(blank) - 1} more)" if len(blank) > 1 else ""
            raise ConfigError(f"input {blank[0] + 1} of {len(texts)} is empty text{more}, nothing to predict from; leave "
                              "it out, e.g. [t for t in texts if t.strip()] (headstart predict drops such a row, and "
                              "headstart.data.read_inputs too, each with a note)")
    names = [str(t) if isinstance(t, (str, Path)) else None for t in texts]
    if image:  # image paths are read here (arrays pass as they are); a row names its path, not the pixels
        from headstart.data.images import read_image

        texts = [read_image(Path(t)) if isinstance(t, (str, Path)) else t for t in texts]
    encoded = backbone.encode(texts)
    autocast = autocast_for(run.resolved["train"]["precision"], run.device)
    outputs = model_outputs(run.model, encoded, np.arange(len(texts)), batch_size=batch_size, autocast=autocast)
    predictions = outputs_to_predictions(outputs, run.task, run.model)
    rows = []
    for text, p in zip(texts, predictions):
        if run.task == "regression":
            rows.append({"text": text, "prediction": float(p)})
        elif run.task == "multilabel":
            rows.append({"text": text, "labels": [n for n, q in zip(run.label_names, p) if q >= 0.5],
                         "probabilities": {n: float(q) for n, q in zip(run.label_names, p)}})
        else:
            rows.append({"text": text, "label": run.label_names[int(p.argmax())],
                         "probabilities": {n: float(q) for n, q in zip(run.label_names, p)}})
    if image:
        rows = [{**({"input": name} if name is not None else {}), **{k: v for k, v in row.items() if k != "text"}}
                for name, row in zip(names, rows)]
    if pair is not None:  # the two texts under their columns' names, never joined by the internal PAIR_SEP
        first, second = columns or pair
        rows = [{first: a, second: b, **{k: v for k, v in row.items() if k != "text"}} for (a, b), row in zip(pairs, rows)]
    return rows


def pair_inputs(inputs: list[Any], pair: tuple[str, str]) -> list[tuple[str, str]]:
    """``inputs`` as (first, second) texts for a run trained on the columns ``pair``.

    Raises:
        ConfigError: an input that is not a 2-tuple or 2-list of strings (a single text among them).
    """
    for i, item in enumerate(inputs):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(t, str) for t in item)):
            raise ConfigError(f"this run reads text pairs ({pair[0]}, {pair[1]}), got {type(item).__name__} {item!r:.60} "
                              f"(input {i + 1}); pass ({pair[0]}, {pair[1]}) tuples of two strings, e.g. "
                              "[('a film about x', 'a film')]")
    return [(a.strip(), b.strip()) for a, b in inputs]
