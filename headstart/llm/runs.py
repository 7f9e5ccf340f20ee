"""An sft / prefer run directory: written whole or not at all, loaded back, and generating text.

A run directory holds ``spec.json`` (the resolved config), ``metrics.json`` and the weights: for lora / qlora a PEFT
adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``; its ``base_model_name_or_path`` is the spec's
backbone — a registry name, or a folder's or GGUF file's absolute path — never this machine's cache folder, and plain
PEFT loads it on the folder ``lm.lm_folder`` resolves that to), for full-finetune the whole model as a transformers
folder (``config.json`` + ``model.safetensors`` + tokenizer), itself usable as ``--backbone``. It is built in a sibling
temp directory and renamed into place, so a kill leaves the old run or the new one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headstart.atomic import write_atomic, write_directory, write_json
from headstart.errors import ConfigError, StoreError
from headstart.interrupts import stopped_by
from headstart.surface import spoken
from headstart.outdir import finished, held
from headstart.staging import free_sibling
from headstart.report.mdtext import md_text
from headstart.saved import saved_stamp  # noqa: F401  (llm.evaluate reads it here)

from headstart.run_meta import KINDS, is_lm_run  # noqa: F401  (read here by llm and the CLI)


def save_run(out: Path, model: nn.Module, tokenizer: Any, *, spec: dict[str, Any], metrics: dict[str, Any]) -> Path:
    """Write the run into ``out`` (new, empty, or an earlier sft / prefer run, which it replaces).

    Raises:
        StoreError: ``out`` holds other files, or cannot be written.
    """
    def fill(tmp: Path) -> None:  # the staging directory, swapped in whole
        model.save_pretrained(tmp)  # a PeftModel writes its adapter only; a plain model all of its weights (safetensors)
        if (tmp / "adapter_config.json").is_file():
            name_base(tmp / "adapter_config.json", spec["backbone"])
        if spec["strategy"] == "full-finetune":
            tokenizer.save_pretrained(tmp)
        write_json(tmp / "spec.json", spec)
        write_json(tmp / "metrics.json", metrics)
        (tmp / "README.md").write_text(model_card(spec, metrics))  # in place of PEFT's empty template

    return write_directory(Path(out), fill, is_replaceable=lambda d: held(d) == "lm-run", what="run")


def name_base(adapter_config: Path, backbone: str) -> None:
    """Name the adapter's base as the run's spec does (``lm.lm_reference``: a registry name, or the absolute path of a
    folder or ``.gguf`` file the user gave), not as PEFT wrote it: the folder the base was read from, which for a
    registry name or a GGUF file is this machine's cache (``$HEADSTART_CACHE/models/...``, rebuilt where missing).
    ``lm.lm_folder`` resolves the name back to a folder on any machine."""
    config = json.loads(adapter_config.read_text())
    config["base_model_name_or_path"] = backbone
    write_json(adapter_config, config)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during an sft / prefer run's steps, raised after its best checkpoint so far was saved (``save_outcome``):
    ``run`` is that run (a ``LoadedLM``, status "interrupted"); or during sft's test answers, after training finished,
    the trained run saved (status "done", its metrics' ``test_not_scored`` saying what stopped it). A KeyboardInterrupt
    still, so a script or a notebook stops as it would; the CLI prints the run's summary from it and exits 130. Or
    after training, held back until the run was saved (``held_save``): ``said`` is then the line that says so."""

    def __init__(self, run: "LoadedLM", said: str | None = None) -> None:
        super().__init__(said or (run.metrics or {}).get("error") or (run.metrics or {}).get("test_not_scored"))
        self.run, self.said = run, said


def held_save(save: Callable[[], "LoadedLM"]) -> tuple["LoadedLM", KeyboardInterrupt | None]:
    """``save()`` (a trained run's metrics made and the run saved: seconds after the steps it keeps) with Ctrl-C and
    SIGTERM held back until it returns (``interrupts.signals_held``, as ``fit`` holds its save): the run, and the
    interrupt that came meanwhile (None: none). A second one acts at once.

    Raises:
        NothingSaved: a second Ctrl-C or SIGTERM ended the save (``fit_result``'s: "... after training, while the
            trained run was saved: nothing saved; the same command starts again"; a save that failed is named).
    """
    from headstart.interrupts import signals_held

    run = None
    try:
        with signals_held(second_acts=True):
            run = save()
    except KeyboardInterrupt as stop:  # held back while it was saved: it is; or a second one ended the save
        if run is None:
            from headstart.fit_result import NothingSaved

            raise NothingSaved(stop, saving=True) from None
        return run, stop
    return run, None


