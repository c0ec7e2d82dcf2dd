"""Decoding for the data-to-text tasks: batched beam search from each record's prompt.

Defaults are the LoRA paper's (beam 10, length penalty 0.8, no repeated 4-grams, at most 64
new tokens; ``generate`` section of the config). Prompts are left-padded, so every sequence of a
batch ends where its continuation begins, and sorted by length, so that a batch holds prompts of
similar length; outputs come back in the input order.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from autolora.nlg_data import prompt_ids


def pad_left(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in sequences)
    input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in sequences])
    attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in sequences])
    return input_ids, attention_mask


def clean_text(text: str) -> str:
    """One output per line in the hypothesis file: no line breaks inside, no outer spaces."""
    return " ".join(text.split())


@torch.no_grad()
def generate_texts(model, tokenizer, prompts: list[str], settings: dict, device) -> list[str]:
    """The decoded continuation of every prompt, in prompt order."""
    model.to(device).eval()
    encoded = [prompt_ids(tokenizer, prompt) for prompt in prompts]
    order = sorted(range(len(prompts)), key=lambda index: len(encoded[index]))
    texts: list[str | None] = [None] * len(prompts)
    batch_size = settings["batch_size"]
    for start in tqdm(range(0, len(order), batch_size), desc="beam search", mininterval=10):
        batch = order[start:start + batch_size]
        input_ids, attention_mask = pad_left([encoded[index] for index in batch], tokenizer.pad_token_id)
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            num_beams=settings["num_beams"],
            length_penalty=settings["length_penalty"],
            no_repeat_ngram_size=settings["no_repeat_ngram_size"],
            max_new_tokens=settings["max_new_tokens"],
            do_sample=False,
            early_stopping=True,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        continuations = output[:, input_ids.shape[1]:]
        for index, tokens in zip(batch, continuations):
            texts[index] = clean_text(tokenizer.decode(tokens, skip_special_tokens=True))
    return texts
