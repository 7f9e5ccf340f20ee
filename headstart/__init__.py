"""headstart: measure how to adapt a pre-trained model to a small labelled dataset, then do it.

Public API (imported lazily so ``headstart --help`` stays instant), one function per CLI command:
``fit`` (``headstart train``; ``load`` reads back the run it saved), ``evaluate``, ``predict``, ``compare``, ``adapt``, ``check_leakage``, ``runs``, ``report``,
``continual``, ``multitask``, ``export``, ``rank_backbones``, ``sft``, ``prefer``, ``generate``, ``meta_train``,
``strategies``, ``backbones``, ``datasets`` (``install_datasets`` for ``datasets --install``), ``cache_info``
(``headstart cache``) and ``clear_cache`` (``cache --clear``); ``AdapterSet`` and
``headstart.adapters`` (``find``, ``inspect``, ``merge``, ``unmerge``, ``merge_base``) for ``headstart adapters``;
MLflow: ``fit`` / ``compare(..., report_to="mlflow")`` (``--report-to mlflow``); ``runs --to-mlflow`` is
``headstart.tracking.log_store(DIR)``, and ``log_run_dir(RUN)`` logs a saved run.
Settings: ``RunSpec``, ``TrainConfig``, ``SplitConfig``, ``MetaConfig``, ``SftConfig``, ``PreferConfig`` (a function's
``config`` also takes a dict of its fields; ``compare``'s the path of a ``--config`` sweep TOML, under the keywords
given); data and models: ``load_dataset``, ``load_backbone``, ``headstart.data.read_inputs`` (``read_input_rows``: with
each row's other columns; ``read_pair_rows``: a pair run's text pairs; ``read_image_inputs``: an image run's image,
folder or table of images).
``adapt``, ``backbones``, ``continual``, ``export``, ``multitask``, ``report`` and ``strategies`` are also submodules:
the module is callable (``headstart.adapt(source, target)``) and its other names stay importable
(``headstart.adapt.AdaptResult``).
"""

from __future__ import annotations

import logging
import warnings

__version__ = "0.1.0"

# PEFT 0.21 reads transformers 5's renamed property on every PeftModel: a library's notice to its maintainers, not the
# user's; a notebook's LoRA fit printed it, which the CLI had kept out (``cli.common.main``, which also passes it to
# the processes it spawns).
GRADIENT_CHECKPOINTING_NOTICE = "`is_gradient_checkpointing` is deprecated"
warnings.filterwarnings("ignore", message=GRADIENT_CHECKPOINTING_NOTICE, category=FutureWarning)

# bitsandbytes looks for an optional CPU kernel on the Hugging Face hub ("kernels-community") the first time a 4-bit
# op runs, and logs a warning when it cannot get it — always, offline — then uses its own code. It is not the user's
# concern, and it landed in front of headstart's one-line errors on stderr (a worker's warning before the driver's).
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

_LAZY = {
    "fit": "headstart.api",
    "compare": "headstart.api_compare",
    "CompareResult": "headstart.compare_result",
    "evaluate": "headstart.api",
    "predict": "headstart.api",
    "FitResult": "headstart.fit_result",
    "load": "headstart.fit_result",
    "rank_backbones": "headstart.rank",
    "RankResult": "headstart.rank",
    "load_backbone": "headstart.backbones",
    "load_dataset": "headstart.data",
    "RunSpec": "headstart.specs",
    "TrainConfig": "headstart.specs",
    "SplitConfig": "headstart.data.splits",
    "HeadstartError": "headstart.errors",
    "AdapterSet": "headstart.adapter_set",
    "check_leakage": "headstart.api_leakage",
    "datasets": "headstart.listings",
    "install_datasets": "headstart.listings",
    "runs": "headstart.listings",
    "meta_train": "headstart.meta.train",
    "MetaConfig": "headstart.meta.config",
    "SftConfig": "headstart.llm.sft",
    "PreferConfig": "headstart.llm.dpo",
    "sft": "headstart.api_llm",
    "prefer": "headstart.api_llm",
    "generate": "headstart.api_llm",
    "use_device": "headstart.precision",
    "cache_info": "headstart.cache",
    "clear_cache": "headstart.cache",
}
# Callable submodules (headstart.callable_module): ``headstart.adapt(...)`` calls the function, ``headstart.adapt.X`` imports
_PACKAGES = {"adapt", "backbones", "continual", "export", "multitask", "report", "strategies"}
_MODULES = {"adapters", "data"}  # plain submodules the docs name as ``headstart.adapters.merge``, ``headstart.data.read_inputs``
# The other submodules the README, docs and public docstrings name (``headstart.errors.ConfigError``,
# ``headstart.fit_result.Interrupted``): reached on attribute access after a bare ``import headstart``, as the ones above;
# left out of ``__all__``, so ``from headstart import *`` imports none of them (llm, tracking: heavy or optional)
_DOCUMENTED = {"activations", "analysis", "compare_result", "data_defaults", "distributed", "errors", "fastdropout",
               "fit_result", "interrupts", "llm", "objectives", "ood", "progress", "results", "retention", "rowgrad",
               "specs", "sweep_config", "tracking", "train_keywords", "tta", "tuning"}

__all__ = sorted({*_LAZY, *_PACKAGES, *_MODULES})


def __dir__() -> list[str]:  # dir(), help() and tab completion show the lazy names too
    return sorted({*globals(), *__all__, *_DOCUMENTED})


def __getattr__(name: str):
    if name in _PACKAGES or name in _MODULES or name in _DOCUMENTED:
        import importlib

        return importlib.import_module(f"headstart.{name}")
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'headstart' has no attribute {name!r}")
