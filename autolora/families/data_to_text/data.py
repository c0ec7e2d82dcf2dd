"""E2E NLG and WebNLG 2017 data stage: read the offline mirror or the Hugging Face hub.

Both tasks are prepared the way the LoRA paper's GPT-2 experiments (microsoft/LoRA,
``examples/NLG``) prepare them: a linearised data record is the ``prompt``, one human text is
the ``target``, and every (record, text) pair is one training row. ``group`` numbers the records
of a split from 0, in order of first appearance, so that the references of one record can be
collected again for evaluation (``e2e_reference_groups``, ``webnlg_reference_groups``).

E2E splits ``train``, ``validation``, ``test``; columns ``prompt``, ``target``, ``group``.
The MR ``name[The Vaults], eatType[pub], priceRange[more than £30], customer rating[5 out of 5],
near[Café Adriatic]`` becomes, as in LoRA's ``data/e2e/*.txt``,
``name : The Vaults | Type : pub | price : more than £ 30 | customer rating : 5 out of 5 |
near : Café Adriatic``:

- attributes keep the MR's order (the official order name, eatType, food, priceRange,
  customer rating, area, familyFriendly, near in every official file) and are renamed
  eatType -> ``Type``, priceRange -> ``price``, familyFriendly -> ``family friendly``;
- values are tokenised as in LoRA's files: ``£`` is split from the amount and ``-`` between
  two numbers gets spaces (``£20-25`` -> ``£ 20 - 25``). No other E2E value holds punctuation,
  so this reproduces LoRA's prompts; checked against published examples of its files, as
  ``data/e2e/*.txt`` themselves were not at hand for a line-by-line comparison.
- Deviation: LoRA trains on a tokenised copy of the references (``family - friendly``,
  `` , ``) whose tokeniser ships with neither LoRA nor the release. Targets here are the
  official text, stripped of surrounding whitespace, which is also what the E2E scorer's
  reference files hold (see ``shared/golden/README.md``).

WebNLG splits ``train``, ``validation`` (the challenge's dev set), ``test``
(``testdata_with_lex.xml``); columns ``prompt``, ``target``, ``group``, ``eid``, ``category``,
``seen``. As in LoRA's ``format_converting_webnlg.py``, the prompt is the entry's modified
triples, each ``subject : property : object`` with the raw DBpedia strings (underscores and
quotes kept), joined by `` | ``; e.g. ``Aarhus | leaderName | Jacob_Bundsgaard`` becomes
``Aarhus : leaderName : Jacob_Bundsgaard``. Targets are the ``<lex>`` texts whose comment is
``good``, in XML order, stripped; ``seen`` is whether the category is one of the 10 training
categories. Train/dev entries are read folder ``1triples`` … ``7triples``, files by name,
entries in XML order: the order of LoRA's ``dev.json`` (checked on its entries 1, 6 and 872).
Deviations:

- An entry without a ``good`` text yields no row (LoRA's converter emits none either) and gets
  no group number; provenance lists such entries.
- LoRA collects test references by prompt string, here by entry; no two test entries share a
  triple set, so both give the same groups.
- ``eid`` is unique within one XML file only; train and dev repeat it across files.
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict, Features, Value

from autolora.data import checksum_status, checksums_to_verify, read_mirror_file
from autolora.errors import DataError
from autolora.families.base import text_of

E2E_HUB_DATASET = "e2e_nlg"
WEBNLG_HUB_DATASET = "web_nlg"
WEBNLG_HUB_CONFIG = "webnlg_challenge_2017"
# The hub's test split concatenates three files; test_category names the one a row came from.
WEBNLG_HUB_TEST_FILE = "testdata_with_lex"

E2E_FILES = {"train": "e2e/trainset.csv", "validation": "e2e/devset.csv",
             "test": "e2e/testset_w_refs.csv"}
E2E_HEADER = ["mr", "ref"]
# MR attribute -> the name LoRA's prompts use for it.
E2E_ATTRIBUTE_NAMES = {
    "name": "name", "eatType": "Type", "food": "food", "priceRange": "price",
    "customer rating": "customer rating", "area": "area", "familyFriendly": "family friendly",
    "near": "near",
}
# One "attribute[value]" slot and the comma (or end of text) that follows it.
E2E_SLOT = re.compile(r"\s*([^\[\],]+?)\s*\[([^\[\]]*)\]\s*(?:,|\Z)")

WEBNLG_ROOT = "webnlg2017/webnlg_challenge_2017"
WEBNLG_SIZES = range(1, 8)
WEBNLG_TEST_FILE = f"{WEBNLG_ROOT}/test/testdata_with_lex.xml"
WEBNLG_UNSEEN_TEST_FILE = f"{WEBNLG_ROOT}/test/testdata_unseen_with_lex.xml"
# The categories of the training data; LoRA marks a test entry seen iff its category is one.
WEBNLG_SEEN_CATEGORIES = frozenset({
    "Airport", "Astronaut", "Building", "City", "ComicsCharacter", "Food", "Monument",
    "SportsTeam", "University", "WrittenWork",
})
WEBNLG_EVAL_SPLITS = ("all", "seen", "unseen")
WEBNLG_MAX_REFS = 6  # the number of reference files LoRA's WebNLG scorer is given

E2E_FEATURES = Features({"prompt": Value("string"), "target": Value("string"),
                         "group": Value("int32")})
WEBNLG_FEATURES = Features({"prompt": Value("string"), "target": Value("string"),
                            "group": Value("int32"), "eid": Value("string"),
                            "category": Value("string"), "seen": Value("bool")})

E2E_DEVIATIONS = (
    "prompts match LoRA's data/e2e files (attributes renamed to Type/price/family friendly, "
    "'£' and numeric '-' split off); targets are the official untokenised references, "
    "stripped, whereas LoRA trains on a tokenised copy")
WEBNLG_DEVIATIONS = (
    "prompts and targets as LoRA's format_converting_webnlg.py builds them from the challenge "
    "JSON (targets stripped); entries without a 'good' text give no rows; test references "
    "are grouped by entry rather than by prompt string, identical on this test set")


# ---------------------------------------------------------------- shared helpers


def mirror_provenance(task: str, mirror: Path, hashes: dict[str, str],
                      checksums: dict[str, str] | None, verify_checksums: bool) -> dict:
    return {
        "source": "mirror",
        "task": task,
        "mirror": str(mirror),
        "files": hashes,
        "checksums_verified": checksums is not None,
        "checksums_note": checksum_status(checksums, verify_checksums),
    }


def number_groups(keys: Iterable[str]) -> list[int]:
    """Number distinct keys 0, 1, … in order of first appearance (E2E train is not sorted)."""
    ids: dict[str, int] = {}
    return [ids.setdefault(key, len(ids)) for key in keys]


def column_lists(dataset: Dataset, names: list[str]) -> list[list]:
    """The named columns as Python lists, read in one batch (iterating a Column is slow)."""
    batch = dataset.with_format(None).select_columns(names)[:]
    return [batch[name] for name in names]


def collect_groups(rows: Iterable[tuple[str, str, int]]) -> dict[int, tuple[str, list[str]]]:
    """(prompt, target, group) rows -> {group: (prompt, targets in row order)}.

    The dict keeps the order in which the groups first appear.
    """
    groups: dict[int, tuple[str, list[str]]] = {}
    for prompt, target, group in rows:
        groups.setdefault(group, (prompt, []))[1].append(target)
    return groups


# ---------------------------------------------------------------- E2E


def tokenize_e2e_value(value: str) -> str:
    """LoRA's prompts write '£ 30' and '£ 20 - 25' where the MR has '£30' and '£20-25'."""
    value = re.sub(r"£(?=\d)", "£ ", value)
    return re.sub(r"(?<=\d)-(?=\d)", " - ", value)


