"""Scores for data-to-text outputs, computed exactly as the official scorers compute them.

* E2E NLG Challenge (`measure_scores.py -p`, tuetschek/e2e-metrics): BLEU, NIST, METEOR,
  ROUGE_L, CIDEr -> `score_e2e_files(refs, hyp)` / `score_e2e(ref_groups, hyps)`.
* WebNLG 2017 (GenerationEval `eval.py -nr 6 -m bleu,meteor,ter`): BLEU, METEOR, TER ->
  `score_webnlg_files(refs_dir, hyp, split)` / `score_webnlg(refs, hyps)`.

METEOR (and E2E's PTB tokenisation) run the official Java jars shipped in the pycocoevalcap
wheel, so Java must be installed (workflow/scripts/setup-java.sh). `autolora.scoring.cli`
is the command-line front end.
"""

from autolora.scoring.bleu import UndefinedMetric
from autolora.scoring.e2e import score_e2e, score_e2e_files
from autolora.scoring.meteor import MeteorStdio
from autolora.scoring.webnlg import score_webnlg, score_webnlg_files

__all__ = ["MeteorStdio", "UndefinedMetric", "score_e2e", "score_e2e_files", "score_webnlg", "score_webnlg_files"]
