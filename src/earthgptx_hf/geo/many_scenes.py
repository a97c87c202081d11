"""`earthgptx-predict --scenes ...`: many scenes in one run, resumable, with nothing lost.

    earthgptx-predict --scenes "archive/*.tif" --prompts fields.gpkg --model DIR --task segment --out-dir runs/2025
    earthgptx-predict --scenes items.json --prompts "{stem}.geojson" --model DIR --out-dir runs/2025 \\
        --engine ray --address auto --replicas 8 --gpus-per-replica 1

- Scenes: a glob, a list file or a STAC-like JSON of items; prompts: each scene's own file, or one shared file
  filtered by each scene's footprint (`scene_sources`).
- Engines: `local` (default) runs `ScenePredictor.predict` scene after scene in this process; `ray` runs the scenes'
  windows on model replicas (Ray actors, `ray_engine`), a scene written when its last window returns.
- Outputs (`out_dir`): `scenes/<id>.geojson` per scene, written to a temporary file and renamed
  (`output_paths.atomic_output`); `manifest.jsonl` (`manifest`: every scene done, failed with its error, or skipped
  with its reason); `all_scenes.gpkg`, every feature of every done scene with a `scene` column; `summary.json`;
  with `masks`, `scenes/<id>.mask.tif` (the stitched `[PIX]` masks). `out_dir` may not be or lie in an input, nor
  hold a file the scenes' glob lists.
- Options come as flags only (not from a YAML file); the `--engine ray` options: `--address`, `--replicas`,
  `--gpus-per-replica`, `--cpus-per-replica`.
- Rerunning the same command resumes: done and skipped scenes are left, failed ones run again. A scene that fails
  (a corrupt file, prompts that do not overlap it) is recorded and the others go on.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..utils.output_paths import atomic_output, check_output
from .manifest import Manifest

logger = logging.getLogger(__name__)
ENGINES = ("local", "ray")
SCENE_SUFFIX = ".geojson"
MERGED_SUFFIXES = (".gpkg",)
# the options that decide a scene's output: a rerun with others is refused (`manifest`)
OUTPUT_OPTIONS = ("model", "task", "query", "prompts", "prompt_crs", "prompt_layer", "asset", "out_crs", "bands", "context",
                  "tile_overlap", "tolerance", "max_new_tokens", "complex_to", "masks")


@dataclass
class ManySceneArguments:
    scenes: str = field(metadata={"help": "A glob (quoted), a list file (SCENE[<TAB>PROMPTS] per line) or a STAC-like "
                                          "JSON of items."})
    model: str = field(metadata={"help": "An EarthGPT-X checkpoint folder or Hub id."})
    out_dir: str = field(metadata={"help": "The output folder: scenes/<id>.geojson, manifest.jsonl, all_scenes.gpkg, "
                                           "summary.json."})
    prompts: str | None = field(default=None, metadata={
        "help": "A shared prompts file (filtered by each scene's footprint), or a per-scene template with {stem} or "
                "{id} (relative to the scene's folder); none: image-level answers over tiles."})
    prompt_crs: str | None = None
    prompt_layer: str | None = None
    asset: str | None = field(default=None, metadata={"help": "The STAC asset holding the scene (default: the one "
                                                                "data/GeoTIFF asset)."})
    task: str | None = None
    query: str | None = field(default=None, metadata={
        "help": "What --task find searches every scene for, e.g. 'ship' (find only; --engine local)."})
    out_crs: str = "EPSG:4326"
    merged: str = field(default="all_scenes.gpkg", metadata={"help": "Every feature with its scene, in out_dir."})
    masks: bool = field(default=False, metadata={"help": "Also stitch each scene's [PIX] masks into "
                                                          "scenes/<id>.mask.tif (as --mask-out does)."})
    bands: str | None = None
    batch_size: int = 8
    context: float = 2.0
    tile_overlap: int | None = None
    tolerance: float = 1.0
    max_new_tokens: int = 64
    device: str | None = None
    trust_remote_code: bool = False
    progress: bool = True
    overwrite: bool = field(default=False, metadata={"help": "Start the output folder afresh (every scene run)."})
    complex_to: str | None = None
    allow_virtual: bool = False
    engine: str = field(default="local", metadata={"help": "local | ray", "choices": list(ENGINES)})
    address: str | None = field(default=None, metadata={"help": "A Ray cluster (auto, ray://host:10001); none: a "
                                                                  "local one."})
    replicas: int = field(default=1, metadata={"help": "Model replicas (Ray actors)."})
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"engine={self.engine!r} is not one of {list(ENGINES)}.")
        for name in ("replicas", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a whole number at least 1.")
        for name in ("gpus_per_replica", "cpus_per_replica"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be at least 0.")
        if Path(self.merged).suffix.lower() not in MERGED_SUFFIXES or Path(self.merged).name != self.merged:
            raise ValueError(f"merged={self.merged!r} must be a file name in out_dir ending in "
                             f"{list(MERGED_SUFFIXES)}.")


class SceneSkipped(Exception):
    """A scene with nothing to do (its reason is recorded in the manifest)."""


class ManyScenes:
    """One many-scene run of `ManySceneArguments` (see the module docstring); `run()` returns the summary."""

    def __init__(self, args: ManySceneArguments):
        from .predictor import scene_task
        from .scene_sources import is_prompts_template, list_scenes, load_shared_prompts

        self.args = args
        self.out_dir = Path(args.out_dir)
        # the folder may not be, or lie in, an input (checked before any scene runs)
        check_output(self.out_dir / "summary.json", "out_dir", (".json",), {"scenes": args.scenes, "prompts":
                                                                            args.prompts, "model": args.model}, True)
        self.specs = list_scenes(args.scenes, args.asset, args.prompts)
        root = self.out_dir.resolve()
        inside = [s.path for s in self.specs if Path(s.path).resolve().is_relative_to(root)]
        if inside:
            raise ValueError(f"scenes={args.scenes!r} lists files inside out_dir={args.out_dir!r} ({inside[:3]}): "
                             "outputs would become scenes of a rerun; choose an out_dir outside the scenes, or a "
                             "narrower glob.")
        self.task = scene_task(args.task, args.prompts is not None or any(s.prompts for s in self.specs), args.query)
        if self.task == "find" and args.engine != "local":
            raise ValueError(f"task='find' runs with engine='local' (got engine={args.engine!r}): the Ray engine "
                             "does not merge the instances of a scene's windows yet.")
        self.shared = load_shared_prompts(args.prompts, args.prompt_layer) \
            if args.prompts and not is_prompts_template(args.prompts) else None
        self.manifest = Manifest(self.out_dir, {k: getattr(args, k) for k in OUTPUT_OPTIONS}, args.overwrite)
        self.stats = {"windows_run": 0, "windows_nodata": 0, "windows_failed_scenes": 0}
        self.replicas: dict = {}

    # -- per scene ----------------------------------------------------------------------------------------------------
    def output(self, spec) -> Path:
        return self.out_dir / "scenes" / f"{spec.id}{SCENE_SUFFIX}"

    def mask_output(self, spec) -> Path | None:
        """The scene's mask GeoTIFF with `masks`, checked as `--mask-out` is (None without `masks`)."""
        from .predictor import MASK_SUFFIXES

        if not self.args.masks:
            return None
        path = self.out_dir / "scenes" / f"{spec.id}.mask.tif"
        return check_output(path, "mask_out", MASK_SUFFIXES, self.inputs(spec), overwrite=True)

    def inputs(self, spec) -> dict:
        return {"scene": spec.path, "prompts": spec.prompts or self.args.prompts, "model": self.args.model}

    def prompts_for(self, spec, georeference):
        """The prompts of a scene: its own file, the shared file's prompts over its footprint (`SceneSkipped` when
        none), or None (image-level)."""
        from .scene_sources import footprint_prompts

        if spec.prompts is not None or self.shared is None:
            return spec.prompts
        prompts = footprint_prompts(self.shared, georeference, self.args.prompt_crs)
        if prompts is None:
            raise SceneSkipped(f"no prompt of prompts={self.args.prompts!r} overlaps the scene's footprint")
        return prompts

    def done(self, spec, result) -> None:
        path = check_output(self.output(spec), "out", (SCENE_SUFFIX,), self.inputs(spec), overwrite=True)
        result.write(path, overwrite=True, inputs=self.inputs(spec))
        summary = result.summary
        self.stats["windows_run"] += summary["windows_run"]
        self.stats["windows_nodata"] += summary["skipped_nodata"]
        self.manifest.record(spec.id, "done", output=str(path), features=summary["features"],
                             windows=summary["windows"], windows_run=summary["windows_run"],
                             skipped_nodata=summary["skipped_nodata"], masks=summary["masks"],
                             mask=str(result.mask_path) if result.mask_path else None)

    def failed(self, spec, error, windows: int = 0) -> None:
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        logger.warning("scene %s failed: %s", spec.id, message)
        self.stats["windows_failed_scenes"] += windows
        self.manifest.record(spec.id, "failed", error=message, path=spec.path)

    # -- engines ------------------------------------------------------------------------------------------------------
    def predictor(self, pipe=None):
        from .predictor import ScenePredictor

        a = self.args
        options = {"batch_size": a.batch_size, "context": a.context, "tile_overlap": a.tile_overlap,
                   "tolerance": a.tolerance, "out_crs": a.out_crs, "progress": False, "model_id": str(a.model),
                   "max_new_tokens": a.max_new_tokens, "allow_virtual": a.allow_virtual}
        if pipe is not None:
            return ScenePredictor(pipe, **options)
        return ScenePredictor.from_pretrained(a.model, device=a.device, trust_remote_code=a.trust_remote_code,
                                              **options)

    def run_local(self, pending: list, pipe=None) -> None:
        from .raster import RasterScene

        predictor, a = self.predictor(pipe), self.args
        for spec in tqdm(pending, unit="scene", desc="scenes", disable=not a.progress):
            try:
                georeference = None
                if spec.prompts is None and self.shared is not None:
                    with RasterScene(spec.path, bands=a.bands, allow_virtual=a.allow_virtual,
                                     complex_to=a.complex_to) as raster:
                        georeference = raster.georeference
                prompts = self.prompts_for(spec, georeference)
                result = predictor.predict(spec.path, prompts, task=self.task, bands=a.bands, prompt_crs=a.prompt_crs,
                                           prompt_layer=a.prompt_layer, complex_to=a.complex_to,
                                           mask_out=self.mask_output(spec), overwrite=True,
                                           **({"query": a.query} if self.task == "find" else {}))
                self.done(spec, result)
            except SceneSkipped as reason:
                self.manifest.record(spec.id, "skipped", reason=str(reason))
            except Exception as error:  # a scene's failure is recorded; the others go on
                self.failed(spec, error)

    def run_ray(self, pending: list) -> None:
        from transformers import AutoProcessor

        from . import ray_engine
        from .raster import RasterScene

        a = self.args
        ray_engine.connect(a.address)
        planner = self.predictor(_ProcessorOnly(AutoProcessor.from_pretrained(a.model,
                                                                              trust_remote_code=a.trust_remote_code)))
        plans = []
        for spec in pending:  # planned on the driver: a scene that cannot be opened fails here
            try:
                with RasterScene(spec.path, bands=a.bands, percentiles=planner.pipe.processor.image_processor
                                 .percentiles, allow_virtual=a.allow_virtual, complex_to=a.complex_to) as raster:
                    prompts = self.prompts_for(spec, raster.georeference)
                    planned = planner.plan(raster, prompts, a.prompt_crs, a.prompt_layer)
                    plans.append(ray_engine.ScenePlan(spec, raster.georeference, planned[3], self.task, planned[0],
                                                      planned[1], planned[2], {}))
            except SceneSkipped as reason:
                self.manifest.record(spec.id, "skipped", reason=str(reason))
            except Exception as error:
                self.failed(spec, error)
        options = {"model": str(a.model), "device": a.device, "trust_remote_code": a.trust_remote_code,
                   "generate_kwargs": planner.generate_kwargs, "bands": a.bands, "complex_to": a.complex_to,
                   "allow_virtual": a.allow_virtual}
        total = sum(len(p.windows) for p in plans)
        with tqdm(total=total, unit="window", desc="windows", disable=not a.progress) as bar:
            assembler = ray_engine.SceneAssembler(
                planner, plans, mask_output=lambda plan: self.mask_output(plan.spec),
                on_done=lambda plan, result: self._settle(plan, self.done, result),
                on_failed=lambda plan, error: self._settle(plan, self.failed, error, len(plan.windows)), bar=bar)
            try:
                ray_engine.run_windows(plans, options, assembler, replicas=a.replicas,
                                       gpus_per_replica=a.gpus_per_replica, cpus_per_replica=a.cpus_per_replica,
                                       batch_size=a.batch_size)
            except Exception as error:  # the Ray run itself stopped: its unfinished scenes are recorded as failed
                for k, plan in enumerate(plans):
                    if k not in assembler.finished:
                        self.failed(plan.spec, f"the Ray run stopped: {type(error).__name__}: {error}",
                                    len(plan.windows))
        self.replicas = {pid: dict(v) for pid, v in assembler.replicas.items()}

    def _settle(self, plan, record, *details) -> None:
        try:
            record(plan.spec, *details)
        except Exception as error:  # writing one scene's output failed: that scene fails, the others go on
            self.failed(plan.spec, error, len(plan.windows))

    # -- the run ------------------------------------------------------------------------------------------------------
    def run(self, pipe=None) -> dict:
        """Runs every scene not yet done (`pipe`: a ready pipeline for the local engine, as tests and benchmarks pass
        one); writes the merged output and `summary.json`; returns the summary."""
        start = time.perf_counter()
        pending = [s for s in self.specs if not self.manifest.is_final(s.id)]
        resumed = len(self.specs) - len(pending)
        if pending:
            self.run_ray(pending) if self.args.engine == "ray" else self.run_local(pending, pipe)
        ran = {s.id for s in pending}
        counts = self.manifest.counts([s.id for s in self.specs])
        summary = {"scenes": len(self.specs), "run_now": len(pending), "left_as_they_were": resumed,
                   "states": dict(counts), "done_now": sum(self.manifest.states.get(i, {}).get("state") == "done"
                                                           for i in ran),
                   "failed": {i: r["error"] for i, r in self.manifest.states.items() if r["state"] == "failed"},
                   "skipped": {i: r["reason"] for i, r in self.manifest.states.items() if r["state"] == "skipped"},
                   "windows": dict(self.stats), "engine": self.args.engine, "replicas": self.replicas,
                   "seconds": round(time.perf_counter() - start, 3)}
        summary["merged"] = self.write_merged()
        with atomic_output(self.out_dir / "summary.json") as temporary:
            temporary.write_text(json.dumps(summary, indent=1, default=str))
        return summary

    def write_merged(self) -> dict:
        """Every feature of every done scene, with its `scene`, in one GeoPackage layer; the reason when not."""
        from .features import INSTANCE_PROPERTIES, PROPERTIES
        from .output import write_geopackage

        features, crs = [], set()
        for spec in self.specs:
            record = self.manifest.states.get(spec.id)
            if record is None or record["state"] != "done":
                continue
            collection = json.loads(Path(record["output"]).read_text(encoding="utf-8"))
            crs.add(json.dumps(collection.get("crs")))
            features += [{**f, "properties": {**f["properties"], "scene": spec.id}} for f in collection["features"]]
        path = self.out_dir / self.args.merged
        if len(crs) > 1:
            return {"path": None, "reason": f"the scenes' outputs are in {len(crs)} CRSs (--out-crs raster); pass "
                                            "--out-crs EPSG:4326 (or one CRS) for a merged layer"}
        if not features:
            return {"path": None, "reason": "no feature (no scene done)"}
        inputs = {"scenes": self.args.scenes, "prompts": self.args.prompts, "model": self.args.model}
        check_output(path, "merged", MERGED_SUFFIXES, inputs, overwrite=True)  # the run's own file, remade each run
        member = json.loads(crs.pop())
        collection = {"type": "FeatureCollection", "features": features, **({"crs": member} if member else {})}
        columns = INSTANCE_PROPERTIES if self.task == "find" else PROPERTIES
        write_geopackage(collection, path, columns=(*columns, "scene"))
        return {"path": str(path), "features": len(features)}


