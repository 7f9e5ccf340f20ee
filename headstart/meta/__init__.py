"""Meta-learning (issue 21): train a backbone on N-way K-shot episodes of base classes, then classify novel classes
from a few examples. Arms: ``protonet``, ``maml``, ``fomaml``, ``reptile`` (one file each, registered in ``base.ARMS``);
``baselines.py`` scores the plain backbone on the same episodes; ``train.py`` is the recipe behind
``headstart meta-train`` (``pools.py``: its setup, the encoded rows its episodes are drawn from).
"""

from headstart.meta import maml, protonet, reptile  # noqa: F401  (each registers its arms)
from headstart.meta.base import ARMS, get_arm
from headstart.meta.config import MetaConfig

__all__ = ["ARMS", "MetaConfig", "get_arm"]
