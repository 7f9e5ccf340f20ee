"""The README.md model card of a run directory or an export: what trained on what, its validation metrics, where it
ran (``provenance.environment``) and how to use it."""

from __future__ import annotations

import json
from typing import Any

from headstart.data.memory import shown_name
from headstart.interrupts import steps_interrupted
from headstart.report.mdtext import md_code, md_fence, md_text
from headstart.results import chosen_on_validation
from headstart.surface import spoken


def model_card(meta: dict[str, Any], metrics: dict[str, Any] | None, *, how: str) -> str:
    """A README.md for a run: data, arm, n, seed, validation metrics, the step whose weights it kept, the test score
    ``headstart evaluate`` last wrote (metrics.json's ``test``), what ``evaluate``'s test interval covers and what it
    does not (seeds), a classifier's majority-class rate on each split (metrics.json's ``majority``), the run's flags (metrics.json's ``flags``), environment, and how to load.

    Args:
        how: the "Use" section as Markdown, written by the caller: a command in it shows paths ``shlex.quote``d inside
            an ``md_fence`` block. Every string from ``meta`` is escaped here.
    """
    from headstart.backbones.registry import dequantised

    resolved = meta.get("resolved", {})
    data = resolved.get("data", {})
    env = meta.get("environment") or {}
    val = (metrics or {}).get("val") or {}
    majority = {part: m for part, m in ((metrics or {}).get("majority") or {}).items()  # a classifier's; older runs: none
                if isinstance(m, dict) and isinstance(m.get("rate"), (int, float)) and isinstance(m.get("rows"), int)}
    rounded = dequantised(resolved.get("backbone"))
    chose = "the split that chose the checkpoint"
    if (metrics or {}).get("steps") == 0:  # closed form: validation chose a setting (embed-logreg's C) or nothing
        picked = chosen_on_validation(metrics.get("chosen"), resolved.get("options"), resolved.get("n"))
        chose = ("the split that chose " + ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={md_text(str(v))}"
                                                     for k, v in picked.items())
                 if picked else "scored only: nothing was chosen on it")
    scored = _test_score(metrics)
    lines = ["---", "library_name: headstart", "tags: [headstart]", "---", "",
             f"# {md_text(resolved.get('strategy', 'run'))} on {md_text(shown_name(str(data.get('name', '?'))))}", "",
             f"Trained by headstart {env.get('headstart', '')} (commit {env.get('git') or 'unknown'}): strategy "
             f"{md_code(resolved.get('strategy'))} with options {md_code(json.dumps(_options(resolved, meta)))}"
             + (f", objective terms {md_code(json.dumps(resolved['terms']))}" if resolved.get("terms") else "")
             + f", on {resolved.get('n')} labelled examples of {md_code(shown_name(str(data.get('name'))))} (data hash {str(data.get('hash', ''))[:12]}), "
             f"seed {resolved.get('seed')}, " + _backbone(resolved)
             + (f" (its weights {md_text(rounded)})" if rounded else "") + ".", "",
             *_settings(resolved, metrics), *_tuned(resolved, metrics), *_quantized(metrics),
             *merged_paragraph(meta.get("merge")),
             "## Metrics", "",
             f"Validation ({chose}"
             + (f", {val['n']:g} examples" if isinstance(val.get("n"), (int, float)) else "") + "): "
             + (", ".join(f"{k} {v:.4f}" for k, v in val.items() if isinstance(v, (int, float)) and k != "n") or "not recorded")
             + (f"; {_always(majority['val'], 4)} on these rows" if "val" in majority and "accuracy" in val else "") + "."
             + _kept(metrics),
             *scored, _test_note(metrics, majority, scored=bool(scored)), "",
             *_flags(metrics), *_interrupted(metrics),
             "## Use", "", how, "",
             "## Environment", "", md_fence(json.dumps(env, indent=2, sort_keys=True)), ""]
    return "\n".join(lines)


