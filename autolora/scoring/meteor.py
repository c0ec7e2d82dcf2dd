"""METEOR 1.5, always computed by the official jar (never re-implemented).

Two ways of driving it, each as the official scorer does:

* `MeteorStdio` (e2e-metrics, through the COCO caption code): `-stdio -l en -norm`. One
  "SCORE ||| ref1 ||| ... ||| hyp" line per instance returns its sufficient statistics; one
  "EVAL ||| stats1 ||| ..." line returns every instance's score and then the corpus score,
  which the jar aggregates from the statistics (not a mean of instance scores). The process
  loads the paraphrase table once and can score many sets.
* `meteor_files` (WebNLG GenerationEval): hypotheses and the references interleaved
  `num_refs` lines per segment, written to files and scored with `-l en -norm -r N`; the value
  is the last number on the "Final score" line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from autolora.scoring.bleu import UndefinedMetric
from autolora.scoring._java import JavaError, jar_path, run_jar, start_jar

METEOR_JAR = "meteor/meteor-1.5.jar"


class MeteorStdio:
    """A running `meteor-1.5.jar -stdio` process; use as a context manager."""

    def __init__(self) -> None:
        jar = jar_path(METEOR_JAR)
        self._proc = start_jar(["-Xmx2G", "-jar", str(jar), "-", "-", "-stdio",
                                "-l", "en", "-norm"], cwd=jar.parent)

    def __enter__(self) -> "MeteorStdio":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait()

    def _ask(self, line: str, answers: int = 1) -> list[str]:
        try:
            self._proc.stdin.write(line.encode("utf-8") + b"\n")
            self._proc.stdin.flush()
            replies = [self._proc.stdout.readline() for _ in range(answers)]
        except BrokenPipeError:
            replies = [b""]
        if not all(replies):
            raise JavaError(f"meteor-1.5.jar -stdio stopped answering (exit {self._proc.poll()})")
        return [r.decode("utf-8").strip() for r in replies]

    def score(self, hyps: list[str], refs: list[list[str]]) -> tuple[float, list[float]]:
        """Corpus METEOR and per-instance scores of already-tokenised texts."""
        stats = []
        for hyp, seg_refs in zip(hyps, refs, strict=True):
            # The COCO wrapper strips the field separator and double spaces from the hypothesis.
            hyp = hyp.replace("|||", "").replace("  ", " ")
            stats.extend(self._ask(" ||| ".join(["SCORE", *seg_refs, hyp])))
        replies = self._ask("EVAL" + "".join(f" ||| {s}" for s in stats), len(stats) + 1)
        return float(replies[-1]), [float(r) for r in replies[:-1]]


def meteor_files(hyps: list[str], refs: list[list[str]], num_refs: int) -> float:
    """GenerationEval's METEOR: file mode with `-r num_refs` (each segment needs that many).

    An empty last hypothesis cannot be written to a line-based file (the jar would read one
    segment fewer and print no score), so the last non-empty segment is swapped to the end: the
    corpus score sums statistics over segments, whatever their order. All-empty outputs have
    no METEOR (``UndefinedMetric``).
    """
    hyps, refs = _non_empty_last(hyps, refs)
    jar = jar_path(METEOR_JAR)
    with tempfile.TemporaryDirectory(prefix="autolora-meteor-") as tmp:
        hyp_file, ref_file = Path(tmp) / "hypothesis", Path(tmp) / "reference"
        hyp_file.write_bytes("\n".join(hyps).encode("utf-8"))
        ref_file.write_bytes("\n".join(r for seg in refs for r in seg[:num_refs]).encode("utf-8"))
        output = run_jar(["-Xmx2G", "-jar", str(jar), str(hyp_file), str(ref_file),
                          "-l", "en", "-norm", "-r", str(num_refs)], cwd=jar.parent)
    lines = output.split("\n")
    if len(lines) < 2 or not lines[-2].startswith("Final score"):
        raise JavaError(f"meteor-1.5.jar printed no final score: {output[-500:]!r}")
    return float(lines[-2].split()[-1])


def _non_empty_last(hyps: list[str], refs: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    if not hyps or hyps[-1]:
        return hyps, refs
    filled = [index for index, hyp in enumerate(hyps) if hyp]
    if not filled:
        raise UndefinedMetric("METEOR undefined: every hypothesis is empty")
    order = list(range(len(hyps)))
    order[filled[-1]], order[-1] = order[-1], order[filled[-1]]
    return [hyps[i] for i in order], [refs[i] for i in order]
