"""Tests of headstart/scoring.py: what the progress bar says while a trained run is scored."""

from __future__ import annotations

import re

from headstart.progress import ETA_KEY
from headstart.specs import RunSpec, TrainConfig

CFG = TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="fp32", eval_batch_size=16)


def test_every_scoring_part_after_the_steps_counts_what_it_has_done(toy_csv, other_csv, tiny_registry):
    """The test split, retention (the adapted backbone's features, then the probes' fits) and another dataset's test
    split (tent's adaptation on its pool first) each count rows, fits or batches as they go, the bar where the steps
    ended, from 0 to the whole: retention and out-of-domain scoring took 1.6x the steps' time with one line unchanged."""
    from headstart.recipe import run

    seen = []
    run(RunSpec(data=str(toy_csv), backbone="tiny", strategy="full-finetune", n=32, train=CFG, retain=(str(other_csv),),
                eval_data=(f"{other_csv}[neutral=-]",), tta=("tent",)),
        progress=lambda done, total, info: seen.append((done, total, dict(info))))
    then = [info["then"] for _, _, info in seen if "then" in info]
    etas = [info[ETA_KEY] for _, _, info in seen if "then" in info]
    assert all(seen[-1][:2] == (done, total) for done, total, info in seen if "then" in info), "the bar stays at the steps"
    parts: dict[str, list[tuple[int, int]]] = {}
    for text in then:
        counted = re.fullmatch(r"(.*), (\d+)/(\d+) (rows|fits|batches)(, .*)?", text)
        if counted:
            parts.setdefault(f"{counted[1]} ({counted[4]})", []).append((int(counted[2]), int(counted[3])))
    retain, elsewhere = f"measuring retention on {other_csv}", f"scoring {other_csv}[neutral=-]"
    assert list(parts) == ["scoring the test split (rows)", f"{retain}, caching the pre-trained backbone's features (rows)",
                           f"{retain}, the adapted backbone's features (rows)",
                           f"{retain}, fitting its probes (fits)", f"{elsewhere} (rows)",
                           f"{elsewhere} after tent, adapting to its pool (batches)", f"{elsewhere} after tent (rows)"], list(parts)
    for name, counts in parts.items():
        assert counts[0][0] == 0 and counts[-1][0] == counts[-1][1] > 0 and len(counts) > 2, (name, counts)
    assert parts[f"{retain}, fitting its probes (fits)"][-1] == (60, 60), "5 folds x (5 Cs + the chosen) x 2 encoders"
    midway = [(t, eta) for t, eta in zip(then, etas) if re.search(r" (\d+)/(?!\1 )\d+ ", t)]
    assert all(("unknown" in t) == (eta is None) and "left," not in t and not t.endswith("left") for t, eta in midway), \
        "what is left is the bar's one ETA, unknown before a part's first batch"


def test_each_arm_counts_its_test_features_at_their_cost_whichever_arm_scored_first(toy, make_tiny, monkeypatch):
    """The first frozen-feature arm of a compare computed the test split's features, the next read them: linear-probe
    listed first took 26.7 s to score 321 rotten-tomatoes rows and embed-logreg after it 0.00 s, the other order the
    reverse. Each arm now counts the features its scoring reads at what computing them cost (``eval_feature_seconds``),
    as ``train_seconds`` counts its own; listed second, or in another process after the cache file was written, the
    same."""
    import time

    import pytest

    from headstart.features import clear_memory
    from headstart.recipe import run

    backbone = make_tiny(0)
    original = type(backbone).forward
    monkeypatch.setattr(type(backbone), "forward", lambda self, batch: time.sleep(0.02) or original(self, batch))

    def scored(strategy: str):
        return run(RunSpec(data="toy", backbone="tiny", strategy=strategy, n=32, train=CFG), data=toy, pretrained=backbone).result

    first, second = scored("linear-probe"), scored("embed-logreg")
    cost = first.record["eval_feature_seconds"]
    assert cost > 0.02, "every batch of test rows sleeps 0.02 s"
    assert second.record["eval_feature_seconds"] == pytest.approx(cost), "the same test rows, read from the cache"
    floor = cost - 0.0005  # the record keeps the charge to 3 decimals, eval_seconds its unrounded sum
    assert first.eval_seconds >= floor and second.eval_seconds >= floor, "listed second, the features are counted all the same"
    clear_memory()  # another process: the cache file holds each row's cost
    again = scored("embed-logreg")
    assert again.record["eval_feature_seconds"] == pytest.approx(cost) and again.eval_seconds >= floor
