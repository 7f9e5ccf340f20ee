"""Backbones: pre-trained encoders behind one protocol (see base.Backbone)."""

from headstart.backbones.base import Backbone, count_parameters, modality_of
from headstart.backbones.registry import DEFAULT, REGISTRY, list_backbones, load_backbone
from headstart.callable_module import make_callable

__all__ = ["Backbone", "DEFAULT", "REGISTRY", "count_parameters", "list_backbones", "load_backbone", "modality_of"]

make_callable(__name__, list_backbones)  # headstart.backbones() mirrors headstart backbones
