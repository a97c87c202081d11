"""EarthGPT-X metric for `evaluate`: Box grounding Pr@0.5-0.9 and meanIoU (x100); a missing prediction scores IoU 0.

    evaluate.load(earthgptx_hf.evaluation.metric_path("earthgptx_boxes")).compute(predictions=[...], references=[...])

Boxes are [x1, y1, x2, y2] in pixels; a prediction may be None (no box in the answer).
"""

import datasets

from earthgptx_hf.evaluation import evaluate_base
from earthgptx_hf.evaluation.metrics import box_scores


class EarthgptxBoxes(evaluate_base.EarthGPTXMetric):
    description = "Box grounding Pr@0.5-0.9 and meanIoU (x100); a missing prediction scores IoU 0."
    input_features = {"predictions": datasets.Sequence(datasets.Value("float32"), length=4),
                      "references": datasets.Sequence(datasets.Value("float32"), length=4)}
    compute_fn = staticmethod(box_scores)
