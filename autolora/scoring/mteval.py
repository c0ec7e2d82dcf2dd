"""mteval-v13a's "basic" tokenisation, as both official BLEU/NIST paths use it.

E2E's `measure_scores.py -p` (pymteval) applies it with Python's regex engine, and WebNLG's
multi-bleu-detok.perl with Perl's. The rules are the same; only what counts as whitespace
differs (Python also treats U+001C..U+001F as whitespace, Perl does not), so each caller
picks its flavour.
"""

from __future__ import annotations

import re

# Every character mteval splits off as its own token: { | } ~ [ \ ] ^ _ ` space ! " # $ % &
# ( ) * + : ; < = > ? @ /   (not . , - ' which get the context rules below).
_PUNCT = re.compile(r"([{|}~\[\\\]^_`\x20!\"#$%&()*+:;<=>?@/])")
_PERIOD_COMMA_AFTER_NONDIGIT = re.compile(r"([^0-9])([.,])")
_PERIOD_COMMA_BEFORE_NONDIGIT = re.compile(r"([.,])([^0-9])")
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")
_SGML_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))

# Perl's \s on character strings (Unicode rules); Python's \s adds U+001C..U+001F.
PERL_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_PERL_SPACES = re.compile(f"[{PERL_SPACE}]+")
_PYTHON_SPACES = re.compile(r"\s+")


def _split_punctuation(text: str) -> str:
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    for entity, char in _SGML_ENTITIES:  # order matters: "&amp;quot;" must stay "&quot;"
        text = text.replace(entity, char)
    text = _PUNCT.sub(r" \1 ", f" {text} ")
    text = _PERIOD_COMMA_AFTER_NONDIGIT.sub(r"\1 \2 ", text)
    text = _PERIOD_COMMA_BEFORE_NONDIGIT.sub(r" \1 \2", text)
    return _DASH_AFTER_DIGIT.sub(r"\1 \2 ", text)


def tokenize_python(text: str) -> list[str]:
    """pymteval's tokens. An empty text gives [''] (one empty token), as `str.split(' ')` does."""
    return _PYTHON_SPACES.sub(" ", _split_punctuation(text)).strip().split(" ")


def tokenize_perl(text: str) -> list[str]:
    """multi-bleu-detok.perl's tokens (Perl whitespace; an empty text gives no token)."""
    text = _PERL_SPACES.sub(" ", _split_punctuation(text)).strip(" ")
    return text.split(" ") if text else []
