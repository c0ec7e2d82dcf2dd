"""A job's fixed cost before its work (issue #26): the imports of each Snakemake script, timed.

Every job runs one of ``workflow/scripts/*.py`` in a fresh interpreter, which first imports the
libraries its stage needs. This script runs each script's import lines alone in fresh
interpreters and reports the median wall time per script, and which heavy libraries it pulled
in. Given several checkouts (say the commit before a change and after it), it times them in
alternation, round by round, so that both see the same machine load, and prints their ratio:

    python benchmarks/job_imports.py --checkout ../before --checkout . --rounds 5

Each checkout's own ``autolora`` is imported (its folder first on ``PYTHONPATH``). Only the import
lines are timed: what a stage imports later, when it first needs it (transformers when it loads
the model, scipy and sklearn when it scores), is paid by the job all the same.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "transformers", "peft", "datasets", "evaluate", "sklearn", "scipy", "seqeval", "pandas",
         "matplotlib")
REPORT_HEAVY = "import sys; print(' '.join(name for name in {heavy!r} if name in sys.modules))"


def import_lines(script: Path) -> str:
    """The script's top-level import statements (its job's imports), as one program."""
    lines = [line for line in script.read_text().splitlines() if line.startswith(("import ", "from "))]
    return "\n".join(lines)


def time_imports(checkout: Path, program: str) -> tuple[float, str]:
    """Seconds for a fresh interpreter to run ``program`` with the checkout's autolora, and the
    heavy libraries it imported."""
    env = {**os.environ, "PYTHONPATH": f"{checkout.resolve()}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", f"{program}\n{REPORT_HEAVY.format(heavy=HEAVY)}"],
                         cwd=checkout, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, run.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, action="append", help="a checkout of this project (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scripts", nargs="*", default=["search", "ranks", "uniform_ranks", "retrain", "evaluate"],
                        help="workflow/scripts/<name>.py to time")
    args = parser.parse_args()
    checkouts = args.checkout or [Path(".")]
    times = {(checkout, name): [] for checkout in checkouts for name in args.scripts}
    heavy = {}
    for _ in range(args.rounds):
        for name in args.scripts:
            for checkout in checkouts:
                seconds, heavy[checkout, name] = time_imports(
                    checkout, import_lines(checkout / "workflow" / "scripts" / f"{name}.py"))
                times[checkout, name].append(seconds)
    print(f"# median of {args.rounds} fresh interpreters per script and checkout, in alternation")
    for name in args.scripts:
        medians = [statistics.median(times[checkout, name]) for checkout in checkouts]
        cells = "  ".join(f"{checkout}: {median:5.2f} s" for checkout, median in zip(checkouts, medians))
        ratio = f"  ratio {medians[-1] / medians[0]:.2f}" if len(checkouts) > 1 else ""
        print(f"{name:<14} {cells}{ratio}  [{heavy[checkouts[-1], name]}]")


if __name__ == "__main__":
    main()