def _options(resolved: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The strategy's options as resolved, ``targets`` unset (PEFT's default for the architecture) shown as the modules
    the adapter is on (``meta["adapted"]``, from the run's adapter_config.json) where they are known."""
    options = dict(resolved.get("options") or {})
    if "targets" in options and options["targets"] is None and meta.get("adapted"):
        options["targets"] = meta["adapted"]
    return options


def _settings(resolved: dict[str, Any], metrics: dict[str, Any] | None) -> list[str]:
    """``Trained 1,234 of 22,714,114 parameters (0.0054%); learning rate 0.01 (tuned), head rate 0.001; precision fp32;
    optimizer adamw.``: what it trained and with what (metrics.json's counts and ``chosen``, the resolved ``train``);
    a closed-form fit, which takes no step, names no rate nor optimizer; [] where nothing is known."""
    metrics, train = metrics or {}, resolved.get("train") or {}
    parts = []
    trainable, total = metrics.get("trainable_params"), metrics.get("total_params")
    if isinstance(trainable, int) and isinstance(total, int) and total > 0:
        share = 100 * trainable / total
        parts.append(f"Trained {trainable:,} of {total:,} parameters ({share:.3g}%)" if share >= 1 else
                     f"Trained {trainable:,} of {total:,} parameters ({share:.2g}%)")
    chosen = metrics.get("chosen") if isinstance(metrics.get("chosen"), dict) else {}
    stepped = isinstance(metrics.get("steps"), int) and metrics["steps"] > 0 or "pair_steps" in chosen
    if stepped:
        rates, keys = [], (("lr", "learning rate"), ("head_lr", "head rate"))
        if _head_only(resolved):  # a probe's backbone rate moves nothing
            keys = keys[1:]
        for key, word in keys:
            value = chosen.get(key, train.get(key))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rates.append(f"{word} {value:g}" + (" (tuned)" if key in chosen and resolved.get("tune") else ""))
        parts += [", ".join(rates)] if rates else []
    if train.get("precision"):
        parts.append(f"precision {md_text(str(train['precision']))}")
    if stepped and train.get("optimizer"):
        parts.append(f"optimizer {md_text(str(train['optimizer']))}")
    return ["; ".join(parts) + ".", ""] if parts else []


def _head_only(resolved: dict[str, Any]) -> bool:
    """Whether the run's strategy trains nothing but its head (``Strategy.head_only``); False where it is unknown."""
    from headstart.strategies import STRATEGIES

    strategy = STRATEGIES.get(str(resolved.get("strategy")))
    modality = "image" if (resolved.get("train") or {}).get("image_size") else "text"
    return bool(strategy is not None and strategy.head_only(modality))


def _backbone(resolved: dict[str, Any]) -> str:
    """``backbone `all-minilm-l6-v2```, or ``backbone none (TF-IDF features)`` for a strategy that reads nothing of the
    backbone given (``adapter_info.shown_base``)."""
    from headstart.adapter_info import shown_base

    name = str(resolved.get("backbone"))
    shown = shown_base(str(resolved.get("strategy")), name)
    return f"backbone {md_code(name)}" if shown == name else f"backbone {md_text(shown)}"


def _tuned(resolved: dict[str, Any], metrics: dict[str, Any] | None) -> list[str]:
    """``Its learning rate (lr) was tuned on validation by successive halving over 0.001, 0.003, 0.01: 0.003 was chosen
    (5 trials, 12.5 s).``: a ``--tune`` run's (the resolved spec's ``tune``, metrics.json's ``chosen`` and ``tuning``);
    [] for a run that was not tuned."""
    tune = resolved.get("tune")
    if not isinstance(tune, dict):
        return []
    param = str(tune.get("param") or "lr")
    grid = ", ".join(f"{v:g}" for v in tune.get("grid") or [] if isinstance(v, (int, float)))
    value = ((metrics or {}).get("chosen") or {}).get(param)
    tuning = (metrics or {}).get("tuning") or {}
    trials, seconds = tuning.get("trials"), tuning.get("seconds")
    cost = ", ".join(([f"{len(trials)} trials"] if isinstance(trials, list) else [])
                     + ([f"{seconds:g} s"] if isinstance(seconds, (int, float)) else []))
    rate = "head learning rate" if param == "head_lr" else "learning rate"
    return [f"Its {rate} ({md_code(param)}) was tuned on validation by successive halving"
            + (f" over {grid}" if grid else "")
            + (f": {value:g} was chosen" if isinstance(value, (int, float)) else "")
            + (f" ({cost})" if cost else "") + ".", ""]


def _quantized(metrics: dict[str, Any] | None) -> list[str]:
    """``Its base's 36 linear layers are 4-bit NF4 (double-quantised block scales), computing in float32: their
    weights take 5.55 MB, 0.13x of their 43.1 MB in fp32.``: a 4-bit run's (metrics.json's ``quantization``); [] else."""
    from headstart.report.mdtext import bytes_text

    q = (metrics or {}).get("quantization")
    if not isinstance(q, dict):
        return []
    kind = md_text(str(q.get("type") or "nf4").upper())
    double = " (double-quantised block scales)" if q.get("double_quantization") is True else ""
    dtype = f", computing in {md_text(str(q['compute_dtype']))}" if q.get("compute_dtype") else ""
    layers = f"{q['layers']} linear layers are" if isinstance(q.get("layers"), int) else "linear layers are"
    stored, fp32 = q.get("stored_bytes"), q.get("fp32_bytes")
    size = (f": their weights take {bytes_text(stored)}, {stored / fp32:.2f}x of their {bytes_text(fp32)} in fp32"
            if isinstance(stored, int) and isinstance(fp32, int) and fp32 > 0 else "")
    return [f"Its base's {layers} 4-bit {kind}{double}{dtype}{size}.", ""]


def _test_score(metrics: dict[str, Any] | None) -> list[str]:
    """``Test (scored by `headstart evaluate`, 100 examples): accuracy 0.7300 (95% CI 0.6360–0.8075 over these
    rows), macro_f1 0.7150.``: metrics.json's ``test`` (``saved.record_test``), the run's own test split as its last
    ``headstart evaluate`` scored it; [] before any evaluate."""
    test = (metrics or {}).get("test")
    if not isinstance(test, dict) or not isinstance(test.get("n"), int):
        return []
    ci = test.get("accuracy_ci")
    interval = (f" (95% CI {ci[0]:.4f}–{ci[1]:.4f} over these rows)"
                if isinstance(ci, list) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci) else "")
    scores = ", ".join(f"{k} {v:.4f}" + (interval if k == "accuracy" else "") for k, v in test.items()
                       if k in TEST_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool))
    return ["", f"Test (scored by {_evaluate()}, {test['n']:,} examples): {scores or 'not recorded'}."
            + (f" Scored on {md_text(str(test['note']))}." if test.get("note") else ""), ""]


