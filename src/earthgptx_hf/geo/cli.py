"""The `earthgptx-predict` command: a scene (GeoTIFF of any size) and prompts in, georeferenced answers and masks out.

    earthgptx-predict scene.tif --model DIR_OR_HUB_ID --prompts prompts.geojson --task segment \\
        --out result.geojson [--mask-out mask.tif] [--bands 3,2,1] [--batch-size 8]
    earthgptx-predict scene.tif --model DIR --task caption --out tiles.gpkg    # no prompts: one answer per grid tile
    earthgptx-predict predict.yaml                       # every option from a YAML (or JSON) file
    earthgptx-predict predict.yaml --batch-size 2        # ... and flags that override it

The options are the fields of `PredictArguments` (underscores or dashes: `--mask_out` = `--mask-out`).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml
from transformers import HfArgumentParser

logger = logging.getLogger(__name__)
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class PredictArguments:
    scene: str | None = field(default=None, metadata={
        "help": "The raster (GeoTIFF or any raster rasterio opens); also the first positional argument."})
    model: str | None = field(default=None, metadata={"help": "An EarthGPT-X checkpoint folder or Hub id."})
    prompts: str | None = field(default=None, metadata={
        "help": "A vector file of prompt features (GeoJSON, GeoPackage, ...) or a GeoJSON string; none: image-level "
                "answers over a grid of tiles."})
    prompt_crs: str | None = field(default=None, metadata={
        "help": "The CRS of the prompts (default: the file's, else EPSG:4326)."})
    task: str | None = field(default=None, metadata={
        "help": "classify | caption | detailed_caption | segment (default: classify with prompts, caption without)."})
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


def parse_arguments(argv: list[str] | None = None) -> PredictArguments:
    """`PredictArguments` from the command line: an optional YAML/JSON file first (its values are the defaults), a
    positional scene path, and flags."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(PredictArguments, description=__doc__)
    if argv and argv[0].lower().endswith(CONFIG_SUFFIXES) and not argv[0].startswith("-"):
        path = Path(argv.pop(0))
        text = path.read_text()
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
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
    return args


def run(args: PredictArguments):
    """Runs one `PredictArguments` (the command's Python entry); returns the `SceneResult`."""
    from . import ScenePredictor

    predictor = ScenePredictor.from_pretrained(
        args.model, device=args.device, trust_remote_code=args.trust_remote_code, batch_size=args.batch_size,
        context=args.context, tile_overlap=args.tile_overlap, tolerance=args.tolerance, out_crs=args.out_crs,
        progress=args.progress, max_new_tokens=args.max_new_tokens)
    result = predictor.predict(args.scene, args.prompts, task=args.task, bands=args.bands,
                               prompt_crs=args.prompt_crs, mask_out=args.mask_out)
    path = result.write(args.out, layer=args.layer)
    summary = result.summary
    print(f"{summary['source']}: {summary['features']} features ({summary['task']}) -> {path}"
          + (f"; masks -> {result.mask_path}" if result.mask_path else ""))
    print(f"  windows: {summary['windows']} ({summary['windows_run']} run, {summary['skipped_nodata']} all no-data "
          f"skipped); prompts: {summary['prompts']} ({len(summary['prompts_clipped'])} clipped to the scene, "
          f"{len(summary['prompts_on_nodata'])} on no-data); masks: {summary['masks']}")
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    args = parse_arguments(argv)
    try:
        run(args)
    except ValueError as error:  # bad input: the message says what and where
        print(f"earthgptx-predict: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
