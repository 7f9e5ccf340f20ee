"""What is minimised: the task loss plus optional terms (``objectives.terms``): l2sp, ewc, lwf, replay."""

from headstart.objectives import ewc, l2sp, lwf, replay  # noqa: F401  (each registers its term)
from headstart.objectives.task import TaskLoss, class_weights
from headstart.objectives.terms import TERMS, Objective, TermContext, build_objective, get_term

__all__ = ["TERMS", "Objective", "TermContext", "TaskLoss", "build_objective", "class_weights", "get_term"]