def _test_note(metrics: dict[str, Any] | None, majority: dict[str, Any], *, scored: bool) -> str:
    """What a test score covers (rows, not seeds) and the majority-class line it is read against; where none is
    recorded yet, that ``headstart evaluate`` scores it. A run that did not finish (diverged) kept no weights, which
    evaluate refuses: its card says there is no test score rather than offer one. Each command is named in its
    writer's words: ``headstart evaluate`` on the CLI, ``headstart.evaluate`` from Python (``surface.spoken``)."""
    from headstart.interrupts import USABLE, run_status

    status = run_status(metrics)
    if status not in USABLE:
        return f"Test: none; this run {md_text(str(status))} and kept no weights to score (see Use)."
    return ((("That interval is over the test rows (how precisely they measure this one run); it"
              if "accuracy_ci" in metrics["test"] else "That score is over the test rows; it") if scored else
             f"Test: {_evaluate()} scores the test split, the accuracy with a 95% interval over its test rows (how "
             "precisely those rows measure this one run); that interval")
            + " does not cover seeds (another seed draws other training examples and starts elsewhere), which "
            + spoken("`headstart compare --seeds 3`", "`headstart.compare(..., seeds=3)`") + " or more measures."
            + (f" On {_test_rows(majority['test'])}, {_always(majority['test'], 3)}, the line the accuracy "
               + spoken("`headstart evaluate` prints", "`headstart.evaluate` returns") + " there is read against."
               if "test" in majority else ""))


def _evaluate() -> str:
    """The command that scores a run's test split, as its caller calls it."""
    return spoken("`headstart evaluate`", "`headstart.evaluate`")


TEST_METRICS = ("accuracy", "macro_f1", "balanced_accuracy", "micro_f1", "rmse", "mae", "r2")  # what the card's test line quotes


def _kept(metrics: dict[str, Any] | None) -> str:
    """`` The weights kept are step 30's of 40, the best on validation.``: a stepped run's checkpoint; "" for a
    closed-form run, an interrupted one (``_interrupted`` says what it kept) or metrics that do not say."""
    steps, best = (metrics or {}).get("steps"), (metrics or {}).get("best_step")
    if not isinstance(steps, int) or not isinstance(best, int) or steps <= 0 or best <= 0 or steps_interrupted(metrics):
        return ""
    return f" The weights kept are step {best}'s of {steps}, the best on validation."


def _test_rows(majority: dict[str, Any]) -> str:
    """``its 1,000 test rows``, or ``a stratified 50 of its 1,000 test rows (--max-test)`` where the cap cut
    the split (``"of"``): what ``headstart evaluate`` scores, as it says."""
    full = majority.get("of")
    if isinstance(full, int) and full > majority["rows"]:
        return f"a stratified {majority['rows']:,} of its {full:,} test rows ({spoken('--max-test', 'max_test')})"
    return f"its {majority['rows']:,} test rows"


