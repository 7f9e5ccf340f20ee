"""Checking a rewritten model against its run: the same outputs on the run's own validation inputs.

A merge (``headstart.adapters``) and an export (``headstart.export``) each compare the model they write with the run
it came from, in fp32 and within a tolerance, before writing anything; this module holds what they share: the run's
validation inputs (never the test split), the head's outputs on them, the gap at the run's own precision where that is
not fp32 (``PrecisionGap``: said, not checked) and the checks of the ``--inputs`` and ``--tolerance`` arguments.

Where the run's data cannot be read any more (moved, deleted, a run copied to another machine, a column renamed) or
is no longer what the run read (rows added or removed, text or labels edited: its content hash is not the run's, so its
validation rows are not the run's), a text run's check reads ``FIXED_SENTENCES`` instead, tokenized as the run tokenizes
its inputs, and a ``note:`` names the file and what is wrong with it: the check is of the rewrite's arithmetic, which any
text exercises. An image run has no such stand-in and is refused in one line naming the file and the fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np
import torch

from headstart.errors import ConfigError, DataError, HeadstartError

T = TypeVar("T")

# What a text run's check reads where its data cannot be: plain statements with no label, sentiment, question or answer
# in them, neutral for any text task; 8 keep the check quick (it checks arithmetic, not accuracy).
FIXED_SENTENCES = (
    "The meeting starts at nine in the morning.",
    "She put the book back on the shelf.",
    "The train was a few minutes late today.",
    "Water boils at a hundred degrees Celsius.",
    "He walked to the shop to buy some bread.",
    "The report has three short sections.",
    "It rained for most of the afternoon.",
    "They painted the kitchen a pale green.",
)
# What a check ran on (the reports' and records' checked_on): the run's validation rows, or the fixed sentences because
# its data could not be read (FIXED) or changed since the run (CHANGED)
VALIDATION_ROWS, FIXED, CHANGED = "validation rows", "fixed sentences", "fixed sentences: data changed"
WHY_FIXED = {FIXED: "the run's data could not be read", CHANGED: "the run's data changed since the run"}


def check_texts(run: Any, count: int, *, what: str = "the merge") -> tuple[list[str], str]:
    """Inputs to compare outputs on: the run's own validation texts (never the test split), or, where its data cannot
    be read or changed since the run, up to ``count`` of ``FIXED_SENTENCES`` (pairs of them for a text-pair run) with a
    note naming the data and what is wrong with it.

    Args:
        what: the check's command in the note and the refusal ("the merge", "the export").

    Returns:
        (the texts, ``VALIDATION_ROWS``, or ``FIXED`` / ``CHANGED`` for the fixed sentences: what they are and why).

    Raises:
        ConfigError: an image run whose data cannot be read or changed (``read_check_data``).
    """
    from headstart.data import SplitConfig, load_dataset, split_dataset
    from headstart.data.columns import run_pair
    from headstart.data.dataset import PAIR_SEP
    from headstart.specs import stored_reading

    source = run.meta["data_source"]

    def validation_texts() -> list[str]:
        data = load_dataset(source["name"]) if "name" in source else load_dataset(source["path"], **stored_reading(source))
        check_unchanged(data.hash, run.resolved["data"].get("hash"))  # before the split: fewer rows may not split at all
        return [data.inputs[r] for r in split_dataset(data, SplitConfig(**run.resolved["data"]["split"])).val[:count]]

    texts, checked_on = read_check_data(validation_texts, str(source.get("name", source.get("path"))), what, count=count,
                                        image=getattr(run.model.backbone, "modality", "text") == "image")
    if texts is not None:
        return texts, checked_on
    pair = run_pair(source) is not None  # a pair run reads two texts: each fixed sentence with the next
    n = len(FIXED_SENTENCES)
    return [f"{s}{PAIR_SEP}{FIXED_SENTENCES[(i + 1) % n]}" if pair else s for i, s in enumerate(FIXED_SENTENCES[:count])], checked_on


class DataChanged(DataError):
    """The run's data reads, but is not what the run read (``check_unchanged``): its validation rows are not the run's."""


def check_unchanged(found: str, recorded: Any) -> None:
    """Raises DataChanged where the data's content hash ``found`` is not the run's ``recorded`` one (when recorded)."""
    if recorded and found != recorded:
        raise DataChanged(f"changed since the run (its rows, texts or labels differ: content hash {str(recorded)[:12]} "
                          f"then, {found[:12]} now)")


def read_check_data(load: Callable[[], list[T]], path: str, what: str, *, count: int,
                    image: bool = False) -> tuple[list[T] | None, str]:
    """(``load()``, ``VALIDATION_ROWS``): the run's validation inputs for ``what``'s check; (None, ``CHANGED``) where
    the data changed since the run (``load`` raises ``DataChanged``), (None, ``FIXED``) where it cannot be read or has no
    validation rows. A ``note:`` then names ``path``, what is wrong in a few words and that ``what`` is checked on fixed
    sentences instead.

    Raises:
        ConfigError: ``image``: no fixed input stands in for a run's images; names the path, what is wrong and the fix.
    """
    fix, checked_on = "put the data back at that path (a link to where it is now will do)", FIXED
    try:
        found = load()
    except DataChanged as error:
        why, fix = str(error), "put the data back at that path as the run read it, or train again on it as it is now"
        checked_on = CHANGED
    except (HeadstartError, OSError) as error:  # whatever the loader says of a file moved, emptied or rewritten
        why = f"cannot be read ({_few_words(error, path)})"
    else:
        if len(found):
            return found, VALIDATION_ROWS
        why, fix = "has no validation rows now", "put the data back at that path as the run read it"
    if image:
        raise ConfigError(f"the run's data {path!r} {why}: {what} checks the rewritten model against the run on its "
                          f"validation images, and no fixed input stands in for images; {fix}")
    logging.getLogger("headstart").info("the run's data %r %s: %s is checked on %d fixed sentences instead of its validation rows",
                                        path, why, what, min(count, len(FIXED_SENTENCES)))
    return None, checked_on


def _few_words(error: Exception, path: str) -> str:
    """The loader's error without its fix or the path the note names already: "data file not found"."""
    from headstart.errors import clipped

    text = (str(error) or type(error).__name__).split(";")[0]
    for quoted in (repr(path), f"'{path}'", f'"{path}"', path):
        text = text.replace(f": {quoted}", "").replace(quoted, "it")
    return clipped(text.strip(" :"), 80)


