"""`ScenePredictor`: EarthGPT-X over a scene of any size, window by window; georeferenced answers and masks out.

    predictor = ScenePredictor.from_pretrained("runs/demo/hub", batch_size=8)
    result = predictor.predict("scene.tif", prompts="prompts.geojson", task="segment", mask_out="mask.tif")
    result.write("result.geojson")      # or .gpkg; result.collection is the GeoJSON dict, result.summary the counts

- Region tasks (prompts given: classify, caption, detailed_caption, segment): each group of nearby prompts is answered
  on one window around them (`windows.region_windows`: zoom-in, at least one model canvas).
- Image-level tasks (no prompts: classify = scene classification, caption, detailed_caption): a grid of canvas-sized
  tiles with overlap (`windows.grid_windows`), one answer per tile.
- Objects found by name (`task="find", query="ship"`, no prompts): the same tile grid, each tile asked for the query;
  the instances of every tile go on the map and are merged across tiles, one feature per object however many tiles
  saw it (`instances`: the merge rule).
- Windows are read one at a time (`RasterScene.read_rgb`, the scene's stretch) ahead of the model in a background
  thread (`prefetch`; masks are written behind it likewise), batched through the
  `visual-prompting` pipeline (`batch_size` windows per `generate()` call), with a tqdm bar in tiles per second.
  Windows without a valid pixel are not run: they are counted (`summary["skipped_nodata"]`), with the prompts they
  held.
- `[PIX]` masks are vectorised into the features and, with `mask_out`, stitched into a GeoTIFF (`stitching`).
Memory holds one batch of windows, whatever the scene's size; the tile grid is lazy (`windows.TileGrid`).

Untrusted input: the scene is opened by `opening.open_raster` (GeoTIFF/COG, PNG, JPEG; `allow_virtual=True` for a
trusted VRT or `/vsi` path; `allow_remote=True` downloads an http(s) scene within `timeout` and `max_download_bytes`).
Outputs follow `earthgptx_hf.utils.output_paths`: `mask_out` must end in `.tif` / `.tiff`, may not be an input (the scene,
the prompts), and is not replaced unless `overwrite=True`.
"""

from __future__ import annotations

from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..models.earthgptx.visual_prompting import TASK_SHORTCUTS, find_instruction
from ..utils.output_paths import check_output
from . import prefetch
from .features import OUTPUT_CRS, MapProjection, feature_collection, instance_feature, region_feature, tile_feature
from .instances import Instance, merge_instances, window_instances
from .output import write_features
from .coordinates import parse_crs
from .prompts import load_prompts
from .opening import local_scene
from .raster import RasterScene
from .stitching import MaskWriter, burn_geometries
from .vectorise import DEFAULT_TOLERANCE
from .windows import SceneWindow, grid_windows, rasterio_window, region_windows

FIND = "find"  # objects found by name over the tile grid
SCENE_TASKS = tuple(t for t in TASK_SHORTCUTS if t != "relation")  # relation asks about a pair, not a region
DEFAULT_CONTEXT = 2.0  # a region window's side in prompt extents (zoom-in)
MAX_WINDOWS = 100_000  # windows one predict() call runs at most by default: a header cannot commit it to years
MASK_SUFFIXES = (".tif", ".tiff")  # the stitched mask is a GeoTIFF


@dataclass
class SceneResult:
    """What `ScenePredictor.predict` gives: `collection` (a GeoJSON FeatureCollection dict), `summary` (counts), and
    `mask_path` when a mask GeoTIFF was written."""

    collection: dict
    summary: dict
    mask_path: Path | None = None
    inputs: dict = field(default_factory=dict)  # the run's input paths (scene, prompts), which no output may replace

    @property
    def features(self) -> list[dict]:
        return self.collection["features"]

    def write(self, path, layer: str = "earthgptx", *, overwrite: bool = False, inputs: dict | None = None) -> Path:
        """Writes the features as GeoJSON (`.geojson`) or a GeoPackage layer (`.gpkg`): not over one of `inputs`
        (default: the scene and prompts of the run), nor over an existing file unless `overwrite`."""
        inputs = self.inputs if inputs is None else inputs
        return write_features(self.collection, path, layer, overwrite=overwrite, inputs=inputs)


