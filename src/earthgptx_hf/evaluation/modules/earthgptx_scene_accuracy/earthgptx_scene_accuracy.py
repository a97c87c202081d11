"""EarthGPT-X metric for `evaluate`: Scene classification accuracy with label normalisation.

    metric = evaluate.load("<path to this folder>")   # offline: a local module
    metric.compute(predictions=[...], references=[...])

The computation is `earthgptx_hf.evaluation.metrics.classification_accuracy` (the package must be installed).
"""

import datasets
import evaluate

from earthgptx_hf.evaluation.metrics import classification_accuracy

_DESCRIPTION = "Scene classification accuracy with label normalisation."
_KWARGS_DESCRIPTION = "predictions and references as described by earthgptx_hf.evaluation.metrics.classification_accuracy."


class EarthgptxSceneAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Value("string"),
                }
            ),
        )

    def _compute(self, predictions, references):
        return classification_accuracy(list(predictions), [list(r) if isinstance(r, (list, tuple)) else r for r in references])