def parse_e2e_mr(mr: str, where: str) -> list[tuple[str, str]]:
    """The (attribute, value) slots of an MR like ``name[Alimentum], area[city centre]``."""
    slots, pos = [], 0
    while pos < len(mr):
        match = E2E_SLOT.match(mr, pos)
        if match is None:
            raise DataError(f"{where}: cannot parse the MR {mr!r} at character {pos + 1}; "
                            "expected 'attribute[value], ...'")
        attribute, value = match[1], match[2].strip()
        if attribute not in E2E_ATTRIBUTE_NAMES:
            raise DataError(f"{where}: unknown MR attribute {attribute!r}; known: "
                            f"{', '.join(E2E_ATTRIBUTE_NAMES)}")
        if not value:
            raise DataError(f"{where}: MR attribute {attribute!r} has an empty value")
        slots.append((attribute, value))
        pos = match.end()
    return slots


def linearise_e2e_mr(mr: str, where: str = "MR") -> str:
    """``name[The Vaults], eatType[pub]`` -> ``name : The Vaults | Type : pub``."""
    return " | ".join(f"{E2E_ATTRIBUTE_NAMES[attribute]} : {tokenize_e2e_value(value)}"
                      for attribute, value in parse_e2e_mr(mr, where))


def e2e_split(records: Iterable[tuple[str, str, str]]) -> Dataset:
    """One row per (mr, ref, where) record; ``where`` names the record in error messages."""
    prompts, targets = [], []
    prompt_of_mr: dict[str, str] = {}  # each MR recurs ~9 times; parse it once
    for mr, ref, where in records:
        if not mr.strip():
            raise DataError(f"{where}: empty MR")
        if not ref.strip():
            raise DataError(f"{where}: empty reference")
        if mr not in prompt_of_mr:
            prompt_of_mr[mr] = linearise_e2e_mr(mr, where)
        prompts.append(prompt_of_mr[mr])
        targets.append(ref.strip())
    return Dataset.from_dict({"prompt": prompts, "target": targets,
                              "group": number_groups(prompts)}, features=E2E_FEATURES)


