"""The cheaper CPU dropout masks: same distribution and scaling as nn.Dropout, same attention, nothing left changed."""

import pytest
import torch
from torch import nn

from headstart import fastdropout
from headstart.fastdropout import FastDropout, fast_dropout, keep_mask, kept_fraction, masked_dropout
from tests.conftest import tiny_bert


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mask_keeps_one_minus_p(p):
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([1000, 1000]), p)
    assert mask.dtype == torch.bool and mask.shape == (1000, 1000)
    assert abs(kept_fraction(p) - (1 - p)) < 1 / 65536
    assert mask.float().mean().item() == pytest.approx(1 - p, abs=2e-3)  # 1e6 draws: sd ~5e-4


def test_mask_elements_are_independent_of_their_position_in_a_word():
    """Four masks come from each 64-bit draw: every lane of the four keeps at the same rate."""
    torch.manual_seed(1)
    lanes = keep_mask(torch.Size([400_000, 4]), 0.3).float().mean(0)
    assert torch.allclose(lanes, torch.full((4,), 0.7), atol=5e-3)


def test_dropout_scales_kept_elements_and_preserves_the_mean():
    torch.manual_seed(2)
    x = torch.full((500_000,), 3.0, requires_grad=True)
    y = masked_dropout(x, 0.1)
    kept = y != 0
    scale = 1.0 / kept_fraction(0.1)  # the exact keep probability's inverse, not 1 / (1 - p): they differ by ~7e-6
    assert torch.equal(y[kept], torch.full_like(y[kept], 3.0) * scale)
    assert not torch.equal(y[kept], torch.full_like(y[kept], 3.0) * (1.0 / 0.9))
    assert y.mean().item() == pytest.approx(3.0, rel=5e-3)
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)  # gradient flows through kept elements only, with the same scale
    assert torch.equal(x.grad[kept], torch.full_like(x.grad[kept], scale))


def test_seeded_and_off_outside_training():
    x = torch.randn(64, 32)
    torch.manual_seed(3)
    a = masked_dropout(x, 0.2)
    torch.manual_seed(3)
    assert torch.equal(a, masked_dropout(x, 0.2))
    assert masked_dropout(x, 0.2, training=False) is x and masked_dropout(x, 0.0) is x
    assert torch.equal(masked_dropout(x, 1.0), torch.zeros_like(x))


def test_attention_matches_sdpa(monkeypatch):
    """With every element kept, the CPU attention equals transformers' sdpa attention, scaled by 1 / keep."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    torch.manual_seed(4)
    q, k, v = (torch.randn(2, 3, 5, 8) for _ in range(3))
    mask = torch.zeros(2, 1, 5, 5)
    mask[0, :, :, 3:] = torch.finfo(torch.float32).min  # padding in the first sequence
    module = nn.Module()
    module.is_causal = False
    expected, _ = sdpa_attention_forward(module, q, k, v, mask, dropout=0.0)
    monkeypatch.setattr(fastdropout, "keep_mask", lambda shape, p: torch.ones(shape, dtype=torch.bool))
    got, _ = fastdropout._attention(module, q, k, v, mask, dropout=0.1)
    assert torch.allclose(got, expected / kept_fraction(0.1), rtol=0, atol=1e-6)  # 1 / (1 - p) would be ~7e-6 off
    boolean = mask == 0  # a boolean mask (True = attend) gives the same
    got, _ = fastdropout._attention(module, q, k, v, boolean, dropout=0.1)
    assert torch.allclose(got, expected / kept_fraction(0.1), rtol=0, atol=1e-6)


def test_context_swaps_and_restores_everything():
    model = tiny_bert().model
    n_dropout = sum(type(m) is nn.Dropout for m in model.modules())
    assert n_dropout > 0 and model.config._attn_implementation == "sdpa"
    with pytest.raises(RuntimeError):
        with fast_dropout(model):
            assert sum(type(m) is FastDropout for m in model.modules()) == n_dropout
            assert model.config._attn_implementation == fastdropout.ATTENTION
            raise RuntimeError("mid-training failure")
    assert sum(type(m) is nn.Dropout for m in model.modules()) == n_dropout
    assert not any(type(m) is FastDropout for m in model.modules())
    assert model.config._attn_implementation == "sdpa"


def test_model_outputs_unchanged_in_eval_and_without_dropout():
    """In eval mode (and in train mode with p = 0) the swapped model computes what the plain one does."""
    model = tiny_bert().model
    ids = torch.randint(1000, 2000, (3, 7))
    attention = torch.ones_like(ids)
    attention[1, 4:] = 0
    plain = model(input_ids=ids, attention_mask=attention).last_hidden_state
    with fast_dropout(model):
        assert torch.allclose(model(input_ids=ids, attention_mask=attention).last_hidden_state, plain, atol=1e-5)
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        for layer in model.encoder.layer:
            layer.attention.self.dropout.p = 0.0
        model.train()
        assert torch.allclose(model(input_ids=ids, attention_mask=attention).last_hidden_state, plain, atol=1e-5)


def test_training_mode_drops_through_the_context(monkeypatch):
    """Inside the context a training forward draws every mask from ``keep_mask``: one per hidden dropout site (the
    embeddings, and two a layer) and one a layer for the attention probabilities; outside it, none."""
    model = tiny_bert().model.train()
    ids = torch.randint(1000, 2000, (2, 6))
    draws = []
    original = fastdropout.keep_mask

    def counted(shape, p):
        draws.append(tuple(shape))
        return original(shape, p)

    monkeypatch.setattr(fastdropout, "keep_mask", counted)
    layers = len(model.encoder.layer)
    with fast_dropout(model):
        torch.manual_seed(5)
        a = model(input_ids=ids).last_hidden_state
        assert len(draws) == 1 + 3 * layers
        assert sum(len(d) == 4 for d in draws) == layers  # (batch, heads, query, key): the attention probabilities
        torch.manual_seed(5)
        b = model(input_ids=ids).last_hidden_state
        torch.manual_seed(6)
        c = model(input_ids=ids).last_hidden_state
    assert torch.equal(a, b) and not torch.allclose(a, c)
    draws.clear()
    model(input_ids=ids)
    assert draws == []  # nn.Dropout and transformers' sdpa again
