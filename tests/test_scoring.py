"""autolora.scoring against the golden vectors of the official E2E and WebNLG scorers.

The golden folder (shared/golden, see its README) holds inputs and the scores that the
unmodified official code produced. Tolerances follow that README:
* E2E `-p` cases: BLEU, NIST, ROUGE_L, CIDEr to 1e-9 (same algorithms, float sums may be
  ordered differently); METEOR to 1e-12 (same jar, same input strings).
* E2E Perl cases: printed to 4 decimals, so |delta| <= 5e-5. We implement the `-p` NIST, whose
  length penalty uses another average reference length than the Perl mteval; the Perl NIST is
  checked by swapping in the Perl average, which must then reproduce it.
* WebNLG: BLEU is the 2-decimal number multi-bleu-detok.perl prints (we also match its whole
  summary line); METEOR and TER to 1e-12 (nltk 3.5 tokenisation, the pinned one).

The Java-backed tests share one METEOR process (its paraphrase table takes ~10 s to load);
WebNLG's official file-mode call, one jar run per case, is exercised on two cases.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from autolora.errors import DataError
from autolora.scoring import cli
from autolora.scoring.bleu import PyMtevalBleu, multi_bleu_detok
from autolora.scoring.cider import corpus_cider
from autolora.scoring.e2e import read_hypotheses, read_references, score_e2e_files
from autolora.scoring.meteor import MeteorStdio
from autolora.scoring.mteval import tokenize_perl, tokenize_python
from autolora.scoring.nist import PyMtevalNist
from autolora.scoring.nltk_tok import nltk_tokenize
from autolora.scoring.ptb import ptb_tokenize
from autolora.scoring.rouge import corpus_rouge_l, lcs_length
from autolora.scoring.ter import _EditDistance, ter
from autolora.scoring.webnlg import (corpus_ter, load_split, perl_lines, score_webnlg_files,
                                     webnlg_bleu)

from tests.conftest import SHARED, require_shared

GOLDEN = SHARED / "golden"
needs_golden = pytest.mark.needs_shared("golden")

E2E_INPUTS = {
    "e2e_example": ("example.devel-conc.refs.txt", "example.baseline-output.hyp.txt"),
    "e2e_dev_template": ("devset.refs.txt", "devset.template.hyp.txt"),
    "e2e_dev_firstref": ("devset.refs.txt", "devset.firstref.hyp.txt"),
    "e2e_dev_template_lc_drop3": ("devset.refs.txt", "devset.template_lc_drop3.hyp.txt"),
}
WEBNLG_CASES = [f"webnlg_{hyp}{tok}_{split}" for hyp in ("template", "firstref")
                for tok in ("", "_loratok") for split in ("all", "seen", "unseen")]


def golden_case(task: str, case: str) -> dict:
    return json.loads((GOLDEN / task / "cases" / case / "scores.json").read_text())


def e2e_paths(case: str) -> tuple[Path, Path]:
    refs, hyp = E2E_INPUTS[case]
    return GOLDEN / "e2e" / "inputs" / refs, GOLDEN / "e2e" / "inputs" / hyp


def webnlg_paths(case: str) -> tuple[Path, Path, str]:
    """(folder holding the split sub-folders, hypothesis file, split) of a WebNLG case."""
    split = case.rsplit("_", 1)[1]
    inputs = GOLDEN / "webnlg" / ("inputs_loratok" if "_loratok_" in case else "inputs")
    hyp = "hyp.template" if case.startswith("webnlg_template") else "hyp.firstref"
    return inputs, inputs / split / hyp, split


# ---------------------------------------------------------------- pieces, no Java needed


def test_mteval_tokenisation_follows_mteval_rules():
    # Punctuation split off; period/comma kept inside numbers; dash split after a digit.
    assert tokenize_python("Price: £20-25, 3.5 stars.") == \
        ["Price", ":", "£20", "-", "25", ",", "3.5", "stars", "."]
    # Entities are decoded once, in mteval's order: "&amp;quot;" ends up as the text "&quot;".
    assert tokenize_python("&quot;Hi&quot; &amp;quot;") == ['"', "Hi", '"', "&", "quot", ";"]
    assert tokenize_python("") == [""]  # pymteval counts one empty token
    assert tokenize_perl("") == []
    # Perl does not treat U+001C as whitespace; Python does.
    assert tokenize_perl("a\x1cb") == ["a\x1cb"] and tokenize_python("a\x1cb") == ["a", "b"]


def test_pymteval_bleu_and_nist_basics():
    bleu, nist = PyMtevalBleu(), PyMtevalNist()
    for scorer in (bleu, nist):
        scorer.append("The cat sat on the mat today .", ["the cat sat on the mat today."])
    assert bleu.score() == pytest.approx(1.0)
    assert nist.score() > 0


def test_edit_distance_matches_plain_dynamic_programming():
    def levenshtein(a, b):
        previous = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            current = [i]
            for j, y in enumerate(b, 1):
                current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
            previous = current
        return previous[-1]

    rng = random.Random(0)
    for _ in range(500):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 15))]
        b = [rng.choice("abcde") for _ in range(rng.randint(1, 70))]  # > 64 bits too
        distance = _EditDistance(b)
        assert distance.finish(distance.start(), a) == levenshtein(a, b)


def test_ter_example_from_pyter():
    ref = "SAUDI ARABIA denied THIS WEEK information published in the AMERICAN new york times"
    hyp = "THIS WEEK THE SAUDIS denied information published in the new york times"
    assert f"{ter(hyp.split(), ref.split()):.3f}" == "0.308"
    assert ter([], ["a", "b"]) == 1.0
    with pytest.raises(ZeroDivisionError):
        ter(["a"], [])


def test_ter_equals_pyter_including_tie_breaks():
    pyter = pytest.importorskip("pyter")
    rng = random.Random(1)
    for _ in range(400):  # small vocabularies make many equal-gain shifts
        hyp = [rng.choice("abcd") for _ in range(rng.randint(0, 12))]
        ref = [rng.choice("abcd") for _ in range(rng.randint(1, 12))]
        assert ter(hyp, ref) == pyter.ter(hyp, ref), (hyp, ref)


def test_rouge_l_edge_cases():
    assert lcs_length("a b c d".split(), "a c d b".split()) == 3
    score, _ = corpus_rouge_l(["a b"], [["a b", "c"]])
    assert score == pytest.approx(1.0)
    assert corpus_rouge_l(["x"], [["y"]])[0] == 0.0


def test_cider_identical_texts_score_high_and_unrelated_zero():
    hyps = ["a b c d", "e f g h"]
    refs = [["a b c d"], ["x y z w"]]
    _, scores = corpus_cider(hyps, refs)
    assert scores[0] > 0 and scores[1] == 0.0


# ---------------------------------------------------------------- input handling


@needs_golden
def test_e2e_csv_groups_equal_the_text_groups():
    csv_file = SHARED / "data" / "e2e" / "devset.csv"
    require_shared(csv_file)
    from_text = read_references(GOLDEN / "e2e" / "inputs" / "devset.refs.txt")
    from_csv = read_references(csv_file)
    # One CSV reference ends in a space inside its quotes; the text file has it stripped.
    assert [[r.strip() for r in g] for g in from_csv] == from_text
    assert len(from_text) == 547 and sum(map(len, from_text)) == 4672


def test_e2e_reference_formats(tmp_path):
    multi = tmp_path / "refs.txt"
    multi.write_text("a\nb\n\nc\n\n")
    assert read_references(multi) == [["a", "b"], ["c"]]
    single = tmp_path / "single.txt"
    single.write_text("a\nb\n")
    assert read_references(single) == [["a"], ["b"]]
    broken = tmp_path / "broken.txt"
    broken.write_text("a\n\n\nb\n\n")
    with pytest.raises(DataError, match="broken.txt"):
        read_references(broken)
    tsv = tmp_path / "refs.tsv"
    tsv.write_text("mr\tref\nm1\tx\nm1\ty\nm2\tz\n")
    assert read_references(tsv) == [["x", "y"], ["z"]]
    headless = tmp_path / "nohead.csv"
    headless.write_text("m1,x\n")
    with pytest.raises(DataError, match="nohead.csv"):
        read_references(headless)


def test_e2e_bad_input_names_the_file(tmp_path):
    refs = tmp_path / "refs.txt"
    refs.write_text("a\n\nb\n\n")
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("a\n")
    with pytest.raises(DataError, match="hyp.txt: 1 hypotheses.*2 reference groups"):
        score_e2e_files(refs, hyp)
    with pytest.raises(DataError, match="missing.txt"):
        read_hypotheses(tmp_path / "missing.txt")


@needs_golden
def test_webnlg_split_selection_from_whole_test_set():
    inputs = GOLDEN / "webnlg" / "inputs"
    for split in ("seen", "unseen"):
        expected = load_split(inputs, inputs / split / "hyp.template", split)
        # whole-set hypotheses, filtered like the references
        assert load_split(inputs / "all", inputs / "all" / "hyp.template", split) == expected
        # split-only hypotheses (LoRA's gpt2_decode.py --filter output)
        assert load_split(inputs / "all", inputs / split / "hyp.template", split) == expected
    refs, hyps = load_split(inputs, inputs / "all" / "hyp.template", "all")
    assert len(refs) == len(hyps) == 1862 and all(len(seg) == 6 for seg in refs)


def test_webnlg_bad_input(tmp_path):
    for k in range(6):
        (tmp_path / f"reference{k}").write_text("a b.\nc d.")
    hyp = tmp_path / "hyp"
    hyp.write_text("a b.\nc d.\n")
    with pytest.raises(DataError, match="hyp: 3 hypotheses.*ends with a newline"):
        load_split(tmp_path, hyp)
    (tmp_path / "reference4").unlink()
    with pytest.raises(DataError, match="reference4"):
        load_split(tmp_path, hyp)
    with pytest.raises(DataError, match="entry_ids"):
        (tmp_path / "reference4").write_text("a b.\nc d.")
        load_split(tmp_path, hyp, "seen")


def test_perl_reads_lines_without_newlines():
    assert perl_lines(["a.", "b."]) == ["a.", "b."]
    assert perl_lines(["a.", "b.", ""]) == ["a.", "b."]
    result = multi_bleu_detok(["the cat sat on the mat ."], [["the cat sat on the mat."]])
    assert result["BLEU"] == 100.0


# ---------------------------------------------------------------- CLI


def test_cli_prints_json(monkeypatch, capsys, tmp_path):
    refs, hyp = tmp_path / "r.txt", tmp_path / "h.txt"
    refs.write_text("a reference\n")
    hyp.write_text("an output\n")
    monkeypatch.setattr(cli, "score_e2e_files", lambda refs, hyp: {"BLEU": 0.5})
    assert cli.main(["score", "e2e", str(refs), str(hyp)]) == 0
    assert json.loads(capsys.readouterr().out) == {"task": "e2e", "metrics": {"BLEU": 0.5}}
    monkeypatch.setattr(cli, "score_webnlg_files",
                        lambda d, h, s: {"BLEU": 1.0, "METEOR": 0.1, "TER": 0.9, "multi_bleu": "x"})
    assert cli.main(["webnlg", str(tmp_path), str(hyp), "--split", "seen"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == "seen" and printed["metrics"]["TER"] == 0.9


def test_cli_reports_bad_input(tmp_path, capsys):
    assert cli.main(["e2e", str(tmp_path / "refs.txt"), str(tmp_path / "hyp.txt")]) == 2
    assert "refs.txt: not found; expected a text file" in capsys.readouterr().err
    (tmp_path / "hyp").write_text("a")
    assert cli.main(["webnlg", str(tmp_path), str(tmp_path / "hyp")]) == 2
    assert "reference0: no such file" in capsys.readouterr().err


# ---------------------------------------------------------------- golden: WebNLG BLEU (no Java)


@needs_golden
@pytest.mark.parametrize("case", WEBNLG_CASES)
def test_webnlg_multi_bleu_summary_line(case):
    inputs, hyp, split = webnlg_paths(case)
    refs, hyps = load_split(inputs, hyp, split)
    expected = golden_case("webnlg", case)
    result = webnlg_bleu(refs, hyps)
    assert result["line"] == expected["extra"]["multi_bleu_detok_output"]
    assert result["BLEU"] == expected["metrics"]["BLEU"]


# ---------------------------------------------------------------- golden: full scorers (Java)


@pytest.fixture(scope="module")
def meteor():
    """One METEOR -stdio process (one paraphrase-table load) for the whole module."""
    require_shared(GOLDEN)
    with MeteorStdio() as process:
        yield process


@pytest.fixture(scope="module")
def e2e_scores(meteor):
    """Every E2E case scored once, through the same code path as the CLI."""
    return {case: score_e2e_files(*e2e_paths(case), meteor=meteor) for case in E2E_INPUTS}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(E2E_INPUTS))
def test_e2e_matches_measure_scores_python(e2e_scores, case):
    expected = golden_case("e2e", f"{case}__python")["metrics"]
    got = e2e_scores[case]
    for metric in ("BLEU", "NIST", "ROUGE_L", "CIDEr"):
        assert got[metric] == pytest.approx(expected[metric], abs=1e-9, rel=0), metric
    assert got["METEOR"] == pytest.approx(expected["METEOR"], abs=1e-12, rel=0)


@pytest.mark.parametrize("case", list(E2E_INPUTS))
def test_e2e_matches_measure_scores_perl(e2e_scores, case):
    expected = golden_case("e2e", f"{case}__perl")["metrics"]
    got = e2e_scores[case]
    assert got["BLEU"] == pytest.approx(expected["BLEU"], abs=5e-5, rel=0)
    for metric in ("METEOR", "ROUGE_L", "CIDEr"):
        assert got[metric] == pytest.approx(expected[metric], abs=1e-9, rel=0), metric
    # mteval-v13a's average reference length: total reference words x segments / references.
    refs_path, hyp_path = e2e_paths(case)
    refs, hyps = read_references(refs_path), read_hypotheses(hyp_path)
    nist = PyMtevalNist()
    for hyp, group in zip(hyps, refs):
        nist.append(hyp, group)
    nist.avg_ref_len = nist.ref_counts[0][()] * len(refs) / sum(map(len, refs))
    assert nist.score() == pytest.approx(expected["NIST"], abs=5e-5, rel=0)


def test_e2e_segment_scores_of_example(meteor):
    """Per-instance METEOR, ROUGE_L and CIDEr of the example, as the COCO evaluator keeps them."""
    refs_path, hyp_path = e2e_paths("e2e_example")
    refs, hyps = read_references(refs_path), read_hypotheses(hyp_path)
    flat = ptb_tokenize([r for group in refs for r in group])
    tok_refs, start = [], 0
    for group in refs:
        tok_refs.append(flat[start:start + len(group)])
        start += len(group)
    tok_hyps = ptb_tokenize(hyps)
    expected = json.loads((GOLDEN / "e2e" / "cases" / "e2e_example__python" /
                           "segment_scores.json").read_text())
    meteor_segments = meteor.score(tok_hyps, tok_refs)[1]
    rouge_segments = corpus_rouge_l(tok_hyps, tok_refs)[1]
    cider_segments = corpus_cider(tok_hyps, tok_refs)[1]
    for i, seg in enumerate(expected):
        assert meteor_segments[i] == pytest.approx(seg["METEOR"], abs=1e-12, rel=0)
        assert rouge_segments[i] == pytest.approx(seg["ROUGE_L"], abs=1e-12, rel=0)
        assert cider_segments[i] == pytest.approx(seg["CIDEr"], abs=1e-9, rel=0)


# WebNLG. The official METEOR call is one file-mode jar run per case (~10 s of table loading
# each); the full path `score_webnlg_files` runs for two cases. For every case, METEOR is also
# computed on the same nltk-tokenised strings through the shared -stdio process: the jar
# aggregates the same per-segment statistics there, and both modes gave bit-identical values
# on all 12 golden cases.
WEBNLG_FULL_PATH_CASES = ["webnlg_template_unseen", "webnlg_template_loratok_seen"]


@pytest.mark.slow
@pytest.mark.parametrize("case", WEBNLG_FULL_PATH_CASES)
def test_webnlg_matches_generation_eval(case):
    require_shared(GOLDEN)
    expected = golden_case("webnlg", case)["metrics"]
    got = score_webnlg_files(*webnlg_paths(case))
    assert got["BLEU"] == pytest.approx(expected["BLEU"], abs=0.005, rel=0)
    assert got["METEOR"] == pytest.approx(expected["METEOR"], abs=1e-12, rel=0)
    assert got["TER"] == pytest.approx(expected["TER"], abs=1e-12, rel=0)


@pytest.mark.slow
@pytest.mark.parametrize("case", WEBNLG_CASES)
def test_webnlg_meteor_and_ter(meteor, case):
    refs, hyps = load_split(*webnlg_paths(case))
    tok_hyps = [nltk_tokenize(h) for h in hyps]
    tok_refs = [[nltk_tokenize(r) for r in seg] for seg in refs]
    expected = golden_case("webnlg", case)["metrics"]
    assert meteor.score(tok_hyps, tok_refs)[0] == pytest.approx(expected["METEOR"], abs=1e-12, rel=0)
    assert corpus_ter(tok_hyps, tok_refs) == pytest.approx(expected["TER"], abs=1e-12, rel=0)


@pytest.mark.slow
def test_nist_of_empty_outputs_is_undefined_like_the_official_scorer():
    from autolora.scoring import UndefinedMetric, score_e2e

    refs, hyps = [["The Vaults is a pub ."], ["Aromi is a coffee shop ."]], ["", ""]
    with pytest.raises(UndefinedMetric, match="NIST undefined"):
        score_e2e(refs, hyps)
    scores = score_e2e(refs, hyps, allow_undefined=True)
    assert scores["NIST"] is None and scores["BLEU"] < 1e-6


@pytest.mark.slow
def test_webnlg_meteor_takes_an_empty_last_output_and_all_empty_is_undefined():
    from autolora.scoring import UndefinedMetric, score_webnlg

    refs = [["Aarhus is led by Jacob Bundsgaard ."] * 6, ["The Vaults is a pub ."] * 6]
    swapped = score_webnlg(refs[::-1], ["", "Aarhus is led by Jacob ."])
    assert score_webnlg(refs, ["Aarhus is led by Jacob .", ""])["METEOR"] == pytest.approx(swapped["METEOR"], abs=1e-12)
    with pytest.raises(UndefinedMetric):
        score_webnlg(refs, ["", ""])
    assert score_webnlg(refs, ["", ""], allow_undefined=True)["METEOR"] is None
