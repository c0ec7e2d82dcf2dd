"""Task families, one package (or module) each, registering a ``Family`` (``autolora.families.base``):

* ``glue``: sentence(-pair) classification and regression, an encoder with a sequence head;
* ``data_to_text``: E2E and WebNLG 2017, with a decoder-only causal LM (family ``nlg``) or an
  encoder-decoder (family ``seq2seq``);
* ``ner``: tagging, an encoder with a token head (BioNLP 2004 / JNLPBA).

No family package imports another; the stages ask ``get_family(name)``. A new family is a package
(or module) in this one that registers its ``Family``: every one here is imported below. A family
from outside this tree is a module of another installed distribution that registers its
``Family`` and is named as an entry point of the group ``autolora.families``, e.g. in its
pyproject.toml:

    [project.entry-points."autolora.families"]
    qa = "my_package.qa_family"

Every process that imports this package (each Snakemake job does) then registers it too.
"""

import importlib
import pkgutil
from importlib.metadata import entry_points

from autolora.errors import ConfigError
from autolora.families.base import Family, MetricColumn, OwnKind, TaskSpec, all_families, family_names, get_family, own_kind

ENTRY_POINT_GROUP = "autolora.families"

# The paper's families first, in its tables' order (data-to-text registers nlg, then seq2seq, so
# the registry's order is glue, nlg, seq2seq, ner); every other package here after them, by name.
_PAPER_FAMILIES = ("glue", "data_to_text", "ner")
for _module in [*_PAPER_FAMILIES, *sorted(found.name for found in pkgutil.iter_modules(__path__)
                                           if found.name not in (*_PAPER_FAMILIES, "base"))]:
    importlib.import_module(f"{__name__}.{_module}")


def _load_installed_families() -> None:
    """Import every family an installed distribution names (entry point group above)."""
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda entry: entry.name):
        try:
            entry.load()
        except Exception as error:  # noqa: BLE001 (any failure of a plugin is reported as its own)
            raise ConfigError(f"task family {entry.name!r} ({entry.value}, entry point group {ENTRY_POINT_GROUP}) "
                              f"failed to load: {type(error).__name__}: {error}") from error


_load_installed_families()

__all__ = ["Family", "MetricColumn", "OwnKind", "TaskSpec", "all_families", "family_names", "get_family", "own_kind"]
