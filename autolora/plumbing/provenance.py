"""What a run's results came from: config and its hash, command, package versions, data checksums."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

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


CHECKOUT = Path(__file__).resolve().parents[2]  # the repository root, where the package runs from one


def code_version(checkout: Path | str = CHECKOUT) -> dict:
    """The git commit of the code that runs, and whether tracked files differ from it; where the
    package is not a git checkout (an installed wheel), its version only."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None, "version": metadata.version("autolora")}
    return {"commit": commit, "dirty": bool(changed), "version": metadata.version("autolora")}


def run_provenance(config: dict, command: str, data_provenance: dict[str, dict]) -> dict:
    return {
        "command": command,
        "code": code_version(),
        "config_sha256": config_hash(config),
        "config": config,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "data": data_provenance,
    }
