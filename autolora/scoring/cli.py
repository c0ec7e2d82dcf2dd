"""`autolora score ...`: score generated texts the way the official scorers do; prints JSON.

    autolora score e2e REFS HYP
        REFS: multi-reference text (groups closed by an empty line) or the official E2E
        CSV (mr,ref); HYP: one output per line. Prints BLEU, NIST, METEOR, ROUGE_L, CIDEr
        as `measure_scores.py -p` computes them.

    autolora score webnlg REFS_DIR HYP [--split all|seen|unseen]
        REFS_DIR: reference0..reference5, either in REFS_DIR/<split>/ or, for the whole test
        set, in REFS_DIR itself (then REFS_DIR/entry_ids picks the seen/unseen lines; see
        `autolora.scoring.webnlg`). Prints BLEU (0-100), METEOR and TER as GenerationEval's
        `eval.py -nr 6 -m bleu,meteor,ter` computes them, and multi-bleu's summary line.

`main` takes the arguments after `autolora` or after `autolora score`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autolora.errors import AutoLoRAError, DataError
from autolora.scoring.e2e import score_e2e_files
from autolora.scoring.webnlg import SPLITS, score_webnlg_files


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autolora score", description=__doc__.split("\n")[0])
    tasks = parser.add_subparsers(dest="task", required=True)
    e2e = tasks.add_parser("e2e", help="E2E NLG Challenge metrics")
    e2e.add_argument("refs", help="references: multi-reference text or the official CSV")
    e2e.add_argument("hyp", help="system outputs, one per line")
    webnlg = tasks.add_parser("webnlg", help="WebNLG 2017 metrics")
    webnlg.add_argument("refs_dir", help="folder with reference0..reference5 (or split sub-folders)")
    webnlg.add_argument("hyp", help="system outputs, one per line, no final newline")
    webnlg.add_argument("--split", choices=SPLITS, default="all")
    return parser


def _check_inputs(args) -> None:
    """Name the argument that is not what it should be, before any scorer reads it."""
    files = ([("REFS", args.refs)] if args.task == "e2e" else []) + [("HYP", args.hyp)]
    for what, path in files:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{what} {path}: {'a folder' if path.is_dir() else 'not found'}; expected a text file")
        if not path.read_text(encoding="utf-8").strip():
            raise DataError(f"{what} {path}: the file is empty")
    if args.task == "webnlg" and not Path(args.refs_dir).is_dir():
        raise DataError(f"REFS_DIR {args.refs_dir}: not a folder (expected reference0..reference5 in it)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["score"]:
        argv = argv[1:]
    args = _parser().parse_args(argv)
    try:
        _check_inputs(args)
        if args.task == "e2e":
            result = {"task": "e2e", "metrics": score_e2e_files(args.refs, args.hyp)}
        else:
            metrics = score_webnlg_files(args.refs_dir, args.hyp, args.split)
            result = {"task": "webnlg", "split": args.split,
                      "multi_bleu": metrics.pop("multi_bleu"), "metrics": metrics}
    except (AutoLoRAError, ValueError) as err:  # ValueError: a metric undefined for this input
        print(f"autolora score: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
