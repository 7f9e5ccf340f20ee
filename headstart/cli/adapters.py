"""``headstart adapters``: list, show, merge, unmerge; ``headstart export``."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer

from headstart.cli.common import JsonOpt, _echo_json, app


adapters_app = typer.Typer(help="Adapters: list, show, merge into the base (checked), unmerge.\n\n"
                           "Example: headstart adapters merge runs/lora --out runs/lora-merged", no_args_is_help=True,
                           rich_markup_mode=None)
app.add_typer(adapters_app, name="adapters")


@adapters_app.command("list")
def adapters_list(
    paths: Annotated[list[Path], typer.Argument(help="Adapter / run directories, or folders holding them.")],
    as_json: JsonOpt = False,
) -> None:
    """List adapters and runs: kind, method, base, trainable parameters, the size of what trained (its tensors, as a
    compare report's saved size counts them; the files add a few kB of headers naming them), and what
    interrupted a run that an interrupt ended (ended_by: its weights are the best checkpoint before it). A damaged
    run (one predict refuses to load) in a folder is listed as such and the listing exits 2, as the run named alone
    does; a run whose metrics.json is missing or unreadable still loads, and is listed with a note. The sft / prefer runs and
    the exports of runs (headstart export) in a folder are not listed, and a line counts and names them; an sft /
    prefer run missing a weight file it saved is listed as damaged.

    \b
    Example: headstart adapters list runs/
    """
    from headstart.adapter_info import find
    from headstart.errors import StoreError

    infos = find(paths)
    if as_json:
        _echo_json([i.to_dict() for i in infos])
    else:
        _print_listing(infos, paths)
    damaged = [i for i in infos if i.kind == "damaged"]
    if damaged:  # after the listing, in --json too: the exit status tells a script what a table cannot
        # the count is all of them; one is quoted (the others' lines say why): "and N more" beside it read as N on top
        first = "the first, " if len(damaged) > 1 else ""
        raise StoreError(f"{len(damaged)} of the {len(infos)} listed {'is' if len(damaged) == 1 else 'are'} damaged: "
                         f"{first}{damaged[0].directory!r}: {damaged[0].config['error']}")


def _print_listing(infos: list["AdapterInfo"], paths: list[Path]) -> None:  # noqa: F821 - headstart.adapter_info imports numpy
    """``adapters list``'s table: a line per adapter or run, the count by kind, and the sft / prefer runs passed over."""
    from headstart.adapter_info import exports_passed, passed_over
    from headstart.report.mdtext import bytes_text

    width = max((len(i.directory) for i in infos), default=0)
    for i in infos:
        if i.kind == "damaged":
            typer.echo(f"{i.directory:<{width}}  damaged        {i.config['error']}")
            continue
        params = f"{i.trainable_params:,}" if i.trainable_params is not None else "?"
        method = i.strategy or str(i.method).lower()  # a run's strategy (lora, dora, bitfit); a plain PEFT folder's type
        typer.echo(f"{i.directory:<{width}}  {i.kind:<14} {method:<14} base={i.base}  trainable={params}  "
                   f"{bytes_text(i.adapter_bytes)}" + (f"  ({i.ended_by})" if i.ended_by else "")  # its weights: a checkpoint so far
                   + (f"  (note: {i.note})" if i.note else ""))
    # kinds: headstart-peft and peft hold adapters; merged, a full model; headstart, the run's trained weights (BitFit or
    # Houlsby adapters, or a whole fine-tuned model or probe head): counted apart rather than all called adapters
    kinds = Counter(i.kind for i in infos)
    typer.echo(f"{len(infos)} listed" + (f" ({', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))})" if infos else ""))
    skipped = passed_over(paths)
    if skipped:
        typer.echo(f"not listed: {len(skipped)} sft / prefer run(s), causal LMs generated from rather than adapters of a "
                   f"classifier ({', '.join(str(p) for p in skipped[:3])}{', …' if len(skipped) > 3 else ''}); "
                   "headstart generate RUN --prompt TEXT")
    exported = exports_passed(paths)
    if exported:
        typer.echo(f"not listed: {len(exported)} export(s) of runs, folders other libraries load rather than runs "
                   f"({', '.join(str(p) for p in exported[:3])}{', …' if len(exported) > 3 else ''}); list the run "
                   "folders they were exported from (headstart train --out)")


@adapters_app.command("show")
def adapters_show(
    directory: Annotated[Path, typer.Argument(help="An adapter or run directory.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one adapter: its PEFT config, base, labels, size and validation metrics.

    \b
    Example: headstart adapters show runs/lora --json
    """
    from headstart.adapter_info import inspect

    info = inspect(directory).to_dict()
    if as_json:
        _echo_json(info)
        return
    for key, value in info.items():
        if key in ("ended_by", "note") and value is None:  # a run its steps finished, its metrics.json read (--json keeps the null)
            continue
        typer.echo(f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value}")


@adapters_app.command("merge")
def adapters_merge(
    directory: Annotated[Path, typer.Argument(help="A LoRA / DoRA / IA3 / QLoRA run directory (train, sft or prefer).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New run directory for the merged model (must not exist).")],
    dequantize: Annotated[bool, typer.Option(help="QLoRA: merge into an fp32 copy of the 4-bit base.")] = False,
    tolerance: Annotated[Optional[float], typer.Option(help="Largest accepted |merged - adapter| logit difference, in fp32 "
                                                            "(a headstart run; default 1e-4, sft / prefer 1e-3).")] = None,
    inputs: Annotated[Optional[int], typer.Option(help="Validation inputs the outputs are compared on (a headstart run; "
                                                       "default 64; sft / prefer: prompt + response sequences; where the "
                                                       "run's data cannot be read, up to 8 fixed sentences, said in a note).")] = None,
    base: Annotated[Optional[str], typer.Option(help="Plain PEFT adapter only: base model name or folder (default: from adapter_config.json).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr (the merge says each stage, and "
                                                              "counts the inputs or sequences its check runs with the "
                                                              "time left).")] = False,
) -> None:
    """Fold an adapter into its base weights; refuse if the merged outputs differ from the adapter's.

    A headstart run becomes a run with full weights (predict/evaluate work on it; the adapter is kept
    for unmerge). An sft / prefer run becomes a run of its kind with full weights: headstart generate reads it, and
    it is a folder transformers' AutoModelForCausalLM loads (its README.md shows how to generate as headstart does).
    A plain PEFT adapter (no head) becomes a model folder usable as --backbone. The merge of a run says each stage on
    stderr as it comes: a headstart run's, after its refusals, loading the run, its logits, merging, the merged
    model's logits, saving (the logits counted in inputs); an sft / prefer run's loading the run, its logits, merging,
    saving, loading back, the folder's logits (counted in sequences); each count with the time left. --quiet says none.

    \b
    Example: headstart adapters merge runs/lora --out runs/lora-merged
    Example: headstart adapters merge runs/sft --out runs/sft-merged
    """
    from headstart.adapter_info import inspect
    from headstart.adapters import merge, merge_base
    from headstart.llm.runs import is_lm_run
    from headstart.output_checks import checked_on_text
    from headstart.report.mdtext import bytes_text

    from headstart.errors import ConfigError

    given = {"--dequantize": dequantize, "--tolerance": tolerance is not None, "--inputs": inputs is not None}
    checks = {**({"tolerance": tolerance} if tolerance is not None else {}), **({"inputs": inputs} if inputs is not None else {})}
    lm = is_lm_run(directory)  # a causal LM's LoRA: merged into a run generate reads and transformers loads
    if not lm and inspect(directory).kind == "peft":
        if any(given.values()):
            flags = [k for k, v in given.items() if v]
            raise ConfigError(f"{', '.join(flags)} {'applies' if len(flags) == 1 else 'apply'} to a headstart run's merge, which is "
                              f"checked on its validation inputs; {str(directory)!r} is a plain PEFT adapter (no head, no "
                              f"validation split): drop {'it' if len(flags) == 1 else 'them'}")
        folder = merge_base(directory, out, base=base)
        typer.echo(f"merged the PEFT adapter into its base: {folder} (use it with --backbone {folder})")
        return
    if base is not None:
        raise ConfigError(f"--base is for a plain PEFT adapter; {str(directory)!r} is "
                          f"{'an sft / prefer run' if lm else 'a headstart run'}, which merges into the base it was trained on: "
                          "drop --base")
    report = merge(directory, out, dequantize=dequantize, progress=not quiet, **checks)
    if lm:
        typer.echo(f"merged {directory} -> {report.out}: max |merged - adapter| logit = {report.max_abs_diff:.2e} in fp32 on "
                   f"{checked_on_text(report.inputs, report.checked_on, 'validation sequences')}, loaded back with transformers (tolerance {report.tolerance:g})"
                   f"{'; base dequantized from 4-bit' if report.dequantized else ''}; {bytes_text(report.merged_bytes)}; "
                   f"headstart generate {report.out} --prompt TEXT, or AutoModelForCausalLM.from_pretrained('{report.out}') "
                   "(its README.md shows how to generate as headstart does)")
        return
    typer.echo(f"merged {directory} -> {report.out}: max |merged - adapter| = {report.max_abs_diff:.2e} in fp32 on "
               f"{checked_on_text(report.inputs, report.checked_on)} (tolerance {report.tolerance:g}){'; base dequantized from 4-bit' if report.dequantized else ''}; "
               f"{bytes_text(report.merged_bytes)}")
    if report.at_precision is not None:
        gap = report.at_precision
        typer.echo(f"note: at the run's own precision ({gap.precision}, as predict and evaluate run it) merged and adapter logits "
                   f"differ {gap.text()}: {gap.precision} rounds the merged weight as one matrix, the adapter its parts", err=True)


@adapters_app.command("unmerge")
def adapters_unmerge(
    directory: Annotated[Path, typer.Argument(help="A classifier run directory written by 'headstart adapters merge' "
                                                   "(a merged sft / prefer run is refused: its adapter is the run it was "
                                                   "merged from).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New adapter run directory (must not exist).")],
    tolerance: Annotated[float, typer.Option(help="Largest accepted difference to the pre-trained base.")] = 1e-4,
    inputs: Annotated[int, typer.Option(help="Validation inputs the outputs are compared on (where the run's data cannot "
                                             "be read, up to 8 fixed sentences, said in a note).")] = 64,
) -> None:
    """Recover the adapter run from a merged classifier run (headstart train, then adapters merge); checks the base
    weights come back to the pre-trained ones. A merged sft / prefer run is not taken apart: the run it was merged from
    is its adapter.

    \b
    Example: headstart adapters unmerge runs/lora-merged --out runs/lora-again
    """
    from headstart.adapters import unmerge
    from headstart.output_checks import checked_on_text

    report = unmerge(directory, out, tolerance=tolerance, inputs=inputs)
    typer.echo(f"unmerged {directory} -> {report.out}: base weights within {report.base_max_abs_diff:.2e} of the pre-trained ones, "
               f"outputs within {report.output_max_abs_diff:.2e} on {checked_on_text(report.inputs, report.checked_on)}")


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A run directory (headstart train, sft or prefer --out).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="A new folder for the export.")],
    format: Annotated[str, typer.Option("--format", help="hf: a folder AutoModelForSequenceClassification loads "
                                                          "(trust_remote_code=True); sentence-transformers: a folder that "
                                                          "library loads, the head as its last Dense (encode gives logits); "
                                                          "onnx: model.onnx for onnxruntime (input_ids, attention_mask -> "
                                                          "logits; pip install 'headstart[onnx]') with the tokenizer. "
                                                          "Each with a README.md model card. An sft / prefer run: hf only, "
                                                          "a folder AutoModelForCausalLM loads, its LoRA merged in.")] = "hf",
    tolerance: Annotated[Optional[float], typer.Option(help="Largest difference allowed between the export's and the run's "
                                                            "outputs on the run's validation inputs (probabilities for hf and "
                                                            "onnx, logits for sentence-transformers and sft / prefer runs); "
                                                            "default 1e-5, onnx 1e-4, sft / prefer 1e-3.", show_default=False)] = None,
    inputs: Annotated[int, typer.Option(help="Validation inputs the export's outputs are compared on (where the run's data "
                                             "cannot be read, up to 8 fixed sentences, said in a note).")] = 64,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr (export says each stage: the run's "
                                                              "outputs, merging, saving, loading back and checking; an "
                                                              "sft / prefer run's also its loading, and counts the sequences "
                                                              "its check runs with the time left; --json says none either).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export a trained run for other tools; the export is loaded back and checked against the run before it is kept.

    \b
    Example: headstart export runs/ft64 --format hf --out exported/ft64
    Example: headstart export runs/sft --format hf --out exported/sft
    """
    from headstart.export import export as run_export
    from headstart.llm.runs import is_lm_run
    from headstart.output_checks import checked_on_text

    report = run_export(run, out, format=format, tolerance=tolerance, inputs=inputs, progress=not (quiet or as_json))
    if as_json:
        _echo_json(dataclasses.asdict(report))
        return
    if is_lm_run(run):
        typer.echo(f"exported {run} to {report.out}: logits within {report.max_abs_diff:.2g} of the run's in fp32 on "
                   f"{checked_on_text(report.inputs, report.checked_on, 'validation sequences')}; load it with AutoModelForCausalLM.from_pretrained('{report.out}') and "
                   f"AutoTokenizer.from_pretrained('{report.out}') (its README.md shows how to generate as headstart generate does)")
        return
    load = {"hf": f"AutoModelForSequenceClassification.from_pretrained('{report.out}', trust_remote_code=True) (the "
                  f"model's class is the folder's modeling_headstart.py) and its tokenizer with "
                  f"{report.tokenizer}.from_pretrained('{report.out}') (the tokenizer's class is transformers' own: no "
                  "code of the folder runs for it; its README.md shows both)",
            "onnx": f"onnxruntime.InferenceSession('{report.out}/model.onnx') and its tokenizer (see its README.md)"}.get(
                format, f"SentenceTransformer('{report.out}')")
    typer.echo(f"exported {run} to {report.out}: outputs within {report.max_abs_diff:.2g} of the run's in fp32 on "
               f"{checked_on_text(report.inputs, report.checked_on)}; load it with {load}")
    if report.at_precision is not None:
        gap = report.at_precision
        typer.echo(f"note: the export computes in fp32; headstart predict runs this run at its own precision ({gap.precision}), "
                   f"whose outputs differ from fp32 {gap.text()}", err=True)