def read_e2e_csv(path: Path) -> Iterator[tuple[str, str, str]]:
    """(mr, ref, where) per data row; ``where`` gives the line on which the row ends."""
    try:
        # newline="" lets csv handle line breaks inside quoted fields itself.
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header != E2E_HEADER:
                raise DataError(f"{path} line 1: header {header} differs from {E2E_HEADER}")
            n_rows = 0
            for fields in reader:
                where = f"{path} line {reader.line_num}"
                if len(fields) != len(E2E_HEADER):
                    raise DataError(f"{where}: expected {len(E2E_HEADER)} comma-separated "
                                    f"columns, found {len(fields)}")
                n_rows += 1
                yield fields[0], fields[1], where
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc})") from exc
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num}: malformed CSV ({exc})") from exc
    if n_rows == 0:
        raise DataError(f"{path}: no data rows")


def e2e_counts(splits: DatasetDict) -> dict:
    return {"n_rows": {name: len(split) for name, split in splits.items()},
            "n_groups": {name: len(split.unique("group")) for name, split in splits.items()}}


def read_e2e_mirror(mirror: Path | str,
                    verify_checksums: bool = True) -> tuple[DatasetDict, dict]:
    """Read ``<mirror>/e2e/{trainset,devset,testset_w_refs}.csv`` into the E2E schema."""
    mirror = Path(mirror)
    checksums = checksums_to_verify(mirror, verify_checksums)
    splits, hashes = {}, {}
    for split, relpath in E2E_FILES.items():
        path = read_mirror_file(mirror, relpath, checksums, hashes)
        splits[split] = e2e_split(read_e2e_csv(path))
    splits = DatasetDict(splits)
    provenance = {**mirror_provenance("e2e", mirror, hashes, checksums, verify_checksums),
                  **e2e_counts(splits), "deviations": E2E_DEVIATIONS}
    return splits, provenance


