"""GLUE metrics as the benchmark defines them, the numbers the autolora pipeline reports.

Load it offline wherever autolora is installed (its folder ships in the package)::

    from autolora.metrics import load_metric   # evaluate.load(<its folder>, ...)
    cola = load_metric("glue", "cola")
    cola.compute(predictions=[1, 0, 1], references=[1, 0, 0])

The config name is the task: cola (Matthews correlation), sst2, rte, qnli, mnli, wnli
(accuracy), mrpc, qqp (accuracy and F1 of the positive class), stsb (Pearson and Spearman
correlation; float predictions). The values equal those of the hub's ``glue`` metric, which
computes the same scikit-learn / scipy functions. Tasks outside GLUE (the pipeline's own_tasks)
use the config ``binary_classification`` or ``classification`` (accuracy, F1 of the positive
class or macro F1, Matthews correlation) or ``regression`` (Pearson, Spearman).
"""

import datasets
import evaluate

from autolora.families.glue.data import GLUE_TASKS
from autolora.metrics import OWN_TASK_METRIC_CONFIGS, REGRESSION, glue_metrics, module_info

_CITATION = """\
@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer and Bowman, Samuel R.},
  booktitle={International Conference on Learning Representations},
  year={2019}
}
"""

_INPUTS = """
Args:
    predictions: one per example; class ids, or floats for stsb.
    references: the gold labels, in the same order.
Returns:
    cola: matthews_correlation; stsb: pearson, spearman; mrpc, qqp: accuracy, f1; others: accuracy.
    (binary_)classification: accuracy, f1, matthews_correlation; regression: pearson, spearman.
"""


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _INPUTS)
class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in (*GLUE_TASKS, *OWN_TASK_METRIC_CONFIGS):
            raise KeyError(f"unknown GLUE task {self.config_name!r}; known: {', '.join(GLUE_TASKS)} "
                           f"and, for other tasks, {', '.join(OWN_TASK_METRIC_CONFIGS)}")
        value = datasets.Value("float64" if self.config_name in REGRESSION else "int64")
        return module_info(__doc__, _CITATION, _INPUTS, value)

    def _compute(self, predictions, references):
        return glue_metrics(self.config_name, predictions, references)
