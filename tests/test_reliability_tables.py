"""docs/RELIABILITY.md's generated tables equal what their scripts print now: the bad-input table
(scripts/bad_inputs_table.py) and the fuzz table (scripts/fuzz_table.py). The fuzz table once drifted unnoticed for
12 items; this fails instead, naming the command that regenerates the table.

Each script runs in a subprocess, as the doc shows it: both patch the CLI's backbone loader for good (the tests' tiny
backbone), which must not leak into this session. Their output holds no timings or absolute paths (the bad-input
table shows paths relative to its scratch directory), so the whole table is compared. ~20 s and ~30 s on a quiet
2-core machine, twice that beside another job: slow.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "RELIABILITY.md"


def table_starting(text: str, header: str) -> list[str]:
    """The markdown table of ``text`` whose first line starts with ``header``: that line and the | lines after it."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(header)]
    assert len(starts) == 1, f"expected one table headed {header!r}, found {len(starts)}"
    table = []
    for line in lines[starts[0]:]:
        if not line.startswith("|"):
            break
        table.append(line)
    return table


@pytest.mark.slow
@pytest.mark.parametrize(("script", "header"), [
    ("scripts/bad_inputs_table.py", "| Bad input | Command |"),
    ("scripts/fuzz_table.py", "| Input kind | Command |"),
])
def test_the_reliability_docs_table_is_what_its_script_prints(script, header, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models: one thread, as conftest runs them, is faster on a busy CPU
    printed = tmp_path / "table.md"
    with printed.open("w") as out:
        done = subprocess.run([sys.executable, script], cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE, text=True,
                              timeout=600)
    output = printed.read_text()
    assert output.strip(), f"{script} printed nothing (exit {done.returncode}): {done.stderr[-2000:]}"
    fresh, documented = table_starting(output, header), table_starting(DOC.read_text(), header)
    diff = "\n".join(difflib.unified_diff(documented, fresh, "docs/RELIABILITY.md", script, lineterm="", n=0))
    assert documented == fresh, (
        f"docs/RELIABILITY.md's table headed {header!r} differs from what {script} prints now (it exited "
        f"{done.returncode}); regenerate it with `.venv/bin/python {script} > /tmp/table.md` and paste that table "
        f"over the doc's:\n{diff}")


def test_table_starting_takes_the_table_and_stops_after_it():
    text = "intro\n| Other | x |\n\n| H | 1 |\n|---|---|\n| a | b |\n\nafter\n| c | d |\n"
    assert table_starting(text, "| H |") == ["| H | 1 |", "|---|---|", "| a | b |"]
