"""Backbones: pre-trained encoders behind one protocol (see base.Backbone)."""

from headstart.backbones.base import Backbone, count_parameters, modality_of
from headstart.backbones.registry import DEFAULT, REGISTRY, load_backbone

__all__ = ["Backbone", "DEFAULT", "REGISTRY", "count_parameters", "load_backbone", "modality_of"]
