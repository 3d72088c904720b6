"""Responsibility grids (责任网格): duty areas made of unit grids, answered for by one party (DOMAIN §2).

A responsibility grid is a separate layer over the unit grids: a squad's beat, a co-manager's patch or a
department's area. Rules an operator can rely on (docs/grids.md):
- The party matches the kind: a squad for 'squad', a user with role co_manager for 'co_manager', a
  department for 'department'; the other two ids stay empty.
- All members are grids of one draft or published layout, and their union is one piece: grids that only
  meet at a corner, or not at all, are refused by code (checked in PostGIS with ST_Union/ST_Dump).
- Publishing a new layout of the division carries every duty area over: each new grid joins the duty
  areas of the retired grid it overlaps most. Mapping new grids to old (not old to new) leaves no
  holes when a grid is split and no doubles when grids are merged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import cast, delete, func, insert, select, text
from sqlalchemy.orm import Session

from grids.errors import Invalid, NotFound
from grids.models import (
    RESPONSIBILITY_KINDS,
    Department,
    Grid,
    GridLayout,
    ResponsibilityGrid,
    Squad,
    User,
    responsibility_grid_members,
)

MAX_LISTED = 100

# Members outside the largest piece of the union: the grids that do not touch the rest along an edge.
_DETACHED = text("""
WITH m AS (SELECT code, geom FROM grids WHERE id = ANY(:ids)),
     parts AS (SELECT (ST_Dump(ST_Union(geom))).geom AS p FROM m),
     main AS (SELECT p FROM parts ORDER BY ST_Area(p) DESC LIMIT 1)
