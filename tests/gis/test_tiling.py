"""Square grids: every square metre of a district in exactly one grid, numbered like reading a map."""

import time

import pytest
import shapely
from shapely.geometry import Polygon, box

from gis import crs, readers, tiling


@pytest.fixture(scope="module")
def xunyang_metric(shared_data):
    """浔阳区 (Jiujiang's central district, ~48 km²), converted from GCJ-02 and projected to UTM 50N."""
    path = shared_data / "jiujiang" / "jiujiang_360400_districts.gcj02.geojson"
    features = readers.read_features(path).features
    district = next(f for f in features if f.properties["district"] == "浔阳区")
    wgs84 = crs.geometry_to_wgs84(district.geometry, "gcj02")
    centre = wgs84.centroid
    return crs.to_metric(wgs84, crs.utm_epsg_for(centre.x, centre.y))


@pytest.mark.parametrize("target", [250_000.0, 5_000.0])
def test_grid_covers_real_district_exactly_once(xunyang_metric, target):
    started = time.perf_counter()
    grids = tiling.square_grid(xunyang_metric, target)
    elapsed = time.perf_counter() - started
    union = shapely.union_all(grids)
    assert union.area == pytest.approx(xunyang_metric.area, rel=1e-4)
    assert sum(g.area for g in grids) == pytest.approx(union.area, rel=1e-9)  # no overlaps
    assert all(g.is_valid and g.geom_type == "Polygon" for g in grids)
    assert len(grids) == pytest.approx(xunyang_metric.area / target, rel=0.25)
    assert elapsed < 5  # ~10,000 tiles at 5,000 m²


def test_small_pieces_only_survive_as_islands(xunyang_metric):
    target = 250_000.0
    grids = tiling.square_grid(xunyang_metric, target)
    for grid in grids:
        if grid.area < target / 4:
            others = [g for g in grids if g is not grid]
            assert all(shapely.length(shapely.intersection(grid.boundary, g.boundary)) == 0 for g in others)


def test_cut_square_gives_separate_grids_and_tiny_island_stays():
    arch = box(0, 0, 100, 200).difference(box(40, 0, 60, 100))  # the lower square holds two legs
    island = box(1000, 190, 1010, 200)
    grids = tiling.square_grid(shapely.MultiPolygon([arch, island]), 10_000)
    assert sorted(round(g.area) for g in grids) == [100, 4_000, 4_000, 10_000]
    assert all(isinstance(g, Polygon) for g in grids)


def test_numbering_reads_rows_north_to_south_and_west_to_east():
    grids = tiling.square_grid(box(0, 0, 300, 200), 10_000)
    order = tiling.order_west_east_north_south(grids)
    corners = [(round(grids[i].bounds[0]), round(grids[i].bounds[3])) for i in order]
    assert corners == [(0, 200), (100, 200), (200, 200), (0, 100), (100, 100), (200, 100)]


def test_numbering_with_clipped_pieces_keeps_rows():
    triangle = Polygon([(0, 0), (400, 0), (0, 400)])
    grids = tiling.square_grid(triangle, 10_000)
    order = tiling.order_west_east_north_south(grids, row_height=100)
    tops = [round(grids[i].bounds[3], 6) for i in order]
    assert tops == sorted(tops, reverse=True)
    assert tiling.order_west_east_north_south([]) == []
