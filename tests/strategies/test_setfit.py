"""setfit: its pairs are SetFit's, its loss is sentence-transformers' CosineSimilarityLoss, and its contrastive phase
pulls same-class rows together and pushes other classes apart."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_backbone, tiny_bert, tiny_llama

from headstart.errors import ConfigError
from headstart.features import embed_rows
from headstart.recipe import setup, train
from headstart.specs import RunSpec, TrainConfig
from headstart.strategies.setfit import SetFitOptions, cosine_pair_loss, draw_pairs, tune_encoder

CFG = TrainConfig(precision="fp32", batch_size=16, lr=1e-2, min_steps=1)


def margin(backbone, encoded, rows, targets) -> float:
    """Mean cosine of same-class pairs minus mean cosine of different-class pairs (distinct rows)."""
    x = F.normalize(embed_rows(backbone, encoded, rows, batch_size=64), dim=-1)
    cos = x @ x.T
    y = torch.as_tensor(targets)
    same = (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool)
    different = y[:, None] != y[None, :]
    return float(cos[same].mean() - cos[different].mean())


def test_pairs_are_one_positive_and_one_negative_per_row_and_iteration():
    targets = np.array([0, 0, 1, 1, 1, 2])
    a, b, label = draw_pairs(targets, 3, torch.Generator().manual_seed(0))
    assert len(a) == 2 * 3 * len(targets)
    assert np.array_equal(targets[a] == targets[b], label == 1.0)  # positives same class, negatives another
    positive = (label == 1.0) & (targets[a] != 2)  # class 2 has one row: it is its own positive
    assert (a[positive] != b[positive]).all()  # a row is not its own positive when its class has another
    assert ((a == b) == ((label == 1.0) & (targets[a] == 2))).all()
    assert np.bincount(a, minlength=len(targets)).tolist() == [6] * len(targets)
    again = draw_pairs(targets, 3, torch.Generator().manual_seed(0))
    assert all(np.array_equal(x, y) for x, y in zip((a, b, label), again))  # seeded
    other = draw_pairs(targets, 3, torch.Generator().manual_seed(1))
    assert not np.array_equal(a, other[0])


def test_loss_is_sentence_transformers_cosine_similarity_loss():
    losses = pytest.importorskip("sentence_transformers.losses")
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(12, 8, generator=g), torch.randn(12, 8, generator=g)
    label = (torch.rand(12, generator=g) > 0.5).float()
    theirs = losses.CosineSimilarityLoss.compute_loss_from_embeddings(
        type("L", (), {"cos_score_transformation": torch.nn.Identity(), "loss_fct": torch.nn.MSELoss(),
                       "__class__": losses.CosineSimilarityLoss})(), [u, v], label)
    assert torch.allclose(cosine_pair_loss(u, v, label), theirs)


def test_contrastive_phase_raises_same_class_over_different_class_cosine(toy):
    """On the training rows: the margin (same-class cosine minus different-class cosine) grows; a phase that did
    nothing would leave it where it was."""
    backbone = tiny_backbone(0)
    rows = np.arange(32)
    encoded = backbone.encode([toy.inputs[r] for r in rows])
    targets = toy.targets[rows]
    before = margin(backbone, encoded, np.arange(32), targets)
    backbone.train()
    steps, planned = tune_encoder(backbone, encoded, targets, iterations=10, lr=1e-2, batch_size=16, weight_decay=0.01,
                                  warmup=0.1, clip=1.0, max_steps=None, generator=torch.Generator().manual_seed(0))
    after = margin(backbone, encoded, np.arange(32), targets)
    assert steps == planned == 2 * 10 * 32 // 16
    assert after > before + 0.5, (before, after)  # measured 0.01 -> 0.81


@pytest.mark.parametrize("make", [tiny_bert, tiny_llama], ids=["bert-mean", "llama-lasttoken"])
def test_a_row_embeds_the_same_alone_and_in_a_jointly_padded_batch(toy, make):
    """Joining a pair batch's two sides pads every row to the longest of both: attention masks and pooling must make
    each row's embedding what it is alone (right padding, real tokens keep their positions)."""
    backbone = make(0).eval()
    encoded = backbone.encode([toy.inputs[r] for r in range(12)])
    assert len({len(row) for row in encoded}) > 1  # the batch really pads
    with torch.no_grad():
        alone = torch.cat([backbone(backbone.collate([row])) for row in encoded])
        joint = backbone(backbone.collate(encoded))
    assert torch.allclose(alone, joint, atol=1e-5)


