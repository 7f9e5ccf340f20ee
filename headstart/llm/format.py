"""Prompt + response as token ids and labels: the model's chat template where it has one, loss on the response only.

With a chat template the prompt is the user turn rendered up to the assistant's cue (``add_generation_prompt``) and
the response is what the template adds for the assistant turn (the text, then its end-of-turn token). Without one,
the prompt is ``[BOS] prompt "\\n"`` and the response ``response [EOS]``. Prompt and response are tokenised apart, so
the boundary is exact and generation reads the very prompt tokens training saw. Labels are the input ids on response
tokens and -100 (ignored by the cross-entropy) on prompt tokens and padding.

Packing keeps examples apart, as HF's ``DataCollatorWithFlattening`` and TRL's ``padding_free`` do: ``pack`` puts whole
examples into rows of at most ``max_length`` tokens, in order, and ``collate_packed`` lays a row out with position ids
that restart at 0 with every example and no attention mask. ``token_logps`` runs such a batch without a KV cache, and
transformers (5.x, ``masking_utils.find_packed_sequence_indices``) reads each restart as a boundary and builds a
block-diagonal causal mask (tested on sdpa and eager), Gemma-3's sliding-window layers keeping their window: a packed
example attends only to its own tokens, at its own positions, and scores as it does alone.
Transformers skips that when a cache exists (``use_cache`` defaults to on) or a 2D mask is given; a 4D mask of our own
is no substitute either: eager attention adds a boolean one as 0/1 (no masking), and Gemma-3 would lose its sliding
window (the one mask goes to every layer). ``check_packing`` refuses a model whose packed examples still see each other.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from headstart.errors import ConfigError

IGNORE = -100  # torch's cross_entropy ignore_index: no loss on this position
Example = tuple[list[int], list[int]]  # (input ids, labels) of one prompt + response


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer renders chats (SmolLM2-Instruct does; a base model or a BERT tokenizer does not)."""
    return bool(getattr(tokenizer, "chat_template", None))


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of ``prompt`` up to where the response starts (the assistant's cue in a chat template)."""
    if has_chat_template(tokenizer):
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return _ids(tokenizer, rendered)
    from headstart.backbones.verbalizer import bos

    return bos(tokenizer) + _ids(tokenizer, prompt + "\n")


def response_ids(tokenizer: Any, prompt: str, response: str, *, eos: int | None) -> list[int]:
    """Token ids of ``response`` as it follows ``prompt``, ending with the end-of-turn / end-of-sequence token."""
    if has_chat_template(tokenizer):
        messages = [{"role": "user", "content": prompt}]
        head = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": response}], tokenize=False)
        if full.startswith(head):
            return _ids(tokenizer, full[len(head):])
    return _ids(tokenizer, response) + ([] if eos is None else [eos])


def example(tokenizer: Any, prompt: str, response: str, *, eos: int | None, max_length: int,
            cuts: Counter | None = None) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one example, labels -100 on the prompt, at most ``max_length`` tokens: where both do not
    fit, a long prompt loses its left down to half the length, then the response loses its end. ``cuts`` counts what
    was cut ("examples", "prompt", "response"), so the run can say so (``truncation_note``)."""
    p = prompt_ids(tokenizer, prompt)
    r = response_ids(tokenizer, prompt, response, eos=eos)
    if len(p) + len(r) > max_length:
        keep = max(1, min(len(p), max(max_length - len(r), max_length // 2), max_length - 1))
        cut_prompt, cut_response = keep < len(p), keep + len(r) > max_length
        p = p[len(p) - keep:]
        r = r[: max_length - len(p)]
        if cuts is not None:
            cuts.update({"examples": 1, "prompt": int(cut_prompt), "response": int(cut_response)})
    return p + r, [IGNORE] * len(p) + list(r)


FIT_SAMPLE = 256  # training pairs whose lengths decide whether --max-length can hold any: tokenising them is quick


def check_fits(tokenizer: Any, pairs: list[tuple[str, str]], *, eos: int | None, max_length: int) -> None:
    """Refuse a ``max_length`` that holds no training prompt whole with a token of its response: every example would
    be cut inside its prompt (``example``), and the model would learn to answer prompts it never reads. Only the
    first ``FIT_SAMPLE`` (prompt, response) pairs are measured.

    Raises:
        ConfigError: naming the shortest prompt's length and a ``--max-length`` that holds the measured examples whole.
    """
    sample = pairs[:FIT_SAMPLE]
    shortest = min((len(prompt_ids(tokenizer, p)) for p, _ in sample), default=0)
    if not sample or shortest < max_length:
        return
    longest = max(len(prompt_ids(tokenizer, p)) + len(response_ids(tokenizer, p, r, eos=eos)) for p, r in sample)
    fits = max(16, 1 << (longest - 1).bit_length())  # the power of two at or above the longest example
    form = "with the model's chat template" if has_chat_template(tokenizer) else "as the model reads it"
    raise ConfigError(f"--max-length {max_length} holds no prompt with its answer: the shortest training prompt takes "
                      f"{shortest} tokens {form}, and its answer at least one more; nothing was trained: try "
                      f"--max-length {fits} (the longest of the first {len(sample)} examples takes {longest})")


def truncation(cuts: Counter, total: int, max_length: int) -> dict[str, int] | None:
    """What ``example`` cut, for metrics.json: ``{examples, of, prompt, response, max_length}``, or None when nothing."""
    if not cuts.get("examples"):
        return None
    return {"examples": cuts["examples"], "of": total, "prompt": cuts["prompt"], "response": cuts["response"],
            "max_length": max_length}


def truncation_note(found: dict[str, int] | None, what: str = "examples") -> str | None:
    """``4 of 6 training and validation examples were cut to --max-length 8 tokens: ...``, or None."""
    if not found:
        return None
    verb = "was" if found["examples"] == 1 else "were"
    return (f"{found['examples']} of {found['of']} training and validation {what} {verb} cut to --max-length "
            f"{found['max_length']} tokens ({found['prompt']} lost the start of their prompt, {found['response']} the end "
            "of their response, which the model then never learns to finish); raise --max-length")


def pack(examples: list[Example], max_length: int) -> list[list[Example]]:
    """Whole examples grouped into rows of at most ``max_length`` tokens, in order (an example starts a new row when it
    does not fit in the current one); ``collate_packed`` batches the rows."""
    rows: list[list[Example]] = []
    size = 0
    for x, y in examples:
        if not rows or size + len(x) > max_length:
            rows.append([])
            size = 0
        rows[-1].append((list(x), list(y)))
        size += len(x)
    return rows


def collate(rows: list[tuple[list[int], list[int]]], *, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on padding), each (B, T)."""
    width = max(len(x) for x, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, : len(x)] = torch.as_tensor(x)
        mask[i, : len(x)] = 1
        labels[i, : len(y)] = torch.as_tensor(y)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def collate_packed(rows: list[list[Example]], *, pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``position_ids`` and ``labels`` (-100 on padding), each (B, T), of packed rows.

    Position ids restart at 0 with every example and again on the padding, which is what keeps the examples apart (see
    the module docstring), so there is no ``attention_mask``. Each example's first label is -100: the position before it
    belongs to the previous example, and alone nothing scores an example's first token either.
    """
    width = max(sum(len(x) for x, _ in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, row in enumerate(rows):
        start = 0
        for x, y in row:
            ids[i, start : start + len(x)] = torch.as_tensor(x, dtype=torch.long)
            positions[i, start : start + len(x)] = torch.arange(len(x))
            labels[i, start + 1 : start + len(y)] = torch.as_tensor(y[1:], dtype=torch.long)
            start += len(x)
        positions[i, start:] = torch.arange(width - start)
    return {"input_ids": ids, "position_ids": positions, "labels": labels}


def token_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T-1) log-probability of each next token and (B, T-1) mask of the positions that count (labels != -100).

    Position t scores token t+1 from the logits at t (the shift every causal-LM loss makes). A batch of ``collate`` runs
    with its attention mask; one of ``collate_packed`` with its position ids, so that each packed example attends only to
    itself. Neither keeps a KV cache (nothing reads one, and under recomputed activations transformers warns of it).
    """
    if "position_ids" in batch:
        out = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False)
    else:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
    logits = out.logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    counted = targets != IGNORE
    logps = torch.log_softmax(logits, dim=-1).gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return logps * counted, counted


def response_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean negative log-likelihood over the batch's response tokens."""
    logps, counted = token_logps(model, batch)
    return -logps.sum() / counted.sum().clamp_min(1)


def check_packing(model: torch.nn.Module, *, tolerance: float = 1e-2) -> None:
    """Refuse a model whose packed examples attend to each other: of two made-up examples packed into one row, the
    second must score as it does alone (each log-probability within ``tolerance``; cross-attention moves them by
    far more, fp32 rounding by ~1e-6).

    Raises:
        ConfigError: the packed example scored differently; names the model, its attention and the fix.
    """
    first, second = ([1, 2, 3, 4], [IGNORE, 2, 3, 4]), ([5, 6, 7, 8], [IGNORE, 6, 7, 8])
    device = next(model.parameters()).device
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            packed, _ = token_logps(model, {k: v.to(device) for k, v in collate_packed([[first, second]], pad_id=0).items()})
            alone, _ = token_logps(model, {k: v.to(device) for k, v in collate([second], pad_id=0).items()})
    finally:
        model.train(training)
    moved = float((packed[0, len(first[0]):] - alone[0]).abs().max())
    if not moved <= tolerance:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT's wrapper
        attention = getattr(getattr(base, "config", None), "_attn_implementation", "its own")
        raise ConfigError(f"--packing needs a model that keeps packed examples apart by their position ids, but in "
                          f"{type(base).__name__} ({attention} attention) a packed example sees the one before it (its "
                          f"log-probs moved by {moved:.2g}); train without --packing")