@dataclass
class RunCounts:
    """Counts of one scene's run (`predict`, or `ray_engine` assembling a scene), summed by `window_features` and
    reported by `scene_result`."""

    windows: int = 0
    run: int = 0
    skipped_nodata: int = 0
    skipped_prompts: list = field(default_factory=list)
    masks: int = 0
    unbound_masks: int = 0
    dropped_masks: int = 0
    instances: int = 0  # find: instances found on the windows
    merged: int = 0  # find: instances merged into another one (the same object seen by several windows)


def scene_task(task: str | None, has_prompts: bool, query: str | None = None) -> str:
    """`task`, or its default (classify with prompts, caption without), checked against `SCENE_TASKS`; `query` is
    find's (and find's alone), which takes no prompts."""
    task = task or ("classify" if has_prompts else "caption")
    if task not in SCENE_TASKS:
        raise ValueError(f"task={task!r} is not one of {list(SCENE_TASKS)} for a scene.")
    if not has_prompts and task == "segment":
        raise ValueError("task='segment' needs prompts (the regions to segment).")
    if task == FIND:
        if has_prompts:
            raise ValueError("prompts were given with task='find', which takes none: it searches the whole scene for "
                             "query=...; pass prompts=None (no --prompts).")
        find_instruction(query, "task='find' (--query)")  # the pipeline's rule, checked before any window is read
    elif query is not None:
        raise ValueError(f"query={query!r} is only for task='find' (--task find); got task={task!r}.")
    return task


def _canvas(image_processor) -> int:
    """The longer side of the model's canvas (`tile_grid` x `tile_size`, or the largest `grid_pinpoints` grid)."""
    grids = image_processor.grid_pinpoints or [image_processor.tile_grid]
    return max(max(rows, cols) for rows, cols in grids) * image_processor.tile_size


@contextmanager
def _nothing():
    yield None


