"""``rank-backbones``: rank pre-trained backbones for a dataset from frozen features, without training (``headstart.rank``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from headstart.analysis.backbone_ranking import SCORE_LABELS, flagged_notes, sides_text, tau_text
from headstart.cli.common import GroupColumnOpt, JsonOpt, SplitColumnOpt, TaskOpt, _echo_json, app


@app.command("rank-backbones")
def rank_backbones(
    backbones: Annotated[str, typer.Option(help="Backbones to rank, comma-separated: built-in names or local model folders.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Built-in dataset (headstart datasets) or a data file; classification.")] = "rotten-tomatoes",
    n: Annotated[Optional[str], typer.Option(help="Pool rows to score (the rows train --n N draws), or 'all'; default all up to 2000.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the rows drawn (as train --seed).")] = 0,
    image_size: Annotated[Optional[int], typer.Option(help="Image backbones: input side in pixels, as compare's (default: the "
                                                           "network's; 160 for images of 32 px or less on a 224 network; with "
                                                           "--measured, the side its measured runs read).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write OUT/rank.json; a compare store's directory also "
                                                                   "gets its report re-rendered with the ranking in it.")] = None,
    measured: Annotated[Optional[Path], typer.Option(help="A compare --backbones store (its --out): print its measured ranking and "
                                                          "Kendall's tau per score.")] = None,
    arm: Annotated[Optional[str], typer.Option(help="With --measured: the arm whose accuracy is measured (default linear-probe).")] = None,
    size: Annotated[Optional[str], typer.Option(help="With --measured: the labelled-set size read (default the store's largest).")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="Text column of a data file.")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="Label column of a data file.")] = None,
    group_column: GroupColumnOpt = None,
    split_column: SplitColumnOpt = None,
    task: TaskOpt = None,
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Rank backbones for a labelled dataset from frozen features, without training: LogME, H-score, k-NN leave-one-out.
    One forward pass per backbone over the rows: seconds for a small text encoder, minutes for an ImageNet network on
    2,000 images on a CPU (--n fewer rows is quicker).

    No backbone is fine-tuned and the test split is never read. Best first by LogME.

    \b
    Example: headstart rank-backbones --data rotten-tomatoes --backbones all-minilm-l6-v2,ENCODER_FOLDER
    Example: headstart rank-backbones --backbones all-minilm-l6-v2,ENCODER_FOLDER --measured runs/two --out runs/two
    """
    from headstart.rank import rank_backbones as rank

    result = rank(data, backbones, n=n, seed=seed, image_size=image_size, out=out, measured=measured, arm=arm, size=size,
                  text_column=text_column, label_column=label_column, group_column=group_column, split_column=split_column,
                  task=task, progress=not quiet)
    for note in result.notes:  # what chose an image backbone's input side, as compare says it
        typer.echo(f"note: this ranking {note['text']}; {note['advice']}", err=as_json)
    if as_json:
        _echo_json(result.to_json())
        return
    for line in table(result):
        typer.echo(line)
    if result.out is not None:
        typer.echo(f"wrote {result.out / 'rank.json'}")
    if result.report is not None:
        typer.echo(f"report: {result.report} (section: Backbones ranked before training)")
    elif result.report_error:
        typer.echo(f"warning: rank.json is written but the store's report was not re-rendered ({result.report_error}); "
                   f"headstart report {result.out} retries", err=True)


def _ci(measured: dict[str, Any], backbone: str) -> str:
    """A measured backbone's test interval, ``"0.806–1.000"``, or "-" where it has none (one seed and no test rows)."""
    from headstart.analysis.stats import has_interval

    found = measured["backbones"].get(backbone) or {}
    return f"{found['ci_low']:.3f}–{found['ci_high']:.3f}" if has_interval(found) else "-"


def table(result: Any) -> list[str]:
    """The ranking as text lines: one row per backbone, best LogME first; with a store, measured beside it and tau."""
    from headstart.transferability import KNN_K

    read = sides_text({s.backbone: s.image_size for s in result.scores})
    lines = [f"{result.data}: {result.n} pool rows, seed {result.seed} (the rows train --n {result.n_requested} "
             f"--seed {result.seed} draws){f', {read}' if read else ''}; kNN-LOO k={KNN_K}, cosine; best first by LogME"]
    width = max(len("backbone"), *(len(s.backbone) for s in result.scores))
    head = f"{'backbone':<{width}}  {'LogME':>8}  {'H-score':>8}  {'kNN-LOO':>8}  {'seconds':>8}"
    table_ = result.measured
    if table_ is not None:
        head += f"  {'measured':>8}  {'95% CI':>13}  {'rank':>4}"
        ranked = sorted((m for m in (result.measured_mean(s) for s in result.scores) if m is not None), reverse=True)
    lines.append(head)
    for s in result.scores:
        line = f"{s.backbone:<{width}}  {s.logme:>8.4f}  {s.h_score:>8.4f}  {s.knn_loo:>8.4f}  {s.seconds:>8.1f}"
        if table_ is not None:
            mean = result.measured_mean(s)
            line += (f"  {'-':>8}  {'-':>13}  {'-':>4}" if mean is None
                     else f"  {mean:>8.4f}  {_ci(table_, s.name):>13}  {ranked.index(mean) + 1:>4}")
        lines.append(line)
    if table_ is not None:
        lines.append(f"measured: {table_['arm']} test {table_['metric']} at n={table_['size']}, mean over seeds with its "
                     "95% interval over seeds and test rows, as the compare's report gives it; "
                     "Kendall's tau of each score's ranking with it:")
        lines += [f"  {SCORE_LABELS[score]:<8} {tau_text(agree)}" for score, agree in result.agreement.items()]
        lines += [f"note: {note}" for note in flagged_notes(table_, where="its report's budget flags")]  # as the report says
    return lines
