"""Data-to-text with a decoder-only causal language model: E2E and WebNLG 2017 (and own
``data_to_text`` tasks).

Training rows are ``prompt target EOS`` (the prompt in the model's chat format, or ``record EOS``
for a plain LM: ``autolora.families.data_to_text.data.prompt_ids``), labels -100 on the prompt part, so the loss
covers the target tokens and the closing EOS; nothing is truncated (a row longer than
``max_length`` is an error naming it). Evaluation decodes every record by beam search
(``autolora.families.data_to_text.decode``) and scores with the official scorers' metrics; WebNLG on all, seen and
unseen categories. Choices (grid, tuning trials) use the validation loss per target token, since
decoding every candidate would cost more than training it.
"""

from __future__ import annotations

from datasets import DatasetDict, load_from_disk

from autolora.families.data_to_text import data as d2t_data
from autolora.errors import DataError
from autolora.families.base import E2E_COLUMNS, VALIDATION_LOSS, Family, MetricColumn, OwnKind, TaskSpec, register
from autolora.metrics import load_metric
from autolora.families.base import IGNORE_LABEL

# WebNLG's table: BLEU, METEOR and TER on the seen, unseen and all categories.
WEBNLG_COLUMNS = tuple(
    MetricColumn(f"{label}-{split[0].upper()}", f"{metric}_{split}", scale, decimals, metric == "TER")
    for label, metric, scale, decimals in (("BLEU", "BLEU", 1.0, 1), ("MET", "METEOR", 1.0, 2), ("TER", "TER", 1.0, 2))
    for split in ("seen", "unseen", "all")
)
E2E = TaskSpec("e2e", "nlg", "e2e", d2t_data.read_e2e_mirror, d2t_data.load_e2e_hub,
               eval_split="test", eval_split_official=True, num_labels=None, main_metric="BLEU",
               label="E2E", title="E2E NLG")
WEBNLG = TaskSpec("webnlg", "nlg", "webnlg2017", d2t_data.read_webnlg_mirror, d2t_data.load_webnlg_hub,
                  eval_split="test", eval_split_official=True, num_labels=None, main_metric="BLEU_all",
                  label="WebNLG", title="WebNLG 2017", table_columns=WEBNLG_COLUMNS)


def tokenize_prompt_target(dataset: DatasetDict, tokenizer, max_length: int) -> DatasetDict:
    """Causal-LM rows ``prompt target EOS`` with the loss on ``target EOS`` only, for the
    training split (evaluation decodes from the prompts of the prepared data)."""

    def encode(row, index, split):
        context = d2t_data.prompt_ids(tokenizer, row["prompt"])
        target = tokenizer(row["target"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(context) + len(target) > max_length:
            raise DataError(f"{split} row {index}: {len(context) + len(target)} tokens exceed "
                            f"model.max_length {max_length} (raise it; rows are never truncated)")
        return {"input_ids": context + target, "attention_mask": [1] * (len(context) + len(target)),
                "labels": [IGNORE_LABEL] * len(context) + target}

    train = dataset["train"]
    return DatasetDict(train=train.map(encode, with_indices=True, fn_kwargs={"split": "train"},
                                       remove_columns=train.column_names, desc="tokenising"))


# torch (decoding, training helpers) is imported on use: validating a config reads the families.

def _decode(model, tokenizer, prompts: list[str], config: dict, device) -> list[str]:
    from autolora.families.data_to_text.decode import generate_texts

    return generate_texts(model, tokenizer, prompts, config["generate"], device)


def evaluate_e2e(model, tokenizer, eval_rows, config: dict, device):
    prompts, refs = d2t_data.e2e_reference_groups(eval_rows)
    hypotheses = _decode(model, tokenizer, prompts, config, device)
    # A metric the official scorer cannot compute for these outputs is recorded as null (shown as
    # missing in the tables) instead of ending a long run.
    return load_metric("e2e").compute(predictions=hypotheses, references=refs, allow_undefined=True), hypotheses


def evaluate_webnlg(model, tokenizer, eval_rows, config: dict, device):
    """Decode every test entry once; score all, seen and unseen categories from those texts."""
    prompts, refs = d2t_data.webnlg_reference_groups(eval_rows, "all")
    hypotheses = _decode(model, tokenizer, prompts, config, device)
    category_of = dict(zip(*d2t_data.column_lists(eval_rows, ["prompt", "category"])))
    # A CPU subset may hold no entry of a category group: that split is left out.
    metrics = load_metric("webnlg2017").compute(predictions=hypotheses, references=refs,
                                                categories=[category_of[prompt] for prompt in prompts],
                                                allow_undefined=True)
    return metrics, hypotheses


def evaluate_nlg(model, tokenizer, tokenized_dir, prepared_dir, config: dict, spec: TaskSpec, device):
    eval_rows = load_from_disk(str(prepared_dir))["eval"]
    # WebNLG scores its category groups; E2E's scorer serves E2E and every own data-to-text task.
    scorer = evaluate_webnlg if spec.name == "webnlg" else evaluate_e2e
    return scorer(model, tokenizer, eval_rows, config, device)


def score_rows(model, rows, tokenizer, config: dict, spec: TaskSpec, device) -> dict:
    """The mean loss per target token; the model averages over the shifted targets."""
    from autolora.training import mean_target_loss  # torch, loaded on use

    return {VALIDATION_LOSS: mean_target_loss(model, rows, tokenizer, config["retrain"]["eval_batch_size"], device,
                                              shifted=True)}


def _float32(spec: TaskSpec, config: dict) -> dict:
    import torch

    return {"dtype": torch.float32}  # GGUF weights are dequantised


NLG = register(Family(
    name="nlg",
    tasks=(E2E, WEBNLG),
    tokenize=tokenize_prompt_target,
    auto_model="AutoModelForCausalLM",
    model_kwargs=_float32,
    peft_task_type="CAUSAL_LM",
    evaluate=evaluate_nlg,
    score_rows=score_rows,
    choice_metric=lambda spec: (VALIDATION_LOSS, False),
    table_columns=E2E_COLUMNS,
    decodes=True,
    own_kinds=(OwnKind("data_to_text", columns=("source", "target"), metrics=("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"),
                       normalise=d2t_data.own_records, num_labels=lambda labels: None),),
))
