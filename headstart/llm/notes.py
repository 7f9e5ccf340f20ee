"""What an sft / prefer run cut or could not do, in words: the notes the CLI prints after its numbers and the model
card lists (metrics.json's ``notes``, written when the run ends, and ``dropped``, written as its file was read)."""

from __future__ import annotations

from typing import Any

FEW = 5  # held-out rows below this measure little: one answer moves a score by 1 / rows, more than 0.2


def many(count: Any, noun: str) -> str:
    """``1 prompt``, ``3 prompts``: a count and its noun, plural but for one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def run_notes(metrics: dict[str, Any], *, test_rows: int | None = None) -> list[str]:
    """The run's notes from its metrics: what ended it short of its data or its steps, training pairs that teach
    nothing, examples cut to --max-length, a run whose steps never improved on its start, validation or test rows too
    few to measure much (``test_rows``: the test prompts sft is about to answer); each with what to try."""
    from headstart.llm.format import truncation_note

    notes = [ended(metrics)]
    if metrics.get("identical_pairs"):
        same = metrics["identical_pairs"]
        notes.append(f"{same} of the {many(metrics.get('train_pairs', '?'), 'training pair')} {'has' if same == 1 else 'have'} "
                     "chosen identical to rejected; they teach nothing (their margin is 0 whatever the policy): drop them from the file")
    notes.append(truncation_note(metrics.get("truncated"), "sequences" if "train_pairs" in metrics else "examples"))
    if metrics.get("steps") and metrics.get("best_step") == 0 and metrics.get("status") == "done":  # interrupted: its stop says it
        notes.append("no step improved the validation loss, so the saved weights are the starting point's, unchanged; "
                     "try more steps (--max-steps), more pairs (--n) or another --lr / --beta")
    notes.append(few_note(metrics, test_rows))
    return [n for n in notes if n]


def few_note(metrics: dict[str, Any], test_rows: int | None) -> str | None:
    """``the checkpoint was chosen on 1 validation prompt and the test score is on 1 prompt: so few measure little ...`` where
    the validation rows (sft's ``val_rows``, prefer's ``val_pairs``) or ``test_rows`` number 1 to ``FEW`` - 1; else None."""
    pairs = "val_pairs" in metrics
    val = metrics.get("val_pairs" if pairs else "val_rows")
    parts = []
    if isinstance(val, int) and 0 < val < FEW:
        parts.append(f"the checkpoint was chosen on {many(val, 'validation pair' if pairs else 'validation prompt')}")
    if isinstance(test_rows, int) and 0 < test_rows < FEW:
        parts.append(f"the test score is on {many(test_rows, 'prompt')}")
    if not parts:
        return None
    more = "validation pairs, tens of them" if pairs else "validation and test rows, tens of each"
    caps = "--val-rows" if pairs else "--val-rows / --eval-rows"
    return (f"{' and '.join(parts)}: so few measure little (one of them moves a score by more than a fifth); give the "
            f"file more {more}, or raise {caps} where they cut them")


def ended(metrics: dict[str, Any]) -> str | None:
    """What cut the run short of its data or its steps, in words (metrics' ``ended_by``), else None."""
    noun, drawn = next(((k.removesuffix("_seen").replace("_", " "), metrics.get(d)) for k, d in
                        (("pairs_seen", "train_pairs"), ("sequences_seen", "train_sequences"), ("rows_seen", "train_rows"))
                        if k in metrics), ("rows", None))
    seen = metrics.get(f"{noun}_seen")
    if metrics.get("ended_by") == "early stopping":
        return (f"early stopping ended the run at step {metrics.get('steps')} of {metrics.get('planned_steps')} (the "
                f"validation loss had stopped improving), after {seen} of the {_nouned(drawn, noun)}; the checkpoint "
                f"kept is step {metrics.get('best_step')}")
    if metrics.get("ended_by") == "max_steps":
        return (f"--max-steps {metrics.get('steps')} ended the run after {seen} of the {_nouned(drawn, noun)} "
                f"({metrics.get('epochs'):.2g} epoch{'' if metrics.get('epochs') == 1 else 's'}): the rest were never read; raise --max-steps or lower --n to read them all")
    return None


def _nouned(drawn: Any, noun: str) -> str:
    """``12 training rows``, ``1 training row`` (``noun`` given plural: rows, pairs, sequences)."""
    return many(drawn, f"training {noun.removesuffix('s')}")
