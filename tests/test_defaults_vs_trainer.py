"""benchmarks/defaults_vs_trainer.py: the "headstart lora (lr 2e-4)" method BENCHMARKS' rows come from, and its table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling jsonl_rows, as it does when run from there
SPEC = importlib.util.spec_from_file_location("defaults_vs_trainer", BENCHMARKS / "defaults_vs_trainer.py")
defaults_vs_trainer = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(defaults_vs_trainer)


def test_lora_at_2e_4_is_a_method_that_changes_only_the_rate():
    method = "headstart lora (lr 2e-4)"
    suffix = next(x for x in defaults_vs_trainer.SUFFIXES if method.endswith(x))
    assert defaults_vs_trainer.SUFFIXES[suffix] == {"lr": 2e-4}
    assert method.removesuffix(suffix).split(" ", 1)[1] == "lora"


def test_the_table_pairs_it_with_trainer_peft_and_shows_that_baseline_once():
    rows = [{"n": "256", "seed": s, "method": m, "accuracy": a + 0.01 * s, "seconds": 10.0, "cpu_seconds": 20.0, "steps": 100}
            for s in range(3) for m, a in (("headstart lora", 0.73), ("headstart lora (lr 2e-4)", 0.65),
                                           ("Trainer + PEFT", 0.55))]
    lines = defaults_vs_trainer.table(rows).splitlines()[2:]
    assert [line.split(" | ")[1] for line in lines] == ["headstart lora", "Trainer + PEFT", "headstart lora (lr 2e-4)"]
    assert "+10.0 (" in lines[2]  # paired with Trainer + PEFT by seed: 65 - 55
