"""``train``, ``evaluate``: one run (``predict`` is ``cli.predict``)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from headstart.cli.common import (BackboneOpt, DataOpt, GroupColumnOpt, InterruptReported, JsonOpt, PoolingOpt, SplitColumnOpt,
                                  TestDataOpt,
                                  TaskOpt, _echo_json, _metric_line, _own_flags, _scoped_options, _shown, _strategy_options, app)
from headstart.cli.summary import print_leakage
from headstart.errors import ConfigError
from headstart.ood import majority_text, one_class_text
from headstart.results import chosen_on_validation, given


@app.command()
def train(
    data: DataOpt = "rotten-tomatoes",
    backbone: BackboneOpt = "all-minilm-l6-v2",
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Strategy (headstart strategies).")] = "linear-probe",
    n: Annotated[Optional[str], typer.Option("--n", help="Labelled training examples drawn from the pool, or 'all' "
                                                         "(the default; 0 for zero-shot, which reads none).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the subsample, head init and shuffling.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")] = Path("runs/latest"),
    lr: Annotated[Optional[float], typer.Option(help="Backbone learning rate (default: the strategy's).")] = None,
    head_lr: Annotated[Optional[float], typer.Option(help="Head learning rate (default: the strategy's, 1e-3).")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: the strategy's).")] = None,
    min_steps: Annotated[Optional[int], typer.Option(help="Floor on optimiser steps for tiny n.")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Cap on optimiser steps per phase; it wins over every floor, "
                                                          "--min-steps and the strategy's own (the linear probe's 300).")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per micro-batch.")] = 16,
    eval_batch_size: Annotated[int, typer.Option(help="Examples per batch when scoring validation (no activations kept: "
                                                      "larger is faster until memory runs short).")] = 128,
    accumulate: Annotated[int, typer.Option(help="Micro-batches per optimiser step.")] = 1,
    warmup: Annotated[float, typer.Option(help="Warmup fraction of each phase.")] = 0.1,
    schedule: Annotated[str, typer.Option(help="cosine | linear | constant.")] = "cosine",
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.01,
    clip: Annotated[float, typer.Option(help="Max gradient norm (0: off).")] = 1.0,
    patience: Annotated[Optional[int], typer.Option(help="Validation checks without improvement before stopping a phase (0: never stop early; default: the strategy's, 3; the probe's 5).")] = None,
    evals_per_phase: Annotated[Optional[int], typer.Option(help="Validation checks per phase (default: the strategy's, 5; the probe's 30, one an epoch).")] = None,
    evals_per_epoch: Annotated[Optional[int], typer.Option(help="At most this many checks an epoch, but at least 5 a phase (default: none; the probe's 1).")] = None,
    metric: Annotated[str, typer.Option(help="Validation metric for early stopping: auto | accuracy | macro_f1 | balanced_accuracy | rmse | loss.")] = "auto",
    class_weights: Annotated[str, typer.Option(help="none | auto (weight classes when imbalance > 3x) | balanced.")] = "none",
    precision: Annotated[str, typer.Option(help="auto (measured) | fp32 | bf16.")] = "auto",
    max_length: Annotated[int, typer.Option(help="Truncate inputs to this many tokens.")] = 128,
    image_size: Annotated[Optional[int], typer.Option(help="Image backbones: input side in pixels (default: the network's, 224 / 28; 160 for images of 32 px or less on a 224 network).")] = None,
    augment: Annotated[str, typer.Option(help="Image training batches: none | crop | flip-crop (never at evaluation).")] = "none",
    bn: Annotated[str, typer.Option(help="Image backbones' BatchNorm statistics in trained blocks: auto (frozen if pre-trained, "
                                         "train from scratch) | train (update) | frozen (never).")] = "auto",
    freeze: Annotated[Optional[int], typer.Option(help="partial-freeze: bottom blocks to freeze.")] = None,
    decay: Annotated[Optional[float], typer.Option(help="llrd: per-block lr decay in (0, 1].")] = None,
    rank: Annotated[Optional[int], typer.Option(help="lora/dora/qlora: rank r of the update (8).")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="lora/dora/qlora: scale alpha; the update is (alpha/r)BA (16).")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="lora/dora/qlora: dropout on the adapter input (0.1).")] = None,
    targets: Annotated[Optional[str], typer.Option(help=(
        "lora/dora/qlora/ia3/houlsby: module names to adapt, or all-linear. A name is a module's path within its layer, "
        "matched whole (output.dense: the feed-forward output, not attention.output.dense), or, where no path is that "
        "whole, an ending (query, dense: every *.dense)."))] = None,
    reduction: Annotated[Optional[int], typer.Option(help="houlsby: bottleneck width = hidden size / reduction (16).")] = None,
    virtual_tokens: Annotated[Optional[int], typer.Option(help="prompt-tuning/prefix-tuning: learned tokens (20).")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adamw | adamw8bit | paged-adamw8bit (CUDA) (default: the strategy's).")] = None,
    tune: Annotated[Optional[str], typer.Option(help="lr: choose the learning rate on validation (successive halving over the strategy's grid).")] = None,
    no_tune: Annotated[bool, typer.Option("--no-tune", help="The default: the strategy's own learning rates, untuned "
                                                            "(compare's --no-tune, here for the same command line).")] = False,
    terms: Annotated[Optional[str], typer.Option(help="Objective terms added to the task loss, '+'-separated: e.g. l2sp[weight=0.1].")] = None,
    grid: Annotated[Optional[str], typer.Option(help="With --tune lr: the learning rates to search instead of the strategy's grid, e.g. 2e-5,5e-5,1e-4.")] = None,
    retain: Annotated[Optional[list[str]], typer.Option(help="After training, measure forgetting on this classification dataset "
                                                             "(repeatable): a probe on the adapted vs the original encoder. It costs more than a "
                                                             "short training: up to 3,000 of its rows (plus validation) encoded twice, by the original "
                                                             "and the adapted encoder, and 12 probes fitted (60 cross-fitted on a dataset under "
                                                             "3,000 rows); said with its row count before it starts.")] = None,
    eval_data: Annotated[Optional[list[str]], typer.Option(help="After training, also score on this dataset's test split "
                                                               "(repeatable; same labels, mapped by name: 'DATA[their=ours, other=-]'; a file's own columns: 'FILE[text=COLUMN, label=COLUMN]'; a file's labels read as the run's task).")] = None,
    tta: Annotated[Optional[list[str]], typer.Option(help="Also score each --eval-data after test-time adaptation to its unlabelled "
                                                         "inputs: bn-adapt | tent | tent-episodic (repeatable).")] = None,
    option: Annotated[Optional[list[str]], typer.Option("--option", help="A strategy or term option, KEY=VALUE or NAME.KEY=VALUE "
                                                                          "(repeatable; e.g. rank=4, ewc.weight=10; listed by headstart strategies).")] = None,
    label_descriptions: Annotated[Optional[str], typer.Option(help="A text per class, 'fresh=\"a positive movie review\",rotten=...' "
                                                                  "or a .json / .toml file of label = text: zero-shot's descriptions (default: 'This example is {label}.'), "
                                                                  "zero-shot-prompt's and icl's answer words (default: the label name), e.g. 'fresh=positive,rotten=negative'.")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    task: TaskOpt = None,
    group_column: GroupColumnOpt = None,
    split_column: SplitColumnOpt = None,
    test_data: TestDataOpt = None,
    pooling: PoolingOpt = None,
    max_test: Annotated[Optional[str], typer.Option(help="Keep a stratified part of about this many test rows (the rest join the pool), "
                                                         "or all: every row (default: every row, but 2,000 of a larger image test split, said in a note).")] = None,
    max_val: Annotated[Optional[str], typer.Option(help="Cap the validation split at about this many rows (whole groups; the rest join the "
                                                        "pool): every check scores them, so fewer is faster where a row costs much to "
                                                        "score (icl on a causal LM), at a noisier choice (default: 10% of the rows, at most 300).")] = None,
    dedupe: Annotated[bool, typer.Option("--dedupe", help="Drop test examples that duplicate pool/validation ones, and validation "
                                                          "examples that duplicate pool ones (see check-leakage); evaluate "
                                                          "scores the run on that test split.")] = False,
    report_to: Annotated[Optional[str], typer.Option(help="mlflow: also log the run to MLflow ($MLFLOW_TRACKING_URI, else "
                                                          "sqlite:///<out's parent>/mlflow.db; headstart[tracking]).")] = None,
    nproc: Annotated[int, typer.Option(help="Train across this many processes (torch.distributed: gloo on the CPU, nccl on "
                                            "GPUs), gradients summed over each global batch of batch-size x accumulate rows; "
                                            "rank 0 validates and writes. Head-only strategies use one.")] = 1,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a saved run of other settings in --out (refused "
                                                                "without it).")] = False,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train again a run --out already holds, finished, with these "
                                                            "settings on this data (without it, that run is loaded and "
                                                            "shown, not trained again; an interrupted, diverged or damaged "
                                                            "one trains again either way).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train one run and save it (spec.json, weights.safetensors, metrics.json on validation).

    An --out holding a run of other settings is refused before training (--overwrite replaces it); one holding this
    run, finished, is loaded and shown, not trained again (--retrain trains it again; an interrupted, diverged or
    damaged one trains again from the start, a note saying why). Ctrl-C or SIGTERM
    during the steps saves the best validation checkpoint so far (no check yet: the last step's weights), marked
    ended_by in metrics.json, and exits 130; a finished run in --out is kept instead. After the steps, while --retain
    and --eval-data are scored, it keeps the trained run with the scores made (not_scored names the rest). A second
    one ends at once. A finished run in --out stays until the new run is scored: an error while it is scored leaves
    that run as it was (into an --out without one, the trained run is saved, not_scored and ended_by naming the error).

    \b
    Example: headstart train --data rotten-tomatoes --strategy full-finetune --n 64 --seed 0 --out runs/ft64
    Example: headstart train --strategy full-finetune --n 256 --nproc 2 --out runs/ft256
    Example: headstart train --strategy zero-shot --label-descriptions 'fresh="a positive movie review",rotten="a negative movie review"' --out runs/zs
    Example: headstart train --strategy linear-probe --n 16 --out runs/ft64 --overwrite   # replaces the run there
    Example: headstart train --strategy full-finetune --n 64 --dedupe --out runs/ft64-dedupe   # test copies of training rows dropped
    Example: headstart train --backbone smollm2-135m --strategy icl --n 16 --max-val 50 --out runs/icl   # validation capped at 50 rows (whole groups can take it over), not 300
    """
    from headstart.fit_result import Interrupted, NothingSaved

    try:  # its own part of the start-up (its modules import, torch among them: seconds), before fit's reads the same
        from headstart.api import fit
        from headstart.loaded import with_interval
        from headstart.arm_text import terms_of
        from headstart.specs import TrainConfig

        from headstart.distributed import check_nproc
        from headstart.precision import pick_device

        if no_tune and tune is not None:
            raise ConfigError(f"--tune {tune} and --no-tune say opposite things; give one (untuned is the default)")
        check_nproc(nproc, pick_device())  # one line and exit 2, before anything loads
        from headstart.tracking import check_report_to

        check_report_to(report_to, out)  # an unknown destination or a missing extra is named before training
        scoped = _scoped_options(option)
        from headstart.train_keywords import STRATEGY_FLAGS

        typed_flags = {"freeze": freeze, "decay": decay, "rank": rank, "alpha": alpha, "dropout": dropout, "targets": targets,
                       "reduction": reduction, "virtual_tokens": virtual_tokens}
        flags = {name: typed_flags[name] for name in STRATEGY_FLAGS}  # fit's keywords of the same names (one list)
        typed = {*scoped.get("", {}), *scoped.get(strategy, {})}  # given as --option KEY=VALUE: a fix keeps that form
        options = _strategy_options(scoped, strategy, flags)
        terms_given = terms_of(terms, strategy)
        for name, values in scoped.items():  # NAME.KEY for another strategy is a mistake; for a term it adds or sets the term
            from headstart.objectives import TERMS

            if name not in TERMS:
                raise ConfigError(f"--option {name}.… sets an option of strategy {name!r}, but this run trains {strategy!r}; "
                                  f"use --option KEY=VALUE for {strategy}'s options")
            own = terms_given.setdefault(name, {})
            for key, value in values.items():  # neither silently wins, as for a strategy flag and --option
                if key in own and own[key] != value:
                    raise ConfigError(f"--terms {name}[{key}={_shown(own[key])}] and --option {name}.{key}={_shown(value)} set "
                                      f"{name}'s {key} to different values; give one")
                own[key] = value
        if n is None:
            from headstart.strategies import get_strategy

            n = "all" if get_strategy(strategy).needs_labels else "0"
        config = TrainConfig(lr=lr, head_lr=head_lr, epochs=epochs, min_steps=min_steps, max_steps=max_steps, batch_size=batch_size,
                             eval_batch_size=eval_batch_size, accumulate=accumulate, warmup=warmup, schedule=schedule, weight_decay=weight_decay, clip=clip,
                             patience=patience, evals_per_phase=evals_per_phase, evals_per_epoch=evals_per_epoch, metric=metric, class_weights=class_weights, precision=precision, max_length=max_length,
                             optimizer=optimizer, image_size=image_size, augment=augment, bn=bn)
        replacing = (out / "spec.json").is_file()  # replaced only once this run is saved: a failure leaves it as it was
        before = _saved_key(out) if replacing else None
    except KeyboardInterrupt as stop:  # SIGTERM too (main reads it for train): nothing trained, nothing saved, said so
        typer.echo(str(NothingSaved(stop, starting=True)), err=True)
        raise InterruptReported() from None
    try:
        result = fit(data, backbone, strategy=strategy, n=n, seed=seed, out=out, options=options, config=config,
                     text_column=text_column, label_column=label_column, task=task, pooling=pooling, tune=tune, grid=grid,
                     group_column=group_column, split_column=split_column, test_data=test_data, max_test=max_test,
                     max_val=max_val, dedupe=dedupe,
                     progress=not quiet, terms=terms_given, retain=list(retain or ()), eval_data=list(eval_data or ()),
                     tta=list(tta or ()), nproc=nproc, report_to=report_to, label_descriptions=label_descriptions,
                     overwrite=overwrite, retrain=retrain)
    except ConfigError as e:  # "try --option rank=8" where train has --rank: name the flag, unless --option gave it
        fixed = _own_flags(str(e), flags, typed=typed)
        if fixed == str(e):
            raise
        raise ConfigError(fixed) from None
    except NothingSaved as stop:  # a tune trial, a closed-form solve: nothing to keep, and one line says so (before Interrupted: it is one, run None)
        typer.echo(str(stop), err=True)
        raise InterruptReported() from None
    except Interrupted as stop:  # the checkpoint so far is kept (or a finished run in --out): one line says which
        if as_json:  # --json changes what is printed, never the exit status
            _echo_json(_summary(stop.run, stop.run.out, dedupe=dedupe))
        else:
            typer.echo(str(stop), err=True)
        raise InterruptReported() from None
    moved = any(f.get("reason") == "moved" for f in result.flags)
    out = result.out or out  # where it was saved: beside --out when another run came there while it trained
    summary = _summary(result, out, dedupe=dedupe)
    if replacing and not moved and not result._reused and not any(f.get("reason") == "kept" for f in result.flags):
        typer.echo(f"note: the same run (its settings and data unchanged) was in {str(out)!r}: trained again in its place"
                   if before == result.key else f"note: this run replaced the one that was in {str(out)!r}", err=True)
    if result.mlflow is not None:
        summary["mlflow"] = result.mlflow
    if as_json:
        if result.leakage:  # as compare --json says it: on stderr, the counts in the JSON
            print_leakage(result.leakage, dedupe=dedupe, err=True)
        _echo_json(summary)
        if result.status != "done":  # --json changes what is printed, never the exit status
            raise typer.Exit(1)
        return
    pct = percent(result.trainable_params, result.total_params)
    from headstart.analysis.arms import spec_label
    from headstart.report.markdown import seconds_text  # as the reports write them: a probe's 0.012 s is not "0.0s"
    from headstart.report.mdtext import bytes_text

    arm = spec_label({"strategy": strategy, "terms": terms_given})  # full-finetune+ewc[weight=10]: what trained
    typer.echo(f"{result.status}: {arm} on {data}, n={n}, seed={seed} -> {out}")
    if result.steps:
        typer.echo(f"trainable params: {result.trainable_params:,} of {result.total_params:,} ({pct}); "
                   f"{result.steps} steps in {seconds_text(result.train_seconds)}s, best at step {result.best_step}")
    elif (result.chosen or {}).get("pair_steps"):  # setfit: its own loop tunes the encoder, then the head is solved
        typer.echo(f"trainable params: {result.trainable_params:,} of {result.total_params:,} ({pct}); the encoder tuned in "
                   f"{result.chosen['pair_steps']} pair steps, then the head in closed form, {seconds_text(result.train_seconds)}s")
    elif result.trainable_params:  # closed form (a solve): nothing was stepped, so no step was best
        typer.echo(f"parameters set in closed form: {result.trainable_params:,} of {result.total_params:,} ({pct}), "
                   f"no optimiser step, {seconds_text(result.train_seconds)}s" + ("; no label read (n = 0)" if n == "0" else ""))
    else:  # a zero-shot head from descriptions, a prompt, a lookup: no weight learned from the rows
        typer.echo(f"trainable params: 0 of {result.total_params:,}: nothing trained, no optimiser step, "
                   f"{seconds_text(result.train_seconds)}s" + ("; no label read (n = 0)" if n == "0" else ""))
    memory = f"peak memory {bytes_text(result.peak_rss_bytes)} (RSS)" if not result._reused else "peak memory: not measured (loaded, not trained here)"
    if result.base_weights:
        stored, fp32 = result.base_weights["stored"], result.base_weights["fp32"]
        memory += f"; 4-bit base linear weights {bytes_text(stored)} = {stored / fp32:.2f}x of fp32 ({bytes_text(fp32)})"
    typer.echo(memory)
    resolved = _saved(out).get("resolved") or {}
    chosen = chosen_on_validation(result.chosen, resolved.get("options"), resolved.get("n"))
    if chosen:
        typer.echo(f"chosen on validation: {_settings_text(chosen)}"
                   + (f" (tuning's trials took {seconds_text(result.tune_seconds)}s before the final run, whose "
                      f"{seconds_text(result.train_seconds)}s above leave them out)" if result.tune_seconds else ""))
    if fixed := given(result.chosen, resolved.get("options"), resolved.get("n")):
        typer.echo(f"set by a grid of one value (nothing chosen on validation): {_settings_text(fixed)}")
    for term, values in (result.estimates or {}).items():  # importance weighting's weights: how far apart the domains are
        typer.echo(f"{term} estimated before training: {_settings_text(values)}")
    for flag in result.flags:
        typer.echo(f"note: this run {flag['text']}; {flag['advice']}")
    for r in result.retention:
        typer.echo(retention_line(r))
    if result.status != "done":
        typer.echo(f"{result.status}: {result.error}", err=True)
        raise typer.Exit(1)
    rows = result.val_metrics.get("n")
    held = result.val_held_out or {}
    looks = result.val_checks  # the engine's count of its checks (the held-out score's "checks" is the same number)
    # The best of several looks is lucky: an interval around it would claim more than it is, so the interval goes on
    # what the choice scores on rows it did not read — where there are enough rows to hold some out (held_out.MIN_ROWS).
    from headstart.held_out import checks_text, grid_name

    grid = grid_name(result.steps, result.chosen)  # a closed-form fit's checks are its grid's values (k, C), not steps
    about = ", ".join([*([f"{rows:g} examples"] if isinstance(rows, (int, float)) else []),
                       *([f"the best of {checks_text(looks, grid)} on them"] if looks > 1 else [])])
    typer.echo(f"validation{f' ({about})' if about else ''}: "
               + _metric_line(with_interval(result.val_metrics), interval=looks <= 1))
    if looks > 1 and held:
        typer.echo(f"validation held out from the choice of the best of {checks_text(looks, grid)} (each half's pick "
                   f"scored on the other half): " + _metric_line(with_interval({k: v for k, v in held.items() if k != "checks"}),
                                                                 interval=True))
        from headstart.strategies import get_strategy

        if get_strategy(strategy).loss_note and "loss" in held:  # a loss that reads unlike a trained model's
            typer.echo(f"note: {get_strategy(strategy).loss_note}")
    elif looks > 1:
        count = f"{rows:g} " if isinstance(rows, (int, float)) else ""
        typer.echo(f"note: {count}validation rows are too few to hold half out from the choice, so no validation score "
                   "here carries an interval; the test split's (headstart evaluate) is the one to quote")
    if summary.get("mlflow"):
        logged = summary["mlflow"]
        typer.echo(f"MLflow: {'logged as run ' + logged['run_id'] if logged['logged'] else 'already logged'} ({logged['uri']})")
    for o in result.ood:
        typer.echo(f"test of {o['data']}{' after ' + o['tta'] if o.get('tta') else ''} ({o['test_rows']} examples, "
                   "split without reading its labels): "  # as evaluate --eval-data says it: the file may be of the run's own domain
                   + _metric_line(with_interval({**o["metrics"], "n": o["test_rows"]}), interval=True)
                   + (f"; its most frequent class is {100 * o['majority']:.1f}% of these rows" if o.get("majority") is not None else "")
                   + majority_text(o, elsewhere=True) + one_class_text(o)
                   + (f"  [{o['note']}]" if o.get("note") else ""))
    if result.leakage:  # the test split evaluate scores next: compare's line and warnings
        print_leakage(result.leakage, dedupe=dedupe)
    typer.echo(f"next: headstart evaluate {shlex.quote(str(out))}")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run directory written by 'headstart train', or by 'headstart sft'.")],
    split: Annotated[str, typer.Option(help="test | val (or validation).")] = "test",
    eval_data: Annotated[Optional[list[str]], typer.Option(help="Also score on this dataset's test split (a seeded fifth of a file's rows) "
                                                               "(repeatable; same labels, mapped by name: 'DATA[their=ours, other=-]'; a file's own columns: 'FILE[text=COLUMN, label=COLUMN]'; a file's labels read as the run's task).")] = None,
    tta: Annotated[Optional[list[str]], typer.Option(help="With --eval-data: also score after test-time adaptation, bn-adapt | tent | tent-episodic (repeatable).")] = None,
    eval_rows: Annotated[str, typer.Option(help="Which rows of each --eval-data dataset are scored: test (its seeded test fifth; the "
                                                "rest is the pool --tta adapts on) or all (every row: a labelled file kept apart as a test set).")] = "test",
    dedupe: Annotated[bool, typer.Option("--dedupe", help="With --eval-data: leave out its rows that duplicate the run's own "
                                                          "training or validation rows (warned of without it), saying how many.")] = False,
    max_new_tokens: Annotated[Optional[int], typer.Option(help="An sft run: tokens an answer may take (default: the run's own, 64). Its score replaces the run's test score; evaluate without it makes the run's own again (greedy answers repeat).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (on stderr) while the rows are scored, or an sft run's test prompts answered.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print a trained run's metrics on the test (or validation) split, and on each --eval-data dataset's.

    An --eval-data that is unknown, unreadable or whose labels do not map, or a --tta that cannot adapt the run, is
    refused in one line before any row is scored.

    A classifier run's test score (its rows, the accuracy's 95% interval) goes into its metrics.json and the test line
    of its README.md, in place of an earlier evaluate's; a folder that cannot be written is scored all the same, with
    a note saying why.

    An sft run answers its held-out test prompts again (greedy, the rows it drew when it trained) and prints their
    exact match as sft does; the score goes into its metrics.json and README.md, in place of a test that was never
    scored (a stop while sft answered them) or an earlier score. Ctrl-C or SIGTERM leaves the run as it was (exit
    130). A prefer run answers no test prompts and is refused.

    \b
    Example: headstart evaluate runs/ft64 --split test --json

    \b
    Example: headstart evaluate runs/ft64 --eval-data 'drug-reviews-sentiment[negative=rotten, positive=fresh, neutral=-]'

    \b
    Example: headstart evaluate runs/ft64 --eval-data held-out.csv --eval-rows all

    \b
    Example: headstart evaluate runs/ft64 --eval-data held-out.csv --eval-rows all --dedupe   # rows the run trained on left out

    \b
    Example: headstart evaluate runs/sft --max-new-tokens 128   # an sft run's test prompts, answered again
    """
    from headstart.api import evaluate as evaluate_run
    from headstart.llm.runs import is_lm_run

    if is_lm_run(run):
        from headstart.cli.llm import evaluate_lm

        evaluate_lm(run, split, eval_data=list(eval_data or ()), tta=list(tta or ()), eval_rows=eval_rows, dedupe=dedupe,
                    max_new_tokens=max_new_tokens, quiet=quiet, as_json=as_json)
        return

    from headstart.progress import progress_bar

    with progress_bar("evaluate", enabled=not quiet) as progress:  # stderr: --json's stdout stays the JSON alone
        scored = evaluate_run(run, split, eval_data=list(eval_data or ()), tta=list(tta or ()), eval_rows=eval_rows,
                              dedupe=dedupe, full=True, max_new_tokens=max_new_tokens, progress=progress)
    gap = merge_gap_note(run, command="evaluate")
    if gap:  # on stderr with --json too: its stdout stays the JSON alone
        typer.echo(gap, err=True)
    if as_json:
        _echo_json(scored)
        return
    metrics, elsewhere = {k: v for k, v in scored.items() if k != "ood"}, scored.get("ood") or []
    if metrics.get("cut_short"):  # an interrupt ended its steps: these are the scores of what it kept, not of a finished run
        typer.echo(f"note: this run was {metrics['cut_short']}: these scores are of that, not of a run that finished its "
                   "steps (train it again to finish them)", err=True)
    for part in (metrics, *elsewhere):  # duplicates of the run's own rows: each score they make optimistic
        if part.get("leakage"):
            typer.echo(f"warning: {part['leakage']['text']}", err=True)
        if part.get("dropped") and not part.get("tta"):  # said once per dataset, not again after each --tta method
            typer.echo(f"note: {part['dropped']['text']}", err=True)
    for scored in (metrics, *elsewhere):
        typer.echo(f"{scored['split']} ({scored['n']} examples): {_metric_line(scored, interval=True)}"
                   + (f"; its most frequent class is {100 * scored['majority']:.1f}% of these rows" if scored.get("majority") is not None else "")
                   + majority_text(scored, elsewhere=scored is not metrics) + one_class_text(scored)
                   + (f"  [{scored['note']}]" if scored.get("note") else ""))
        for name, row in scored.get("per_class", {}).items():
            cells = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
            typer.echo(f"  {name}: {cells}")


def _summary(result, out: Path | None, *, dedupe: bool) -> dict:
    """What ``train --json`` prints of a run (``FitResult``) saved into ``out`` (None: not saved)."""
    removed = result.leakage.exact + result.leakage.near if result.leakage and dedupe else 0  # as compare's leakage.json
    removed_val = result.leakage.val_leaked if result.leakage and dedupe else 0
    return {"out": str(out) if out is not None else None, "key": result.key, "status": result.status,
            **({"ended_by": result.ended_by} if result.ended_by else {}),
            **({"not_scored": result.not_scored} if result.not_scored else {}), "steps": result.steps, "best_step": result.best_step,
            "train_seconds": round(result.train_seconds, 4),
            **({"feature_seconds": round(result.feature_seconds, 4)} if result.feature_seconds else {}),
            "trainable_params": result.trainable_params,
            "total_params": result.total_params, "peak_rss_bytes": result.peak_rss_bytes, "chosen": result.chosen, "estimates": result.estimates, "base_weights": result.base_weights,
            "val": {k: v for k, v in result.val_metrics.items() if k != "per_class"},
            **({"retention": [{k: v for k, v in r.items() if k != "rows"} for r in result.retention]} if result.retention else {}),
            **({"ood": result.ood} if result.ood else {}),
            **({"leakage": {**result.leakage.to_dict(), "removed_from_test": removed,
                             "removed_from_validation": removed_val}} if result.leakage else {}),
            "flags": result.flags, **({"error": result.error} if result.error else {})}


def _saved(out: Path) -> dict[str, Any]:
    """``out``'s spec.json, or {} where it cannot be read."""
    try:
        saved = json.loads((out / "spec.json").read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def merge_gap_note(run: Path, *, command: str) -> str | None:
    """A merged run's note where it runs at a precision other than fp32 (bf16): how far its outputs are from the adapter
    run's there, as ``adapters merge`` measured it and the run's card says (spec.json's ``merge.at_precision``); None
    where there is no such gap. ``command``: what runs it ("evaluate", "predict"), named in the note."""
    from headstart.output_checks import PrecisionGap

    merge = _saved(run).get("merge")
    gap = merge.get("at_precision") if isinstance(merge, dict) else None
    if not (isinstance(gap, dict) and isinstance(gap.get("max_abs_diff"), (int, float))):
        return None
    same, inputs = gap.get("same_class"), gap.get("inputs")
    counted = isinstance(same, int) and isinstance(inputs, int)
    measured = PrecisionGap(str(gap.get("precision")), gap["max_abs_diff"], same if counted else None,
                            inputs if isinstance(inputs, int) else 0)
    return (f"note: {command} runs this merged run at its own precision ({measured.precision}), where its outputs differ "
            f"from the adapter run's {measured.text()} (measured by the merge): {measured.precision} rounds the merged "
            "weight as one matrix, the adapter its parts")


def _saved_key(out: Path) -> str | None:
    """The run key in ``out``'s spec.json, or None where it cannot be read."""
    return _saved(out).get("key")


def _settings_text(values: dict[str, Any]) -> str:
    """``{"C": 1.0, "k": 5}`` as ``"C=1, k=5"``."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def percent(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``: two decimals, but two significant digits below 1% (770 of 22,713,986 is
    0.0034%, not 0.00%)."""
    import math

    share = 100 * part / max(whole, 1)
    decimals = 2 if share >= 1 or share == 0 else 1 - math.floor(math.log10(share))
    return f"{share:.{decimals}f}%"


def retention_line(r: dict[str, Any]) -> str:
    """``retention on D: 0.992 (probe accuracy 79.4% on the adapted encoder vs 80.0% on the original, 495 test rows;
    difference -0.6 points, 95% CI -2.1 to +0.9: within noise)``: ``r`` is one of ``FitResult.retention``."""
    diff = r.get("difference")
    if diff is None and (r.get("rows") or {}).get("target"):  # a record from before the difference was stored
        from headstart.analysis.forgetting import accuracy_difference

        diff = accuracy_difference(r["rows"])
    said = ""
    if diff is not None:
        from headstart.analysis.cell_stats import signed_points

        points = [signed_points(100 * diff[k]) for k in ("mean", "ci_low", "ci_high")]
        said = (f"; difference {points[0]} points, {round(100 * diff.get('confidence', 0.95))}% CI {points[1]} to {points[2]}"
                + (": within noise" if diff["within_noise"] else ""))
    return (f"retention on {r['data']}: {r['retention']:.3f} (probe accuracy {100 * r['adapted']:.1f}% on the adapted "
            f"encoder vs {100 * r['original']:.1f}% on the original, {r['test_rows']} test rows{said})")
