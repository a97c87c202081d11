"""The shape of the package, read from the source's imports (module level and inside functions):

    models.earthgptx  <-  {conversion, data}  <-  {training, evaluation}  <-  geo  <-  {app, tools}

- The model folder (`models/earthgptx/`) is the code a checkpoint carries: it imports only the standard library,
  torch, transformers (with its `huggingface_hub`), numpy and PIL, it runs in a process where the rest of the package
  cannot be imported, and a saved checkpoint carries exactly its files, at most `MAX_CARRIED_FILES`.
- Every other subpackage imports only from layers below its own, or from a peer in its layer along a declared edge.
- No module takes part in an import cycle.

    python -m pytest tests/test_layering.py
"""

import ast
import importlib.util
import json
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fresh_process import run_without_package

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "earthgptx_hf"
MODEL_FOLDER = PACKAGE / "models" / "earthgptx"
MAX_CARRIED_FILES = 12

# subpackage -> layer (a subpackage imports from lower layers; `utils` is two standard-library helpers, below all but
# the model folder, which imports nothing of the package)
LAYERS = {"models": 0, "utils": 0, "conversion": 1, "data": 1, "training": 2, "evaluation": 2, "geo": 3, "app": 4,
          "tools": 4}
# imports between peers of one layer, each one way only (the reverse would close a cycle)
PEER_EDGES = {
    ("data", "conversion"): "records are tokenised with the shipped tokenizer",
    ("training", "evaluation"): "validation during training scores with the evaluation's metrics",
}
MODEL_FOLDER_LIBRARIES = {"torch", "transformers", "huggingface_hub", "numpy", "PIL"}
# imported inside the function that needs it, as transformers' DETR image processor imports it: COCO RLE masks
MODEL_FOLDER_OPTIONAL = {"pycocotools"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Absolute names of every module the file at `path` imports (relative imports resolved; `from X import y`
    gives `X.y`, which callers trim to the modules that exist)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def subpackage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "earthgptx_hf" and len(parts) > 1 else None


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(path): path for path in SOURCES}


def package_imports(path: Path, source: str | None = None) -> set[str]:
    """The earthgptx_hf modules (files and packages) the file at `path` imports."""
    return {name for name in imported_modules(path, source) if name in MODULES}


def test_every_subpackage_has_a_layer():
    top = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in SOURCES} - {"__init__"}
    assert top == set(LAYERS), "a subpackage without a layer, or a loose module at the package root"


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent != PACKAGE], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path):
    own = path.relative_to(PACKAGE).parts[0]
    wrong = []
    for module in package_imports(path):
        other = subpackage_of(module)
        if other is None:
            wrong.append(f"{module} (the package root: it wires the package together, above every layer)")
        elif other != own and LAYERS[other] >= LAYERS[own] and (own, other) not in PEER_EDGES:
            wrong.append(f"{module} (layer {LAYERS[other]}, from layer {LAYERS[own]})")
    assert not wrong


def test_the_model_folder_imports_only_its_libraries():
    stdlib = set(sys.stdlib_module_names)
    foreign = {}
    for path in sorted(MODEL_FOLDER.glob("*.py")):
        tree = ast.parse(path.read_text())
        module_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, f"{path.name}:{node.lineno} reaches outside the model folder"
                continue
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                optional = top in MODEL_FOLDER_OPTIONAL and id(node) not in module_level
                if top not in stdlib | MODEL_FOLDER_LIBRARIES and not optional:
                    foreign.setdefault(path.name, []).append(name)
    assert not foreign


def _tiny_config_and_processor(tmp_path):
    from earthgptx_hf import EarthGPTXConfig, EarthGPTXProcessor

    config = EarthGPTXConfig.from_preset("tiny")
    processor = EarthGPTXProcessor.from_model_config(config)
    return config, processor


FOLDER_ALONE = """
    import importlib.util, json, sys
    import numpy as np, torch

    folder, config_file = sys.argv[1], sys.argv[2]
    spec = importlib.util.spec_from_file_location("earthgptx_model", folder + "/__init__.py",
                                                  submodule_search_locations=[folder])
    package = importlib.util.module_from_spec(spec)
    sys.modules["earthgptx_model"] = package
    spec.loader.exec_module(package)
    assert not [name for name in sys.modules if name.startswith("earthgptx_hf")]

    config = package.EarthGPTXConfig(**json.loads(open(config_file).read()))
    torch.manual_seed(0)
    model = package.EarthGPTXForConditionalGeneration(config).eval()
    image_processor = package.EarthGPTXImageProcessor.from_model_config(config)
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    visual = image_processor(image, visual_prompts=[[{"type": "box", "bbox": [4, 4, 20, 30]}]], return_tensors="pt")
    prompt = [1] + [config.image_token_id] * config.num_image_tokens + [config.region_token_ids[0], 5, 6]
    inputs = {key: value for key, value in visual.items() if key in model.forward.__code__.co_varnames}
    with torch.no_grad():
        out = model(input_ids=torch.tensor([prompt]), **inputs)
    assert out.logits.shape[:2] == (1, len(prompt)) and torch.isfinite(out.logits).all()
    try:
        package.EarthGPTXConfig.from_preset("tiny")
    except ImportError as error:
        assert "earthgptx-hf package" in str(error)
    else:
        raise AssertionError("from_preset worked without the package's presets")
    print("ran alone")
"""


def test_the_model_folder_runs_with_the_rest_of_the_package_blocked(tmp_path):
    config, _ = _tiny_config_and_processor(tmp_path)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config.to_diff_dict()))
    result = run_without_package(FOLDER_ALONE, [MODEL_FOLDER, config_file], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ran alone" in result.stdout


def carried_files() -> list[str]:
    return sorted(path.name for path in MODEL_FOLDER.glob("*.py") if path.name != "__init__.py")


def test_a_saved_checkpoint_carries_the_model_folder_and_nothing_else(tmp_path):
    from earthgptx_hf import EarthGPTXForConditionalGeneration
    from earthgptx_hf.tools.hub import save_hub_ready

    config, processor = _tiny_config_and_processor(tmp_path)
    folder = save_hub_ready(tmp_path / "hub", EarthGPTXForConditionalGeneration(config), processor)
    saved = sorted(path.name for path in folder.glob("*.py"))
    assert saved == carried_files()
    assert len(saved) <= MAX_CARRIED_FILES
    for name in saved:  # the folder's own code, not a stale copy
        assert (folder / name).read_text() == (MODEL_FOLDER / name).read_text()


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (or a module importing itself)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules (files, and packages for their `__init__`) it imports; a module's own parent
    packages are left out (Python runs them first, whoever imports the module)."""
    return {name: {target for target in package_imports(path) if target != name and not name.startswith(target + ".")}
            for name, path in MODULES.items()}


def test_no_import_cycle():
    assert _strongly_connected(import_graph()) == []


def test_the_scans_are_not_vacuous():
    # each spelling of an import is resolved, and a planted cycle is found
    source = ("from ..training.train import x\nimport earthgptx_hf.geo.raster\n"
              "def f():\n    from .. import data\n    from .metrics import y\n")
    found = package_imports(PACKAGE / "evaluation" / "probe.py", source)
    assert {"earthgptx_hf.training.train", "earthgptx_hf.geo.raster", "earthgptx_hf.data",
            "earthgptx_hf.evaluation.metrics"} <= found
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "earthgptx_hf.models.earthgptx.configuration_earthgptx" in import_graph()[
        "earthgptx_hf.models.earthgptx.modeling_earthgptx"]