def load_e2e_hub() -> tuple[DatasetDict, dict]:
    """Load the hub's ``e2e_nlg`` (official release; same splits) into the E2E schema."""
    raw = datasets.load_dataset(E2E_HUB_DATASET)
    splits = {}
    for split in E2E_FILES:
        mrs, refs = column_lists(raw[split], ["meaning_representation", "human_reference"])
        records = ((mr, ref, f"{E2E_HUB_DATASET}/{split} row {index}")
                   for index, (mr, ref) in enumerate(zip(mrs, refs)))
        splits[split] = e2e_split(records)
    splits = DatasetDict(splits)
    provenance = {"source": "hub", "task": "e2e", "hub_dataset": E2E_HUB_DATASET,
                  **e2e_counts(splits), "deviations": E2E_DEVIATIONS}
    return splits, provenance


def e2e_reference_groups(split_dataset: Dataset) -> tuple[list[str], list[list[str]]]:
    """Prompts and their references, one group per MR, in order of first appearance."""
    groups = collect_groups(zip(*column_lists(split_dataset, ["prompt", "target", "group"])))
    return [prompt for prompt, _ in groups.values()], [refs for _, refs in groups.values()]


# ---------------------------------------------------------------- WebNLG


@dataclass(frozen=True)
class WebNLGEntry:
    eid: str
    category: str
    triples: tuple[tuple[str, str, str], ...]  # modified triples (subject, property, object)
    texts: tuple[str, ...]  # lexicalisations whose comment is "good", stripped

    @property
    def prompt(self) -> str:
        return " | ".join(" : ".join(triple) for triple in self.triples)

    @property
    def seen(self) -> bool:
        return self.category in WEBNLG_SEEN_CATEGORIES


def parse_mtriple(text: str | None, where: str) -> tuple[str, str, str]:
    parts = tuple(part.strip() for part in (text or "").strip().split(" | "))
    if len(parts) != 3 or not all(parts):
        raise DataError(f"{where}: modified triple {text!r} is not 'subject | property | object'")
    return parts


def make_webnlg_entry(eid: str, category: str, mtriples: list[str | None],
                      lexes: list[tuple[str | None, str | None]], where: str) -> WebNLGEntry:
    """``lexes`` holds (comment, text) pairs; ``where`` names the entry in error messages."""
    if not mtriples:
        raise DataError(f"{where}: no modified triples")
    texts = []
    for comment, text in lexes:
        if comment != "good":
            continue  # LoRA trains and scores on the "good" texts only
        if not (text or "").strip():
            raise DataError(f"{where}: empty lexicalisation")
        texts.append(text.strip())
    return WebNLGEntry(eid, category, tuple(parse_mtriple(t, where) for t in mtriples),
                       tuple(texts))


def read_webnlg_xml(path: Path) -> list[WebNLGEntry]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path} line {exc.position[0]}: not well-formed XML ({exc})") from exc
    elements = root.findall("entries/entry")
    if not elements:
        raise DataError(f"{path}: no <entry> under <benchmark><entries>")
    entries = []
    for position, element in enumerate(elements, start=1):
        eid = element.get("eid", f"#{position}")
        category = element.get("category")
        where = f"{path} entry {eid} (category {category})"
        if not category:
            raise DataError(f"{where}: no category attribute")
        entries.append(make_webnlg_entry(
            eid, category, [m.text for m in element.findall("modifiedtripleset/mtriple")],
            [(lex.get("comment"), lex.text) for lex in element.findall("lex")], where))
    return entries


def webnlg_split_files(mirror: Path, split: str) -> list[str]:
    """Mirror-relative XML paths of a train/dev split, in the order LoRA's JSON lists them."""
    relpaths = []
    for size in WEBNLG_SIZES:
        folder = mirror / WEBNLG_ROOT / split / f"{size}triples"
        files = sorted(folder.glob("*.xml"))
        if not files:
            raise DataError(f"{folder}: folder missing or without XML files")
        relpaths += [path.relative_to(mirror).as_posix() for path in files]
    return relpaths


