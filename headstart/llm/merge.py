"""An sft / prefer run as one standalone causal LM: its LoRA folded into the base, checked, written as a transformers folder.

``merge`` (``headstart adapters merge RUN``) writes a run of the same kind whose weights are the merged model:
``generate`` reads it, ``--backbone`` takes it, and it is a folder ``AutoModelForCausalLM`` loads. ``export``
(``headstart export RUN --format hf``) writes the model alone: the weights, the tokenizer (chat template included),
``generation_config.json`` (greedy, ``headstart generate``'s 64 new tokens, its end-of-turn token) and a README.md
whose code answers a prompt as ``headstart generate`` does. The LoRA update folds into W as W + (α/r)BA (PEFT's
``merge_and_unload(safe_merge=True)``); a qlora run merges into an fp32 copy of its NF4-rounded base (``dequantize``).
Each folder is built beside ``out``, loaded back with transformers alone and compared with the run's own model on
teacher-forced logits of up to ``inputs`` of its validation prompt + response sequences (where its data cannot be read,
of ``output_checks.FIXED_SENTENCES`` as prompt and response, with a note); it is kept only within ``tolerance``.
Both tell a ``progress(done, total, info)`` stage by stage (``Stages``): loading the run, its logits on the
sequences (counted, with the time left at its own pace), merging, saving, loading the folder back and its logits
(counted): an export of SmolLM2-135M on a CPU took 6.5 minutes with no word before its last line.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from headstart.errors import ConfigError
from headstart.progress import Stages
from headstart.report.mdtext import md_text

# max |logit| difference between the folder, loaded back, and the run's own model (fp32). SmolLM2-135M's logits run
# to ~30 and its merged LoRA rounds otherwise than the adapter's two matmuls: 1.13e-4 on the validation sequences of
# a 2-step prefer run (8e-5 on fixed sentences), refused at 1e-4; a wrong graph or merge differs by 0.1 and more.
TOLERANCE = 1e-3
MAX_NEW_TOKENS = 64  # headstart generate's default, written into generation_config.json


def merge(directory: str | Path, out: str | Path, *, dequantize: bool = False, tolerance: float = TOLERANCE,
          inputs: int = 64, progress: Any = None) -> Any:
    """Fold an sft / prefer run's LoRA into its base and write ``out`` as a run of full weights (spec.json's ``merged``).

    Args:
        progress: ``progress(done, total, info)`` told each stage (``Stages``), as ``export``'s, or None.

    Returns:
        ``adapters.MergeReport``.

    Raises:
        ConfigError: a full-finetune or merged run (nothing to merge), a qlora run without ``dequantize`` (or
            ``dequantize`` for another), or outputs beyond ``tolerance`` (nothing written).
    """
    from headstart.output_checks import MergeReport
    from headstart.atomic import write_atomic, write_json
    from headstart.llm.runs import model_card, read_spec
    from headstart.outdir import check_new
    from headstart.surface import on_cli

    from headstart.output_checks import check_tolerance

    directory, out = Path(directory), Path(out)
    check_tolerance(tolerance)
    spec = read_spec(directory)
    check_new(out, "the merged run", source=directory)
    if _full_weights(spec):
        raise ConfigError(f"{str(directory)!r} has no adapter to merge: "
                          + ("it is merged already" if spec.get("merged") else "full-finetune saved every weight")
                          + f"; its folder already is a model AutoModelForCausalLM loads (headstart export {directory} "
                          "--format hf writes it alone)")
    switch = "--dequantize" if on_cli() else "dequantize=True"
    if spec["strategy"] == "qlora" and not dequantize:
        raise ConfigError(f"{str(directory)!r} was trained on a 4-bit base: merging into 4-bit weights re-rounds them and "
                          f"changes outputs; pass {switch} to merge into an fp32 copy of the 4-bit base")
    if dequantize and spec["strategy"] != "qlora":
        raise ConfigError(f"{switch} is for a run trained on a 4-bit base (qlora); {str(directory)!r} ({spec['strategy']}) "
                          f"was not: drop {switch}")
    stages = Stages(progress)
    model, tokenizer, sequences, reference, checked_on = _checked_inputs(directory, spec, inputs, "the merge", stages)
    merged_spec = {**spec, "merged": {"from": str(directory.resolve()), "inputs": len(sequences), "checked_on": checked_on,
                                      "tolerance": tolerance, "dequantized": spec["strategy"] == "qlora"}}

    def extra(tmp: Path, diff: float) -> None:
        merged_spec["merged"]["max_abs_diff"] = diff
        write_json(tmp / "spec.json", merged_spec)
        if (directory / "metrics.json").exists():
            shutil.copyfile(directory / "metrics.json", tmp / "metrics.json")
        metrics = _read_json(directory / "metrics.json")
        write_atomic(tmp / "README.md", (model_card(merged_spec, metrics) + "\n" + usage(merged_spec, tokenizer)).encode())

    stages.said("merging its LoRA into the base weights")
    merged = _merged(model, directory, spec)
    diff = _write_checked(merged, tokenizer, out, sequences, reference, tolerance, extra, checked_on, stages)
    return MergeReport(str(out), diff, len(sequences), tolerance, spec["strategy"] == "qlora",
                       sum(p.stat().st_size for p in out.glob("*.safetensors")), checked_on=checked_on)


def export(directory: str | Path, out: str | Path, *, tolerance: float | None = None, inputs: int = 64,
           progress: Any = None) -> Any:
    """Write an sft / prefer run as a folder transformers loads alone (``AutoModelForCausalLM``, ``AutoTokenizer``):
    its LoRA merged in (a full-finetune or merged run as it is), greedy generation settings, a README.md model card.

    Args:
        progress: ``progress(done, total, info)`` told each stage (``Stages``), or None.

    Returns:
        ``export.ExportReport``.

    Raises:
        ConfigError: a qlora run (merge it with dequantize first), or outputs beyond ``tolerance`` (nothing written).
    """
    from headstart.atomic import write_atomic
    from headstart.output_checks import ExportReport
    from headstart.llm.runs import read_spec
    from headstart.outdir import check_new

    from headstart.output_checks import check_tolerance

    directory, out = Path(directory), Path(out)
    tolerance = TOLERANCE if tolerance is None else tolerance
    check_tolerance(tolerance)
    spec = read_spec(directory)
    check_new(out, "the export", source=directory)
    if spec["strategy"] == "qlora" and not spec.get("merged"):
        raise ConfigError(f"{str(directory)!r} has a 4-bit base; merge it first (headstart adapters merge {directory} "
                          "--dequantize --out DIR) and export the merged run")
    stages = Stages(progress)
    model, tokenizer, sequences, reference, checked_on = _checked_inputs(directory, spec, inputs, "the export", stages)

    def card(tmp: Path, diff: float) -> None:
        write_atomic(tmp / "README.md", export_card(spec, tokenizer, directory).encode())

    if not _full_weights(spec):
        stages.said("merging its LoRA into the base weights")
        model = _merged(model, directory, spec)
    diff = _write_checked(model, tokenizer, out, sequences, reference, tolerance, card, checked_on, stages)
    return ExportReport(str(out), diff, len(sequences), tolerance, None, tokenizer=type(tokenizer).__name__, checked_on=checked_on)


def _full_weights(spec: dict[str, Any]) -> bool:
    return spec["strategy"] == "full-finetune" or bool(spec.get("merged"))


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _checked_inputs(directory: Path, spec: dict[str, Any], count: int, what: str,
                    stages: Stages | None = None) -> tuple[torch.nn.Module, Any, list[list[int]], list[torch.Tensor], str]:
    """(the run's model, its tokenizer, up to ``count`` token sequences of its validation rows — prompt + response as
    trained, or prompt + chosen for prefer —, the run's logits on each, ``output_checks.VALIDATION_ROWS``). Where the
    run's data cannot be read, changed since the run (sft) or has no validation rows, the sequences are each fixed
    sentence as a prompt answered by the next, formatted as trained, and the last item ``FIXED`` or, where it changed,
    ``CHANGED`` (a note says so, naming ``what``: "the merge", "the export"). ``stages``: told the load and the count."""
    from headstart.llm.data import load_table
    from headstart.llm.format import example
    from headstart.llm.lm import eos_id
    from headstart.llm.runs import load_run
    from headstart.output_checks import FIXED_SENTENCES, check_inputs, check_unchanged, read_check_data

    check_inputs(count, "the check")
    data = spec.get("data") or {}
    answer = "response" if spec["kind"] == "sft" else "chosen"
    # the columns the run read, so that its content hash can match: prefer's rejected answers too
    roles = ("prompt", "response") if spec["kind"] == "sft" else ("prompt", "chosen", "rejected")
    columns = {role: data.get(f"{role}_column", role) for role in roles}
    source = str(data.get("path") or data.get("name"))  # a file by its absolute path; a run of before that, as it was given

    def validation_pairs() -> list[tuple[str, str]]:
        table = load_table(source, columns, group_column=data.get("group_column"))
        if "group_column" in data:  # read back as it trained (a prefer run saved before it was recorded: not checkable)
            check_unchanged(table.hash, data.get("hash"))
        return [(table.columns["prompt"][r], table.columns[answer][r]) for r in table.spread("validation", count)]

    pairs, checked_on = read_check_data(validation_pairs, source, what, count=count)
    if pairs is None:
        n = len(FIXED_SENTENCES)
        pairs = [(s, FIXED_SENTENCES[(i + 1) % n]) for i, s in enumerate(FIXED_SENTENCES[:count])]
    stages = stages or Stages(None)
    stages.said("loading the run")
    run = load_run(directory, device=torch.device("cpu"))
    eos = eos_id(run.model, run.tokenizer)
    sequences = [example(run.tokenizer, prompt, reply, eos=eos, max_length=int(spec.get("max_length", 256)))[0]
                 for prompt, reply in pairs]
    return run.model, run.tokenizer, sequences, _logits(run.model, sequences, stages.counter("the run's logits")), checked_on


def _logits(model: torch.nn.Module, sequences: list[list[int]], counted: Any = None) -> list[torch.Tensor]:
    """Each sequence's (length, vocabulary) logits, one sequence at a time (no padding to get right); ``counted(done,
    total)`` told before the first and after each."""
    model.eval()
    found = []
    with torch.no_grad():
        for ids in sequences:
            if counted:
                counted(len(found), len(sequences))
            found.append(model(input_ids=torch.tensor([ids])).logits[0].float())
    if counted:
        counted(len(found), len(sequences))
    return found


def _merged(model: torch.nn.Module, directory: Path, spec: dict[str, Any]) -> torch.nn.Module:
    """The run's base with its LoRA folded in: W + (α/r)BA. A qlora run's base is rebuilt in fp32 from the same
    NF4-rounded values (``quantize`` then ``dequantize``: NF4 rounding is deterministic) and its adapter loaded on it."""
    if spec["strategy"] == "qlora":
        from headstart.llm.lm import lm_folder, load_adapter, load_lm
        from headstart.quantize import dequantize_linears, quantize_linears

        base, _ = load_lm(lm_folder(spec["backbone"]), device=torch.device("cpu"))
        quantize_linears(base.model)  # the decoder: the output projection stays full precision, as load_lm(quantize=True) keeps it
        dequantize_linears(base.model)
        model = load_adapter(base, directory, trainable=False)
    return model.merge_and_unload(safe_merge=True)


def _write_checked(model: torch.nn.Module, tokenizer: Any, out: Path, sequences: list[list[int]],
                   reference: list[torch.Tensor], tolerance: float, extra: Any, checked_on: str,
                   stages: Stages | None = None) -> float:
    """Save ``model`` and ``tokenizer`` into a new folder beside ``out`` with greedy generation settings and
    ``extra(folder, diff)``'s files, load it back with transformers alone, compare its logits with ``reference`` and
    move it to ``out``; the largest difference (``checked_on``: what the sequences are, for the refusal). Nothing is
    left behind where the check fails. ``stages``: told the save, the load and the count.

    Raises:
        ConfigError: the folder's tokenizer reads the sequences otherwise, or its logits differ by more than ``tolerance``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from headstart.atomic import fresh_folder, publish
    from headstart.llm.lm import eos_id
    from headstart.output_checks import checked_on_text

    eos = eos_id(model, tokenizer)
    model.generation_config = GenerationConfig(do_sample=False, max_new_tokens=MAX_NEW_TOKENS, eos_token_id=eos,
                                               pad_token_id=tokenizer.pad_token_id)
    stages = stages or Stages(None)
    tmp = fresh_folder(out, "tmp")
    try:
        stages.said("saving the model")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        stages.said("loading the saved folder back with transformers")
        loaded = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32)
        if [AutoTokenizer.from_pretrained(tmp).decode(ids) for ids in sequences[:4]] != [tokenizer.decode(ids) for ids in sequences[:4]]:
            raise ConfigError(f"the tokenizer written to {str(out)!r} reads the run's sequences otherwise; not writing it")
        got = _logits(loaded, sequences, stages.counter("the saved folder's logits"))
        diff = max((float((a - b).abs().max()) for a, b in zip(got, reference)), default=0.0)
        if not diff <= tolerance:
            raise ConfigError(f"the written model's logits differ from the run's by {diff:.3g} (> --tolerance {tolerance:g}) on "
                              f"{checked_on_text(len(sequences), checked_on, 'validation sequences')}; not writing {str(out)!r}")
        extra(tmp, diff)
        publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return diff


