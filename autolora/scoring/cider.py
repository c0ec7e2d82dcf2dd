"""CIDEr as the MS-COCO caption evaluator's `Cider` class (used by e2e-metrics) computes it.

This is the CIDEr-D variant: 1- to 4-gram TF-IDF vectors whose document frequencies come from
the references of the evaluated set itself (so a score depends on the whole set), hypothesis
weights clipped at the reference's, a Gaussian length penalty (sigma = 6), the mean over n
and over references, times 10. Its "length" is the number of bigrams, not of words; that is
what the original code measures, so it is kept.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

MAX_N = 4
SIGMA = 6.0


def ngram_tf(text: str) -> Counter:
    """Counts of all 1..4-grams of the whitespace-split text (orders in that sequence)."""
    words = text.split()
    counts: Counter = Counter()
    for n in range(1, MAX_N + 1):
        counts.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return counts


class _Vectors:
    """TF-IDF vectors per n-gram order, their norms, and the bigram count."""

    def __init__(self, counts: Counter, doc_freq: Counter, log_num_docs: float) -> None:
        self.vec: list[dict] = [{} for _ in range(MAX_N)]
        squares = [0.0] * MAX_N
        self.length = 0
        for gram, tf in counts.items():
            order = len(gram) - 1
            weight = float(tf) * (log_num_docs - math.log(max(1.0, doc_freq[gram])))
            self.vec[order][gram] = weight
            squares[order] += weight ** 2
            if order == 1:
                self.length += tf
        self.norm = [math.sqrt(s) for s in squares]


def _similarity(hyp: _Vectors, ref: _Vectors) -> list[float]:
    penalty = math.e ** (-(float(hyp.length - ref.length) ** 2) / (2 * SIGMA ** 2))
    values = []
    for order in range(MAX_N):
        value = 0.0
        for gram, weight in hyp.vec[order].items():
            ref_weight = ref.vec[order].get(gram, 0.0)
            value += min(weight, ref_weight) * ref_weight
        if hyp.norm[order] != 0 and ref.norm[order] != 0:
            value /= hyp.norm[order] * ref.norm[order]
        values.append(value * penalty)
    return values


def corpus_cider(hyps: list[str], refs: list[list[str]]) -> tuple[float, list[float]]:
    ref_counts = [[ngram_tf(r) for r in seg] for seg in refs]
    doc_freq: Counter = Counter()
    for seg in ref_counts:  # a document is one instance's reference set
        doc_freq.update(set().union(*seg))
    log_num_docs = math.log(float(len(refs)))
    scores = []
    for hyp, seg in zip(hyps, ref_counts, strict=True):
        hyp_vec = _Vectors(ngram_tf(hyp), doc_freq, log_num_docs)
        total = np.zeros(MAX_N)
        for ref in seg:
            total += np.array(_similarity(hyp_vec, _Vectors(ref, doc_freq, log_num_docs)))
        scores.append(float(np.mean(total)) / len(seg) * 10.0)
    return float(np.mean(np.array(scores))), scores
