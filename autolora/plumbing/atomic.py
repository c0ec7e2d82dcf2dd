"""Atomic outputs: a reader (or Snakemake after a crash) never sees a half-written file or folder.

Everything is written under a temporary name beside the target and renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def replace_file(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, then rename it over ``path``.

    The temporary name keeps the extension, for writers that infer the format from it (savefig).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-", suffix=path.suffix)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    def write(temporary: str) -> None:
        Path(temporary).write_text(text, encoding="utf-8")

    replace_file(path, write)


def write_json(path: str | os.PathLike, payload) -> None:
    write_text(path, json.dumps(payload, indent=1) + "\n")


@contextlib.contextmanager
def directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success it replaces ``path``, on failure it goes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp creates 0700; results are meant to be shared
    try:
        yield staging
        _replace_directory(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_directory(new: Path, target: Path, attempts: int = 100) -> None:
    """os.replace cannot overwrite a non-empty folder, so the old one is moved aside first.

    Parallel writers of the same shared folder (two jobs filling one cache) may interleave:
    a rename that finds a folder again moves it aside and retries, so every writer ends with a
    complete folder in place (the last one's) and none fails.
    """
    for _ in range(attempts):
        try:
            os.replace(new, target)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        with contextlib.suppress(FileNotFoundError):  # another writer moved it first
            os.replace(target, retired / target.name)
        shutil.rmtree(retired, ignore_errors=True)
    raise OSError(f"{target}: could not put the new folder in place after {attempts} attempts")


def check_writable(path: str | os.PathLike) -> None:
    """Fail at the start of a job, not after hours of training, if ``path`` cannot be written."""
    from autolora.errors import OutputError

    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: its folder {folder} is not writable ({exc.strerror or exc})") from None


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask

