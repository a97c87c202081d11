"""Set-up step of `make test` / `make test-floors` (never run by a test): puts transformers' own common test files,
for the release that is installed, where `tests/transformers_common/loader.py` finds them.

transformers' source distribution on PyPI ships its top-level `tests/*.py` (`test_modeling_common.py`,
`test_configuration_common.py`, `test_processing_common.py`, ...), not the sub-folders. This script downloads that
source distribution with pip (the package registry is the one network this project may use) and extracts those files
into `<venv>/transformers-tests/<version>/`. They are read from there, never copied into this repository.

    python tests/transformers_common/fetch.py            # into the running interpreter's environment
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import version
from pathlib import Path, PurePosixPath

# The files our tests use, and the ones they import (all top-level in the distribution).
NEEDED = ("test_modeling_common.py", "test_configuration_common.py", "test_processing_common.py")


def target_folder(prefix: str | Path | None = None) -> Path:
    """Where the files of the installed transformers release live: `<prefix>/transformers-tests/<version>`."""
    return Path(prefix or sys.prefix) / "transformers-tests" / version("transformers")


def extract_top_level_tests(archive: Path, folder: Path) -> list[str]:
    """Extracts `<root>/tests/*.py` (top level only) of a transformers sdist into `folder`; returns the names."""
    names = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if len(parts) != 3 or parts[1] != "tests" or not parts[2].endswith(".py") or not member.isfile():
                continue  # only regular files directly under tests/: nothing else of the archive is written
            data = tar.extractfile(member).read()
            (folder / parts[2]).write_bytes(data)
            names.append(parts[2])
    return sorted(names)


def fetch(prefix: str | Path | None = None) -> Path:
    folder = target_folder(prefix)
    if all((folder / name).is_file() for name in NEEDED):
        return folder
    release = version("transformers")
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"transformers=={release}", "-d", download], check=True)
        archives = sorted(Path(download).glob("transformers-*.tar.gz"))
        if len(archives) != 1:
            raise SystemExit(f"pip download of transformers=={release} gave {archives}, not one source archive")
        staging = folder.with_name(folder.name + ".partial")
        staging.mkdir(parents=True, exist_ok=True)
        names = extract_top_level_tests(archives[0], staging)
        # an empty package marker, as transformers' own tests/__init__.py (test_configuration_common executes it)
        (staging / "__init__.py").write_text("")
    missing = [name for name in NEEDED if name not in names]
    if missing:
        raise SystemExit(f"transformers {release}'s source distribution has no tests/{missing}")
    if folder.exists():  # an incomplete earlier fetch
        shutil.rmtree(folder)
    staging.rename(folder)  # complete or absent: an interrupted fetch leaves only the .partial folder
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default=None, help="environment folder (default: this interpreter's sys.prefix)")
    folder = fetch(parser.parse_args(argv).prefix)
    print(f"transformers' common tests: {folder}")


if __name__ == "__main__":
    main()
