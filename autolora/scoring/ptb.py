"""The MS-COCO caption evaluator's text preprocessing, used by e2e-metrics for METEOR,
ROUGE-L and CIDEr: Stanford PTBTokenizer (CoreNLP 3.4.1) with `-preserveLines -lowerCase`,
then removal of punctuation tokens.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from autolora.scoring._java import JavaError, jar_path, run_jar

# Tokens the COCO code drops after tokenising. "-LRB-" etc. never match once the tokenizer has
# lower-cased them to "-lrb-"; the list is kept as the original has it.
PUNCTUATION = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                         ".", "?", "!", ",", ":", "-", "--", "...", ";"])


def ptb_tokenize(texts: list[str]) -> list[str]:
    """Tokenise each text; one jar run for the whole list (the COCO code runs it once for all
    references and once for all hypotheses, so callers keep those two lists apart)."""
    corenlp = jar_path("tokenizer/stanford-corenlp-3.4.1.jar")
    with tempfile.TemporaryDirectory(prefix="autolora-ptb-") as tmp:
        source = Path(tmp) / "captions.txt"
        source.write_bytes("\n".join(t.replace("\n", " ") for t in texts).encode("utf-8"))
        output = run_jar(["-cp", str(corenlp), "edu.stanford.nlp.process.PTBTokenizer",
                          "-preserveLines", "-lowerCase", str(source)], cwd=Path(tmp))
    lines = output.split("\n")
    if len(lines) < len(texts):
        raise JavaError(f"PTBTokenizer returned {len(lines)} lines for {len(texts)} texts")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATION)
            for line in lines[:len(texts)]]
