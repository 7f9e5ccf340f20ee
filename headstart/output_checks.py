"""Checking a rewritten model against its run: the same outputs on the run's own validation inputs.

A merge (``headstart.adapters``) and an export (``headstart.export``) each compare the model they write with the run
it came from, in fp32 and within a tolerance, before writing anything; this module holds what they share: the run's
validation inputs (never the test split), the head's outputs on them, the gap at the run's own precision where that is
not fp32 (``PrecisionGap``: said, not checked) and the checks of the ``--inputs`` and ``--tolerance`` arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from headstart.errors import ConfigError


def check_texts(run: Any, count: int) -> list[str]:
    """Real inputs to compare outputs on: the run's own validation texts (never the test split)."""
    from headstart.data import SplitConfig, load_dataset, split_dataset

    source = run.meta["data_source"]
    from headstart.specs import file_options

    data = load_dataset(source["name"]) if "name" in source else load_dataset(source["path"], **file_options(source))
    rows = split_dataset(data, SplitConfig(**run.resolved["data"]["split"])).val[:count]
    return [data.inputs[r] for r in rows]


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


@dataclass(frozen=True)
class ExportReport:
    """What ``export`` wrote and how far the written model's outputs are from the run's."""
    out: str
    max_abs_diff: float
    inputs: int
    tolerance: float
    at_precision: PrecisionGap | None = None  # the run at its own precision (what predict gives) vs fp32, where not fp32
    tokenizer: str = ""  # transformers' class the folder's tokenizer loads with (plain_tokenizer), no code of the folder's
