"""Data-to-text with an encoder-decoder (T5-style) model: E2E as a sequence-to-sequence task.

The encoder reads the linearised record, the decoder writes the text: training rows are the
source's tokens (``input_ids``) and the target's (``labels``, the decoder's own sequence), so the
loss covers every target token; nothing is truncated (a row longer than ``max_length`` is an error
naming it). AutoLoRA adapts the attention projections by name (T5: ``lora.targets: [q, v]``), which
are the encoder's self-attention and the decoder's self- and cross-attention; each gets its own
α and so its own rank. Evaluation decodes every record by beam search from the source (the
decoder's output is the text: no prompt to slice off) and scores it with E2E's official metrics;
choices (grid, tuning trials) use the validation loss per target token, as for data-to-text with a
decoder-only model.
"""

from __future__ import annotations

from datasets import DatasetDict, load_from_disk

from autolora.families.data_to_text import data as d2t_data
from autolora.errors import DataError
from autolora.families.base import E2E_COLUMNS, VALIDATION_LOSS, Family, TaskSpec, register
from autolora.metrics import load_metric

E2E_SEQ2SEQ = TaskSpec("e2e-seq2seq", "seq2seq", "e2e", d2t_data.read_e2e_mirror, d2t_data.load_e2e_hub,
                       eval_split="test", eval_split_official=True, num_labels=None, main_metric="BLEU")


def tokenize_source_target(dataset: DatasetDict, tokenizer, max_length: int) -> DatasetDict:
    """Encoder rows (the record) with their decoder targets (the text), for the training split
    (evaluation decodes from the sources of the prepared data)."""

    def encode(row, index, split):
        encoded = tokenizer(row["prompt"], text_target=row["target"])
        longest = max(len(encoded["input_ids"]), len(encoded["labels"]))
        if longest > max_length:
            raise DataError(f"{split} row {index}: {longest} tokens exceed model.max_length {max_length} "
                            "(raise it; rows are never truncated)")
        return {key: encoded[key] for key in ("input_ids", "attention_mask", "labels")}

    train = dataset["train"]
    return DatasetDict(train=train.map(encode, with_indices=True, fn_kwargs={"split": "train"},
                                       remove_columns=train.column_names, desc="tokenising"))


def evaluate_seq2seq(model, tokenizer, tokenized_dir, prepared_dir, config: dict, spec: TaskSpec, device):
    sources, refs = d2t_data.e2e_reference_groups(load_from_disk(str(prepared_dir))["eval"])
    from autolora.families.data_to_text.decode import decode_sources  # torch, loaded on use: validating a config reads the families

    hypotheses = decode_sources(model, tokenizer, sources, config["generate"], device)
    return load_metric("e2e").compute(predictions=hypotheses, references=refs, allow_undefined=True), hypotheses


def score_rows(model, rows, tokenizer, config: dict, spec: TaskSpec, device) -> dict:
    """The mean loss per target token; the decoder's targets are not shifted against the inputs."""
    from autolora.training import mean_target_loss  # torch, loaded on use

    return {VALIDATION_LOSS: mean_target_loss(model, rows, tokenizer, config["retrain"]["eval_batch_size"], device,
                                              shifted=False)}


SEQ2SEQ = register(Family(
    name="seq2seq",
    tasks=(E2E_SEQ2SEQ,),
    tokenize=tokenize_source_target,
    auto_model="AutoModelForSeq2SeqLM",
    model_kwargs=lambda spec, config: {},
    peft_task_type="SEQ_2_SEQ_LM",
    evaluate=evaluate_seq2seq,
    score_rows=score_rows,
    choice_metric=lambda spec: (VALIDATION_LOSS, False),
    table_columns=E2E_COLUMNS,
    decodes=True,
))
