"""Issue 33: the text tasks scored against every reference, per modality, next to their prompt-blind baselines; and
segmentation as a follow-up turn."""

import shutil

import numpy as np
import pytest

from earthgptx_hf.data.annotations import AnnotatedImage
from earthgptx_hf.data.procedural import generate_scene
from earthgptx_hf.data.tasks import build_records
from earthgptx_hf.evaluation import follow_ups
from earthgptx_hf.evaluation.text_tasks import (
    caption_task_scores,
    majority_by_modality,
    other_record_answers,
    references_of,
    scene_scores,
)
from earthgptx_hf.models.earthgptx.visual_prompts import rle_to_mask

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="the caption metrics need Java 17")


def _record(answer, modality="optical", references=None, task="caption"):
    record = {"task": task, "modality": modality, "conversations": [{"from": "user", "value": "q"},
                                                                     {"from": "model", "value": answer}]}
    return record if references is None else {**record, "references": references}


def test_references_and_the_other_record_baseline_never_answers_with_the_record_itself():
    records = [_record(f"answer {i}") for i in range(7)]
    assert references_of(_record("a", references=["a", "b"])) == ["a", "b"] and references_of(records[2]) == \
        ["answer 2"]
    others = other_record_answers(records, seed=4)
    assert all(other != f"answer {i}" for i, other in enumerate(others))
    assert other_record_answers(records, seed=4) == others  # seeded


def test_majority_by_modality_counts_within_each_modality():
    records = [_record("", m) for m in ("sar", "sar", "sar", "optical", "optical")]
    assert majority_by_modality(records, ["a", "b", "b", "c", "c"]) == ["b", "b", "b", "c", "c"]


def test_scene_accuracy_and_its_majority_baseline_per_modality():
    records = [_record(label, modality) for label, modality in
               (("harbor", "sar"), ("harbor", "sar"), ("airport", "sar"), ("mixed area", "optical"))]
    scores = scene_scores(records, ["harbor", "airport", "airport", "Mixed area."])
    assert scores["accuracy"] == 75.0 and scores["baseline"]["accuracy"] == 75.0
    assert scores["by_modality"]["sar"]["accuracy"] == pytest.approx(200 / 3)
    assert scores["by_modality"]["sar"]["baseline"]["accuracy"] == pytest.approx(200 / 3)


@pytest.fixture(scope="module")
def relation_records():
    records = []
    for seed in range(8):
        pixels, objects = generate_scene(np.random.default_rng(seed), ("optical", "sar")[seed % 2], 64)
        image = AnnotatedImage(image="x.png", width=64, height=64, modality=("optical", "sar")[seed % 2],
                               objects=objects, source="procedural", id=f"procedural/{seed}")
        records += build_records([image], tasks=("relation",), seed=seed)
    return records


@needs_java
def test_an_answer_that_is_any_reference_scores_full_marks_and_beats_the_baseline(relation_records):
    answers = [r["references"][(i + 1) % 3] for i, r in enumerate(relation_records)]  # not the trained template
    scores = caption_task_scores("relation", relation_records, answers)
    assert scores["BLEU-4"] == pytest.approx(100, abs=1e-6) and scores["relation accuracy"] == 100
    assert scores["CIDEr"] > scores["baseline"]["CIDEr"] and scores["BLEU-4"] > scores["baseline"]["BLEU-4"]
    words = [r["conversations"][-1]["value"] for r in relation_records]
    from earthgptx_hf.data.scene_facts import relation_word

    truth = [relation_word(w) for w in words]
    majority = majority_by_modality(relation_records, truth)
    expected = 100 * sum(m == t for m, t in zip(majority, truth)) / len(truth)
    assert scores["baseline"]["relation accuracy"] == pytest.approx(expected)
    assert set(scores["by_modality"]) == {"optical", "sar"}
    wrong = ["The ship in <Region 1> is nowhere." for _ in relation_records]
    assert caption_task_scores("relation", relation_records, wrong)["relation accuracy"] == 0


