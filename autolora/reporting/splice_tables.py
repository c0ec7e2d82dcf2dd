"""Splice committed result tables into the docs, so that no table there is typed by hand.

Why: a table copied into README.md or docs/*.md by hand drifts from the committed table it quotes
as soon as either changes, and nobody notices. Instead the docs mark where a table goes:

    <!-- table: results/reference/cpu-v1/tables/glue.md -->
    <!-- /table -->

and this script replaces everything between the two marker lines with that file's table. It takes
the table lines only: the first run of consecutive lines that start with ``|``. Every committed
table file under results/reference/ holds one table between a caption line and notes; the text
around a block in the docs gives what the caption and notes would (run, seeds, what the columns
mean), in its own words. PATH is relative to the repository root and must lie under
results/reference/: a run's own results/<run>/ is not committed, so a table spliced from it could
not be checked on another clone.

    autolora splice-tables            # README.md and docs/*.md of this folder, rewritten in place
    autolora splice-tables --check    # exit 1 naming every stale block; writes nothing
    autolora splice-tables docs/results.md

Each file is written atomically, and only where a block changed. A PATH that is missing, outside
results/reference/ or without a table, and a marker without its partner, are errors naming the
file and line; nothing is written then. tests/test_docs.py runs the check on the committed docs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autolora.plumbing import atomic

OPEN = re.compile(r"<!-- table: (?P<path>\S+) -->")
CLOSE = "<!-- /table -->"
COMMITTED = Path("results/reference")


class SpliceError(Exception):
    """A block that cannot be spliced; the message names the file and line."""


@dataclass(frozen=True)
class Block:
    """One marked block: its file, the opening marker's line (1-based), the table's path, and the
    indices of the two marker lines in the file's lines."""

    file: Path
    line: int
    path: str
    open_index: int
    close_index: int


def default_files(root: Path) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def shown(file: Path) -> str:
    """``file`` relative to the working directory where it lies below it, else as given."""
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


def find_blocks(file: Path, lines: Sequence[str]) -> list[Block]:
    """Every block of ``lines``, in order; a marker without its partner is an error."""
    blocks, opened = [], None
    for index, line in enumerate(lines):
        match, where = OPEN.fullmatch(line.strip()), f"{shown(file)}:{index + 1}"
        if match and opened is not None:
            raise SpliceError(f"{where}: a table block opens inside the one opened at line {opened[0] + 1}")
        if match:
            opened = (index, match["path"])
        elif line.strip() == CLOSE and opened is None:
            raise SpliceError(f"{where}: {CLOSE} without an opening <!-- table: PATH -->")
        elif line.strip() == CLOSE:
            blocks.append(Block(file, opened[0] + 1, opened[1], opened[0], index))
            opened = None
    if opened is not None:
        raise SpliceError(f"{shown(file)}:{opened[0] + 1}: <!-- table: {opened[1]} --> is never closed by {CLOSE}")
    return blocks


def table_lines(block: Block, root: Path) -> list[str]:
    """The table of the block's file: its first run of lines starting with '|'."""
    relative = Path(block.path)
    where = f"{shown(block.file)}:{block.line}"
    if relative.is_absolute() or ".." in relative.parts or not relative.is_relative_to(COMMITTED):
        raise SpliceError(f"{where}: {block.path} is not a committed table under {COMMITTED}/")
    source = root / relative
    if not source.is_file():
        raise SpliceError(f"{where}: {block.path} does not exist")
    lines = source.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        raise SpliceError(f"{where}: {block.path} holds no Markdown table")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def splice_text(file: Path, text: str, root: Path) -> tuple[str, list[Block]]:
    """``text`` with every block filled from its table, and the blocks that were stale."""
    lines = text.split("\n")
    stale, pieces, done = [], [], 0
    for block in find_blocks(file, lines):
        table = table_lines(block, root)
        if lines[block.open_index + 1:block.close_index] != table:
            stale.append(block)
        pieces += lines[done:block.open_index + 1] + table
        done = block.close_index
    return "\n".join(pieces + lines[done:]), stale


def stale_blocks(files: Sequence[Path], root: Path) -> list[Block]:
    """Every block whose content differs from its table (errors as ``splice_text``)."""
    return [block for file in files for block in splice_text(file, file.read_text(encoding="utf-8"), root)[1]]


def splice(files: Sequence[Path], root: Path) -> list[Block]:
    """Fill every block of ``files``; write the files that changed, each atomically, once all of
    them were read without error. Returns the blocks that were stale."""
    results = [(file, *splice_text(file, file.read_text(encoding="utf-8"), root)) for file in files]
    for file, text, stale in results:
        if stale:
            atomic.write_text(file, text)
    return [block for _, _, stale in results for block in stale]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autolora splice-tables", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md, docs/*.md)")
    parser.add_argument("--check", action="store_true", help="report stale blocks, exit 1 if any; write nothing")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the repository root that PATHs are relative to (default: this folder)")
    args = parser.parse_args(argv)
    files = args.files or default_files(args.root)
    try:
        stale = stale_blocks(files, args.root) if args.check else splice(files, args.root)
    except (SpliceError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for block in stale:
        print(f"{shown(block.file)}:{block.line}: {'stale table block for' if args.check else 'spliced'} {block.path}")
    return 1 if args.check and stale else 0
