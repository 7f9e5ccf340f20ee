"""``headstart meta-train`` as a recipe: setup → meta-train each arm → evaluate on novel episodes → result.

Setup (``pools.py``) loads the plain backbone and the datasets, keeps ``per_class`` rows of each class (base and
novel) and encodes them once. Each arm starts from the plain backbone's weights and sees the same seeded sequence of base
episodes; its network (and, for MAML / FOMAML / Reptile, its head initialisation) trains in eval mode (BatchNorm
statistics stay the pre-trained ones, as ``--bn frozen`` keeps them for a pre-trained backbone; dropout is off).
Validation draws ``val_episodes`` seeded episodes per shot count from held-out rows of the base classes (never a
meta-training row, never a novel dataset); ``--tune meta-lr`` trains an arm at each rate of ``META_LR_GRID`` and keeps
the one with the best mean validation accuracy. Evaluation draws ``episodes`` seeded episodes per (novel dataset,
shots) and scores every meta-trained arm with its own adaptation and the plain backbone with the baselines
(``baselines.py``) on the very same episodes.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.interrupts import MetaInterrupted, sigterm_as_interrupt
from headstart.analysis.stats import ONE_SEED
from headstart.errors import ConfigError
from headstart.python_checks import flags_checked
from headstart.surface import on_cli
from headstart.meta.base import ARMS, get_arm, parse_arms, zero_head
from headstart.meta.config import META_LR_GRID, MetaConfig, check_out_is_a_folder, setting_datasets
from headstart.meta.episodes import ci95, episodes, no_spread, sample_episode
from headstart.meta.pools import Pool, setup
from headstart.meta.results import MetaResult, rate_text
from headstart.report.mdtext import md_text
from headstart.arguments import as_config

PROBE = "plain linear-probe"  # the reference of the paired differences (Tian et al.'s baseline)
TRAIN_STREAM = 7919  # the base episodes' seed is [seed, TRAIN_STREAM]: never the test episodes' stream
VAL_STREAM = 7927  # the validation episodes' stream (``episodes(..., stream=)``): neither training's nor test's


class Diverged(ConfigError):
    """A meta-step's loss was not finite."""


