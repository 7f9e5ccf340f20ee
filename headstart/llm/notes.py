"""What an sft / prefer run cut or could not do, in words: the notes the CLI prints after its numbers and the model
card lists (metrics.json's ``notes``, written when the run ends, and ``dropped``, written as its file was read)."""

from __future__ import annotations

from typing import Any


def run_notes(metrics: dict[str, Any]) -> list[str]:
    """The run's notes from its metrics: what ended it short of its data or its steps, training pairs that teach
    nothing, examples cut to --max-length, a run whose steps never improved on its start; each with what to try."""
    from headstart.llm.format import truncation_note

    notes = [ended(metrics)]
    if metrics.get("identical_pairs"):
        notes.append(f"{metrics['identical_pairs']} of the {metrics.get('train_pairs', '?')} training pairs have chosen "
                     "identical to rejected; they teach nothing (their margin is 0 whatever the policy): drop them from the file")
    notes.append(truncation_note(metrics.get("truncated"), "sequences" if "train_pairs" in metrics else "examples"))
    if metrics.get("steps") and metrics.get("best_step") == 0 and metrics.get("status") == "done":  # interrupted: its stop says it
        notes.append("no step improved the validation loss, so the saved weights are the starting point's, unchanged; "
                     "try more steps (--max-steps), more pairs (--n) or another --lr / --beta")
    return [n for n in notes if n]


def ended(metrics: dict[str, Any]) -> str | None:
    """What cut the run short of its data or its steps, in words (metrics' ``ended_by``), else None."""
    noun, drawn = next(((k.removesuffix("_seen").replace("_", " "), metrics.get(d)) for k, d in
                        (("pairs_seen", "train_pairs"), ("sequences_seen", "train_sequences"), ("rows_seen", "train_rows"))
                        if k in metrics), ("rows", None))
    seen = metrics.get(f"{noun}_seen")
    if metrics.get("ended_by") == "early stopping":
        return (f"early stopping ended the run at step {metrics.get('steps')} of {metrics.get('planned_steps')} (the "
                f"validation loss had stopped improving), after {seen} of the {drawn} training {noun}; the checkpoint "
                f"kept is step {metrics.get('best_step')}")
    if metrics.get("ended_by") == "max_steps":
        return (f"--max-steps {metrics.get('steps')} ended the run after {seen} of the {drawn} training {noun} "
                f"({metrics.get('epochs'):.2g} epochs): the rest were never read; raise --max-steps or lower --n to read them all")
    return None
