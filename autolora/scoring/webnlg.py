"""WebNLG 2017 scores exactly as GenerationEval's `eval.py -nr 6 -m bleu,meteor,ter` gives them
(in LoRA's copy of eval.py).

* BLEU: multi-bleu-detok.perl on the raw lines (0-100, 2 decimals, the script's precision).
  Each line loses only its newline: Moses' copy would `chop` the last character off a final
  line without one, but the hyp_len/ref_len of the golden GenerationEval runs show that its
  copy keeps that line whole.
* METEOR: meteor-1.5.jar `-l en -norm -r 6` on `' '.join(nltk.word_tokenize(line))` texts.
* TER: per segment the minimum over the references of pyter's TER on the same tokenised
  texts (1 for an empty reference); the corpus value is the mean over segments.

Files: UTF-8, one segment per line, read with `text.split('\\n')`, so a final newline would
add an empty segment (an error here). References are `reference0` ... `reference5`; line i of
every file is entry i, entries with fewer references repeat their first one.

Folder layout for `score_webnlg_files(refs_dir, hyp, split)`:
* `refs_dir/<split>/reference0..5` when that sub-folder exists (per-split files, as
  LoRA's `gpt2_decode.py --filter` writes them); otherwise
* `refs_dir/reference0..5` hold the whole test set. For `seen`/`unseen` the split's entries
  are picked with `refs_dir/entry_ids` (tab-separated, the category in the 2nd column), seen
  meaning one of LoRA's ten seen categories. The hypothesis file may then hold either the
  whole test set (it is filtered the same way) or just the split.
"""

from __future__ import annotations

import math
from pathlib import Path

from autolora.errors import DataError
from autolora.scoring.bleu import score_or_none, multi_bleu_detok
from autolora.scoring.meteor import meteor_files
from autolora.scoring.nltk_tok import nltk_tokenize
from autolora.scoring.ter import ter

NUM_REFS = 6
SPLITS = ("all", "seen", "unseen")
SEEN_CATEGORIES = frozenset({"Airport", "Astronaut", "Building", "City", "ComicsCharacter",
                             "Food", "Monument", "SportsTeam", "University", "WrittenWork"})


def read_segments(path: Path) -> list[str]:
    """eval.py's `codecs.open(path, 'r', 'utf-8').read().split('\\n')` (no newline translation)."""
    try:
        return path.read_bytes().decode("utf-8").split("\n")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 ({err})") from None


def read_reference_folder(folder: Path, num_refs: int = NUM_REFS) -> list[list[str]]:
    """Per segment, its `num_refs` references from folder/reference0 ... reference{num_refs-1}."""
    columns = [read_segments(folder / f"reference{k}") for k in range(num_refs)]
    for k, column in enumerate(columns):
        if len(column) != len(columns[0]):
            raise DataError(f"{folder / f'reference{k}'}: {len(column)} lines, but "
                            f"{folder / 'reference0'} has {len(columns[0])}")
    refs = [list(seg) for seg in zip(*columns)]
    if refs and not any(refs[-1]):
        raise DataError(f"{folder}: the last segment has only empty references; do the "
                        "reference files end with a newline? (WebNLG files must not)")
    return refs


def _split_lines(refs_dir: Path, split: str) -> list[int]:
    ids_file = refs_dir / "entry_ids"
    try:
        rows = [line.split("\t") for line in ids_file.read_text("utf-8").splitlines() if line]
    except FileNotFoundError:
        raise DataError(f"{ids_file}: needed to select the {split} entries (or give a folder "
                        f"with a '{split}' sub-folder)") from None
    if any(len(row) < 2 for row in rows):
        raise DataError(f"{ids_file}: every line needs 'id<TAB>category'")
    return [i for i, row in enumerate(rows) if (row[1] in SEEN_CATEGORIES) == (split == "seen")]


