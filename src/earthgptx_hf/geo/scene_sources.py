"""The scenes of a many-scene run (`earthgptx-predict --scenes ...`) and the prompts of each.

Scenes come as
- a glob (`"archive/*.tif"`, `**` for sub-folders), sorted by path;
- a list file (any suffix but `.json`): one scene per line, optionally a tab and that scene's prompts file; blank lines
  and lines starting with `#` are ignored; relative paths are relative to the list file's folder;
- a STAC-like JSON of items (a FeatureCollection / ItemCollection, `{"items": [...]}` or a list of items): each item's
  `id` names the scene, its scene is the asset named `asset` (default: the one asset whose `roles` hold "data" or
  whose `type` is a GeoTIFF), and an asset named "prompts", when it has one, is its prompts file; relative hrefs are
  relative to the JSON file's folder.

Prompts: a scene's own prompts file (list file column, STAC "prompts" asset, or a `prompts` template holding `{stem}`
or `{id}`, relative to the scene's folder), else one shared prompts file, filtered by each scene's footprint (its
raster bounds): only the prompts that overlap the scene are asked about it (`footprint_prompts`).

A scene's id names its outputs, so ids are unique and plain file names (letters, digits, `.`, `_`, `-`).
"""

from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GLOB_CHARACTERS = re.compile(r"[*?\[]")
SCENE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
GEOTIFF_TYPES = ("image/tiff", "image/vnd.stac.geotiff")


@dataclass(frozen=True)
class SceneSpec:
    """One scene of the run: its `id` (names its outputs), `path` and its own `prompts` file (None: the shared one,
    or image-level answers without any)."""

    id: str
    path: str
    prompts: str | None = None


def _relative(value: str, folder: Path) -> str:
    return value if "://" in value or os.path.isabs(value) or value.startswith("/vsi") else str(folder / value)


def _from_glob(pattern: str) -> list[SceneSpec]:
    paths = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    return [SceneSpec(Path(p).stem, p) for p in paths]


def _from_list(path: Path) -> list[SceneSpec]:
    specs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) > 2:
            raise ValueError(f"scenes={str(path)!r} line {number}: {line!r} has {len(parts)} tab-separated fields; "
                             "valid: SCENE or SCENE<TAB>PROMPTS.")
        scene = _relative(parts[0].strip(), path.parent)
        prompts = _relative(parts[1].strip(), path.parent) if len(parts) == 2 and parts[1].strip() else None
        specs.append(SceneSpec(Path(scene).stem, scene, prompts))
    return specs


def _scene_asset(item: dict, asset: str | None, where: str) -> dict:
    assets = item.get("assets")
    if not isinstance(assets, dict) or not assets:
        raise ValueError(f"{where} has no `assets` mapping; a STAC item names its scene file in assets.")
    if asset is not None:
        if asset not in assets:
            raise ValueError(f"{where} has no asset {asset!r} (--asset); its assets: {sorted(assets)}.")
        return assets[asset]
    data = [name for name, value in assets.items() if name != "prompts" and isinstance(value, dict)
            and ("data" in (value.get("roles") or []) or str(value.get("type", "")).split(";")[0] in GEOTIFF_TYPES)]
    if len(data) != 1:
        raise ValueError(f"{where}: {len(data)} assets look like the scene ({data}); name the one to read with "
                         f"--asset (its assets: {sorted(assets)}).")
    return assets[data[0]]


def _from_stac(path: Path, asset: str | None) -> list[SceneSpec]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"scenes={str(path)!r} is not valid JSON: {error}") from None
    items = document.get("features", document.get("items")) if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ValueError(f"scenes={str(path)!r} holds no list of STAC items (a FeatureCollection's `features`, "
                         "`items`, or a JSON list).")
    specs = []
    for i, item in enumerate(items):
        where = f"scenes={str(path)!r} item {i}"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ValueError(f"{where} is not a STAC item with a string `id`.")
        href = _scene_asset(item, asset, f"{where} ({item['id']!r})").get("href")
        if not isinstance(href, str) or not href:
            raise ValueError(f"{where} ({item['id']!r}): its scene asset has no `href`.")
        prompts = (item.get("assets", {}).get("prompts") or {}).get("href")
        specs.append(SceneSpec(item["id"], _relative(href, path.parent),
                               _relative(prompts, path.parent) if prompts else None))
    return specs


