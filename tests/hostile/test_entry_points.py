"""Hostile data through the command entry points: `earthgptx-train` (`build_training_records`), `earthgptx-eval`
(`load_evaluation_records`) and the demo (`--data`), for a converter's input and for M-RSVP `records` files. The
converters' own tables are in test_converters.py; these rows check that the entry points keep their rules: a path
outside the root is counted, never read; a malformed file is one clear error naming it."""

import json
import os
from argparse import Namespace

from PIL import Image

from earthgptx_hf.data.annotated_images import DataArguments, load_annotated_images
from earthgptx_hf.data.annotations import PATH_OUTSIDE_ROOT, AnnotationFormatError
from earthgptx_hf.tools.demo import _data_arguments
from earthgptx_hf.evaluation.evaluate_model import EvalDataArguments
from earthgptx_hf.evaluation.evaluation_data import load_evaluation_records
from earthgptx_hf.training.train import build_training_records

from .harness import Hostile, parametrize, run_case

W, H = 64, 48
GOOD = {"id": "ok", "file": "images/a.png", "modality": "sar", "width": W, "height": H, "split": "train",
        "objects": [{"category": "ship", "bbox": [2, 2, 30, 30]}]}


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (W, H), 90).save(path)
    return path


def rs_mini_set(tmp, *extra, raw=None, split="train"):
    """`tmp/ds` in the rs_mini layout with one good record, `extra` records and an optional raw line; a secret image
    outside it."""
    root = tmp / "ds"
    _image(root / "images" / "a.png")
    _image(tmp / "secret.png")
    os.symlink(tmp / "secret.png", root / "images" / "link.png")
    (root / "annotations").mkdir(parents=True)
    lines = [json.dumps(r) for r in (GOOD, *extra)] + ([raw] if raw else [])
    (root / "annotations" / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def escaping(tmp, **kw):
    return rs_mini_set(tmp, {**GOOD, "id": "up", "file": "../secret.png"},
                       {**GOOD, "id": "abs", "file": str(tmp / "secret.png")},
                       {**GOOD, "id": "link", "file": "images/link.png"}, **kw)


def train(tmp, root, **kw):
    args = DataArguments(data_format="rs_mini", data_path=str(root / "annotations" / "train.jsonl"),
                         tasks="classification", **kw)
    return build_training_records(args, max_regions=8, workdir=tmp)


def evaluate(tmp, root):
    args = EvalDataArguments(data_format="rs_mini", data_path=str(root / "annotations" / "train.jsonl"),
                             tasks="classification", split="train")
    return load_evaluation_records(args, ["box"], max_regions=8, workdir=tmp)


def demo(tmp, root):
    args = _data_arguments(Namespace(data=str(root), data_format="rs_mini", image_dir=None), "train", tmp)
    return load_annotated_images(args, tmp)


def records_file(tmp, *records, raw=None):
    root = tmp / "recs"
    _image(root / "images" / "a.png")
    _image(tmp / "secret.png")
    good = {"id": "ok", "image": "images/a.png", "modality": "sar", "width": W, "height": H, "task": "classification",
            "prompts": [{"type": "box", "bbox": [2, 2, 30, 30]}],
            "conversations": [{"from": "user", "value": "What is <Region 1>?"}, {"from": "model", "value": "ship"}]}
    lines = [json.dumps(r) for r in (good, *({**good, **r} for r in records))] + ([raw] if raw else [])
    (root / "records.jsonl").write_text("\n".join(lines) + "\n")
    return root / "records.jsonl"


def train_records(tmp, *records, raw=None, **kw):
    args = DataArguments(data_format="records", data_path=str(records_file(tmp, *records, raw=raw)), **kw)
    return build_training_records(args, max_regions=8, workdir=tmp)


def eval_records(tmp, *records):
    args = EvalDataArguments(data_format="records", data_path=str(records_file(tmp, *records)),
                             tasks="classification")
    return load_evaluation_records(args, ["box"], max_regions=8, workdir=tmp)


def _eval_kept_inside(result):
    records = [r for group in result.values() for r in group]
    assert len(records) == 1 and records[0]["id"].startswith("ok")


def _demo_counted(result):
    images, report = result
    assert [im.id for im in images] == ["ok"] and report.images_skipped == {PATH_OUTSIDE_ROOT: 3}


def _records_counted(count, reason=PATH_OUTSIDE_ROOT):
    """One record kept (the good one); dropped for `reason`: one record with its `count` prompts, or for paths `count`
    records of one prompt each; none kept points at the secret."""
    def check(result):
        records, report = result
        assert len(records) == 1 and report["skipped"][reason] == count, report
        assert report["images_skipped"] == {reason: count if reason == PATH_OUTSIDE_ROOT else 1}, report
        assert not any(os.path.realpath(r["image"]).endswith("secret.png") for r in records)
    return check


def _records_kept(count):
    def check(result):
        assert len(result[0]) == count, result[1]
    return check


def _skipped(expected):
    def check(result):
        assert result[1]["skipped"] == expected, result[1]
    return check


CASES = [
    Hostile("train: rs_mini paths outside the root", lambda tmp: train(tmp, escaping(tmp)),
            check=_records_counted(3)),
    Hostile("train: rs_mini paths outside the root allowed explicitly",
            lambda tmp: train(tmp, escaping(tmp), allow_outside_root=True), check=_records_kept(4)),
    Hostile("train: rs_mini line that is not JSON", lambda tmp: train(tmp, rs_mini_set(tmp, raw="{not json")),
            raises=AnnotationFormatError, match=r"train\.jsonl, line 2"),
    Hostile("train: rs_mini record without objects",
            lambda tmp: train(tmp, rs_mini_set(tmp, {k: v for k, v in GOOD.items() if k != "objects"})),
            raises=AnnotationFormatError, match=r"train\.jsonl.*objects"),
    Hostile("train: rs_mini object with a 3-number bbox",
            lambda tmp: train(tmp, rs_mini_set(tmp, {**GOOD, "id": "bad", "objects": [
                {"category": "ship", "bbox": [1, 2, 3]}]})),
            check=_skipped({"malformed bbox": 1})),
    Hostile("eval: rs_mini paths outside the root", lambda tmp: evaluate(tmp, escaping(tmp)),
            check=_eval_kept_inside),
    Hostile("eval: rs_mini line that is not JSON", lambda tmp: evaluate(tmp, rs_mini_set(tmp, raw="[1, 2")),
            raises=AnnotationFormatError, match=r"train\.jsonl, line 2"),
    Hostile("demo: --data with paths outside the root", lambda tmp: demo(tmp, escaping(tmp)), check=_demo_counted),
    Hostile("demo: --data with a malformed file", lambda tmp: demo(tmp, rs_mini_set(tmp, raw="nope")),
            raises=AnnotationFormatError, match=r"train\.jsonl, line 2"),
    Hostile("train records: ../ image", lambda tmp: train_records(tmp, {"id": "up", "image": "../secret.png"}),
            check=_records_counted(1)),
    Hostile("train records: absolute image", lambda tmp: train_records(tmp, {"id": "abs",
                                                                             "image": str(tmp / "secret.png")}),
            check=_records_counted(1)),
    Hostile("train records: line that is not JSON", lambda tmp: train_records(tmp, raw="{oops"),
            raises=AnnotationFormatError, match=r"records\.jsonl, line 2: not valid JSON"),
    Hostile("train records: record without conversations",
            lambda tmp: train_records(tmp, raw=json.dumps({"image": "images/a.png", "prompts": []})),
            raises=AnnotationFormatError, match=r"records\.jsonl, line 2: the record has no \['conversations'\]"),
    Hostile("train records: image is not a path", lambda tmp: train_records(tmp, {"id": "n", "image": 5}),
            raises=AnnotationFormatError, match=r"records\.jsonl, line 2 \(id 'n'\): image: relative must be"),
    Hostile("train records: malformed prompt", lambda tmp: train_records(
        tmp, {"id": "bad", "prompts": [{"type": "box", "bbox": [0, 0, 5]}, None, 7]}),
            check=_records_counted(3, "malformed prompt")),
    Hostile("train records: prompts not a list", lambda tmp: train_records(tmp, {"id": "s", "prompts": "abc"}),
            raises=AnnotationFormatError, match=r"records\.jsonl, line 2 \(id 's'\): 'prompts' must be a list"),
    Hostile("train records: conversations not turns", lambda tmp: train_records(tmp, {"id": "c", "conversations": 5}),
            raises=AnnotationFormatError, match=r"line 2 \(id 'c'\): 'conversations' must be a non-empty list"),
    Hostile("eval records: ../ image", lambda tmp: eval_records(tmp, {"id": "up", "image": "../secret.png"}),
            check=_eval_kept_inside),
]


@parametrize(CASES)
def test_hostile_entry_point_data(case, tmp_path):
    run_case(case, tmp_path)
