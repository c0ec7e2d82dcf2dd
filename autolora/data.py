"""The data plumbing every family's readers and the stages share: reading files of the offline
mirror with their checksums (``SHA256SUMS``), seeded subsets of a split, the prepared dataset on
disk with its provenance record (written atomically, read back by every later stage), and how a
task's training rows are split, for every stage alike: the search's seeded (search-train,
search-validation) split, which the search, the grid's candidates and the tuning trials share, and
a budget pilot's holdout (``data.pilot_holdout``), the same split taken once in the prepare stage.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict

from autolora.errors import DataError
from autolora.plumbing import atomic

SOURCES = ("mirror", "hub")
PROVENANCE_FILE = "provenance.json"
CHECKSUM_FILE = "SHA256SUMS"
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksums_to_verify(mirror: Path, verify: bool) -> dict[str, str] | None:
    """The mirror's checksums when asked to verify (an error if it has none), else None."""
    if not verify:
        return None
    checksums = read_checksums(mirror)
    if checksums is None:
        raise DataError(f"{Path(mirror) / CHECKSUM_FILE}: not found, so nothing can be verified "
                        "(config key data.verify_checksums: set it false to read an unverified mirror)")
    return checksums


def read_checksums(mirror: Path) -> dict[str, str] | None:
    """Parse ``<mirror>/SHA256SUMS`` (``<hash>  ./rel/path`` lines); None if the mirror has none."""
    sums_path = mirror / CHECKSUM_FILE
    if not sums_path.is_file():
        return None
    checksums = {}
    for line_no, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{sums_path} line {line_no}: expected '<sha256>  <path>', "
                            f"got {line!r}")
        # sha256sum marks binary mode with a leading '*'; the mirror lists paths as './glue/...'.
        relpath = parts[1].lstrip("*").removeprefix("./")
        checksums[relpath] = parts[0].lower()
    return checksums


def verify_checksum(path: Path, relpath: str, actual: str, checksums: dict[str, str]) -> None:
    expected = checksums.get(relpath)
    if expected is None:
        raise DataError(f"{path}: not listed in {CHECKSUM_FILE}, cannot verify it "
                        "(pass verify_checksums=False to skip verification)")
    if expected != actual:
        raise DataError(f"{path}: sha256 mismatch (file truncated or altered?): "
                        f"expected {expected}, actual {actual}")


def read_mirror_file(mirror: Path, relpath: str, checksums: dict[str, str] | None,
                     hashes: dict[str, str]) -> Path:
    """Check that the file exists, record its sha256 and verify it before anyone parses it,
    so a truncated file is reported as such, not as a bad last row."""
    path = mirror / relpath
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    hashes[relpath] = sha256_of(path)
    if checksums is not None:
        verify_checksum(path, relpath, hashes[relpath], checksums)
    return path


def read_tsv_lines(path: Path) -> list[str]:
    """The file's lines. Split on '\\n' only: str.splitlines would also break on form feeds etc."""
    try:
        # utf-8-sig drops the BOM that MRPC's files start with.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc})") from exc
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last row; it does not start an empty one
    return lines


def checksum_status(checksums: dict[str, str] | None, verify_checksums: bool) -> str:
    # checksums_to_verify has made sure that a mirror read with verification has checksums.
    return f"verified against {CHECKSUM_FILE}" if verify_checksums else "verification disabled by the caller"


def subset_indices(n_full: int, max_examples: int, subset_seed: int) -> list[int]:
    """Seeded sample of row indices, kept in file order; independent of any run seed."""
    return sorted(random.Random(subset_seed).sample(range(n_full), max_examples))


def evaluation_units(rows: Dataset) -> list:
    """What an evaluation counts: data-to-text records (``group``: all references of one record
    are scored together), otherwise rows."""
    return sorted(rows.unique("group")) if "group" in rows.column_names else list(range(len(rows)))


def take_subset(data: DatasetDict, split: str, max_examples: int | None, subset_seed: int,
                key: str, by_group: bool = False) -> DatasetDict:
    """A seeded subset of one split (rows kept in file order). With ``by_group`` whole
    data-to-text records are sampled, so that every kept record keeps all its references.
    ``key`` names the config setting in messages."""
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"{key} must be a positive integer, got {max_examples}")
    rows = data[split]
    units = evaluation_units(rows) if by_group else list(range(len(rows)))
    if max_examples is None or max_examples >= len(units):
        return data
    chosen = {units[index] for index in subset_indices(len(units), max_examples, subset_seed)}
    kept = ([row for row, group in enumerate(rows["group"]) if group in chosen]
            if by_group and "group" in rows.column_names else sorted(chosen))
    return DatasetDict({**data, split: rows.select(kept)})


def write_atomically(data: DatasetDict, provenance: dict, out_dir: Path) -> None:
    """Build the output in a temporary sibling and rename it into place: out_dir is never partial."""
    with atomic.directory(out_dir) as staging:
        data.save_to_disk(str(staging))
        (staging / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")


def load_prepared(out_dir: Path | str) -> tuple[DatasetDict, dict]:
    """Read back what ``tasks.prepare_task`` wrote."""
    provenance = read_provenance(out_dir)  # first: it says clearly what a stray folder is not
    return datasets.load_from_disk(str(out_dir)), provenance


def read_provenance(out_dir: Path | str) -> dict:
    """The provenance record ``tasks.prepare_task`` wrote beside the data."""
    provenance_path = Path(out_dir) / PROVENANCE_FILE
    if not provenance_path.is_file():
        raise DataError(f"{provenance_path}: not found; was {out_dir} written by the prepare stage?")
    return json.loads(provenance_path.read_text(encoding="utf-8"))


# ---- the search's split of the training rows


def split_for_search(train: Dataset, val_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Seeded (search-train, search-validation) split of the task's training set."""
    parts = train.train_test_split(test_size=val_fraction, seed=seed, shuffle=True)
    return parts["train"], parts["test"]


def hold_out(data: DatasetDict, fraction: float, seed: int) -> DatasetDict:
    """A pilot's splits (``data.pilot_holdout``): the search-validation rows of seed ``seed``'s
    split of the training set become the evaluation split, its search-train rows the training
    split. The task's own evaluation split (the one the tables report) is left out, so a pilot
    that chooses a budget from these scores never sees it."""
    search_train, search_validation = split_for_search(data["train"], fraction, seed)
    return DatasetDict(train=search_train, eval=search_validation)