def webnlg_split(entries: list[WebNLGEntry]) -> Dataset:
    columns = {name: [] for name in WEBNLG_FEATURES}
    for group, entry in enumerate(entry for entry in entries if entry.texts):
        for text in entry.texts:
            columns["prompt"].append(entry.prompt)
            columns["target"].append(text)
            columns["group"].append(group)
            columns["eid"].append(entry.eid)
            columns["category"].append(entry.category)
            columns["seen"].append(entry.seen)
    return Dataset.from_dict(columns, features=WEBNLG_FEATURES)


def check_unseen_file(entries: list[WebNLGEntry], unseen: list[WebNLGEntry], path: Path) -> None:
    """The official unseen test file must hold the test entries of unseen categories, in order.

    Its eids are numbered afresh, so entries are compared on everything else.
    """
    def content(entry: WebNLGEntry) -> tuple:
        return entry.category, entry.triples, entry.texts

    expected = [content(entry) for entry in entries if not entry.seen]
    if [content(entry) for entry in unseen] != expected:
        raise DataError(f"{path}: differs from the {len(expected)} unseen-category entries of "
                        f"{WEBNLG_TEST_FILE} ({len(unseen)} entries); seen/unseen split unclear")


def webnlg_counts(entries: dict[str, list[WebNLGEntry]], splits: DatasetDict) -> dict:
    return {
        "n_entries": {name: len(split_entries) for name, split_entries in entries.items()},
        "n_rows": {name: len(split) for name, split in splits.items()},
        "n_groups": {name: len(split.unique("group")) for name, split in splits.items()},
        "n_test_seen": sum(entry.seen for entry in entries["test"]),
        "n_test_unseen": sum(not entry.seen for entry in entries["test"]),
        "entries_without_good_text": {
            name: [f"{entry.category}/{entry.eid}" for entry in split_entries if not entry.texts]
            for name, split_entries in entries.items()},
        "seen_categories": sorted(WEBNLG_SEEN_CATEGORIES),
    }


def read_webnlg_mirror(mirror: Path | str,
                       verify_checksums: bool = True) -> tuple[DatasetDict, dict]:
    """Read ``<mirror>/webnlg2017/webnlg_challenge_2017`` into the WebNLG schema."""
    mirror = Path(mirror)
    checksums = checksums_to_verify(mirror, verify_checksums)
    hashes: dict[str, str] = {}
    entries = {}
    for split, folder in (("train", "train"), ("validation", "dev")):
        entries[split] = [entry for relpath in webnlg_split_files(mirror, folder)
                          for entry in read_webnlg_xml(
                              read_mirror_file(mirror, relpath, checksums, hashes))]
    entries["test"] = read_webnlg_xml(read_mirror_file(mirror, WEBNLG_TEST_FILE, checksums,
                                                       hashes))
    unseen_path = read_mirror_file(mirror, WEBNLG_UNSEEN_TEST_FILE, checksums, hashes)
    check_unseen_file(entries["test"], read_webnlg_xml(unseen_path), unseen_path)
    splits = DatasetDict({split: webnlg_split(split_entries)
                          for split, split_entries in entries.items()})
    provenance = {**mirror_provenance("webnlg", mirror, hashes, checksums, verify_checksums),
                  **webnlg_counts(entries, splits), "deviations": WEBNLG_DEVIATIONS}
    return splits, provenance


def hub_webnlg_entries(rows: Dataset, split: str) -> list[WebNLGEntry]:
    entries = []
    for index, row in enumerate(rows):
        where = f"{WEBNLG_HUB_DATASET}/{split} row {index} (eid {row['eid']})"
        triple_sets = row["modified_triple_sets"]["mtriple_set"]  # one set per entry
        lex = row["lex"]
        entries.append(make_webnlg_entry(row["eid"], row["category"],
                                         triple_sets[0] if triple_sets else [],
                                         list(zip(lex["comment"], lex["text"])), where))
    return entries


