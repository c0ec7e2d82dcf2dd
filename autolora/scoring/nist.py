"""Corpus NIST as e2e-metrics' pymteval NISTScore computes it (`measure_scores.py -p`).

Case-insensitive 5-grams. Each matched n-gram (clipped as in BLEU) earns its information
weight log2(count(prefix) / count(n-gram)), counted over all references of the corpus
(the 0-gram count is the total number of reference words). The length penalty compares the
total output length with the sum over segments of that segment's mean reference length; the
Perl mteval uses a different average when segments have different numbers of references,
which is why `measure_scores.py` without `-p` can print another NIST.
"""

from __future__ import annotations

import math
from collections import Counter

from autolora.scoring.bleu import UndefinedMetric, max_ref_counts, ngram_counts
from autolora.scoring.mteval import tokenize_python

NIST_ORDER = 5
BETA = -math.log(0.5) / math.log(1.5) ** 2  # penalty 0.5 at 2/3 of the reference length


class PyMtevalNist:
    """Accumulates segments; `score()` gives pymteval's corpus NIST."""

    def __init__(self) -> None:
        self.ref_counts: list[Counter] = [Counter() for _ in range(NIST_ORDER + 1)]
        self.hits: list[list[dict]] = [[] for _ in range(NIST_ORDER)]  # per order, per segment
        self.cand_lens = [0] * NIST_ORDER
        self.avg_ref_len = 0.0

    def append(self, hyp: str, refs: list[str]) -> None:
        hyp_toks = [t.lower() for t in tokenize_python(hyp)]
        ref_toks = [[t.lower() for t in tokenize_python(ref)] for ref in refs]
        for i in range(NIST_ORDER):
            n = i + 1
            self.cand_lens[i] += len(hyp_toks) - i
            cap = max_ref_counts(ref_toks, n)
            clipped = {g: min(c, cap[g]) for g, c in ngram_counts(hyp_toks, n).items()}
            self.hits[i].append({g: c for g, c in clipped.items() if c})
            for ref in ref_toks:
                self.ref_counts[n].update(ngram_counts(ref, n))
        ref_words = sum(len(ref) for ref in ref_toks)
        self.ref_counts[0][()] += ref_words
        self.avg_ref_len += ref_words / float(len(ref_toks))

    def info(self, gram: tuple) -> float:
        count = self.ref_counts[len(gram)][gram]
        if not count:
            return 0.0
        return math.log(self.ref_counts[len(gram) - 1][gram[:-1]] / float(count), 2)

    def length_penalty(self) -> float:
        ratio = self.cand_lens[0] / float(self.avg_ref_len)
        if ratio >= 1:
            return 1.0
        if ratio <= 0:
            return 0.0
        return math.exp(-BETA * math.log(ratio) ** 2)

    def score(self) -> float:
        total = 0.0
        for i in range(NIST_ORDER):
            if self.cand_lens[i] == 0:
                raise UndefinedMetric(f"NIST undefined: the outputs hold no {i + 1}-gram position "
                                 "(pymteval divides by zero here)")
            info_sum = 0.0
            for seg_hits in self.hits[i]:  # summed per segment first, as pymteval does
                info_sum += sum(self.info(g) * c for g, c in seg_hits.items())
            total += info_sum / self.cand_lens[i]
        return self.length_penalty() * total
