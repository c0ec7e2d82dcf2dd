"""Task families, one module each, registering a ``Family`` (``autolora.families.base``):

* ``glue``: sentence(-pair) classification and regression, an encoder with a sequence head;
* ``nlg``: data-to-text with a decoder-only causal LM (E2E, WebNLG 2017);
* ``ner``: tagging, an encoder with a token head (BioNLP 2004 / JNLPBA).

* ``seq2seq``: data-to-text with an encoder-decoder (T5-style) model (E2E).

No family module imports another; the stages ask ``get_family(name)``. A new family is a module
in this package that registers its ``Family``: every module here is imported below.
"""

import importlib
import pkgutil

from autolora.families.base import Family, MetricColumn, TaskSpec, all_families, family_names, get_family

# The paper's families first, in its tables' order; any other module after them, by name.
_PAPER_FAMILIES = ("glue", "nlg", "ner")
for _module in [*_PAPER_FAMILIES, *sorted(found.name for found in pkgutil.iter_modules(__path__)
                                           if found.name not in (*_PAPER_FAMILIES, "base"))]:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["Family", "MetricColumn", "TaskSpec", "all_families", "family_names", "get_family"]
