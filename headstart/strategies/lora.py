"""lora and dora: low-rank updates W = W0 + (alpha/r)·BA on chosen linear layers (Hu et al. 2021), via peft.

``dora`` (Liu et al. 2024) also learns a per-output-row magnitude, decoupling the update's direction from
its size. The default targets are PEFT's for the architecture (attention query and value for BERT; MPNet's q, v,
which PEFT does not name: ``peft_base.DEFAULT_TARGETS``); on an image
backbone, its ``adapter_targets``: EfficientNet's pointwise (1x1) expand and project convolutions, where a
conv's W is (out, in, 1, 1) and the update B·A is rank r as for a linear layer; every conv and the hidden
linear layer of the small MNIST CNN. Given ``--targets``, each entry adapts the modules it names exactly
(``peft_base.exact_targets``): ``output.dense`` is the feed-forward output projection, not also the attention's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headstart.errors import ConfigError
from headstart.strategies.peft_base import PeftStrategy, check_targets, default_targets, encoder_of, exact_targets
from headstart.strategies.registry import register


@dataclass(frozen=True)
class LoraOptions:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    targets: Any = None  # None: query,value for BERT-like encoders; "all-linear"; or names: "query,key,value,output.dense"

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"rank must be a positive integer, got {self.rank!r}; try rank=8")
        if not isinstance(self.alpha, (int, float)) or self.alpha <= 0:
            raise ConfigError(f"alpha must be > 0, got {self.alpha!r}; try alpha=16")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}; try dropout=0.1")
        object.__setattr__(self, "targets", check_targets(self.targets))


class Lora(PeftStrategy):
    name = "lora"
    modalities = ("text", "image")
    description = "LoRA (peft): rank --rank updates on --targets (default attention query/value), head trained"
    Options = LoraOptions
    use_dora = False
    # 1e-3, not PEFT's usual 2e-4: on MiniLM, best on validation of 1e-4 / 2e-4 / 5e-4 / 1e-3 at rotten-tomatoes 256
    # (76.5% vs 69.4% at 2e-4, 3 seeds) and 2,048 (82.5% vs 79.7%), within noise of 5e-4 at 64
    # (`python benchmarks/defaults_sweep.py --grid lora=...`, docs/BENCHMARKS.md "The defaults and what chose them").
    # The B matrices start at zero: 100 steps at 2e-4 barely move them. Images keep 2e-4 (not measured there).
    defaults = {"lr": 1e-3, "head_lr": 1e-3, "min_steps": 100}
    lr_grid = (3e-4, 1e-3, 3e-3)  # --tune lr candidates, centred on the default (the old 1e-4..3e-4 lay wholly below it)
    image_defaults = {"lr": 2e-4}
    image_lr_grid = PeftStrategy.lr_grid  # 1e-4..3e-4 around the image default

    def peft_config(self, options: LoraOptions, backbone) -> Any:
        from peft import LoraConfig, TaskType

        targets = options.targets
        if isinstance(targets, list):  # the modules each entry names, not every module whose name ends in it
            targets = exact_targets(encoder_of(backbone), targets)
        if backbone.modality == "image":  # a plain torch CNN: PEFT's custom-model path, targets named by the backbone
            return LoraConfig(r=options.rank, lora_alpha=options.alpha, lora_dropout=options.dropout,
                              target_modules=targets or backbone.adapter_targets, use_dora=self.use_dora)
        return LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, r=options.rank, lora_alpha=options.alpha,
                          lora_dropout=options.dropout, target_modules=targets or default_targets(backbone, "lora"),
                          use_dora=self.use_dora)


class Dora(Lora):
    name = "dora"
    description = "DoRA (peft): LoRA direction + learned magnitude per output row, head trained"
    use_dora = True


register(Lora())
register(Dora())