class ScenePredictor:
    """Runs a `visual-prompting` pipeline over a scene (see the module docstring).

    Args:
        pipe: `pipeline("visual-prompting", ...)`, or any callable with its interface (inputs, batch_size,
            generation keywords -> one list of results per input).
        batch_size: windows per `generate()` call.
        context: a region window's side in prompt extents (at least 1; the window is at least one canvas).
        tile_overlap: pixels two grid tiles share (default: an eighth of the canvas).
        tolerance: simplification of vectorised masks, in scene pixels.
        out_crs: "EPSG:4326" (RFC 7946, default), "raster" (the raster's CRS) or any CRS pyproj knows.
        progress: show the tqdm bar.
        model_id: the `model` property of the features (default: the pipeline model's `name_or_path`).
        allow_virtual: open a trusted scene as GDAL would (VRT, WMS, `/vsi` paths); off: `opening`'s allow-list.
        max_windows: the most windows (grid tiles or region windows) one `predict` runs; more are refused before any
            window is read (a header may claim 10^6 x 10^6 pixels). Default `MAX_WINDOWS`.
        allow_remote: download an http(s) scene (or `/vsicurl/` + URL) within `timeout` seconds (a total deadline)
            and `max_download_bytes` (the pipeline's limits, 30 s and 64 MiB by default).
        max_read: the longest side a window is read at (larger windows are decimated to it); default: the larger of
            the canvas and the SAM view, the most the model looks at.
        generate_kwargs: generation keywords for every call (`max_new_tokens` is 64 unless given).
    """

    def __init__(self, pipe, *, batch_size: int = 8, context: float = DEFAULT_CONTEXT, tile_overlap: int | None = None,
                 tolerance: float = DEFAULT_TOLERANCE, out_crs=OUTPUT_CRS, progress: bool = True,
                 model_id: str | None = None, max_read: int | None = None, max_windows: int = MAX_WINDOWS,
                 allow_virtual: bool = False,
                 allow_remote: bool = False, timeout: float | None = None, max_download_bytes: int | None = None,
                 **generate_kwargs):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a whole number at least 1 (windows per generate() "
                             "call).")
        self.pipe = pipe
        self.batch_size = batch_size
        self.context = float(context)
        images = pipe.processor.image_processor
        self.canvas = _canvas(images)
        self.max_read = int(max_read or max(self.canvas, images.sam_image_size))  # what the model can look at
        self.max_regions = images.max_regions
        self.tile_overlap = self.canvas // 8 if tile_overlap is None else int(tile_overlap)
        self.tolerance = float(tolerance)
        if out_crs not in (None, "raster"):
            parse_crs(out_crs, "out_crs")  # refused now, not after the model ran
        self.out_crs = out_crs
        self.progress = progress
        model = getattr(pipe, "model", None)
        self.model_id = model_id or str(getattr(model, "name_or_path", "") or "") or None
        self.generate_kwargs = {"max_new_tokens": 64, **generate_kwargs}
        self.allow_virtual, self.allow_remote = bool(allow_virtual), bool(allow_remote)
        if isinstance(max_windows, bool) or not isinstance(max_windows, int) or max_windows < 1:
            raise ValueError(f"max_windows={max_windows!r} must be a whole number at least 1.")
        self.max_windows = max_windows
        self.download_limits = {"timeout": timeout, "max_download_bytes": max_download_bytes}

    @classmethod
    def from_pretrained(cls, model, device=None, trust_remote_code: bool = False, **kwargs) -> "ScenePredictor":
        """A predictor around `pipeline("visual-prompting", model=model)` (a folder or a Hub id), loaded as the app
        loads it (`pipelines.loading.load_visual_prompting`)."""
        from ..conversion.loading import load_visual_prompting

        pipe = load_visual_prompting(model, device=device, trust_remote_code=trust_remote_code)
        return cls(pipe, model_id=kwargs.pop("model_id", None) or str(model), **kwargs)

    # -----------------------------------------------------------------------------------------------------------------
    def predict(self, scene, prompts=None, *, task: str | None = None, bands=None, prompt_crs=None,
                prompt_layer: str | None = None, mask_out=None, overwrite: bool = False,
                complex_to: str | None = None, query: str | None = None) -> SceneResult:
        """Answers `task` about `prompts` (any form `prompts.load_prompts` takes; None: image-level over grid tiles)
        on `scene` (a raster path), or with `task="find"` finds the objects `query` names over the grid tiles.
        Returns a `SceneResult`; with `mask_out` (a `.tif`), the `[PIX]` masks (find: the merged objects) are also
        stitched into that GeoTIFF. `prompt_layer` names the layer of a vector file with several; `complex_to=
        "amplitude"` reads complex (SLC) bands as their modulus."""
        task = scene_task(task, prompts is not None, query)
        inputs = {"scene": scene, "prompts": prompts}
        if mask_out is not None:
            mask_out = check_output(mask_out, "mask_out", MASK_SUFFIXES, inputs, overwrite)
        images = self.pipe.processor.image_processor  # N bands read for a model with the band adapter (input_bands)
        with local_scene(scene, "scene", self.allow_remote, **self.download_limits) as local, \
                RasterScene(local, bands=bands, percentiles=images.percentiles, allow_virtual=self.allow_virtual,
                            complex_to=complex_to, channels=getattr(images, "input_bands", 3)) as raster:
            georeference = raster.georeference
            scene_prompts, clipped, windows, projection = self.plan(raster, prompts, prompt_crs, prompt_layer)
            counts = RunCounts(windows=len(windows))
            if task == FIND:
                features = self._find(raster, windows, query, projection, counts, mask_out)
                return self.scene_result(georeference, projection, task, [], [], counts, features, mask_out,
                                         inputs, query=query)
            features = []
            # masks written behind the model, in a background thread (`prefetch`)
            with prefetch.WriteBehind(MaskWriter(mask_out, georeference, len(scene_prompts))) if mask_out \
                    else _nothing() as writer:
                for window, result in self._run(raster, windows, scene_prompts, task, counts):
                    features += self.window_features(window, result, scene_prompts, georeference, projection, task,
                                                     writer, counts)
        return self.scene_result(georeference, projection, task, scene_prompts, clipped, counts, features,
                                 mask_out, inputs)

    def _find(self, raster: RasterScene, windows, query: str, projection, counts: RunCounts, mask_out) -> list[dict]:
        """The features of the objects `query` names: every tile's instances (geometries only: the windows stream
        through), merged across tiles (`instances.merge_instances`), burnt into `mask_out` when given."""
        georeference = raster.georeference
        found = []
        for window, result in self._run(raster, windows, [], FIND, counts, query):
            found += self.window_instances(window, result, georeference, counts)
        objects = merge_instances(found)
        counts.merged = len(found) - len(objects)
        if mask_out is not None:
            burn_geometries(mask_out, georeference, [o.geometry for o in objects])
        return [instance_feature(o, projection, query=query, source=georeference.source, model=self.model_id)
                for o in objects]

    def plan(self, raster: RasterScene, prompts, prompt_crs=None, prompt_layer=None):
        """(scene prompts, names of the clipped ones, windows, projection) of an open scene: the work `predict` runs,
        planned apart so that an engine running the windows elsewhere (`geo.ray_engine`) plans it the same way."""
        georeference = raster.georeference
        scene_prompts, clipped, windows = self._windows(raster, prompts, prompt_crs, prompt_layer)
        # after the prompts: map prompts on a raster without a CRS are refused naming the prompt
        projection = MapProjection(georeference.crs, self.out_crs, georeference.source)
        if len(windows) > self.max_windows:
            raise ValueError(f"scene ({georeference.source!r}, {raster.width}x{raster.height} pixels) needs "
                             f"{len(windows):,} windows, more than max_windows={self.max_windows:,}: crop the "
                             "scene or pass a larger max_windows if the work is meant.")
        return scene_prompts, clipped, windows, projection

    @staticmethod
    def window_item(window: SceneWindow, pixels, valid, prompts: list, task: str, query: str | None = None) \
            -> dict | None:
        """The pipeline input of a window read as (`pixels`, `valid`), its prompts in window pixels (and find's
        `query`); None for a window without a valid pixel (not run)."""
        if not valid.any():
            return None
        sx, sy = window.scale
        local = [prompts[m].to_window(window.col_off, window.row_off, sx, sy) for m in window.members]
        item = {"image": pixels, "prompts": local, "task": task}
        return item if query is None else {**item, "query": query}

    def scene_result(self, georeference, projection, task: str, scene_prompts: list, clipped: list,
                     counts: RunCounts, features: list, mask_out=None, inputs: dict | None = None, *,
                     query: str | None = None) -> SceneResult:
        """The `SceneResult` of a scene's features (in window order) and counts; find's also names its `query` and
        counts its instances (found on the windows, and merged into another one)."""
        summary = {"source": georeference.source, "model": self.model_id, "task": task,
                   "prompts": len(scene_prompts), "prompts_clipped": clipped, "windows": counts.windows,
                   "windows_run": counts.run, "skipped_nodata": counts.skipped_nodata,
                   "prompts_on_nodata": counts.skipped_prompts, "masks": counts.masks,
                   "unbound_masks": counts.unbound_masks,
                   "dropped_masks": counts.dropped_masks, "features": len(features)}
        if task == FIND:
            summary.update(query=query, instances_found=counts.instances, instances_merged=counts.merged)
        return SceneResult(feature_collection(features, projection, summary), summary,
                           Path(mask_out) if mask_out else None, inputs or {})

    def _windows(self, raster: RasterScene, prompts, prompt_crs, prompt_layer):
        """(scene prompts, names of the clipped ones, windows): region windows around the prompts, or the lazy tile
        grid without prompts."""
        if prompts is None:
            return [], [], grid_windows(raster.width, raster.height, self.canvas, self.tile_overlap, self.max_read)
        loaded = load_prompts(prompts, raster.georeference, crs=prompt_crs, layer=prompt_layer)
        if not loaded.prompts:
            raise ValueError("prompts holds no prompt: pass prompts=None for image-level answers over tiles.")
        windows = region_windows([p.extent for p in loaded.prompts], raster.width, raster.height, self.canvas,
                                 self.context, self.max_regions, self.max_read)
        return loaded.prompts, loaded.clipped, windows

    def _run(self, raster: RasterScene, windows, prompts: list, task: str, counts: RunCounts, query=None):
        """(window, pipeline result) for every window with a valid pixel, in order; the others are counted."""
        pending = deque()
        unit = "tile" if not prompts else "window"
        bar = tqdm(total=len(windows), unit=unit, desc=f"{raster.name}: {task}", disable=not self.progress)

        def items():  # windows read ahead of the model, in a background thread (`prefetch`)
            reads = prefetch.read_ahead(lambda window: raster.read_rgb(rasterio_window(window), window.out_shape),
                                        windows, prefetch.READ_AHEAD_BATCHES * self.batch_size)
            for window, (pixels, valid) in reads:
                item = self.window_item(window, pixels, valid, prompts, task, query)
                if item is None:
                    counts.skipped_nodata += 1
                    counts.skipped_prompts += [prompts[m].name for m in window.members]
                    bar.update(1)
                    continue
                pending.append(window)
                yield item

        with bar:
            for outputs in self.pipe(items(), batch_size=self.batch_size, **self.generate_kwargs):
                counts.run += 1
                bar.update(1)
                yield pending.popleft(), outputs[0]

    def window_instances(self, window: SceneWindow, result: dict, georeference, counts: RunCounts) -> list[Instance]:
        """The instances of one tile's find `result` on the map (`instances.window_instances`), counted in `counts`."""
        window_georeference = georeference.window(rasterio_window(window), window.out_shape)
        counts.dropped_masks += int(result.get("dropped_masks") or 0)
        found = window_instances(result, window, window_georeference, self.tolerance)
        counts.instances += len(found)
        counts.masks += len(found)
        return found

    def window_features(self, window: SceneWindow, result: dict, prompts: list, georeference, projection, task: str,
                        writer: MaskWriter | None, counts: RunCounts) -> list[dict]:
        """The features of one window's pipeline `result` (a tile's answer, or its regions' answers and masks), its
        masks written to `writer` (None: no mask GeoTIFF) and counted in `counts`: what `predict` does with each
        window, and what `ray_engine` does with each window a replica returns."""
        window_georeference = georeference.window(rasterio_window(window), window.out_shape)
        counts.dropped_masks += int(result.get("dropped_masks") or 0)
        if not window.members:  # a grid tile: one image-level answer
            return [tile_feature(window_georeference, projection, task=task, answer=result["generated_text"],
                                 window=window.label, tile=window.tile, source=georeference.source,
                                 model=self.model_id)]
        out = []
        for member, region in zip(window.members, result["regions"]):
            prompt, mask, answer, score = prompts[member], region.get("mask"), region.get("answer"), region.get("score")
            if len(window.members) == 1:  # an answer (and masks) not written as "<Region 1>: ...": the region's
                if answer is None:
                    answer = result["generated_text"]
                if mask is None and result.get("masks"):
                    mask, score = result["masks"][0], result["scores"][0]
            if mask is not None:
                counts.masks += 1
                if writer is not None:
                    writer.write(rasterio_window(window), mask, prompt.index)
            out.append(region_feature(prompt, georeference, projection, task=task, answer=answer,
                                      mask=mask, window_georeference=window_georeference, score=score,
                                      window=window.label, model=self.model_id, tolerance=self.tolerance))
        bound = sum(f["properties"]["mask_score"] is not None for f in out)
        counts.unbound_masks += max(0, len(result.get("masks") or []) - bound)  # "[PIX]" outside "<Region i>: ..."
        return out


__all__ = ["ScenePredictor", "SceneResult", "RunCounts", "SCENE_TASKS", "FIND", "DEFAULT_CONTEXT", "scene_task"]
