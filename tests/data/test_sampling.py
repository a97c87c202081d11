"""Which records training sees: class-balanced resampling, the procedural share, the training options' refusals,
and all of them through `build_training_records` with their counts in the data report."""

import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from earthgptx_hf.data import DataArguments
from earthgptx_hf.data.sampling import class_balanced_records, mix_procedural
from earthgptx_hf.training.train import build_training_records


def _record(modality, *labels, task="classification"):
    answer = "\n".join(f"<Region {i + 1}>: {label}" for i, label in enumerate(labels))
    return {"task": task, "modality": modality, "prompts": [{"type": "box", "bbox": [0, 0, 4, 4]}] * len(labels),
            "conversations": [{"from": "user", "value": "?"}, {"from": "model", "value": answer}]}


def _classes(records):
    return Counter((r["modality"], r["conversations"][1]["value"].split(": ")[1]) for r in records)


def test_class_balanced_resampling_evens_out_the_classes_per_modality():
    """power 1: every (modality, class) weighs the same; power 0.5 lies between that and no balance."""
    records = [_record("infrared", "person") for _ in range(90)] + [_record("infrared", "car") for _ in range(10)]
    records += [_record("sar", "ship") for _ in range(20)]
    chosen, report = class_balanced_records(records, seed=0)
    assert len(chosen) == 120
    after = _classes(chosen)
    # every (modality, class) has the same total weight: each gets about a third of the draws
    assert all(25 <= after[key] <= 55 for key in (("infrared", "person"), ("infrared", "car"), ("sar", "ship"))), after
    table = report["class_balanced"]["regions_per_class"]
    assert table["infrared"]["person"] == {"before": 90, "after": after[("infrared", "person")]}
    assert table["infrared"]["car"]["before"] == 10 and table["sar"]["ship"]["before"] == 20
    assert report["class_balanced"]["records"] == 120
    assert report["class_balanced"]["distinct_records"] == len({id(r) for r in chosen})
    assert class_balanced_records(records, seed=0)[0] == chosen  # seeded
    # records without regions (grounding) keep a weight and are drawn too; nothing to balance: kept as they were
    grounding = [_record("optical", "ship", task="grounding")] * 5
    assert class_balanced_records(grounding)[0] == grounding
    tempered = _classes(class_balanced_records(records, seed=0, power=0.5)[0])
    assert after[("infrared", "car")] > tempered[("infrared", "car")] > 10, tempered
    with pytest.raises(ValueError, match=r"balance_power=0 must be a number in \(0, 1\]"):
        class_balanced_records(records, power=0)
    with pytest.raises(ValueError, match=r"balance_power=2"):
        DataArguments(balance_power=2)


def test_procedural_share_counts():
    real = [{"id": f"r{i}"} for i in range(70)]
    procedural = [{"id": f"p{i}"} for i in range(50)]
    mixed, report = mix_procedural(real, procedural, 0.3, seed=0)
    ids = Counter(r["id"][0] for r in mixed)
    assert ids == {"r": 70, "p": 30} and len({r["id"] for r in mixed if r["id"][0] == "p"}) == 30  # no repeats
    assert report == {"procedural_share": 0.3, "real_records": 70, "procedural_records": 30,
                      "procedural_available": 50}
    mixed, _ = mix_procedural(real, procedural[:20], 0.5, seed=0)  # 70 wanted from 20: each 3 or 4 times
    repeats = Counter(r["id"] for r in mixed if r["id"][0] == "p")
    assert sum(repeats.values()) == 70 and set(repeats.values()) == {3, 4}
    assert sorted(r["id"] for r in mix_procedural(real, [], 0.0)[0]) == sorted(r["id"] for r in real)  # share 0
    with pytest.raises(ValueError, match="none were built"):
        mix_procedural(real, [], 0.2)


@pytest.mark.parametrize("share", [1.0, -0.1, 1.5, "0.3", True])
def test_a_bad_procedural_share_is_refused(share):
    with pytest.raises(ValueError, match=rf"procedural_share={share!r} must be a number in \[0, 1\)"):
        mix_procedural([], [], share)
    with pytest.raises(ValueError, match=rf"procedural_share={share!r}"):
        DataArguments(procedural_share=share)


@pytest.mark.parametrize("name, value, valid", [
    ("region_crops", -1, "non-negative integer"), ("region_crops", 1.5, "non-negative integer"),
    ("pair_crops", -1, "non-negative integer"), ("pair_crops", True, "non-negative integer"),
    ("crop_context", -0.5, ">= 0"), ("crop_min_size", 0, "positive integer"),
    ("crop_keep_fraction", 0.0, r"in \(0, 1\]"), ("crop_keep_fraction", 1.2, r"in \(0, 1\]"),
    ("flip", "diagonal", "is not one of"), ("max_prompts_per_record", 0, "positive integer"),
    ("pair_partners", "all", "is not one of"),
])
def test_bad_training_options_are_refused_naming_argument_value_and_what_is_valid(name, value, valid):
    with pytest.raises(ValueError, match=rf"{name}={value!r}.*{valid}"):
        DataArguments(**{name: value})


def test_pair_partners_without_pair_crops_is_refused_not_ignored():
    with pytest.raises(ValueError, match="pair_partners='nearest' chooses the pairs of pair_crops, but pair_crops=0"):
        DataArguments(pair_partners="nearest")
    assert DataArguments(pair_partners="nearest", pair_crops=1).pair_partners == "nearest"


