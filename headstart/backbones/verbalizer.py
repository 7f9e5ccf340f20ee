"""A causal LM asked in words: each class's answer scored after a prompt, as (B, C) log-probabilities.

Verbalizer scoring (Schick & Schütze 2021; the form Brown et al. 2020 used for GPT-3's few-shot classification):
for an input x, a prompt P(x) and one answer word w_c per class, the score of class c is log p(w_c | P(x)) — the sum
of the LM's log-probabilities of w_c's tokens, one after another — normalised over the classes. The prompt is

    [instruction] [k demonstrations "Text: x_i / Answer: w_{y_i}"] "Text: x / Answer:"  -> w_c

in plain text, or as one user turn of the model's chat template (the answer is then the assistant's reply).
Every prompt shares the part before "Text: x" (instruction and demonstrations): the LM runs it once, and each batch
continues from its key/value cache, so k demonstrations cost one pass, not one per input.

``PromptScorer`` meets the backbone protocol (``encode`` / ``collate`` / ``forward`` -> (B, C) features), so the
prompt arms run through the ordinary engine, ``TaskModel``, evaluate, predict and compare, and a run saves only its
head and its demonstrations. Nothing here takes a gradient step.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from headstart.errors import ConfigError

MARK = "\x00"  # where the input goes in a rendered chat template
CONTENT_FREE = ("N/A", "", "[MASK]")
TOKENS_PER_PASS = 8192  # prefix + input tokens per LM call: its key/value cache copy stays a few hundred MB  # Zhao et al. 2021's content-free inputs for contextual calibration


def not_causal(lm: nn.Module) -> str | None:
    """Why ``lm`` cannot be prompted (it is no causal language model), naming the backbones that can; None when it is one."""
    from headstart.backbones.text import is_causal

    if is_causal(getattr(getattr(lm, "model", None), "config", None)):
        return None
    return (f"prompting scores answer words with a causal language model; {getattr(lm, 'name', lm)!r} is not one; "
            "use --backbone smollm2-135m (or gemma3-270m, a causal-LM folder or .gguf file)")


class PromptScorer(nn.Module):
    """A causal-LM backbone scoring each class's answer words after a prompt.

    Args:
        lm: a causal-LM ``TextBackbone`` (``backbones.causal``); read, never trained.
        seed: the run's seed (demonstrations are drawn and ordered with it).

    ``set_prompt`` sets the classes' words, the instruction and the demonstrations; until then ``dim`` is 1.
    """

    modality = "text"

    def __init__(self, lm: nn.Module, *, seed: int = 0) -> None:
        super().__init__()
        why = not_causal(lm)
        if why:
            raise ConfigError(why)
        self.lm = lm
        self.name = lm.name
        self.seed = seed
        self.words: tuple[str, ...] = ()
        self.instruction = ""
        self.chat = False
        self.demos: list[tuple[list[int], int]] = []  # (input token ids, class) of each demonstration, in prompt order
        self._answers: list[list[int]] = []
        self._prefix: list[int] = []
        self._tail: list[int] = []
        self._cache: tuple[str, Any] | None = None  # (device, DynamicCache of the prefix)

    @property
    def dim(self) -> int:
        return max(1, len(self.words))

    @property
    def tokenizer(self) -> Any:
        return self.lm.tokenizer

    def blocks(self) -> list[nn.Module]:
        return []

    def set_prompt(self, words: tuple[str, ...] | None = None, *, instruction: str | None = None, chat: bool | None = None,
                  demos: list[tuple[list[int], int]] | None = None) -> None:
        """Set the classes' answer words, the instruction, the chat form and the demonstrations (each kept when None);
        ``chat=None`` uses the model's chat template where it has one. Builds the shared prefix's tokens."""
        if words is not None:
            self.words = tuple(words)
        if instruction is not None:
            self.instruction = instruction
        if chat is not None or words is not None:
            self.chat = bool(self.tokenizer.chat_template) if chat is None else chat
        if demos is not None:
            self.demos = list(demos)
        tok = self.tokenizer
        space = "" if self.chat else " "
        self._answers = [ids(tok, space + w) for w in self.words]
        shown = "".join(f"Text:{tok.decode(x)}\nAnswer: {self.words[y]}\n\n" for x, y in self.demos)
        user = (self.instruction + "\n\n" if self.instruction else "") + shown + "Text:" + MARK
        if self.chat:
            rendered = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
            head, tail = rendered.split(MARK, 1)
            self._prefix, self._tail = ids(tok, head), ids(tok, tail)
        else:
            head = user.split(MARK, 1)[0]
            self._prefix, self._tail = bos(tok) + ids(tok, head), ids(tok, "\nAnswer:")
        self._cache = None

    def prompt_tokens(self) -> int:
        """Tokens of the shared part of every prompt (instruction and demonstrations)."""
        return len(self._prefix)

    def encode(self, inputs: list[str]) -> list[list[int]]:
        """The input's tokens as they follow "Text:" (a leading space), truncated to the backbone's max length."""
        return [ids(self.tokenizer, " " + str(text))[: self.lm.max_length] for text in inputs]

    def collate(self, encoded: list[list[int]]) -> dict[str, torch.Tensor]:
        """Rows of input + tail (+ a class's answer tokens), right-padded; ``at`` (R, A) the positions whose
        next-token distribution scores each ``answer`` (R, A) token. Where every class answers in one token, one row
        per input scores all classes at its last position (A = C); else one row per input and class."""
        single = all(len(a) == 1 for a in self._answers)
        rows, at, answer = [], [], []
        for x in encoded:
            body = list(x) + self._tail
            if single:
                rows.append(body)
                at.append([len(body) - 1] * len(self._answers))
                answer.append([a[0] for a in self._answers])
                continue
            for words in self._answers:
                rows.append(body + words)
                at.append([len(body) - 1 + j for j in range(len(words))])
                answer.append(list(words))
        width, depth = max(len(r) for r in rows), max(len(a) for a in answer)
        batch = {"input_ids": torch.full((len(rows), width), self.lm.pad_id, dtype=torch.long),
                 "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
                 "at": torch.zeros((len(rows), depth), dtype=torch.long),
                 "answer": torch.zeros((len(rows), depth), dtype=torch.long),
                 "answer_mask": torch.zeros((len(rows), depth))}
        for i, (r, a, w) in enumerate(zip(rows, at, answer)):
            batch["input_ids"][i, : len(r)] = torch.as_tensor(r)
            batch["attention_mask"][i, : len(r)] = 1
            batch["at"][i, : len(a)] = torch.as_tensor(a)
            batch["answer"][i, : len(w)] = torch.as_tensor(w)
            batch["answer_mask"][i, : len(w)] = 1.0
        return batch

    def inputs_per_pass(self, encoded: list[list[int]]) -> int:
        """How many of ``encoded`` one LM call scores (``forward`` runs a batch as calls of up to ``TOKENS_PER_PASS``
        tokens): a batch of no more is one call, so ``evaluation.model_outputs`` batches these rows by it and its count
        moves per call. An icl prompt of ~1,000 tokens scores ~7 inputs a call, and a batch of 128 said "0/44 rows"
        for 100 s on a CPU, then "44/44"."""
        single = all(len(a) == 1 for a in self._answers)
        width = max(len(x) for x in encoded) + len(self._tail) + (0 if single else max(map(len, self._answers), default=0))
        return max(1, TOKENS_PER_PASS // (len(self._prefix) + width) // (1 if single else max(1, len(self._answers))))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, C) log-probabilities of the classes' answers, normalised over the classes."""
        from headstart.backbones.causal import lm_head_weight

        ids = batch["input_ids"]
        rows, width = ids.shape
        weight = lm_head_weight(self.lm).float()
        # Each row continues the prefix's cache, copied per row: keep rows x (prefix + row) under TOKENS_PER_PASS.
        step = max(1, TOKENS_PER_PASS // (len(self._prefix) + width))
        logp = torch.cat([self._answer_logp({k: v[i : i + step] for k, v in batch.items()}, weight) for i in range(0, rows, step)])
        if all(len(a) == 1 for a in self._answers):  # one row per input, a column per class
            return F.log_softmax(logp, -1)
        return F.log_softmax((logp * batch["answer_mask"]).sum(1).view(-1, len(self._answers)), -1)

    def _answer_logp(self, batch: dict[str, torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
        """(R, A) log p(answer token | everything before it) for a slice of the batch's rows."""
        ids, mask = batch["input_ids"], batch["attention_mask"]
        rows = ids.shape[0]
        past = copy.deepcopy(self._prefix_cache(ids.device))
        past.batch_repeat_interleave(rows)
        full = torch.cat([torch.ones(rows, len(self._prefix), dtype=mask.dtype, device=mask.device), mask], 1)
        hidden = self.lm.model(input_ids=ids, attention_mask=full, past_key_values=past, use_cache=True).last_hidden_state
        at = batch["at"]
        positions = at[:, :1] if bool((at == at[:, :1]).all()) else at  # all classes read one position: its logits once
        picked = hidden[torch.arange(rows, device=ids.device)[:, None], positions].float()  # (R, A or 1, d)
        logits = picked @ weight.T  # (R, A or 1, vocabulary)
        return logits.expand(-1, at.shape[1], -1).gather(2, batch["answer"][..., None])[..., 0] - logits.logsumexp(2)

    def _prefix_cache(self, device: torch.device) -> Any:
        """The LM's key/value cache after the shared prefix, computed once per configuration and device."""
        from transformers import DynamicCache

        if self._cache is None or self._cache[0] != str(device):
            prefix = torch.as_tensor([self._prefix], device=device)
            with torch.no_grad():
                cache = DynamicCache(config=self.lm.model.config)
                self.lm.model(input_ids=prefix, attention_mask=torch.ones_like(prefix), past_key_values=cache, use_cache=True)
            self._cache = (str(device), cache)
        return self._cache[1]

    def fresh(self, seed: int) -> "PromptScorer":
        raise ConfigError("a prompted LM is not trained, so it has no from-scratch twin")

    def describe(self) -> dict[str, Any]:
        """The LM's identity plus a digest of the prompt (words, instruction, chat form, demonstrations)."""
        prompt = json.dumps([self.words, self.instruction, self.chat, self.demos])
        return {**self.lm.describe(), "reads": "prompt", "prompt": hashlib.sha256(prompt.encode()).hexdigest()[:16]}


def ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without the tokenizer's special tokens (special tokens written in the text are read)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def bos(tokenizer: Any) -> list[int]:
    """[BOS] where the tokenizer starts a text with it (Llama, Gemma), else [] (SmolLM2, GPT-2)."""
    first = tokenizer("a")["input_ids"][:1]
    return first if tokenizer.bos_token_id is not None and first == [tokenizer.bos_token_id] else []


def calibration(scorer: PromptScorer, *, device: torch.device) -> torch.Tensor:
    """(C,) −log p_cf(c): the class distribution the prompt gives content-free inputs (Zhao et al. 2021, "Calibrate
    before use"), averaged over ``CONTENT_FREE``; added to the scores it makes that distribution uniform."""
    with torch.no_grad():
        batch = {k: v.to(device) for k, v in scorer.collate(scorer.encode(list(CONTENT_FREE))).items()}
        p = scorer(batch).exp().mean(0)
    return -(p / p.sum()).log()
