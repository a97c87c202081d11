"""The README's examples marked `<!-- readme-example: NAME -->` run as written.

Examples that use the demo's outputs (`runs/demo/...`) run against a tiny Hub-ready checkpoint and procedural scenes
made here, with the paths substituted; the composition example's Hub checkpoints are tiny random parts saved here.
"""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> dict[str, str]:
    text = README.read_text()
    return dict(re.findall(r"<!-- readme-example: (\w+) -->\s*```python\n(.*?)```", text, flags=re.S))


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory):
    from earthgptx_hf import EarthGPTXProcessor
    from earthgptx_hf.data import generate_scenes
    from earthgptx_hf.tools.hub import save_hub_ready
    from tests.modeling.helpers import tiny_model

    folder = tmp_path_factory.mktemp("demo")
    model = tiny_model()
    save_hub_ready(folder / "hub", model, EarthGPTXProcessor.from_model_config(model.config))
    generate_scenes(folder / "scenes", 3, size=64, seed=0)
    # the composition example's Hub checkpoints: tiny random parts in the same layouts (an LLM with Llama-2's context)
    from tests.modeling.test_composition import save_tiny_parts

    parts = save_tiny_parts(folder / "parts", max_position_embeddings=4096)
    hub_ids = {"language_model": "meta-llama/Llama-2-13b-hf", "dino": "facebook/dinov2-large",
               "convnext": "clip-convnext-large-hf", "sam": "facebook/sam-vit-huge"}
    return {"runs/demo/hub": str(folder / "hub"),
            "runs/demo/scenes/03202_sar.png": str(folder / "scenes" / "00001_sar.png"),
            "earthgptx-paper-init": str(folder / "composed"),
            **{hub_ids[name]: str(path) for name, path in parts.items()}}


@pytest.mark.parametrize("name", sorted(_examples()))
def test_readme_example_runs(name, capsys, demo_outputs):
    code = _examples()[name]
    for path, replacement in demo_outputs.items():
        code = code.replace(f'"{path}"', repr(replacement))
    exec(compile(code, f"README:{name}", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_the_first_usage_example_is_the_pipeline():
    first = re.search(r"```python\n(.*?)```", README.read_text(), flags=re.S).group(1)
    assert 'pipeline("visual-prompting"' in first and "processor" in _examples()
