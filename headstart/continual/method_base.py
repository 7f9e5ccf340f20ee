"""What every continual method is: a name, options, and two answers — ``penalties(chain, step)``, the terms added to
the task loss while task ``step`` trains, and ``after(chain, step)``, what it keeps once the task is learnt. The
methods themselves are in ``continual.methods`` (the registry) and ``continual.importance``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from headstart.objectives.terms import Penalty


@dataclass(frozen=True)
class NoOptions:
    pass


class Method:
    """Base: no penalty, nothing kept."""

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type] = NoOptions
    scenarios: ClassVar[tuple[str, ...]] = ("class", "task")
    independent: ClassVar[bool] = False  # a fresh model per task (adapter-per-task)
    joint: ClassVar[bool] = False  # every task at once (the reference)
    strategy: ClassVar[str | None] = None  # the strategy the method needs, whatever --strategy says
    grid: ClassVar[tuple[float, ...]] = ()  # the weights --tune tries (the one with the best validation ACC is kept)
    modalities: ClassVar[tuple[str, ...]] = ("text", "image")

    def prepare(self, chain: Any, step: int) -> None:
        """Change task ``step``'s fresh model before it trains (independent methods: progressive columns)."""

    def penalties(self, chain: Any, step: int, options: Any) -> list[Penalty]:
        return []

    def after(self, chain: Any, step: int, options: Any) -> None:
        """Update ``chain.memory`` once task ``step`` is learnt (the model as it ends the task)."""
