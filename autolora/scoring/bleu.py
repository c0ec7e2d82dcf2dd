"""Corpus BLEU as the two official scripts compute it.

* `PyMtevalBleu`: e2e-metrics' pymteval BLEUScore (`measure_scores.py -p`): case-insensitive
  4-gram BLEU, clipped counts against the per-n-gram maximum over references, closest
  reference length (ties -> shorter), tiny floors instead of smoothing. 0-1 scale.
* `multi_bleu_detok`: Moses' multi-bleu-detok.perl as GenerationEval runs it on the raw
  WebNLG files: case-sensitive, same clipping and closest length, log(0) := -9999999999,
  printed with 2 decimals on a 0-100 scale (that printout is what eval.py keeps).
"""

from __future__ import annotations

import math
from collections import Counter

from autolora.scoring.mteval import tokenize_perl, tokenize_python

BLEU_ORDER = 4



class UndefinedMetric(ValueError):
    """The official scorer has no value for these outputs (it would divide by zero)."""


def score_or_none(score, allow_undefined: bool):
    """``score()``, or None where the metric is undefined and the caller accepts that."""
    try:
        return score()
    except UndefinedMetric:
        if allow_undefined:
            return None
        raise


def ngram_counts(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def max_ref_counts(refs: list[list[str]], n: int) -> Counter:
    """For each n-gram, the most times any single reference contains it (the clipping cap)."""
    merged: Counter = Counter()
    for ref in refs:
        merged |= ngram_counts(ref, n)  # | keeps the maximum of the two counts
    return merged


def clipped_hits(hyp: list[str], refs: list[list[str]], n: int) -> int:
    cap = max_ref_counts(refs, n)
    return sum(min(count, cap[gram]) for gram, count in ngram_counts(hyp, n).items())


def closest_ref_length(hyp_len: int, ref_lens: list[int]) -> int:
    return min(ref_lens, key=lambda length: (abs(length - hyp_len), length))


class PyMtevalBleu:
    """Accumulates segments; `score()` gives pymteval's corpus BLEU (0-1)."""

    TINY, SMALL = 1e-15, 1e-9  # floors for zero hits / zero candidate n-grams

    def __init__(self) -> None:
        self.ref_len = 0
        self.cand_lens = [0] * BLEU_ORDER
        self.hits = [0] * BLEU_ORDER

    def append(self, hyp: str, refs: list[str]) -> None:
        hyp_toks = [t.lower() for t in tokenize_python(hyp)]
        ref_toks = [[t.lower() for t in tokenize_python(ref)] for ref in refs]
        for i in range(BLEU_ORDER):
            self.hits[i] += clipped_hits(hyp_toks, ref_toks, i + 1)
            self.cand_lens[i] += len(hyp_toks) - i  # pymteval does not floor this at 0
        self.ref_len += closest_ref_length(len(hyp_toks), [len(r) for r in ref_toks])

    def score(self) -> float:
        log_sum = 0.0
        for hits, total in zip(self.hits, self.cand_lens):
            log_sum += math.log(max(float(hits), self.TINY) / max(float(total), self.SMALL))
        brevity = 1.0
        if self.cand_lens[0] <= self.ref_len:
            brevity = math.exp(1.0 - self.ref_len / (float(self.cand_lens[0]) or 1e-5))
        return brevity * math.exp(log_sum / BLEU_ORDER)


def _perl_log(x: float) -> float:
    return math.log(x) if x else -9999999999.0


def multi_bleu_detok(hyps: list[str], refs: list[list[str]]) -> dict:
    """multi-bleu-detok.perl on already-read lines (without their newlines).

    Returns the printed BLEU (`BLEU`, what eval.py keeps), the unrounded value, and the
    script's whole summary line.
    """
    correct, total = [0] * BLEU_ORDER, [0] * BLEU_ORDER
    hyp_len = ref_len = 0
    for hyp, seg_refs in zip(hyps, refs, strict=True):
        hyp_toks = tokenize_perl(hyp)
        ref_toks = [tokenize_perl(ref) for ref in seg_refs]
        hyp_len += len(hyp_toks)
        ref_len += closest_ref_length(len(hyp_toks), [len(r) for r in ref_toks])
        for i in range(BLEU_ORDER):
            correct[i] += clipped_hits(hyp_toks, ref_toks, i + 1)
            total[i] += max(len(hyp_toks) - i, 0)
    if ref_len == 0 or hyp_len == 0:
        raise UndefinedMetric("multi-bleu-detok.perl is undefined here: "
                         f"hypothesis length {hyp_len}, reference length {ref_len}")
    precisions = [c / t if t else 0.0 for c, t in zip(correct, total)]
    brevity = math.exp(1 - ref_len / hyp_len) if hyp_len < ref_len else 1.0
    bleu = brevity * math.exp(sum(_perl_log(p) for p in precisions) / BLEU_ORDER)
    line = ("BLEU = %.2f, %.1f/%.1f/%.1f/%.1f (BP=%.3f, ratio=%.3f, hyp_len=%d, ref_len=%d)"
            % (100 * bleu, *(100 * p for p in precisions), brevity, hyp_len / ref_len,
               hyp_len, ref_len))
    return {"BLEU": float("%.2f" % (100 * bleu)), "BLEU_unrounded": 100 * bleu, "line": line}