def stopped_after_save(run: "LoadedLM", stop: KeyboardInterrupt) -> Interrupted:
    """What a run whose ``stop`` came while it was saved raises: ``Interrupted`` with it, its own error where its steps
    were cut short; for a finished run, a line saying the stop came once it was saved whole (or, without ``out``, that
    it is in memory only)."""
    from headstart.interrupts import ended_by

    if run.metrics.get("status") != "done":
        return Interrupted(run)
    where = ("once the run was saved: nothing was lost" if run.directory is not None else
             f"the run is not saved ({run.metrics.get('replaced') or spoken('no --out', 'no out')}), in memory only")
    return Interrupted(run, f"{ended_by(stop)} after training finished, {where}")


def save_outcome(out: str | Path | None, model: nn.Module, tokenizer: Any, *, spec: dict[str, Any],
                 metrics: dict[str, Any], started: float | None = None) -> Path | None:
    """Save a run that finished, or the best checkpoint of one interrupted by Ctrl-C or SIGTERM (status "interrupted": hours of
    steps are not thrown away), into ``out``; the folder it was saved to, or None. A diverged run is never saved, and
    an interrupted one never replaces a finished run in ``out`` (``metrics["kept"]`` then says that run was kept).
    A run saved into ``out`` after ``started`` (``time.time()`` when this one began: another sft or prefer given the
    same --out at once, whose run the check before training could not see) is kept, and this one goes to a free folder
    beside it, which ``metrics["moved"]`` names.
    """
    if out is None or metrics.get("status") not in ("done", "interrupted"):
        return None
    if metrics["status"] == "interrupted" and finished(Path(out), "lm-run"):
        metrics["kept"] = f"{str(out)!r} holds a finished run, kept as it was"
        return None
    target = Path(out)
    if started is not None and _saved_since(target, started):
        target = free_sibling(target, spec["kind"])
        metrics["moved"] = (f"saved to {str(target)!r}: another run was saved into {str(out)!r} while this one trained, "
                            "and is kept there")
    return save_run(target, model, tokenizer, spec=spec, metrics=metrics)


TEST_FIELDS = ("test", "test_not_scored")  # what answering a saved run's test prompts adds to its metrics.json


def rescore(run: "LoadedLM", scores: dict[str, Any]) -> None:
    """Write ``scores`` (``{"test": ...}`` or ``{"test_not_scored": ...}``, made after the run was saved trained) into
    its saved metrics.json in place of the other ``TEST_FIELDS``, every other field as the file has it now, and
    README.md from that; each file replaced whole, the weights left as they are. A run never saved: nothing.

    Raises:
        StoreError: its folder no longer holds this run (its spec.json is not ``run.spec``: another run was saved there
            since it was loaded or trained), nothing written.
    """
    if run.directory is None:
        return
    check_holds(run.directory, run.spec, run.stamp)
    metrics = {k: v for k, v in (_metrics(run.directory) or run.metrics or {}).items() if k not in TEST_FIELDS}
    metrics.update({k: v for k, v in scores.items() if k in TEST_FIELDS})
    write_json(run.directory / "metrics.json", metrics)
    write_atomic(run.directory / "README.md", model_card(run.spec, metrics).encode())


def check_holds(directory: Path, spec: dict[str, Any], stamp: tuple[int, int] | None = None) -> None:
    """Refuse to write into ``directory`` a score of the run of ``spec`` where its spec.json is not that (another run
    was saved there since: ``sft --out``, ``prefer --out``), or is gone; with ``stamp`` (``saved_stamp`` when the run
    was saved or loaded), also where its spec.json is the same but was written since: the same settings trained again
    into the folder, whose weights are not the ones scored.

    Raises:
        StoreError: in one line, naming the folder and what scores the run it holds now.
    """
    try:
        now = json.loads((directory / "spec.json").read_text())
    except (OSError, ValueError):
        now = None
    same = now == json.loads(json.dumps(spec, default=str))  # as spec.json holds it: tuples as lists
    if same and (stamp is None or saved_stamp(directory) == stamp):
        return
    held = ("holds a run of the same settings saved there since (trained again), not the one this run was loaded or "
            "trained as" if same else "holds another run: its spec.json is not the one this run was loaded or trained "
            "with (another run was saved there since)" if isinstance(now, dict) else
            "no longer holds a run (no readable spec.json): its spec.json is not the one this run was loaded or trained "
            "with (another run was saved there since)")
    again = (spoken(f"headstart evaluate {directory}", f"headstart.evaluate({str(directory)!r})") + " scores the run it holds now"
             if isinstance(now, dict) and now.get("kind") == "sft" else "nothing else was changed")
    raise StoreError(f"{str(directory)!r} {held}, so this run's test score is not written there, nothing written; {again}")


