"""门前三包 areas redrawn by hand: stored and kept on regeneration, refused over another unit's area."""

from __future__ import annotations

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import Polygon, box

from gis.crs import from_metric
from grids.errors import Invalid
from grids.frontage import generate_areas, set_manual_area
from tests.grids import test_frontage
from tests.grids.test_frontage import BUILDINGS, CITY, EPSG, ROADS, TOWNSHIP, _metric, _units

oakland = test_frontage.oakland  # the West Oakland city, shops and areas of the frontage tests


def _shrunk(unit, metres: float = 0.5) -> Polygon:
    """The unit's own area pulled in a little: certainly clear of every neighbour."""
    return from_metric(_metric(unit.area).buffer(-metres, join_style="mitre"), EPSG)


def test_a_drawn_area_is_stored_as_manual_and_linked_to_its_grid(oakland) -> None:
    session, _ = oakland
    unit = _units(session)[0]
    drawn = _shrunk(unit)
    result = set_manual_area(session, unit.id, drawn)
    assert unit.area_manual and unit.area_notes == ["drawn by hand"]
    assert to_shape(unit.area).symmetric_difference(drawn).area < 1e-12
    assert result["grid_links"] >= 1 and unit.grid_id is not None and result["grid"] == unit.grid_id


def test_an_area_over_another_units_area_is_refused_naming_it(oakland) -> None:
    session, _ = oakland
    mine, other = _units(session)[:2]
    before = to_shape(mine.area)
    reach = box(*_metric(other.area).bounds).union(box(*_metric(mine.area).bounds))
    with pytest.raises(Invalid, match=other.name) as caught:
        set_manual_area(session, mine.id, from_metric(reach.convex_hull, EPSG))
    named = {o["unit"]: o["overlap_m2"] for o in caught.value.details["overlaps"]}
    assert named[other.id] == pytest.approx(_metric(other.area).area, rel=0.02)
    assert to_shape(mine.area).equals(before)


def test_an_invalid_drawing_is_refused_with_where(oakland) -> None:
    session, _ = oakland
    unit = _units(session)[0]
    x, y = to_shape(unit.location).coords[0]
    bowtie = Polygon([(x, y), (x + 1e-4, y + 1e-4), (x + 1e-4, y), (x, y + 1e-4)])
    with pytest.raises(Invalid) as caught:
        set_manual_area(session, unit.id, bowtie)
    assert caught.value.code == "bad_geometry" and caught.value.details["location"]


def test_regeneration_keeps_the_drawn_area_and_draws_around_it(oakland) -> None:
    session, _ = oakland
    unit = _units(session)[0]
    drawn = _shrunk(unit, 0.2)
    set_manual_area(session, unit.id, drawn)
    generate_areas(session, CITY, TOWNSHIP, BUILDINGS, ROADS, "wgs84", 15.0)
    session.refresh(unit)
    assert unit.area_manual and to_shape(unit.area).symmetric_difference(drawn).area < 1e-12
    others = [_metric(u.area) for u in _units(session) if u.id != unit.id and u.area is not None]
    assert all(o.intersection(_metric(unit.area)).area < 0.05 for o in others)
