"""``headstart.errors.ConfigError`` after a bare ``import headstart``: every submodule the README, the docs and the
public functions' docstrings name is reached by attribute, not only once something else imported it."""

from __future__ import annotations

import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import headstart

ROOT = Path(__file__).resolve().parents[1]


def _named_submodules() -> set[str]:
    text = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    text += (headstart.__doc__ or "") + "".join(inspect.getdoc(getattr(headstart, name)) or "" for name in headstart.__all__)
    submodules = {m.name for m in pkgutil.iter_modules(headstart.__path__)}
    return set(re.findall(r"headstart\.([a-z_]+)\b", text)) & submodules - {"cli"}  # the CLI is no Python API


def test_every_documented_submodule_is_an_attribute_after_a_bare_import():
    """``import headstart; headstart.errors.ConfigError`` raised AttributeError (and ``headstart.fit_result`` too) until
    something imported the module; a fresh interpreter reaches each named one now."""
    named = sorted(_named_submodules() | {"errors", "fit_result"})
    probe = ("import headstart, sys\n"
             f"missing = [m for m in {named!r} if not hasattr(headstart, m)]\n"
             "print(missing); sys.exit(1 if missing else 0)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, f"not reached after import headstart: {done.stdout}{done.stderr[-2000:]}"
    assert {"errors", "fit_result"} <= set(dir(headstart))