def _saved_since(out: Path, started: float) -> bool:
    """Whether ``out`` holds a run whose spec.json was written at or after ``started``."""
    try:
        return (out / "spec.json").stat().st_mtime >= started
    except OSError:
        return False


def model_card(spec: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The run's README.md: what trained on what, the weights it kept, its held-out numbers, how a merge was checked,
    how to generate."""
    from headstart.backbones.registry import dequantised
    from headstart.model_card import merged_paragraph

    data = (spec.get("data") or {}).get("name", "?")
    about = [md_text(dequantised(spec.get("backbone")))]
    if spec.get("sft"):
        about.append(f"started from the sft run {md_text(spec['sft'])}"
                     + (f", which {stopped_by(spec['sft_interrupted'])} stopped early" if spec.get("sft_interrupted") else ""))
    about = [a for a in about if a]
    lines = [f"# headstart {spec['kind']} run", "",
             f"- base model: {md_text(spec.get('backbone'))}" + (f" ({'; '.join(about)})" if about else ""),
             f"- strategy: {md_text(spec.get('strategy'))}, lr {spec.get('lr')}, {metrics.get('steps')} steps "
             f"(best on validation: step {metrics.get('best_step')})",
             f"- data: {md_text(data)}, n = {drawn(spec, metrics)}, seed {spec.get('seed')}"]
    kept = weights_kept(spec, metrics)
    if kept:
        lines.append(f"- weights: {kept}")
    if metrics.get("status") == "interrupted":
        error = str(metrics.get("error") or "")  # "interrupted by Ctrl-C at step 4 of 8: ..." (before: "interrupted at step")
        by = "" if error.startswith("interrupted by") else f" by {stopped_by(error)}"
        lines.append(f"- stopped early{by}: {md_text(error)}"
                     + ("; no test prompt was answered" if spec.get("kind") == "sft" and not metrics.get("test") else ""))
    if metrics.get("test_not_scored"):
        lines.append(f"- test: not scored ({md_text(metrics['test_not_scored'])}); the weights are the trained run's")
    lines += score_lines(metrics)
    budget = other_budget(metrics.get("test") or {}, spec)
    if budget is not None:
        lines.append(f"- test answers of up to {budget} new tokens (the run's own setting: {own_budget(spec)}; "
                     "`headstart evaluate DIR` scores it at its own again)")
    lines += card_notes(spec, metrics)
    lines += ["", *merged_paragraph(spec.get("merged"), compared="logits", inputs_are="validation sequences", unmerge=False)]
    lines += ["Generate with it: `headstart generate DIR --prompt TEXT` (Python: `headstart.generate(DIR, [TEXT])`); "
              "as one model transformers loads alone: `headstart export DIR --format hf --out FOLDER`.",
              "spec.json holds every setting and metrics.json every number (validation history included)."]
    return "\n".join(lines) + "\n"


def drawn(spec: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The card's ``n``: the --n given, or ``all`` with the training rows (pairs) that are, where metrics.json records
    them (``all (7 training rows)``; the rows reading the file dropped are among the notes, ``card_notes``)."""
    n = spec.get("n") if spec.get("n") is not None else "all"
    count, noun = next(((metrics[k], w) for k, w in (("train_pairs", "pair"), ("train_rows", "row"))
                        if isinstance(metrics.get(k), int)), (None, ""))
    return f"all ({count} training {noun}{'s' if count != 1 else ''})" if count is not None and n == "all" else str(n)


def card_notes(spec: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    """The run's notes as the CLI printed them (metrics.json's ``dropped`` and ``notes``: what reading the file left
    out, what ended the run short of its data, examples cut to --max-length, ...): a paragraph, or none."""
    notes = [metrics["dropped"]] if metrics.get("dropped") else []
    notes += [n for n in metrics.get("notes") or [] if isinstance(n, str)]
    if not notes:
        return []
    return ["", f"Notes (what the {spec.get('kind', 'sft')} run said as it ran):", "", *(f"- {md_text(n)}" for n in notes)]


def score_lines(metrics: dict[str, Any]) -> list[str]:
    """A run's recorded held-out numbers as card items: ``- validation loss: 0.6931 (on 40 validation prompts)``, then
    each test number, each with the rows it was scored on where metrics.json records them (``- test exact_match: 0 (on
    4 test prompts)``): a number from a handful of prompts read as the model's. A prefer run's validation numbers say
    they are optimistic (its pairs chose the step kept) beside their value before training (the policy is its
    reference: chance, reward accuracy 0.5 and loss ln 2), and a finished run without a test score says it has none.
    A run saved before its validation rows were recorded (sft's ``val_rows``) says its loss alone."""
    val_on = validation_rows(metrics)
    rows = (metrics.get("test") or {}).get("rows")
    test_on = f" (on {rows} test prompt{'s' if rows != 1 else ''})" if isinstance(rows, int) else ""
    prefer = isinstance(metrics.get("val"), dict)
    before = metrics.get("val_before") if isinstance(metrics.get("val_before"), dict) else {}

    def said(key: str | None = None) -> str:  # what a validation number is on, and for prefer what it is against
        if not prefer:
            return f" (on {val_on})" if val_on else ""
        start = before.get(key)
        return (f" (on {val_on or 'the validation pairs'}, the pairs that chose the step kept: optimistic"
                + (f"; before training {start:.4g}, the policy its own reference: "
                   f"{'no preference either way' if 'margin' in str(key) else 'chance'}" if isinstance(start, (int, float))
                   else "") + ")")

    scores = {**{f"validation {k}": (v, said(k)) for k, v in (metrics.get("val") or {}).items()
                 if isinstance(v, (int, float))},
              **({"validation loss": (metrics["val_loss"], said())} if isinstance(metrics.get("val_loss"), (int, float))
                 else {}),
              **{f"test {k}": (v, test_on) for k, v in (metrics.get("test") or {}).items()
                 if isinstance(v, (int, float)) and k not in ("rows", "max_new_tokens")}}
    lines = [f"- {k}: {v:.4g}{on}" for k, (v, on) in scores.items()]
    if prefer:
        lines.append("- test: no held-out test score (prefer answers no test prompts; its numbers are the validation "
                     "pairs', which chose the step kept)")
    elif metrics.get("status") == "done" and not metrics.get("test") and not metrics.get("test_not_scored"):
        lines.append("- test: no held-out test score (no test prompt was answered)")
    return lines


def validation_rows(metrics: dict[str, Any]) -> str | None:
    """The validation rows a run's validation numbers are over, in words: ``"40 validation prompts"`` (sft's
    ``val_rows``), ``"64 validation pairs"`` (prefer's ``val_pairs``); None where metrics.json does not record them."""
    pairs, rows = metrics.get("val_pairs"), metrics.get("val_rows")
    if isinstance(pairs, int) and not isinstance(pairs, bool):
        return f"{pairs} validation pair{'s' if pairs != 1 else ''}"
    if isinstance(rows, int) and not isinstance(rows, bool):
        return f"{rows} validation prompt{'s' if rows != 1 else ''}"
    return None


def weights_kept(spec: dict[str, Any], metrics: dict[str, Any]) -> str | None:
    """Which weights the run kept, in words: step N's (best on validation), or, where no step improved the validation
    loss (``best_step`` 0 after steps), its starting point's unchanged (the sft run's, or the base model's); None where
    metrics.json does not say (an interrupted run: its stop is said instead)."""
    steps, best = metrics.get("steps"), metrics.get("best_step")
    if not isinstance(steps, int) or not isinstance(best, int) or steps <= 0 or metrics.get("status") == "interrupted":
        return None
    if best > 0:
        return f"step {best}'s of {steps}, the best on validation"
    start = f"the sft run {md_text(spec['sft'])}'s" if spec.get("sft") else f"the base model {md_text(spec.get('backbone'))}'s"
    return (f"the starting point's, unchanged: no step improved the validation loss, so these are {start} weights "
            f"(step 0 of {steps})")


def own_budget(spec: dict[str, Any]) -> int:
    """The tokens an answer of the sft run of ``spec`` may take: its ``max_new_tokens``, or ``SftConfig``'s default (64)
    for a run saved without one."""
    return spec.get("max_new_tokens", 64)


def other_budget(test: dict[str, Any], spec: dict[str, Any]) -> int | None:
    """The token budget of ``test``'s answers (``metrics["test"]``) where it is not the run's own (``own_budget``:
    ``headstart evaluate --max-new-tokens``), else None; what the model card and sft / evaluate's test line say."""
    tokens = test.get("max_new_tokens")
    return tokens if tokens is not None and tokens != own_budget(spec) else None


def read_spec(directory: str | Path) -> dict[str, Any]:
    """The ``spec.json`` of an sft / prefer run.

    Raises:
        StoreError: no such folder, a folder with no readable spec.json, or a run of another kind (a ``headstart
            train`` classifier).
    """
    path = Path(directory) / "spec.json"
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError):
        if not Path(directory).exists():  # said as evaluate, predict and load say it (run_meta.refuse_other_folder)
            raise StoreError(f"{str(directory)!r} does not exist; {_give_run()}") from None
        raise StoreError(f"{str(directory)!r} is not an sft / prefer run (no readable spec.json); {_give_run()}") from None
    if not isinstance(spec, dict):
        raise StoreError(f"{str(path)!r} is not a JSON object, as an sft / prefer run's spec.json is; {_give_run()}")
    if spec.get("kind") not in KINDS:
        kind = f"{'an' if str(spec['kind'])[:1].lower() in 'aeiou' else 'a'} {spec['kind']!r}" if "kind" in spec else \
            spoken("a 'headstart train'", "a headstart.fit")
        raise StoreError(f"{str(directory)!r} is {kind} run, not an sft / prefer run; {_give_run()}")
    return spec


def _give_run() -> str:
    return spoken("give a run folder written by headstart sft or headstart prefer",
                  "give a run folder headstart.sft(..., out=DIR) or headstart.prefer(..., out=DIR) wrote, or what they returned")


@dataclass
class LoadedLM:
    """A run's model (eval mode), tokenizer and spec; ``metrics`` and ``directory`` where known (a run just trained
    and not saved has no directory).
    """

    model: nn.Module
    tokenizer: Any
    spec: dict[str, Any]
    directory: Path | None = None
    metrics: dict[str, Any] | None = None
    stamp: tuple[int, int] | None = None  # ``saved_stamp(directory)`` as it was saved or loaded: a score goes to that save only

    def __post_init__(self) -> None:
        if self.directory is not None and self.stamp is None:
            self.stamp = saved_stamp(self.directory)

    def __repr__(self) -> str:  # the model's module tree is pages long
        kind, backbone = self.spec.get("kind", "sft"), self.spec.get("backbone", "?")
        return f"LoadedLM({kind} run of {backbone}, directory={str(self.directory) if self.directory else None}, metrics={self.metrics})"

    def generate(self, prompts: list[str], **options: Any) -> list[str]:
        """``generate`` with this run's model (options: max_new_tokens, temperature, seed, batch_size, progress: True
        a bar on stderr, None or False none, or a function ``(done, total)`` told the prompts answered)."""
        from headstart.progress import Stages, progress_callback

        progress = options.pop("progress", None)
        if progress is None or isinstance(progress, bool):  # True: the CLI's bar, counting prompts as headstart.generate
            with progress_callback(progress, "generate") as update:
                return generate(self.model, self.tokenizer, list(prompts), **options,
                                progress=Stages(update).counter("answered", unit="prompts") if update else None)
        return generate(self.model, self.tokenizer, list(prompts), progress=progress, **options)


def load_run(directory: str | Path, *, trainable: bool = False, device: torch.device | None = None) -> LoadedLM:
    """Rebuild a run's model: its base (quantised again for qlora: NF4 rounding is deterministic) + its adapter, or its
    full weights.

    Raises:
        StoreError / BackboneError: not a run, or its base cannot be found.
    """
    from headstart.llm.lm import lm_folder, load_adapter, load_lm
    from headstart.precision import pick_device
    from headstart.run_meta import check_lm_saved_files

    directory = Path(directory)
    stamp = saved_stamp(directory)  # before anything is read: the save its spec and weights are
    spec = read_spec(directory)
    check_lm_saved_files(directory, spec)  # a weight file gone: said at once, not as a base or a download that failed
    device = device or pick_device()
    if spec["strategy"] == "full-finetune" or spec.get("merged"):  # a transformers folder of every weight
        model, tokenizer = load_lm(directory, device=device)
        for p in model.parameters():
            p.requires_grad_(trainable)
        return LoadedLM(model, tokenizer, spec, directory, _metrics(directory), stamp)
    model, tokenizer = load_lm(lm_folder(spec["backbone"]), device=device, quantize=spec["strategy"] == "qlora")
    model = load_adapter(model, directory, trainable=trainable)
    return LoadedLM(model.eval(), tokenizer, spec, directory, _metrics(directory), stamp)


def _metrics(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / "metrics.json").read_text())
    except (OSError, ValueError):
        return None