class _ProcessorOnly:
    """What `ScenePredictor` needs of a pipeline to plan windows on the driver, without the model's weights."""

    def __init__(self, processor):
        self.processor, self.model = processor, None


def print_summary(summary: dict) -> None:
    states = summary["states"]
    print(f"scenes: {summary['scenes']} ({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}); run now: "
          f"{summary['run_now']}, left as they were: {summary['left_as_they_were']}")
    w = summary["windows"]
    print(f"windows: {w['windows_run']} run, {w['windows_nodata']} all no-data, {w['windows_failed_scenes']} in "
          f"failed scenes")
    for scene, error in summary["failed"].items():
        print(f"  failed  {scene}: {error}")
    for scene, reason in summary["skipped"].items():
        print(f"  skipped {scene}: {reason}")
    merged = summary["merged"]
    print(f"merged: {merged['path']} ({merged['features']} features)" if merged["path"] else
          f"merged: not written ({merged['reason']})")


def main(argv: list[str]) -> int:
    from transformers import HfArgumentParser

    from ..utils.extras import MissingExtraError

    parser = HfArgumentParser(ManySceneArguments, description=__doc__)
    try:
        (args,) = parser.parse_args_into_dataclasses(argv)
        summary = ManyScenes(args).run()
    except (ValueError, MissingExtraError) as error:
        print(f"earthgptx-predict: {error}", file=sys.stderr)
        return 2
    print_summary(summary)
    return 1 if summary["failed"] else 0


__all__ = ["ManySceneArguments", "ManyScenes", "main", "print_summary", "ENGINES"]