SELECT m.code FROM m, main WHERE NOT ST_Covers(main.p, ST_PointOnSurface(m.geom)) ORDER BY m.code""")

# For each grid of the new layout, the grid of the old layout it overlaps most (lowest code on a tie).
_BEST_OLD = """
SELECT DISTINCT ON (n.id) n.id AS new_id, n.code AS new_code, o.id AS old_id
FROM grids n JOIN grids o ON o.layout_id = :old AND o.geom && n.geom AND ST_Relate(o.geom, n.geom, '2********')
WHERE n.layout_id = :new
ORDER BY n.id, ST_Area(ST_Intersection(o.geom, n.geom)) DESC, o.code"""
_CARRIED = text(f"""
SELECT m.responsibility_grid_id, b.new_id, b.new_code
FROM ({_BEST_OLD}) b JOIN responsibility_grid_members m ON m.grid_id = b.old_id
ORDER BY m.responsibility_grid_id, b.new_code""")

#: Who a duty area is for, by kind: the party's model, what people name it by, and the keyword that carries its id.
PARTIES: dict[str, tuple[Any, Any, str]] = {"squad": (Squad, Squad.code, "squad_id"),
                                            "co_manager": (User, User.username, "user_id"),
                                            "department": (Department, Department.code, "department_id")}


def _kind(kind: str) -> tuple[Any, Any, str]:
    if kind not in PARTIES:
        raise Invalid(f"unknown kind {kind!r}; choose one of: {', '.join(RESPONSIBILITY_KINDS)}", code="bad_kind")
    return PARTIES[kind]


def _party(session: Session, city_code: str, kind: str, squad_id: int | None, user_id: int | None,
           department_id: int | None) -> None:
    """Refuse a party that does not match the kind, or does not exist in this city."""
    model, _name, key = _kind(kind)
    given = {"squad_id": squad_id, "user_id": user_id, "department_id": department_id}
    if given[key] is None or any(v is not None for k, v in given.items() if k != key):
        raise Invalid(f"a {kind} responsibility grid needs exactly one {kind} and no other party",
                      code="party_mismatch")
    party = session.get(model, given[key])
    if party is None or party.city_code != city_code or (kind == "co_manager" and party.role != "co_manager"):
        raise NotFound(f"no {kind} {given[key]} in city {city_code}", code="unknown_party")


def _check_members(session: Session, city_code: str, grid_ids: Sequence[int]) -> list[int]:
    """The grid ids, once they are known, in one draft or published layout, and form one piece."""
    ids = sorted(set(grid_ids))
    if not ids:
        raise Invalid("choose at least one unit grid", code="no_grids")
    rows = session.execute(select(Grid.id, GridLayout.id, GridLayout.status)
                           .join(GridLayout, GridLayout.id == Grid.layout_id)
                           .where(Grid.id.in_(ids), Grid.city_code == city_code)).all()
    missing = sorted(set(ids) - {r[0] for r in rows})
    if missing:
        raise NotFound(f"no unit grids {missing[:20]} in city {city_code}", code="unknown_grid")
    layouts = {(layout, status) for _, layout, status in rows}
    if len(layouts) != 1 or next(iter(layouts))[1] == "retired":
        raise Invalid("the unit grids must all belong to one draft or published layout", code="mixed_layouts",
                      details={"layouts": sorted(layout for layout, _ in layouts)})
    detached = session.scalars(_DETACHED, {"ids": ids}).all()
    if detached:
        raise Invalid(f"the unit grids are not contiguous: {', '.join(detached[:20])} do not share an edge "
                      "with the others", code="not_contiguous", details={"detached": detached[:MAX_LISTED]})
    return ids


def _set_members(session: Session, rgrid_id: int, grid_ids: Sequence[int]) -> None:
    table = responsibility_grid_members
    session.execute(delete(table).where(table.c.responsibility_grid_id == rgrid_id))
    if grid_ids:
        session.execute(insert(table), [{"responsibility_grid_id": rgrid_id, "grid_id": g} for g in grid_ids])


def create_responsibility_grid(session: Session, city_code: str, code: str, name: str, kind: str,
                               grid_ids: Sequence[int], *, squad_id: int | None = None, user_id: int | None = None,
                               department_id: int | None = None) -> ResponsibilityGrid:
    """A new duty area of contiguous unit grids for one party of the matching kind. Flushes, never commits."""
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise Invalid("a responsibility grid needs a code and a name", code="no_code")
    _party(session, city_code, kind, squad_id, user_id, department_id)
    ids = _check_members(session, city_code, grid_ids)
    if session.scalar(select(ResponsibilityGrid.id).where(ResponsibilityGrid.city_code == city_code,
                                                          ResponsibilityGrid.code == code)):
        raise Invalid(f"responsibility grid code {code} is taken", code="code_taken")
    rgrid = ResponsibilityGrid(city_code=city_code, code=code, name=name, kind=kind, squad_id=squad_id,
                               user_id=user_id, department_id=department_id)
    session.add(rgrid)
    session.flush()
    _set_members(session, rgrid.id, ids)
    session.expire(rgrid, ["grids"])
    return rgrid


def update_members(session: Session, city_code: str, code: str, grid_ids: Sequence[int]) -> ResponsibilityGrid:
    """Replace a duty area's unit grids, under the same rules as creating it (a squad takes over a street)."""
    rgrid = session.scalar(select(ResponsibilityGrid).where(ResponsibilityGrid.city_code == city_code,
                                                            ResponsibilityGrid.code == code))
    if rgrid is None:
        raise NotFound(f"no responsibility grid {code!r} in city {city_code}; list them with `gridlink grids "
                       "responsibility list`", code="unknown_responsibility_grid")
    _set_members(session, rgrid.id, _check_members(session, city_code, grid_ids))
    session.expire(rgrid, ["grids"])
    return rgrid


def _party_name(session: Session, rgrid: ResponsibilityGrid) -> str:
    if rgrid.kind == "squad":
        return session.get(Squad, rgrid.squad_id).name
    if rgrid.kind == "department":
        return session.get(Department, rgrid.department_id).name
    user = session.get(User, rgrid.user_id)
    return user.display_name or user.username


def list_responsibility_grids(session: Session, city_code: str) -> list[dict[str, Any]]:
    """Every duty area of the city with its party, member count and the area of its union in m²."""
    members = responsibility_grid_members.c
    rows = session.execute(
        select(ResponsibilityGrid, func.count(Grid.id), func.min(Grid.layout_id),
               func.coalesce(func.ST_Area(cast(func.ST_Union(Grid.geom), Geography())), 0))
        .outerjoin(responsibility_grid_members, members.responsibility_grid_id == ResponsibilityGrid.id)
        .outerjoin(Grid, Grid.id == members.grid_id)
        .where(ResponsibilityGrid.city_code == city_code)
        .group_by(ResponsibilityGrid.id).order_by(ResponsibilityGrid.code)).all()
    return [{"id": r.id, "code": r.code, "name": r.name, "kind": r.kind, "party": _party_name(session, r),
             "squad_id": r.squad_id, "user_id": r.user_id, "department_id": r.department_id,
             "layout": layout, "grids": count, "area_m2": round(area, 1)}
            for r, count, layout, area in rows]


