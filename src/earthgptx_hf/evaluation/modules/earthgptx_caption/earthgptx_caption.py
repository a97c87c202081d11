"""EarthGPT-X metric for `evaluate`: Captioning: BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap, PTB tokenizer); SPICE when its jars are present.

    metric = evaluate.load("<path to this folder>")   # offline: a local module
    metric.compute(predictions=[...], references=[...])

The computation is `earthgptx_hf.evaluation.metrics.caption_scores` (the package must be installed).
"""

import datasets
import evaluate

from earthgptx_hf.evaluation.metrics import caption_scores

_DESCRIPTION = "Captioning: BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap, PTB tokenizer); SPICE when its jars are present."
_KWARGS_DESCRIPTION = "predictions and references as described by earthgptx_hf.evaluation.metrics.caption_scores."


class EarthgptxCaption(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references):
        return caption_scores(list(predictions), [list(r) if isinstance(r, (list, tuple)) else r for r in references])