def load_webnlg_hub() -> tuple[DatasetDict, dict]:
    """Load the hub's ``web_nlg``/``webnlg_challenge_2017`` into the WebNLG schema."""
    raw = datasets.load_dataset(WEBNLG_HUB_DATASET, WEBNLG_HUB_CONFIG)
    test = raw["test"].filter(lambda category: category == WEBNLG_HUB_TEST_FILE,
                              input_columns="test_category")
    entries = {"train": hub_webnlg_entries(raw["train"], "train"),
               "validation": hub_webnlg_entries(raw["dev"], "dev"),
               "test": hub_webnlg_entries(test, "test")}
    splits = DatasetDict({split: webnlg_split(split_entries)
                          for split, split_entries in entries.items()})
    provenance = {"source": "hub", "task": "webnlg", "hub_dataset": WEBNLG_HUB_DATASET,
                  "hub_config": WEBNLG_HUB_CONFIG, "hub_test_file": WEBNLG_HUB_TEST_FILE,
                  **webnlg_counts(entries, splits), "deviations": WEBNLG_DEVIATIONS}
    return splits, provenance


def webnlg_reference_groups(test_dataset: Dataset, split: str = "all",
                            max_refs: int = WEBNLG_MAX_REFS) -> tuple[list[str], list[list[str]]]:
    """Prompts and exactly ``max_refs`` references per entry of ``split`` (all/seen/unseen).

    Entries with more texts keep the first ``max_refs``; entries with fewer repeat the first
    text, which leaves BLEU, METEOR and TER unchanged (empty padding would not).
    """
    if split not in WEBNLG_EVAL_SPLITS:
        raise ValueError(f"WebNLG evaluation split must be one of "
                          f"{', '.join(WEBNLG_EVAL_SPLITS)}, got {split!r}")
    if max_refs < 1:
        raise ValueError(f"max_refs must be a positive integer, got {max_refs}")
    rows = zip(*column_lists(test_dataset, ["prompt", "target", "group", "seen"]))
    wanted = (row[:3] for row in rows if split == "all" or row[3] == (split == "seen"))
    prompts, refs = [], []
    for prompt, texts in collect_groups(wanted).values():
        prompts.append(prompt)
        kept = texts[:max_refs]
        refs.append(kept + [kept[0]] * (max_refs - len(kept)))
    return prompts, refs


DATA_TO_TEXT_INSTRUCTION = "Write the data as text."


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """The conditioning part of a data-to-text example; decoding starts right after it.

    A model with a chat template (an instruct model such as SmolLM2-Instruct) gets the record as
    a user turn and the opening of the assistant turn, the format it was tuned on: with a bare
    EOS separator it first wants to close the turn ("<|im_end|>\n"), and a short fine-tune then
    decodes empty texts. A plain LM (GPT-2) gets the record and EOS, as LoRA's GPT-2 data puts
    <|endoftext|> between record and text. Either way the target is followed by EOS.
    """
    if tokenizer.chat_template:
        # A short system turn of our own: the template's default one would add ~20 tokens.
        turns = [{"role": "system", "content": DATA_TO_TEXT_INSTRUCTION}, {"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(turns, tokenize=True, add_generation_prompt=True, return_dict=False)
    return tokenizer(prompt, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def own_records(rows, columns: dict, labels: None) -> Dataset:
    """An own data-to-text task's rows (``autolora.own_task``); rows with the same source form one
    record (``group``) with several references."""
    sources = [text_of(row, columns["source"], where).strip() for where, row in rows]
    targets = [text_of(row, columns["target"], where).strip() for where, row in rows]
    return Dataset.from_dict({"prompt": sources, "target": targets, "group": number_groups(sources)},
                             features=E2E_FEATURES)
