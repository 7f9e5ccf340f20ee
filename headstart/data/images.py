"""User images: folders of class folders, tables of image paths, and the reading of one image file.

Every reader returns uint8 arrays, (H, W) grey or (H, W, 3) RGB, shrunk to fit ``MAX_SIDE``; the backbone resizes
them. The built-in image datasets are in ``builtin.py``; a table of image paths is read by ``files.py``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from headstart.data.dataset import Dataset
from headstart.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_SIDE = 512  # user images are shrunk to fit this on load: larger than any backbone input, 768 KB per RGB image at most
log = logging.getLogger(__name__)  # files skipped while reading; the CLI prints these as "note: ..." lines, as files.py's


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
    except FileNotFoundError:
        raise DataError(f"image file not found: {str(path)!r}; check the path") from None
    except IsADirectoryError:
        raise DataError(f"{str(path)!r} is a folder, not an image file; give an image, or the folder itself where a "
                        "folder of images is read") from None
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
        raise _not_an_image_folder(root, "without class folders")
    found = [sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")) for folder in classes]
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for entries in found for p in entries):
        raise _not_an_image_folder(root, "whose folders hold no images")
    files, labels, notes = [], [], []
    for label, (folder, entries) in enumerate(zip(classes, found)):
        images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise DataError(f"class folder {str(folder)!r} has no images ({', '.join(IMAGE_SUFFIXES)}); add some or remove the folder")
        if len(entries) > len(images):
            skipped = len(entries) - len(images)
            notes.append(f"ignored {skipped} non-image file{'s' if skipped != 1 else ''} in {folder.name!r}")
            log.info("%s: %s", root.name, notes[-1])
        files += images
        labels += [label] * len(images)
    if len(classes) < 2:
        raise DataError(f"{str(root)!r} has a single class folder ({classes[0].name!r}); classification needs at least two")
    return Dataset(name=root.name, inputs=[read_image(p) for p in files], targets=np.asarray(labels, dtype=np.int64),
                   task="classification", label_names=tuple(d.name for d in classes), notes=tuple(notes), modality="image",
                   source={"path": str(root.resolve()), "text_column": None, "label_column": None, "task": "classification"},
                   origins=tuple(str(p.relative_to(root)) for p in files))


def _not_an_image_folder(root: Path, why: str) -> DataError:
    """A folder given as data that is no folder of class folders of images: the fix names a table in it, if it has one."""
    from headstart.data.frames import INPUTS_ONLY, SUFFIXES, data_files

    tables = sorted(p for p in (*root.glob("*"), *root.glob("*/*"))
                    if p.is_file() and p.suffix.lower() in SUFFIXES and p.suffix.lower() not in INPUTS_ONLY)
    fix = f"give one of its tables as the data, e.g. {str(tables[0])!r}" if tables else f"give {data_files(labelled=True)}"
    return DataError(f"{str(root)!r} is a directory {why}; {fix}, or a folder of images laid out as "
                     f"{root.name}/<class>/<image>.png")


def looks_like_image_paths(values: list) -> bool:
    """Most non-empty cells are file names with an image suffix (a table of images, not of texts)."""
    cells = [v.strip().lower() for v in values if isinstance(v, str) and v.strip()]
    return len(cells) >= 0.5 * len(values) > 0 and sum(c.endswith(IMAGE_SUFFIXES) for c in cells) >= 0.9 * len(cells)


def resolve_image_paths(values: list[str], table: Path | None) -> list[np.ndarray]:
    """The images a table names, paths relative to the table file's folder, or to the working directory for a
    DataFrame (``table`` None); absolute paths kept.

    Raises:
        DataError: a named file is missing or unreadable.
    """
    out = []
    for value in values:
        path = Path(value.strip())
        path = path if path.is_absolute() or table is None else table.parent / path
        if not path.exists():
            where, relative = ((f"{str(table)!r}", "the table's folder") if table is not None
                               else ("the DataFrame", f"the working directory ({os.getcwd()})"))
            raise DataError(f"image {str(path)!r} named in {where} does not exist; paths are read relative to {relative}")
        out.append(read_image(path))
    return out
