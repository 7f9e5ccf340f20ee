"""What is minimised: the task loss plus optional terms (``objectives.terms``): l2sp so far."""

from headstart.objectives import l2sp  # noqa: F401  (registers the term)
from headstart.objectives.task import TaskLoss, class_weights
from headstart.objectives.terms import TERMS, Objective, build_objective, get_term

__all__ = ["TERMS", "Objective", "TaskLoss", "build_objective", "class_weights", "get_term"]
