"""``sft``, ``prefer``, ``generate``: a causal LM tuned to write responses, then to prefer some, then asked."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from headstart.cli.common import InterruptReported, JsonOpt, _echo_json, app
from headstart.interrupts import NothingTrained, setting_up
from headstart.outdir import claim

LmOpt = Annotated[str, typer.Option("--backbone", "-b", help="Causal LM: smollm2-135m, gemma3-270m, a causal-LM folder or a .gguf file.")]
NOpt = Annotated[Optional[str], typer.Option("--n", help="Training rows drawn (seeded) from the train split, or 'all' (the default).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
WarmupOpt = Annotated[float, typer.Option(help="Warmup fraction of the steps (train's --warmup, over this command's one phase).")]
EvalsOpt = Annotated[int, typer.Option("--evals-per-phase", help="Validation checks spread over the steps, the last step's among them (train's --evals-per-phase, over this command's one phase); the best check's weights are kept.")]
PatienceOpt = Annotated[int, typer.Option(help="Validation checks without improvement before stopping the run (0: never stop early).")]
GroupOpt = Annotated[Optional[str], typer.Option(help="A file's column of ids kept on one side of the split (default: the prompt text); without it a file's own 'split' column, where there is one, decides.")]


def _summary(run, out: Path, as_json: bool, *, replacing: bool = False, interrupted: bool = False,
             said: str | None = None) -> None:
    """The run's numbers and notes, and its exit status: 130 where Ctrl-C or SIGTERM stopped it (``interrupted``: in
    its steps, or in sft's test answers after training finished; ``said``: once the finished run was saved, its line),
    1 where it failed."""
    from headstart.llm.notes import run_notes
    from headstart.llm.runs import validation_rows

    metrics = {k: v for k, v in run.metrics.items() if k != "history"}
    status, saved = metrics["status"], run.directory is not None
    code = 130 if interrupted or said or status == "interrupted" else 0 if status == "done" else 1  # 130: Ctrl-C's, as the other commands'
    if metrics.get("moved"):  # another run came into --out while this one trained: kept, and this one beside it
        typer.echo(f"note: this run was {metrics['moved']}", err=True)
        out = run.directory
    elif replacing and saved:
        typer.echo(f"note: this run replaced the one that was in {str(out)!r}", err=True)
    if run.spec.get("sft_interrupted"):  # its error says what stopped it ("interrupted by Ctrl-C at step 4 of 8: ...")
        typer.echo(f"note: it starts from an sft run whose steps were cut short ({run.spec['sft_interrupted']}), never tested",
                   err=True)
    if as_json:  # "out" only where this run was saved there: a failed one leaves OUT as it was (maybe an older run)
        _echo_json({"out": str(out) if saved else None, **metrics})
        if code == 130:  # --json changes what is printed, never the exit status
            raise InterruptReported()
        if code:
            raise typer.Exit(code)
        return
    if status not in ("done", "interrupted"):
        typer.echo(f"error: {metrics['error']}", err=True)
        raise typer.Exit(1)
    apart = ("status", "error", "kept", "moved", "replaced", "ended_by", "test_not_scored", "val_rows", "dropped")  # said in words
    rows = validation_rows(metrics)  # sft: said beside its validation losses
    for key, value in metrics.items():  # a table of the scalars; nested parts below (all of it: --json)
        if not isinstance(value, (dict, list)) and value is not None and key not in apart:
            on = f" (on {rows})" if rows and key in ("val_loss", "val_loss_before") else ""
            typer.echo(f"{key}: {value:.4g}{on}" if isinstance(value, float) else f"{key}: {value}{on}")
    pairs = metrics.get("val_pairs")
    for key, what in (("val_before", "validation before training"), ("val", "validation after training")):
        if isinstance(metrics.get(key), dict):  # prefer: the DPO loss, reward accuracy and margin on the held-out pairs
            typer.echo(f"{what}{_pairs_said(pairs, chose=key == 'val')}: "
                       + ", ".join(f"{k} {v:.4g}" for k, v in metrics[key].items() if isinstance(v, (int, float))))
    for note in metrics.get("notes", run_notes(metrics)):  # as the model card lists them
        typer.echo(f"note: {note}")
    _test_lines(metrics.get("test") or {}, run.spec)
    if metrics.get("test_not_scored"):  # training finished and was saved before the test prompts were answered
        typer.echo(f"{metrics['test_not_scored']}; " + (
            f"saved to {out}, trained, without its test exact match; headstart evaluate {shlex.quote(str(out))} answers "
            "its test prompts and scores it"
            if saved else f"not saved: {metrics.get('replaced') or 'no --out'}"), err=True)
        raise InterruptReported()
    if status == "interrupted":
        sft = "train_rows" in metrics  # prefer answers no test prompts
        untested = (f", untested (no test prompt answered: headstart evaluate {shlex.quote(str(out))} scores this checkpoint)"
                    if sft else "")
        typer.echo(f"{metrics['error']}; " + (f"saved to {out}{untested}; the same command trains it again from the start"
                                              if saved else f"not saved: {metrics.get('kept') or 'no --out'}"), err=True)
        raise InterruptReported()
    typer.echo(f"saved to {out}" if saved else f"not saved: {metrics.get('replaced') or 'no --out'}")
    if said:  # a stop held back while the finished run was saved: it is, and the command stops here
        typer.echo(said, err=True)
        raise InterruptReported()


def _test_lines(test: dict[str, Any], spec: dict[str, Any]) -> None:
    """An sft run's test score and its first answers beside their references, as sft and evaluate print them; the
    token budget of an answer is said where it is not the run's own (``runs.other_budget``: evaluate --max-new-tokens)."""
    from headstart.llm.notes import many
    from headstart.llm.runs import other_budget, own_budget

    if not test:
        return
    samples = test.get("samples") or []
    scored = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in test.items()
                       if not isinstance(v, (dict, list)) and k not in ("rows", "max_new_tokens", "split", "cut_short"))
    tokens = other_budget(test, spec)
    other = f", answers of up to {tokens} new tokens where the run's own are up to {own_budget(spec)}" if tokens is not None else ""
    typer.echo(f"test ({many(test.get('rows', '?'), 'held-out prompt')}{other}): {scored}"
               + ("; exact_match counts responses identical to the reference, rare for free text: read the samples"
                  if "exact_match" in test else ""))
    for sample in samples:
        typer.echo(f"> {sample.get('prompt')}\n  generated: {_short(sample.get('generated'))}\n  reference: {_short(sample.get('reference'))}")
    if samples:
        typer.echo(f"({len(samples)} of the {many(test.get('rows', '?'), 'test prompt')} shown; all in --json)")


