"""What a run's results came from: config and its hash, command, package versions, data checksums."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata

PACKAGES = ("autolora", "torch", "transformers", "peft", "datasets", "tokenizers", "snakemake",
            "numpy", "scipy", "scikit-learn", "pandas", "matplotlib")


def config_hash(config: dict) -> str:
    """sha256 of the validated config (defaults filled in), keys sorted: equal hash, equal settings."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_provenance(config: dict, command: str, data_provenance: dict[str, dict]) -> dict:
    return {
        "command": command,
        "config_sha256": config_hash(config),
        "config": config,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "data": data_provenance,
    }
