"""`load_annotated_images`: the one reader of annotated images that `earthgptx-train` and `earthgptx-eval` share."""

import pytest

from earthgptx_hf.data import DataArguments, load_annotated_images


def test_procedural_scenes_by_split(tmp_path):
    args = DataArguments(num_scenes=10, scene_size=64, scene_dir=str(tmp_path / "scenes"))
    train, report = load_annotated_images(args, tmp_path)
    test, _ = load_annotated_images(DataArguments(**{**vars(args), "split": "test"}), tmp_path)
    assert train and test and {im.split for im in train} == {"train"} and {im.split for im in test} == {"test"}
    assert report.to_dict()["source"].startswith("procedural")


def test_formats_without_annotated_images_or_inputs_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match=r"data_format='records' holds no annotated images.*read_records"):
        load_annotated_images(DataArguments(data_format="records", data_path="x.jsonl"), tmp_path)
    with pytest.raises(ValueError, match=r"data_format='coco' needs data_path"):
        load_annotated_images(DataArguments(data_format="coco"), tmp_path)
    with pytest.raises(ValueError, match=r"data_format='coco' needs image_dir"):
        load_annotated_images(DataArguments(data_format="coco", data_path="x.json"), tmp_path)
    with pytest.raises(ValueError, match=r"scene_objects='2-4' must be 'min,max'"):
        load_annotated_images(DataArguments(scene_objects="2-4"), tmp_path)
