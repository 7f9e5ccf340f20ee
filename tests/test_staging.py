"""What a write killed with kill -9 (or by the OOM killer) leaves beside its ``--out`` (``atomic.fresh_folder``'s hidden
``.NAME.<pid>-<host>-<random>.TAG`` folders) is cleared by the next command writing that ``--out``; a folder a live
process is writing (two trains racing) is never touched, and a run moved aside for a swap is put back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def writer(out: Path, how: str) -> subprocess.Popen:
    """A process building a run folder for ``out`` (``atomic.write_directory``): "killed" SIGKILLs itself while it fills
    the staging folder, "swap" between the two renames of the swap (``out`` moved aside, the new one not yet in),
    "live" waits, its staging folder half-filled, until its stdin closes."""
    code = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from headstart.atomic import write_directory
        how, out = {how!r}, Path({str(out)!r})
        def fill(d):
            (d / "spec.json").write_text("new")
            if how == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            if how == "live":
                print("filling", flush=True)
                sys.stdin.read()
        if how == "scored":  # a whole run saved beside a finished one, killed while it is scored (before its swap)
            from headstart.atomic import build_directory
            def whole(d):
                (d / "metrics.json").write_text('{{"status": "done", "not_scored": {{"eval_data": ["x.csv"]}}}}')
                (d / "spec.json").write_text("new")
            build_directory(out, whole, is_replaceable=lambda p: True, what="run")
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "swap":
            real, calls = os.replace, []
            def replace(source, target):
                calls.append(target)
                if len(calls) == 2:  # out is moved aside, the new one not in its place yet
                    os.kill(os.getpid(), signal.SIGKILL)
                real(source, target)
            os.replace = replace
        write_directory(out, fill, is_replaceable=lambda p: True, what="run")
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name.rsplit(".", 1)[1] for p in folder.iterdir() if p.name.startswith("."))


def test_what_a_killed_write_left_is_cleared_and_a_live_writers_folder_is_kept(tmp_path):
    from headstart.atomic import write_directory
    from headstart.outdir import claim

    out = tmp_path / "run"
    out.mkdir()
    (out / "spec.json").write_text("old")
    live = writer(out, "live")
    try:
        assert live.stdout.readline() == "filling\n"
        killed = writer(out, "killed")  # racing the live one, which it leaves alone
        assert killed.wait(timeout=120) == -signal.SIGKILL
        assert hidden(tmp_path) == ["saving", "saving"], "kill -9 while it was saved: its staging folder stays"
        claim(out, "other")  # the next command writing that --out: the dead writer's folder goes, the live one's stays
        left = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert len(left) == 1 and f".{live.pid}-" in left[0].name, left
        write_directory(out, lambda d: (d / "spec.json").write_text("mine"), is_replaceable=lambda p: True, what="run")
        assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == left, "a live writer's folder is never touched"
    finally:
        live.stdin.close()
        assert live.wait(timeout=120) == 0
    assert (out / "spec.json").read_text() == "new" and hidden(tmp_path) == [], "the live writer finished and swapped in"


def test_a_run_a_killed_swap_moved_aside_is_put_back_by_the_next_command(tmp_path):
    from headstart.outdir import claim

    out = tmp_path / "run"
    out.mkdir()
    (out / "spec.json").write_text("old")
    swap = writer(out, "swap")
    assert swap.wait(timeout=120) == -signal.SIGKILL
    assert not out.exists() and hidden(tmp_path) == ["old", "saving"], "killed between the two renames: no run in out"
    claim(out, "other")
    assert (out / "spec.json").read_text() == "old" and hidden(tmp_path) == [], "the old run is back, the staging gone"


def test_a_trained_run_killed_while_it_was_scored_beside_a_finished_one_is_kept_as_out_unscored(tmp_path, caplog):
    """kill -9 / the OOM killer while a retrained run is scored (saved beside the finished one until scored): the next
    command removed the whole trained run with the staging folders; it is kept as OUT-unscored, as an interrupt leaves
    it, and said. A folder cut off while it was written (no spec.json) still goes."""
    import logging

    from headstart.outdir import claim

    out = tmp_path / "run"
    out.mkdir()
    (out / "spec.json").write_text("old")
    killed = writer(out, "killed")  # one cut off while it was filled: the next writer's staging clears it
    assert killed.wait(timeout=120) == -signal.SIGKILL
    scored = writer(out, "scored")
    assert scored.wait(timeout=120) == -signal.SIGKILL
    assert hidden(tmp_path) == ["saving"] and not (tmp_path / "run-unscored").exists()
    with caplog.at_level(logging.WARNING, logger="headstart"):
        claim(out, "other")
    beside = tmp_path / "run-unscored"
    assert (out / "spec.json").read_text() == "old", "the finished run is as it was"
    assert (beside / "spec.json").read_text() == "new" and hidden(tmp_path) == [], "the trained run kept, the cut one gone"
    assert f"it is kept, not scored, in {str(beside)!r}: headstart evaluate {beside}" in caplog.text, caplog.text


def test_a_free_folder_beside_out_skips_taken_names_and_dangling_links(tmp_path, monkeypatch):
    """One rule names every folder a run is moved to beside ``out`` (a run saved over while it trained, a run stopped
    while it was scored): ``-suffix``, then ``-suffix-2``, ... past anything standing there, a dangling link included
    (a save through it would write wherever it points)."""
    from types import SimpleNamespace

    import headstart.same_run as same_run
    from headstart.staging import free_sibling, unscored_beside

    out = tmp_path / "run"
    (tmp_path / "run-unscored").mkdir()
    (tmp_path / "run-unscored-2").symlink_to(tmp_path / "gone")
    assert unscored_beside(out) == tmp_path / "run-unscored-3"
    (tmp_path / "run-lora").symlink_to(tmp_path / "gone")
    assert free_sibling(out, "lora") == tmp_path / "run-lora-2"
    monkeypatch.setattr(same_run, "other_run", lambda out, spec: "lora n=16 seed 1")
    beside, note = same_run.saved_beside(out, SimpleNamespace(strategy="lora"))
    assert beside == tmp_path / "run-lora-2" and "run-lora-2" in note["text"]
