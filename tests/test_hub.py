"""Hub-ready checkpoints: files, model card metadata, push_to_hub, the caller's model and config left as they were, and
loading in a fresh process without the package (model, processor and pipeline through remote code)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard
from transformers import pipeline

import earthgptx_hf
from earthgptx_hf import EarthGPTXProcessor
from earthgptx_hf.tools.hub import push_hub_ready, save_hub_ready
from tests.fresh_process import run_without_package
from tests.modeling.helpers import tiny_model

RESULTS = {"results": {"classification": {"box": {"samples": 10, "SS": 91.5, "S-IoU": 88.0, "accuracy": 87.5}},
                       "grounding": {"point": {"samples": 10, "gIoU": 61.2, "cIoU": 64.0}}}}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")
    model = tiny_model()
    processor = EarthGPTXProcessor.from_model_config(model.config)
    save_hub_ready(folder, model, processor, max_shard_size="300KB", repo_id="me/earthgptx-tiny",
                   training_data="Procedural scenes (synthetic).", evaluation=RESULTS,
                   evaluation_dataset="procedural-scenes", base_models=["HuggingFaceTB/SmolLM2-135M-Instruct"])
    return folder, model, processor


def test_the_folder_has_weights_shards_code_processor_and_card(saved):
    folder, _, _ = saved
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) > 1 and all((folder / s).exists() and s.endswith(".safetensors") for s in shards)
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageTextToText"] == "modeling_earthgptx.EarthGPTXForConditionalGeneration"
    assert config["custom_pipelines"]["visual-prompting"]["impl"] == "visual_prompting.VisualPromptingPipeline"
    assert config["custom_pipelines"]["visual-prompting"]["pt"] == ["AutoModelForImageTextToText"]
    processor_config = json.loads((folder / "processor_config.json").read_text())
    assert processor_config["auto_map"]["AutoProcessor"].endswith("EarthGPTXProcessor")
    for name in ("visual_prompting.py", "modeling_earthgptx.py", "processing_earthgptx.py",
                 "image_processing_earthgptx.py", "tokenizer.json", "chat_template.jinja", "generation_config.json"):
        assert (folder / name).exists(), name


def test_model_card_metadata_parses(saved):
    folder, _, _ = saved
    card = ModelCard.load(folder / "README.md")
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "image-text-to-text"
    assert {"remote-sensing", "SAR", "infrared", "visual-prompting"} <= set(data.tags)
    assert data.license == "apache-2.0" and data.base_model == ["HuggingFaceTB/SmolLM2-135M-Instruct"]
    values = {r.metric_name: r.metric_value for r in data.eval_results}
    assert values["classification accuracy (box prompts)"] == 87.5 and values["grounding gIoU (point prompts)"] == 61.2
    assert 'pipeline("visual-prompting", model="me/earthgptx-tiny", trust_remote_code=True)' in card.text
    assert "Procedural scenes (synthetic)." in card.text and "| Box | 10 | 91.5 | 88.0 | 87.5 |" in card.text


def test_push_goes_through_transformers_push_to_hub_then_pushes_the_card(monkeypatch):
    """No network: the Hub's side (repository creation, commits, the card) is mocked where huggingface_hub meets it."""
    from huggingface_hub import RepoUrl
    from huggingface_hub.errors import EntryNotFoundError

    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["create"] = (repo_id, kwargs.get("private"), kwargs.get("exist_ok"))
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, **kwargs):
        files = {op.path_in_repo: op.path_or_fileobj for op in operations}
        calls["files"] = sorted(files)
        calls["config"] = json.loads(open(files["config.json"]).read())
        calls["message"] = kwargs["commit_message"]
        return "commit"

    def no_card_yet(cls, repo_id_or_path, **kwargs):
        raise EntryNotFoundError(f"{repo_id_or_path} has no README.md")

    def push_card(self, repo_id, **kwargs):
        calls["card"] = (repo_id, self)

    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", create_repo)
    monkeypatch.setattr("huggingface_hub.HfApi.create_commit", create_commit)
    monkeypatch.setattr("huggingface_hub.ModelCard.load", classmethod(no_card_yet))
    monkeypatch.setattr("huggingface_hub.ModelCard.push_to_hub", push_card)
    model = tiny_model()
    processor = EarthGPTXProcessor.from_model_config(model.config)
    assert push_hub_ready("me/demo", model, processor, private=True, evaluation=RESULTS,
                          training_data="Procedural scenes (synthetic).") == "commit"
    assert calls["create"] == ("me/demo", True, True) and calls["message"] == "Upload EarthGPT-X checkpoint"
    assert {"README.md", "config.json", "model.safetensors", "visual_prompting.py", "processor_config.json"} <= set(
        calls["files"])
    assert "visual-prompting" in calls["config"]["custom_pipelines"]
    repo_id, card = calls["card"]  # transformers uploads a template card; ours follows
    assert repo_id == "me/demo" and card.data.pipeline_tag == "image-text-to-text"
    assert 'model="me/demo"' in card.text and "Procedural scenes (synthetic)." in card.text
    assert {r.metric_name: r.metric_value for r in card.data.eval_results}["grounding gIoU (point prompts)"] == 61.2


