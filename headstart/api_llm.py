"""The Python API of a causal LM; mirrors the CLI: ``sft``, ``prefer``, ``generate``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headstart.errors import ConfigError
from headstart.interrupts import setting_up, sigterm_as_interrupt
from headstart.python_checks import flags_checked, python_named

if TYPE_CHECKING:  # the LLM modules import torch and transformers: only for the annotations
    from headstart.llm.dpo import PreferConfig
    from headstart.llm.runs import LoadedLM
    from headstart.llm.sft import SftConfig


def _reads_sigterm(command: str, module: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The call under one SIGTERM handler from its first instruction to its last, as ``fit``'s
    (``interrupts.sigterm_as_interrupt``): ``module`` (its run's, torch among its imports: seconds) imported first, in
    ``setting_up`` as the body's first lines are (the keyword checks read its settings class, importing it before the
    body runs), so a SIGTERM there raises ``NothingTrained`` where it ended the caller's process silent, exit 143."""
    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def reading(*args: Any, **kwargs: Any) -> Any:
            import importlib

            with sigterm_as_interrupt():
                with setting_up(command):
                    importlib.import_module(module)
                return function(*args, **kwargs)

        return reading

    return wrap


@_reads_sigterm("sft", "headstart.llm.sft")
@flags_checked
def sft(data: str = "rotten-tomatoes-sft", *, out: str | Path | None = None, prompt_column: str = "prompt",
        response_column: str = "response", group_column: str | None = None, config: SftConfig | dict | None = None,
        progress: Any = None, overwrite: bool = False) -> LoadedLM:
    """``headstart sft``: fine-tune a causal LM on prompt → response rows (``headstart.llm.sft.SftConfig``); returns the
    in-memory run (``.generate(prompts)``, ``.metrics``), saved to ``out`` when given. Ctrl-C during the steps saves
    the best checkpoint so far, then raises ``headstart.llm.runs.Interrupted`` (a KeyboardInterrupt whose ``run`` it
    is, status "interrupted"); the trained run is saved before its test prompts are answered, and Ctrl-C there raises
    ``Interrupted`` with that run (status "done", ``metrics["test_not_scored"]`` saying what stopped it), which
    ``headstart.evaluate(out)`` scores later. Ctrl-C during its setup (the data read, the model loaded), before the
    first step, raises ``headstart.interrupts.NothingTrained`` (a KeyboardInterrupt): nothing trained, nothing saved.

    ``out`` holding a run of other settings, or a prefer run, is refused before anything loads unless ``overwrite``;
    the same run asked for again replaces itself (``headstart.llm.same_run``). ``progress=True`` draws the CLI's bar on
    stderr (None, the default, and False: none); a function ``progress(done, total, info)`` follows the steps.

    SIGTERM (``timeout``, a scheduler's limit) reads as Ctrl-C from the first line to the last, one handler throughout
    (``interrupts.sigterm_as_interrupt``, as ``fit``'s): in its imports (torch: seconds) and checks too, ``NothingTrained``.
    One after the last step waits until the run is saved, then raises ``Interrupted`` with it (``runs.held_save``)."""
    with setting_up("sft"):  # its settings read, out claimed (SIGTERM read as Ctrl-C: _reads_sigterm)
        from headstart.progress import check_progress
        from headstart.llm.sft import ADAPTER_SETTINGS, SftConfig, check_adapter_given, run_sft
        from headstart.arguments import as_config

        check_progress(progress)

        settings = as_config(config, SftConfig)
        if isinstance(config, dict):  # an SftConfig cannot tell a given rank from its default; a dict can
            check_adapter_given(settings.strategy, [k for k in ADAPTER_SETTINGS if k in config], flag=False)
        if out is not None:  # refused before anything loads or trains, as the CLI refuses it
            from headstart.outdir import claim

            from headstart.llm.same_run import check_replaces_same_run, sft_request

            claim(out, "lm-run")
            if not overwrite:
                check_replaces_same_run(out, sft_request(settings, data, prompt_column=prompt_column,
                                                         response_column=response_column, group_column=group_column),
                                        SftConfig)
        from headstart.progress import progress_callback

    with progress_callback(progress, "sft") as update:  # True: the CLI's bar
        return run_sft(data, settings, prompt_column=prompt_column, response_column=response_column,
                       group_column=group_column, out=out, progress=update)


