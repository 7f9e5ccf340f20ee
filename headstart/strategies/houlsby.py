"""houlsby: bottleneck adapters after the attention and feed-forward outputs of every layer (Houlsby et al. 2019).

Each adapter is ``x + up(gelu(down(x)))`` with ``down``: d -> d/--reduction and ``up`` initialised to zero,
so training starts from the pre-trained function. It is attached as a forward hook on the output
projections (default: modules whose name ends in ``.output.dense``, whole components: BERT's attention-output and
feed-forward-output projections, before their residual + LayerNorm; given ``--targets``, the linear layers each entry
names, as for the PEFT methods: ``peft_base.named_by``), so parameter names of the base stay unchanged. LayerNorms
train too, as in the paper. Written here: the ``adapters`` package pins an old ``transformers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from headstart.errors import ConfigError
from headstart.strategies.base import Budget, ParamGroup, Phase, Strategy, check_int_range, head_group
from headstart.strategies.peft_base import check_targets, encoder_of, module_names, named_by
from headstart.strategies.registry import register


class Bottleneck(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, hidden)
        self.up = nn.Linear(hidden, dim)
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(nn.functional.gelu(self.down(x)))


def _apply_adapter(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    return module.houlsby(output)


@dataclass(frozen=True)
class HoulsbyOptions:
    reduction: int = 16  # bottleneck width = hidden size / reduction
    targets: Any = None  # None: modules named *.output.dense

    def __post_init__(self) -> None:
        check_int_range("reduction", self.reduction, 1, 4096, "bottleneck width = hidden size / reduction",
                        default=HoulsbyOptions.reduction)
        object.__setattr__(self, "targets", check_targets(self.targets))


class Houlsby(Strategy):
    name = "houlsby"
    description = "Houlsby bottleneck adapters (width d/--reduction) after attention and feed-forward outputs + LayerNorms + head"
    Options = HoulsbyOptions
    needs_encoder = True
    modalities = ("text",)
    defaults = {"lr": 1e-3, "head_lr": 1e-3}
    lr_grid = (3e-4, 1e-3, 3e-3)  # --tune lr candidates
    unexportable_why = ("its bottleneck adapters are forward hooks that no transformers architecture holds, so no --format "
                        "(hf, sentence-transformers, onnx) writes them; serve it with headstart predict")

    def attach(self, model, options: HoulsbyOptions, *, precision: str, seed: int = 0, directory: Any = None) -> None:
        encoder = encoder_of(model.backbone)
        suffixes = options.targets if isinstance(options.targets, list) else ["output.dense"]
        linears = {name: m for name, m in encoder.named_modules() if isinstance(m, nn.Linear)}
        if isinstance(options.targets, list):  # the modules each entry names (``peft_base.named_by``), as PEFT's methods
            named = {name for target in options.targets for name in named_by(list(linears), target)}
        else:  # the default: every *.output.dense, the attention's and the feed-forward's output projections, matched on
            # whole path components (a module named xoutput.dense is not one)
            named = {name for name in linears if f".{name}".endswith(".output.dense")}
        found = [m for name, m in linears.items() if name in named]
        if not found:
            raise ConfigError(f"houlsby found no linear layer named *{' / *'.join(suffixes)} in {type(encoder).__name__}; "
                              f"give the output projections with --targets NAME[,NAME] (its module names: "
                              f"{', '.join(module_names(encoder))})")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for linear in found:
                linear.houlsby = Bottleneck(linear.out_features, max(1, linear.out_features // options.reduction)).to(linear.weight.device)
                linear.register_forward_hook(_apply_adapter)

    def plan(self, model, options, cfg, budget: Budget) -> list[Phase]:
        adapters = [p for n, p in model.backbone.named_parameters() if ".houlsby." in n]
        norms = [p for m in model.backbone.modules() if isinstance(m, nn.LayerNorm) for p in m.parameters()]
        return [Phase("adapter", [ParamGroup("adapters", adapters + norms, cfg.lr), head_group(model, cfg)], budget.steps)]


register(Houlsby())