def test_saving_leaves_the_callers_config_as_it_was(tmp_path):
    model = tiny_model()
    processor = EarthGPTXProcessor.from_model_config(model.config)
    model.save_pretrained(tmp_path / "plain")  # what any save writes into the config (auto_map, architectures)
    before = model.config.to_dict()
    save_hub_ready(tmp_path / "hub", model, processor)
    assert model.config.to_dict() == before and "custom_pipelines" not in before
    saved = json.loads((tmp_path / "hub" / "config.json").read_text())
    assert saved["custom_pipelines"]["visual-prompting"]["impl"] == "visual_prompting.VisualPromptingPipeline"


def test_a_peft_model_is_merged_in_a_copy(tmp_path):
    import torch

    from earthgptx_hf import EarthGPTXForConditionalGeneration

    model = tiny_model().set_trainable("lora").eval()
    with torch.no_grad():  # LoRA's B starts at zero: give the adapters an effect to merge
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.2, generator=torch.Generator().manual_seed(0))
    processor = EarthGPTXProcessor.from_model_config(model.config)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    save_hub_ready(tmp_path, model, processor)
    assert type(model).__name__ == "PeftModel" and model.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert any("lora_A" in k for k in state) and "custom_pipelines" not in model.config.to_dict()
    loaded = EarthGPTXForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert not any("lora" in k for k in loaded.state_dict())
    image = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 17
    box = [[{"type": "box", "bbox": [4, 4, 30, 30]}]]
    inputs = processor(images=image, text="<image>\n<Region 1>", visual_prompts=box, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, rtol=1e-4, atol=1e-4)
        with model.disable_adapter():  # the adapters matter: the merge is not the base model
            assert not torch.allclose(model(**inputs).logits, loaded(**inputs).logits, atol=1e-3)


FRESH = """
    import hashlib
    import json

    import numpy as np
    from transformers import AutoModelForImageTextToText, AutoProcessor, pipeline

    folder = sys.argv[1]
    model = AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    pipe = pipeline(model=folder, trust_remote_code=True)  # the task comes from config.custom_pipelines
    image = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 17
    out = pipe(image, boxes=[[4, 4, 30, 30]], task="classify", max_new_tokens=5)
    # a random tiny model never says [PIX] by itself: a stock generation bias makes it, so masks are compared too
    bias = {(model.config.pix_token_id,): 50.0}
    segment = pipe(image, boxes=[[4, 4, 30, 30]], task="segment", max_new_tokens=2, sequence_bias=bias)[0]
    box = [[{"type": "box", "bbox": [4, 4, 30, 30]}]]
    inputs = processor(images=image, text="<image>\\n<Region 1>", visual_prompts=box, return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=2, return_dict_in_generate=True, sequence_bias=bias)
    direct = processor.post_process_generation(generated, inputs, target_sizes=[(48, 64)])[0]
    digest = lambda masks: [hashlib.sha1(np.ascontiguousarray(np.asarray(m, dtype=bool)).tobytes()).hexdigest()
                            for m in masks]
    assert not any(m.startswith("earthgptx_hf") for m in sys.modules)
    print(json.dumps({"model": type(model).__module__, "processor": type(processor).__name__,
                      "pipeline": type(pipe).__module__, "text": out[0]["generated_text"],
                      "segment_text": segment["generated_text"], "segment_masks": digest(segment["masks"]),
                      "generate_text": direct["text"], "generate_masks": digest(direct["masks"])}))
"""


