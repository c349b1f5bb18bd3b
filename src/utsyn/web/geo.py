"""The county map: GeoJSON outlines turned into SVG path data, on the server.

The outlines (`utsyn/data/geo/fylker_2024.geojson`, Kartverket CC BY 4.0) are projected
once per process with a plain equirectangular projection scaled by the cosine of the
middle latitude: Norway spans some 13° of latitude, where that is close enough to a
conformal map for a choropleth, and it needs no projection library.

The shipped file is a simplified copy of robhop/fylker-og-kommuner's Fylker-S.geojson
(628 KB, 15 digits per coordinate; the copy is 87 KB) made by this module, reproducibly:

    python -m utsyn.web.geo Fylker-S.geojson src/utsyn/data/geo/fylker_2024.geojson

(Douglas–Peucker at `TOLERANCE` degrees, islands under `MIN_AREA` square degrees dropped,
coordinates rounded to `DIGITS` decimals): at the map's size the difference is under a pixel.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from itertools import pairwise
from typing import Any

Point = tuple[float, float]  # (longitude, latitude) or (x, y)
Ring = tuple[Point, ...]  # closed: the first point repeated last
Polygon = tuple[Ring, ...]  # the outer ring, then its holes
Projector = Callable[[Point], Point]

MAP_FILE = "fylker_2024.geojson"
MAP_WIDTH = 400  # SVG user units; the page scales the map with CSS
MAP_MARGIN = 4
TOLERANCE = 0.02  # degrees: about 2 km, under a unit at MAP_WIDTH (some 34 units a degree)
MIN_AREA = 0.002  # square degrees: islands under some 10 km², a unit or two across here
DIGITS = 4


@dataclass(frozen=True)
class Shape:
    """One county on the map: its number, name and SVG path data."""

    number: str
    name: str
    path: str


@dataclass(frozen=True)
class CountyMap:
    width: int
    height: int
    shapes: tuple[Shape, ...]  # by county number


@dataclass(frozen=True)
class Projection:
    """Longitude and latitude to SVG units: x east, y down, origin at the top left."""

    west: float
    north: float
    x_scale: float  # cos(middle latitude): a degree of longitude is that much shorter
    scale: float  # SVG units per degree of latitude
    margin: float = 0.0

    def __call__(self, point: Point) -> Point:
        lon, lat = point
        x = self.margin + (lon - self.west) * self.x_scale * self.scale
        y = self.margin + (self.north - lat) * self.scale
        return (x, y)


# ---------------------------------------------------------------- geometry


def polygons(geometry: Mapping[str, Any]) -> tuple[Polygon, ...]:
    """A GeoJSON Polygon or MultiPolygon as polygons of (lon, lat) rings."""
    kind = geometry["type"]
    if kind == "Polygon":
        parts = [geometry["coordinates"]]
    elif kind == "MultiPolygon":
        parts = geometry["coordinates"]
    else:
        raise ValueError(f"not a polygon: {kind}")
    return tuple(tuple(_ring(r) for r in rings) for rings in parts)


def _ring(coordinates: Sequence[Sequence[float]]) -> Ring:
    return tuple((float(c[0]), float(c[1])) for c in coordinates)


def bounds(points: Iterable[Point]) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the points."""
    xs, ys = zip(*points, strict=True)
    return (min(xs), min(ys), max(xs), max(ys))


def fit(box: tuple[float, float, float, float], width: float, margin: float = 0) -> Projection:
    """The projection that draws `box` (west, south, east, north) `width` units wide."""
    west, south, east, north = box
    x_scale = math.cos(math.radians((south + north) / 2))
    span = (east - west) * x_scale
    if span <= 0:
        raise ValueError("the box has no width")
    return Projection(west, north, x_scale, (width - 2 * margin) / span, margin)


def height_of(box: tuple[float, float, float, float], projection: Projection) -> float:
    return (box[3] - box[1]) * projection.scale + 2 * projection.margin


def ring_area(ring: Sequence[Point]) -> float:
    """The ring's area (shoelace formula), always positive, in its own units squared."""
    twice = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairwise(ring))
    return abs(twice) / 2


def simplify(ring: Sequence[Point], tolerance: float) -> Ring:
    """Douglas–Peucker: drop points closer than `tolerance` to the line that replaces them.

    The ends are kept, so a closed ring stays closed. Iterative: rings have thousands of
    points, more than Python's recursion limit would like.
    """
    if len(ring) < 3:
        return tuple(ring)
    keep = [False] * len(ring)
    keep[0] = keep[-1] = True
    stack = [(0, len(ring) - 1)]
    while stack:
        first, last = stack.pop()
        far, distance = first, 0.0
        for i in range(first + 1, last):
            d = _distance_to_segment(ring[i], ring[first], ring[last])
            if d > distance:
                far, distance = i, d
        if distance > tolerance:
            keep[far] = True
            stack += [(first, far), (far, last)]
    return tuple(p for p, kept in zip(ring, keep, strict=True) if kept)


