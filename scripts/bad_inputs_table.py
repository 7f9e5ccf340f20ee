"""Print the markdown table of docs/RELIABILITY.md: each bad input, its command, and what headstart prints.

Runs every case of tests/test_bad_inputs.py through the real CLI entry point (in this process, with the tests'
tiny backbone standing in for ``--backbone tiny``) in a scratch directory, so the table is real output.

    .venv/bin/python scripts/bad_inputs_table.py > /tmp/table.md
"""

from __future__ import annotations

import argparse
import io
import os
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]


class Capture:
    """Swap sys.stdout / sys.stderr for buffers; ``read()`` returns and clears them."""

    def __enter__(self) -> "Capture":
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        return self

    def read(self) -> tuple[str, str]:
        out, err = sys.stdout.getvalue(), sys.stderr.getvalue()
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        return out, err

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self.saved


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="example: .venv/bin/python scripts/bad_inputs_table.py > /tmp/table.md").parse_args()
    with tempfile.TemporaryDirectory(prefix="hs-bad-inputs-") as scratch:
        os.environ["HEADSTART_CACHE"] = str(Path(scratch) / "cache")
        import test_bad_inputs as cases

        cases.use_tiny_backbone(setattr)
        rows, failures = [], 0
        for number, case in enumerate(cases.CASES):
            root = Path(scratch) / f"case{number}"
            root.mkdir()
            with Capture() as capture:
                args, code, _, err, _ = cases.run_case(case, cases.Files(root), capture.read)
            shown = lambda text: text.replace(f"{root}/", "").replace(str(root), ".")  # noqa: E731
            lines = [shown(line) for line in err.strip().splitlines()]
            ok = code == case.code and lines and lines[-1].startswith("error: ") and all(f in err for f in case.expect)
            failures += not ok
            command = "headstart " + shlex.join(shown(a) for a in args)  # an empty argument shows as '', as typed
            rows.append(f"| {cell(case.item)} | `{cell(command)}` | {cell(chr(10).join(lines))} | {code}{'' if ok else ' (unexpected)'} |")
    print("| Bad input | Command | What headstart prints (stderr) | Exit |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
