"""Print the fuzz table of docs/RELIABILITY.md: per kind of input and command, how many corpus items ended how.

Runs every item of tests/test_fuzz.py through the real CLI entry point (in this process, with the tests' tiny backbone)
in a scratch directory, as the test does, and counts exit statuses; any traceback or other exit status is listed
below the table and makes the script exit 1.

    .venv/bin/python scripts/fuzz_table.py > /tmp/fuzz.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts"), str(ROOT)]


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="example: .venv/bin/python scripts/fuzz_table.py > /tmp/fuzz.md").parse_args()
    from bad_inputs_table import Capture, cell

    with tempfile.TemporaryDirectory(prefix="hs-fuzz-") as scratch:
        os.environ["HEADSTART_CACHE"] = str(Path(scratch) / "cache")
        import test_bad_inputs
        import test_fuzz

        test_bad_inputs.use_tiny_backbone(setattr)
        counts: Counter[tuple[str, str, str]] = Counter()
        bad = []
        for number, item in enumerate(test_fuzz.ITEMS):
            root = Path(scratch) / f"item{number}"
            root.mkdir()
            with Capture() as capture:
                args, code, out, err, _ = test_bad_inputs.run_case(item.case, test_bad_inputs.Files(root), capture.read)
            ok = code in (0, 2) and "Traceback" not in out + err
            counts[(item.kind, item.command, str(code) if ok else "other")] += 1
            if not ok:
                bad.append(f"- {item.command}: {item.name}: exit {code}: {err.strip().splitlines()[-1:]}")
    keys = sorted({(kind, command) for kind, command, _ in counts})
    print("| Input kind | Command | Items | Exit 0 | Exit 2 | Other or traceback |")
    print("|---|---|---:|---:|---:|---:|")
    for kind, command in keys:
        row = [counts[(kind, command, c)] for c in ("0", "2", "other")]
        print(f"| {cell(kind)} | `headstart {cell(command)}` | {sum(row)} | {row[0]} | {row[1]} | {row[2]} |")
    total = sum(counts.values())
    print(f"| **all** | | **{total}** | {sum(v for k, v in counts.items() if k[2] == '0')} | "
          f"{sum(v for k, v in counts.items() if k[2] == '2')} | {sum(v for k, v in counts.items() if k[2] == 'other')} |")
    if bad:
        print("\n" + "\n".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
