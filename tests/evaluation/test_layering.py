"""Layering, read from the source's imports (every import, also those inside functions): the network and processing
know nothing of training, evaluation or pipelines; data sits below the commands; evaluation does not depend on how a
model was trained, nor on the pipeline."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "earthgptx_hf"

# subpackage -> the subpackages of earthgptx_hf it must not import
FORBIDDEN = {
    "modeling": {"training", "evaluation", "pipelines"},
    "processing": {"training", "evaluation", "pipelines"},
    "data": {"training", "evaluation", "pipelines"},
    "evaluation": {"training", "pipelines"},
}


def package_imports(path: Path, source: str | None = None) -> set[str]:
    """The earthgptx_hf subpackages (first level under earthgptx_hf) that the file at `path` imports."""
    package = ["earthgptx_hf", *path.parent.relative_to(PACKAGE).parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = base + (node.module.split(".") if node.module else [])
            # `from .. import training` names subpackages in the aliases
            names = [module] if node.module else [module + [alias.name] for alias in node.names]
        else:
            continue
        found.update(parts[1] for parts in names if len(parts) > 1 and parts[0] == "earthgptx_hf")
    return found


def _files(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


@pytest.mark.parametrize("subpackage", sorted(FORBIDDEN))
def test_no_subpackage_imports_what_sits_above_it(subpackage):
    files = _files(subpackage)
    assert files, f"no source files under {PACKAGE / subpackage}"
    wrong = {str(path.relative_to(PACKAGE)): sorted(package_imports(path) & FORBIDDEN[subpackage]) for path in files}
    assert not {path: names for path, names in wrong.items() if names}


def test_the_scan_sees_relative_absolute_and_function_level_imports():
    # not vacuous: what evaluation does import is found, and each spelling of an import is resolved
    evaluation = set().union(*(package_imports(path) for path in _files("evaluation")))
    assert {"data", "processing", "evaluation"} <= evaluation
    source = ("from ..training.train import x\nimport earthgptx_hf.pipelines.visual_prompting\n"
              "def f():\n    from .. import modeling\n    from .metrics import y\n")
    assert package_imports(PACKAGE / "evaluation" / "probe.py", source) == {"training", "pipelines", "modeling",
                                                                              "evaluation"}
