"""Running a script in a fresh Python process where `earthgptx_hf` cannot be imported (remote-code loading tests)."""

import os
import subprocess
import sys
import textwrap

BLOCK_PACKAGE = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "earthgptx_hf" or name.startswith("earthgptx_hf."):
                raise ImportError("earthgptx_hf is blocked in this process")

    sys.meta_path.insert(0, BlockPackage())
    """
)


def run_without_package(body: str, args: list[str], tmp_path) -> subprocess.CompletedProcess:
    """Runs `BLOCK_PACKAGE + body` with `args`, offline, with its own remote-code module cache; returns the result."""
    script = tmp_path / "fresh.py"
    script.write_text(BLOCK_PACKAGE + textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
