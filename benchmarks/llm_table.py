"""Issue 22's table: a causal LM asked in words (zero-shot-prompt, icl on SmolLM2) or LoRA-tuned, beside the encoder
trained on the same labels (MiniLM zero-shot, setfit, probe, full fine-tune), test accuracy with 95% CIs by labelled-set size.

Reads the stores that ``headstart compare --config examples/llm-prompting.toml``,
``--config examples/llm-encoder-reference.toml`` and ``--config examples/llm-lora.toml`` write (re-rendering each one's results.json from its store, so a
sweep still running or cut short shows the cells it has), and prints one markdown table.
Run: python benchmarks/llm_table.py [--stores runs/llm-prompting runs/llm-encoder-reference runs/llm-lora]
     [--paired lora,qlora]   (also: A − B per size in one store, paired by seed on the same test rows)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

STORES = ("runs/llm-prompting", "runs/llm-encoder-reference", "runs/llm-lora")


def curves(store: Path) -> list[dict]:
    """The store's curves (one row per arm and size), from a fresh ``headstart report``."""
    headstart = Path(sys.executable).with_name("headstart")
    subprocess.run([str(headstart), "report", str(store)], check=True, capture_output=True)
    results = json.loads((store / "results.json").read_text())
    backbone = results["sweep"].get("backbone") or "?"
    return [{**row, "backbone": backbone} for row in results["curves"]]


def paired(store: Path, a: str, b: str) -> str:
    """``a`` − ``b`` in points per size where both ran, paired by seed on the same test rows (the report's statistics)."""
    from headstart.analysis.cell_stats import paired_differences
    from headstart.store import Store

    with Store(store, create=False) as s:
        rows = paired_differences(s.results("done"), a, b)
    lines = [f"{store}: {a} − {b}, paired by seed (points, 95% CI over seeds and test rows)"]
    lines += [f"  n = {r['n']}: {100 * r['mean']:+.1f} ({100 * r['ci_low']:+.1f} to {100 * r['ci_high']:+.1f}), "
              f"{r['pairs']} pairs, p = {r['p_value']:.3g}" for r in rows if r["p_value"] is not None]
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    arms = list(dict.fromkeys(f"{r['strategy']} ({r['backbone']})" for r in rows))
    sizes = sorted({r["n"] for r in rows})
    cell = {(f"{r['strategy']} ({r['backbone']})", r["n"]): r for r in rows}
    lines = ["| n | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]
    for n in sizes:
        out = []
        for arm in arms:
            r = cell.get((arm, n))
            out.append("" if r is None else f"{100 * r['mean']:.1f} ({100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}), {r['seeds']} seeds")
        lines.append(f"| {n} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="example: python benchmarks/llm_table.py --stores runs/llm-lora --paired lora,qlora",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", nargs="+", default=list(STORES))
    parser.add_argument("--paired", default="", help="A,B (arm labels as the report shows them, e.g. lora,qlora): also print A − B per size in each store holding both, paired by seed")
    args = parser.parse_args()
    rows = [row for store in args.stores if (Path(store) / "runs.sqlite").exists() for row in curves(Path(store))]
    if not rows:
        print("no stores yet: run the two compare configs first (see this file's docstring)", file=sys.stderr)
        return 2
    for row in rows:  # a prompt arm's options (calibrate) tell two zero-shot-prompt curves apart
        row["strategy"] = row.get("arm") or row["strategy"]
    print(table(rows))
    if args.paired:
        from headstart.arm_text import split_arms

        pair = split_arms(args.paired)  # commas inside an arm's [...] belong to it
        if len(pair) != 2:
            print(f"--paired takes two arms, A,B (e.g. lora,qlora); got {args.paired!r}", file=sys.stderr)
            return 2
        a, b = pair
        for store in args.stores:
            if (Path(store) / "runs.sqlite").exists():
                print(paired(Path(store), a, b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