def load_split(refs_dir: str | Path, hyp_path: str | Path,
               split: str = "all") -> tuple[list[list[str]], list[str]]:
    """References and hypotheses of one split, following the layout in the module docstring."""
    if split not in SPLITS:
        raise DataError(f"unknown WebNLG split {split!r}; use one of {', '.join(SPLITS)}")
    refs_dir, hyp_path = Path(refs_dir), Path(hyp_path)
    hyps = read_segments(hyp_path)
    if (refs_dir / split / "reference0").is_file():
        refs = read_reference_folder(refs_dir / split)
    else:
        refs = read_reference_folder(refs_dir)
        if split != "all":
            keep = _split_lines(refs_dir, split)
            if len(keep) > len(refs):
                raise DataError(f"{refs_dir / 'entry_ids'} lists more entries than "
                                f"{refs_dir / 'reference0'} has lines")
            if len(hyps) == len(refs):
                hyps = [hyps[i] for i in keep]
            refs = [refs[i] for i in keep]
    if len(hyps) != len(refs):
        hint = " (it ends with a newline; WebNLG files must not)" \
            if len(hyps) == len(refs) + 1 and hyps[-1] == "" else ""
        raise DataError(f"{hyp_path}: {len(hyps)} hypotheses, but the {split} references "
                        f"in {refs_dir} have {len(refs)} segments{hint}")
    return refs, hyps


def perl_lines(segments: list[str]) -> list[str]:
    """The lines the Perl script reads from a file that eval.py splits into `segments`: a
    final empty segment is no line to Perl (the file ends with a newline)."""
    return segments[:-1] if segments and segments[-1] == "" else segments


def webnlg_bleu(refs: list[list[str]], hyps: list[str], num_refs: int = NUM_REFS) -> dict:
    """multi-bleu-detok.perl over the files these raw segments came from."""
    columns = [perl_lines([seg[k] for seg in refs]) for k in range(num_refs)]
    perl_hyps = perl_lines(hyps)
    perl_refs = [[col[s] for col in columns if s < len(col)] for s in range(len(perl_hyps))]
    return multi_bleu_detok(perl_hyps, perl_refs)


def segment_ter(hyp: str, refs: list[str]) -> float:
    """eval.py's TER of one segment: the minimum over references (1 for an empty reference)."""
    hyp_words, best = hyp.split(), math.inf
    for ref in dict.fromkeys(refs):  # repeated (padding) references give the same value
        ref_words = ref.split()
        if not ref_words:  # eval.py's value for an empty reference (pyter would divide by 0)
            best = min(best, 1.0)
            continue
        if abs(len(hyp_words) - len(ref_words)) / len(ref_words) >= best:
            continue  # TER >= |length difference| / len(ref): cannot beat `best`
        best = min(best, ter(hyp_words, ref_words))
    return best


def corpus_ter(tok_hyps: list[str], tok_refs: list[list[str]]) -> float:
    ters = [segment_ter(h, seg) for h, seg in zip(tok_hyps, tok_refs, strict=True)]
    return sum(ters) / len(ters)


def score_webnlg(refs: list[list[str]], hyps: list[str], num_refs: int = NUM_REFS,
                 allow_undefined: bool = False) -> dict:
    """BLEU (0-100, as printed), METEOR and TER (0-1) of `hyps` against `refs` (raw text).

    BLEU and METEOR of all-empty outputs are undefined (multi-bleu divides by zero, the METEOR
    jar reads no segment): ``UndefinedMetric``, or None with ``allow_undefined``."""
    if len(refs) != len(hyps) or not hyps:
        raise DataError(f"{len(hyps)} hypotheses for {len(refs)} reference segments")
    if any(len(seg) < num_refs for seg in refs):
        raise DataError(f"every segment needs {num_refs} references (pad with the first one)")
    bleu = score_or_none(lambda: webnlg_bleu(refs, hyps, num_refs), allow_undefined) or {"BLEU": None, "line": None}
    tok_hyps = [nltk_tokenize(h) for h in hyps]
    tok_refs = [[nltk_tokenize(r) for r in seg[:num_refs]] for seg in refs]
    meteor = score_or_none(lambda: meteor_files(tok_hyps, tok_refs, num_refs), allow_undefined)
    return {"BLEU": bleu["BLEU"], "METEOR": meteor, "TER": corpus_ter(tok_hyps, tok_refs),
            "multi_bleu": bleu["line"]}


def score_webnlg_files(refs_dir: str | Path, hyp_path: str | Path, split: str = "all") -> dict:
    refs, hyps = load_split(refs_dir, hyp_path, split)
    return score_webnlg(refs, hyps)
