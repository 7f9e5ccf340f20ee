"""The modelling file ``headstart export --format hf`` writes beside the weights (as ``modeling_headstart.py``).

transformers has no sequence-classification class that pools as sentence-transformers does (mean, max, ...) or
applies a Dense and Normalize before the classifier, so an exported run brings this file and is loaded with
``AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)``. Its text-classification
pipeline (named in the config's ``custom_pipelines``, so ``pipeline("text-classification", model=folder,
trust_remote_code=True)`` builds it) truncates at the tokenizer's ``model_max_length`` unless told
``truncation=False``. Self-contained: it imports torch and transformers only, never headstart.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel, TextClassificationPipeline
from transformers.modeling_outputs import SequenceClassifierOutput

ACTIVATIONS = {"Tanh": nn.Tanh, "Identity": nn.Identity, "ReLU": nn.ReLU, "GELU": nn.GELU, "Sigmoid": nn.Sigmoid}


class HeadstartConfig(PretrainedConfig):
    """The encoder's own config (``encoder``), how its states are pooled, the Dense layers, Normalize, the head."""

    model_type = "headstart"

    def __init__(self, encoder: dict | None = None, pooling: list[str] | None = None, dense: list[list] | None = None,
                 normalize: bool = False, target_mean: float = 0.0, target_std: float = 1.0, encoder_pooler: bool = False,
                 **kwargs) -> None:
        self.encoder = encoder or {}
        self.encoder_pooler = encoder_pooler  # whether the encoder keeps its own pooler (unused: features pool its states)
        self.pooling = pooling or ["mean"]
        self.dense = dense or []  # [in_features, out_features, activation, bias] per layer
        self.normalize = normalize
        self.target_mean = target_mean  # regression: predictions in the targets' units
        self.target_std = target_std
        super().__init__(**kwargs)


def pool(hidden: torch.Tensor, mask: torch.Tensor, modes: list[str]) -> torch.Tensor:
    """Each mode as sentence-transformers computes it, concatenated in its order."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    counts = m.sum(1).clamp_min(1.0)
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(hidden[:, 0])
        elif mode == "max":
            out.append(hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).max(1).values)
        elif mode == "mean":
            out.append((hidden * m).sum(1) / counts)
        elif mode == "mean_sqrt_len":
            out.append((hidden * m).sum(1) / counts.sqrt())
        elif mode == "weightedmean":
            w = m * torch.arange(1, hidden.shape[1] + 1, device=hidden.device, dtype=hidden.dtype).view(1, -1, 1)
            out.append((hidden * w).sum(1) / w.sum(1).clamp_min(1.0))
        else:
            last = (mask.sum(1) - 1).clamp_min(0)
            out.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
    return torch.cat(out, -1) if len(out) > 1 else out[0]


class DenseLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, activation: str, bias: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x))


class HeadstartForSequenceClassification(PreTrainedModel):
    """encoder → pooling → Dense layers → Normalize → linear classifier; ``logits`` as headstart computed them."""

    config_class = HeadstartConfig
    base_model_prefix = "headstart"

    def __init__(self, config: HeadstartConfig) -> None:
        super().__init__(config)
        encoder_config = dict(config.encoder)
        self.encoder = AutoModel.from_config(AutoConfig.for_model(encoder_config.pop("model_type"), **encoder_config))
        if not config.encoder_pooler and getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None  # the run's encoder had none: no weights to load, none needed
        self.dense = nn.ModuleList(DenseLayer(*layer) for layer in config.dense)
        width = config.dense[-1][1] if config.dense else self.encoder.config.hidden_size * len(config.pooling)
        self.classifier = nn.Linear(width, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:  # every weight comes from the checkpoint
        pass

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                **kwargs) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        features = pool(hidden, attention_mask, list(self.config.pooling))
        for layer in self.dense:
            features = layer(features)
        if self.config.normalize:
            features = nn.functional.normalize(features, dim=-1)
        logits = self.classifier(features)
        if self.config.problem_type == "regression":
            logits = logits * self.config.target_std + self.config.target_mean
        loss = None
        if labels is not None:
            if self.config.problem_type == "regression":
                loss = nn.functional.mse_loss(logits.squeeze(-1), labels.float())
            elif self.config.problem_type == "multi_label_classification":
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
            else:
                loss = nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


class HeadstartTextClassificationPipeline(TextClassificationPipeline):
    """transformers' text-classification pipeline, truncating each text at the tokenizer's ``model_max_length`` (the
    run's max length) unless built or called with ``truncation=False``: transformers' own truncates nothing by default,
    and a text longer than the encoder's positions fails inside it."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("truncation", True)
        super().__init__(*args, **kwargs)
