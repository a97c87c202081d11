"""transformers' own common model and config tests (`ModelTesterMixin`, `ConfigTester`) on EarthGPT-X, with a model
tester built the way transformers' in-tree models build theirs (`tests/models/llava/test_modeling_llava.py`).

The mixins are transformers' files of the installed release, fetched during set-up (`fetch.py`, `loader.py`); the
sub-folder modules they import are our stand-ins (`standins.py`): `GenerationTesterMixin` is a marker, and its
behaviours are tested on this model in `tests/modeling/test_decoding_modes.py`.

Tester hooks (what an in-tree model's tester sets; no test is dropped by them):
- the auto name tables: our class names are added to `MODEL_MAPPING_NAMES` / `MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES`
  for this class's tests (`setUpClass`), where an in-tree model's names are; transformers' tests read a class's role
  (base model, head that takes `labels`) there.
- `_prepare_for_class`: the training tests also get the grounding inputs of the one `[PIX]` per sample, so the mask
  head's parameters are in the loss and the gradient tests cover them.
- `skip_test_image_features_output_shape`: the shape half of `test_get_image_features_output` is replaced by
  `test_get_image_features_shapes` (the hybrid features are checked against the fusion width, not a vision config's).
- `test_can_init_all_missing_weights_before_2023 = True`: our modeling file carries no copyright year, so the test
  would be skipped as an "old model"; it runs.

Overrides (each tests the same property on this model's layout):
- `test_sdpa_can_dispatch_composite_models`: the vision tower is a block of two towers, not one `PreTrainedModel`.
- `test_bc_cache_name_forward`: skipped by transformers for a forward that does not list `cache`; ours takes it in
  `**kwargs` under either name, because the name changed inside our supported range.

Skips: only transformers' own conditions (no accelerator, FlashAttention, DeepSpeed or MPS here; ConvNeXt has no
attention, so "parts of this model don't support sdpa" for the dynamic-switch test; no MoE, sliding window, axial or
partial RoPE in this model). `PipelineTesterMixin` is not used: it runs transformers' per-task pipeline tests
(`tests/pipelines/test_pipelines_*.py`, not in the source distribution) for the tasks of transformers' own mapping,
and `visual-prompting` is our task, tested in `tests/pipelines/`.
"""

from __future__ import annotations

import tempfile
import unittest
from unittest import mock

import torch
from transformers.models.auto import modeling_auto

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXModel
from earthgptx_hf.models.earthgptx.generation_earthgptx import CACHE_KEY, output_cache

from .loader import common

modeling_common = common("test_modeling_common")
configuration_common = common("test_configuration_common")
ModelTesterMixin, ids_tensor = modeling_common.ModelTesterMixin, modeling_common.ids_tensor
ConfigTester = configuration_common.ConfigTester
GenerationTesterMixin = common("generation.test_utils").GenerationTesterMixin


class EarthGPTXModelTester:
    """Inputs as the processor lays them out: `<s> <image> x N <Region i><region_feat> ... text`, views, prompt maps."""

    def __init__(self, parent, batch_size: int = 3, text_length: int = 7, num_prompts: int = 2):
        self.parent = parent
        self.batch_size, self.text_length, self.num_prompts = batch_size, text_length, num_prompts
        self.is_training = True
        config = self.get_config()
        self.vocab_size = config.text_config.vocab_size
        self.hidden_size = config.text_config.hidden_size
        self.num_hidden_layers = config.text_config.num_hidden_layers
        self.num_attention_heads = config.text_config.num_attention_heads
        self.pad_token_id = config.text_config.pad_token_id
        self.seq_length = 1 + config.num_image_tokens + 2 * num_prompts + text_length
        self.encoder_seq_length = self.seq_length
        # what transformers' image-feature tests read for the vision tower: DINOv2, the ViT of the mixed encoder
        self.vision_config = {"num_hidden_layers": config.dino_config.num_hidden_layers}

    # The special tokens at the bottom of the vocabulary, as Llava's tester puts its image token at id 0: the common
    # resizing tests shrink the vocabulary and clamp the ids into it, which must keep them.
    FIRST_TEXT_ID = 14

    def get_config(self) -> EarthGPTXConfig:
        return EarthGPTXConfig.from_preset("tiny", image_token_id=3, pix_token_id=4, region_feature_token_id=5,
                                           region_token_ids=list(range(6, 14)))

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        batch, views, tile = self.batch_size, config.num_views, config.tile_size
        prefix = [config.text_config.bos_token_id] + [config.image_token_id] * config.num_image_tokens
        for k in range(self.num_prompts):
            prefix += [config.region_token_ids[k], config.region_feature_token_id]
        text = ids_tensor([batch, self.text_length], self.vocab_size - self.FIRST_TEXT_ID) + self.FIRST_TEXT_ID
        text[:, -2] = config.pix_token_id  # one [PIX] per sample: the mask head is part of every forward
        input_ids = torch.cat([torch.tensor(prefix).expand(batch, -1), text], dim=1)
        prompt_maps = torch.zeros(batch, views, config.max_regions, tile, tile)
        for k in range(self.num_prompts):
            prompt_maps[:, :, k, 2 + 3 * k: 12 + 3 * k, 4 + 5 * k: 14 + 5 * k] = 1.0
        inputs = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": torch.randn(batch, views, 3, tile, tile),
            "prompt_maps": prompt_maps,
        }
        return config, inputs


