"""Tagging: BioNLP 2004 / JNLPBA named entities (and own ``tagging`` tasks) with an encoder and a
token-classification head.

Words become sub-tokens in windows (``autolora.families.ner.data.encode_words``), labelled on each word's first
sub-token; evaluation reads one tag per word back from the windows and scores entities with
seqeval in conlleval mode (``autolora/evaluate_modules/bionlp``), F1 per entity type too.
"""

from __future__ import annotations

from datasets import DatasetDict, load_from_disk

from autolora.families.ner import data as ner
from autolora.families.base import Appendix, Family, MetricColumn, OwnKind, TaskSpec, register
from autolora.metrics import load_metric

BIONLP = TaskSpec("bionlp", "ner", ner.MIRROR_DIR, ner.read_jnlpba_mirror, ner.load_bionlp_hub,
                  eval_split="test", eval_split_official=True, num_labels=len(ner.BIONLP_TAGS),
                  main_metric="f1", labels=ner.BIONLP_TAGS, label="BioNLP", title="BioNLP 2004 (JNLPBA) NER")
COLUMNS = (MetricColumn("P", "precision"), MetricColumn("R", "recall"), MetricColumn("F1", "f1"))
TYPE_COLUMNS = tuple(MetricColumn(f"F1 {entity}", f"f1_{entity}") for entity in ner.ENTITY_TYPES)


def entity_types(spec: TaskSpec) -> tuple[str, ...]:
    """The entity types a tagging task's per-type F1 covers (from its IOB2 tags)."""
    return ner.entity_types_of(spec.labels)


def tokenize_words(dataset: DatasetDict, tokenizer, max_length: int) -> DatasetDict:
    """One row per window of each sentence (usually one), with word bookkeeping for decoding."""

    def encode(batch, indices):
        rows: dict[str, list] = {}
        for sentence, tokens, tags in zip(indices, batch["tokens"], batch["tags"]):
            for window in ner.encode_words(tokenizer, tokens, tags, max_length):
                for key, value in {**window, "sentence": sentence}.items():
                    rows.setdefault(key, []).append(value)
        return rows

    return dataset.map(encode, batched=True, with_indices=True, remove_columns=["tokens", "tags"],
                       desc="tokenising")


def _tag_ids(model, windows, tokenizer, config: dict, device):
    from autolora.training import predict_tokens  # torch, loaded on use: validating a config reads the families

    return predict_tokens(model, windows, tokenizer, config["retrain"]["eval_batch_size"], device)


def evaluate_ner(model, tokenizer, tokenized_dir, prepared_dir, config: dict, spec: TaskSpec, device):
    windows = load_from_disk(str(tokenized_dir))["eval"]
    sentences = load_from_disk(str(prepared_dir))["eval"]
    tag_ids = _tag_ids(model, windows, tokenizer, config, device)
    bookkeeping = windows.select_columns(["sentence", "word_index", "word_start"]).to_list()
    by_sentence: dict[int, tuple[list, list]] = {}
    for window, prediction in zip(bookkeeping, tag_ids):
        own_windows, own_predictions = by_sentence.setdefault(window["sentence"], ([], []))
        own_windows.append(window)
        own_predictions.append(prediction)
    if sorted(by_sentence) != list(range(len(sentences))):
        raise ValueError(f"{tokenized_dir}: windows do not cover the {len(sentences)} evaluation sentences")
    predicted = [ner.tag_names(ner.words_from_windows(*by_sentence[index]), spec.labels)
                 for index in range(len(sentences))]
    true = [ner.tag_names(tags, spec.labels) for tags in sentences["tags"]]
    metrics = load_metric("bionlp").compute(predictions=predicted, references=true,
                                            entity_types=entity_types(spec))
    return metrics, [" ".join(tags) for tags in predicted]


def score_rows(model, rows, tokenizer, config: dict, spec: TaskSpec, device) -> dict:
    """Entity metrics over windows, each window's labelled words one sequence."""
    tag_ids = _tag_ids(model, rows, tokenizer, config, device)
    true, predicted = [], []
    for labels, prediction in zip(rows["labels"], tag_ids):
        labelled = [position for position, label in enumerate(labels) if label != ner.IGNORE_LABEL]
        true.append(ner.tag_names([labels[position] for position in labelled], spec.labels))
        predicted.append(ner.tag_names([int(prediction[position]) for position in labelled], spec.labels))
    return ner.ner_metrics(true, predicted, entity_types(spec))


def _head(spec: TaskSpec, config: dict) -> dict:
    """One output per tag, in order."""
    return {"num_labels": len(spec.labels), "id2label": dict(enumerate(spec.labels)),
            "label2id": {tag: index for index, tag in enumerate(spec.labels)}}


NER = register(Family(
    name="ner",
    tasks=(BIONLP,),
    tokenize=tokenize_words,
    auto_model="AutoModelForTokenClassification",
    model_kwargs=_head,
    peft_task_type="TOKEN_CLS",
    evaluate=evaluate_ner,
    score_rows=score_rows,
    choice_metric=lambda spec: (spec.main_metric, True),
    table_columns=COLUMNS,
    appendices=(Appendix("bionlp_types", "bionlp", "BioNLP 2004 (JNLPBA) NER, F1 per entity type (appendix)",
                         TYPE_COLUMNS),),
    own_kinds=(OwnKind("tagging", columns=("tokens", "tags"), metrics=("f1", "precision", "recall", "accuracy"),
                       normalise=ner.own_tagged, num_labels=len, labels="IOB2 tags", check_labels=ner.iob2_problem),),
))
