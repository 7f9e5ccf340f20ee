"""Several adapter runs on one base in one process: the base loads once, each call picks its adapter and head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.adapter_info import inspect
from headstart.errors import ConfigError, StoreError
from headstart.surface import spoken


class AdapterSet:
    """Several adapter runs on one base in one process: the base loads once, ``predict(texts, adapter=name)``
    switches adapter (and head) per call without reloading anything.

    Every run shares the first one's base (backbone, its settings, 4-bit or not) and PEFT method (adapter_config.json's
    peft_type: all LoRA, or all IA3); a run that does not is refused, and the set stays as it was.

    Example:
        adapters = AdapterSet()
        adapters.add("runs/lora-sentiment", name="sentiment")
        adapters.add("runs/lora-topic", name="topic")
        adapters.predict(["a joy to watch"], adapter="topic")
    """

    def __init__(self) -> None:
        self.runs: dict[str, Any] = {}
        self._base: Any = None  # the first run; its backbone (a PeftModel) holds every adapter
        self._identity: dict[str, Any] | None = None  # the base every run must match: backbone, its settings, 4-bit
        self._method: str | None = None  # the PEFT type every run must share (LORA, IA3): PEFT mixes none in one model
        self._peft_names: dict[str, str] = {}  # our name -> the adapter's name inside the PeftModel

    def __repr__(self) -> str:
        return f"AdapterSet({', '.join(f'{name}={str(run.directory)!r}' for name, run in self.runs.items()) or 'empty'})"

    @property
    def names(self) -> list[str]:
        return list(self.runs)

    def add(self, directory: str | Path, name: str | None = None) -> str:
        from headstart.model import TaskModel
        from headstart.run_meta import as_run_path, read_meta
        from headstart.saved import check_usable, load_run, load_weights
        from headstart.strategies import get_strategy
        from headstart.strategies.peft_base import saved_adapter

        directory = as_run_path(directory, name="directory", example="AdapterSet().add('runs/lora')",
                                unsaved="fit again with out='runs/NAME' and add that folder")
        name = name or directory.name
        if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"adapter name {name!r} may hold only letters, digits, '-', '_' and '.'; e.g. "
                              + spoken("--adapter-dir sentiment=DIR", f"add({str(directory)!r}, name='sentiment')"))
        if name in self.runs:
            raise ConfigError(f"an adapter named {name!r} is already loaded; give another name ("
                              + spoken("NAME=DIR", f"add({str(directory)!r}, name='other')") + ")")
        info = inspect(directory)
        if info.kind != "headstart-peft":
            raise ConfigError(f"{str(directory)!r} is not a PEFT adapter run ({info.kind}); only adapter runs share a base")
        meta = read_meta(directory)
        check_usable(directory, meta["backbone_saved"])  # a failed run, a missing weight file: before PEFT could fall back
        # to a pickle (adapter_model.bin)
        resolved = meta["resolved"]
        identity = {"backbone": meta["spec"]["backbone"], **resolved["backbone_config"],
                    "4-bit": get_strategy(resolved["strategy"]).quantized}
        if self._base is None:
            run = load_run(directory)
            self._base, self._identity, self._method = run, identity, info.method
            self._peft_names = {name: run.model.backbone.model.active_adapter}
            self.runs[name] = run
            return name
        if identity != self._identity:
            raise ConfigError(f"{str(directory)!r} was trained on a different base than {str(self._base.directory)!r} "
                              f"({_differences(identity, self._identity)}), and the runs of one set share its base; "
                              + spoken("predict with it in a separate headstart predict call",
                                       "load it in its own AdapterSet"))
        if info.method != self._method:  # PEFT's own refusal came from inside load_adapter, in its words
            raise ConfigError(f"{str(directory)!r} cannot join {str(self._base.directory)!r}: a set serves adapters of one "
                              f"PEFT method (this set's: {self._method.lower()}; the run's: {info.method.lower()}); "
                              + spoken("predict with it in a separate headstart predict call", "load it in its own AdapterSet"))
        backbone = self._base.model.backbone
        internal = f"adapter-{len(self.runs)}"  # never clashes with the first run's PEFT name, whatever the user calls it
        try:
            backbone.model.load_adapter(saved_adapter(directory), adapter_name=internal)
        except (ValueError, RuntimeError, KeyError) as e:
            raise StoreError(f"cannot load the adapter in {str(directory)!r}: {str(e).splitlines()[0][:200]}") from None
        self._peft_names[name] = internal
        labels = tuple(meta["label_names"])
        task = resolved["data"]["task"]
        model = TaskModel(backbone, 1 if task == "regression" else len(labels), seed=0)
        try:
            load_weights(directory, model)
        except StoreError:
            backbone.model.delete_adapter(internal)  # the set stays as it was
            raise
        model.to(self._base.device).eval()
        from headstart.saved import LoadedRun

        self.runs[name] = LoadedRun(directory, meta, model, task, labels, self._base.device)
        return name

    def use(self, adapter: str) -> Any:
        """Activate ``adapter`` on the shared base and return its run (model + labels).

        Raises:
            ConfigError: a set with nothing added yet, or a name it does not hold (naming the names it does).
        """
        if not self.runs:
            raise ConfigError(f"this AdapterSet holds no adapter yet, so there is no {adapter!r} to use; add a run first, "
                              "e.g. adapters.add('runs/lora', name='sentiment')")
        if adapter not in self.runs:
            from headstart.errors import unknown

            raise unknown("adapter", adapter, self.runs)
        self._base.model.backbone.model.set_adapter(self._peft_names[adapter])
        return self.runs[adapter]

    def predict(self, texts: list[str] | str, *, adapter: str | None = None) -> list[dict[str, Any]]:
        """Predict ``texts`` (a list of texts, or one str: a one-row list) with the run added as ``adapter``.

        Raises:
            ConfigError: no ``adapter`` given (naming the ones loaded), or one the set does not hold.
        """
        from headstart.loaded import predict_loaded

        if adapter is None:  # required, but a bare TypeError named neither the names loaded nor the call
            loaded = ", ".join(map(repr, self.runs)) or "none yet"
            example = next(iter(self.runs), "sentiment")
            raise ConfigError(f"AdapterSet.predict needs adapter=, the name of the run to predict with (loaded: {loaded}); "
                              f"e.g. adapters.predict(texts, adapter={example!r})")
        return predict_loaded(self.use(adapter), texts)


def _differences(theirs: dict[str, Any], ours: dict[str, Any]) -> str:
    """The base settings two runs differ in, as "max_length 64 vs 128" (the run's value first)."""
    keys = [k for k in {**ours, **theirs} if theirs.get(k) != ours.get(k)]
    return ", ".join(f"{k} {theirs.get(k)} vs {ours.get(k)}" for k in keys)
