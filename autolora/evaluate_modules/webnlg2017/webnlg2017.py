"""WebNLG Challenge 2017 metrics, equal to the challenge's evaluation scripts: BLEU
(multi-bleu-detok.perl), METEOR 1.5 and TER (tercom), the numbers the autolora pipeline reports,
on all entries and on the seen and unseen categories (tests/test_scoring.py compares them with
the official scorers' outputs).

Load it offline wherever autolora is installed (its folder ships in the package; Java
must be on PATH for METEOR and TER)::

    from autolora.metrics import load_metric   # evaluate.load(<its folder>, ...)
    webnlg = load_metric("webnlg2017")
    webnlg.compute(predictions=[...], references=[[...], ...], categories=["Astronaut", ...])

Every entry needs 3 references (repeat the first where an entry has fewer: the scores do not
change). With ``categories`` (one per entry) the result has BLEU_<split>, METEOR_<split>,
TER_<split> and n_<split> for all, seen and unseen (the 10 categories of the training data are
seen; a split without entries is left out); without, BLEU, METEOR and TER of all entries.
"""

import datasets
import evaluate

from autolora.metrics import module_info
from autolora.scoring import score_webnlg
from autolora.scoring.webnlg import SEEN_CATEGORIES

_CITATION = """\
@inproceedings{gardent2017webnlg,
  title={The {WebNLG} Challenge: Generating Text from {RDF} Data},
  author={Gardent, Claire and Shimorina, Anastasia and Narayan, Shashi and Perez-Beltrachini, Laura},
  booktitle={Proceedings of the 10th International Conference on Natural Language Generation},
  pages={124--133},
  year={2017}
}
"""

_INPUTS = """
Args:
    predictions: one output text per entry.
    references: 3 reference texts per entry.
    categories: (optional) the DBpedia category of each entry, for the seen/unseen split.
    allow_undefined: None instead of an error for a metric the scorer cannot compute.
Returns:
    BLEU (0-100), METEOR and TER (0-1), per split when categories are given.
"""


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _INPUTS)
class Webnlg2017(evaluate.Metric):
    def _info(self):
        return module_info(__doc__, _CITATION, _INPUTS, datasets.Value("string"),
                           datasets.Sequence(datasets.Value("string")))

    def _compute(self, predictions, references, categories=None, allow_undefined=False):
        if categories is None:
            scores = score_webnlg(references, predictions, allow_undefined=allow_undefined)
            return {name: scores[name] for name in ("BLEU", "METEOR", "TER")}
        if len(categories) != len(predictions):
            raise ValueError(f"{len(categories)} categories for {len(predictions)} predictions")
        metrics = {}
        for split in ("all", "seen", "unseen"):
            chosen = [i for i, category in enumerate(categories)
                      if split == "all" or (category in SEEN_CATEGORIES) == (split == "seen")]
            if not chosen:
                continue
            scores = score_webnlg([references[i] for i in chosen], [predictions[i] for i in chosen],
                                  allow_undefined=allow_undefined)
            metrics.update({f"{name}_{split}": scores[name] for name in ("BLEU", "METEOR", "TER")})
            metrics[f"n_{split}"] = len(chosen)
        return metrics
