"""Decoding for the data-to-text tasks: batched beam search from each record's prompt (a
decoder-only model) or source (an encoder-decoder).

Defaults are the LoRA paper's (beam 10, length penalty 0.8, no repeated 4-grams, at most 64
new tokens; ``generate`` section of the config). Prompts are left-padded, so every sequence of a
batch ends where its continuation begins, and sorted by length, so that a batch holds prompts of
similar length; outputs come back in the input order.
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from autolora.families.data_to_text.data import prompt_ids


def pad_left(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in sequences)
    input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in sequences])
    attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in sequences])
    return input_ids, attention_mask


def clean_text(text: str) -> str:
    """One output per line in the hypothesis file: no line breaks inside, no outer spaces."""
    return " ".join(text.split())


def generate_texts(model, tokenizer, prompts: list[str], settings: dict, device) -> list[str]:
    """A decoder-only model's continuation of every prompt (left-padded, the prompt cut off), in
    prompt order."""
    encoded = [prompt_ids(tokenizer, prompt) for prompt in prompts]
    return decode_in_length_order(model, tokenizer, encoded, settings, device,
                                  lambda batch: pad_left(batch, tokenizer.pad_token_id), continuation=True)


def decode_sources(model, tokenizer, sources: list[str], settings: dict, device) -> list[str]:
    """An encoder-decoder's output for every source (the decoder's text alone), in source order."""
    encoded = [tokenizer(source)["input_ids"] for source in sources]
    return decode_in_length_order(model, tokenizer, encoded, settings, device,
                                  lambda batch: pad_right(batch, tokenizer.pad_token_id), continuation=False)


def pad_right(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in sequences)
    input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids in sequences])
    attention_mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in sequences])
    return input_ids, attention_mask


@torch.no_grad()
def decode_in_length_order(model, tokenizer, encoded: list[list[int]], settings: dict, device, pad,
                           continuation: bool) -> list[str]:
    """Beam search over batches of inputs of similar length (``pad`` makes a batch's tensors);
    the texts come back in input order. ``continuation``: the output repeats the input (a
    decoder-only model), which is cut off before decoding."""
    model.to(device).eval()
    order = sorted(range(len(encoded)), key=lambda index: len(encoded[index]))
    texts: list[str | None] = [None] * len(encoded)
    special = {key: value for key in ("eos_token_id", "pad_token_id")
               if (value := getattr(tokenizer, key)) is not None}
    batch_size = settings["batch_size"]
    for start in tqdm(range(0, len(order), batch_size), desc="beam search", mininterval=10):
        batch = order[start:start + batch_size]
        input_ids, attention_mask = pad([encoded[index] for index in batch])
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            num_beams=settings["num_beams"],
            length_penalty=settings["length_penalty"],
            no_repeat_ngram_size=settings["no_repeat_ngram_size"],
            max_new_tokens=settings["max_new_tokens"],
            do_sample=False,
            early_stopping=True,
            **special,
        )
        produced = output[:, input_ids.shape[1]:] if continuation else output
        for index, tokens in zip(batch, produced):
            texts[index] = clean_text(tokenizer.decode(tokens, skip_special_tokens=True))
    return texts