@pytest.fixture
def small_set(tmp_path):
    """An rs_mini-format set of four 64x64 infrared images: three persons (small) and one car each."""
    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        objects = [{"category": "person", "bbox": [4 + 12 * k, 4, 10 + 12 * k, 12]} for k in range(3)]
        objects.append({"category": "car", "bbox": [30, 40, 50, 52]})
        lines.append(json.dumps({"id": f"ir/{i}", "file": f"images/{i}.png", "modality": "infrared", "width": 64,
                                 "height": 64, "split": "train", "objects": objects}))
    (root / "annotations" / "train.jsonl").write_text("\n".join(lines) + "\n")
    return root / "annotations" / "train.jsonl"


def test_build_training_records_applies_and_counts_every_option(small_set, tmp_path):
    base = dict(data_format="rs_mini", data_path=str(small_set), tasks="classification", prompt_type="box",
                grounding_regions="1", num_scenes=12, scene_size=64, scene_dir=str(tmp_path / "scenes"))
    plain, plain_report = build_training_records(DataArguments(**base), 8, tmp_path / "plain")
    assert len(plain) == 4 and plain_report["training_records"] == 4
    assert not {"augmentation", "class_balanced", "procedural_mix"} & set(plain_report)
    args = DataArguments(**base, region_crops=1, crop_context=1.0, crop_min_size=24, flip="horizontal",
                         max_prompts_per_record=2, balance_classes=True, procedural_share=0.5)
    records, report = build_training_records(args, 8, tmp_path / "run")
    augmentation = report["augmentation"]
    assert augmentation["region_crops"]["crops"] == 4 and augmentation["flips"]["horizontal copies"] == 8
    assert augmentation["images_in"] == 4 and augmentation["images_out"] == 4 + 4 + 8
    assert all(p.parent.name in ("crops", "flips") for p in (tmp_path / "run" / "augmented").rglob("*.png"))
    real = [r for r in records if r["source"] != "procedural"]
    assert all(len(r["prompts"]) <= 2 for r in records if r["task"] == "classification")
    mix = report["procedural_mix"]
    assert mix["real_records"] == len(real) == report["class_balanced"]["records"]
    assert mix["procedural_records"] == len(records) - len(real) == len(real)  # share 0.5: as many as real ones
    assert report["training_records"] == len(records)
    assert {r["id"].split("#")[0] for r in real} <= {f"ir/{i}" for i in range(4)}
    assert any("#crop" in r["id"] for r in real) and any("#flip-horizontal" in r["id"] for r in real)
    with pytest.raises(ValueError, match="max_prompts_per_record=9 is more than the model's max_regions=8"):
        build_training_records(DataArguments(**base, max_prompts_per_record=9), 8, tmp_path / "bad")
    with pytest.raises(ValueError, match="data_format='procedural' is procedural already"):
        build_training_records(DataArguments(data_format="procedural", num_scenes=6, scene_size=64,
                                             scene_dir=str(tmp_path / "scenes2"), procedural_share=0.2), 8, tmp_path)


def test_pair_crops_add_both_objects_of_a_pair_prompted_on_one_crop(small_set, tmp_path):
    args = DataArguments(data_format="rs_mini", data_path=str(small_set), tasks="classification", prompt_type="box",
                         pair_crops=2, crop_context=1.0, crop_min_size=24)
    records, report = build_training_records(args, 8, tmp_path / "run")
    pairs = report["augmentation"]["pair_crops"]
    # per image: the car and its nearest person (the other two persons have no partner left), weighed up twice
    assert pairs["pairs"] == 4 and pairs["copies"] == 2 and pairs["objects_unpaired"] == 8
    assert report["augmentation"]["images_out"] == 4 + 2 * 4
    paired = [r for r in records if "#pair" in r["id"]]
    # each copy is its own record (ids "...#pair0#copy1..."), the file written once
    assert len(paired) == 8 and len({r["id"] for r in paired}) == 8
    assert sum("#copy1" in r["id"] for r in paired) == 4
    assert len(list((tmp_path / "run" / "augmented" / "pairs").iterdir())) == 4
    for record in paired:
        answer = record["conversations"][1]["value"]
        assert len(record["prompts"]) == 2 and sorted(line.split(": ")[1] for line in answer.splitlines()) == [
            "car", "person"]
    flipped, report = build_training_records(replace(args, flip="horizontal"), 8, tmp_path / "flipped")
    assert report["augmentation"]["images_out"] == 2 * (4 + 4) + 2 * 4  # images and pairs flipped, then copied
    assert sum("#pair" in r["id"] and "#flip-horizontal#copy1" in r["id"] for r in flipped) == 4
    nearest, report = build_training_records(replace(args, pair_partners="nearest"), 8, tmp_path / "nearest")
    # per image: each of the three persons with the car (the car's own nearest partner is one of them)
    assert report["augmentation"]["pair_crops"]["pairs"] == 12 and not report["augmentation"]["pair_crops"][
        "disjoint"] and report["augmentation"]["pair_crops"]["objects_unpaired"] == 0
    assert sum("#pair" in r["id"] for r in nearest) == 2 * 12
    with pytest.raises(ValueError, match="pair_crops=2 asks two prompts per crop but max_prompts_per_record=1"):
        build_training_records(replace(args, max_prompts_per_record=1), 8, tmp_path / "one")
    with pytest.raises(ValueError, match="region_crops, pair_crops and flip work on annotated images"):
        build_training_records(DataArguments(data_format="records", data_path=str(small_set), pair_crops=1), 8,
                               tmp_path / "records")
