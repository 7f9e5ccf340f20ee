"""The ``headstart`` command line: parse, call the API, print. Heavy imports happen inside commands.

``common`` holds the app and what commands share; each command family is a module that registers on the app when
imported: ``runs`` (train, evaluate), ``predict``, ``listing`` (strategies, backbones, datasets, cache), ``sweeps``
(compare, adapt, check-leakage, runs, report), ``continual``, ``multitask``, ``adapters`` (the adapters group: list,
show, merge, unmerge; and export), ``rank`` (rank-backbones), ``llm`` (sft, prefer, generate), ``meta`` (meta-train).
"""

from headstart.cli import runs, predict, listing, sweeps, continual, multitask, adapters, rank, llm, meta  # noqa: F401  (each registers its commands; this order is --help's)
from headstart.cli.common import app, main

__all__ = ["app", "main"]