def test_follow_up_segmentation_is_scored_after_the_first_answer_and_as_a_first_turn(monkeypatch):
    pixels, objects = generate_scene(np.random.default_rng(5), "optical", 64, num_objects=(3, 3))
    image = AnnotatedImage(image="x.png", width=64, height=64, modality="optical", objects=objects,
                           source="procedural", id="procedural/5")
    records = [r for seed in range(20) for r in build_records([image], tasks=("conversation",), seed=seed)]
    asked_records = [r for r in records if "grounding" in r["turn_tasks"][1:]]
    calls = []

    def fake_generate(model, processor, group, *args, **kwargs):
        calls.append(group)
        outputs = []
        for record in group:
            if not record["pix_targets"]:  # the first turn: classify
                outputs.append({"text": "<Region 1>: ship", "masks": [], "mask_regions": []})
                continue
            regions = record["pix_targets"]
            outputs.append({"text": "\n".join(f"<Region {r}>[PIX]" for r in regions),
                            "masks": [rle_to_mask(record["masks"][r - 1]) for r in regions], "mask_regions": regions,
                            "scores": [0.9] * len(regions)})
        return outputs

    monkeypatch.setattr(follow_ups, "generate_for_records", fake_generate)

    def mask_metric(predictions, references):
        ious = [float((p.astype(bool) & r.astype(bool)).sum() / max((p.astype(bool) | r.astype(bool)).sum(), 1))
                for p, r in zip(predictions, references)]
        return {"gIoU": 100 * float(np.mean(ious)), "cIoU": 100 * float(np.mean(ious)), "masks": len(ious)}

    figures, _ = follow_ups.follow_up_scores(None, type("P", (), {"pix_token": "[PIX]"})(), records, mask_metric)
    assert figures["samples"] == len(asked_records) > 0
    assert figures["follow-up"] == figures["first turn"] == {"gIoU": 100.0, "cIoU": 100.0,
                                                              "right [PIX] count": 100.0}
    first, follow, alone = calls
    assert all(len(r["conversations"]) == 2 for r in first)
    # the follow-up is asked after the model's own first answer; the same question alone opens the other
    assert [r["conversations"][1]["value"] for r in follow] == ["<Region 1>: ship"] * len(follow)
    assert [r["conversations"][2] for r in follow] == [r["conversations"][0] for r in alone]
    assert all(r["conversations"][-1]["value"].endswith(("[PIX]", "[PIX].")) for r in follow)
    assert any(len(r["pix_targets"]) > 1 for r in follow)  # follow-ups that ask about every region are scored too
    # records of people's conversations carry no `turn_tasks`: a later answer with [PIX] is the segment follow-up
    plain = [{k: v for k, v in r.items() if k != "turn_tasks"} for r in records]
    again, _ = follow_ups.follow_up_scores(None, type("P", (), {"pix_token": "[PIX]"})(), plain, mask_metric)
    assert again == figures


def test_the_prompt_of_a_record_is_every_turn_before_its_last_answer():
    from earthgptx_hf import EarthGPTXConfig, EarthGPTXProcessor
    from earthgptx_hf.evaluation.generation import chat_prompt, record_prompt

    processor = EarthGPTXProcessor.from_model_config(EarthGPTXConfig.from_preset("tiny"))
    single = {"conversations": [{"from": "user", "value": "Classify <Region 1>."},
                                {"from": "model", "value": "<Region 1>: ship"}]}
    assert record_prompt(processor, single) == chat_prompt(processor, "Classify <Region 1>.")
    follow = {"conversations": [*single["conversations"], {"from": "user", "value": "Segment <Region 1>."},
                                {"from": "model", "value": "<Region 1>[PIX]"}]}
    rendered = record_prompt(processor, follow)
    assert rendered == processor.apply_chat_template([
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Classify <Region 1>."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<Region 1>: ship"}]},
        {"role": "user", "content": [{"type": "text", "text": "Segment <Region 1>."}]}], add_generation_prompt=True)
    assert rendered.index("<Region 1>: ship") < rendered.index("Segment <Region 1>.")
    assert "[PIX]" not in rendered  # the answer to generate is not in the prompt


def test_a_follow_up_is_asked_after_the_model_s_own_answer_without_regions_that_were_not_prompted():
    from earthgptx_hf.evaluation.follow_ups import said_turn

    assert said_turn("<Region 1>: ship\n<Region 2>: vehicle", 2) == "<Region 1>: ship\n<Region 2>: vehicle"
    assert said_turn("<Region 1>: ship <Region 7>: tank", 2) == "<Region 1>: ship : tank"
