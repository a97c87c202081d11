"""Real scenes: GeoTIFFs of any size in, prompts in map coordinates, georeferenced answers and masks out.

    from earthgptx_hf.geo import ScenePredictor
    predictor = ScenePredictor.from_pretrained("runs/demo/hub", batch_size=8)
    result = predictor.predict("scene.tif", prompts="prompts.geojson", task="segment", mask_out="mask.tif")
    result.write("result.geojson")

Needs the `geo` extra (rasterio, shapely, pyproj, pyogrio): `pip install 'earthgptx-hf[geo]'`. The command is
`earthgptx-predict` (`earthgptx_hf.geo.cli`).
"""

from ..utils.extras import require

_PURPOSE = "earthgptx_hf.geo (GeoTIFF scenes, map-coordinate prompts, georeferenced output)"
require("rasterio", extra="geo", purpose=_PURPOSE)
require("shapely", extra="geo", purpose=_PURPOSE)
require("pyproj", extra="geo", purpose=_PURPOSE)

from .features import MapProjection, feature_collection, result_features  # noqa: E402
from .output import write_features, write_geojson, write_geopackage  # noqa: E402
from .predictor import SCENE_TASKS, ScenePredictor, SceneResult  # noqa: E402
from .prompts import PromptSet, ScenePrompt, box_geometries, load_prompts  # noqa: E402
from .raster import Georeference, GeoreferencedArray, RasterScene, read_raster_image, select_bands  # noqa: E402
from .stitching import MaskWriter  # noqa: E402
from .vectorise import mask_to_geometry  # noqa: E402
from .windows import SceneWindow, grid_windows, region_windows  # noqa: E402

__all__ = ["ScenePredictor", "SceneResult", "SCENE_TASKS", "RasterScene", "Georeference", "GeoreferencedArray",
           "read_raster_image", "select_bands", "load_prompts", "box_geometries", "ScenePrompt", "PromptSet",
           "SceneWindow", "grid_windows", "region_windows", "MaskWriter", "mask_to_geometry", "MapProjection",
           "feature_collection", "result_features", "write_features", "write_geojson", "write_geopackage"]
