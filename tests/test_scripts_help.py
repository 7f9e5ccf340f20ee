"""Every script under benchmarks/ and scripts/ answers ``--help`` with an example and runs nothing: the project's rule
for commands. A script without argument parsing ran its whole job on ``--help`` (minutes of training); one whose
parser has no epilog showed no example of a command line.

Each script runs in a subprocess with this tree first on the path; the ones that import torch or transformers at the
top take a few seconds each, so the whole set is slow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def scripts() -> list[str]:
    """benchmarks/*.py and scripts/*.py that run as a command (an ``if __name__ == "__main__"`` block)."""
    return [str(path.relative_to(ROOT)) for folder in ("benchmarks", "scripts") for path in sorted((ROOT / folder).glob("*.py"))
            if 'if __name__ == "__main__"' in path.read_text()]


def test_the_scripts_are_found():
    found = scripts()
    assert "benchmarks/defaults_sweep.py" in found and "scripts/export_histories.py" in found
    assert "benchmarks/jsonl_rows.py" not in found  # a module the benchmarks import, no command


@pytest.mark.slow
@pytest.mark.parametrize("script", scripts())
def test_help_prints_an_example_and_exits_0(script):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)  # a cold import of torch on a fresh, loaded machine
    assert done.returncode == 0, f"python {script} --help exited {done.returncode}: {done.stderr[-2000:]}"
    assert "example:" in done.stdout, f"python {script} --help shows no example:\n{done.stdout}"
