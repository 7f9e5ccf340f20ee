"""Rank pre-trained backbones for a labelled dataset from frozen features, in seconds, without training any.

For each backbone: the N labelled rows ``train --n N --seed S`` would train on (the same split and stratified
subsample), their features exactly as linear-probe reads them (``recipe.setup`` of a linear-probe run, then its
feature cache: same preprocessing, pooling, precision and batching, and the cache those runs share), and three
transferability scores of those features (``headstart.transferability``): LogME, the shrinkage H-score and the
k-NN leave-one-out accuracy. The test split is never read. Nothing goes into a sweep store; ``out`` gets a
``rank.json``. Given a compare store (``measured``), the measured ranking of the same backbones is set beside the
predicted one with Kendall's tau per score (``analysis.backbone_ranking``).

An image backbone reads the input side a compare of it would: ``image_size`` (``--image-size``), else the data's
default for the backbones ranked together (``data_defaults.fill``, as ``compare --backbones`` fills it); with a store,
unless ``image_size`` is given, the side that backbone's measured runs read, so that the scores and the accuracies
they are checked against see the same pixels. The feature cache is keyed by the side (``ImageBackbone.describe``).

By default N is the whole pool up to ``MAX_ROWS`` rows: LogME and the H-score cost O(N·D²), k-NN O(N²·D), and the
features O(N) backbone passes, which dominate.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from headstart.interrupts import sigterm_as_interrupt
from headstart.analysis.backbone_ranking import SCORES
from headstart.data.memory import names_passed_data, shown_name
from headstart.errors import ConfigError
from headstart.python_checks import python_named
from headstart.progress import progress_bar, progress_default
from headstart.transferability import KNN_K

MAX_ROWS = 2000  # default N cap: ~2k rows rank sentence encoders as their probes at "all" do, in seconds per score


@dataclass(frozen=True)
class BackboneScore:
    """One backbone's scores on the drawn rows (higher is better for each) and where its time went."""

    backbone: str  # as given
    name: str  # as a compare store records it (``describe()["name"]``)
    dim: int
    logme: float
    h_score: float
    knn_loo: float
    load_seconds: float
    feature_seconds: float  # setup + features of the rows (fast when the feature cache already has them)
    score_seconds: float
    image_size: int | None = None  # the input side an image backbone read (``describe()["image_size"]``); None for text

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.feature_seconds + self.score_seconds


@dataclass
class RankResult:
    """What ``rank_backbones`` returns: the rows scored and the backbones, best first by LogME; with ``measured``,
    the store's measured means (``analysis.backbone_ranking.measured``) and Kendall's tau per score."""

    data: str
    data_hash: str
    n: int
    n_requested: int | str
    seed: int
    scores: list[BackboneScore]
    image_size: int | None = None  # as asked (--image-size); each score's ``image_size`` is the side it read
    notes: list[dict[str, str]] = field(default_factory=list)  # ``{"reason", "text", "advice"}``: what chose a side
    measured: dict[str, Any] | None = None
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)
    out: Path | None = None
    report: Path | None = None  # out's report.md, re-rendered with the ranking when out holds a compare store
    report_error: str | None = None  # why that re-render failed (rank.json is written all the same)

    def __repr__(self) -> str:  # one line: the scores hold each backbone's timings
        best = self.scores[0] if self.scores else None
        return (f"RankResult({self.data}, n {self.n}: {len(self.scores)} backbone(s)"
                + (f", best {best.name} (LogME {best.logme:.4g})" if best else "")
                + (f"; Kendall's tau of LogME vs measured {tau:.2f}" if (tau := (self.agreement.get("logme") or {}).get("tau"))
                   is not None else "")
                + f"; out={self.out})")

    def measured_mean(self, row: BackboneScore) -> float | None:
        found = (self.measured or {}).get("backbones", {}).get(row.name)
        return None if found is None else found["mean"]

    def to_json(self) -> dict[str, Any]:
        return {"data": self.data, "data_hash": self.data_hash, "n": self.n, "n_requested": self.n_requested,
                "seed": self.seed, "knn_k": KNN_K, "image_size": self.image_size, "notes": self.notes,
                "backbones": [{**asdict(s), "seconds": s.seconds, "measured": self.measured_mean(s)} for s in self.scores],
                "measured": self.measured, "agreement": self.agreement,
                "report": None if self.report is None else str(self.report)}


