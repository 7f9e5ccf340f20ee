"""``evaluation.model_outputs``: how rows are batched for scoring and prediction."""

import numpy as np
import torch

from headstart.evaluation import model_outputs
from headstart.model import TaskModel
from headstart.precision import autocast_for


def test_a_rows_bf16_outputs_do_not_depend_on_the_rows_scored_beside_it(make_tiny_bert, toy):
    """Under bf16 autocast, padding a short row to a long neighbour's width moved its probability in the 4th decimal
    (a LoRA MiniLM run: 0.5957 alone, 0.5951 beside a long review), so ``headstart predict`` of a file gave a row
    another answer than the same row alone, and near 0.5 another label. On the tiny BERT padding moves the pooled
    features by ~1e-5, which the head's bf16 outputs (16 here, so that some round across a step) show."""
    model = TaskModel(make_tiny_bert(0), 16, seed=0)
    long = " ".join(["an overlong, meandering film that never decides what it wants to be"] * 3)
    texts = [*toy.inputs[:20], long]
    encoded = model.backbone.encode(texts)
    assert all(len(x) < len(encoded[-1]) for x in encoded[:-1]), "the neighbour must be the longest, so that it pads the rows"
    bf16 = autocast_for("bf16", torch.device("cpu"))

    def outputs(rows: list[int], batch_size: int = 64) -> torch.Tensor:
        return model_outputs(model, encoded, np.array(rows), batch_size=batch_size, autocast=bf16)

    alone = torch.cat([outputs([i]) for i in range(20)])
    beside = torch.stack([outputs([i, 20])[0] for i in range(20)])
    assert torch.equal(beside, alone)
    assert torch.equal(outputs(list(range(21)))[:20], alone)
    assert torch.equal(outputs(list(range(21)), batch_size=3)[:20], alone)
    padded = torch.stack([model_outputs(model, encoded, np.array([i, 20]), batch_size=64, autocast=bf16, padded=True)[0]
                          for i in range(20)])
    assert not torch.equal(padded, alone), "padded=True (the engine's validation checks) pads: the test would test nothing"


def test_the_engines_validation_checks_score_padded_batches(monkeypatch, toy_csv, tiny_registry):
    """A check only chooses a checkpoint, from the same batches every time: one-length batches would take ~1.5x as
    long (five checks of a 256-label full fine-tune: issue 26's wall time), so the engine asks for padded ones."""
    import headstart
    import headstart.engine as engine
    from headstart.specs import TrainConfig

    asked = []
    real = engine.model_outputs

    def spy(*args, **kwargs):
        asked.append(kwargs.get("padded", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "model_outputs", spy)
    headstart.fit(str(toy_csv), "tiny", strategy="full-finetune", n=16,
                  config=TrainConfig(max_steps=4, min_steps=4, batch_size=8, precision="bf16"))
    assert asked and all(asked), asked
