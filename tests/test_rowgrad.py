"""rowgrad: sparse embedding backwards gathered into a kept dense buffer give PyTorch's dense gradients, step after step,
with micro-batches, a padding row and a tied weight; outside ``sparse()`` nothing changes; the hooks go on exit."""

import torch
from torch import nn

from headstart import rowgrad
from headstart.rowgrad import row_gradients


class Tiny(nn.Module):
    def __init__(self, tied: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8, padding_idx=0)
        self.position = nn.Embedding(6, 8)
        self.out = nn.Linear(8, 50, bias=False)
        if tied:
            self.out.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.embed(ids) + self.position(torch.arange(ids.shape[1])))
        return self.out(h).logsumexp(-1).mean()


def _batches(seed: int, count: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 50, (4, 6), generator=g) for _ in range(count)]  # row 0 (padding) appears too


def _train(model: nn.Module, steps: list[list[torch.Tensor]], *, rows: bool) -> list[list[torch.Tensor]]:
    """SGD steps, each over its micro-batches; the gradients each step saw, per parameter."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.01)
    seen = []
    with row_gradients(model) as row_grads:
        for micro in steps:
            for ids in micro:
                if rows:
                    with row_grads.sparse():
                        model(ids).backward()
                else:
                    model(ids).backward()
            seen.append([p.grad.clone() for p in model.parameters()])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return seen


def test_same_gradients_as_dense_backward_over_steps_and_micro_batches(monkeypatch):
    """Untied, a step's first micro-batch reaches the hook sparse (its rows go into the buffer) and the second lands in
    that buffer dense; tied to the output layer, autograd hands the hook the dense sum of both uses, left as it is."""
    seen_by_hook: list[bool] = []
    original = rowgrad._DenseRows.__call__

    def spy(self, weight):
        if weight.shape[0] == 50:  # the word embedding (the position table has 6 rows)
            seen_by_hook.append(weight.grad.is_sparse)
        original(self, weight)

    monkeypatch.setattr(rowgrad._DenseRows, "__call__", spy)
    for tied in (False, True):
        steps = [_batches(s, 2) for s in range(4)]
        torch.manual_seed(0)
        dense = Tiny(tied)
        ours = Tiny(tied)
        ours.load_state_dict(dense.state_dict())
        expected = _train(dense, steps, rows=False)
        seen_by_hook.clear()
        got = _train(ours, steps, rows=True)
        assert seen_by_hook == ([False, False] if tied else [True, False]) * 4
        for step_expected, step_got in zip(expected, got):
            for e, g in zip(step_expected, step_got):
                assert not g.is_sparse
                torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(ours.embed.weight, dense.embed.weight, rtol=1e-6, atol=1e-7)
        if not tied:  # the padding row gets no gradient from the lookup, as with the dense backward
            assert float(got[0][0][0].abs().sum()) == 0.0


def test_one_micro_batch_a_step_gives_the_dense_gradients_bit_for_bit(monkeypatch):
    sparse_at_hook: list[bool] = []
    original = rowgrad._DenseRows.__call__
    monkeypatch.setattr(rowgrad._DenseRows, "__call__", lambda self, weight: sparse_at_hook.append(weight.grad.is_sparse)
                        or original(self, weight))
    steps = [_batches(s, 1) for s in range(4)]
    torch.manual_seed(0)
    dense, ours = Tiny(), Tiny()
    ours.load_state_dict(dense.state_dict())
    for step_expected, step_got in zip(_train(dense, steps, rows=False), _train(ours, steps, rows=True)):
        assert all(torch.equal(e, g) for e, g in zip(step_expected, step_got))
    assert sparse_at_hook == [True, True] * 4, "both embeddings' backwards were sparse, every step: the path compared"


def test_sparse_only_inside_and_hooks_removed_on_exit():
    model = Tiny()
    with row_gradients(model) as row_grads:
        model(_batches(0, 1)[0]).backward()
        assert not model.embed.weight.grad.is_sparse  # outside sparse(): PyTorch's own dense gradient
        model.zero_grad(set_to_none=True)
        with row_grads.sparse():
            assert model.embed.sparse
            model(_batches(1, 1)[0]).backward()
        assert not model.embed.sparse
        kept = model.embed.weight.grad
        assert not kept.is_sparse
        model.zero_grad(set_to_none=True)
        with row_grads.sparse():
            model(_batches(2, 1)[0]).backward()
        assert model.embed.weight.grad is kept  # the same buffer, cleared and refilled: no fresh allocation
    model.zero_grad(set_to_none=True)
    model.embed.sparse = True  # the hooks are gone: a sparse gradient stays sparse now
    model(_batches(3, 1)[0]).backward()
    assert model.embed.weight.grad.is_sparse


def test_a_fit_of_a_tiny_bert_trains_as_with_dense_backwards(toy, make_tiny_bert, monkeypatch):
    """The engine hands the buffers to the step for the plain task loss: the embeddings' gradients come in sparse,
    and the weights it trains end where PyTorch's dense backward takes them (a loss of another class gets none)."""
    import numpy as np

    from headstart import engine
    from headstart.engine import FitData, fit
    from headstart.model import TaskModel
    from headstart.objectives import TaskLoss
    from headstart.rowgrad import _DenseRows
    from headstart.specs import TrainConfig
    from headstart.strategies import ParamGroup, Phase

    cfg = TrainConfig(precision="fp32", batch_size=8, warmup=0.0, patience=0, evals_per_phase=2).with_defaults({})
    sparse_seen = []
    real_hook = _DenseRows.__call__

    def spy(self, weight):
        sparse_seen.append(weight.grad.is_sparse)
        real_hook(self, weight)

    monkeypatch.setattr(_DenseRows, "__call__", spy)

    def train(row_gradients: bool) -> TaskModel:
        monkeypatch.setattr(engine, "TaskLoss", TaskLoss if row_gradients else type("OtherLoss", (), {}))
        model = TaskModel(make_tiny_bert(0), 2, seed=0)
        data = FitData(encoded=model.backbone.encode(toy.inputs), targets=torch.as_tensor(toy.targets),
                       raw_targets=toy.targets, train_rows=np.arange(64), val_rows=np.arange(150, 200))
        phases = [Phase("train", [ParamGroup("all", list(model.parameters()), 1e-2)], 12)]
        fit(model, phases, TaskLoss("classification"), data, cfg, seed=0, task="classification",
            label_names=("neg", "pos"), metric="accuracy")
        return model

    ours = train(True)
    assert sparse_seen and all(sparse_seen)
    sparse_seen.clear()
    dense = train(False)
    assert not sparse_seen  # no buffers: the hooks were never asked
    embedding = next(n for n, m in ours.named_modules() if isinstance(m, nn.Embedding))
    for (name, a), (_, b) in zip(ours.named_parameters(), dense.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert not dict(ours.named_modules())[embedding].sparse  # put back