def train_arm(arm_name: str, plain: Any, base: Pool, cfg: MetaConfig, *, progress: bool = True) -> tuple[Any, dict[str, torch.Tensor], dict[str, Any]]:
    """One arm meta-trained from a copy of the plain backbone; returns (backbone, head init, summary)."""
    import copy

    from headstart.progress import progress_bar

    arm = get_arm(arm_name)
    backbone = copy.deepcopy(plain)
    net = backbone.network().eval()
    for p in net.parameters():
        p.requires_grad_(True)
    head = {k: nn.Parameter(v) for k, v in zero_head(cfg.ways, backbone.dim).items()}
    trained = [*net.parameters(), *(head.values() if arm.learns_head else ())]
    optimizer = torch.optim.Adam(trained, lr=cfg.meta_lr) if arm.uses_optimizer else None
    rng = np.random.default_rng([cfg.seed, TRAIN_STREAM])  # every arm sees the same base episodes
    generator = torch.Generator().manual_seed(cfg.seed)
    losses, start = [], time.monotonic()
    with progress_bar(f"meta-train {arm_name}", enabled=progress) as update:
        for step in range(cfg.meta_steps):
            tasks = [base.task(sample_episode(base.by_class, ways=cfg.ways, shots=cfg.train_shots, queries=cfg.queries, rng=rng), backbone)
                     for _ in range(cfg.meta_batch)]
            losses.append(arm.step(net, head, tasks, optimizer, cfg, step / max(cfg.meta_steps, 1), generator))
            if not np.isfinite(losses[-1]):
                raise Diverged(f"{arm_name} diverged at meta-step {step + 1} (loss {losses[-1]}); lower --meta-lr or --inner-lr")
            if update is not None:
                recent = losses[-20:]  # the label counts the steps it averages: "last 20" of 10 steps was untrue
                update(step + 1, cfg.meta_steps, {f"loss (last {len(recent)} step{'s' if len(recent) > 1 else ''})": float(np.mean(recent))})
    tenth = max(1, len(losses) // 10)
    summary = {"arm": arm_name, "meta_steps": cfg.meta_steps, "seconds": round(time.monotonic() - start, 1),
               "first_loss": float(np.mean(losses[:tenth])) if losses else None,
               "last_loss": float(np.mean(losses[-tenth:])) if losses else None}
    return backbone, {k: v.detach() for k, v in head.items()}, summary


def validate(arm_name: str, backbone: Any, head: dict[str, torch.Tensor], pool: Pool, cfg: MetaConfig, *,
             progress: bool = True) -> list[dict[str, Any]]:
    """The arm's query accuracy on ``val_episodes`` seeded episodes of ``pool`` per shot count: one dict per shot count
    with shots, mean, ci95 (half-width), episodes. The episodes are the same for every arm and every rate."""
    from headstart.progress import progress_bar

    rows, total = [], len(cfg.shots) * cfg.val_episodes
    with progress_bar(f"validate {arm_name}", enabled=progress) as update:
        for shots in cfg.shots:
            accuracy = []
            for episode in episodes(pool.by_class, ways=cfg.ways, shots=shots, queries=cfg.queries, count=cfg.val_episodes,
                                    seed=cfg.seed, stream=VAL_STREAM):
                logits = ARMS[arm_name].predict(backbone.network(), head, pool.task(episode, backbone), cfg)
                accuracy.append(float(np.mean(np.argmax(logits.numpy(), axis=1) == episode.query_y)))
                if update is not None:
                    update(len(rows) * cfg.val_episodes + len(accuracy), total, {"shots": shots})
            mean, half = ci95(accuracy)
            rows.append({"shots": shots, "mean": mean, "ci95": half, **no_spread(half), "episodes": len(accuracy)})
    return rows


def train_chosen(arm_name: str, plain: Any, base: Pool, validation: Pool | None, cfg: MetaConfig, *,
                 progress: bool = True) -> tuple[Any, dict[str, torch.Tensor], dict[str, Any]]:
    """One arm meta-trained and scored on the validation episodes; with ``--tune meta-lr`` (an arm that trains with
    Adam) once per rate of ``META_LR_GRID``, keeping the best mean validation accuracy over shot counts (ties: the first,
    the lower rate) — the novel datasets are never read. The summary adds meta_lr (None for Reptile, which has
    none), validation (``validate``'s rows) and, when tuned, tried: each rate with its validation mean and training
    seconds, or why it diverged.

    Raises:
        Diverged: the only rate tried, or every rate of the grid, diverged.
    """
    tuned = "meta-lr" in cfg.tune and get_arm(arm_name).uses_optimizer
    best, tried = None, []
    for rate in META_LR_GRID if tuned else (cfg.meta_lr,):
        run_cfg = dataclasses.replace(cfg, meta_lr=rate)
        try:
            backbone, head, summary = train_arm(arm_name, plain, base, run_cfg, progress=progress)
        except Diverged as error:
            if not tuned:
                raise
            tried.append({"meta_lr": rate, "validation": None, "diverged": str(error)})
            continue
        scores = validate(arm_name, backbone, head, validation, run_cfg, progress=progress) if validation is not None else []
        mean = float(np.mean([r["mean"] for r in scores])) if scores else None
        tried.append({"meta_lr": rate, "validation": mean, "seconds": summary["seconds"]})
        if best is None or (mean is not None and mean > best[3]):
            summary = {**summary, "meta_lr": rate if get_arm(arm_name).uses_optimizer else None, "validation": scores}
            best = (backbone, head, summary, mean)
    if best is None:
        raise Diverged(f"{arm_name} diverged at every --meta-lr of the grid ({', '.join(map(rate_text, META_LR_GRID))}); "
                       "lower --inner-lr, or set --meta-lr without --tune")
    return best[0], best[1], {**best[2], **({"tried": tried} if tuned else {})}


def evaluate(models: dict[str, tuple[Any, dict[str, torch.Tensor]]], plain: Any, pools: list[Pool], cfg: MetaConfig, *,
             progress: bool = True) -> list[dict[str, Any]]:
    """Accuracy rows for every arm in ``models`` and the plain baselines, on the same seeded episodes per (pool, shots)."""
    from headstart.meta.baselines import evaluate_plain
    from headstart.progress import progress_bar

    rows = []
    total, done = len(pools) * len(cfg.shots) * cfg.episodes, 0
    with progress_bar("evaluate", enabled=progress) as update:
        for pool in pools:
            for shots in cfg.shots:
                accuracy: dict[str, list[float]] = defaultdict(list)
                for episode in episodes(pool.by_class, ways=cfg.ways, shots=shots, queries=cfg.queries, count=cfg.episodes, seed=cfg.seed):
                    task = pool.task(episode, plain)
                    scores = {f"plain {k}": v for k, v in evaluate_plain(plain.network(), task, finetune_steps=cfg.finetune_steps,
                                                                         finetune_lr=cfg.finetune_lr, probe_c=cfg.probe_c).items()}
                    for name, (backbone, head) in models.items():
                        scores[name] = ARMS[name].predict(backbone.network(), head, task, cfg).numpy()
                    for name, s in scores.items():
                        accuracy[name].append(float(np.mean(np.argmax(s, axis=1) == episode.query_y)))
                    done += 1
                    if update is not None:
                        update(done, total, {"data": pool.name, "shots": shots})
                probe = np.asarray(accuracy[PROBE])
                for name, values in accuracy.items():
                    mean, half = ci95(values)
                    paired = ci95(np.asarray(values) - probe) if name != PROBE else None
                    kind = "plain" if name.startswith("plain ") else "meta"
                    rows.append({"novel": pool.name, "shots": shots, "method": name, "kind": kind,
                                 "mean": mean, "ci95": half, **no_spread(half), "episodes": len(values),
                                 "vs_linear_probe": paired,  # (mean, half-width) of the per-episode difference
                                 **no_spread(paired and paired[1], "vs_linear_probe_no_interval"),
                                 # meta-trained once: its episodes resample the novel tasks, not its own training
                                 **({"caveat": ONE_SEED} if kind == "meta" else {}),
                                 "accuracies": [round(v, 4) for v in values]})  # per episode, in episode order
    order = [*cfg.arms, *(f"plain {k}" for k in ("linear-probe", "fine-tune", "prototypes"))]
    return sorted(rows, key=lambda r: (cfg.novel.index(r["novel"]), r["shots"], order.index(r["method"])))


def architecture_of(backbone: str) -> str:
    """The registered architecture a backbone name or saved folder is an instance of."""
    import json

    from headstart.backbones.image_folder import MANIFEST, is_image_folder

    path = Path(backbone).expanduser()
    return json.loads((path / MANIFEST).read_text())["architecture"] if is_image_folder(path) else backbone


@flags_checked
@sigterm_as_interrupt()  # timeout / a scheduler's limit stops it as Ctrl-C does, not silently (exit 143)
def meta_train(out: str | Path, config: MetaConfig | None = None, *, setting: str | None = None,
               progress: bool | None = None) -> MetaResult:
    """Mirrors ``headstart meta-train``: meta-train every arm of ``config`` on base-class episodes, save each arm's
    backbone to ``out/<arm>/`` (it loads wherever a backbone does), score every arm and the plain backbone's baselines on
    the same novel-class episodes; write ``out/meta.json`` and ``out/meta.md``. An arm an earlier call saved in ``out``
    with the same settings is kept as it is, not trained again (a run trained on it reads those weights; a note says
    so), unless a ``backbone`` folder holds other weights than it was trained from (trained again, a note says why);
    where every arm was saved and scored, the stored result is returned. An ``out`` of other settings is refused.

    Args:
        config: every setting (``MetaConfig``: arms, backbone, base, novel, ways, shots, ...); default ``MetaConfig()``.
        setting: a named base / novel pair (``SETTINGS``: cross-domain, fashion-split) that replaces ``config``'s.
        progress: bars of each arm's meta-training and of the evaluation on stderr; None (the default): on where
            someone watches them — stderr a terminal, or a Jupyter notebook — off in a script's log, as ``compare``'s.

    Returns:
        ``MetaResult``: ``training`` (per arm its meta-steps, losses, seconds and saved folder), ``rows`` (per novel
        dataset, shot count and method the mean query accuracy over the episodes with its 95% interval, and the
        difference from the plain linear probe), ``seconds`` and ``notes``; ``table()`` gives meta.md's table.

    Example:
        >>> result = headstart.meta_train("runs/meta", {"arms": ("protonet",), "meta_steps": 60, "episodes": 100},
        ...                               setting="fashion-split")
        >>> print("\n".join(result.table()))

    Raises:
        HeadstartError: any invalid input, with a one-line message naming it and the fix.
    """
    try:
        return _meta_train(out, config, setting=setting, progress=progress)
    except MetaInterrupted:
        raise
    except KeyboardInterrupt as stop:  # while it started (its checks, its data): before any arm was saved, nothing kept
        raise MetaInterrupted(stop, Path(out), [], 0, created=False) from None


def _meta_train(out: str | Path, config: MetaConfig | None, *, setting: str | None, progress: bool | None) -> MetaResult:
    """``meta_train``'s work: its checks, then ``run_meta``."""
    if not on_cli():  # only Python passes out first, where fit and compare take their data
        check_out_is_a_folder(out)
    cfg = as_config(config, MetaConfig)
    # before anything loads: each arm known, none twice; "protonet,maml" as the CLI writes it works too
    cfg = dataclasses.replace(cfg, arms=tuple(parse_arms(cfg.arms if isinstance(cfg.arms, str) else ",".join(cfg.arms))))
    if "meta-lr" in cfg.tune and not any(get_arm(a).uses_optimizer for a in cfg.arms):
        raise ConfigError(f"--tune meta-lr tunes the Adam rate of protonet, maml and fomaml; {', '.join(cfg.arms)} "
                          "trains without one (reptile's outer step is --reptile-step): drop --tune, or add such an arm")
    if setting is not None:
        base, novel = setting_datasets(setting)
        cfg = dataclasses.replace(cfg, base=base, novel=novel)
    check_out(Path(out), cfg)
    from headstart.progress import progress_default

    return run_meta(cfg, Path(out), progress=progress_default(progress))


def check_out(out: Path, cfg: MetaConfig) -> None:
    """Refuse an ``out`` holding anything but an earlier meta-train of these same settings, whose saved arms this one
    keeps (``--arms`` may add arms to them, never leave one out: the report it rewrites would drop it).

    Raises:
        ConfigError: ``out`` holds other files, another meta-train's output or arm (the setting that differs named),
            or cannot be written.
    """
    import json

    from headstart.meta.kept import differs, saved_arms
    from headstart.outdir import claim, held, sibling

    claim(out, "meta")
    if held(out) != "meta":  # new or empty
        return
    instead = f"nothing was written there; choose a new folder, e.g. {str(sibling(out, '2'))!r}"
    before: Any = {}
    if (out / "meta.json").exists():
        try:
            before = json.loads((out / "meta.json").read_text()).get("config") or {}
        except (OSError, ValueError, AttributeError):
            before = None
        if not isinstance(before, dict):
            raise ConfigError(f"--out {str(out)!r} holds a damaged meta.json; choose a new folder, e.g. {str(sibling(out, 'meta'))!r}")
    now = json.loads(json.dumps(cfg.to_json()))
    saved = saved_arms(out)
    arms = [*before.get("arms", ()), *(a for a in saved if a not in before.get("arms", ()))]
    if any(a not in now["arms"] for a in arms):  # the report it rewrites would leave a saved arm out
        raise ConfigError(f"--out {str(out)!r} holds another meta-train (--arms {_shown(arms)}, not {_shown(now['arms'])}); "
                          f"{instead}, or give --arms {_shown([*arms, *(a for a in now['arms'] if a not in arms)])} "
                          "(its saved arms are kept)")
    # a setting an earlier version did not record (validation, tuning) is not a difference: the re-run adds it
    differ = [k for k in now if k not in ("threads", "arms") and k in before and before[k] != now[k]]
    found = (differ[0], before[differ[0]], now[differ[0]]) if differ else next(
        filter(None, (differs(record, cfg, arm) for arm, record in saved.items())), None)
    if found:
        k, there, asked = found
        raise ConfigError(f"--out {str(out)!r} holds another meta-train (--{k.replace('_', '-')} {_shown(there)}, not "
                          f"{_shown(asked)}); {instead}")


def _shown(value: Any) -> str:
    """A config value as its flag takes it: (1, 5) -> 1,5; [] -> none."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def run_meta(cfg: MetaConfig, out: Path, *, progress: bool = True) -> MetaResult:
    """Meta-train every arm, save each backbone to ``out/<arm>/``, evaluate, write ``out/meta.json`` and ``out/meta.md``."""
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        with threadpool_limits(cfg.threads):
            return _run(cfg, out, progress=progress)
    finally:
        torch.set_num_threads(previous)


def _run(cfg: MetaConfig, out: Path, *, progress: bool) -> MetaResult:
    from headstart.atomic import write_atomic, write_json
    from headstart.backbones.image_folder import save_image_backbone

    from headstart.meta.kept import HEAD, load_arm, other_weights, saved_arms, trained_by

    start = time.monotonic()
    for name in cfg.arms:
        get_arm(name)
    kept = saved_arms(out) if out.is_dir() else {}  # check_out took them: these settings' arms, never trained again
    moved = [name for name in cfg.arms if name in kept and other_weights(kept[name], cfg.backbone)]
    for name in moved:  # ... unless the --backbone folder holds other weights now: an arm of those is trained again
        kept.pop(name)
    stored = _stored(out)
    if (stored is not None and set(kept) == set(cfg.arms) and stored.config.get("arms") == list(cfg.arms)
            and set(cfg.to_json()) <= set(stored.config)):  # an earlier version's record lacks a setting: scored again
        write_atomic(out / "meta.md", meta_markdown(stored).encode())  # the report as this version writes it
        stored.notes.append(f"every arm of these settings is meta-trained and scored in {str(out)!r} already: nothing was "
                            "trained or scored again (a new --out runs it again)")
        return stored
    plain, base, novel, notes, validation = setup(cfg)
    result = MetaResult(config=cfg.to_json(), out=out, notes=notes)
    result.notes += [f"{name}: the arm saved in {str(out / name)!r} was meta-trained from other weights than --backbone "
                     f"{cfg.backbone!r} holds now: meta-trained again from these" for name in moved]
    models = {}
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    summaries = {t.get("arm"): t for t in (stored.training if stored is not None else ()) if isinstance(t, dict)}
    try:
        for name in cfg.arms:
            if name in kept:  # a run trained with --backbone OUT/<arm> reads these weights: they stay as they are
                backbone, head = load_arm(out / name, plain, name, cfg)
                summary = summaries.get(name) or {"arm": name, "meta_steps": cfg.meta_steps, "meta_lr": kept[name].get("meta_lr") if get_arm(name).uses_optimizer else None,
                                                  "validation": validate(name, backbone, head, validation, cfg, progress=progress)
                                                  if validation is not None else []}
                models[name] = (backbone, head)
                result.training.append({**summary, "saved": str(out / name), "kept": True})
                result.notes.append(f"{name}: the arm saved in {str(out / name)!r} with these settings was kept, not "
                                    "meta-trained again (a new --out trains it again)")
                continue
            backbone, head, summary = train_chosen(name, plain, base, validation, cfg, progress=progress)
            made = trained_by(cfg, name, summary["meta_lr"] if summary["meta_lr"] is not None else cfg.meta_lr)
            learned = {}
            if get_arm(name).learns_head:  # saved with the network, in one folder
                from safetensors.torch import save

                learned = {HEAD: save({k: v.contiguous() for k, v in head.items()})}
            folder = save_image_backbone(backbone, out / name, architecture=architecture_of(cfg.backbone), trained_by=made,
                                         files=learned)
            models[name] = (backbone, head)
            result.training.append({**summary, "saved": str(folder)})
        result.rows = evaluate(models, plain, novel, cfg, progress=progress)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM read as it: say what the folder holds now
        raise MetaInterrupted(stop, out, [t["arm"] for t in result.training], len(cfg.arms), created=created) from None
    result.seconds = round(time.monotonic() - start, 1)
    write_json(out / "meta.json", result.to_json())
    write_atomic(out / "meta.md", meta_markdown(result).encode())
    return result


def _stored(out: Path) -> MetaResult | None:
    """The result an earlier run of these settings wrote to ``out/meta.json`` (``check_out`` compared them), or None."""
    import json

    try:
        saved = json.loads((out / "meta.json").read_text())
        return MetaResult(config=saved["config"], out=out, training=list(saved["training"]), rows=list(saved["rows"]),
                          seconds=float(saved.get("seconds") or 0.0), notes=list(saved.get("notes") or []))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def meta_markdown(result: MetaResult) -> str:
    """``meta.md``: the results table, then the notes (escaped: they name datasets and their labels)."""
    return "\n".join(["# headstart meta-train", "", *result.table(), *(f"- {md_text(n)}" for n in result.notes)]) + "\n"
