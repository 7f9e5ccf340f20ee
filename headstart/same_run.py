"""Whether ``train --out`` holds another run than the one asked for: refused before training unless ``--overwrite``
(``check_replaces_same_run``), and, for a run that came into ``--out`` while this one trained, a free folder beside it
to save to (``saved_beside``). What a folder holds, and whether a command may write there at all, is
``headstart.outdir``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.errors import ConfigError, HeadstartError
from headstart.surface import on_cli
from headstart.specs import RunSpec


def check_replaces_same_run(out: Path, spec: RunSpec, *, settled: bool = True, step: str = "trained") -> None:
    """Refuse to replace a saved run in ``out`` unless it was asked for with the same spec (the same run made again,
    e.g. after its data file changed): another strategy, size, seed or setting there is a trained model the user may
    still want, replaced only with ``--overwrite``.

    Args:
        settled: whether the data's defaults are in ``spec`` (``_with_data_defaults``). Before they are, its train and
            split settings are not compared (an image dataset's defaults fill them), so a run of another strategy,
            size or seed is refused before the data loads; the settings are compared once they are.
        step: what the refusal says did not happen: "trained" before training, "saved" for a result trained in
            memory (``FitResult.save``).

    Raises:
        ConfigError: ``out`` holds a finished or failed run of another spec, named by its strategy, n, seed and the
            settings that differ.
    """
    from headstart.outdir import sibling

    what = other_run(out, spec, settled=settled)
    if what is None:
        return
    how = "add --overwrite" if on_cli() else "pass overwrite=True"  # a bare switch: python_names would drop its =True
    raise ConfigError(f"--out {str(out)!r} holds another run ({what}); nothing was {step} or replaced: give a new "
                      f"folder, e.g. --out {sibling(out, spec.strategy)}, or {how} to replace it")


def saved_beside(out: Path, spec: RunSpec) -> tuple[Path, dict[str, str] | None]:
    """Where a trained run is saved: ``out``, or a free folder beside it when another run came into ``out`` while this
    one trained (two ``train`` commands given the same new ``--out`` at once: the check before training saw an empty
    folder, and saving would replace the other's model); then the note that says so.
    """
    from headstart.staging import free_sibling

    what = other_run(out, spec)
    if what is None:
        return out, None
    beside = free_sibling(out, spec.strategy)
    return beside, {"reason": "moved", "text": f"was saved to {str(beside)!r}: another run ({what}) was saved into "
                                               f"--out {str(out)!r} while this one trained, and is kept there",
                    "advice": f"evaluate it in {str(beside)!r}"}


def other_run(out: Path, spec: RunSpec, *, settled: bool = True) -> str | None:
    """The saved run of another spec in ``out`` (``check_replaces_same_run``), named by its strategy, n, seed and the
    settings that differ; None where ``out`` holds none, or the same run."""
    import json

    try:
        held = json.loads((out / "spec.json").read_text()).get("spec")
    except (OSError, ValueError, AttributeError):  # none there, or a damaged run (outdir.held took it as a run): replaced
        return None
    if not isinstance(held, dict):
        return None
    try:  # an older version's spec lacks settings added since: read with their defaults, as the run meant them
        held = RunSpec.from_dict(held).to_dict()
    except (TypeError, ValueError, HeadstartError):  # a setting no longer valid: compared as written
        pass
    held, mine = (json.loads(json.dumps(s, default=str)) for s in (held, spec.to_dict()))
    held = _as_requested(held, out, mine)
    for one in (held, mine):  # --max-test all is the default's rows where no data default caps them (SplitConfig.identity)
        if isinstance(one.get("split"), dict) and one["split"].get("max_test") == "all":
            one["split"]["max_test"] = None
    skipped = () if settled else ("train", "split")
    differ = {}  # each setting that differs ("seed", or "train.head_lr" within a table): (value there, value asked)
    for key in sorted(set(held) | set(mine)):
        if key in skipped or held.get(key) == mine.get(key):
            continue
        if isinstance(held.get(key), dict) and isinstance(mine.get(key), dict):
            differ.update({f"{key}.{k}": (held[key].get(k), mine[key].get(k)) for k in sorted(set(held[key]) | set(mine[key]))
                           if held[key].get(k) != mine[key].get(k)})
        else:
            differ[key] = (held.get(key), mine.get(key))
    if not differ:
        return None
    n = held.get("n")
    what = f"{held.get('strategy')}, n = {'all' if n is None else n}, seed {held.get('seed')}"
    others = [_difference(d, there, asked) for d, (there, asked) in differ.items() if d not in ("strategy", "n", "seed")]
    if others and not set(differ) & {"strategy", "n", "seed"}:  # the same strategy, size and seed: name what differs
        what += f"; settings that differ: {'; '.join(others[:3])}{'; ...' if len(others) > 3 else ''}"
    return what


def _as_requested(held: dict[str, Any], out: Path, mine: dict[str, Any]) -> dict[str, Any]:
    """``held`` (spec.json's spec) as the request it was, where an older headstart saved a tuned run as its chosen
    rate's trial spec: before 2026-12-07 spec.json kept no ``tune`` (null) and wrote the rate ``--tune lr`` chose in as
    if given (``train.lr`` 0.001), so the same ``train --tune lr`` again was refused as another run ("--lr 0.001 there,
    default asked; --tune none there, lr asked"). Such a run is told by its metrics.json: ``chosen`` names that rate
    with the value spec.json holds, and there is no ``tuning`` (which runs saved since keep). It reads as ``tune``
    "lr" with the rate unset; its grid was not kept, so it reads as the grid asked where the chosen value is on it,
    else as the strategy's own. Any other ``held``, or one compared with an untuned request, is returned as it is."""
    import json

    train = held.get("train")
    if held.get("tune") is not None or mine.get("tune") is None or not isinstance(train, dict):
        return held  # asked untuned (--lr 0.001), it compares with the spec as written, which was that
    try:
        metrics = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return held
    chosen = metrics.get("chosen") if isinstance(metrics, dict) else None
    if not isinstance(chosen, dict) or "tuning" in metrics:
        return held
    param = next((p for p in ("lr", "head_lr") if isinstance(chosen.get(p), (int, float))
                  and isinstance(train.get(p), (int, float)) and chosen[p] == train[p]), None)
    if param is None:
        return held
    grid = mine.get("grid")
    on_grid = isinstance(grid, list) and chosen[param] in grid
    return {**held, "tune": "lr", "grid": grid if on_grid else held.get("grid"), "train": {**train, param: None}}


def _difference(setting: str, there: Any, asked: Any) -> str:
    """One setting that differs, as the user gives it, with the value in the folder and the one asked: ``--head-lr
    default there, 0.5 asked``, ``--option rank=4 there, rank=8 asked``, ``--terms l2sp[weight=0.01] there,
    l2sp[weight=0.1] asked``; a Python caller reads the spec's own key (``train.head_lr``) and the same values."""
    table, _, name = setting.rpartition(".")
    if table == "terms":  # a term's options as an arm writes them; absent: none
        def shown(options: Any) -> str:
            if options is None:
                return "none"
            inside = ", ".join(f"{k}={_shown(v, table)}" for k, v in options.items()) if isinstance(options, dict) else ""
            return f"{name}[{inside}]" if inside else name
        flag = "--terms" if on_cli() else setting
        return f"{flag} {shown(there)} there, {shown(asked)} asked"
    if table == "options" and on_cli():
        return f"--option {name}={_shown(there, table)} there, {name}={_shown(asked, table)} asked"
    flag = f"--{name.replace('_', '-')}" if on_cli() else setting
    return f"{flag} {_shown(there, table)} there, {_shown(asked, table)} asked"


def _shown(value: object, table: str = "") -> str:
    """A spec value as its flag takes it: None is "default" in the train and split tables (not given: the strategy's or
    the data's), else "none" (no --tune, no term); a list -> a,b."""
    if value is None:
        return "default" if table in ("train", "split") else "none"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def held_run(out: Path, spec: RunSpec, *, data_hash: str | None) -> tuple[bool, str | None]:
    """Whether ``out`` holds this very run, finished, for ``fit`` / ``train`` to load rather than train again (a
    notebook cell or a command run twice), and the note that says what it does either way.

    Args:
        spec: the run asked for, its data's defaults filled (``api._with_data_defaults``).
        data_hash: the hash of the data it reads now (``Dataset.hash``): a run trained on the file as it was before an
            edit is another run, trained again in its place.

    Returns:
        (True, the note "runs/lp already holds this run ...: loaded, not trained again") where the run there has the
        same settings, the same data and finished; (False, why it trains again) where it was interrupted, diverged,
        failed, left unscored or is damaged, or was given ``--targets`` before they named modules exactly (its resolved
        spec lacks ``targets_exact``); (False, None) where ``out`` holds no run, or one of other settings
        (``check_replaces_same_run`` refuses or ``overwrite`` replaces it).
    """
    import json

    from headstart.interrupts import USABLE, run_status
    from headstart.surface import spoken

    if not (out / "spec.json").is_file() or other_run(out, spec) is not None:
        return False, None
    try:
        saved = json.loads((out / "spec.json").read_text())
        metrics = json.loads((out / "metrics.json").read_text())
        stored_hash = ((saved.get("resolved") or {}).get("data") or {}).get("hash")
        status, ended = run_status(metrics), metrics.get("ended_by")
    except (OSError, ValueError, AttributeError):
        return False, f"{out} holds this run, but its spec.json or metrics.json is missing or damaged: training it again"
    resolved = saved.get("resolved") if isinstance(saved.get("resolved"), dict) else {}
    if isinstance((resolved.get("options") or {}).get("targets"), list) and "targets_exact" not in resolved:
        return False, (f"{out} holds this run trained before --targets named modules exactly (an entry then reached "
                       "every module whose name ends in it: output.dense also attention.output.dense): training it again")
    if status == "interrupted":
        return False, (f"{out} holds a run {ended}: training it again from the start ({spoken('train', 'fit')} does "
                       "not resume mid-run)")
    if status not in USABLE:
        error = metrics.get("error")
        return False, f"{out} holds this run, {status}{f' ({error})' if error else ''}: training it again"
    if metrics.get("not_scored"):
        return False, (f"{out} holds this run, {ended or 'interrupted'} before it was scored on all of --retain / "
                       "--eval-data: training it again")
    if data_hash is not None and stored_hash is not None and stored_hash != data_hash:
        return False, f"{out} holds this run trained on other data (it changed since): training it again in its place"
    return True, (f"{out} already holds this run (same settings, finished): loaded, not trained again; "
                  + spoken("--retrain", "retrain=True") + " trains it again")
