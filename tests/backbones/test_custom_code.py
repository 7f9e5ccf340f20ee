"""A folder whose model is code of its own (a headstart hf export, a Hub repo's remote code): --backbone refuses it in
one line and never asks on stdin whether to run it; a headstart export names the folder to pass instead."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from headstart.errors import BackboneError
from headstart.specs import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
CFG = TrainConfig(max_steps=3, min_steps=3, batch_size=8, precision="fp32")


@pytest.fixture
def exported(toy_csv, tiny_registry, tmp_path) -> Path:
    """A tiny-bert run exported as --format hf (tmp_path / "hf") and as --format sentence-transformers (tmp_path / "st")."""
    import headstart

    headstart.fit(str(toy_csv), "tiny-bert", strategy="full-finetune", n=16, config=CFG, out=tmp_path / "run")
    headstart.export(tmp_path / "run", tmp_path / "hf")
    headstart.export(tmp_path / "run", tmp_path / "st", format="sentence-transformers")
    return tmp_path


def test_an_hf_export_as_backbone_is_refused_in_one_line_without_a_prompt(exported, toy_csv):
    """transformers printed "Do you wish to run the custom code? [y/N]" (with a hub address for a local folder) and
    waited on stdin, then the run failed on its words; stdin closed, the CLI answers at once in one line, naming a
    folder that trains."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "headstart", "train", "--data", str(toy_csv), "--backbone", "hf",
                           "--strategy", "linear-probe", "--n", "16", "--max-steps", "3", "--out", "probe"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, cwd=exported, env=env)
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert "Do you wish" not in said and "hf.co" not in said and "Traceback" not in said, said
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'hf' is a headstart export (--format hf)" in lines[0], said
    assert "--format sentence-transformers and pass its 0_Transformer folder as --backbone" in lines[0], said
    assert not (exported / "probe").exists()
    import headstart  # the folder it names trains

    result = headstart.fit(str(toy_csv), str(exported / "st" / "0_Transformer"), strategy="linear-probe", n=16, config=CFG,
                           out=exported / "again")
    assert result.error is None and result.val_metrics


def test_other_folder_code_is_refused_and_never_asked_about(exported, monkeypatch):
    """Any config.json auto_map to a model transformers lacks is refused by name; and were the one-line check passed,
    transformers itself refuses (trust_remote_code=False) without asking."""
    from headstart.backbones import custom_code
    from headstart.backbones.registry import load_backbone

    folder = exported / "custom"
    shutil.copytree(exported / "hf", folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "mine"}))
    with pytest.raises(BackboneError, match=r"maps its model to code in the folder \(config.json auto_map, model_type 'mine'\)"):
        load_backbone(str(folder))
    asked: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or "y")  # a yes would run the code
    monkeypatch.setattr(custom_code, "refuse_custom_code", lambda directory, *, named: None)
    for path in (folder, exported / "hf"):
        with pytest.raises(BackboneError, match="cannot load the model in"):
            load_backbone(str(path))
    assert asked == []