def usage(spec: dict[str, Any], tokenizer: Any) -> str:
    """A model card's section: the transformers code that answers a prompt as ``headstart generate`` does (the prompt
    formatted as in training, ``format.prompt_ids``; greedy, the folder's generation_config.json)."""
    from headstart.backbones.verbalizer import bos
    from headstart.llm.format import has_chat_template

    if has_chat_template(tokenizer):
        encode = ('text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,\n'
                  '                                     add_generation_prompt=True)\n'
                  'ids = tokenizer(text, add_special_tokens=False)["input_ids"]\n')
        how = "the prompt as a user turn of the chat template, up to the assistant's cue"
    else:
        start = "[tokenizer.bos_token_id] + " if bos(tokenizer) else ""
        encode = f'ids = {start}tokenizer(prompt + "\\n", add_special_tokens=False)["input_ids"]\n'
        how = "the prompt and a newline" + (", after the BOS token" if start else "")
    return ("## Generate with transformers\n\n"
            f"As `headstart generate` answers ({how}; greedy, up to {MAX_NEW_TOKENS} new tokens: generation_config.json):\n\n"
            "```python\nimport torch\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            'path, prompt = "PATH", "PROMPT"\n'
            "tokenizer = AutoTokenizer.from_pretrained(path)\n"
            "model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)\n"
            f"{encode}"
            "input_ids = torch.tensor([ids])\n"
            "output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids))\n"
            "answer = tokenizer.decode(output[0, len(ids):], skip_special_tokens=True).strip()\n```\n")


