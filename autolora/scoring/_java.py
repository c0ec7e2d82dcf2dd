"""Run the Java programs that the official scorers call (METEOR 1.5, Stanford PTBTokenizer).

The jars come from the `pycocoevalcap` wheel, whose copies are byte-identical to the ones
e2e-metrics and GenerationEval use. `-Dfile.encoding=UTF-8` pins the charset the golden runs
had, so non-ASCII text is read the same whatever the machine's locale is.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from autolora.errors import AutoLoRAError

JAVA_FLAGS = ["-Dfile.encoding=UTF-8"]


class JavaError(AutoLoRAError):
    """Java is missing, or a jar failed; the message says which and how to fix it."""


def java_executable() -> str:
    java = shutil.which("java")
    if java is None:
        raise JavaError("java not found on PATH: run workflow/scripts/setup-java.sh "
                        "(installs default-jre-headless)")
    return java


def jar_path(relative: str) -> Path:
    """Path of a file shipped in the pycocoevalcap package, e.g. 'meteor/meteor-1.5.jar'."""
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise JavaError("pycocoevalcap is not installed: it ships meteor-1.5.jar, its paraphrase "
                        "table and stanford-corenlp-3.4.1.jar (pip install pycocoevalcap==1.2)")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise JavaError(f"{path} is missing from the pycocoevalcap install")
    return path


def run_jar(args: list[str], cwd: Path) -> str:
    """Run java with `args`; return stdout as text, or raise with java's stderr."""
    proc = subprocess.run([java_executable(), *JAVA_FLAGS, *args], cwd=cwd,
                          capture_output=True)
    if proc.returncode != 0:
        raise JavaError(f"java {' '.join(args)} failed ({proc.returncode}): "
                        f"{proc.stderr.decode('utf-8', 'replace')[-2000:]}")
    return proc.stdout.decode("utf-8")


def start_jar(args: list[str], cwd: Path) -> subprocess.Popen:
    """Start a long-lived java process that talks over stdin/stdout (METEOR's -stdio mode)."""
    return subprocess.Popen([java_executable(), *JAVA_FLAGS, *args], cwd=cwd,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
