"""lp-ft: linear probe, then full fine-tune from the probed head (Kumar et al. 2022).

Fine-tuning with a random head distorts pre-trained features while the head is still wrong; probing
first gives the fine-tune phase a good head, so the encoder moves less. The fine-tune phase trains all
weights at the backbone learning rate (``lr``).
"""

from __future__ import annotations

from headstart.strategies.base import CNN_FINETUNE_GRID, CNN_FINETUNE_LR, Budget, ParamGroup, Phase, Strategy, head_group
from headstart.strategies.registry import register


class LPFT(Strategy):
    name = "lp-ft"
    description = "linear probe on cached features, then full fine-tune from the probed head"
    defaults = {"lr": 1e-4, "head_lr": 1e-3}  # 77.9% validation against 76.8% at 1e-5 (docs/BENCHMARKS.md, "The defaults and what chose them")
    lr_grid = (5e-5, 1e-4, 2e-4)  # --tune lr candidates, centred on the default
    image_defaults = {"lr": CNN_FINETUNE_LR}  # a CNN (docs/DESIGN.md, "Images")
    image_lr_grid = CNN_FINETUNE_GRID

    def plan(self, model, options, cfg, budget: Budget) -> list[Phase]:
        # The probe phase runs on cached features, so it gets the linear probe's generous step count.
        probe_steps = max(budget.steps, 300)
        if cfg.max_steps is not None:  # --max-steps caps every phase, this one too
            probe_steps = min(probe_steps, cfg.max_steps)
        return [
            Phase("probe", [head_group(model, cfg)], probe_steps),
            Phase("finetune", [ParamGroup("all", model.backbone_parameters() + model.head_parameters(), cfg.lr)], budget.steps),
        ]


register(LPFT())
