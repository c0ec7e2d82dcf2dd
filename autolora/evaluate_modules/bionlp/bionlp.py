"""BioNLP 2004 / JNLPBA NER: entity-level precision, recall and F1 (seqeval in conlleval mode:
an entity counts only when its type and both boundaries match), F1 per entity type (DNA, RNA,
protein, cell_line, cell_type) and token accuracy, the numbers the autolora pipeline reports.

Load it offline wherever autolora is installed (its folder ships in the package)::

    from autolora.metrics import load_metric   # evaluate.load(<its folder>, ...)
    bionlp = load_metric("bionlp")
    bionlp.compute(predictions=[["B-protein", "I-protein", "O"]],
                   references=[["B-protein", "I-protein", "O"]])

A metric whose denominator is empty (a type neither true nor predicted) is 0.
"""

import datasets
import evaluate

from autolora.metrics import module_info
from autolora.families.ner.data import ENTITY_TYPES, ner_metrics

_CITATION = """\
@inproceedings{kim2004introduction,
  title={Introduction to the Bio-entity Recognition Task at {JNLPBA}},
  author={Kim, Jin-Dong and Ohta, Tomoko and Tsuruoka, Yoshimasa and Tateisi, Yuka and Collier, Nigel},
  booktitle={Proceedings of the International Joint Workshop on Natural Language Processing in Biomedicine and its Applications (NLPBA/BioNLP)},
  year={2004}
}
"""

_INPUTS = """
Args:
    predictions: one IOB2 tag sequence per sentence.
    references: the gold IOB2 tag sequences, of the same lengths.
    entity_types: the types whose F1 is reported (default BioNLP's five); for other tag sets.
Returns:
    precision, recall, f1, accuracy, and f1_<type> for each entity type.
"""


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _INPUTS)
class Bionlp(evaluate.Metric):
    def _info(self):
        return module_info(__doc__, _CITATION, _INPUTS, datasets.Sequence(datasets.Value("string")))

    def _compute(self, predictions, references, entity_types=ENTITY_TYPES):
        return ner_metrics(references, predictions, tuple(entity_types))
