"""Task families, one module each, registering a ``Family`` (``autolora.families.base``):

* ``glue``: sentence(-pair) classification and regression, an encoder with a sequence head;
* ``nlg``: data-to-text with a decoder-only causal LM (E2E, WebNLG 2017);
* ``ner``: tagging, an encoder with a token head (BioNLP 2004 / JNLPBA).

No family module imports another; the stages ask ``get_family(name)``. A new family is a module
here that registers its ``Family``, and its import below.
"""

from autolora.families.base import Family, MetricColumn, TaskSpec, all_families, family_names, get_family
from autolora.families import glue, nlg, ner  # noqa: E402,F401  (each registers its family, in this order)

__all__ = ["Family", "MetricColumn", "TaskSpec", "all_families", "family_names", "get_family"]
