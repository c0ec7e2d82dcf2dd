"""E2E NLG Challenge scores exactly as `measure_scores.py -p` (tuetschek/e2e-metrics) gives them.

* BLEU, NIST: pymteval on the raw texts (its own mteval tokenisation, case-insensitive).
* METEOR, ROUGE-L, CIDEr: the MS-COCO caption code on PTBTokenizer output (lower-cased,
  punctuation tokens removed), METEOR by the 1.5 jar.

Inputs, read as `measure_scores.py` reads them:
* hypotheses: plain text, one output per line (each line stripped);
* references: either plain text, one reference per line with an empty line closing each
  instance's group (a file without empty lines is single-reference), or the official CSV/TSV
  (`*.csv` / `*.tsv`, with an MR header such as `mr` and a reference header such as `ref`),
  whose consecutive rows with identical MRs form one group.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from autolora.errors import DataError
from autolora.scoring.bleu import PyMtevalBleu, score_or_none
from autolora.scoring.cider import corpus_cider
from autolora.scoring.meteor import MeteorStdio
from autolora.scoring.nist import PyMtevalNist
from autolora.scoring.ptb import ptb_tokenize
from autolora.scoring.rouge import corpus_rouge_l

METRICS = ("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr")

# Column headers measure_scores.py recognises (matched at the start of the field, any case).
MR_HEADER = re.compile(r"(mr|src|source|meaning([_ .-]rep(resentation)?)?|da|dial(ogue)?[_ .-]act)s?",
                       re.I)
REF_HEADER = re.compile(r"(trg|tgt|target|ref(erence)?|human([_ .-](ref(erence)?))?)s?", re.I)
# Mis-encoded pound and e-acute signs that measure_scores.py repairs in CSV input, in its order.
MOJIBAKE = (("Ł", "£"), ("Â£", "£"), ("Ã©", "é"), ("ã©", "é"))


def read_stripped_lines(path: Path) -> list[str]:
    """Lines as Python's codecs reader yields them (it also breaks at \\r, \\x1c, \\u2028, ...)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 ({err})") from None
    return [line.strip() for line in text.splitlines()]


def read_hypotheses(path: Path) -> list[str]:
    if re.search(r"\.[ct]sv$", str(path), re.I):
        raise DataError(f"{path}: system outputs must be plain text, one output per line")
    return read_stripped_lines(path)


def _text_reference_groups(path: Path) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for line in read_stripped_lines(path):
        if line:
            groups[-1].append(line)
        else:
            groups.append([])
    if not groups[-1]:
        groups.pop()  # the empty line that closes the last group
    if len(groups) == 1:  # no empty line at all: one reference per instance
        return [[ref] for ref in groups[0]]
    empty = [i + 1 for i, group in enumerate(groups) if not group]
    if empty:
        raise DataError(f"{path}: reference groups {empty[:5]} are empty (repeated empty lines)")
    return groups


def _csv_reference_groups(path: Path) -> list[list[str]]:
    lines = read_stripped_lines(path)
    if lines:
        lines[0] = lines[0].replace("\ufeff", "")
    for bad, good in MOJIBAKE:
        lines = [line.replace(bad, good) for line in lines]
    lines = [line for line in lines if line]
    if not lines:
        raise DataError(f"{path}: empty reference file")
    rows = list(csv.reader(lines, delimiter="\t" if "\t" in lines[0] else ","))
    header = rows[0]
    mr_cols = [i for i, field in enumerate(header) if MR_HEADER.match(field)]
    ref_cols = [i for i, field in enumerate(header) if REF_HEADER.match(field)]
    if len(mr_cols) != 1 or len(ref_cols) != 1:
        raise DataError(f"{path}: needs a header with exactly one MR column (e.g. 'mr') and one "
                        f"reference column (e.g. 'ref'); got {header}")
    bad_rows = [n for n, row in enumerate(rows[1:], start=1) if len(row) != len(header)]
    if bad_rows:
        raise DataError(f"{path}: wrong number of columns on data rows {bad_rows[:5]}")
    groups: list[list[str]] = []
    previous_mr = None
    for row in rows[1:]:
        if row[mr_cols[0]] != previous_mr:
            groups.append([])
            previous_mr = row[mr_cols[0]]
        groups[-1].append(row[ref_cols[0]])
    return groups


def read_references(path: Path) -> list[list[str]]:
    path = Path(path)
    if re.search(r"\.[ct]sv$", str(path), re.I):
        return _csv_reference_groups(path)
    return _text_reference_groups(path)


def score_e2e(refs: list[list[str]], hyps: list[str],
              meteor: MeteorStdio | None = None, allow_undefined: bool = False) -> dict[str, float | None]:
    """The five E2E metrics of `hyps` against reference groups `refs` (same order).

    Pass a running `MeteorStdio` to reuse its loaded paraphrase table across calls. Where the
    official scorer would divide by zero (NIST of outputs without 2-grams: a model that emits
    (nearly) empty texts), this raises ``UndefinedMetric`` like the scorer, or with
    ``allow_undefined`` gives None for that metric and scores the others.
    """
    if len(refs) != len(hyps):
        raise DataError(f"{len(hyps)} hypotheses but {len(refs)} reference groups")
    bleu, nist = PyMtevalBleu(), PyMtevalNist()
    for hyp, group in zip(hyps, refs):
        bleu.append(hyp, group)
        nist.append(hyp, group)
    flat_refs = ptb_tokenize([ref for group in refs for ref in group])
    tok_hyps = ptb_tokenize(hyps)
    tok_refs, start = [], 0
    for group in refs:
        tok_refs.append(flat_refs[start:start + len(group)])
        start += len(group)
    if meteor is None:
        with MeteorStdio() as own_meteor:
            meteor_score, _ = own_meteor.score(tok_hyps, tok_refs)
    else:
        meteor_score, _ = meteor.score(tok_hyps, tok_refs)
    return {"BLEU": bleu.score(), "NIST": score_or_none(nist.score, allow_undefined), "METEOR": meteor_score,
            "ROUGE_L": corpus_rouge_l(tok_hyps, tok_refs)[0],
            "CIDEr": corpus_cider(tok_hyps, tok_refs)[0]}


def score_e2e_files(refs_path: str | Path, hyp_path: str | Path,
                    meteor: MeteorStdio | None = None) -> dict[str, float]:
    refs, hyps = read_references(Path(refs_path)), read_hypotheses(Path(hyp_path))
    if len(refs) != len(hyps):
        raise DataError(f"{hyp_path}: {len(hyps)} hypotheses, but {refs_path} holds "
                        f"{len(refs)} reference groups")
    return score_e2e(refs, hyps, meteor)