def _carried(session: Session, old_layout_id: int, new_layout_id: int) -> dict[int, list[tuple[int, str]]]:
    """Duty area id -> the (id, code) of the new layout's grids it gets when the new layout replaces the old."""
    carried: dict[int, list[tuple[int, str]]] = {}
    for rgrid_id, grid_id, code in session.execute(_CARRIED, {"old": old_layout_id, "new": new_layout_id}):
        carried.setdefault(rgrid_id, []).append((grid_id, code))
    return carried


def _old_members(session: Session, layout_id: int) -> dict[int, list[str]]:
    """Duty area id -> codes of its member grids in a layout."""
    members = responsibility_grid_members.c
    rows = session.execute(select(members.responsibility_grid_id, Grid.code)
                           .join(Grid, Grid.id == members.grid_id).where(Grid.layout_id == layout_id)
                           .order_by(members.responsibility_grid_id, Grid.code)).all()
    old: dict[int, list[str]] = {}
    for rgrid_id, code in rows:
        old.setdefault(rgrid_id, []).append(code)
    return old


def carry_over_impact(session: Session, old_layout_id: int, new_layout_id: int) -> list[dict[str, Any]]:
    """Duty areas whose member codes would change if the new layout replaced the old one (a preview)."""
    old = _old_members(session, old_layout_id)
    new = _carried(session, old_layout_id, new_layout_id)
    codes = dict(session.execute(select(ResponsibilityGrid.id, ResponsibilityGrid.code)
                                 .where(ResponsibilityGrid.id.in_(old))).all())
    changes = [{"id": rid, "code": codes[rid], "old_grids": old_codes,
                "new_grids": [code for _, code in new.get(rid, [])]} for rid, old_codes in old.items()]
    return [c for c in changes if c["old_grids"] != c["new_grids"]]


def carry_over(session: Session, old_layout_id: int, new_layout_id: int) -> int:
    """Move every duty area on the retired layout onto the new one; returns how many areas moved.

    The old memberships are replaced, not kept: a duty area lives on one layout, the one in force.
    """
    old = _old_members(session, old_layout_id)
    new = _carried(session, old_layout_id, new_layout_id)
    for rgrid_id in old:
        _set_members(session, rgrid_id, [grid_id for grid_id, _ in new.get(rgrid_id, [])])
    return len(old)


def _party_ids(session: Session, city_code: str, kind: str, party: str) -> dict[str, int | None]:
    """The keyword argument naming a party by what people type: squad code, user name, department code."""
    model, column, key = _kind(kind)
    found = session.scalar(select(model.id).where(model.city_code == city_code, column == party))
    if found is None:
        raise NotFound(f"no {kind} {party!r} in city {city_code}", code="unknown_party")
    return {key: found}


def layout_grids_by_code(session: Session, layout_id: int, codes: Sequence[str] | None) -> dict[int, str]:
    """{grid id: code} of the layout's grids with these codes (None: all of them); NotFound naming the codes the
    layout lacks, as planners type them."""
    query = select(Grid.id, Grid.code).where(Grid.layout_id == layout_id)
    if codes is not None:
        query = query.where(Grid.code.in_(codes))
    found = dict(session.execute(query).all())
    missing = sorted(set(codes or ()) - set(found.values()))
    if missing:
        raise NotFound(f"layout {layout_id} has no grids {', '.join(missing[:20])}", code="unknown_grid")
    return found


def create_by_codes(session: Session, city_code: str, layout_id: int, code: str, name: str, kind: str,
                    grid_codes: Sequence[str], party: str) -> ResponsibilityGrid:
    """create_responsibility_grid by the names planners use (CLI and editor): grid codes of one layout,
    a squad code, a co-manager's user name or a department code."""
    found = layout_grids_by_code(session, layout_id, grid_codes)
    return create_responsibility_grid(session, city_code, code, name, kind, list(found),
                                      **_party_ids(session, city_code, kind, party))
