"""transformers' own `ProcessorTesterMixin` on `EarthGPTXProcessor`, set up the way transformers' in-tree processor
tests set theirs up (`tests/models/llava/test_processing_llava.py`: `processor_class`, components built once in
`setUpClass` and saved to a temporary folder that every test loads from).

The mixin is transformers' file of the installed release, fetched during set-up (`fetch.py`, `loader.py`); the module
it imports from transformers' `utils/` folder is our stand-in (`standins.url_to_local_path`: the Hub image URLs become
a local PNG). The processor is built from the package's own shipped tokenizer and image processor (the `tiny` preset),
offline.

Overrides (each tests the same property on this processor):
- `test_processor_from_and_save_pretrained`, `test_processor_from_and_save_pretrained_as_nested_dict`: transformers'
  `save_pretrained` writes `auto_map` onto a processor registered with `register_for_auto_class` (custom code, which
  in-tree processors never are; ours is, so that checkpoints load with `trust_remote_code=True`), and `from_pretrained`
  does not set it back, so `to_dict` differs by that key alone. The override runs transformers' test with `to_dict`
  leaving out `auto_map`, and checks that the saved `processor_config.json` carries it.
- `test_model_input_names`: `view_mask` is a model input only when the images of a batch have different view counts
  (`grid_pinpoints`), so one image gives `model_input_names` less `view_mask`. The override checks that, and that a
  batch of two grids gives exactly `model_input_names`.
- `test_apply_chat_template_image`: the test gives every processor video frame-sampling arguments
  (`processor_kwargs={"num_frames": 2, "fps": None}`), which this processor refuses as it refuses `videos=` (it has
  no video processor; a video argument does nothing here, so it is an error rather than silently ignored). The
  override runs transformers' test with those two arguments taken out of `processor_kwargs`.
- `test_processor_text_has_no_visual`: the model pairs sequence i with image i (its region features, `[PIX]` masks
  and follow-up turns read `pixel_values[i]`, `prompt_maps[i]`, `sam_pixel_values[i]`), so a batch that mixes
  text-only samples with image samples is refused with an error naming the text-only rows; a batch of text-only
  samples is processed. The override checks both, for `__call__` and `apply_chat_template`, and that the image rows
  are expanded as transformers' test expects.
- `test_replacement_offsets`: the mixin runs it only for processors that override `replace_image_token` (the hook of
  `ProcessorMixin.__call__`'s expansion); ours expands `<image>`, `<Mark i>` and the region preamble in its own
  `__call__` and returns the same `text_replacement_offsets`. The override checks each offset's `new_span` against
  the expanded text, as transformers' test does.

Skips (the mixin's own conditions):
- the `videos` and `audio` variants and the video / audio chat-template tests: the processor has no video processor,
  feature extractor or audio processor (EarthGPT-X takes images and text); where librosa or torchcodec is missing,
  some of them skip on that first;
- `test_get_num_multimodal_tokens_matches_processor_call` (and its video and audio variants): the processor has no
  `_get_num_multimodal_tokens`, vLLM's helper (EarthGPT-X has no vLLM implementation;
  `image_processor.num_image_tokens` gives the count);
- `test_apply_chat_template_tool_calls_no_content`: the chat template has no tool turns (`tools=` is refused).
"""

import json
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from transformers.processing_utils import ProcessorMixin

from earthgptx_hf import EarthGPTXProcessor

from .loader import common

processing_common = common("test_processing_common")
ProcessorTesterMixin = processing_common.ProcessorTesterMixin


def _to_dict_without_auto_map(processor):
    return {key: value for key, value in ProcessorMixin.to_dict(processor).items() if key != "auto_map"}


