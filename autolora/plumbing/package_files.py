"""Files that ship inside the package: the config schema and the ``evaluate`` metric modules.

They are found through ``importlib.resources``, so a checkout, an editable install and an installed
wheel read the same files (a path relative to the repository would exist in a checkout only).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(*parts: str) -> Path:
    """The file or folder ``autolora/<parts...>`` on disk (``evaluate.load`` and the schema
    validator read plain paths, which an unpacked install has; a zipped one does not)."""
    resource = files("autolora")
    for part in parts:
        resource = resource / part
    if not isinstance(resource, Path):
        raise RuntimeError(f"autolora is installed as an archive ({resource}); install it unpacked "
                           "(pip does) so that its schema and metric modules are files")
    return resource


CONFIG_SCHEMA = package_path("schemas", "config.schema.yaml")
# One folder per Hugging Face ``evaluate`` module: evaluate_modules/<name>/<name>.py.
EVALUATE_MODULES = package_path("evaluate_modules")
