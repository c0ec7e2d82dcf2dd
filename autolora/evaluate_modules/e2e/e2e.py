"""E2E NLG Challenge metrics, equal to the official scorer (``measure_scores.py -p`` of
tuetschek/e2e-metrics): BLEU and NIST (mteval-v13a), METEOR 1.5, ROUGE-L and CIDEr, the numbers
the autolora pipeline reports. Equality with the official scorer is tested on its own outputs
to 1e-9 (tests/test_scoring.py, tests/test_evaluate_modules.py).

Load it offline wherever autolora is installed (its folder ships in the package; Java
must be on PATH for METEOR)::

    from autolora.metrics import load_metric   # evaluate.load(<its folder>, ...)
    e2e = load_metric("e2e")
    e2e.compute(predictions=["The Eagle is a cheap coffee shop."],
                references=[["The Eagle is a low-priced coffee shop.", "Eagle is a cheap cafe."]])

``allow_undefined=True`` gives None for a metric the official scorer cannot compute (NIST of
outputs without 2-grams) instead of raising.
"""

import datasets
import evaluate

from autolora.metrics import module_info
from autolora.scoring import score_e2e

_CITATION = """\
@article{dusek2020evaluating,
  title={Evaluating the state-of-the-art of End-to-End Natural Language Generation: The {E2E} {NLG} challenge},
  author={Du{\\v{s}}ek, Ond{\\v{r}}ej and Novikova, Jekaterina and Rieser, Verena},
  journal={Computer Speech \\& Language},
  volume={59},
  pages={123--156},
  year={2020}
}
"""

_INPUTS = """
Args:
    predictions: one output text per meaning representation.
    references: all reference texts of that meaning representation.
    allow_undefined: None instead of an error for a metric the scorer cannot compute.
Returns:
    BLEU, NIST, METEOR, ROUGE_L, CIDEr as measure_scores.py prints them.
"""


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _INPUTS)
class E2e(evaluate.Metric):
    def _info(self):
        return module_info(__doc__, _CITATION, _INPUTS, datasets.Value("string"),
                           datasets.Sequence(datasets.Value("string")))

    def _compute(self, predictions, references, allow_undefined=False):
        return score_e2e(references, predictions, allow_undefined=allow_undefined)