class EarthGPTXProcessorCommonTest(ProcessorTesterMixin, unittest.TestCase):
    processor_class = EarthGPTXProcessor

    @classmethod
    def _setup_from_components(cls):
        return EarthGPTXProcessor.from_preset("tiny")  # the shipped tokenizer and the tiny image processor

    # --- overrides (see the module docstring) ------------------------------------------------------------------------
    def _saved_auto_map(self) -> dict:
        with tempfile.TemporaryDirectory() as folder:
            self.get_processor().save_pretrained(folder)
            return json.loads(Path(folder, "processor_config.json").read_text())["auto_map"]

    def test_processor_from_and_save_pretrained(self):
        self.assertEqual(self._saved_auto_map(), {"AutoProcessor": "processing_earthgptx.EarthGPTXProcessor"})
        with mock.patch.object(EarthGPTXProcessor, "to_dict", _to_dict_without_auto_map):
            super().test_processor_from_and_save_pretrained()

    def test_processor_from_and_save_pretrained_as_nested_dict(self):
        self.assertIn("AutoProcessor", self._saved_auto_map())
        with mock.patch.object(EarthGPTXProcessor, "to_dict", _to_dict_without_auto_map):
            super().test_processor_from_and_save_pretrained_as_nested_dict()

    def test_model_input_names(self):
        processor = self.get_processor()
        text = self.prepare_text_inputs(modalities="image")
        inputs = processor(images=self.prepare_images_inputs(), text=text, return_tensors="pt")
        self.assertSetEqual(set(inputs), set(processor.model_input_names) - {"view_mask"})
        processor.image_processor.grid_pinpoints = [[1, 1], [1, 4]]  # a square and a wide image: two view counts
        images = [np.zeros((32, 32, 3), np.uint8), np.zeros((8, 64, 3), np.uint8)]
        inputs = processor(images=images, text=[text, text], return_tensors="pt")
        self.assertSetEqual(set(inputs), set(processor.model_input_names))

    def _without_video_arguments(self, test):
        apply = EarthGPTXProcessor.apply_chat_template

        def without_video_arguments(processor, conversation, **kwargs):
            if isinstance(kwargs.get("processor_kwargs"), dict):
                kwargs["processor_kwargs"] = {key: value for key, value in kwargs["processor_kwargs"].items()
                                              if key not in ("num_frames", "fps")}
            return apply(processor, conversation, **kwargs)

        with mock.patch.object(EarthGPTXProcessor, "apply_chat_template", without_video_arguments):
            test()

    # `test_apply_chat_template_image` is parameterized: (1, "pt") and (2, "pt")
    def test_apply_chat_template_image_0(self):
        self._without_video_arguments(super().test_apply_chat_template_image_0)

    def test_apply_chat_template_image_1(self):
        self._without_video_arguments(super().test_apply_chat_template_image_1)

    def test_processor_text_has_no_visual(self):
        processor = self.get_processor()
        images = self.prepare_images_inputs(batch_size=3)
        text = self.prepare_text_inputs(batch_size=3, modalities="image")
        inputs = processor(images=[[image] for image in images], text=text, return_tensors="pt")
        with self.assertRaisesRegex(ValueError, r"texts \[0\] have no image but the others have one"):
            processor(images=[[], [images[1]], [images[2]]], text=["lower newer", *text[1:]], return_tensors="pt")
        # the image rows alone give the same ids as in the full batch (the longest row is among them: same padding)
        alone = processor(images=[[images[1]], [images[2]]], text=text[1:], return_tensors="pt")
        self.assertListEqual(inputs["input_ids"][1:].tolist(), alone["input_ids"].tolist())
        text_only = processor(images=[[], []], text=["lower newer", "upper older"], return_tensors="pt")
        self.assertListEqual(text_only["input_ids"].tolist(),
                             processor.tokenizer(["lower newer", "upper older"], padding=True, padding_side="left",
                                                 return_tensors="pt")["input_ids"].tolist())
        self.assertNotIn("pixel_values", text_only)
        question = {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}
        image = {"type": "image", "url": processing_common.MODALITY_INPUT_DATA["images"][0]}
        chat = processor.apply_chat_template([[question], [question]], tokenize=True, return_dict=True,
                                             return_tensors="pt")
        self.assertNotIn("pixel_values", chat)
        with self.assertRaisesRegex(ValueError, "have no image but the others have one"):
            processor.apply_chat_template([[question], [{"role": "user", "content": [*question["content"], image]}]],
                                          tokenize=True, return_dict=True, return_tensors="pt")

    def test_replacement_offsets(self):
        processor = self.get_processor()
        expanded = []
        expand = processor._expand

        def capture(*args, **kwargs):
            expanded.append(expand(*args, **kwargs))
            return expanded[-1]

        text = ["lower newer <Mark 1> <image>", "<Region 1> upper older"]
        prompts = [[{"type": "box", "bbox": [1, 1, 20, 20]}]] * 2
        with mock.patch.object(processor, "_expand", side_effect=capture):
            inputs = processor(images=self.prepare_images_inputs(batch_size=2), text=text, visual_prompts=prompts,
                               modality="sar", return_text_replacement_offsets=True, return_tensors="pt")
        self.assertEqual(len(inputs["text_replacement_offsets"]), 2)
        self.assertEqual([[offset["type"] for offset in offsets] for offsets in inputs["text_replacement_offsets"]],
                         [["text", "image"], ["image"]])  # <Mark 1> -> <Region 1>; <image> expanded or prepended
        for (new_text, _), offsets, old_text in zip(expanded, inputs["text_replacement_offsets"], text):
            for offset in offsets:
                start, end = offset["new_span"]
                self.assertEqual(new_text[start:end], offset["replacement"])
                self.assertEqual(old_text[slice(*offset["span"])], offset["text"])
        self.assertIsInstance(inputs["input_ids"], torch.Tensor)
