"""Which grids a 门前三包 unit answers in: the links between frontage areas and the grids they overlap.

Its own module because both sides change them: grids.frontage when an area is drawn, and grids.layouts when
a redraw is published (the units then move onto the new grids, as duty areas do in grids.responsibility).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select, text, tuple_
from sqlalchemy.orm import Session

from grids.models import FrontageUnit, Grid, frontage_unit_grids

#: Per unit and per division its area reaches: the layout to link to, the newest published one (a redraw
#: published for a later day takes over its units at once, like the division's duty areas), else the newest
#: draft, so a planner sees the units of a layout before publishing it. Retired layouts are history.
_LINKABLE_LAYOUTS = text("""
SELECT DISTINCT ON (u.id, l.division_id) u.id, l.id
FROM frontage_units u JOIN grids g ON ST_Intersects(g.geom, u.area) JOIN grid_layouts l ON l.id = g.layout_id
WHERE u.id = ANY(:units) AND l.status IN ('published', 'draft')
ORDER BY u.id, l.division_id, (l.status = 'published') DESC, l.id DESC""")
#: The active units whose area reaches a grid of the new layout, and every unit linked to a grid of the layout
#: it retires (one the redraw no longer reaches must lose its links, not keep answering in retired grids).
_UNITS_OVER = text("""
SELECT u.id FROM frontage_units u JOIN grids g ON ST_Intersects(g.geom, u.area)
WHERE g.layout_id = :layout AND u.status = 'active'
UNION
SELECT l.unit_id FROM frontage_unit_grids l JOIN grids g ON g.id = l.grid_id WHERE g.layout_id = :retired
ORDER BY 1""")


def link_grids(session: Session, unit_ids: Sequence[int]) -> int:
    """Link each unit to every grid its area overlaps in the layouts of _LINKABLE_LAYOUTS; the grid holding
    most of the area becomes the unit's grid. Returns the number of links."""
    if not unit_ids:
        return 0
    session.execute(delete(frontage_unit_grids).where(frontage_unit_grids.c.unit_id.in_(unit_ids)))
    pairs = [tuple(row) for row in session.execute(_LINKABLE_LAYOUTS, {"units": list(unit_ids)})]
    overlap = func.ST_Area(func.ST_Intersection(Grid.geom, FrontageUnit.area))
    rows = session.execute(
        select(FrontageUnit.id, Grid.id, overlap).join(Grid, func.ST_Intersects(Grid.geom, FrontageUnit.area))
        .where(tuple_(FrontageUnit.id, Grid.layout_id).in_(pairs), overlap > 0)
        .order_by(FrontageUnit.id, overlap.desc(), Grid.id)).all() if pairs else []
    if rows:
        session.execute(insert(frontage_unit_grids), [{"unit_id": u, "grid_id": g} for u, g, _ in rows])
    main: dict[int, int] = {}
    for unit_id, grid_id, _ in rows:
        main.setdefault(unit_id, grid_id)
    for unit in session.scalars(select(FrontageUnit).where(FrontageUnit.id.in_(unit_ids))):
        unit.grid_id = main.get(unit.id)
        session.expire(unit, ["grids"])
    session.flush()
    return len(rows)


def relink_units_over(session: Session, layout_id: int, retired_id: int | None) -> int:
    """Re-link the units whose area reaches a grid of the layout (just published) or that were linked to the
    layout it retires: returns the links made."""
    return link_grids(session, session.scalars(_UNITS_OVER, {"layout": layout_id, "retired": retired_id}).all())
