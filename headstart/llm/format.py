"""Prompt + response as token ids and labels: the model's chat template where it has one, loss on the response only.

With a chat template the prompt is the user turn rendered up to the assistant's cue (``add_generation_prompt``) and
the response is what the template adds for the assistant turn (the text, then its end-of-turn token). Without one,
the prompt is ``[BOS] prompt "\\n"`` and the response ``response [EOS]``. Prompt and response are tokenised apart, so
the boundary is exact and generation reads the very prompt tokens training saw. Labels are the input ids on response
tokens and -100 (ignored by the cross-entropy) on prompt tokens and padding.

Packing (``pack``) concatenates whole examples into rows of at most ``max_length`` tokens, first fit in order; a
packed example attends to the ones before it in its row (plain causal attention, as TRL's packing without flash
attention), its labels still cover its response only.
"""

from __future__ import annotations

from typing import Any

import torch

IGNORE = -100  # torch's cross_entropy ignore_index: no loss on this position


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


def example(tokenizer: Any, prompt: str, response: str, *, eos: int | None, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one example, labels -100 on the prompt, at most ``max_length`` tokens: where both do not
    fit, a long prompt loses its left down to half the length, then the response loses its end."""
    p = prompt_ids(tokenizer, prompt)
    r = response_ids(tokenizer, prompt, response, eos=eos)
    if len(p) + len(r) > max_length:
        keep = max(1, min(len(p), max(max_length - len(r), max_length // 2), max_length - 1))
        p = p[len(p) - keep:]
        r = r[: max_length - len(p)]
    return p + r, [IGNORE] * len(p) + list(r)


def pack(examples: list[tuple[list[int], list[int]]], max_length: int) -> list[tuple[list[int], list[int]]]:
    """Whole examples concatenated into rows of at most ``max_length`` tokens, in order (an example starts a new row
    when it does not fit in the current one)."""
    rows: list[tuple[list[int], list[int]]] = []
    ids: list[int] = []
    labels: list[int] = []
    for x, y in examples:
        if ids and len(ids) + len(x) > max_length:
            rows.append((ids, labels))
            ids, labels = [], []
        ids, labels = ids + list(x), labels + list(y)
    if ids:
        rows.append((ids, labels))
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


def token_logps(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T-1) log-probability of each next token and (B, T-1) mask of the positions that count (labels != -100).

    Position t scores token t+1 from the logits at t (the shift every causal-LM loss makes).
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    counted = targets != IGNORE
    logps = torch.log_softmax(logits, dim=-1).gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return logps * counted, counted


def response_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean negative log-likelihood over the batch's response tokens."""
    logps, counted = token_logps(model, batch)
    return -logps.sum() / counted.sum().clamp_min(1)
