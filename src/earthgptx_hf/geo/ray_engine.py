"""Many scenes on Ray (`earthgptx-predict --scenes ... --engine ray`): a scene's windows are the unit of work, run by
model replicas that are Ray actors, each loading the checkpoint once.

    driver: plan every scene (open it, its prompts, its windows: `ScenePredictor.plan`)  ->  one row per window
    Ray Data: rows -> map_batches(WindowReplica, ActorPoolStrategy(size=replicas), batch_size, num_gpus per replica)
    replica: read its windows from the scene (`RasterScene.read_rgb`, the scene's stretch), run them through the
             `visual-prompting` pipeline, `batch_size` windows per generate() call
    driver: as rows return, a scene whose last window has returned is assembled in window order (the single-process
            path's `ScenePredictor.window_features` and `scene_result`) and written (`on_done`)

Ray Data supplies the engine: batching, backpressure (the object store bounds what is in flight), and retries: a
replica that dies is restarted (it loads the checkpoint again) and the windows it held are run again, so no window is
lost. An error inside a window (a file that cannot be decoded) is returned as that window's result: its scene fails,
the others go on.

Replicas read the scene files themselves: on a cluster, scene paths must be readable from every node (a shared file
system, or `/vsi` paths with `--allow-virtual`). Ray is the `distributed` extra:
`pip install 'earthgptx-hf[distributed]'`.
"""

from __future__ import annotations

import os
# Window jobs and results travel between this driver and its own replicas as pickled bytes in Ray Data columns
# (Arrow holds no Python objects); they are made by this process, never read from a file or a user, and Ray itself
# pickles every task and actor argument the same way.
import pickle
import resource
import time
from collections import OrderedDict, defaultdict
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from ..utils.extras import require

NODATA = "nodata"  # a window without a valid pixel: counted, not run
OPEN_SCENES = 4  # scenes a replica keeps open (their stretch computed once)
MAX_BLOCKS = 1000  # Ray Data blocks of window rows


@dataclass(frozen=True)
class WindowJob:
    """One window of one scene, as a replica needs it: where to read it and how, and its prompts (`prompts[m]` for
    each of `window.members`)."""

    path: str
    bands: object
    complex_to: str | None
    allow_virtual: bool
    window: object  # windows.SceneWindow
    prompts: dict
    task: str


class WindowReplica:
    """A model replica (a Ray Data actor): the checkpoint loaded once (`pipelines.loading`), windows in, pickled
    pipeline results out."""

    def __init__(self, model: str, device=None, trust_remote_code: bool = False, batch_size: int = 8,
                 generate_kwargs: dict | None = None):
        from ..conversion.loading import load_visual_prompting

        start = time.perf_counter()
        self.pipe = load_visual_prompting(model, device=device, trust_remote_code=trust_remote_code)
        self.percentiles = self.pipe.processor.image_processor.percentiles
        self.batch_size, self.generate_kwargs = batch_size, dict(generate_kwargs or {})
        self.scenes: OrderedDict = OrderedDict()
        self.load_s, self.busy_s = time.perf_counter() - start, 0.0  # reported with every window

    def _scene(self, job: WindowJob):
        from .raster import RasterScene

        key = (job.path, str(job.bands), job.complex_to)
        if key not in self.scenes:
            self.scenes[key] = RasterScene(job.path, bands=job.bands, percentiles=self.percentiles,
                                           allow_virtual=job.allow_virtual, complex_to=job.complex_to)
            while len(self.scenes) > OPEN_SCENES:
                self.scenes.popitem(last=False)[1].close()
        self.scenes.move_to_end(key)
        return self.scenes[key]

    def __call__(self, batch: dict) -> dict:
        from .predictor import ScenePredictor
        from .windows import rasterio_window

        start = time.perf_counter()
        outputs, items, slots = [None] * len(batch["job"]), [], []
        for k, blob in enumerate(batch["job"]):
            job = pickle.loads(blob)
            try:
                pixels, valid = self._scene(job).read_rgb(rasterio_window(job.window), job.window.out_shape)
                item = ScenePredictor.window_item(job.window, pixels, valid, job.prompts, job.task)
            except Exception as error:  # this window's scene fails; the batch's other windows go on
                outputs[k] = {"error": f"{type(error).__name__}: {error}"}
                continue
            if item is None:
                outputs[k] = NODATA
            else:
                items.append(item)
                slots.append(k)
        done = 0
        try:
            for k, result in zip(slots, self.pipe(items, batch_size=self.batch_size, **self.generate_kwargs)):
                outputs[k] = result[0]
                done += 1
        except Exception as error:  # the model failed on this batch: its windows' scenes fail
            for k in slots[done:]:
                outputs[k] = {"error": f"{type(error).__name__} while generating: {error}"}
        self.busy_s += time.perf_counter() - start
        stats = {"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # MiB (Linux: KiB)
                 "load_s": self.load_s, "busy_s": self.busy_s}
        return {"scene": batch["scene"], "window": batch["window"],
                "result": np.array([pickle.dumps(o) for o in outputs], dtype=object),
                "replica": np.full(len(outputs), os.getpid(), np.int64),
                **{name: np.full(len(outputs), value, np.float64) for name, value in stats.items()}}


def require_ray():
    """The `ray` module, or `MissingExtraError` naming the `distributed` extra."""
    ray = require("ray", extra="distributed", purpose="earthgptx-predict --engine ray")
    require("ray.data", extra="distributed", purpose="earthgptx-predict --engine ray (Ray Data)")
    return ray


