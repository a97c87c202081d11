"""The canvas and the answer drawings show prompts and masks where they are; the results download keeps everything."""

import json

import numpy as np

from earthgptx_hf.app.rendering import (
    CANVAS_MIN_SIZE,
    region_table,
    render_answer,
    render_canvas,
    results_document,
    write_results,
)
from earthgptx_hf.app.scene import demo_scene
from earthgptx_hf.models.earthgptx.visual_prompts import rle_to_mask
from earthgptx_hf.evaluation.visualization import draw_visual_prompts, region_colour


def _close(pixel, colour, tolerance=40):
    return np.abs(np.asarray(pixel, int) - np.asarray(colour, int)).max() <= tolerance


def test_the_canvas_shows_each_prompt_in_its_colour_and_maps_back_to_the_image():
    display = np.full((64, 64, 3), 90, np.uint8)
    prompts = [{"type": "point", "point": [20.0, 40.0]}, {"type": "box", "bbox": [30.0, 5.0, 60.0, 25.0]}]
    canvas, mapping = render_canvas(display, prompts)
    assert canvas.size == (CANVAS_MIN_SIZE, CANVAS_MIN_SIZE) and mapping.scale == (8.0, 8.0)
    pixels = np.asarray(canvas)
    x, y = (round(v) for v in mapping.to_display([20.0, 40.0]))
    assert _close(pixels[y, x], region_colour(1))  # the point's disc, at the point
    x1, y1 = mapping.to_display([30.0, 15.0])  # the box's left edge, halfway down
    assert _close(pixels[round(y1), round(x1) + 1], region_colour(2))
    assert _close(pixels[round(y1), round(x1) + 40], (90, 90, 90), 1)  # inside the box: the scene
    pending, _ = render_canvas(display, prompts, pending=[[10.0, 10.0]], pending_mode="box")
    px, py = (round(v) for v in mapping.to_display([10.0, 10.0]))
    cross = np.asarray(pending)[py - 4 : py + 5, px - 4 : px + 5].reshape(-1, 3)
    assert any(_close(p, region_colour(3), 30) for p in cross)  # the pending corner, in the next region's colour


def test_the_answer_drawing_overlays_the_mask_where_it_is_and_nowhere_else():
    scene = demo_scene(0, "optical")
    category, bbox, truth = scene.truth[0]
    result = {"generated_text": "<Region 1>: [PIX]", "masks": [truth], "scores": [0.8], "dropped_masks": 0,
              "regions": [{"index": 1, "prompt": {"type": "box", "bbox": [float(v) for v in bbox]},
                           "answer": "[PIX]", "mask": truth, "score": 0.8}]}
    drawing = np.asarray(render_answer(scene.display, result), int)
    plain = np.asarray(draw_visual_prompts(scene.display, [r["prompt"] for r in result["regions"]],
                                           answers={1: "[PIX]"}, min_size=CANVAS_MIN_SIZE), int)
    assert drawing.shape == plain.shape == (512, 512, 3)
    changed = np.abs(drawing - plain).max(axis=2) > 8
    big = np.kron(truth, np.ones((8, 8), bool))
    assert changed[big].mean() > 0.9 and not changed[~big].any()
    table = region_table(result)
    assert "| <Region 1> | box " in table and "| [PIX] | 0.800 |" in table


def test_results_document_holds_prompts_answers_and_masks_as_rle(tmp_path):
    scene = demo_scene(1, "sar")
    mask = scene.truth[0][2]
    prompts = [{"type": "point", "point": [3.0, 4.0]}]
    result = {"generated_text": "[PIX]", "masks": [mask], "scores": [np.float32(0.25)], "dropped_masks": 0,
              "regions": [{"index": 1, "prompt": prompts[0], "answer": None, "mask": None, "score": None}]}
    document = results_document(scene, [{"question": "Please segment the object in <Region 1>.", "result": result,
                                         "prompts": prompts, "seconds": 0.5}], model="tiny")
    path = write_results(document, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["image"] == {"name": scene.name, "width": 64, "height": 64, "modality": "sar", "dtype": "uint16",
                              "bands": 1}
    assert saved["prompts"] == prompts and saved["turns"][0]["scores"] == [0.25]
    assert np.array_equal(rle_to_mask(saved["turns"][0]["masks"][0]), mask)
    assert "Masks not bound to a region" in region_table(result)