def export_card(spec: dict[str, Any], tokenizer: Any, directory: Path) -> str:
    """The export's README.md: the chain that made the weights (base model, the sft run a prefer run started from and
    its data, the run and its data), the weights the run kept, the held-out numbers it recorded, how to generate."""
    from headstart.llm.runs import score_lines, weights_kept

    metrics = _read_json(directory / "metrics.json")
    what = "its LoRA merged into the base weights" if spec["strategy"] != "full-finetune" and not spec.get("merged") else \
        "every weight" if spec["strategy"] == "full-finetune" else "merged earlier"
    from headstart.backbones.registry import dequantised

    rounded = dequantised(spec.get("backbone"))
    lines = [f"# {md_text(spec.get('backbone'))}, tuned by headstart {spec['kind']}", "",
             f"- base model: {md_text(spec.get('backbone'))}" + (f" ({md_text(rounded)})" if rounded else "")]
    if spec.get("sft"):
        lines.append(f"- then the sft run {_stage(Path(str(spec['sft'])), None)}")
    lines.append(f"- then the {spec['kind']} run {_stage(directory, spec, metrics)}, exported here ({md_text(spec['strategy'])}: {what})")
    kept = weights_kept(spec, metrics)
    lines += [f"- weights: {kept}"] if kept else []
    lines += score_lines(metrics)
    lines.append("- fp32 safetensors; the tokenizer and its chat template, if any, beside them")
    return "\n".join(lines) + "\n\n" + usage(spec, tokenizer)


def _stage(directory: Path, spec: dict[str, Any] | None, metrics: dict[str, Any] | None = None) -> str:
    """``PATH (lora, 3 steps on rotten-tomatoes-sft, n = 16, seed 0; kept step 3)``: a run of the chain, read from its
    spec.json and metrics.json where not given; where they cannot be read, the path alone, said so."""
    spec = _read_json(directory / "spec.json") if spec is None else spec
    metrics = _read_json(directory / "metrics.json") if metrics is None else metrics
    if not spec:
        return f"{md_text(str(directory))} (its spec.json could not be read)"
    data = (spec.get("data") or {}).get("name", "?")
    n = spec.get("n") if spec.get("n") is not None else "all"
    best = metrics.get("best_step")
    return (f"{md_text(str(directory))} ({md_text(spec.get('strategy'))}, {metrics.get('steps', spec.get('steps'))} steps on "
            f"{md_text(data)}, n = {n}, seed {spec.get('seed')}" + (f"; kept step {best}" if isinstance(best, int) else "") + ")")
