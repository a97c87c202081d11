"""EarthGPT-X metric for `evaluate`: Referring object classification: SS (all-MiniLM-L6-v2) and S-IoU, regions paired by <Region i>.

    metric = evaluate.load("<path to this folder>")   # offline: a local module
    metric.compute(predictions=[...], references=[...])

The computation is `earthgptx_hf.evaluation.metrics.roc_scores` (the package must be installed).
"""

import datasets
import evaluate

from earthgptx_hf.evaluation.metrics import roc_scores

_DESCRIPTION = "Referring object classification: SS (all-MiniLM-L6-v2) and S-IoU, regions paired by <Region i>."
_KWARGS_DESCRIPTION = "predictions and references as described by earthgptx_hf.evaluation.metrics.roc_scores."


class EarthgptxRoc(evaluate.Metric):
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
        return roc_scores(list(predictions), [list(r) if isinstance(r, (list, tuple)) else r for r in references])
