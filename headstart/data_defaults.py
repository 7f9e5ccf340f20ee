"""Defaults that depend on the data: filled into a run's (or a sweep's) settings before it is keyed, each said in a note.

On a CPU an image network pays per input pixel and per scored image. Two defaults follow from that, and both apply
only where the user left the setting unset:

- **Input side.** Images no larger than ``SMALL_SIDE`` pixels (Fashion-MNIST, MNIST, the digit sets) are upsampled
  by a network trained at 224 either way; ``SMALL_INPUT`` (160) reads them 2.4-3.4x faster than 224 and its probe on
  Fashion-MNIST's pool rows scores as well (0.9 points higher, within the scored images' error), ~3 points above 128, which is ~2x faster still
  (``benchmarks/image_sizes.py``, docs/DESIGN.md "Images", docs/BENCHMARKS.md "Image defaults").
- **Test split.** A test split over ``IMAGE_MAX_TEST`` images keeps a stratified ``IMAGE_MAX_TEST`` (the rest go to
  the pool): ``evaluate`` of 2,000 Fashion-MNIST test images at 160 px takes ~30 s on a quiet 2-core EPYC, the 14,000
  about 7x that, for a binomial error of ±1.9 points (95%) near 75% accuracy instead of ±0.7.

Text runs are never changed. ``--image-size`` / ``image_size`` and ``--max-test`` / ``[split] max_test`` override
(``--max-test all``: every test image, said with what it costs).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from headstart.data.split_notes import IMAGE_MAX_TEST  # defined with the split's notes, which name it as a default
from headstart.surface import spoken

SMALL_SIDE = 32
SMALL_INPUT = 160


def input_side(backbone: str) -> int | None:
    """The input side a built-in image backbone was trained at; None for text or unknown backbones."""
    from headstart.backbones.registry import REGISTRY

    entry = REGISTRY.get(backbone)
    return entry.input_side if entry is not None and entry.modality == "image" else None


def image_backbone(backbone: str) -> bool:
    """Whether ``backbone`` reads images: a built-in image network or a saved image-backbone folder (meta-train's
    arms). Decided without loading it or the data, so that a text run never loads its data to learn nothing applies."""
    from pathlib import Path

    from headstart.backbones.image_folder import is_image_folder

    return input_side(backbone) is not None or is_image_folder(Path(backbone).expanduser())


def seen_by(backbone: str) -> tuple[tuple[str, ...], str]:
    """The datasets whose classes ``backbone`` was pre-trained on, and the built-in backbone that says so: a saved
    folder (a meta-train's ``OUT/<arm>``) is followed back through its manifest's ``trained_by`` to the backbone it
    started from, so its caveat is not lost."""
    import json
    from pathlib import Path

    from headstart.backbones.registry import REGISTRY

    name = backbone
    for _ in range(8):  # a chain of saved folders, each naming the one it was trained from
        if name in REGISTRY:
            return tuple(getattr(REGISTRY[name], "seen", ())), name
        try:
            manifest = json.loads((Path(name) / "headstart-image.json").read_text())
        except (OSError, ValueError):
            break
        trained_by = manifest.get("trained_by") if isinstance(manifest, dict) else None
        origin = trained_by.get("backbone") if isinstance(trained_by, dict) else None  # a damaged manifest: no known origin
        if not isinstance(origin, str) or origin == name:
            break
        name = origin
    return (), backbone


def _seen_note(backbone: str, data: str, origin: str) -> dict[str, str]:
    """The note of a run whose backbone was pre-trained on the data's own classes: not transfer to a new task."""
    return {"reason": "seen-classes",
            "text": f"reads {data} with {backbone}" + (f" (trained from {origin})" if origin != backbone else "")
                    + ", whose pre-training already taught it these classes (MNIST's digits"
                    + ("; mnist-5k's images are probably among its training images: its own classifier scores 99.9% "
                       "on them" if data == "mnist-5k" else "") + "), so its scores say how far that knowledge carries, "
                    "not how well it transfers to a new task",
            "advice": "use fashion-mnist, or a backbone that never saw these classes (efficientnet-lite0), to measure transfer"}


def largest_side(data: Any) -> int:
    """The longest side of any image in ``data`` (its inputs are (H, W) or (H, W, C) arrays)."""
    return max((max(image.shape[:2]) for image in data.inputs), default=0)


def binomial_half_width(rows: int, accuracy: float = 0.75) -> float:
    """Half-width in points of the 95% binomial interval of an accuracy measured on ``rows`` rows."""
    return 100 * 1.96 * math.sqrt(accuracy * (1 - accuracy) / rows)


def test_capped(data: Any, split: Any) -> bool:
    """Whether ``fill`` caps ``data``'s test rows where no ``max_test`` is given (an image test split over
    ``IMAGE_MAX_TEST``): where it does not, no ``max_test`` and "all" read the same rows."""
    return (getattr(data, "modality", "text") == "image" and data.given_split is None
            and round(split.test_fraction * len(data.inputs)) > IMAGE_MAX_TEST)


def fill(data: Any, backbones: list[str], train: Any, split: Any, *,
         call: str = "compare") -> tuple[Any, Any, list[dict[str, str]]]:
    """``train`` (TrainConfig) and ``split`` (SplitConfig) with the data's defaults filled in, and a note for each.

    Each note is ``{"reason", "text", "advice"}``, printed as "note: this run {text}; {advice}". ``call``: the public
    function the notes answer (``"fit"`` or ``"compare"``, as ``analysis.flags.asked`` takes it), whose keywords a
    Python caller is told (``--image-size 224`` is fit's and compare's ``image_size=224``).
    """
    from headstart.analysis.flags import asked

    if getattr(data, "modality", "text") != "image":
        return train, split, []
    notes = [_seen_note(b, data.name, origin) for b in backbones if data.name in (found := seen_by(b))[0]
             for origin in (found[1],)]
    sides = [s for s in (input_side(b) for b in backbones) if s is not None]  # a saved folder's is its own: not known here
    if train.image_size is None and sides and min(sides) > SMALL_INPUT:  # never beside a network that reads its own size only
        side = largest_side(data)
        if side <= SMALL_SIDE:
            train = dataclasses.replace(train, image_size=SMALL_INPUT)
            notes.append({"reason": "image-size",
                          "text": f"reads {SMALL_INPUT}x{SMALL_INPUT} inputs, not the network's {max(sides)} (the {side}-pixel "
                                  f"images are upsampled either way; on fashion-mnist {max(sides)} took 2.4-3.4x the time of "
                                  f"{SMALL_INPUT} and its probe scored a point lower)",
                          "advice": asked(f"--image-size {max(sides)} for the network's own", call)})
    test = round(split.test_fraction * len(data.inputs)) if data.given_split is None else None
    every = spoken("--max-test all", "max_test='all'")  # fit's and compare's keyword alike
    if split.max_test == "all" and test is not None and test > IMAGE_MAX_TEST:  # asked for: every one, and what it costs
        notes.append({"reason": "test-all",
                      "text": f"is scored on all {test:,} test images, as {every} asks (about {test / IMAGE_MAX_TEST:.0f}x "
                              f"the scoring time of the {IMAGE_MAX_TEST:,} a test split this large keeps by default; the "
                              "progress bar's ETA counts them)",
                      "advice": spoken(f"--max-test {IMAGE_MAX_TEST}", f"max_test={IMAGE_MAX_TEST}") + " for the quicker default"})
    if split.max_test is None and test is not None and test > IMAGE_MAX_TEST:
        split = dataclasses.replace(split, max_test=IMAGE_MAX_TEST)
        notes.append({"reason": "test-cap",
                      "text": f"is scored on a stratified {IMAGE_MAX_TEST:,} of the {test:,} test images (±"
                              f"{binomial_half_width(IMAGE_MAX_TEST):.1f} points at 95% near 75% accuracy; the rest join the "
                              "pool)",
                      "advice": f"{every} to score them all"})
    return train, split, notes