def test_a_pair_step_is_one_forward_under_the_runs_autocast(toy):
    backbone = tiny_bert(0)
    encoded = backbone.encode([toy.inputs[r] for r in range(32)])
    forwards, inside = [], []
    backbone.register_forward_pre_hook(lambda module, args: forwards.append(torch.is_autocast_enabled("cpu")))

    def autocast():
        inside.append(1)
        return torch.autocast("cpu", dtype=torch.bfloat16)

    backbone.train()
    steps, _ = tune_encoder(backbone, encoded, toy.targets[:32], iterations=2, lr=1e-3, batch_size=16, weight_decay=0.0,
                            warmup=0.1, clip=1.0, max_steps=None, generator=torch.Generator().manual_seed(0), autocast=autocast)
    assert steps == 2 * 2 * 32 // 16 and len(forwards) == steps and all(forwards) and len(inside) == steps


def test_setfit_run_tunes_the_encoder_and_fits_the_head_on_its_new_features(toy):
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="setfit", n=32, train=CFG, options={"iterations": 5, "grid": [1.0]}),
              data=toy, pretrained=tiny_backbone(0))
    before = margin(s.model.backbone, s.encoded, s.train_rows, toy.targets[s.train_rows])
    report = train(s)
    assert report.status == "done" and report.chosen["pair_steps"] == 2 * 5 * 32 // 16 and report.chosen["C"] == 1.0
    assert "pair_steps_planned" not in report.chosen, "nothing cut it"
    assert any(name.startswith("backbone.") for name in report.trained)  # saved as a tuned encoder, not the pre-trained one
    assert margin(s.model.backbone, s.encoded, s.train_rows, toy.targets[s.train_rows]) > before
    untouched = tiny_backbone(0)
    assert any(not torch.equal(p, q) for p, q in zip(s.model.backbone.parameters(), untouched.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(s.pretrained.parameters(), untouched.parameters()))  # its own copy


def test_max_steps_caps_the_pair_steps(toy):
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="setfit", n=32, train=dataclasses.replace(CFG, max_steps=3)),
              data=toy, pretrained=tiny_backbone(0))
    assert train(s).chosen["pair_steps"] == 3


@pytest.mark.parametrize("given,match", [({"iterations": 0}, r"iterations must be an integer in \[1, 1000\]"),
                                         ({"grid": [-1]}, "grid must be one or more positive numbers")])
def test_bad_options_name_the_value_and_the_fix(given, match):
    with pytest.raises(ConfigError, match=match):
        SetFitOptions(**given)


def test_its_pair_steps_draw_on_the_progress_bar_and_the_summary_says_it_trained(toy, toy_csv, tiny_registry, tmp_path, monkeypatch, capsys):
    """The bar read '0/0' for minutes of pair training, and the summary said 'parameters set in closed form ... no
    optimiser step' with 'chosen on validation: pair_steps=80'."""
    from conftest import run_cli

    s = setup(RunSpec(data="toy", backbone="tiny", strategy="setfit", n=32, train=dataclasses.replace(CFG, max_steps=3)),
              data=toy, pretrained=tiny_backbone(0))
    shown = []
    train(s, progress=lambda done, total, info: shown.append((done, total, info.get("phase"))))
    assert shown == [(1, 3, "setfit"), (2, 3, "setfit"), (3, 3, "setfit"), (3, 3, "setfit")]
    code, out, err = run_cli(["train", "--quiet", "--data", str(toy_csv), "--backbone", "tiny", "--strategy", "setfit", "--n", "32",
                              "--max-steps", "2", "--out", str(tmp_path / "run")], monkeypatch, capsys)
    assert code in (0, None), err
    assert "the encoder tuned in 2 pair steps, then the head in closed form" in out and "no optimiser step" not in out
    assert "chosen on validation: C=" in out and "pair_steps=" not in out


def test_a_pair_epoch_cut_by_max_steps_is_recorded_and_said(toy):
    from headstart.analysis.budgets import budget_text
    from headstart.results import RunResult

    cfg = dataclasses.replace(CFG, max_steps=4)
    s = setup(RunSpec(data="toy", backbone="tiny", strategy="setfit", n=32, train=cfg, options={"iterations": 5, "grid": [1.0]}),
              data=toy, pretrained=tiny_backbone(0))
    report = train(s)
    assert report.chosen["pair_steps"] == 4 and report.chosen["pair_steps_planned"] == 2 * 5 * 32 // 16
    run = RunResult("k", {"strategy": "setfit"}, "done", chosen=report.chosen, record={"budget": {"planned_steps": 0}})
    assert budget_text([run]) == ("4 encoder steps on sentence pairs (capped by max_steps: one epoch of its pairs is 20 "
                                  "steps), then a closed-form head")