def check_out(out: str | Path) -> None:
    """Refuse an ``--out`` that would overwrite a user's files: it must be new or empty, a compare store (its report
    gains the ranking), or an earlier ranking's folder (a rank.json that headstart wrote, and nothing else).

    Raises:
        ConfigError: ``out`` holds something else (named), or cannot be written.
    """
    from headstart.errors import ConfigError
    from headstart.outdir import check_writable, held, ignored, sibling

    out = Path(out)
    found = held(out)
    if found == "file":
        raise ConfigError(f"--out {str(out)!r} is a file, not a folder; choose a folder, e.g. {str(out.with_suffix(''))!r}")
    if found not in (None, "compare", "store"):
        entries = sorted(p.name for p in out.iterdir() if not ignored(p.name))
        if not (entries == ["rank.json"] and _is_ranking(out / "rank.json")):
            raise ConfigError(f"--out {str(out)!r} holds {', '.join(entries[:3])}{', …' if len(entries) > 3 else ''}, "
                              "not a compare store or an earlier ranking; nothing was written there; choose a new or empty "
                              f"folder, e.g. {str(sibling(out, 'rank'))!r}")
    check_writable(out)


def _is_ranking(path: Path) -> bool:
    """Whether ``path`` is a rank.json that ``rank_backbones`` wrote (``RankResult.to_json``), not a file of the user's."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(payload, dict) and isinstance(payload.get("backbones"), list) and "data_hash" in payload


@python_named
@names_passed_data
@sigterm_as_interrupt()  # timeout / a scheduler's limit stops it as Ctrl-C does, not silently (exit 143)
def rank_backbones(data: Any = "rotten-tomatoes", backbones: str | list[str] | None = None, *, n: int | str | None = None, seed: int = 0,
                   image_size: int | None = None, out: str | Path | None = None, measured: str | Path | None = None, arm: str | None = None,
                   size: int | str | None = None, text_column: str | None = None, label_column: str | None = None,
                   group_column: str | None = None, split_column: str | None = None, task: str | None = None,
                   progress: bool | None = None) -> RankResult:
    """Score each backbone's frozen features on ``n`` labelled pool rows; rank them by LogME.

    Args:
        data: built-in dataset name, a data file, or in-memory data (as ``fit``); classification only; default
            rotten-tomatoes, as the CLI's.
        backbones: names or local model folders (list or "a,b,c"), each at most once; required.
        n: pool rows to score (int or "all"); default the whole pool up to ``MAX_ROWS``. The rows are those
            ``train --n n --seed seed`` trains on.
        seed: the subsample's seed.
        image_size: input side of the image backbones, as ``compare``'s (``TrainConfig.image_size``); None: the data's
            default (160 for images of 32 px or less on a 224 network, else the network's own), or with ``measured``
            the side each backbone's measured runs read. Refused for text backbones.
        out: a directory to write ``rank.json`` into (atomically); None writes nothing. When it holds a compare store
            (``runs.sqlite``), its report is re-rendered: report.md / .html gain "Backbones ranked before training".
        measured: a ``compare --backbones`` store (its ``--out``) to set the measured ranking beside the predicted.
        arm / size: which of the store's arms and requested sizes is measured (default linear-probe, the largest).
        progress: a bar over the backbones on stderr (each one's forward pass over the rows is most of the time);
            None (the default): on where someone watches it — stderr a terminal, or a Jupyter notebook — off in a
            script's log, as ``compare``'s. True or False: as said.
        text_column / label_column / group_column / split_column: how to read a data file (as ``fit``).
        task: "classification" reads a file's numeric labels as classes (inferred otherwise, as ``fit``'s).

    Returns:
        A ``RankResult``.

    Raises:
        HeadstartError: an unknown backbone or one that fails to load (naming it and the fix), an ``image_size`` out
            of range or given for a text backbone (as compare's), a regression or multi-label dataset, an ``n`` the
            pool cannot give, a store that measured other data or lacks the arm/size.

    Example:
        >>> headstart.rank_backbones("rotten-tomatoes", "all-minilm-l6-v2,ENCODER_FOLDER").scores[0].backbone
    """
    import numpy as np

    from headstart.analysis.backbone_ranking import agreement
    from headstart.data.memory import as_data
    from headstart.data import load_dataset, split_dataset
    from headstart.errors import ConfigError
    from headstart.features import feature_cache
    from headstart.recipe import setup
    from headstart.arguments import check_once, parse_n
    from headstart.data_defaults import fill, image_backbone
    from headstart.specs import RunSpec, TrainConfig, file_options
    from headstart.backbones.base import modality_of
    from headstart.sweep_spec import parse_list
    from headstart import transferability

    if measured is None and (arm is not None or size is not None):
        raise ConfigError("--arm and --size choose what --measured reads; add --measured DIR (a compare store)")
    if out is not None:
        check_out(out)
    names = list(parse_list(backbones, name="--backbones", noun="backbone") if isinstance(backbones, str) else backbones or [])
    if not names or not all(isinstance(b, str) and b.strip() for b in names):
        raise ConfigError(f"--backbones must name backbones, e.g. all-minilm-l6-v2,ENCODER_FOLDER; got {backbones!r}")
    check_once("--backbones", names, "backbone")
    data, split_column = as_data(data, text_column=text_column, label_column=label_column, task=task,
                                  group_column=group_column, split_column=split_column)
    capped, asked = n is None, None if n is None else parse_n(n)  # unset: the pool up to MAX_ROWS; "all": the pool
    if asked == 0:
        raise ConfigError("rank-backbones scores features against labels and --n 0 draws none; try --n 256, or leave --n out")
    base = RunSpec(data=data, backbone=names[0], strategy="linear-probe", seed=seed, text_column=text_column,
                   label_column=label_column, group_column=group_column, split_column=split_column, task=task,
                   train=TrainConfig(image_size=image_size))  # checked as compare's --image-size is
    dataset = load_dataset(base.data, **file_options(base))
    if dataset.task != "classification":
        numbers = (" (pass --task classification if its numbers are classes)"
                   if dataset.task == "regression" and task is None else "")
        raise ConfigError(f"rank-backbones scores class labels; {dataset.name!r} is a {dataset.task} dataset{numbers} "
                          "(compare the backbones on it instead: headstart compare --backbones ...)")
    table = _measured(Path(measured), data_hash=dataset.hash, arm=arm, size=size) if measured is not None else None
    notes: list[dict[str, str]] = []
    if any(image_backbone(b) for b in names):  # the input side and pool a compare of these backbones would read
        train, split, notes = fill(dataset, names, base.train, base.split)
        base = dataclasses.replace(base, train=train, split=split)
        notes = [note for note in notes if note["reason"] != "test-cap"]  # the test split is never read here
    pretrained = {name: _load(base, name, beside=names) for name in names}  # every backbone loads before any is scored
    if table is not None:
        notes += _as_measured(pretrained, base, table.get("image_sizes") or {}, asked=image_size)
    misfits = [name for name, (loaded, _) in pretrained.items() if modality_of(loaded) != dataset.modality]
    if misfits:
        raise ConfigError(f"{dataset.name!r} holds {dataset.modality}s but --backbones {', '.join(misfits)} "
                          f"read{'s' if len(misfits) == 1 else ''} other inputs; rank backbones of the data's kind "
                          f"(headstart backbones lists them)")
    scores, rows_n, n_used = [], None, 0
    with progress_bar("rank-backbones", enabled=progress_default(progress)) as update:
        for number, name in enumerate(names):
            if update:  # each backbone's forward pass over the rows is most of the time: minutes for an image network
                update(number, len(names), {"scoring": name})
            loaded, load_seconds = pretrained.pop(name)
            start = time.perf_counter()
            side = loaded.describe().get("image_size")
            spec = dataclasses.replace(base, backbone=name, train=dataclasses.replace(base.train, image_size=side))
            pool = split_dataset(dataset, spec.split).pool
            rows_n = (None if len(pool) <= MAX_ROWS else MAX_ROWS) if capped else asked
            s = setup(dataclasses.replace(spec, n=rows_n), data=dataset, pretrained=loaded)
            features = feature_cache(s)(s.train_rows).double().numpy()
            labels = np.asarray(s.data.targets[s.train_rows], dtype=np.int64)
            feature_seconds = time.perf_counter() - start
            start = time.perf_counter()
            values = {"logme": transferability.logme(features, labels), "h_score": transferability.h_score(features, labels),
                      "knn_loo": transferability.knn_loo(features, labels)}
            scores.append(BackboneScore(backbone=name, name=str(loaded.describe()["name"]), dim=int(features.shape[1]),
                                        image_size=side, **values, load_seconds=load_seconds, feature_seconds=feature_seconds,
                                        score_seconds=time.perf_counter() - start))
            n_used = len(s.train_rows)
            del s, loaded  # freed before the next backbone is scored
        if update:
            update(len(names), len(names), {})
    scores.sort(key=lambda row: -row.logme)
    result = RankResult(data=shown_name(dataset.name), data_hash=dataset.hash, n=n_used, n_requested="all" if rows_n is None else rows_n,
                        seed=seed, scores=scores, image_size=image_size, notes=notes)
    if table is not None:
        means = {b: v["mean"] for b, v in table["backbones"].items()}
        result.measured = table
        per_seed = {b: v.get("values") or [] for b, v in table["backbones"].items()}
        result.agreement = {score: agreement({s.name: getattr(s, score) for s in scores}, means, per_seed) for score in SCORES}
    if out is not None:
        from headstart.atomic import write_json
        from headstart.errors import StoreError

        result.out = Path(out)
        try:
            result.out.mkdir(parents=True, exist_ok=True)
            write_json(result.out / "rank.json", result.to_json())
        except OSError as e:
            raise StoreError(f"cannot write {str(result.out / 'rank.json')!r} ({e.strerror or type(e).__name__}); "
                             "choose another --out") from None
        if (result.out / "runs.sqlite").exists():  # a compare store: its report gains the ranking beside what it measured
            from headstart.errors import HeadstartError
            from headstart.report.render import rerender

            try:
                result.report = rerender(result.out)["report.md"]
            except HeadstartError as e:  # the ranking is computed and written: say what failed, do not lose it
                result.report_error = str(e)
    return result


def _load(spec: Any, name: str, *, beside: list[str] = ()) -> tuple[Any, float]:
    """The backbone ``name`` as a linear-probe run loads it, and the seconds it took.

    Raises:
        BackboneError: it cannot be loaded, naming it and the fix (an unknown name lists the built-in ones).
        ConfigError: it cannot read ``spec``'s image size; with other backbones ``beside`` it (ranked at that size too),
            the way to rank them at it all the same (its own refusal says "drop --image-size", losing the size for them).
    """
    from headstart.backbones.naming import listed_in
    from headstart.errors import BackboneError, HeadstartError
    from headstart.recipe import load_pretrained

    start = time.perf_counter()
    try:
        with listed_in("--backbones"):  # its errors name the list it is in, not --backbone
            loaded = load_pretrained(dataclasses.replace(spec, backbone=name))
    except ConfigError as error:
        others, size = [b for b in beside if b != name], spec.train.image_size
        if size is None or not others:
            raise
        raise ConfigError(f"{error}, or, as --image-size {size} applies to every backbone ranked, rank {name} apart, "
                          f"without it, to read {', '.join(others)} at {size}") from None
    except HeadstartError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as e:  # a damaged folder: transformers' and safetensors' errors
        reason = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise BackboneError(f"backbone {name!r} failed to load ({reason}); check the folder (config.json + *.safetensors) "
                            "or drop it from --backbones") from None
    return loaded, time.perf_counter() - start


def _as_measured(pretrained: dict[str, tuple[Any, float]], base: Any, sides: dict[str, list[int]], *,
                 asked: int | None) -> list[dict[str, str]]:
    """Reload each image backbone of ``pretrained`` in place at the side its measured runs read (``sides``, by stored
    name: ``analysis.backbone_ranking.measured``'s ``image_sizes``), unless ``--image-size`` was ``asked``; a note
    ``{"reason", "text", "advice"}`` for each backbone reloaded, and for each still read at another side than its runs."""
    notes = []
    for name, (loaded, _) in list(pretrained.items()):
        identity = loaded.describe()
        read, own = sides.get(str(identity["name"])) or [], identity.get("image_size")
        if own is None or not read or read == [own]:
            continue
        runs_read = " and ".join(f"{side}x{side}" for side in read)
        if len(read) > 1:
            notes.append({"reason": "measured-image-size",
                          "text": f"reads {name} at {own}x{own} px; its measured runs read {runs_read} px",
                          "advice": "set it beside runs of one size (--arm / --size, or a compare at one --image-size)"})
        elif asked is not None:
            notes.append({"reason": "measured-image-size",
                          "text": f"reads {name} at {own}x{own} px (--image-size) but its measured runs read {runs_read} px, "
                                  "so the scores and the accuracies set beside them see other pixels",
                          "advice": f"--image-size {read[0]} to read it as they did"})
        else:
            pretrained[name] = _load(dataclasses.replace(base, train=dataclasses.replace(base.train, image_size=read[0])), name)
            notes.append({"reason": "measured-image-size",
                          "text": f"reads {name} at {runs_read} px, as its measured runs did (not {own}x{own})",
                          "advice": f"--image-size {own} to read it at {own} all the same"})
    return notes


def _measured(store_dir: Path, *, data_hash: str, arm: str | None, size: int | str | None) -> dict[str, Any]:
    """What the compare store in ``store_dir`` measured per backbone (``analysis.backbone_ranking.measured``).

    Raises:
        StoreError: no store there. ConfigError: it measured other data, or lacks the arm or size.
    """
    from headstart.analysis.backbone_ranking import measured
    from headstart.arguments import parse_n
    from headstart.store import Store

    from headstart.outdir import KINDS, held

    kind = held(store_dir)
    if kind in ("continual", "multitask"):  # a store of runs, but not of one task's backbones on its sizes
        raise ConfigError(f"--measured {str(store_dir)!r} holds {KINDS[kind]}, not a compare store; give the --out of a "
                          "compare over these backbones (--backbones) on this --data")
    with Store(store_dir, create=False) as store:
        results = store.results()
    wanted = None if size is None else ("all" if parse_n(size, flag="--size") is None else parse_n(size, flag="--size"))
    return measured(results, data_hash=data_hash, arm=arm, size=wanted)