def connect(address: str | None = None):
    """Joins the Ray cluster at `address` ("auto", "ray://host:10001", ...), or starts a local one (None); a session
    already connected (`ray.init` called by the caller) is used as it is."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray


@dataclass
class ScenePlan:
    """A planned scene on the driver: what `ScenePredictor.plan` gave, and where its windows' results gather."""

    spec: object  # scene_sources.SceneSpec
    georeference: object
    projection: object
    task: str
    prompts: list
    clipped: list
    windows: object
    results: dict


def window_rows(plans: list[ScenePlan], options: dict):
    """One Ray Data row per window of every planned scene."""
    for k, plan in enumerate(plans):
        for j, window in enumerate(plan.windows):
            job = WindowJob(plan.spec.path, options["bands"], options["complex_to"], options["allow_virtual"], window,
                            {m: plan.prompts[m] for m in window.members}, plan.task)
            yield {"scene": k, "window": j, "job": pickle.dumps(job)}


def run_windows(plans: list[ScenePlan], options: dict, on_row, *, replicas: int = 1, gpus_per_replica: float = 0,
                cpus_per_replica: float = 1, batch_size: int = 8):
    """Runs every window of `plans` on `replicas` WindowReplica actors (`options`: model, device, trust_remote_code,
    generate_kwargs, bands, complex_to, allow_virtual) and calls `on_row(scene index, window index, result, replica
    pid, its stats: peak MiB, load_s, busy_s)` as each returns, in the order they return."""
    ray = require_ray()
    import ray.data

    rows = list(window_rows(plans, options))
    if not rows:
        return
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver's tqdm bar counts windows
    # blocks of about a batch (every replica gets work; a dead replica's retry redoes one block), at most MAX_BLOCKS
    blocks = min(max(-(-len(rows) // batch_size), min(len(rows), replicas)), MAX_BLOCKS)
    dataset = ray.data.from_items(rows, override_num_blocks=blocks)
    device = 0 if gpus_per_replica else options["device"]
    predicted = dataset.map_batches(
        WindowReplica, batch_size=batch_size, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=replicas), num_gpus=gpus_per_replica, num_cpus=cpus_per_replica,
        fn_constructor_kwargs={"model": options["model"], "device": device,
                               "trust_remote_code": options["trust_remote_code"], "batch_size": batch_size,
                               "generate_kwargs": options["generate_kwargs"]})
    for row in predicted.iter_rows():
        on_row(int(row["scene"]), int(row["window"]), pickle.loads(row["result"]), int(row["replica"]),
               {name: float(row[name]) for name in ("peak_mib", "load_s", "busy_s")})


class SceneAssembler:
    """Gathers window results per scene and assembles a scene when its last window has returned: `on_row` for
    `run_windows`; `on_done(plan, SceneResult)` and `on_failed(plan, error)` are called once per scene."""

    def __init__(self, predictor, plans: list[ScenePlan], on_done, on_failed, bar=None, mask_output=None):
        self.predictor, self.plans, self.on_done, self.on_failed, self.bar = predictor, plans, on_done, on_failed, bar
        self.mask_output = mask_output  # plan -> the mask GeoTIFF to stitch its [PIX] masks into, or None
        self.replicas: dict[int, dict] = defaultdict(lambda: {"windows": 0, "peak_mib": 0.0, "load_s": 0.0,
                                                              "busy_s": 0.0})
        self.finished: set[int] = set()

    def __call__(self, k: int, j: int, result, replica: int, stats: dict) -> None:
        plan = self.plans[k]
        plan.results[j] = result
        seen = self.replicas[replica]
        seen["windows"] += 1
        seen.update({name: max(seen[name], value) for name, value in stats.items()})
        if self.bar is not None:
            self.bar.update(1)
        if len(plan.results) == len(plan.windows):
            self.finished.add(k)
            self.finish(plan)

    def finish(self, plan: ScenePlan) -> None:
        from .predictor import RunCounts
        from .stitching import MaskWriter

        results, plan.results = plan.results, {}  # the scene's results are released once it is written
        errors = [r["error"] for r in results.values() if isinstance(r, dict) and "error" in r]
        if errors:
            self.on_failed(plan, f"{len(errors)} of {len(results)} windows failed; first: {errors[0]}")
            return
        try:
            mask_out = self.mask_output(plan) if self.mask_output else None
            counts, features = RunCounts(windows=len(plan.windows)), []
            with MaskWriter(mask_out, plan.georeference, len(plan.prompts)) if mask_out else nullcontext() as writer:
                for j, window in enumerate(plan.windows):  # in window order, as the single process
                    result = results[j]
                    if result == NODATA:
                        counts.skipped_nodata += 1
                        counts.skipped_prompts += [plan.prompts[m].name for m in window.members]
                        continue
                    counts.run += 1
                    features += self.predictor.window_features(window, result, plan.prompts, plan.georeference,
                                                         plan.projection, plan.task, writer, counts)
        except Exception as error:  # e.g. the mask could not be written: this scene fails, the others go on
            self.on_failed(plan, f"{type(error).__name__}: {error}")
            return
        self.on_done(plan, self.predictor.scene_result(plan.georeference, plan.projection, plan.task, plan.prompts,
                                                       plan.clipped, counts, features, mask_out))


__all__ = ["WindowReplica", "WindowJob", "ScenePlan", "SceneAssembler", "run_windows", "connect", "require_ray"]