def _mask_digests(masks) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(np.asarray(m, dtype=bool)).tobytes()).hexdigest() for m in masks]


def test_fresh_process_without_the_package_loads_model_processor_and_pipeline(saved, tmp_path):
    """The saved folder's remote code gives, without the package, the text and masks the package gives (this runs on
    whichever transformers the environment holds: `make test` and `make test-floors` cover both ends)."""
    folder, model, processor = saved
    result = run_without_package(FRESH, [folder], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["model"].startswith("transformers_modules") and loaded["processor"] == "EarthGPTXProcessor"
    assert loaded["pipeline"].startswith("transformers_modules") and loaded["pipeline"].endswith("visual_prompting")
    here = pipeline("visual-prompting", model=model, processor=processor)
    image = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 17
    assert loaded["text"] == here(image, boxes=[[4, 4, 30, 30]], task="classify", max_new_tokens=5)[0]["generated_text"]

    bias = {(model.config.pix_token_id,): 50.0}
    segment = here(image, boxes=[[4, 4, 30, 30]], task="segment", max_new_tokens=2, sequence_bias=bias)[0]
    assert segment["generated_text"].count("[PIX]") == 2 and len(segment["masks"]) == 2
    assert loaded["segment_text"] == segment["generated_text"]
    assert loaded["segment_masks"] == _mask_digests(segment["masks"])
    box = [[{"type": "box", "bbox": [4, 4, 30, 30]}]]
    inputs = processor(images=image, text="<image>\n<Region 1>", visual_prompts=box, return_tensors="pt")
    generated = model.generate(**inputs, max_new_tokens=2, return_dict_in_generate=True, sequence_bias=bias)
    direct = processor.post_process_generation(generated, inputs, target_sizes=[(48, 64)])[0]
    assert len(direct["masks"]) == 2 and any(np.asarray(m).any() for m in direct["masks"])
    assert loaded["generate_text"] == direct["text"] and loaded["generate_masks"] == _mask_digests(direct["masks"])


OLD_CHECKPOINT = Path(__file__).parent / "fixtures" / "checkpoint_saved_before_the_model_folder.tar.gz"


def test_a_checkpoint_saved_before_the_model_folder_loads_and_re_saves_in_the_new_layout(tmp_path):
    """Issue 32: a Hub-ready folder saved by the package before the model folder (its 40 remote-code files under the
    old names, written by main at 0c30361; weights stored in float16 to keep the fixture small) loads through the
    installed package's classes, answers through the pipeline, and saved again carries the model folder's files."""
    import tarfile

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from earthgptx_hf.conversion import load_visual_prompting
    from earthgptx_hf.models.earthgptx import EarthGPTXForConditionalGeneration

    old = tmp_path / "old"
    with tarfile.open(OLD_CHECKPOINT) as archive:
        archive.extractall(old, filter="data")
    assert {"pretrained_earthgptx.py", "kv_cache.py", "trainable.py", "configuration_presets.py"} <= \
        {path.name for path in old.glob("*.py")}  # the old layout
    reloaded = AutoModelForImageTextToText.from_pretrained(old)
    assert type(reloaded) is EarthGPTXForConditionalGeneration  # the package's class, not the old remote code
    answer = load_visual_prompting(old)(np.zeros((48, 64, 3), np.uint8), boxes=[[4, 4, 30, 40]], task="classify",
                                        max_new_tokens=2)
    assert isinstance(answer[0]["generated_text"], str) and len(answer[0]["regions"]) <= 1
    new = save_hub_ready(tmp_path / "new", reloaded, AutoProcessor.from_pretrained(old))
    model_folder = Path(earthgptx_hf.__file__).parent / "models" / "earthgptx"
    assert sorted(path.name for path in new.glob("*.py")) == \
        sorted(path.name for path in model_folder.glob("*.py") if path.name != "__init__.py")
    again = AutoModelForImageTextToText.from_pretrained(new)
    for (name, a), (_, b) in zip(reloaded.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
