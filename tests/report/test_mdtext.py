"""Tests of headstart/report/mdtext.py's sizes: one way to write bytes, on every page and command."""

from __future__ import annotations

import json
from pathlib import Path

from headstart.report.mdtext import bytes_text


def test_bytes_keep_three_significant_digits_with_their_zeros_like_seconds():
    """The report's saved size said "298 kB" where adapters list, the continual report and headstart cache said
    "298.0 kB": two formatters (and a third in cache.py) for one size."""
    sizes = (0, 999, 1000, 6_300, 298_000, 999_999, 12_000_000, 90_900_000, 1_300_000_000, 1_300_000_000_000)
    assert [bytes_text(n) for n in sizes] == ["0 B", "999 B", "1.00 kB", "6.30 kB", "298 kB", "1.00 MB", "12.0 MB",
                                              "90.9 MB", "1.30 GB", "1,300 GB"]


def test_the_report_writes_a_saved_size_as_the_commands_do(tmp_path: Path) -> None:
    """report.md and report.html wrote 12,000,000 bytes as "12 MB", adapters list and the continual report as
    "12.0 MB"; a run that saved nothing keeps its "–"."""
    from headstart.report import render
    from headstart.results import RunResult
    from headstart.store import Store

    with Store(tmp_path) as store:
        for strategy, size in (("lora", 12_000_000), ("linear-probe", 0)):
            spec = {"strategy": strategy, "n": 16, "n_requested": 16, "seed": 0, "backbone": "all-minilm-l6-v2",
                    "data": {"name": "d.csv", "hash": "h"}, "options": {}, "train": {}}
            store.put(RunResult(key=strategy, spec=spec, status="done", metrics={"accuracy": 0.8},
                                val_metrics={"accuracy": 0.8}, train_seconds=1.0, trainable_params=770, saved_bytes=size))
    paths = render(tmp_path)
    cells = {line.split("|")[1].strip(): line.rsplit("|", 2)[1].strip()
             for line in paths["report.md"].read_text().splitlines() if line.startswith(("| lora |", "| linear-probe |"))}
    assert cells == {"lora": bytes_text(12_000_000), "linear-probe": "–"} and cells["lora"] == "12.0 MB", cells
    page = paths["report.html"].read_text()
    assert json.dumps("12.0 MB") in page and json.dumps("12 MB") not in page
