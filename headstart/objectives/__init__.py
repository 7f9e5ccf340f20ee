"""What is minimised: the task loss plus optional terms (``objectives.terms``): l2sp, ewc, lwf, replay (forgetting);
dann, coral, mmd (aligning the features with an unlabelled target domain); importance (weighting each example's loss
by how target-like its input is)."""

from headstart.objectives import coral, dann, ewc, importance, l2sp, lwf, mmd, replay  # noqa: F401  (each registers its term)
from headstart.objectives.task import TaskLoss, class_weights
from headstart.objectives.terms import TERMS, Objective, TermContext, build_objective, get_term

__all__ = ["TERMS", "Objective", "TermContext", "TaskLoss", "build_objective", "class_weights", "get_term"]
