"""Fixtures of the llm tests (imported by them): a tiny random causal LM folder (2-layer Llama, MiniLM tokenizer) and
small prompt/response tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch


def tiny_lm_folder(folder: Path, *, seed: int = 0) -> Path:
    """A 2-layer, 32-wide random LlamaForCausalLM saved with the MiniLM tokenizer (no chat template: plain format)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from headstart.backbones.registry import _minilm_dir

    config = LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True,
                         pad_token_id=0, bos_token_id=101, eos_token_id=102,
                         initializer_range=0.2)  # wide enough embeddings that LoRA on q,v can move the tied logits
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(_minilm_dir()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_lm_folder(tmp_path_factory.mktemp("lm") / "tiny-llama")


PAIRS = [("say hello", "hello there"), ("name a colour", "blue"), ("count to three", "one two three"),
         ("greet the actor", "good evening"), ("what is the film", "a western"), ("say goodbye", "see you soon")]


@pytest.fixture
def sft_csv(tmp_path: Path) -> Path:
    """Six prompt/response rows trained on, each also a validation row (a memorisable set), and one test row."""
    rows = [{"prompt": p, "response": r, "split": s} for s in ("train", "validation") for p, r in PAIRS]
    rows.append({"prompt": "say hello", "response": "hello there", "split": "test"})
    path = tmp_path / "sft.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def pref_csv(tmp_path: Path) -> Path:
    """Prompt / chosen / rejected rows, the same pairs in train and validation."""
    pairs = [("review the film", "a great film", "a dull film"), ("review the play", "superb acting", "weak acting"),
             ("review the show", "lovely and fine", "poor and awful"), ("review the book", "very good", "very bad")]
    rows = [{"prompt": p, "chosen": c, "rejected": r, "split": s} for s in ("train", "validation") for p, c, r in pairs]
    path = tmp_path / "pref.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
