"""Tests of the E2E / WebNLG data stage: the offline mirror, golden references, broken copies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import pytest
from datasets import Dataset, DatasetDict

from autolora.errors import DataError
from autolora.families.data_to_text.data import (E2E_FEATURES, WEBNLG_FEATURES, e2e_reference_groups,
                               linearise_e2e_mr, load_e2e_hub, load_webnlg_hub, read_e2e_mirror,
                               read_webnlg_mirror, webnlg_reference_groups)

from tests.conftest import SHARED

MIRROR = SHARED / "data"
GOLDEN = SHARED / "golden"
WEBNLG_DIR = "webnlg2017/webnlg_challenge_2017"
needs_e2e = pytest.mark.needs_shared("data/e2e")
needs_webnlg = pytest.mark.needs_shared(f"data/{WEBNLG_DIR}")
needs_golden = pytest.mark.needs_shared("golden")

# From the mirror's README: rows and distinct MRs per split.
E2E_COUNTS = {"train": (42061, 4862), "validation": (4672, 547), "test": (4693, 630)}
WEBNLG_ENTRIES = {"train": 6940, "validation": 872, "test": 1862}
WEBNLG_UNSEEN_CATEGORIES = {"Artist", "Athlete", "CelestialBody", "MeanOfTransportation",
                            "Politician"}


@pytest.fixture(scope="module")
def e2e():
    return read_e2e_mirror(MIRROR)


@pytest.fixture(scope="module")
def webnlg():
    return read_webnlg_mirror(MIRROR)


def mirror_checksums() -> dict[str, str]:
    lines = (MIRROR / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {path.removeprefix("./"): digest for digest, path in (line.split() for line in lines)}


# ---------------------------------------------------------------- E2E linearisation


@pytest.mark.parametrize("mr, prompt", [
    ("name[The Vaults], eatType[pub], priceRange[more than £30], customer rating[5 out of 5], "
     "near[Café Adriatic]",
     "name : The Vaults | Type : pub | price : more than £ 30 | customer rating : 5 out of 5 | "
     "near : Café Adriatic"),
    ("name[Fitzbillies], eatType[coffee shop], food[English], priceRange[£20-25], "
     "customer rating[3 out of 5], area[riverside], familyFriendly[yes], "
     "near[Express by Holiday Inn]",
     "name : Fitzbillies | Type : coffee shop | food : English | price : £ 20 - 25 | "
     "customer rating : 3 out of 5 | area : riverside | family friendly : yes | "
     "near : Express by Holiday Inn"),
    ("name[Alimentum], priceRange[less than £20]", "name : Alimentum | price : less than £ 20"),
])
def test_e2e_mr_is_linearised_as_in_lora_files(mr, prompt):
    assert linearise_e2e_mr(mr) == prompt


# ---------------------------------------------------------------- E2E mirror


@needs_e2e
def test_e2e_mirror_counts_schema_and_provenance(e2e):
    data, provenance = e2e
    assert list(data) == ["train", "validation", "test"]
    for split, (n_rows, n_groups) in E2E_COUNTS.items():
        assert data[split].features == E2E_FEATURES
        assert len(data[split]) == n_rows
        assert len(set(data[split]["group"])) == n_groups
        assert provenance["n_rows"][split] == n_rows
        assert provenance["n_groups"][split] == n_groups
    sums = mirror_checksums()
    assert set(provenance["files"]) == {"e2e/trainset.csv", "e2e/devset.csv",
                                        "e2e/testset_w_refs.csv"}
    assert all(provenance["files"][path] == sums[path] for path in provenance["files"])
    assert provenance["source"] == "mirror" and provenance["checksums_verified"]
    assert "tokenised" in provenance["deviations"]


@needs_e2e
def test_e2e_rows_hold_linearised_mr_and_stripped_reference(e2e):
    dev = e2e[0]["validation"]
    assert dev[0] == {"prompt": "name : Alimentum | area : city centre | family friendly : no",
                      "target": "There is a place in the city centre, Alimentum, that is not "
                                "family-friendly.",
                      "group": 0}
    targets = dev["target"]
    # devset.csv has one reference ending in a space inside its quotes.
    assert "The Eagle coffee shop, serving" in targets
    assert all(target == target.strip() for target in targets)


@needs_e2e
@pytest.mark.parametrize("split", list(E2E_COUNTS))
def test_e2e_groups_number_distinct_mrs_in_first_appearance_order(e2e, split):
    # trainset.csv repeats MRs far apart, so runs of equal rows would give too many groups.
    prompts, groups = e2e[0][split]["prompt"], e2e[0][split]["group"]
    first_seen = {}
    for prompt, group in zip(prompts, groups):
        assert first_seen.setdefault(prompt, len(first_seen)) == group


@needs_e2e
@needs_golden
def test_e2e_dev_reference_groups_equal_golden_file(e2e):
    prompts, refs = e2e_reference_groups(e2e[0]["validation"])
    golden_groups, group = [], []
    for line in (GOLDEN / "e2e/inputs/devset.refs.txt").read_text(encoding="utf-8").split("\n"):
        if line:
            group.append(line)
        elif group:  # an empty line closes a group
            golden_groups.append(group)
            group = []
    assert group == []
    assert len(refs) == len(golden_groups) == 547
    assert refs == golden_groups
    golden_mrs = (GOLDEN / "e2e/inputs/devset.mrs.txt").read_text(encoding="utf-8").splitlines()
    assert prompts == [linearise_e2e_mr(mr) for mr in golden_mrs]


def test_e2e_reference_groups_gather_non_adjacent_rows():
    split = Dataset.from_dict({"prompt": ["p0", "p1", "p0"], "target": ["a", "b", "c"],
                               "group": [0, 1, 0]}, features=E2E_FEATURES)
    assert e2e_reference_groups(split) == (["p0", "p1"], [["a", "c"], ["b"]])


# ---------------------------------------------------------------- E2E broken mirrors

E2E_GOOD = 'mr,ref\n"name[Aromi], eatType[pub]","Aromi is a pub."\n'


def write_files(root: Path, files: dict[str, str]) -> Path:
    for relpath, content in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(content, encoding="utf-8")
    return root


def e2e_mirror(root: Path, train: str = E2E_GOOD) -> Path:
    return write_files(root, {"e2e/trainset.csv": train, "e2e/devset.csv": E2E_GOOD,
                              "e2e/testset_w_refs.csv": E2E_GOOD})


def test_e2e_tiny_mirror_reads(tmp_path):
    train = E2E_GOOD + '"name[Zizzi], priceRange[£20-25]","Zizzi costs £20-25."\n' \
                       '"name[Aromi], eatType[pub]"," Aromi serves beer. "\n'
    data, provenance = read_e2e_mirror(e2e_mirror(tmp_path, train), verify_checksums=False)
    assert data["train"]["prompt"] == ["name : Aromi | Type : pub",
                                       "name : Zizzi | price : £ 20 - 25",
                                       "name : Aromi | Type : pub"]
    assert data["train"]["target"] == ["Aromi is a pub.", "Zizzi costs £20-25.",
                                       "Aromi serves beer."]
    assert data["train"]["group"] == [0, 1, 0]
    assert provenance["checksums_verified"] is False
    assert provenance["n_groups"] == {"train": 2, "validation": 1, "test": 1}


def test_e2e_missing_file(tmp_path):
    mirror = e2e_mirror(tmp_path)
    (mirror / "e2e/devset.csv").unlink()
    with pytest.raises(DataError, match=r"devset\.csv: file not found"):
        read_e2e_mirror(mirror, verify_checksums=False)


@pytest.mark.parametrize("train, message", [
    (E2E_GOOD + '"name[Aromi]","one","two"\n', r"trainset\.csv line 3: expected 2 .*found 3"),
    (E2E_GOOD + '"name[Aromi]"\n', r"trainset\.csv line 3: expected 2 .*found 1"),
    (E2E_GOOD + '"","A text."\n', r"trainset\.csv line 3: empty MR"),
    (E2E_GOOD + '"name[Aromi]","  "\n', r"trainset\.csv line 3: empty reference"),
    (E2E_GOOD + '"name[Aromi] area[riverside]","x"\n', r"line 3: cannot parse the MR"),
    (E2E_GOOD + '"name[Aromi], stars[5]","x"\n', r"line 3: unknown MR attribute 'stars'"),
    (E2E_GOOD + '"name[], area[riverside]","x"\n', r"line 3: MR attribute 'name' has an empty"),
    # A reference spanning lines 3-4 is fine; the bad row after it is on line 5.
    (E2E_GOOD + '"name[Aromi]","two\nlines"\n"name[Aromi]",""\n', r"line 5: empty reference"),
    ("meaning,text\n" + E2E_GOOD.split("\n", 1)[1], r"trainset\.csv line 1: header"),
])
def test_e2e_malformed_csv_names_file_and_line(tmp_path, train, message):
    with pytest.raises(DataError, match=message):
        read_e2e_mirror(e2e_mirror(tmp_path, train), verify_checksums=False)


def test_e2e_checksum_mismatch(tmp_path):
    mirror = e2e_mirror(tmp_path)
    sums = [f"{'0' * 64}  ./e2e/trainset.csv"]
    for relpath in ("e2e/devset.csv", "e2e/testset_w_refs.csv"):
        sums.append(f"{hashlib.sha256((mirror / relpath).read_bytes()).hexdigest()}  ./{relpath}")
    (mirror / "SHA256SUMS").write_text("\n".join(sums) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"trainset\.csv: sha256 mismatch"):
        read_e2e_mirror(mirror)


# ---------------------------------------------------------------- WebNLG mirror


def count_good_texts(paths) -> int:
    return sum(path.read_text(encoding="utf-8").count('comment="good"') for path in paths)


@needs_webnlg
def test_webnlg_mirror_counts_schema_and_provenance(webnlg):
    data, provenance = webnlg
    assert list(data) == ["train", "validation", "test"]
    root = MIRROR / WEBNLG_DIR
    texts = {"train": count_good_texts(root.glob("train/*triples/*.xml")),
             "validation": count_good_texts(root.glob("dev/*triples/*.xml")),
             "test": count_good_texts([root / "test/testdata_with_lex.xml"])}
    assert texts == {"train": 18025, "validation": 2258, "test": 4928}
    for split, n_entries in WEBNLG_ENTRIES.items():
        assert data[split].features == WEBNLG_FEATURES
        assert len(data[split]) == texts[split] == provenance["n_rows"][split]
        assert provenance["n_entries"][split] == n_entries
        n_without_text = len(provenance["entries_without_good_text"][split])
        assert len(set(data[split]["group"])) == n_entries - n_without_text
    assert provenance["entries_without_good_text"]["validation"] == ["Building/Id23"]
    assert (provenance["n_test_seen"], provenance["n_test_unseen"]) == (971, 891)
    assert all(data["train"]["seen"]) and all(data["validation"]["seen"])
    unseen = {category for category, seen in zip(data["test"]["category"], data["test"]["seen"])
              if not seen}
    assert unseen == WEBNLG_UNSEEN_CATEGORIES
    sums = mirror_checksums()
    # Every train/dev XML file and the two test files with texts; not testdata_no_lex.xml.
    assert set(provenance["files"]) == {path for path in sums if path.startswith(WEBNLG_DIR)
                                        and not path.endswith("testdata_no_lex.xml")}
    assert all(provenance["files"][path] == sums[path] for path in provenance["files"])


@needs_webnlg
def test_webnlg_dev_order_and_prompts_match_lora_dev_json(webnlg):
    # Entries 1, 6 and 872 of microsoft/LoRA examples/NLG/data/webnlg_challenge_2017/dev.json.
    dev = webnlg[0]["validation"]
    prompts = list(dict(zip(dev["group"], dev["prompt"])).values())
    assert dev[0]["prompt"] == prompts[0] == "Aarhus : leaderName : Jacob_Bundsgaard"
    assert dev[0]["target"] == "The leader of Aarhus is Jacob Bundsgaard."
    assert prompts[5] == 'Adolfo_Suárez_Madrid–Barajas_Airport : runwayName : "14L/32R"'
    assert prompts[-1] == (
        'Visvesvaraya_Technological_University : city : Belgaum | '
        'Acharya_Institute_of_Technology : director : "Dr. G. P. Prabhukumar" | '
        'Acharya_Institute_of_Technology : established : 2000 | '
        'Acharya_Institute_of_Technology : state : Karnataka | '
        'Acharya_Institute_of_Technology : country : "India" | '
        'Acharya_Institute_of_Technology : campus : "In Soldevanahalli, Acharya Dr. Sarvapalli '
        'Radhakrishnan Road, Hessarghatta Main Road, Bangalore – 560090." | '
        'Acharya_Institute_of_Technology : affiliation : Visvesvaraya_Technological_University')
    assert dev["group"][-3:] == [len(prompts) - 1] * 3


@needs_webnlg
@needs_golden
@pytest.mark.parametrize("split, size", [("all", 1862), ("seen", 971), ("unseen", 891)])
def test_webnlg_reference_groups_equal_golden_files(webnlg, split, size):
    test = webnlg[0]["test"]
    prompts, refs = webnlg_reference_groups(test, split)
    folder = GOLDEN / "webnlg/inputs" / split
    assert len(prompts) == len(refs) == size
    for k in range(6):
        lines = (folder / f"reference{k}").read_text(encoding="utf-8").split("\n")
        assert lines == [entry_refs[k] for entry_refs in refs]
    # entry_ids lines: eid, category, number of texts (all "good" in the test file).
    entries = {}
    for group, eid, category, seen in zip(test["group"], test["eid"], test["category"],
                                          test["seen"]):
        if split == "all" or seen == (split == "seen"):
            entries.setdefault(group, [eid, category, 0])[2] += 1
    entry_ids = ["\t".join(map(str, entry)) for entry in entries.values()]
    assert entry_ids == (folder / "entry_ids").read_text(encoding="utf-8").split("\n")


def test_webnlg_reference_groups_cut_and_pad_with_first_text():
    texts = [f"t{i}" for i in range(8)]
    split = Dataset.from_dict({
        "prompt": ["one"] + ["eight"] * 8, "target": ["only"] + texts, "group": [0] + [1] * 8,
        "eid": ["Id1"] + ["Id2"] * 8, "category": ["Artist"] + ["Food"] * 8,
        "seen": [False] + [True] * 8}, features=WEBNLG_FEATURES)
    assert webnlg_reference_groups(split) == (["one", "eight"], [["only"] * 6, texts[:6]])
    assert webnlg_reference_groups(split, "seen", max_refs=2) == (["eight"], [["t0", "t1"]])
    assert webnlg_reference_groups(split, "unseen", max_refs=2) == (["one"], [["only", "only"]])
    with pytest.raises(ValueError, match="'test'"):
        webnlg_reference_groups(split, "test")


# ---------------------------------------------------------------- WebNLG broken mirrors


def entry_xml(eid: str, category: str, mtriples: list[str],
              lexes: list[tuple[str, str]]) -> str:
    triples = "".join(f"<mtriple>{triple}</mtriple>" for triple in mtriples)
    texts = "".join(f'<lex comment="{comment}" lid="Id{i}">{text}</lex>'
                    for i, (comment, text) in enumerate(lexes, start=1))
    triple_set = f"<modifiedtripleset>{triples}</modifiedtripleset>" if mtriples else ""
    return f'<entry category="{category}" eid="{eid}" size="1">{triple_set}{texts}</entry>'


def benchmark_xml(*entries: str) -> str:
    return "<benchmark>\n<entries>\n" + "\n".join(entries) + "\n</entries>\n</benchmark>\n"


SEEN_ENTRY = entry_xml("Id1", "Airport", ["Aarhus_Airport | cityServed | \"Aarhus, Denmark\""],
                       [("good", "\n  Aarhus Airport serves Aarhus, Denmark.  \n"),
                        ("toFix", "Aarhus airport serve Aarhus."),
                        ("good", "The city of Aarhus, Denmark, is served by Aarhus Airport.")])
UNSEEN_ENTRY = entry_xml("Id2", "Artist", ["Aaron_Turner | genre | Black_metal",
                                           "Aaron_Turner | origin | Massachusetts"],
                         [("good", "Aaron Turner plays black metal and is from Massachusetts.")])
NO_TEXT_ENTRY = entry_xml("Id9", "Food", ["Bakso | country | Indonesia"],
                          [("toFix", "Bakso is from indonesia")])


def webnlg_mirror(root: Path, **overrides: str) -> Path:
    """One small XML file per size folder; overrides replace files by their name."""
    files = {}
    for split in ("train", "dev"):
        for size in range(1, 8):
            name = f"{size}triples_Airport_{split}.xml"
            files[f"{WEBNLG_DIR}/{split}/{size}triples/{name}"] = overrides.get(
                name, benchmark_xml(SEEN_ENTRY, NO_TEXT_ENTRY))
    for name, content in (("testdata_with_lex.xml", benchmark_xml(SEEN_ENTRY, UNSEEN_ENTRY)),
                          ("testdata_unseen_with_lex.xml",
                           benchmark_xml(UNSEEN_ENTRY.replace('eid="Id2"', 'eid="Id1"')))):
        files[f"{WEBNLG_DIR}/test/{name}"] = overrides.get(name, content)
    return write_files(root, files)


def test_webnlg_tiny_mirror_reads(tmp_path):
    data, provenance = read_webnlg_mirror(webnlg_mirror(tmp_path), verify_checksums=False)
    assert len(data["train"]) == 14 and set(data["train"]["group"]) == set(range(7))
    assert provenance["entries_without_good_text"]["train"] == ["Food/Id9"] * 7
    test = data["test"]
    assert test["prompt"] == ['Aarhus_Airport : cityServed : "Aarhus, Denmark"'] * 2 + [
        "Aaron_Turner : genre : Black_metal | Aaron_Turner : origin : Massachusetts"]
    assert test["target"][:2] == ["Aarhus Airport serves Aarhus, Denmark.",
                                  "The city of Aarhus, Denmark, is served by Aarhus Airport."]
    assert test["group"] == [0, 0, 1]
    assert test["eid"] == ["Id1", "Id1", "Id2"]
    assert test["seen"] == [True, True, False]


def test_webnlg_missing_test_file(tmp_path):
    mirror = webnlg_mirror(tmp_path)
    (mirror / WEBNLG_DIR / "test/testdata_with_lex.xml").unlink()
    with pytest.raises(DataError, match=r"testdata_with_lex\.xml: file not found"):
        read_webnlg_mirror(mirror, verify_checksums=False)


def test_webnlg_missing_size_folder(tmp_path):
    mirror = webnlg_mirror(tmp_path)
    (mirror / WEBNLG_DIR / "dev/7triples/7triples_Airport_dev.xml").unlink()
    with pytest.raises(DataError, match=r"dev/7triples: folder missing"):
        read_webnlg_mirror(mirror, verify_checksums=False)


@pytest.mark.parametrize("name, content, message", [
    ("3triples_Airport_train.xml", "<benchmark>\n<entries>\n<entry>\n</benchmark>\n",
     r"3triples_Airport_train\.xml line 4: not well-formed XML"),
    ("2triples_Airport_dev.xml", benchmark_xml(SEEN_ENTRY, entry_xml("Id7", "Airport", [],
                                                                     [("good", "Text.")])),
     r"2triples_Airport_dev\.xml entry Id7 \(category Airport\): no modified triples"),
    ("testdata_with_lex.xml", benchmark_xml(entry_xml("Id5", "Food", ["Bakso | country"],
                                                      [("good", "Text.")])),
     r"testdata_with_lex\.xml entry Id5 \(category Food\): modified triple 'Bakso \| country'"),
    ("testdata_with_lex.xml", benchmark_xml(entry_xml("Id5", "Food", ["Bakso | country | X"],
                                                      [("good", " ")])),
     r"testdata_with_lex\.xml entry Id5 \(category Food\): empty lexicalisation"),
    ("testdata_with_lex.xml", "<benchmark><entries></entries></benchmark>",
     r"testdata_with_lex\.xml: no <entry>"),
    ("testdata_unseen_with_lex.xml", benchmark_xml(SEEN_ENTRY),
     r"testdata_unseen_with_lex\.xml: differs from the 1 unseen-category entries"),
])
def test_webnlg_malformed_xml_names_file_and_entry(tmp_path, name, content, message):
    mirror = webnlg_mirror(tmp_path, **{name: content})
    with pytest.raises(DataError, match=message):
        read_webnlg_mirror(mirror, verify_checksums=False)


# ---------------------------------------------------------------- hub loaders (faked)


def test_load_e2e_hub_maps_to_the_mirror_schema(monkeypatch):
    def split(rows):
        return Dataset.from_dict({"meaning_representation": [mr for mr, _ in rows],
                                  "human_reference": [ref for _, ref in rows]})

    calls = []

    def fake_load_dataset(*args, **kwargs):
        calls.append(args)
        return DatasetDict({
            "train": split([("name[Aromi], eatType[pub]", "A pub. "),
                            ("name[Zizzi], priceRange[more than £30]", "Pricey."),
                            ("name[Aromi], eatType[pub]", "Aromi is a pub.")]),
            "validation": split([("name[Aromi]", "Aromi.")]),
            "test": split([("name[Cotto], familyFriendly[yes]", "Cotto welcomes kids.")])})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data, provenance = load_e2e_hub()
    assert calls == [("e2e_nlg",)]
    assert data["train"].features == E2E_FEATURES
    assert data["train"]["prompt"] == ["name : Aromi | Type : pub",
                                       "name : Zizzi | price : more than £ 30",
                                       "name : Aromi | Type : pub"]
    assert data["train"]["target"] == ["A pub.", "Pricey.", "Aromi is a pub."]
    assert data["train"]["group"] == [0, 1, 0]
    assert data["test"][0]["prompt"] == "name : Cotto | family friendly : yes"
    assert provenance["source"] == "hub"
    assert provenance["n_groups"] == {"train": 2, "validation": 1, "test": 1}


def hub_webnlg_row(eid, category, mtriples, lexes, test_category=""):
    return {"category": category, "size": len(mtriples), "eid": eid,
            "modified_triple_sets": {"mtriple_set": [mtriples]},
            "lex": {"comment": [comment for comment, _ in lexes], "lid": ["Id1"] * len(lexes),
                    "text": [text for _, text in lexes], "lang": [""] * len(lexes)},
            "test_category": test_category}


def test_load_webnlg_hub_maps_to_the_mirror_schema(monkeypatch):
    seen = ("Id1", "Airport", ["Aarhus | leaderName | Jacob_Bundsgaard"],
            [("good", "Jacob Bundsgaard leads Aarhus."), ("toFix", "bad")])
    unseen = ("Id2", "Artist", ["Aaron_Turner | genre | Black_metal"],
              [("good", "Aaron Turner plays black metal.")])
    calls = []

    def fake_load_dataset(*args, **kwargs):
        calls.append(args)
        test_rows = [hub_webnlg_row(*seen, test_category="testdata_with_lex"),
                     hub_webnlg_row(*unseen, test_category="testdata_with_lex"),
                     hub_webnlg_row(*unseen, test_category="testdata_unseen_with_lex"),
                     hub_webnlg_row("Id1", "Airport", seen[2], [], "testdata_no_lex")]
        return DatasetDict({"train": Dataset.from_list([hub_webnlg_row(*seen)]),
                            "dev": Dataset.from_list([hub_webnlg_row(*seen)]),
                            "test": Dataset.from_list(test_rows)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    data, provenance = load_webnlg_hub()
    assert calls == [("web_nlg", "webnlg_challenge_2017")]
    assert data["train"].features == WEBNLG_FEATURES
    assert data["validation"][:] == {"prompt": ["Aarhus : leaderName : Jacob_Bundsgaard"],
                                     "target": ["Jacob Bundsgaard leads Aarhus."], "group": [0],
                                     "eid": ["Id1"], "category": ["Airport"], "seen": [True]}
    assert data["test"]["prompt"] == ["Aarhus : leaderName : Jacob_Bundsgaard",
                                      "Aaron_Turner : genre : Black_metal"]
    assert data["test"]["seen"] == [True, False]
    assert provenance["source"] == "hub"
    assert (provenance["n_test_seen"], provenance["n_test_unseen"]) == (1, 1)
