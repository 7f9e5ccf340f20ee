"""The success measure of sentiment-steered generation: how often a classifier reads the sentiment a prompt asked for.

For held-out prompts "Write a <positive|negative> review of <Movie>." (the test movies of ``rotten-tomatoes-sft`` /
``-preferences``), the LM generates a response per prompt and seed; a ``headstart train`` sentiment classifier (e.g.
a MiniLM linear probe on rotten-tomatoes, labels fresh / rotten) labels each response, and a hit is a response read as
the asked sentiment (positive → fresh, negative → rotten). The on-target rate is the mean hit; its 95% interval
carries both errors (``analysis.stats.interval``): the seeds' spread, and the prompts' (a bootstrap of the prompts
resampling the seed-averaged hits, shared across models so two models' intervals resample the same prompts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from headstart.errors import ConfigError

LABELS = {"positive": "fresh", "negative": "rotten"}  # asked sentiment -> the rotten-tomatoes classifier's label


def held_out_prompts(count: int, *, split: str = "test") -> tuple[list[str], list[str]]:
    """(prompts, asked sentiments): ``count`` distinct prompts of ``split``'s movies, alternating positive / negative
    in table order (the first ``count`` of them, so every model sees the same ones)."""
    from headstart.llm.data import rotten_tomatoes_sft

    table = rotten_tomatoes_sft()
    seen: dict[str, str] = {}
    for r in table.rows(split):
        seen.setdefault(table.columns["prompt"][r], table.columns["sentiment"][r])
    positive = [p for p, s in seen.items() if s == "positive"]
    negative = [p for p, s in seen.items() if s == "negative"]
    chosen = [p for pair in zip(positive, negative) for p in pair][:count]
    return chosen, [seen[p] for p in chosen]


def hits(classifier: str | Path, texts: list[str], asked: list[str], *, labels: dict[str, str] | None = None) -> np.ndarray:
    """(len(texts),) booleans: the classifier's label of each text is the one its asked sentiment maps to.

    Raises:
        ConfigError: an asked sentiment with no label, or a label the classifier does not have.
    """
    from headstart.loaded import predict_loaded
    from headstart.saved import load_run

    labels = labels or LABELS
    missing = sorted({a for a in asked if a not in labels})
    if missing:
        raise ConfigError(f"no classifier label for the asked sentiment {missing[0]!r}; map it, e.g. {{'{missing[0]}': 'fresh'}}")
    predictions = predict_loaded(load_run(classifier), [t if t.strip() else "." for t in texts])  # an empty generation still gets read
    names = set(predictions[0]["probabilities"]) if predictions else set()
    unknown = sorted(set(labels[a] for a in asked) - names)
    if unknown:
        raise ConfigError(f"the classifier {str(classifier)!r} has labels {sorted(names)}, not {unknown[0]!r}; "
                          "train it on rotten-tomatoes (headstart train --out runs/sentiment) or map the sentiments")
    return np.asarray([p["label"] == labels[a] for p, a in zip(predictions, asked)])


def on_target_rate(table: np.ndarray, *, draws: int = 400) -> dict[str, Any]:
    """Mean and 95% interval of a (seeds, prompts) table of hits, over seeds and prompts.

    Args:
        table: (S, P) 0/1 hits, row s the seed-s generations of the P prompts.
        draws: bootstrap resamples of the prompts.

    Returns:
        ``{"rate", "ci_low", "ci_high", "seeds", "prompts", "per_seed"}``; the interval is clipped to [0, 1] (three
        seeds' t quantile, 4.3, easily reaches past either end) and, where the seeds do not vary, holds the rate's
        Wilson interval on the prompts (``stats.interval``'s ``cover``): every generation on target is no miss seen in
        P prompts, not a rate of 1 for certain.
    """
    from headstart.analysis.stats import interval, kept, row_weights, wilson

    table = np.asarray(table, dtype=np.float64)
    seeds, prompts = table.shape
    weights = row_weights(prompts, draws=draws)
    prompt_draws = (weights @ table.mean(0)) / prompts
    rate = float(table.mean())
    summary = interval(table.mean(1).tolist(), prompt_draws, bounds=(0.0, 1.0), cover=wilson(rate, prompts))
    return {"rate": summary["mean"], **kept(summary, ("ci_low", "ci_high")), "seeds": seeds, "prompts": prompts,
            "per_seed": table.mean(1).tolist()}


def measure(model: Any, tokenizer: Any, classifier: str | Path, prompts: list[str], asked: list[str], *, seeds: list[int],
            temperature: float = 0.7, max_new_tokens: int = 48) -> dict[str, Any]:
    """Generate for every prompt and seed, and score the generations' on-target rate.

    Returns:
        ``on_target_rate``'s summary plus "samples" (the first seed's first four generations, with the asked sentiment
        and whether they hit).
    """
    from headstart.llm.runs import generate

    table, samples = [], []
    for seed in seeds:
        texts = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
        row = hits(classifier, texts, asked)
        table.append(row)
        if not samples:
            samples = [{"prompt": p, "asked": a, "generated": t, "hit": bool(h)} for p, a, t, h in list(zip(prompts, asked, texts, row))[:4]]
    return {**on_target_rate(np.stack(table)), "samples": samples}
