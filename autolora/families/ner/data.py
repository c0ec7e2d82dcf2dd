"""BioNLP 2004 / JNLPBA named-entity recognition: data, sub-token alignment and seqeval metrics.

Both sources yield a ``DatasetDict`` with splits ``train`` and ``test`` and the columns
``tokens`` (list of words) and ``tags`` (list of ids into ``BIONLP_TAGS``, the label order of
the hub's ``tner/bionlp2004``), together with a provenance record.

The mirror's ``train.iob2`` is reconstructed from the GENIA standoff release, not the official
Genia4ERtask1.iob2; its ``test.iob2`` is the official Genia4EReval1.iob2. The hub copy splits
the official train set into train/validation; that split is not recoverable from the mirror, so
both sources merge it into one ``train`` and the search draws the validation part
(``autolora.data.split_for_search``). The test set is for final evaluation only, never for
selection.

IOB2 lets only B- open an entity, yet an I- tag after O (or after another type) is accepted:
the reconstructed train file has four, where a sentence boundary falls inside an entity
("C . | Sub."). Metrics follow conlleval (seqeval's default mode), which reads such an I- tag
as the start of a new entity, so they are scored, not lost.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from autolora.data import checksums_to_verify, read_mirror_file
from autolora.errors import ConfigError, DataError
from autolora.families.base import IGNORE_LABEL
from autolora.families.base import label_ids

HUB_DATASET = "tner/bionlp2004"
MIRROR_DIR = "jnlpba"
MIRROR_FILES = {"train": "train.iob2", "test": "test.iob2"}
ENTITY_TYPES = ("DNA", "protein", "cell_type", "cell_line", "RNA")
# Order of tner/bionlp2004's label2id, so hub ids and ours coincide.
BIONLP_TAGS = ("O", *(f"{prefix}-{entity}" for entity in ENTITY_TYPES for prefix in ("B", "I")))
TAG_IDS = {tag: index for index, tag in enumerate(BIONLP_TAGS)}
MIRROR_NOTE = ("train.iob2 reconstructed from the GENIA standoff release (official "
               "Genia4ERtask1.iob2 unavailable; sentence splits differ slightly); test.iob2 is "
               "the official Genia4EReval1.iob2")


def features(tags: tuple[str, ...] = BIONLP_TAGS) -> Features:
    """The normalised schema; both sources are cast to it so their outputs compare equal."""
    return Features({"tokens": List(Value("string")), "tags": List(ClassLabel(names=list(tags)))})


def tag_names(tag_ids, tags: tuple[str, ...] = BIONLP_TAGS) -> list[str]:
    return [tags[tag_id] for tag_id in tag_ids]


# ---------------------------------------------------------------- mirror IOB2 parsing


def read_text_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first token
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc})") from exc
    # Split on '\n' only: str.splitlines would also break inside a token on form feeds etc.
    return [line.removesuffix("\r") for line in text.split("\n")]


def parse_iob2_line(line: str, where: str) -> tuple[str, str]:
    fields = line.split("\t")
    if len(fields) != 2:
        raise DataError(f"{where}: expected 2 tab-separated columns (token, tag), "
                        f"found {len(fields)}")
    token, tag = fields
    if not token.strip():
        raise DataError(f"{where}: empty token")
    if tag not in TAG_IDS:
        raise DataError(f"{where}: unknown tag {tag!r}; expected one of {', '.join(BIONLP_TAGS)}")
    return token, tag


def read_iob2(path: Path | str) -> list[tuple[list[str], list[str]]]:
    """(tokens, tags) per sentence of a ``token<TAB>tag`` file with blank lines between sentences."""
    path = Path(path)
    sentences, tokens, tags = [], [], []
    for line_no, line in enumerate(read_text_lines(path), start=1):
        if line == "":
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        token, tag = parse_iob2_line(line, f"{path} line {line_no}")
        tokens.append(token)
        tags.append(tag)
    if tokens:  # a file need not end with a blank line
        sentences.append((tokens, tags))
    if not sentences:
        raise DataError(f"{path}: no sentences")
    return sentences


def sentences_to_dataset(sentences: list[tuple[list[str], list[str]]]) -> Dataset:
    columns = {"tokens": [tokens for tokens, _ in sentences],
               "tags": [[TAG_IDS[tag] for tag in tags] for _, tags in sentences]}
    return Dataset.from_dict(columns, features=features())


def count_tokens(split: Dataset) -> int:
    return sum(len(tokens) for tokens in split["tokens"])


def read_jnlpba_mirror(mirror: Path | str,
                       verify_checksums: bool = True) -> tuple[DatasetDict, dict]:
    """Read ``<mirror>/jnlpba/{train,test}.iob2`` into the normalised schema."""
    mirror = Path(mirror)
    checksums = checksums_to_verify(mirror, verify_checksums)
    splits, hashes = {}, {}
    for split, filename in MIRROR_FILES.items():
        path = read_mirror_file(mirror, f"{MIRROR_DIR}/{filename}", checksums, hashes)
        splits[split] = sentences_to_dataset(read_iob2(path))
    provenance = {
        "source": "mirror",
        "task": "bionlp2004",
        "mirror": str(mirror),
        "files": hashes,
        "checksums_verified": checksums is not None,
        "note": MIRROR_NOTE,
        "tags": list(BIONLP_TAGS),
        "n_train": len(splits["train"]),
        "n_test": len(splits["test"]),
        "n_train_tokens": count_tokens(splits["train"]),
        "n_test_tokens": count_tokens(splits["test"]),
    }
    return DatasetDict(splits), provenance


# ---------------------------------------------------------------- hub


def check_hub_tags(split: Dataset, where: str) -> None:
    """Refuse hub tags that would not mean what our ids mean: a silent relabelling otherwise."""
    feature = split.features["tags"].feature
    if isinstance(feature, ClassLabel) and tuple(feature.names) != BIONLP_TAGS:
        raise DataError(f"{where}: hub tag names {feature.names} differ from the expected "
                        f"{list(BIONLP_TAGS)}")
    for row, tags in enumerate(split["tags"]):
        unknown = [tag for tag in tags if not 0 <= tag < len(BIONLP_TAGS)]
        if unknown:
            raise DataError(f"{where} row {row}: tag ids {unknown} outside 0..{len(BIONLP_TAGS) - 1}")


def normalise_hub_split(split: Dataset, where: str) -> Dataset:
    check_hub_tags(split, where)
    return split.select_columns(["tokens", "tags"]).cast(features())


def load_bionlp_hub() -> tuple[DatasetDict, dict]:
    """Load ``tner/bionlp2004`` into the normalised schema, its validation merged back into train."""
    raw = datasets.load_dataset(HUB_DATASET)
    train_parts = [normalise_hub_split(raw[name], f"{HUB_DATASET}/{name}")
                   for name in ("train", "validation")]
    splits = DatasetDict({"train": datasets.concatenate_datasets(train_parts),
                          "test": normalise_hub_split(raw["test"], f"{HUB_DATASET}/test")})
    provenance = {
        "source": "hub",
        "task": "bionlp2004",
        "hub_dataset": HUB_DATASET,
        "hub_splits": {name: len(split) for name, split in raw.items()},
        "note": "hub train and validation merged into train; the search draws its own validation split",
        "tags": list(BIONLP_TAGS),
        "n_train": len(splits["train"]),
        "n_test": len(splits["test"]),
        "n_train_tokens": count_tokens(splits["train"]),
        "n_test_tokens": count_tokens(splits["test"]),
    }
    return splits, provenance


# ---------------------------------------------------------------- sub-token alignment


def subtoken_counts(tokenizer, tokens: list[str]) -> list[int]:
    # verbose=False: a long sentence is about to be windowed, the length warning would mislead.
    encoding = tokenizer(list(tokens), is_split_into_words=True, add_special_tokens=False,
                         verbose=False)
    counts = Counter(word for word in encoding.word_ids() if word is not None)
    for index, token in enumerate(tokens):
        if counts[index] == 0:
            raise DataError(f"word {index} {token!r} yields no sub-tokens, so it cannot be "
                            "labelled or predicted")
    return [counts[index] for index in range(len(tokens))]


def window_bounds(tokens: list[str], counts: list[int], budget: int) -> list[tuple[int, int]]:
    """Greedy [start, stop) word ranges whose sub-tokens fit the budget; cuts fall between words."""
    bounds, start, used = [], 0, 0
    for index, count in enumerate(counts):
        if count > budget:
            raise DataError(f"word {index} {tokens[index]!r} has {count} sub-tokens, more than "
                            f"the {budget} that fit in one window")
        if used + count > budget:
            bounds.append((start, index))
            start, used = index, 0
        used += count
    bounds.append((start, len(counts)))
    return bounds


def encode_window(tokenizer, tokens: list[str], tags: list[int], start: int, stop: int,
                  max_length: int) -> dict:
    encoding = tokenizer(tokens[start:stop], is_split_into_words=True)
    if len(encoding["input_ids"]) > max_length:
        raise DataError(f"words {start}..{stop - 1}: {len(encoding['input_ids'])} sub-tokens "
                        f"exceed max_length {max_length}: this tokenizer splits words differently "
                        "in context")
    labels, word_index, previous = [], [], None
    for word in encoding.word_ids():
        is_first = word is not None and word != previous
        labels.append(tags[start + word] if is_first else IGNORE_LABEL)
        word_index.append(start + word if is_first else -1)
        previous = word
    return {**encoding, "labels": labels, "word_index": word_index,
            "word_start": start, "word_stop": stop}


def encode_words(tokenizer, tokens: list[str], tags: list[int], max_length: int) -> list[dict]:
    """Encode one sentence as windows of at most ``max_length`` sub-tokens, specials included.

    Each window holds the tokenizer's model inputs plus ``labels`` (the word's tag on its first
    sub-token, IGNORE_LABEL elsewhere), ``word_index`` (the sentence-level word a position
    predicts, -1 where none) and the word range ``[word_start, word_stop)`` it covers. A long
    sentence is cut between words into consecutive windows rather than truncated.
    """
    if not tokens or len(tokens) != len(tags):
        raise DataError(f"sentence needs as many tags as words (>0), got {len(tokens)} words "
                        f"and {len(tags)} tags")
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 1:
        raise ConfigError(f"config key model.max_length: {max_length} leaves no room beside the special tokens")
    bounds = window_bounds(tokens, subtoken_counts(tokenizer, tokens), budget)
    return [encode_window(tokenizer, tokens, tags, start, stop, max_length)
            for start, stop in bounds]


def words_from_windows(windows: list[dict], predictions) -> list[int]:
    """One predicted tag id per word of the sentence, in order, read at each first sub-token.

    ``predictions`` holds one entry per window: logits (positions x tags) or tag ids
    (positions); entries may be padded beyond the window's length.
    """
    if len(windows) != len(predictions):
        raise ValueError(f"{len(windows)} windows but {len(predictions)} predictions")
    words = []
    for window, prediction in zip(windows, predictions):
        tag_ids = np.asarray(prediction)
        if tag_ids.ndim == 2:
            tag_ids = tag_ids.argmax(axis=-1)
        if len(tag_ids) < len(window["word_index"]):
            raise ValueError(f"prediction of {len(tag_ids)} positions for a window of "
                             f"{len(window['word_index'])}")
        if window["word_start"] != len(words):
            raise ValueError(f"window starts at word {window['word_start']}, expected "
                             f"{len(words)}: pass all windows of one sentence, in order")
        words.extend(int(tag_ids[position])
                     for position, word in enumerate(window["word_index"]) if word >= 0)
    return words


# ---------------------------------------------------------------- metrics


def keep_entity_type(tag_seqs: list[list[str]], entity_type: str) -> list[list[str]]:
    """Other types blanked to O. Under conlleval chunking this leaves every entity of
    ``entity_type`` as it was: a neighbour of another type bounds it just as O does."""
    return [[tag if tag[2:] == entity_type else "O" for tag in tags] for tags in tag_seqs]


def ner_metrics(true_tag_seqs: list[list[str]], pred_tag_seqs: list[list[str]],
                entity_types: tuple[str, ...] = ENTITY_TYPES) -> dict[str, float]:
    """Entity-level micro precision/recall/F1 (seqeval, conlleval mode: an entity counts only if
    type and both boundaries match), F1 per entity type (BioNLP's unless given), and token accuracy.

    A metric with an empty denominator (say a type neither true nor predicted) is 0.
    """
    # Imported here: every job imports this module through the task registry, only NER scores.
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    if len(true_tag_seqs) != len(pred_tag_seqs):
        raise ValueError(f"{len(true_tag_seqs)} true sentences but {len(pred_tag_seqs)} predicted")
    for index, (true, pred) in enumerate(zip(true_tag_seqs, pred_tag_seqs)):
        if len(true) != len(pred):
            raise ValueError(f"sentence {index}: {len(true)} true tags but {len(pred)} predicted")
    metrics = {
        "precision": float(precision_score(true_tag_seqs, pred_tag_seqs, zero_division=0)),
        "recall": float(recall_score(true_tag_seqs, pred_tag_seqs, zero_division=0)),
        "f1": float(f1_score(true_tag_seqs, pred_tag_seqs, zero_division=0)),
        "accuracy": float(accuracy_score(true_tag_seqs, pred_tag_seqs)),
    }
    for entity_type in entity_types:
        metrics[f"f1_{entity_type}"] = float(f1_score(keep_entity_type(true_tag_seqs, entity_type),
                                                      keep_entity_type(pred_tag_seqs, entity_type),
                                                      zero_division=0))
    return metrics


def own_tagged(rows, columns: dict, labels: tuple[str, ...]) -> Dataset:
    """An own tagging task's rows (``autolora.own_task``): a list of words and one of IOB2 tags each."""
    tokens, tags, ids = [], [], label_ids(labels)
    for where, row in rows:
        words, row_tags = row[columns["tokens"]], row[columns["tags"]]
        if not isinstance(words, list) or not isinstance(row_tags, list) or len(words) != len(row_tags) or not words:
            raise DataError(f"{where}: columns {columns['tokens']!r} and {columns['tags']!r} must be lists of "
                            "the same, non-zero length")
        unknown = sorted({str(tag) for tag in row_tags} - ids.keys())
        if unknown:
            raise DataError(f"{where}: tags {unknown} are not among the config's labels")
        tokens.append([str(word) for word in words])
        tags.append([ids[str(tag)] for tag in row_tags])
    return Dataset.from_dict({"tokens": tokens, "tags": tags}, features=features(labels))


def iob2_problem(labels: tuple[str, ...]) -> str:
    """What keeps ``labels`` from being IOB2 tags (O, B-<type>, I-<type>); "" if nothing."""
    bad = [tag for tag in labels if tag != "O" and tag[:2] not in ("B-", "I-")]
    if bad or "O" not in labels:
        return f"IOB2 tags are O, B-<type> and I-<type>; {'bad ' + str(bad) if bad else 'O is missing'}"
    return ""


def entity_types_of(labels) -> tuple[str, ...]:
    """The entity types of IOB2 tags, in order of first appearance."""
    return tuple(dict.fromkeys(tag[2:] for tag in labels if tag != "O"))
