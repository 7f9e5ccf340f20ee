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