def evaluate_lm(run: Path, split: str, *, eval_data: list[str], tta: list[str], eval_rows: str, dedupe: bool,
                max_new_tokens: int | None, quiet: bool, as_json: bool) -> None:
    """``headstart evaluate RUN`` of an sft run (``api.evaluate``: its test prompts answered again, the score written
    into it): what sft prints of its test, then where the score went; Ctrl-C or SIGTERM is one line and exit 130."""
    from headstart.api import evaluate
    from headstart.llm.evaluate import Kept, Written
    from headstart.llm.runs import read_spec
    from headstart.progress import progress_bar

    try:
        with progress_bar("evaluate", enabled=not quiet) as progress:
            scored = evaluate(run, split, eval_data=eval_data, tta=tta, eval_rows=eval_rows, dedupe=dedupe, full=True,
                              max_new_tokens=max_new_tokens, progress=progress)
    except (Kept, Written) as stop:  # the run as it was, or the score saved before the stop was let through
        typer.echo(str(stop), err=True)
        raise InterruptReported() from None
    if as_json:
        _echo_json(scored)
        return
    if scored.get("cut_short"):  # an interrupt ended its steps: this is the score of what it kept
        typer.echo(f"note: this run's steps were cut short ({scored['cut_short']}); this score is of the checkpoint it "
                   "kept, not of a run that finished its steps (train it again to finish them)", err=True)
    _test_lines(scored, read_spec(run))
    typer.echo(f"written into {run}: its metrics.json and README.md")