@_reads_sigterm("prefer", "headstart.llm.dpo")
@flags_checked
def prefer(data: str = "rotten-tomatoes-preferences", *, out: str | Path | None = None, prompt_column: str = "prompt",
           chosen_column: str = "chosen", rejected_column: str = "rejected", group_column: str | None = None,
           config: PreferConfig | dict | None = None, progress: Any = None, overwrite: bool = False) -> LoadedLM:
    """``headstart prefer``: DPO on prompt / chosen / rejected rows on top of an sft run (``headstart.llm.dpo.PreferConfig``).
    Ctrl-C during the steps saves the best checkpoint so far, then raises ``Interrupted``, as ``sft`` does (during its
    setup, the reference log-probabilities included, ``NothingTrained``: nothing saved); ``out``
    holding another run (of other settings, or an sft run) is refused unless ``overwrite``, as ``sft`` refuses it;
    ``progress`` and SIGTERM as ``sft``'s."""
    with setting_up("prefer"):  # its settings read, out claimed (SIGTERM read as Ctrl-C: _reads_sigterm)
        from headstart.progress import check_progress
        from headstart.llm.dpo import PreferConfig, run_prefer
        from headstart.arguments import as_config

        check_progress(progress)

        settings = as_config(config, PreferConfig)
        if out is not None:  # refused before anything loads or trains, as the CLI refuses it
            from headstart.llm.dpo import check_out
            from headstart.outdir import claim

            from headstart.llm.same_run import check_replaces_same_run, prefer_request

            check_out(out, settings)
            claim(out, "lm-run")
            if not overwrite:
                check_replaces_same_run(out, prefer_request(settings, data, prompt_column=prompt_column,
                                                            chosen_column=chosen_column, rejected_column=rejected_column,
                                                            group_column=group_column), PreferConfig)
        from headstart.progress import progress_callback

    with progress_callback(progress, "prefer") as update:  # True: the CLI's bar
        return run_prefer(data, settings, prompt_column=prompt_column, chosen_column=chosen_column,
                          rejected_column=rejected_column, group_column=group_column, out=out, progress=update)


@python_named
def generate(run: str | Path | LoadedLM, prompts: list[str], *, max_new_tokens: int = 64, temperature: float = 0.0, seed: int = 0,
             progress: Any = None) -> list[str]:
    """``headstart generate``: each prompt's response from an sft / prefer run (a folder or what ``sft`` returned);
    greedy unless ``temperature`` > 0. ``progress=True`` draws the CLI's bar on stderr (None, the default, and False:
    none): loading the run's model, then the prompts answered, a batch counted by its tokens generated; a function
    ``progress(done, total, info)`` is told the same."""
    from headstart.llm.runs import LoadedLM, load_run
    from headstart.progress import Stages, check_progress, progress_callback
    from headstart.run_meta import as_run_path

    if isinstance(prompts, (str, bytes, Path)):  # a string is a sequence too: it would be read as its characters
        raise ConfigError(f"generate takes a list of prompts, got one string {str(prompts)[:40]!r}: wrap it in a list")
    check_progress(progress)
    if not isinstance(run, LoadedLM):
        run = as_run_path(run, example="headstart.generate('runs/sft', ['a prompt'])")
    with progress_callback(progress, "generate") as update:
        stages = Stages(update)
        if not isinstance(run, LoadedLM):
            stages.said(f"loading the run's model from {str(run)!r}")
        loaded = run if isinstance(run, LoadedLM) else load_run(run)
        return loaded.generate(list(prompts), max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                               progress=stages.counter("answered", unit="prompts"))
