"""Grids along real streets: the division is covered exactly and streets bound the grids."""

import json

import pytest
import shapely
from shapely.geometry import LineString, box, shape

from gis import crs, split

TARGET = 10_000.0
OAKLAND_UTM = 32610


@pytest.fixture(scope="module")
def oakland(shared_data):
    """The real West Oakland street network (376 OSM ways) in UTM 10N, and a division inside it."""
    data = json.loads((shared_data / "west-oakland" / "west_oakland_roads.geojson").read_text())
    roads = [crs.to_metric(shape(f["geometry"]), OAKLAND_UTM) for f in data["features"]]
    division = box(*shapely.union_all(roads).bounds).buffer(-100, join_style="mitre")
    return division, roads


@pytest.fixture(scope="module")
def pipeline(oakland):
    division, roads = oakland
    blocks = split.blocks_from_roads(division, roads)
    pieces = [piece for block in blocks for piece in split.split_large(block, TARGET)]
    grids, merged = split.merge_slivers(pieces, TARGET / 4)
    return blocks, grids, merged


def test_road_grids_cover_the_division_without_overlap(oakland, pipeline):
    division, roads = oakland
    grids = split.road_grids(division, roads, TARGET)
    assert len(grids) == len(pipeline[1])
    union = shapely.union_all(grids)
    assert union.area == pytest.approx(division.area, rel=1e-4)
    assert sum(g.area for g in grids) == pytest.approx(union.area, rel=1e-6)
    assert all(g.is_valid and g.geom_type == "Polygon" for g in grids)


def test_streets_really_cut_the_division(oakland, pipeline):
    division, roads = oakland
    blocks, _, _ = pipeline
    assert len(blocks) > 200
    clipped = shapely.union_all([r.intersection(division) for r in roads])
    used = shapely.union_all([b.boundary for b in blocks]).difference(division.boundary)
    assert used.length > 0.8 * clipped.length  # most street length bounds a block (the rest: dead ends)


def test_no_street_runs_through_a_grid_unless_a_sliver_was_merged(pipeline):
    blocks, grids, merged = pipeline
    streets = shapely.union_all([b.boundary for b in blocks])
    crossed = [
        i for i, grid in enumerate(grids)
        if i not in merged and streets.intersection(grid.buffer(-0.05)).length > 1.0
    ]
    assert crossed == []
    assert 0 < len(merged) < len(grids) / 4


def test_grid_sizes_are_near_the_target(pipeline):
    _, grids, _ = pipeline
    areas = sorted(g.area for g in grids)
    assert areas[len(areas) // 2] == pytest.approx(TARGET, rel=0.5)
    assert all(a >= TARGET / 4 for a in areas)


def test_split_large_makes_near_equal_parts():
    parts = split.split_large(box(0, 0, 1000, 100), 10_000)
    assert len(parts) == 10
    assert all(p.area == pytest.approx(10_000, rel=1e-6) for p in parts)
    assert split.split_large(box(0, 0, 100, 150), 10_000) == [box(0, 0, 100, 150)]


def test_merge_slivers_uses_longest_shared_edge_and_reports_it():
    big_left, big_right = box(0, 0, 100, 100), box(100, 0, 200, 60)
    sliver = box(100, 60, 200, 70)  # shares 100 m with big_right, 10 m with big_left
    grids, merged = split.merge_slivers([big_left, big_right, sliver], 2_500)
    assert len(grids) == 2 and merged == [1]
    assert grids[1].equals(box(100, 0, 200, 70))


def test_a_road_grid_ignores_roads_outside_and_dead_ends():
    division = box(0, 0, 200, 100)
    crossing, dead_end = LineString([(100, -50), (100, 150)]), LineString([(50, 0), (50, 40)])
    roads = [crossing, dead_end, LineString([(500, 0), (600, 0)])]
    grids = split.road_grids(division, roads, 10_000)
    assert sorted(round(g.area) for g in grids) == [10_000, 10_000]
