"""Learnability on the procedural multi-source scenes (synthetic): a short CPU training of the tiny model learns
referring object classification well above chance, and swapping two prompts swaps the two answers (region binding).
"""

import pytest
from transformers import Trainer, TrainingArguments, set_seed

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXProcessor
from earthgptx_hf.data import build_records, generate_scenes, records_to_dataset
from earthgptx_hf.evaluation.region_classification import predict_regions, region_classification_report, swap_consistency
from earthgptx_hf.training import EarthGPTXDataCollator

TILE = 56  # the tiny model with 56-pixel views: objects span a few patches


@pytest.mark.slow
def test_short_training_learns_classes_and_binds_regions(tmp_path):
    set_seed(0)
    config = EarthGPTXConfig.from_preset(
        "tiny", tile_size=TILE, dino_config={"image_size": TILE},
        spatial_config={"image_size": TILE}, convnext_config={"image_size": TILE},
    )
    processor = EarthGPTXProcessor.from_model_config(config)
    model = EarthGPTXForConditionalGeneration(config)
    images, _ = generate_scenes(tmp_path / "scenes", 700, size=64, seed=0, num_objects=(2, 2), object_scale=1.0)
    train = build_records([im for im in images if im.split == "train"], prompt_type="box", max_regions=2, seed=0)
    test = build_records([im for im in images if im.split == "test"], prompt_type="box", max_regions=2, seed=1)[:80]
    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=16, max_steps=800,
                             learning_rate=2e-3, weight_decay=0.0, warmup_steps=20, logging_steps=100,
                             save_strategy="no", report_to="none", remove_unused_columns=False, use_cpu=True,
                             disable_tqdm=True, seed=0)
    Trainer(model=model, args=args, train_dataset=records_to_dataset(train),
            data_collator=EarthGPTXDataCollator(processor)).train()
    predictions = predict_regions(model, processor, test, batch_size=16, progress=False)
    report = region_classification_report(test, predictions)["all"]
    assert report["accuracy"] > max(0.45, report["majority_baseline"] + 0.2), report
    swap = swap_consistency(model, processor, test, predictions, batch_size=16)
    assert swap["differing"] >= 20 and swap["rate"] >= 0.6, swap
