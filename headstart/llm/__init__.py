"""Generative adaptation of a causal LM: supervised fine-tuning (``sft``), preference tuning (``dpo``), generation.

Modules: ``lm`` (load the LM with its head, attach LoRA / QLoRA), ``format`` (chat template, response-only labels,
packing), ``data`` (prompt/response and prompt/chosen/rejected tables, the rotten-tomatoes built-ins), ``loop`` (the
small training loop both share), ``sft``, ``dpo``, ``runs`` (save / load / generate), ``judge`` (the
classifier-scored success measure).
"""
