"""EarthGPT-X metric for `evaluate`: Captioning: BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap, PTB tokenizer); SPICE when its jars are present.

    evaluate.load(earthgptx_hf.evaluation.metric_path("earthgptx_caption")).compute(predictions=[...], references=[...])
"""

import datasets

from earthgptx_hf.evaluation import evaluate_base
from earthgptx_hf.evaluation.metrics import caption_scores


class EarthgptxCaption(evaluate_base.EarthGPTXMetric):
    description = "Captioning: BLEU-1..4, METEOR, ROUGE-L, CIDEr (pycocoevalcap, PTB tokenizer); SPICE when its jars are present."
    input_features = {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
    compute_fn = staticmethod(caption_scores)
