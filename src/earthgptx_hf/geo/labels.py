"""Vector labels for training: polygons (or points) with a class attribute, in any CRS, brought to a scene's pixels.

    labels = read_labels("labels.gpkg", class_attribute="class", report=report)
    pixels = labels.in_scene(scene.georeference)      # [(label index, pixel geometry)] of the labels on the scene

The file is read as `prompts.py` reads prompt files (GeoJSON as JSON; GeoPackage and Shapefile through pyogrio,
recognised by their first bytes; a file with several layers needs `label_layer`). Every feature is counted in the
`ConversionReport` (`objects_read`), and one that cannot be a label is skipped under its reason, never silently:
- "invalid geometry": no geometry, an empty one, non-finite coordinates, a self-intersecting polygon
  (`shapely.is_valid` false), or a type other than (Multi)Polygon and Point;
- "unknown class": no `class_attribute` value, or one outside `class_names` when they are given.
Features that lie on no scene are counted by the caller ("outside all scenes"), when every scene has been placed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.errors
from pyproj import CRS, Transformer
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from .coordinates import apply_transform, parse_crs
from .prompts import DEFAULT_CRS, prompt_items

LABEL_GEOMETRIES = ("Polygon", "MultiPolygon", "Point")
INVALID, UNKNOWN_CLASS = "invalid geometry", "unknown class"


@dataclass
class LabelSet:
    """The usable labels of a file: geometries in `crs`, their class names and how outputs name them."""

    geometries: list[BaseGeometry]
    classes: list[str]
    names: list[str]
    crs: CRS
    problems: dict = field(default_factory=dict)  # feature name -> why it was skipped (first few, for messages)

    def in_scene(self, georeference) -> list[tuple[int, BaseGeometry]]:
        """(label index, geometry in the scene's pixel grid) of the labels that meet the scene's extent."""
        if georeference.crs is None:
            raise ValueError(f"scene {georeference.source!r} has no CRS, so map labels cannot be placed on it: "
                             "georeference it (e.g. gdal_translate -a_srs ... -a_ullr ...).")
        scene_crs = CRS.from_user_input(georeference.crs)
        transformer = None if scene_crs == self.crs else Transformer.from_crs(self.crs, scene_crs, always_xy=True)
        inverse = ~georeference.transform

        def project(xy: np.ndarray) -> np.ndarray:
            if transformer is not None:
                x, y = transformer.transform(xy[:, 0], xy[:, 1])
                xy = np.column_stack([x, y])
            return np.column_stack(apply_transform(inverse, xy[:, 0], xy[:, 1]))

        extent = box(0, 0, georeference.width, georeference.height)
        out = []
        for index, geometry in enumerate(self.geometries):
            try:
                pixel = shapely.transform(geometry, project)
            except shapely.errors.GEOSException:  # coordinates that do not project (infinite): not on this scene
                continue
            if not np.isfinite(np.asarray(pixel.bounds)).all() or not pixel.is_valid:
                continue  # does not project into this scene's CRS: not on this scene
            if pixel.intersects(extent) if pixel.geom_type != "Point" else extent.covers(pixel):
                out.append((index, pixel))
        return out


def _class_name(properties: Mapping, attribute: str, class_names) -> str | None:
    value = properties.get(attribute)
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or str(value).strip() == "":
        return None
    name = str(value).strip()
    return name if class_names is None or name in class_names else None


def _geometry(item) -> BaseGeometry | None:
    """The feature's geometry when it can be a label (module docstring), else None."""
    geometry = item.get("geometry") if isinstance(item, Mapping) and item.get("type") == "Feature" else item
    if geometry is None:
        return None
    try:
        geometry = geometry if isinstance(geometry, BaseGeometry) else shape(geometry)
    except Exception:  # shapely's GeometryTypeError, KeyError, TypeError ...
        return None
    if geometry.geom_type not in LABEL_GEOMETRIES or geometry.is_empty:
        return None
    if not np.isfinite(shapely.get_coordinates(geometry)).all() or not geometry.is_valid:
        return None
    return geometry


def read_labels(path, class_attribute: str = "class", class_names=None, layer: str | None = None,
                crs=None, report=None, argument: str = "labels") -> LabelSet:
    """The labels of a vector file, each feature counted in `report` (module docstring). `crs` is the labels' CRS
    when the file declares none (default EPSG:4326, as GeoJSON says). Raises ValueError naming the file when it cannot
    be read, and when none of its features is a usable label."""
    try:
        items, declared = prompt_items(str(path), argument, layer)
    except ValueError as error:  # the prompt reader's messages, with the option of this command
        raise ValueError(str(error).replace(" (--prompt-layer)", "").replace("prompt_layer=", "label_layer=")) \
            from None
    label_crs = declared or (parse_crs(crs, "label_crs") if crs is not None else CRS.from_user_input(DEFAULT_CRS))
    if declared is not None and crs is not None and parse_crs(crs, "label_crs") != declared:
        raise ValueError(f"label_crs={crs!r} differs from the CRS {declared.to_string()} that "
                         f"{argument}={str(path)!r} "
                         "declares; leave label_crs unset (it is for files that declare none).")
    names = None if class_names is None else set(class_names)
    labels = LabelSet([], [], [], label_crs)
    for i, item in enumerate(items):
        where = f"{argument}[{i}]"
        if report is not None:
            report.objects_read += 1
        geometry = _geometry(item)
        properties = item.get("properties") if isinstance(item, Mapping) else None
        properties = properties if isinstance(properties, Mapping) else {}
        reason = INVALID if geometry is None else None
        category = _class_name(properties, class_attribute, names) if reason is None else None
        if reason is None and category is None:
            reason = UNKNOWN_CLASS
        if reason is not None:
            if report is not None:
                report.skip(reason)
            if len(labels.problems) < 5:
                labels.problems[where] = reason
            continue
        labels.geometries.append(geometry)
        labels.classes.append(category)
        labels.names.append(where)
    if not labels.geometries:
        raise ValueError(f"{argument}={str(path)!r} holds no usable label among its {len(items)} feature(s) "
                         f"(first problems: {labels.problems or 'no features'}); a label is a valid Polygon, "
                         f"MultiPolygon or Point with a {class_attribute!r} attribute"
                         + (f" naming one of {sorted(names)}." if names else "."))
    return labels


__all__ = ["LabelSet", "read_labels", "LABEL_GEOMETRIES", "INVALID", "UNKNOWN_CLASS"]
