"""The `autolora` command. Subcommands:

    autolora score e2e REFS HYP                      E2E challenge metrics (JSON)
    autolora score webnlg REFS_DIR HYP --split S     WebNLG 2017 metrics (JSON)
    autolora compare RUN_DIR REFERENCE_DIR [--out F] a finished run beside the committed reference
    autolora intervals RUN_DIR [RUN_DIR ...] --out D AutoLoRA minus each baseline with intervals,
                                                     seeds pooled from runs of the same settings
    autolora splice-tables [--check] [FILE ...]      the committed tables into README.md and docs/*.md

The pipeline itself runs through Snakemake (see README.md).
"""

from __future__ import annotations

import sys

SUBCOMMANDS = ("score", "compare", "intervals", "splice-tables")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not argv or argv[0] not in SUBCOMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "compare":
        from autolora.reporting.compare import main as compare

        return compare(argv[1:])
    if argv[0] == "intervals":
        from autolora.reporting.differences import main as intervals

        return intervals(argv[1:])
    if argv[0] == "splice-tables":
        from autolora.reporting.splice_tables import main as splice_tables

        return splice_tables(argv[1:])
    from autolora.scoring.cli import main as score

    return score(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