def _pairs_said(pairs: Any, *, chose: bool) -> str:
    """How many validation pairs a prefer score is on, and why neither score carries an interval: before training the
    policy is its reference (every margin 0: reward accuracy 0.5 and loss ln 2 by construction, nothing measured);
    after, the pairs chose the step kept (the best of the checks on them)."""
    if not isinstance(pairs, int):
        return ""
    if chose:
        return f" (the {pairs} pairs that chose the step kept: optimistic)"
    return f" ({pairs} pairs; the policy is its reference here, every margin 0: chance by construction)"


def _short(text: Any, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def _setting_up(command: str) -> Iterator[None]:
    """The command's own part of an sft / prefer run's setup, before the API's (``interrupts.setting_up``): Ctrl-C or
    SIGTERM there says what one in the run's setup says, "... while sft set up, before its first step: nothing trained
    yet; nothing saved; the same command starts again", exit 130."""
    try:
        with setting_up(command):
            yield
    except NothingTrained as stop:
        _say_untrained(stop)


def _say_untrained(stop: KeyboardInterrupt) -> None:
    """``stop``'s one line on stderr, and exit 130 (``InterruptReported``: ``main`` says nothing more)."""
    typer.echo(str(stop), err=True)
    raise InterruptReported() from None


@app.command()
def sft(
    data: Annotated[str, typer.Option("--data", "-d", help="rotten-tomatoes-sft (built in) or a .csv/.tsv/.jsonl/.json/.parquet file.")] = "rotten-tomatoes-sft",
    prompt_column: Annotated[str, typer.Option(help="Column of prompts.")] = "prompt",
    response_column: Annotated[str, typer.Option(help="Column of responses (the only tokens the loss reads).")] = "response",
    group_column: GroupOpt = None,
    backbone: LmOpt = "smollm2-135m",
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="lora | qlora (NF4 base) | full-finetune.")] = "lora",
    n: NOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the subsample, LoRA init and shuffling.")] = 0,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (default: 2e-4 lora/qlora, 2e-5 full-finetune).")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the training rows (unless --max-steps).")] = 1.0,
    max_steps: Annotated[Optional[int], typer.Option(help="Optimiser steps (overrides --epochs).")] = None,
    batch_size: Annotated[int, typer.Option(help="Sequences per step.")] = 8,
    packing: Annotated[bool, typer.Option("--packing", help="Concatenate examples into rows of --max-length tokens, each attending only to itself (position ids restart per example).")] = False,
    max_length: Annotated[int, typer.Option(help="Tokens per example (prompt + response), or per packed row.")] = 256,
    rank: Annotated[Optional[int], typer.Option(help="lora/qlora: rank r of the update (α/r)BA (default 8).")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="lora/qlora: scale α (default 16).")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="lora/qlora: dropout on the adapter input (default 0.05).")] = None,
    targets: Annotated[Optional[str], typer.Option(help=(
        "lora/qlora: module names to adapt (default: PEFT's, q_proj,v_proj on Llama), or all-linear. A name is a module's "
        "full name or its path within its layer, matched whole (self_attn.q_proj; output.dense: a feed-forward output, "
        "not attention.output.dense), or, where no path is that whole, an ending (q_proj: every *.q_proj)."))] = None,
    warmup: WarmupOpt = 0.1,
    evals: EvalsOpt = 5,
    patience: PatienceOpt = 3,
    val_rows: Annotated[int, typer.Option(help="Validation rows whose loss picks the checkpoint (a fixed sample spread over the validation split, the same for every run).")] = 64,
    eval_rows: Annotated[int, typer.Option(help="Test rows generated (greedy) for exact match after training (0: none).")] = 32,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens generated at most per test answer (evaluate --max-new-tokens answers them again with another).")] = 64,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")] = Path("runs/sft"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a saved run of other settings, or of the other kind, in --out (refused without it; the same run trained again replaces itself).")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Supervised fine-tuning of a causal LM on prompt -> response rows: chat template where the model has one, loss on
    the response tokens only, the checkpoint with the lowest validation loss kept (spec.json, metrics.json, a PEFT
    adapter or the full weights as safetensors). An --out holding a run of other settings, or a prefer run, is refused
    before training (--overwrite replaces it). Ctrl-C or SIGTERM saves the best checkpoint so far; once training
    finished, the run is saved before its test prompts are answered, and a stop there keeps it without its test score
    (exit 130 either way).

    \b
    Example: headstart sft --data rotten-tomatoes-sft --n 512 --max-steps 60 --batch-size 4 --out runs/sft
    Example: headstart sft --data pairs.csv --prompt-column question --response-column answer --strategy qlora --out runs/qa
    Example: headstart sft --n 512 --epochs 3 --patience 2 --dropout 0.1 --max-new-tokens 128 --out runs/sft-long
    """
    with _setting_up("sft"):  # its modules import (torch: seconds), --out claimed, its settings read
        from headstart.api_llm import sft as run_sft
        from headstart.fit_result import NothingSaved
        from headstart.llm.runs import Interrupted
        from headstart.llm.sft import SftConfig, check_adapter_given
        from headstart.progress import progress_bar
        from headstart.arguments import parse_n

        claim(out, "lm-run")
        replacing = (out / "spec.json").is_file()  # said once this run is saved: a failure leaves it as it was
        adapter = {"rank": rank, "alpha": alpha, "dropout": dropout, "targets": targets}
        check_adapter_given(strategy, [k for k, v in adapter.items() if v is not None])
        cfg = SftConfig(backbone=backbone, strategy=strategy, n=parse_n(n, least=1, example=256), seed=seed, lr=lr, epochs=epochs, max_steps=max_steps,
                        batch_size=batch_size, packing=packing, max_length=max_length, warmup=warmup, evals=evals,
                        patience=patience, val_rows=val_rows, eval_rows=eval_rows, max_new_tokens=max_new_tokens,
                        **{k: v for k, v in adapter.items() if v is not None})
    try:
        with progress_bar("sft", enabled=not quiet) as progress:
            run = run_sft(data, out=out, prompt_column=prompt_column, response_column=response_column, group_column=group_column,
                          config=cfg, progress=progress, overwrite=overwrite)
    except Interrupted as stop:  # the best checkpoint so far, or the trained run before its test answers, is saved
        run, stopped, said = stop.run, True, stop.said
    except (NothingTrained, NothingSaved) as stop:  # in the run's setup, or a second stop ended its save: one line
        _say_untrained(stop)
    else:
        stopped, said = False, None
    _summary(run, out, as_json, replacing=replacing, interrupted=stopped, said=said)


@app.command()
def prefer(
    data: Annotated[str, typer.Option("--data", "-d", help="rotten-tomatoes-preferences (built in) or a .csv/.tsv/.jsonl/.json/.parquet file with prompt / chosen / rejected columns.")] = "rotten-tomatoes-preferences",
    sft: Annotated[Optional[Path], typer.Option("--sft", help="The sft run to start from; it is also the frozen reference.")] = None,
    prompt_column: Annotated[str, typer.Option(help="Column of prompts.")] = "prompt",
    chosen_column: Annotated[str, typer.Option(help="Column of preferred responses.")] = "chosen",
    rejected_column: Annotated[str, typer.Option(help="Column of dispreferred responses.")] = "rejected",
    group_column: GroupOpt = None,
    backbone: Annotated[Optional[str], typer.Option("--backbone", "-b", help="Without --sft: the causal LM (default smollm2-135m, or gemma3-270m, a causal-LM folder or a .gguf file); with --sft, the sft run's.")] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", "-s", help="Without --sft: lora (default) | qlora (NF4 base) | full-finetune on --backbone; with --sft, the sft run's.")] = None,
    beta: Annotated[float, typer.Option(help="DPO's β: how far the policy may move from the reference.")] = 0.1,
    n: NOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the subsample and shuffling.")] = 0,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (default: 5e-5 lora/qlora, 1e-6 full-finetune).")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the training pairs (unless --max-steps).")] = 1.0,
    max_steps: Annotated[Optional[int], typer.Option(help="Optimiser steps (overrides --epochs).")] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per step (2x sequences).")] = 4,
    max_length: Annotated[int, typer.Option(help="Tokens per prompt + response.")] = 256,
    warmup: WarmupOpt = 0.1,
    evals: EvalsOpt = 5,
    patience: PatienceOpt = 3,
    val_rows: Annotated[int, typer.Option(help="Validation pairs whose DPO loss picks the checkpoint.")] = 64,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")] = Path("runs/prefer"),
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a saved run of other settings, or of the other kind, in --out (refused without it; the same run trained again replaces itself).")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Preference tuning by DPO on prompt / chosen / rejected rows, on top of an sft run (its start and its frozen
    reference; Rafailov et al. 2023); without --sft, a fresh LoRA on --backbone referenced to the base. An --out
    holding a run of other settings, or an sft run, is refused before training (--overwrite replaces it).

    \b
    Example: headstart prefer --data rotten-tomatoes-preferences --sft runs/sft --n 256 --max-steps 40 --out runs/dpo
    """
    with _setting_up("prefer"):  # its modules import (torch: seconds), --out claimed, its settings read
        from headstart.api_llm import prefer as run_prefer
        from headstart.fit_result import NothingSaved
        from headstart.llm.dpo import PreferConfig, check_out, check_start
        from headstart.llm.runs import Interrupted
        from headstart.progress import progress_bar
        from headstart.arguments import parse_n

        replacing = (out / "spec.json").is_file()  # said once this run is saved: a failure leaves it as it was
        cfg = PreferConfig(sft=None if sft is None else str(sft), backbone=backbone, strategy=strategy, beta=beta, n=parse_n(n, least=1, example=256), seed=seed, lr=lr,
                           epochs=epochs, max_steps=max_steps, batch_size=batch_size, max_length=max_length, warmup=warmup,
                           evals=evals, patience=patience, val_rows=val_rows)
        check_out(out, cfg)
        claim(out, "lm-run")
        check_start(cfg)  # not a run, or a --backbone / --strategy that is not its: one line before the data loads
    try:
        with progress_bar("prefer", enabled=not quiet) as progress:
            run = run_prefer(data, out=out, prompt_column=prompt_column, chosen_column=chosen_column,
                             rejected_column=rejected_column, group_column=group_column, config=cfg, progress=progress,
                             overwrite=overwrite)
    except Interrupted as stop:
        run, said = stop.run, stop.said
    except (NothingTrained, NothingSaved) as stop:  # in the run's setup (the reference pass takes minutes), or a second
        _say_untrained(stop)  # stop ended its save: one line says nothing was saved
    else:
        said = None
    _summary(run, out, as_json, replacing=replacing, said=said)


@app.command()
def generate(
    run: Annotated[Path, typer.Argument(help="An sft or prefer run directory.")],
    prompt: Annotated[Optional[list[str]], typer.Option("--prompt", "-p", help="A prompt (repeatable); '-' reads one per line from stdin.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens generated at most per prompt.")] = 64,
    temperature: Annotated[float, typer.Option(help="0: greedy (the default); above 0: sampled at this temperature.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of sampling.")] = 0,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate a response to each prompt with an sft / prefer run (on stderr, unless --quiet: loading the model, then
    the prompts answered with an ETA).

    \b
    Example: headstart generate runs/sft --prompt "Write a positive review of Heat."
    Example: headstart generate runs/dpo --prompt "Write a negative review of Alien." --temperature 0.7 --seed 1
    """
    from headstart.api_llm import generate as run_generate
    from headstart.errors import ConfigError
    from headstart.llm.runs import check_generation, read_spec

    check_generation(max_new_tokens, temperature)
    prompts = [line.rstrip("\n") for p in prompt or [] for line in (sys.stdin if p == "-" else [p])]
    prompts = [p for p in prompts if p.strip()]
    if not prompts:
        raise ConfigError("no prompt given; add --prompt TEXT (repeatable, or - for stdin lines)")
    read_spec(run)  # not a run: one line before any model loads
    texts = run_generate(run, prompts, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, progress=not quiet)
    if as_json:
        _echo_json([{"prompt": p, "response": t} for p, t in zip(prompts, texts)])
        return
    for p, t in zip(prompts, texts):
        typer.echo(f"> {p}\n{t}\n")
