"""The output rules of the commands (`earthgptx-predict`, `earthgptx-eval`): an output never destroys an input.

- An output path that resolves to an input (the scene, the prompts, the config file, a file of the checkpoint folder,
  the evaluation data), or lies inside an input folder, is refused (`check_output`), hard links included.
- An existing output is refused unless the caller passes `overwrite=True` (`--overwrite`).
- The suffix must say what is written (`.tif` for a GeoTIFF mask, `.geojson` / `.gpkg` for features).
- Missing parent folders are created when the output is checked; a parent that is a file, a folder that cannot be
  created or one that is not writable is refused then, before any work.
- Files are written to a temporary file in the same folder and renamed into place (`atomic_output`): an interrupted
  run leaves the previous file (or none), never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path


def _same(path: Path, other: Path) -> bool:
    try:
        return path.exists() and other.exists() and os.path.samefile(path, other)
    except OSError:
        return False


def input_collision(path, inputs: Mapping[str, object]) -> str | None:
    """The name of the input `path` would overwrite (an equal path, a hard link, or a path inside an input folder),
    else None. Inputs that are not local paths (None, a GeoJSON string, a Hub id) are skipped."""
    target = Path(path).resolve()
    for name, value in inputs.items():
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip() \
                or str(value).lstrip().startswith(("{", "[")):
            continue
        source = Path(value)
        if not source.exists():
            continue
        resolved = source.resolve()
        if target == resolved or _same(target, resolved) or (resolved.is_dir() and target.is_relative_to(resolved)):
            return f"{name} ({os.fspath(value)!r})"
    return None


def check_output(path, argument: str, suffixes: Iterable[str], inputs: Mapping[str, object] | None = None,
                 overwrite: bool = False) -> Path:
    """`path` as an output of `argument` under the module's rules; a ValueError naming the argument, the value and
    what is valid otherwise."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ValueError(f"{argument}={path!r} must be a file path.")
    path = Path(path)
    suffixes = tuple(suffixes)
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{argument}={str(path)!r} has the suffix {path.suffix!r}; what it writes needs one of "
                         f"{list(suffixes)}.")
    collision = input_collision(path, inputs or {})
    if collision:
        raise ValueError(f"{argument}={str(path)!r} would overwrite the input {collision}; choose another output "
                         "path (an output never replaces an input).")
    if path.is_dir():
        raise ValueError(f"{argument}={str(path)!r} is a folder; give a file path.")
    if path.exists() and not overwrite:
        raise ValueError(f"{argument}={str(path)!r} exists; pass --overwrite (overwrite=True) to replace it, or "
                         "choose another path.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{argument}={str(path)!r}: {str(parent)!r} is a file, not a folder.")
            break
    try:  # missing folders are created now, so that a folder that cannot be is refused before any work
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{argument}={str(path)!r}: its folder cannot be created ({error}).") from None
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"{argument}={str(path)!r}: its folder {str(path.parent)!r} is not writable.")
    return path


def partial_path(path) -> Path:
    """A fresh temporary path next to `path`, with its suffix (writers such as GDAL pick the format by it); missing
    parent folders are created. `atomic_output` renames it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(handle)
    os.unlink(temporary)  # writers (GDAL) create the file themselves
    return Path(temporary)


@contextlib.contextmanager
def atomic_output(path):
    """A temporary path next to `path` (`partial_path`) to write to; renamed onto `path` when the block succeeds,
    deleted when it fails."""
    temporary = partial_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


__all__ = ["check_output", "atomic_output", "partial_path", "input_collision"]
