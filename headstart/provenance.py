"""Where a result came from: the library versions, headstart's git commit, the device and the CPU model.

Recorded with every stored run (``record["environment"]``) and every saved run directory (``spec.json``), so a number
can be traced to the software and machine that produced it. Computed once per process.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "transformers", "peft", "safetensors", "numpy", "scikit-learn", "bitsandbytes")


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the headstart checkout (with ``+dirty`` when files differ from it), or None outside a git checkout."""
    root = root or Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("+dirty" if dirty else "")) if sha else None


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """``{headstart, git, python, libraries: {name: version}, device, cpu}``."""
    from headstart import __version__
    from headstart.precision import cpu_model, pick_device

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"headstart": __version__, "git": git_commit(), "python": platform.python_version(), "libraries": versions,
            "device": str(pick_device()), "cpu": cpu_model()}