def _always(majority: dict[str, Any], digits: int) -> str:
    """``always predicting 'pos' scores 0.570``: a split's majority class (metrics.json's ``majority``) as an accuracy."""
    return f"always predicting {md_text(repr(str(majority.get('class'))))} scores {majority['rate']:.{digits}f}"


def _flags(metrics: dict[str, Any] | None) -> list[str]:
    """The run's flags as ``headstart train`` printed them (``fit`` returned them) and metrics.json keeps them (``fit_checks.budget_notes``,
    ``grid_edge_note``, defaults applied): what it did not do within its budget, each with what to try."""
    flags = [f for f in (metrics or {}).get("flags") or [] if isinstance(f, dict) and f.get("text")]
    if not flags:
        return []
    return [spoken("Flags (as `headstart train` printed them):", "Flags (as `headstart.fit` returned them in `FitResult.flags`):"), "",
            *(f"- This run {md_text(str(f['text']))}" + (f"; {md_text(str(f['advice']))}" if f.get("advice") else "") + "."
              for f in flags), ""]


def _interrupted(metrics: dict[str, Any] | None) -> list[str]:
    """An interrupted run's paragraph: what stopped it at which step, and which weights it kept."""
    ended = steps_interrupted(metrics)
    if ended is None:
        return []
    kept = (f"the best validation checkpoint so far, step {metrics.get('best_step')}" if metrics.get("best_step")
            else f"the weights after step {metrics.get('steps')}, before any validation check")
    return [f"Stopped early: {md_text(ended)}. The weights kept are {kept}.", ""]


def merged_paragraph(merge: Any, *, compared: str = "outputs", inputs_are: str = "validation inputs",
                     unmerge: bool = True) -> list[str]:
    """A merged run's paragraph (``headstart adapters merge``): where the adapter came from and how the merge was
    checked, for a classifier's card and an sft / prefer run's (``llm.runs.model_card``) alike.

    Args:
        merge: spec.json's merge record (``merge`` of a classifier, ``merged`` of an sft / prefer run); not a dict: none.
        compared: what was compared ("outputs"; "logits" of a causal LM).
        inputs_are: what the validation inputs are ("validation inputs"; "validation sequences" of a causal LM).
        unmerge: whether ``headstart adapters unmerge`` takes it apart (a classifier keeps its adapter; an LM does not).
    """
    if not isinstance(merge, dict):
        return []
    diff, inputs = merge.get("max_abs_diff"), merge.get("inputs")
    # output_checks.FIXED / CHANGED, written out: that module imports torch, a card does not
    on = {"fixed sentences": "fixed sentences (the run's data could not be read)",
          "fixed sentences: data changed": "fixed sentences (the run's data changed since the run)"}.get(merge.get("checked_on"), inputs_are)
    checked = (f"; its {compared} match the adapter's to {diff:.2g} (largest difference) in fp32 on {inputs} {on}"
               if isinstance(diff, (int, float)) and isinstance(inputs, int) else f"; its {compared} were not checked")
    return [f"The adapter of {md_code(merge.get('from'))} is merged into the base weights"
            + (", dequantized from the 4-bit base" if merge.get("dequantized") is True else "") + checked
            + _own_precision(merge.get("at_precision"))
            + ("; `headstart adapters unmerge` takes it apart again." if unmerge else "."), ""]


def _own_precision(gap: Any) -> str:
    """The merge's gap at the run's own precision (``output_checks.PrecisionGap`` as spec.json keeps it), where that is
    not fp32: what ``predict`` and ``evaluate`` give, where the merged weight W + BA is rounded as one matrix."""
    if not (isinstance(gap, dict) and isinstance(gap.get("max_abs_diff"), (int, float))):
        return ""
    same, inputs = gap.get("same_class"), gap.get("inputs")
    agree = f", the same top class on {same} of {inputs}" if isinstance(same, int) and isinstance(inputs, int) else ""
    precision = md_text(str(gap.get("precision")))
    return (f"; at the run's own precision ({precision}, as `headstart predict` and `evaluate` run it) they differ by "
            f"up to {gap['max_abs_diff']:.2g}{agree}: {precision} rounds the merged weight as one matrix and "
            "the adapter's parts apart, so a row near a class boundary can get another label")