def check_generation(max_new_tokens: int, temperature: float) -> None:
    """Refuse ``max_new_tokens`` < 1 or ``temperature`` < 0 (ConfigError), before a model is loaded for them."""
    if max_new_tokens < 1:
        raise ConfigError(f"--max-new-tokens must be >= 1, got {max_new_tokens!r}; e.g. --max-new-tokens 64")
    if not (math.isfinite(temperature) and temperature >= 0):  # nan passed "< 0" and sampled from nan probabilities
        raise ConfigError(f"--temperature must be a finite number >= 0 (0: greedy), got {temperature!r}; e.g. --temperature 0.7")


def generate(model: nn.Module, tokenizer: Any, prompts: list[str], *, max_new_tokens: int = 64, temperature: float = 0.0,
             seed: int = 0, batch_size: int = 16, progress: Callable[[float, int], None] | None = None) -> list[str]:
    """Each prompt's response: greedy (``temperature`` 0) or sampled at ``temperature``, up to the end-of-turn token.

    Prompts are formatted as in training (``format.prompt_ids``) and left-padded into batches. Sampling draws from
    torch's global generator, seeded with ``seed`` before each batch (transformers' ``generate`` takes no generator).
    ``progress(done, total)`` is called with the prompts answered so far: 0 before the first batch, then at each token
    generated, a batch counted by the share of ``max_new_tokens`` generated (a batch of 8 prompts said "0/8" for 51 s on a
    CPU, then "8/8"; answers that end early make it finish sooner than its count said), whole after each batch.

    Raises:
        ConfigError: ``max_new_tokens`` < 1 or ``temperature`` < 0.
    """
    from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

    from headstart.llm.format import prompt_ids
    from headstart.llm.lm import eos_id

    check_generation(max_new_tokens, temperature)
    eos, pad = eos_id(model, tokenizer), tokenizer.pad_token_id
    sample = temperature > 0
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=sample, eos_token_id=eos, pad_token_id=pad,
                              **({"temperature": temperature, "top_k": None, "top_p": None} if sample else {}))
    device = next(model.parameters()).device
    texts: list[str] = []
    model.eval()
    if progress:
        progress(0, len(prompts))
    for start in range(0, len(prompts), batch_size):
        encoded = [prompt_ids(tokenizer, p) for p in prompts[start : start + batch_size]]
        width = max(len(x) for x in encoded)
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, x in enumerate(encoded):
            ids[i, width - len(x):] = torch.as_tensor(x)
            mask[i, width - len(x):] = 1
        torch.manual_seed(seed + start)
        counting = StoppingCriteriaList()
        if progress:
            class Counted(StoppingCriteria):  # stops nothing: told each token generated, as a share of the batch
                def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
                    share = (input_ids.shape[1] - width) / max_new_tokens
                    if share < 1:  # the whole batch is told once it is decoded
                        progress(len(texts) + len(encoded) * share, len(prompts))
                    return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

            counting.append(Counted())
        with torch.no_grad():
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config,
                                       stopping_criteria=counting)
        texts += [tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in generated.cpu()]
        if progress:
            progress(len(texts), len(prompts))
    return texts


def exact_match(predictions: list[str], references: list[str]) -> float:
    """Fraction of predictions equal to their reference after stripping whitespace."""
    if not references:
        return float("nan")
    return sum(p.strip() == r.strip() for p, r in zip(predictions, references)) / len(references)
