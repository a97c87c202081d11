"""The `earthgptx-predict` command: a scene (GeoTIFF of any size) and prompts in, georeferenced answers and masks out.

    earthgptx-predict scene.tif --model DIR_OR_HUB_ID --prompts prompts.geojson --task segment \\
        --out result.geojson [--mask-out mask.tif] [--bands 3,2,1] [--batch-size 8]
    earthgptx-predict scene.tif --model DIR --task caption --out tiles.gpkg    # no prompts: one answer per grid tile
    earthgptx-predict scene.tif --model DIR --task find --query "ship" --out ships.geojson   # one feature per object
    earthgptx-predict predict.yaml                       # every option from a YAML (or JSON) file
    earthgptx-predict predict.yaml --batch-size 2        # ... and flags that override it
    earthgptx-predict --scenes "archive/*.tif" --model DIR --out-dir runs/ [--engine ray]   # many scenes: many_scenes

The options are the fields of `PredictArguments` (underscores or dashes: `--mask_out` = `--mask-out`).

Outputs never destroy inputs (`earthgptx_hf.utils.output_paths`): `--out` (.geojson, .json, .gpkg) and `--mask-out` (.tif)
may not resolve to the scene, the prompts, the config file or a file of the checkpoint folder; an existing output
is replaced only with `--overwrite`; both are checked before the model loads, and written to a temporary file that is
renamed into place. The scene opens only as GeoTIFF/COG, PNG or JPEG (`geo.opening`): `--allow-virtual` opens a
trusted VRT or `/vsi` path, `--allow-remote` downloads an http(s) scene within `--timeout` and `--max-download-bytes`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import logging
import sys
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml
from transformers import HfArgumentParser

logger = logging.getLogger(__name__)
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class PredictArguments:
    scene: str | None = field(default=None, metadata={
        "help": "The raster (GeoTIFF/COG, PNG or JPEG; others with --allow-virtual); also the first positional "
                "argument."})
    model: str | None = field(default=None, metadata={"help": "An EarthGPT-X checkpoint folder or Hub id."})
    prompts: str | None = field(default=None, metadata={
        "help": "A vector file of prompt features (GeoJSON, GeoPackage, ...) or a GeoJSON string; none: image-level "
                "answers over a grid of tiles."})
    prompt_crs: str | None = field(default=None, metadata={
        "help": "The CRS of the prompts (default: the file's, else EPSG:4326)."})
    task: str | None = field(default=None, metadata={
        "help": "classify | caption | detailed_caption | segment | find (default: classify with prompts, caption "
                "without). find: the objects --query names, over the whole scene (no prompts)."})
    query: str | None = field(default=None, metadata={
        "help": "What --task find searches the scene for, e.g. 'ship' (find only)."})
    out: str = field(default="result.geojson", metadata={"help": "The features: .geojson or .gpkg."})
    out_crs: str = field(default="EPSG:4326", metadata={
        "help": "The output CRS: EPSG:4326 (RFC 7946), 'raster' (the raster's) or any CRS pyproj knows."})
    layer: str = field(default="earthgptx", metadata={"help": "The GeoPackage layer name."})
    mask_out: str | None = field(default=None, metadata={"help": "A GeoTIFF for the stitched [PIX] masks."})
    bands: str | None = field(default=None, metadata={
        "help": "1 or 3 bands, 1-based numbers or names, e.g. 3,2,1 (default: the raster's 1 or 3 bands)."})
    batch_size: int = field(default=8, metadata={"help": "Windows per generate() call."})
    context: float = field(default=2.0, metadata={
        "help": "A region window's side in prompt extents (zoom-in; at least one model canvas)."})
    tile_overlap: int | None = field(default=None, metadata={"help": "Pixels grid tiles share (default: canvas/8)."})
    tolerance: float = field(default=1.0, metadata={"help": "Mask polygon simplification, in scene pixels."})
    max_new_tokens: int = 64
    device: str | None = field(default=None, metadata={"help": "e.g. cpu, cuda:0 (default: the pipeline's)."})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "Load the model with its saved code (for checkpoints of another version of the package)."})
    progress: bool = True
    overwrite: bool = field(default=False, metadata={"help": "Replace --out and --mask-out when they exist."})
    prompt_layer: str | None = field(default=None, metadata={
        "help": "The layer of a prompts file with several (a GeoPackage)."})
    complex_to: str | None = field(default=None, metadata={
        "help": "'amplitude': read complex (SLC) bands as their modulus (default: refused).",
        "choices": [None, "amplitude"]})
    allow_virtual: bool = field(default=False, metadata={
        "help": "Open a trusted scene as GDAL would (VRT, WMS, /vsi paths); default: GeoTIFF/COG, PNG, JPEG only."})
    allow_remote: bool = field(default=False, metadata={
        "help": "Download an http(s) scene (or /vsicurl/ URL) within --timeout and --max-download-bytes."})
    timeout: float | None = field(default=None, metadata={
        "help": "Total deadline of a remote scene's download, in seconds (default 30)."})
    max_download_bytes: int | None = field(default=None, metadata={
        "help": "Largest remote scene in bytes (default 64 MiB)."})
    target_gsd: float | None = field(default=None, metadata={
        "help": "Metres per pixel to run the model at: the scene is resampled to this ground sample distance first, "
                "as the `geo` training data was (`target_gsd` there; a scene without a known GSD is refused). The "
                "features stay in map coordinates; --mask-out is written at this GSD."})


def parse_arguments(argv: list[str] | None = None) -> PredictArguments:
    """`PredictArguments` from the command line: an optional YAML/JSON file first (its values are the defaults), a
    positional scene path, and flags."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(PredictArguments, description=__doc__)
    config_path = bool(argv and argv[0].lower().endswith(CONFIG_SUFFIXES) and not argv[0].startswith("-"))
    if config_path:
        path = Path(argv.pop(0))
        text = path.read_text()
        try:
            values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise SystemExit(f"earthgptx-predict: {path} is not a valid options file: {error}") from None
        if not isinstance(values, dict):
            raise SystemExit(f"earthgptx-predict: {path} must hold a mapping of options, got {type(values).__name__}.")
        known = {f.name for f in fields(PredictArguments)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SystemExit(f"earthgptx-predict: {path} has unknown option(s) {unknown}; valid: {sorted(known)}.")
        parser.set_defaults(**values)
    if argv and not argv[0].startswith("-"):
        argv = ["--scene", argv[0], *argv[1:]]
    (args,) = parser.parse_args_into_dataclasses(argv)
    for name in ("scene", "model"):
        if getattr(args, name) is None:
            parser.error(f"the {name} is required (--{name}, or `{name}:` in the YAML file).")
    args.config_file = str(path) if config_path else None
    return args


def check_outputs(args: PredictArguments, config: str | None = None) -> dict:
    """`--out`, `--layer` and `--mask-out` checked against the inputs before anything runs; returns the inputs."""
    from ..utils.output_paths import check_output
    from .output import VECTOR_SUFFIXES, check_layer
    from .predictor import MASK_SUFFIXES

    inputs = {"scene": args.scene, "prompts": args.prompts, "config": config, "model": args.model}
    check_output(args.out, "out", VECTOR_SUFFIXES, inputs, args.overwrite)
    if args.out.lower().endswith(".gpkg"):
        check_layer(args.layer)
    if args.mask_out is not None:
        check_output(args.mask_out, "mask_out", MASK_SUFFIXES, inputs, args.overwrite)
    return inputs


@contextlib.contextmanager
def scene_at_gsd(scene: str, target_gsd: float | None):
    """`scene` itself, or with `target_gsd` a temporary copy resampled to it by `gsd.resample_to_gsd` (the training
    data's resampling), deleted on exit."""
    if target_gsd is None:
        yield scene
        return
    from .gsd import resample_to_gsd

    with tempfile.TemporaryDirectory(prefix="earthgptx_gsd_") as folder:
        yield resample_to_gsd(scene, target_gsd, os.path.join(folder, "scene.tif"))


def run(args: PredictArguments, config: str | None = None):
    """Runs one `PredictArguments` (the command's Python entry; `config` the options file, an input no output may
    replace); returns the `SceneResult`."""
    from . import ScenePredictor
    from .predictor import scene_task

    scene_task(args.task, args.prompts is not None, args.query)  # before the model loads
    inputs = check_outputs(args, config)
    if args.target_gsd is not None and not (math.isfinite(args.target_gsd) and args.target_gsd > 0):
        raise ValueError(f"target_gsd={args.target_gsd!r} must be a positive number of metres per pixel.")
    predictor = ScenePredictor.from_pretrained(
        args.model, device=args.device, trust_remote_code=args.trust_remote_code, batch_size=args.batch_size,
        context=args.context, tile_overlap=args.tile_overlap, tolerance=args.tolerance, out_crs=args.out_crs,
        progress=args.progress, max_new_tokens=args.max_new_tokens, allow_virtual=args.allow_virtual,
        allow_remote=args.allow_remote, timeout=args.timeout, max_download_bytes=args.max_download_bytes)
    with scene_at_gsd(args.scene, args.target_gsd) as scene:
        result = predictor.predict(scene, args.prompts, task=args.task, bands=args.bands,
                                   prompt_crs=args.prompt_crs, prompt_layer=args.prompt_layer, mask_out=args.mask_out,
                                   overwrite=args.overwrite, complex_to=args.complex_to, query=args.query)
    if args.target_gsd is not None:  # what was read is the resampled copy; the summary names the user's scene
        result.summary.update(source=args.scene, target_gsd=args.target_gsd)
    path = result.write(args.out, layer=args.layer, overwrite=args.overwrite, inputs=inputs)
    summary = result.summary
    print(f"{summary['source']}: {summary['features']} features ({summary['task']}) -> {path}"
          + (f"; masks -> {result.mask_path}" if result.mask_path else ""))
    print(f"  windows: {summary['windows']} ({summary['windows_run']} run, {summary['skipped_nodata']} all no-data "
          f"skipped); prompts: {summary['prompts']} ({len(summary['prompts_clipped'])} clipped to the scene, "
          f"{len(summary['prompts_on_nodata'])} on no-data); masks: {summary['masks']}")
    if "instances_found" in summary:
        print(f"  {summary['query']!r}: {summary['instances_found']} instances found, {summary['instances_merged']} "
              f"merged across windows -> {summary['features']} objects")
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--scenes" or a.startswith("--scenes=") for a in argv):  # many scenes: `geo.many_scenes`
        from .many_scenes import main as many_scenes_main

        return many_scenes_main(argv)
    args = parse_arguments(argv)
    try:
        run(args, getattr(args, "config_file", None))
    except ValueError as error:  # bad input (complex SLC bands too, ComplexImageError): the message says what
        print(f"earthgptx-predict: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