class EarthGPTXCommonModelTest(ModelTesterMixin, GenerationTesterMixin, unittest.TestCase):
    all_model_classes = (EarthGPTXModel, EarthGPTXForConditionalGeneration)
    _is_composite = True

    @classmethod
    def setUpClass(cls):
        # transformers' tests find a class's role (base model without loss, image-text-to-text head that takes
        # `labels`) by its name in the library's auto name tables; a model registered from outside lives in the Auto
        # classes' `_extra_content` instead. For this class's tests the names go into the tables where an in-tree
        # model's would be (`patch.dict` restores them afterwards).
        cls._name_tables = [
            mock.patch.dict(modeling_auto.MODEL_MAPPING_NAMES, {"earthgptx": "EarthGPTXModel"}),
            mock.patch.dict(modeling_auto.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
                            {"earthgptx": "EarthGPTXForConditionalGeneration"}),
        ]
        for table in cls._name_tables:
            table.start()

    @classmethod
    def tearDownClass(cls):
        for table in cls._name_tables:
            table.stop()

    def setUp(self):
        self.model_tester = EarthGPTXModelTester(self)
        self.config_tester = ConfigTester(self, config_class=EarthGPTXConfig, has_text_modality=False,
                                          common_properties=["image_token_id", "pix_token_id"])

    def test_config(self):
        self.config_tester.run_common_tests()

    # ---------------------------------------------------------------------------------------------------------------
    # Tester hooks (not overrides of tests)
    skip_test_image_features_output_shape = True  # our own shape test: test_get_image_features_shapes

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        """transformers' inputs plus, for the training tests (`return_labels`), the grounding inputs of the one [PIX]
        per sample (`sam_pixel_values`, `gt_masks`): with them every parameter of the mask head takes part in the
        loss, as in a grounding batch, so the gradient tests check it too."""
        inputs = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels and model_class is EarthGPTXForConditionalGeneration:
            config = self.model_tester.get_config()
            size, batch = config.grounding_image_size, self.model_tester.batch_size
            seeded = torch.Generator().manual_seed(0)  # the same inputs on every call (tests compare two calls)
            inputs["sam_pixel_values"] = torch.randn(batch, 3, size, size, generator=seeded)
            inputs["gt_masks"] = (torch.rand(batch, size, size, generator=seeded) > 0.5).float()
        return inputs

    # ---------------------------------------------------------------------------------------------------------------
    # Overrides: the same property, tested on this model's layout
    def test_sdpa_can_dispatch_composite_models(self):
        """Override. transformers' version reads `model.vision_tower.config`: here the vision tower is the mixed
        encoder, a block holding two towers (DINOv2 and ConvNeXt), like DeepseekVLHybrid's. Same property: loading
        with the default resolves SDPA in every transformers tower that has attention (language model, DINOv2, the
        spatial-aware ViT, SAM's encoder), and `attn_implementation="eager"` gives eager in each. (The hybrid
        fusion is our block, not a transformers model: it runs what its own config names, eager when unset.)"""
        config, _ = self.model_tester.prepare_config_and_inputs_for_common()
        with tempfile.TemporaryDirectory() as folder:
            EarthGPTXForConditionalGeneration(config).save_pretrained(folder)
            for requested, expected in ((None, "sdpa"), ("eager", "eager")):
                model = EarthGPTXForConditionalGeneration.from_pretrained(folder, attn_implementation=requested)
                parts = {
                    "language_model": model.model.language_model.config,
                    "dino": model.model.vision_tower.dino.config,
                    "spatial_aware_encoder": model.config.spatial_config,
                    "grounding vision encoder": model.config.grounding_config.vision_config,
                }
                got = {name: part._attn_implementation for name, part in parts.items()}
                self.assertEqual(got, dict.fromkeys(parts, expected), f"attn_implementation={requested}")

    def test_get_image_features_shapes(self):
        """Replaces the shape half of `test_get_image_features_output` (flag above): transformers expects the vision
        config's hidden size, but here `last_hidden_state` is [V-P]_hybrid, the fused tokens of every view
        `(B, views * tokens per view, hybrid_fusion_config.hidden_size)`; `pooler_output` holds per image the
        projected tokens its `<image>` placeholders receive."""
        config, inputs = self._image_features_prepare_config_and_inputs()
        model = EarthGPTXModel(config).eval()
        with torch.no_grad():
            features = model.get_image_features(**inputs)
        batch = inputs["pixel_values"].shape[0]
        self.assertEqual(tuple(features.last_hidden_state.shape),
                         (batch, config.num_image_tokens, config.hybrid_fusion_config.hidden_size))
        self.assertEqual([tuple(p.shape) for p in features.pooler_output],
                         [(config.num_image_tokens, config.text_config.hidden_size)] * batch)

    test_can_init_all_missing_weights_before_2023 = True  # our modeling file has no copyright year: run the test

    def test_bc_cache_name_forward(self):
        """Override. transformers' version is skipped for a forward whose signature does not list `cache`; ours takes
        the KV cache in `**kwargs` under either name, because the name changed inside our supported range (5.24
        renamed `past_key_values` to `cache`; `kv_cache.pop_cache`). Same property: a forward given an empty cache
        under the old name and one given it under the installed name return caches of the same length. (The
        deprecation warning transformers' models add for the old name is not ours to give: on releases before 5.24
        the old name is the only one.)"""
        from transformers.cache_utils import DynamicCache

        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = EarthGPTXModel(config).eval()
        lengths = {}
        for name in ("past_key_values", CACHE_KEY):
            with torch.no_grad():
                output = model(**inputs, use_cache=True, **{name: DynamicCache(config=config.text_config)})
            lengths[name] = output_cache(output).get_seq_length()
        self.assertEqual(set(lengths.values()), {inputs["input_ids"].shape[1]}, lengths)
