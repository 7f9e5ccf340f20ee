"""``meta-train``: meta-learning arms trained on base-class episodes, evaluated on novel-class episodes (``headstart.meta``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from headstart.cli.common import JsonOpt, _echo_json, app


@app.command("meta-train")
def meta_train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for OUT/<arm>/ (each a backbone: --backbone OUT/<arm>), meta.json, meta.md.")],
    arms: Annotated[str, typer.Option(help="Comma-separated: protonet, maml, fomaml, reptile.")] = "protonet,maml,fomaml,reptile",
    setting: Annotated[str, typer.Option(help="cross-domain (base fashion-mnist, novel mnist-5k,opencv-digits) or fashion-split "
                                              "(fashion-mnist classes 0-4 base, 5-9 novel); --base / --novel override it.")] = "cross-domain",
    base: Annotated[Optional[str], typer.Option(help="Image dataset whose classes meta-train (built-in name or class folders).")] = None,
    novel: Annotated[Optional[str], typer.Option(help="Comma-separated image datasets whose classes test; the base dataset named "
                                                      "here splits its classes: first half base, rest novel.")] = None,
    backbone: Annotated[str, typer.Option("--backbone", "-b", help="Image backbone: mnist-cnn, efficientnet-lite0, or a saved folder.")] = "mnist-cnn",
    ways: Annotated[int, typer.Option(help="Classes per episode (N).")] = 5,
    shots: Annotated[str, typer.Option(help="Support examples per class at test (K), comma-separated.")] = "1,5",
    queries: Annotated[int, typer.Option(help="Query examples per class in every episode.")] = 15,
    episodes: Annotated[int, typer.Option(help="Test episodes per (novel dataset, shots); 600 is the field's convention.")] = 600,
    meta_steps: Annotated[int, typer.Option(help="Meta-steps per arm.")] = 300,
    meta_batch: Annotated[int, typer.Option(help="Tasks per meta-step.")] = 4,
    train_shots: Annotated[int, typer.Option(help="Support examples per class in meta-training episodes.")] = 5,
    meta_lr: Annotated[float, typer.Option(help="Adam learning rate of the outer loop (protonet, maml, fomaml).")] = 1e-4,
    inner: Annotated[str, typer.Option(help="MAML / FOMAML inner loop: head (ANIL, fast) or all (the whole network).")] = "head",
    inner_lr: Annotated[float, typer.Option(help="Inner SGD learning rate (maml, fomaml, reptile).")] = 0.01,
    inner_steps: Annotated[int, typer.Option(help="Inner SGD steps in meta-training.")] = 5,
    test_inner_steps: Annotated[int, typer.Option(help="Inner SGD steps at test time.")] = 10,
    reptile_step: Annotated[float, typer.Option(help="Reptile's outer step size, linearly annealed to 0.")] = 1.0,
    finetune_steps: Annotated[int, typer.Option(help="SGD steps of the plain backbone's fine-tuning baseline.")] = 10,
    finetune_lr: Annotated[float, typer.Option(help="Learning rate of that fine-tuning.")] = 0.01,
    probe_c: Annotated[float, typer.Option(help="Inverse L2 regularisation of the linear-probe baseline's logistic regression "
                                                "on L2-normalised features.")] = 1.0,
    per_class: Annotated[int, typer.Option(help="Rows kept per class (a seeded draw).")] = 600,
    val_episodes: Annotated[int, typer.Option(help="Validation episodes per shot count, on held-out rows of the base classes "
                                                   "(0: none).")] = 200,
    val_per_class: Annotated[int, typer.Option(help="Held-out base rows per class those episodes draw from (never a "
                                                    "meta-training row).")] = 150,
    tune: Annotated[Optional[str], typer.Option(help="meta-lr: train each Adam arm at 3e-5, 1e-4, 3e-4 "
                                                     "and keep the best on validation (3x the meta-training time).")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Input side; default the backbone's own.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the training and test episodes.")] = 0,
    threads: Annotated[int, typer.Option(help="torch / BLAS threads (episodes are small: 1 is fastest on a busy CPU).")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Meta-train a backbone per arm on N-way K-shot episodes of base classes; compare on novel classes with the plain backbone.

    Each arm's backbone is saved to OUT/<arm>/ and loads wherever a backbone does (train --backbone OUT/protonet).
    The same command again keeps each arm saved in OUT with these settings as it is, trains the rest and scores them
    (nothing left to do: the stored table); --arms may add arms, an OUT of other settings is refused (use a new --out).
    Evaluation: the same seeded episodes for every arm and for the plain backbone's linear probe, fine-tuning and
    nearest prototype; accuracy with a 95% interval over episodes (t · sd / sqrt(episodes), about 1.96 at 600).
    Validation episodes come from held-out rows of the base classes; --tune meta-lr chooses on them, never on a
    novel dataset.

    \b
    Example: headstart meta-train --arms protonet,maml,reptile --shots 1,5 --episodes 600 --out runs/meta
    Example: headstart meta-train --setting fashion-split --arms protonet --meta-steps 100 --out runs/meta-split
    Example: headstart meta-train --arms protonet,maml --tune meta-lr --out runs/meta-tuned
    """
    from headstart.cli.common import InterruptReported
    from headstart.interrupts import MetaInterrupted

    try:
        from headstart.meta.base import parse_arms
        from headstart.meta.config import MetaConfig, parse_ints, setting_datasets
        from headstart.meta.train import meta_train as run_meta_train

        base_name, novel_names = setting_datasets(setting, base=base, novel=novel)
        cfg = MetaConfig(arms=tuple(parse_arms(arms)), backbone=backbone, base=base_name, novel=novel_names, ways=ways,
                         shots=parse_ints(shots, "--shots"), queries=queries, train_shots=train_shots, episodes=episodes,
                         meta_steps=meta_steps, meta_batch=meta_batch, meta_lr=meta_lr, inner=inner, inner_lr=inner_lr,
                         inner_steps=inner_steps, test_inner_steps=test_inner_steps, reptile_step=reptile_step,
                         finetune_steps=finetune_steps, finetune_lr=finetune_lr, probe_c=probe_c, per_class=per_class,
                         val_episodes=val_episodes, val_per_class=val_per_class, tune=tune or (), image_size=image_size,
                         seed=seed, threads=threads)
        result = run_meta_train(out, cfg, progress=not quiet)
    except KeyboardInterrupt as stop:  # what the folder holds, which main's plain "interrupted" cannot say
        said = stop if isinstance(stop, MetaInterrupted) else MetaInterrupted(stop, out, [], 0, created=False)  # imports
        typer.echo(str(said), err=True)
        raise InterruptReported() from None
    if as_json:
        _echo_json(result.to_json())
        return
    for line in result.table():
        typer.echo(line)
    for note in result.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"results: {out / 'meta.json'}, {out / 'meta.md'}; a backbone per arm: " + ", ".join(f"{out / a}" for a in cfg.arms))
