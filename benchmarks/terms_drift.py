"""How far full fine-tuning moves all-MiniLM-L6-v2 from its pre-trained weights with and without L2-SP / EWC.

    python benchmarks/terms_drift.py

Rotten-tomatoes, 64 labelled reviews, seed 0, 20 steps at lr 1e-4 (tests/objectives/test_real_terms.py's budget);
prints the squared distance Σ‖w − w⁰‖² over the encoder's weights for each objective (docs/DESIGN.md quotes it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "objectives"))

from test_real_terms import drift  # noqa: E402

from headstart.backbones import load_backbone  # noqa: E402
from headstart.data import load_dataset  # noqa: E402

if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0],
                            epilog="example: python benchmarks/terms_drift.py").parse_args()
    loaded = load_dataset("rotten-tomatoes"), load_backbone("all-minilm-l6-v2")
    import torch

    from headstart.precision import device_name

    print(f"CPU: {device_name(torch.device('cpu'))}")
    for name, terms in (("task loss alone", {}), ("+ l2sp[weight=100]", {"l2sp": {"weight": 100.0}}),
                        ("+ ewc[weight=100, samples=32]", {"ewc": {"weight": 100.0, "samples": 32}})):
        print(f"{name:32s} squared drift {drift(loaded, terms):.4g}")
