"""EarthGPT-X metric for `evaluate`: Referring object classification: SS (all-MiniLM-L6-v2) and S-IoU, regions paired by <Region i>.

    evaluate.load(earthgptx_hf.evaluation.metric_path("earthgptx_roc")).compute(predictions=[...], references=[...])
"""

import datasets

from earthgptx_hf.evaluation import evaluate_base
from earthgptx_hf.evaluation.metrics import roc_scores


class EarthgptxRoc(evaluate_base.EarthGPTXMetric):
    description = "Referring object classification: SS (all-MiniLM-L6-v2) and S-IoU, regions paired by <Region i>."
    input_features = {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
    compute_fn = staticmethod(roc_scores)
