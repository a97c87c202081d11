"""EarthGPT-X metric for `evaluate`: Scene classification accuracy with label normalisation.

    evaluate.load(earthgptx_hf.evaluation.metric_path("earthgptx_scene_accuracy")).compute(predictions=[...], references=[...])
"""

import datasets

from earthgptx_hf.evaluation import evaluate_base
from earthgptx_hf.evaluation.metrics import classification_accuracy


class EarthgptxSceneAccuracy(evaluate_base.EarthGPTXMetric):
    description = "Scene classification accuracy with label normalisation."
    input_features = {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
    compute_fn = staticmethod(classification_accuracy)
