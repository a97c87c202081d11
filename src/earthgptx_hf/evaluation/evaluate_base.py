"""The shared body of the package's `evaluate` metric modules (`modules/<name>/<name>.py`).

Each module script only names its metric function and input features; this base class builds the `MetricInfo` and
calls the function. The scripts import this module (not the class), so that `evaluate` finds their own subclass as
the module's metric.
"""

from __future__ import annotations

import datasets
import evaluate

CITATION = "EarthGPT-X (arXiv 2504.12795); metrics as computed in EarthMarker (arXiv 2407.13596) and EarthGPT-X."


class EarthGPTXMetric(evaluate.Metric):
    """Subclasses set `description`, `input_features` (a dict of `datasets` features) and `compute_fn` (a staticmethod of
    `earthgptx_hf.evaluation.metrics`)."""

    description: str = ""
    input_features: dict = {}
    compute_fn = None

    def _info(self):
        return evaluate.MetricInfo(
            description=self.description,
            citation=CITATION,
            inputs_description=f"predictions and references as for earthgptx_hf.evaluation.metrics."
            f"{self.compute_fn.__name__}",
            features=datasets.Features(self.input_features),
        )

    def _compute(self, predictions, references, **options):
        # `options`: the keywords of `compute()` that are not inputs (e.g. `semantic_similarity=False` for SS)
        references = [list(r) if isinstance(r, (list, tuple)) else r for r in references]
        return self.compute_fn(list(predictions), references, **options)
