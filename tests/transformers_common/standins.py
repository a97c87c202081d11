"""Our stand-ins for the sub-folder modules that transformers' top-level common test files import, which its source
distribution does not ship (`loader.py` installs them under the names those files import):

- `tests/generation/test_utils.py` -> `GenerationTesterMixin`: a marker class with no tests. Its behaviours (every
  decoding mode, tensor and dict outputs, `input_ids` and `inputs_embeds`, static cache and compile) are covered by
  our own tests in `tests/modeling/test_decoding_modes.py`, on this model's inputs.
- `tests/exporters/test_export.py` -> `ExportTesterMixin`: a marker class with no tests (torch.export of this model
  is not claimed; see the test file's list).
- `tests/utils/test_configuration_utils.py` -> `config_common_kwargs`: non-default values of `PreTrainedConfig`'s
  common arguments (only read for configs without sub-configs; ours has sub-configs).
- `utils/fetch_hub_objects_for_ci.py` -> `url_to_local_path`: maps the Hub image URLs of the processor tests to a
  local PNG made here (nothing may reach a hub); other URLs (videos, audio) are returned unchanged.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


class GenerationTesterMixin:
    """Marker: `ModelTesterMixin.test_generation_tester_mixin_inheritance` checks a generating model's tester has it."""


class ExportTesterMixin:
    """Marker: the base class of transformers' `ModelTesterMixin`."""


config_common_kwargs = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "tie_word_embeddings": False,
    "is_decoder": True,
    "chunk_size_feed_forward": 5,
    "architectures": ["BertModel"],
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "problem_type": "regression",
    "bos_token_id": 6,
    "pad_token_id": 7,
    "eos_token_id": 8,
    "sep_token_id": 9,
}


def _local_image() -> str:
    path = Path(tempfile.gettempdir()) / "earthgptx-common-tests-image.png"
    if not path.is_file():
        gradient = np.add.outer(np.arange(480), np.arange(640)) % 256  # 640 x 480 like the COCO sample it stands for
        Image.fromarray(np.stack([gradient, gradient[::-1], (gradient * 3) % 256], -1)
                        .astype(np.uint8)).save(path)
    return str(path)


def url_to_local_path(url: str, *args, **kwargs) -> str:
    if url.endswith((".png", ".jpg", ".jpeg")):
        return _local_image()
    return url