def _distance_to_segment(p: Point, a: Point, b: Point) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 == 0:  # a closed ring's ends coincide
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def path_data(shapes: Iterable[Polygon], project: Projector) -> str:
    """SVG path data of the polygons (holes included: draw with fill-rule evenodd).

    One decimal is a tenth of a unit: finer than any screen shows the map. Points that
    round onto the one before are left out.
    """
    parts: list[str] = []
    for polygon in shapes:
        for ring in polygon:
            moves = _rounded(project(p) for p in ring)
            if len(moves) >= 3:
                head, *rest = moves
                parts.append(f"M{head}" + "".join(f"L{m}" for m in rest) + "Z")
    return "".join(parts)


def _rounded(points: Iterable[Point]) -> list[str]:
    out: list[str] = []
    for x, y in points:
        text = f"{x:.1f} {y:.1f}"
        if not out or out[-1] != text:
            out.append(text)
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()  # Z closes the ring
    return out


# ---------------------------------------------------------------- the shipped map


def county_map(features: Sequence[Mapping[str, Any]], width: int = MAP_WIDTH) -> CountyMap:
    """The counties of a GeoJSON FeatureCollection's features, fitted `width` units wide."""
    shaped = [(f["properties"], polygons(f["geometry"])) for f in features]
    every = (p for _, polys in shaped for polygon in polys for p in polygon[0])
    box = bounds(every)
    projection = fit(box, width, MAP_MARGIN)
    shapes = tuple(
        Shape(str(props["fylkesnummer"]), str(props["name"]), path_data(polys, projection))
        for props, polys in sorted(shaped, key=lambda s: str(s[0]["fylkesnummer"]))
    )
    return CountyMap(width, math.ceil(height_of(box, projection)), shapes)


@cache
def counties_map() -> CountyMap:
    """The shipped county map, projected once per process."""
    text = files("utsyn.data").joinpath("geo", MAP_FILE).read_text(encoding="utf-8")
    return county_map(json.loads(text)["features"])


# ---------------------------------------------------------------- making the shipped file


def simplify_geojson(
    data: Mapping[str, Any],
    tolerance: float = TOLERANCE,
    min_area: float = MIN_AREA,
    digits: int = DIGITS,
) -> dict[str, Any]:
    """A smaller copy: simplified rings, small islands dropped, fewer digits.

    A county keeps its largest polygon whatever its size; a hole that collapses goes.
    """
    features = []
    for feature in data["features"]:
        kept = _simplified_polygons(polygons(feature["geometry"]), tolerance, min_area, digits)
        geometry = {"type": "MultiPolygon", "coordinates": kept}
        features.append({"type": "Feature", "properties": feature["properties"],
                         "geometry": geometry})  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def _simplified_polygons(
    polys: Sequence[Polygon], tolerance: float, min_area: float, digits: int
) -> list[list[list[list[float]]]]:
    largest = max(polys, key=lambda p: ring_area(p[0]))
    kept = []
    for polygon in polys:
        if polygon is not largest and ring_area(polygon[0]) < min_area:
            continue
        rings = [_rounded_ring(simplify(r, tolerance), digits) for r in polygon]
        if len(rings[0]) < 4 and polygon is largest:
            rings[0] = _rounded_ring(polygon[0], digits)  # too small to simplify: kept whole
        if len(rings[0]) < 4:
            continue
        kept.append([rings[0], *(r for r in rings[1:] if len(r) >= 4)])
    return kept


def _rounded_ring(ring: Ring, digits: int) -> list[list[float]]:
    out: list[list[float]] = []
    for lon, lat in ring:
        point = [round(lon, digits), round(lat, digits)]
        if not out or out[-1] != point:
            out.append(point)
    return out


def main(argv: Sequence[str]) -> int:
    """python -m utsyn.web.geo SOURCE.geojson TARGET.geojson"""
    if len(argv) != 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    source, target = argv
    with open(source, encoding="utf-8") as read:
        data = json.load(read)
    smaller = simplify_geojson(data)
    with open(target, "w", encoding="utf-8") as write:
        json.dump(smaller, write, ensure_ascii=False, separators=(",", ":"))
        write.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
