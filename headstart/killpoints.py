"""A test-only hook to die at an exact moment: ``HEADSTART_TEST_KILL_AT=POINT[#K]`` makes the process SIGKILL
itself the K-th time (default the first) it reaches ``kill_point(POINT)`` (``HEADSTART_TEST_KILL_SIGNAL=INT``: a
ctrl-c at that moment instead; ``TERM``: SIGTERM, as ``kill PID`` sends).

The points sit where a crash hurts most: inside a store transaction before its COMMIT (``store.commit``), right
after the store file is created (``store.open``), and between writing an artefact's temp file and renaming it
into place (``write:NAME``, e.g. ``write:leakage.json``, ``write:weights.safetensors``, ``write:features.safetensors``,
``write:results.json``), between extracting a model shipped in parts and renaming its folder into place
(``extract:NAME``, e.g. ``extract:all-mpnet-base-v2``), and after a sweep has stored a cell (``sweep.recorded``: tests/test_sweep.py interrupts a
compare after exactly K cells, where a signal sent from outside races a fast sweep on a loaded machine). tests/test_crash_safety.py kills ``headstart compare`` at each of them and checks that a
re-run finishes with the same table. Unset (always, outside tests), a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "HEADSTART_TEST_KILL_AT"
SIGNAL_ENV = "HEADSTART_TEST_KILL_SIGNAL"
_HITS: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL (or SIGINT) this process if ``$HEADSTART_TEST_KILL_AT`` names ``name`` and this is the chosen hit."""
    target = os.environ.get(ENV)
    if not target:
        return
    point, _, nth = target.partition("#")
    if point != name:
        return
    _HITS[name] = _HITS.get(name, 0) + 1
    if _HITS[name] == int(nth or 1):
        chosen = {"INT": signal.SIGINT, "TERM": signal.SIGTERM}.get(os.environ.get(SIGNAL_ENV, ""), signal.SIGKILL)
        os.kill(os.getpid(), chosen)
