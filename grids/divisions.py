"""The division tree (city -> township -> community): storing boundaries and finding where a point lies."""

from __future__ import annotations

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grids.models import Division


def upsert_division(session: Session, city_code: str, code: str, name: str, level: str,
                    geom: MultiPolygon, *, parent: Division | None = None, illustrative: bool = False) -> Division:
    """Insert, or update in place as a new version when the name or boundary changed (never a duplicate)."""
    row = session.scalar(select(Division).where(Division.city_code == city_code, Division.code == code))
    wkb = from_shape(geom, srid=4326)
    if row is None:
        row = Division(city_code=city_code, code=code, name=name, level=level, geom=wkb, version=1)
        session.add(row)
    elif row.name != name or not session.scalar(select(func.ST_Equals(row.geom, wkb))):
        row.name, row.geom, row.version, row.updated_at = name, wkb, row.version + 1, func.now()
    row.level, row.illustrative = level, illustrative
    row.parent_id = parent.id if parent else None
    session.flush()
    return row


def division_at(session: Session, city_code: str, point: BaseGeometry, level: str) -> Division | None:
    """The division of a level covering a point (GiST index + ST_Covers; lowest id wins on a shared edge)."""
    return session.scalar(
        select(Division)
        .where(Division.city_code == city_code, Division.level == level,
               func.ST_Covers(Division.geom, func.ST_GeomFromEWKB(from_shape(point, srid=4326))))
        .order_by(Division.id).limit(1))