def checked_on_text(inputs: int, checked_on: str, rows: str = "validation inputs") -> str:
    """A check's inputs in words for a report line: "64 validation inputs", or "8 fixed sentences (the run's data could
    not be read)" / "(the run's data changed since the run)" (``WHY_FIXED``)."""
    return f"{inputs} {FIXED} ({WHY_FIXED[checked_on]})" if checked_on in WHY_FIXED else f"{inputs} {rows}"


def logits_of(model: torch.nn.Module, texts: list[str], autocast: Any = None) -> torch.Tensor:
    """The head's outputs on ``texts``, in fp32 unless ``autocast`` (``precision.autocast_for``) is given."""
    from headstart.evaluation import model_outputs

    encoded = model.backbone.encode(texts)
    return torch.as_tensor(model_outputs(model, encoded, np.arange(len(texts)), batch_size=64, autocast=autocast))


@dataclass(frozen=True)
class PrecisionGap:
    """How far two models' outputs are apart at a run's own precision (bf16 where ``--precision auto`` picked it),
    where a check in fp32 says nothing about rounding: ``max_abs_diff`` and, for a classifier, ``same_class`` (inputs
    of ``inputs`` whose top class agrees)."""

    precision: str
    max_abs_diff: float
    same_class: int | None
    inputs: int

    def text(self) -> str:
        """The gap in words: "by up to 0.023, the same top class on 64 of 64"."""
        agree = "" if self.same_class is None else f", the same top class on {self.same_class} of {self.inputs}"
        return f"by up to {self.max_abs_diff:.2g}{agree}"


def precision_gap(a: torch.Tensor, b: torch.Tensor, precision: str, task: str) -> PrecisionGap:
    """``PrecisionGap`` of outputs ``a`` and ``b`` (one row per input)."""
    same = int((a.argmax(-1) == b.argmax(-1)).sum()) if task == "classification" else None
    return PrecisionGap(precision, float((a - b).abs().max()), same, len(a))


def run_autocast(run: Any) -> tuple[str, Any]:
    """The run's recorded precision and its autocast factory (None for fp32)."""
    from headstart.precision import autocast_for

    precision = run.resolved["train"]["precision"]
    return precision, autocast_for(precision, run.device)


def check_inputs(inputs: int, what: str = "the merge") -> None:
    """Raises ConfigError unless ``inputs`` (validation inputs ``what`` is checked on) is a positive integer."""
    if not isinstance(inputs, int) or isinstance(inputs, bool) or inputs < 1:
        raise ConfigError(f"--inputs must be a positive number of validation inputs to check {what} on, got {inputs!r}; "
                          "e.g. --inputs 64")


def check_tolerance(tolerance: float) -> None:
    """Raises ConfigError unless ``tolerance`` (the largest output difference a check accepts) is a number >= 0."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ConfigError(f"--tolerance is the largest output difference accepted, a number >= 0; got {tolerance!r}; "
                          "e.g. --tolerance 1e-4")


@dataclass
class MergeReport:
    """What ``adapters.merge`` wrote and how far the merged model's outputs are from the adapter's."""
    out: str
    max_abs_diff: float
    inputs: int
    tolerance: float
    dequantized: bool
    merged_bytes: int
    at_precision: PrecisionGap | None = None  # merged vs adapter at the run's precision, where that is not fp32
    checked_on: str = VALIDATION_ROWS  # FIXED / CHANGED: the run's data could not be read / changed (check_texts)


@dataclass(frozen=True)
class ExportReport:
    """What ``export`` wrote and how far the written model's outputs are from the run's."""
    out: str
    max_abs_diff: float
    inputs: int
    tolerance: float
    at_precision: PrecisionGap | None = None  # the run at its own precision (what predict gives) vs fp32, where not fp32
    tokenizer: str = ""  # transformers' class the folder's tokenizer loads with (plain_tokenizer), no code of the folder's
    checked_on: str = VALIDATION_ROWS  # FIXED / CHANGED: the run's data could not be read / changed (check_texts)
