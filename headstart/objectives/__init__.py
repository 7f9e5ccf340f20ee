"""What is minimised: the task loss plus optional terms (later: EWC, L2-SP, LwF, DANN, CORAL, MMD)."""

from headstart.objectives.task import TaskLoss, class_weights

__all__ = ["TaskLoss", "class_weights"]