def list_scenes(scenes: str, asset: str | None = None, prompts: str | None = None) -> list[SceneSpec]:
    """The scenes of `scenes` (a glob, a list file or a STAC-like JSON; the module docstring), each with its own
    prompts when `prompts` is a `{stem}` / `{id}` template. Raises ValueError naming the source when it holds no
    scene, or when ids repeat or are not plain file names."""
    if not isinstance(scenes, str) or not scenes.strip():
        raise ValueError(f"scenes={scenes!r} must be a glob, a list file or a STAC-like JSON of items.")
    if GLOB_CHARACTERS.search(scenes):
        specs = _from_glob(scenes)
    elif not os.path.isfile(scenes):
        raise ValueError(f"scenes={scenes!r} is neither a glob (*, ?, [) nor an existing list file or STAC JSON.")
    elif scenes.lower().endswith(".json"):
        specs = _from_stac(Path(scenes), asset)
    else:
        specs = _from_list(Path(scenes))
    if not specs:
        raise ValueError(f"scenes={scenes!r} holds no scene.")
    if is_prompts_template(prompts):
        try:
            specs = [SceneSpec(s.id, s.path, s.prompts or str(Path(s.path).parent / prompts.format(
                stem=Path(s.path).stem, id=s.id))) for s in specs]
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"prompts={prompts!r} is not a valid per-scene template ({error!r}); valid placeholders: "
                             "{stem} (the scene file's name without suffix) and {id} (the scene's id).") from None
    bad = [s.id for s in specs if not SCENE_ID.match(s.id)]
    if bad:
        raise ValueError(f"scenes={scenes!r}: scene id(s) {bad[:5]} are not plain file names (letters, digits, '.', "
                         "'_', '-'; they name the outputs); rename the files or the STAC items.")
    seen, repeated = set(), []
    for spec in specs:
        (repeated.append(spec.id) if spec.id in seen else seen.add(spec.id))
    if repeated:
        raise ValueError(f"scenes={scenes!r}: scene id(s) {sorted(set(repeated))[:5]} repeat (the same file name in "
                         "two folders?); every scene's outputs are named by its id, so ids must be unique.")
    return specs


def is_prompts_template(prompts: str | None) -> bool:
    return isinstance(prompts, str) and ("{stem}" in prompts or "{id}" in prompts)


def load_shared_prompts(prompts, layer: str | None = None):
    """(the features, their CRS) of the shared prompts file, read once for all scenes."""
    from .prompts import prompt_items

    return prompt_items(prompts, "prompts", layer)


def footprint_prompts(shared, georeference, prompt_crs=None) -> dict | None:
    """The shared prompts (`load_shared_prompts`) that overlap a scene (`georeference`: its bounds), as a
    FeatureCollection in the prompts' CRS; None when none overlaps."""
    import shapely
    from pyproj import CRS, Transformer
    from shapely.geometry import shape

    from .coordinates import apply_transform

    items, file_crs = shared
    crs = CRS.from_user_input(prompt_crs) if prompt_crs else file_crs or CRS.from_epsg(4326)
    if georeference.crs is None:
        raise ValueError(f"scene {georeference.source!r} has no CRS: a shared prompts file in map coordinates cannot "
                         "be matched to it; give the scene its own prompts file.")
    corners = np.array([[0, 0], [georeference.width, 0], [georeference.width, georeference.height],
                        [0, georeference.height]], float)
    xs, ys = apply_transform(georeference.transform, corners[:, 0], corners[:, 1])
    footprint = shapely.segmentize(shapely.Polygon(np.column_stack([xs, ys])), max(georeference.width,
                                                                                   georeference.height) / 16)
    to_prompts = Transformer.from_crs(georeference.crs, crs, always_xy=True)
    footprint = shapely.transform(footprint, lambda xy: np.column_stack(to_prompts.transform(xy[:, 0], xy[:, 1])))
    keep = []
    for item in items:
        geometry = (item.get("geometry") if item.get("type") == "Feature" else item) if isinstance(item, dict) \
            else None
        try:
            overlaps = geometry is not None and shape(geometry).intersects(footprint)
        except (ValueError, TypeError, AttributeError, shapely.errors.ShapelyError):
            overlaps = True  # a malformed prompt is kept: load_prompts refuses it naming the feature
        if overlaps:
            keep.append(item)
    if not keep:
        return None
    return {"type": "FeatureCollection", "features": keep,
            "crs": {"type": "name", "properties": {"name": crs.to_string()}}}


__all__ = ["SceneSpec", "list_scenes", "load_shared_prompts", "footprint_prompts", "is_prompts_template"]
