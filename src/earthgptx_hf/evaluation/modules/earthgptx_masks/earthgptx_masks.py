"""EarthGPT-X metric for `evaluate`: Pixel grounding gIoU and cIoU (x100); an empty target predicted empty counts 1.

    evaluate.load(earthgptx_hf.evaluation.metric_path("earthgptx_masks")).compute(predictions=[...], references=[...])

Predictions and references are binary masks (H, W), as nested lists or numpy arrays of 0/1.
"""

import datasets

from earthgptx_hf.evaluation import evaluate_base
from earthgptx_hf.evaluation.metrics import mask_scores


class EarthgptxMasks(evaluate_base.EarthGPTXMetric):
    description = "Pixel grounding gIoU and cIoU (x100); an empty target predicted empty counts 1."
    input_features = {"predictions": datasets.Sequence(datasets.Sequence(datasets.Value("uint8"))),
                      "references": datasets.Sequence(datasets.Sequence(datasets.Value("uint8")))}
    compute_fn = staticmethod(mask_scores)
