import json

import torch
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText

from earthgptx_hf import EarthGPTXConfig, EarthGPTXForConditionalGeneration, EarthGPTXModel

from ..fresh_process import run_without_package
from .helpers import tiny_model, training_batch


def _inference_inputs(config):
    return {k: v for k, v in training_batch(config).items() if k not in ("labels", "gt_masks")}


def test_save_and_load_give_identical_logits_and_masks(tmp_path):
    model = tiny_model()
    inputs = _inference_inputs(model.config)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, EarthGPTXForConditionalGeneration)
    with torch.no_grad():
        a, b = model(**inputs), loaded(**inputs)
    assert torch.equal(a.logits, b.logits)
    for x, y in zip(a.pred_masks, b.pred_masks):  # equal up to BLAS summation order (~1e-11 seen)
        torch.testing.assert_close(x, y, rtol=0, atol=1e-6)
    base = AutoModel.from_pretrained(tmp_path)
    assert isinstance(base, EarthGPTXModel)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), EarthGPTXConfig)


def test_saved_folder_carries_its_code_and_auto_map(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_earthgptx.EarthGPTXConfig",
        "AutoModel": "modeling_earthgptx.EarthGPTXModel",
        "AutoModelForImageTextToText": "modeling_earthgptx.EarthGPTXForConditionalGeneration",
    }
    # the model's files of the model folder, nothing else (tests/test_layering.py checks the whole checkpoint)
    assert sorted(path.name for path in tmp_path.glob("*.py")) == [
        "configuration_earthgptx.py", "generation_earthgptx.py", "mixed_visual_encoder.py", "modeling_earthgptx.py",
        "perception.py"]


FRESH_PROCESS = """
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText

    folder, data = sys.argv[1], sys.argv[2]
    try:
        import earthgptx_hf  # noqa: F401
        raise SystemExit("the package was importable")
    except ImportError:
        pass
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True).eval()
    base = AutoModel.from_pretrained(folder, trust_remote_code=True)
    tensors = load_file(data)
    expected = tensors.pop("expected_logits")
    with torch.no_grad():
        logits = model(**tensors).logits
    torch.testing.assert_close(logits, expected)
    inputs = {k: v for k, v in tensors.items()}
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False, pad_token_id=0, return_dict_in_generate=True)
    assert len(out.pred_masks) == inputs["input_ids"].shape[0]
    assert not any(m.startswith("earthgptx_hf") for m in sys.modules)
    print("REMOTE-OK", type(config).__name__, type(model).__name__, type(base).__name__, type(model).__module__)
"""


def test_fresh_process_loads_with_remote_code_and_the_package_blocked(tmp_path):
    model = tiny_model()
    folder = tmp_path / "checkpoint"
    model.save_pretrained(folder)
    inputs = _inference_inputs(model.config)
    with torch.no_grad():
        inputs["expected_logits"] = model(**inputs).logits
    save_file({k: v.contiguous() for k, v in inputs.items()}, tmp_path / "inputs.safetensors")
    result = run_without_package(FRESH_PROCESS, [folder, tmp_path / "inputs.safetensors"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE-OK EarthGPTXConfig EarthGPTXForConditionalGeneration EarthGPTXModel transformers_modules" in (
        result.stdout
    )


def test_from_pretrained_keeps_hub_kernels_off_unless_asked(monkeypatch):
    # transformers 5.25 defaults use_kernels to True (layers fetched from the Hub at load time); ours stays offline
    from transformers import PreTrainedModel

    seen = {}
    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(lambda cls, *a, **k: seen.update(k) or cls))
    assert EarthGPTXForConditionalGeneration.from_pretrained("a-folder") is EarthGPTXForConditionalGeneration
    assert seen["use_kernels"] is False
    EarthGPTXForConditionalGeneration.from_pretrained("a-folder", use_kernels=True)
    assert seen["use_kernels"] is True
