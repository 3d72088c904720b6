"""门前三包 units follow the grids: a published redraw takes its units over, and every township's layout
links its own units (West Oakland shops and areas of the frontage tests)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import select

from grids.divisions import upsert_division
from grids.frontage_links import link_grids
from grids.layouts import city_date, generate_layout, publish_layout
from grids.models import Division, FrontageUnit, Grid
from tests.grids import test_frontage
from tests.grids.test_frontage import CITY, TOWNSHIP, _extent, _units

oakland = test_frontage.oakland  # the West Oakland city, shops and areas of the frontage tests
EAST = "999601002"


@pytest.fixture()
def session(oakland) -> Iterator:
    """The Oakland session inside a savepoint rolled back after the test: redraws stay out of the others."""
    session, _ = oakland
    nested = session.begin_nested()
    yield session
    nested.rollback()
    session.expire_all()


def _layouts_of(units: list[FrontageUnit]) -> dict[int, set[int]]:
    """unit id -> the layouts of the grids it is linked to."""
    return {u.id: {g.layout_id for g in u.grids} for u in units if u.area is not None}


def test_a_redraw_published_for_a_later_day_takes_its_units_over_at_once(session) -> None:
    before = _layouts_of(_units(session))
    old_layout = next(iter(next(iter(before.values()))))
    assert all(layouts == {old_layout} for layouts in before.values())
    redraw = generate_layout(session, CITY, TOWNSHIP, target_area=20_000, method="square")
    publish_layout(session, redraw.id, city_date(session, CITY) + timedelta(days=30))
    units = _units(session)
    after = _layouts_of(units)
    assert after.keys() == before.keys()
    assert all(layouts == {redraw.id} for layouts in after.values())
    assert all(session.get(Grid, u.grid_id).layout_id == redraw.id for u in units if u.area is not None)


def test_units_of_two_townships_each_link_to_their_own_townships_grids(session) -> None:
    west_half, east_half = _halves(session)
    city = session.scalar(select(Division).where(Division.city_code == CITY, Division.level == "city"))
    upsert_division(session, CITY, TOWNSHIP, "West Oakland west", "township", west_half, parent=city)
    east = upsert_division(session, CITY, EAST, "West Oakland east", "township", east_half, parent=city)
    layouts = {}
    for code in (TOWNSHIP, EAST):
        layouts[code] = generate_layout(session, CITY, code, method="square").id
        publish_layout(session, layouts[code])
    units = _units(session)
    link_grids(session, [u.id for u in units])  # one batch over both townships
    linked = _layouts_of(units)
    east_units = set(session.scalars(select(FrontageUnit.id).join(Division, Division.id == east.id).where(
        FrontageUnit.id.in_(linked), Division.geom.ST_Covers(FrontageUnit.location))))
    assert east_units and len(east_units) < len(linked)
    assert all(layouts[EAST] in linked[u] for u in east_units)
    assert all(layouts[TOWNSHIP] in linked[u] for u in linked.keys() - east_units)


def _halves(session) -> tuple[MultiPolygon, MultiPolygon]:
    """The extent cut at the median longitude of the shops, so both halves hold some."""
    west, south, east, north = _extent().bounds
    longitudes = sorted(to_shape(u.location).x for u in _units(session) if u.area is not None)
    middle = longitudes[len(longitudes) // 2]
    return MultiPolygon([box(west, south, middle, north)]), MultiPolygon([box(middle, south, east, north)])


def test_a_unit_the_redraw_no_longer_reaches_loses_its_retired_grids(session) -> None:
    """The township shrinks to its west half and is redrawn: the east half's units answer in no grid now,
    rather than in grids of the retired layout."""
    west_half, _ = _halves(session)
    township = session.scalar(select(Division).where(Division.city_code == CITY, Division.code == TOWNSHIP))
    upsert_division(session, CITY, TOWNSHIP, township.name, "township", west_half, parent=township.parent)
    redraw = generate_layout(session, CITY, TOWNSHIP, method="square")
    publish_layout(session, redraw.id)
    units = [u for u in _units(session) if u.area is not None]
    outside = [u for u in units if not west_half.intersects(to_shape(u.area))]
    assert outside and len(outside) < len(units)
    assert all(u.grids == [] and u.grid_id is None for u in outside)
    assert all(_layouts_of([u])[u.id] == {redraw.id} for u in units if u not in outside)
