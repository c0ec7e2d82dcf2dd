"""ROUGE-L as the MS-COCO caption evaluator (used by e2e-metrics) computes it.

Texts are the PTB-tokenised strings, split on single spaces (so an empty text is one empty
token). Per instance: the LCS-based F-measure with beta = 1.2 built from the *maximum*
precision and the *maximum* recall over the references (possibly from different references).
Corpus score: the mean over instances.
"""

from __future__ import annotations

import numpy as np

BETA = 1.2


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (one DP row at a time)."""
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(hyp: str, refs: list[str]) -> float:
    hyp_toks = hyp.split(" ")
    precisions, recalls = [], []
    for ref in refs:
        ref_toks = ref.split(" ")
        lcs = lcs_length(ref_toks, hyp_toks)
        precisions.append(lcs / float(len(hyp_toks)))
        recalls.append(lcs / float(len(ref_toks)))
    prec, rec = max(precisions), max(recalls)
    if prec == 0 or rec == 0:
        return 0.0
    return ((1 + BETA ** 2) * prec * rec) / float(rec + BETA ** 2 * prec)


def corpus_rouge_l(hyps: list[str], refs: list[list[str]]) -> tuple[float, list[float]]:
    scores = [rouge_l(h, r) for h, r in zip(hyps, refs, strict=True)]
    return float(np.mean(np.array(scores))), scores  # numpy's summation order, as the original
