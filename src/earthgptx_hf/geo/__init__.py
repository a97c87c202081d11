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

# what users call (the README's examples, the `earthgptx-predict` command, the app); every other name is imported from
# the module that defines it (`geo.prompts.load_prompts`, `geo.windows.grid_windows`, `geo.stitching.MaskWriter`, ...)
from .output import write_geojson  # noqa: E402
from .predictor import ScenePredictor, SceneResult  # noqa: E402
from .prompts import box_geometries  # noqa: E402
from .raster import Georeference, GeoreferencedArray, read_raster_image  # noqa: E402

__all__ = ["ScenePredictor", "SceneResult", "box_geometries", "read_raster_image", "GeoreferencedArray", "Georeference",
           "write_geojson"]
