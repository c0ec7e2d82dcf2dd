"""Tests of the BioNLP 2004 / JNLPBA layer: IOB2 mirror and hub loading, windowed sub-token
alignment, and entity-level metrics checked against hand-computed cases."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value
from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities

from autolora.families.ner import data as ner
from autolora.errors import ConfigError, DataError
from autolora.families.base import IGNORE_LABEL
from autolora.families.ner.data import (BIONLP_TAGS, TAG_IDS, encode_words, load_bionlp_hub,
                          ner_metrics, read_iob2, read_jnlpba_mirror, tag_names,
                          words_from_windows)

from tests.conftest import SHARED

MIRROR = SHARED / "data"
needs_mirror = pytest.mark.needs_shared("data/jnlpba")

# tner/bionlp2004's label2id, written out independently of the module.
TNER_LABEL2ID = {"O": 0, "B-DNA": 1, "I-DNA": 2, "B-protein": 3, "I-protein": 4,
                 "B-cell_type": 5, "I-cell_type": 6, "B-cell_line": 7, "I-cell_line": 8,
                 "B-RNA": 9, "I-RNA": 10}
# From the mirror's README.
README_SIZES = {"train": (18855, 492966), "test": (3856, 101039)}
README_TRAIN_ENTITIES = {"protein": 30269, "DNA": 9533, "cell_type": 6718, "cell_line": 3830,
                         "RNA": 951}


@pytest.fixture(scope="module")
def mirror_data():
    """The real mirror, parsed once for the whole module (the train file is 5 MB)."""
    return read_jnlpba_mirror(MIRROR)


@pytest.fixture(scope="module")
def tokenizer():
    from autolora.model import load_tokenizer

    return load_tokenizer("all-MiniLM-L6-v2")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def ids(*tags: str) -> list[int]:
    return [TAG_IDS[tag] for tag in tags]


# ---------------------------------------------------------------- tags and schema


def test_tag_order_matches_the_hub_label2id():
    assert {tag: index for index, tag in enumerate(BIONLP_TAGS)} == TNER_LABEL2ID
    assert ner.features()["tags"].feature.names == list(BIONLP_TAGS)


# ---------------------------------------------------------------- the real mirror


@needs_mirror
@pytest.mark.parametrize("split", ["train", "test"])
def test_mirror_sizes_match_readme(mirror_data, split):
    data, provenance = mirror_data
    n_sentences, n_tokens = README_SIZES[split]
    assert len(data[split]) == n_sentences
    assert provenance[f"n_{split}"] == n_sentences
    assert provenance[f"n_{split}_tokens"] == n_tokens
    assert data[split].features == ner.features()


@needs_mirror
def test_mirror_train_entity_counts_match_readme(mirror_data):
    data, _ = mirror_data
    begins = Counter(tag[2:] for tags in data["train"]["tags"] for tag in tag_names(tags)
                     if tag.startswith("B-"))
    assert begins == README_TRAIN_ENTITIES


@needs_mirror
def test_stray_inside_tags_are_kept_and_read_as_entities(mirror_data):
    """The reconstructed train file has four I-protein tags that open a sentence; conlleval
    chunking turns each into an entity of its own, the test file has none."""
    data, _ = mirror_data
    train_entities = Counter(kind for kind, _, _ in
                             get_entities([tag_names(tags) for tags in data["train"]["tags"]]))
    assert train_entities == Counter(README_TRAIN_ENTITIES) + Counter({"protein": 4})
    test_tags = [tag_names(tags) for tags in data["test"]["tags"]]
    test_begins = sum(tag.startswith("B-") for tags in test_tags for tag in tags)
    assert len(get_entities(test_tags)) == test_begins


@needs_mirror
def test_mirror_provenance(mirror_data):
    _, provenance = mirror_data
    assert provenance["source"] == "mirror"
    assert provenance["checksums_verified"] is True
    assert set(provenance["files"]) == {"jnlpba/train.iob2", "jnlpba/test.iob2"}
    assert "reconstructed" in provenance["note"]


# ---------------------------------------------------------------- IOB2 parsing


def test_read_iob2_sentences(tmp_path):
    text = "IL-2\tB-protein\ngene\tI-protein\n\n\nT\tB-cell_type\r\ncells\tI-cell_type\n.\tO"
    assert read_iob2(write(tmp_path / "a.iob2", text)) == [
        (["IL-2", "gene"], ["B-protein", "I-protein"]),
        (["T", "cells", "."], ["B-cell_type", "I-cell_type", "O"]),
    ]


def test_read_iob2_accepts_inside_tag_after_outside(tmp_path):
    path = write(tmp_path / "a.iob2", "the\tO\nSub.\tI-protein\n")
    assert read_iob2(path) == [(["the", "Sub."], ["O", "I-protein"])]


@pytest.mark.parametrize("text, line_no, message", [
    ("a\tO\nb\n", 2, "expected 2 tab-separated columns (token, tag), found 1"),
    ("a\tO\tNN\n", 1, "found 3"),
    ("a\tO\n\n\tB-DNA\n", 3, "empty token"),
    ("a\tO\n \tO\n", 2, "empty token"),
    ("a\tB-gene\n", 1, "unknown tag 'B-gene'"),
    ("a\tb-DNA\n", 1, "unknown tag 'b-DNA'"),
])
def test_read_iob2_rejects_malformed_lines(tmp_path, text, line_no, message):
    path = write(tmp_path / "bad.iob2", text)
    with pytest.raises(DataError, match=rf"bad\.iob2 line {line_no}: ") as error:
        read_iob2(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_read_iob2_rejects_a_file_without_sentences(tmp_path, text):
    path = write(tmp_path / "empty.iob2", text)
    with pytest.raises(DataError, match=rf"{path}: no sentences"):
        read_iob2(path)


def test_read_iob2_rejects_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing.iob2: file not found"):
        read_iob2(tmp_path / "missing.iob2")


# ---------------------------------------------------------------- small mirrors


def small_mirror(root: Path, train: str = "a\tB-DNA\nb\tI-DNA\n\nc\tO\n",
                 test: str = "d\tB-RNA\n", checksums: dict[str, str] | None = None) -> Path:
    files = {"jnlpba/train.iob2": train, "jnlpba/test.iob2": test}
    for relpath, text in files.items():
        write(root / relpath, text)
    if checksums is not None:
        write(root / "SHA256SUMS", "".join(f"{digest}  ./{relpath}\n"
                                           for relpath, digest in checksums.items()))
    return root


def test_small_mirror_without_checksums(tmp_path):
    with pytest.raises(DataError, match="SHA256SUMS: not found"):
        read_jnlpba_mirror(small_mirror(tmp_path))
    data, provenance = read_jnlpba_mirror(small_mirror(tmp_path), verify_checksums=False)
    assert data["train"]["tokens"] == [["a", "b"], ["c"]]
    assert data["train"]["tags"] == [ids("B-DNA", "I-DNA"), ids("O")]
    assert data["test"]["tags"] == [ids("B-RNA")]
    assert provenance["checksums_verified"] is False
    assert (provenance["n_train"], provenance["n_train_tokens"]) == (2, 3)


def test_small_mirror_with_an_altered_file(tmp_path):
    test_digest = hashlib.sha256(b"d\tB-RNA\n").hexdigest()
    mirror = small_mirror(tmp_path, checksums={"jnlpba/train.iob2": "0" * 64,
                                               "jnlpba/test.iob2": test_digest})
    with pytest.raises(DataError, match="train.iob2: sha256 mismatch"):
        read_jnlpba_mirror(mirror)


def test_small_mirror_missing_test_file(tmp_path):
    mirror = small_mirror(tmp_path)
    (mirror / "jnlpba" / "test.iob2").unlink()
    with pytest.raises(DataError, match="test.iob2: file not found"):
        read_jnlpba_mirror(mirror, verify_checksums=False)


# ---------------------------------------------------------------- hub


def fake_hub(tags_feature=None, test_tags=(9,)) -> DatasetDict:
    hub_features = Features({"tokens": List(Value("string")),
                             "tags": List(tags_feature or Value("int32"))})

    def split(tokens, tags):
        return Dataset.from_dict({"tokens": tokens, "tags": tags}, features=hub_features)

    return DatasetDict({"train": split([["a", "b"], ["c"]], [[1, 2], [0]]),
                        "validation": split([["v"]], [[3]]),
                        "test": split([["d"]], [list(test_tags)])})


def test_hub_merges_validation_into_train(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", lambda name: fake_hub())
    data, provenance = load_bionlp_hub()
    assert data["train"]["tokens"] == [["a", "b"], ["c"], ["v"]]
    assert data["train"]["tags"] == [ids("B-DNA", "I-DNA"), ids("O"), ids("B-protein")]
    assert data["test"]["tags"] == [ids("B-RNA")]
    assert data["train"].features == data["test"].features == ner.features()
    assert provenance["hub_splits"] == {"train": 2, "validation": 1, "test": 1}
    assert provenance["n_train"] == 3


def test_hub_with_other_tag_names_is_refused(monkeypatch):
    renamed = ClassLabel(names=["O", *sorted(BIONLP_TAGS[1:])])
    monkeypatch.setattr(datasets, "load_dataset", lambda name: fake_hub(tags_feature=renamed))
    with pytest.raises(DataError, match="hub tag names"):
        load_bionlp_hub()


def test_hub_tag_id_out_of_range_is_refused(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", lambda name: fake_hub(test_tags=(11,)))
    with pytest.raises(DataError, match=r"tner/bionlp2004/test row 0: tag ids \[11\]"):
        load_bionlp_hub()


# ---------------------------------------------------------------- sub-token alignment

SHORT = (["IL-2", "gene", "expression", "in", "T", "cells"],
         ids("B-DNA", "I-DNA", "O", "O", "B-cell_type", "I-cell_type"))


def test_labels_sit_on_first_sub_tokens(tokenizer):
    tokens, tags = SHORT
    (window,) = encode_words(tokenizer, tokens, tags, max_length=512)
    pieces = tokenizer.convert_ids_to_tokens(window["input_ids"])
    assert pieces == ["[CLS]", "il", "-", "2", "gene", "expression", "in", "t", "cells", "[SEP]"]
    assert window["labels"] == [IGNORE_LABEL, *ids("B-DNA"), IGNORE_LABEL, IGNORE_LABEL,
                                *ids("I-DNA", "O", "O", "B-cell_type", "I-cell_type"),
                                IGNORE_LABEL]
    assert window["word_index"] == [-1, 0, -1, -1, 1, 2, 3, 4, 5, -1]
    assert (window["word_start"], window["word_stop"]) == (0, 6)
    assert words_from_windows([window], [window["labels"]]) == tags


def long_sentence() -> tuple[list[str], list[int]]:
    words = ["NF-kappa", "B", "binds", "the", "IL-2", "promoter", "in", "Jurkat", "T", "cells",
             "and", "human", "peripheral", "blood", "lymphocytes", "."]
    tokens = words * 3
    tags = [index % len(BIONLP_TAGS) for index in range(len(tokens))]
    return tokens, tags


def test_long_sentence_splits_into_windows_at_word_boundaries(tokenizer):
    tokens, tags = long_sentence()
    windows = encode_words(tokenizer, tokens, tags, max_length=16)
    assert len(windows) > 3
    assert windows[0]["word_start"] == 0 and windows[-1]["word_stop"] == len(tokens)
    for window, following in zip(windows, windows[1:]):
        assert window["word_stop"] == following["word_start"]
    for window in windows:
        pieces = tokenizer.convert_ids_to_tokens(window["input_ids"])
        assert len(pieces) <= 16 and pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
        # every word of the range starts inside this window, once
        assert [word for word in window["word_index"] if word >= 0] == \
            list(range(window["word_start"], window["word_stop"]))


def test_round_trip_from_padded_logits(tokenizer):
    tokens, tags = long_sentence()
    windows = encode_words(tokenizer, tokens, tags, max_length=16)
    logits = np.zeros((len(windows), 16, len(BIONLP_TAGS)))  # a padded batch of windows
    for row, window in enumerate(windows):
        for position, word in enumerate(window["word_index"]):
            if word >= 0:
                logits[row, position, tags[word]] = 1.0
    assert words_from_windows(windows, logits) == tags


def test_windows_must_come_complete_and_in_order(tokenizer):
    tokens, tags = long_sentence()
    windows = encode_words(tokenizer, tokens, tags, max_length=16)
    with pytest.raises(ValueError, match="starts at word"):
        words_from_windows(windows[1:], [window["labels"] for window in windows[1:]])
    with pytest.raises(ValueError, match="predictions"):
        words_from_windows(windows, [windows[0]["labels"]])


def test_word_longer_than_a_window_is_named(tokenizer):
    word = "5-dichloro-2-hydroxy-4-methoxy-6-n-propylbenzoic"
    with pytest.raises(DataError, match=f"word 1 '{word}' has 27 sub-tokens, more than the 14"):
        encode_words(tokenizer, ["the", word], ids("O", "O"), max_length=16)


def test_word_without_sub_tokens_is_named(tokenizer):
    with pytest.raises(DataError, match=r"word 1 '\\u200b' yields no sub-tokens"):
        encode_words(tokenizer, ["a", "\u200b"], ids("O", "O"), max_length=16)


def test_max_length_must_leave_room_for_words(tokenizer):
    with pytest.raises(ConfigError, match="config key model.max_length: 2 leaves no room"):
        encode_words(tokenizer, ["a"], ids("O"), max_length=2)


@needs_mirror
def test_round_trip_over_the_real_test_set(mirror_data, tokenizer):
    """Short windows force many cuts on real sentences; every word still comes back once."""
    test = mirror_data[0]["test"]
    for tokens, tags in zip(test["tokens"], test["tags"]):
        windows = encode_words(tokenizer, tokens, tags, max_length=32)
        assert words_from_windows(windows, [window["labels"] for window in windows]) == tags


# ---------------------------------------------------------------- metrics


def test_perfect_prediction():
    tags = [["B-protein", "I-protein", "O"], ["B-RNA"]]
    metrics = ner_metrics(tags, tags)
    assert metrics["precision"] == metrics["recall"] == metrics["f1"] == 1.0
    assert metrics["accuracy"] == 1.0
    assert metrics["f1_protein"] == metrics["f1_RNA"] == 1.0
    assert metrics["f1_DNA"] == 0.0  # neither true nor predicted: an empty ratio counts 0


def test_partially_matched_entity_is_wrong():
    metrics = ner_metrics([["B-protein", "I-protein", "O"]], [["B-protein", "O", "O"]])
    assert (metrics["precision"], metrics["recall"], metrics["f1"]) == (0.0, 0.0, 0.0)
    assert metrics["accuracy"] == pytest.approx(2 / 3)


def test_type_mismatch_is_wrong():
    metrics = ner_metrics([["B-DNA", "I-DNA"]], [["B-RNA", "I-RNA"]])
    assert metrics["f1"] == metrics["f1_DNA"] == metrics["f1_RNA"] == 0.0
    assert metrics["accuracy"] == 0.0


def test_inside_tag_opens_an_entity():
    metrics = ner_metrics([["O", "I-protein", "I-protein", "O"]],
                          [["O", "B-protein", "I-protein", "O"]])
    assert metrics["f1"] == metrics["f1_protein"] == 1.0
    assert metrics["accuracy"] == 0.75


def test_mixed_case_by_hand():
    # True: protein, DNA, cell_type, RNA. Predicted: protein, RNA (in DNA's place), cell_type.
    true = [["B-protein", "I-protein", "O", "B-DNA"], ["B-cell_type", "O", "B-RNA"]]
    pred = [["B-protein", "I-protein", "O", "B-RNA"], ["B-cell_type", "O", "O"]]
    metrics = ner_metrics(true, pred)
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(2 / 4)
    assert metrics["f1"] == pytest.approx(4 / 7)
    assert metrics["accuracy"] == pytest.approx(5 / 7)
    assert (metrics["f1_protein"], metrics["f1_cell_type"]) == (1.0, 1.0)
    assert (metrics["f1_DNA"], metrics["f1_RNA"], metrics["f1_cell_line"]) == (0.0, 0.0, 0.0)


def test_per_type_f1_agrees_with_seqeval_report_for_adjacent_types():
    true = [["B-DNA", "I-protein", "I-protein", "O", "B-RNA", "I-DNA"]]
    pred = [["B-DNA", "B-protein", "I-protein", "B-RNA", "I-RNA", "I-DNA"]]
    report = classification_report(true, pred, output_dict=True, zero_division=0)
    metrics = ner_metrics(true, pred)
    for entity_type in ("DNA", "protein", "RNA"):
        assert metrics[f"f1_{entity_type}"] == pytest.approx(report[entity_type]["f1-score"])


def test_metrics_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="sentence 0: 2 true tags but 1 predicted"):
        ner_metrics([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="1 true sentences but 0 predicted"):
        ner_metrics([["O"]], [])


def test_tokenized_windows_carry_their_sentence_and_give_back_every_tag(tokenizer):
    from autolora.families.ner import tokenize_words

    tags = [TAG_IDS[tag] for tag in ("B-protein", "I-protein", "O", "B-DNA", "O", "O", "B-RNA")]
    words = ["IL-2", "receptor", "binds", "NF-kappaB", "in", "T", "cells"]
    data = DatasetDict(eval=ner.sentences_to_dataset([(words, [BIONLP_TAGS[t] for t in tags]),
                                                  (words[:2], [BIONLP_TAGS[t] for t in tags[:2]])]))
    windows = tokenize_words(data, tokenizer, max_length=8)["eval"]
    assert windows["sentence"][0] == 0 and windows["sentence"][-1] == 1
    assert windows["sentence"].count(0) > 1  # the long sentence needed several windows
    first = [row for row in windows.to_list() if row["sentence"] == 0]
    labels_as_predictions = [[tag if tag >= 0 else 0 for tag in row["labels"]] for row in first]
    assert words_from_windows(first, labels_as_predictions) == tags
