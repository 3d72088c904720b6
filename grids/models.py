"""The whole gridlink schema (data model v1), see ../shared/design/DOMAIN.md.

Every domain table carries `city_code`: the 6-digit code of the city that owns the row. It is Open311's
jurisdiction_id and the distribution column when one database no longer suffices. The database itself
enforces what must never be wrong: valid non-empty geometries, unique codes per city, foreign keys.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    case,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grids.db import Base

ROLES = ("admin", "dispatcher", "supervisor", "inspector", "squad_leader", "officer", "co_manager",
         "department", "planner", "viewer")
#: Who may decide the n-th extension of a case (延期: a second one needs a higher approval); the workflow checks
#: it and the outbox tells them a request waits.
EXTENSION_APPROVERS: tuple[tuple[str, ...], ...] = (("supervisor",), ("admin",))


def extension_approvers(granted: int) -> tuple[str, ...]:
    """The roles that decide a case's next extension, when it has `granted` already."""
    return EXTENSION_APPROVERS[min(granted, len(EXTENSION_APPROVERS) - 1)]

DIVISION_LEVELS = ("city", "district", "township", "community")
#: The collation that sorts Chinese names by pinyin, as people look them up (ICU: in PostgreSQL's Debian,
#: RPM and official builds); code point order put 执法局 before 城建.
PINYIN = "zh-x-icu"
LAYOUT_STATUSES = ("draft", "published", "retired")
CATEGORY_TYPES = ("event", "component")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _valid_geom(column: str) -> CheckConstraint:
    """A CHECK the database enforces even if the application is bypassed (RELIABILITY 2)."""
    return CheckConstraint(f"ST_IsValid({column}) AND NOT ST_IsEmpty({column})", name=f"{column}_valid")


def _city_fk() -> Mapped[str]:
    return mapped_column(String(6), ForeignKey("cities.code"), index=True)


class City(Base):
    __tablename__ = "cities"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # Daily working periods as [["08:30", "12:00"], ...]; NULL means grids.calendar.DEFAULT_HOURS.
    working_hours: Mapped[list[list[str]] | None] = mapped_column(JSONB)


class Division(Base):
    """A node of the division tree: city/district -> township/street -> community."""

    __tablename__ = "divisions"
    __table_args__ = (
        UniqueConstraint("city_code", "code"),
        CheckConstraint(_in("level", DIVISION_LEVELS), name="level"),
        _valid_geom("geom"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("divisions.id"), index=True)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A city outline gridlink made as the union of the city's top-level divisions (see migration 0014).
    derived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    parent: Mapped[Division | None] = relationship(remote_side=[id])


class GridLayout(Base):
    """A versioned set of unit grids: drafts are edited, one layout is published, old ones are retired."""

    __tablename__ = "grid_layouts"
    __table_args__ = (CheckConstraint(_in("status", LAYOUT_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    division_id: Mapped[int | None] = mapped_column(ForeignKey("divisions.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Grid(Base):
    """A unit grid (单元网格): about 10,000 m², inside exactly one parent division."""

    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("layout_id", "code"), _valid_geom("geom"))

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    layout_id: Mapped[int] = mapped_column(ForeignKey("grid_layouts.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(24))
    division_id: Mapped[int] = mapped_column(ForeignKey("divisions.id"), index=True)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    area_m2: Mapped[float] = mapped_column(Float)
    squad_id: Mapped[int | None] = mapped_column(ForeignKey("squads.id"), index=True)
    co_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


class GridCode(Base):
    """Every grid code ever handed out in a city, so a redrawn grid never gets an old grid's code."""

    __tablename__ = "grid_codes"

    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("cities.code"), primary_key=True)
    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    first_layout_id: Mapped[int | None] = mapped_column(ForeignKey("grid_layouts.id", ondelete="SET NULL"),
                                                       index=True)


class DivisionPart(Base):
    """A division cut into pieces of at most 255 vertices (ST_Subdivide), kept by a trigger on divisions.

    Why: a point-in-polygon test against a county outline of 100,000 vertices is slow; against its
    small pieces the GiST index does almost all the work.
    """

    __tablename__ = "division_parts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    division_id: Mapped[int] = mapped_column(ForeignKey("divisions.id", ondelete="CASCADE"), index=True)
    geom: Mapped[Any] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=True))


class Department(Base):
    """A functional department linked into the work (城建, 规划, 环保, 交警 ...)."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("city_code", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    #: The bureau's own work: its cases in a township are handled by the squad stationed there.
    worked_by_squads: Mapped[bool] = mapped_column(default=False, server_default=text("false"))


class Squad(Base):
    """An enforcement squad (派驻执法中队) stationed by the bureau in one township."""

    __tablename__ = "squads"
    __table_args__ = (UniqueConstraint("city_code", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    township_id: Mapped[int] = mapped_column(ForeignKey("divisions.id"), index=True)

    township: Mapped[Division] = relationship()


class User(Base):
    """A member of staff with one role, optionally bound to a township or a department (their zone)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("city_code", "username"),
        CheckConstraint(_in("role", ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    township_id: Mapped[int | None] = mapped_column(ForeignKey("divisions.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    squad_id: Mapped[int | None] = mapped_column(ForeignKey("squads.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    township: Mapped[Division | None] = relationship()
    department: Mapped[Department | None] = relationship()
    squad: Mapped[Squad | None] = relationship()


class LoginThrottle(Base):
    """Failed logins per typed user name, known or not, so slowing down reveals nothing about who exists."""

    __tablename__ = "login_throttle"

    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("cities.code"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


category_departments = Table(
    "category_departments",
    Base.metadata,
    Column("category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True),
)


class Category(Base):
    """A node of the event/component category tree; minor classes carry the working-time limit."""

    __tablename__ = "categories"
    __table_args__ = (
        UniqueConstraint("city_code", "code"),
        CheckConstraint(_in("type", CATEGORY_TYPES), name="type"),
        CheckConstraint("time_limit IS NULL OR time_limit ~ '^[0-9]+[hd]$'", name="time_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    time_limit: Mapped[str | None] = mapped_column(String(8))
    filing_condition: Mapped[str | None] = mapped_column(Text)
    closing_condition: Mapped[str | None] = mapped_column(Text)

    departments: Mapped[list[Department]] = relationship(secondary=category_departments)


class RoutingRule(Base):
    """Category -> department for a scope: city-wide, one division, or one grid (rules are data, not code).

    A grid scope names the grid by code, so the rule outlives a redraw that keeps the code. One rule per
    scope: NULLs count as equal in the unique constraint, so there is one city-wide rule per category.
    """

    __tablename__ = "routing_rules"
    __table_args__ = (
        UniqueConstraint("city_code", "category_id", "division_id", "grid_code",
                         postgresql_nulls_not_distinct=True),
        CheckConstraint("grid_code IS NULL OR division_id IS NULL", name="one_scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), index=True)
    division_id: Mapped[int | None] = mapped_column(ForeignKey("divisions.id"), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(24))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)


STAGES = ("file", "dispatch", "check", "close")


class StageLimit(Base):
    """The working-time limit of one stage the centre or an inspector owns (立案, 派遣, 核查, 结案).

    The handling limit (处置时限) stays on the minor class (Category.time_limit); these rows give the
    other stages a city default (category_id NULL) and per-category overrides. Limits read like
    "30m", "2h", "1d" (working minutes, hours, days on the city calendar).
    """

    __tablename__ = "stage_limits"
    __table_args__ = (
        UniqueConstraint("city_code", "category_id", "stage", postgresql_nulls_not_distinct=True),
        CheckConstraint(_in("stage", STAGES), name="stage"),
        CheckConstraint("time_limit ~ '^[0-9]+[mhd]$'", name="time_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    time_limit: Mapped[str] = mapped_column(String(8))


COMPONENT_STATUSES = ("in_use", "damaged", "removed")


class Component(Base):
    """A public facility (部件): 16-digit code = 6-digit district + 2 major + 2 minor class + 6 serial.

    A case about a component goes to its maintainer first (DOMAIN 3); the owner is kept as written.
    """

    __tablename__ = "components"
    __table_args__ = (
        UniqueConstraint("city_code", "code"),
        CheckConstraint("code ~ '^[0-9]{16}$'", name="code"),
        CheckConstraint(_in("status", COMPONENT_STATUSES), name="status"),
        _valid_geom("location"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    code: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    owner_name: Mapped[str | None] = mapped_column(String(200))
    maintainer_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="in_use", server_default="in_use")
    address: Mapped[str | None] = mapped_column(String(300))
    location: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    category: Mapped[Category] = relationship()
    maintainer: Mapped[Department | None] = relationship()


class FrontageUnit(Base):
    """A street-facing unit answering for its frontage (门前三包); filled by the frontage feature."""

    __tablename__ = "frontage_units"
    __table_args__ = (_valid_geom("location"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    name: Mapped[str] = mapped_column(String(200))
    unit_type: Mapped[str] = mapped_column(String(32), default="shop")
    registration_no: Mapped[str | None] = mapped_column(String(64))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
    location: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    area: Mapped[Any | None] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # What the source calls it (an OSM shop=greengrocer, say) when unit_type is one of our few types.
    kind: Mapped[str | None] = mapped_column(String(64))
    township_id: Mapped[int | None] = mapped_column(ForeignKey("divisions.id"), index=True)
    agreement_no: Mapped[str | None] = mapped_column(String(64))  # 责任书编号
    agreement_signed_on: Mapped[date | None] = mapped_column(Date)
    agreement_expires_on: Mapped[date | None] = mapped_column(Date)
    duties: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    # How the area was drawn (generator notes), and whether a planner redrew it (kept on regeneration).
    area_notes: Mapped[list[str] | None] = mapped_column(JSONB)
    area_manual: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")

    grids: Mapped[list[Grid]] = relationship(secondary="frontage_unit_grids", order_by="Grid.code")


frontage_unit_grids = Table(
    "frontage_unit_grids",
    Base.metadata,
    Column("unit_id", ForeignKey("frontage_units.id", ondelete="CASCADE"), primary_key=True),
    Column("grid_id", ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class FrontageInspection(Base):
    """One scored inspection of a unit against the configured sheet; append-only like case history."""

    __tablename__ = "frontage_inspections"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_code: Mapped[str] = _city_fk()
    unit_id: Mapped[int] = mapped_column(ForeignKey("frontage_units.id", ondelete="CASCADE"), index=True)
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    score: Mapped[int] = mapped_column(Integer)
    # [{"item": code, "count": n, "points": deducted}], the photos' stored paths, and cases opened.
    deductions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    photos: Mapped[list[str]] = mapped_column(JSONB, default=list)
    violations: Mapped[int] = mapped_column(Integer, default=0)
    incident_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)
    note: Mapped[str | None] = mapped_column(Text)


SQUAD_OWNERS = ("squad", "township")  # owner types whose work the stationed squad does
IMPORTED = "import"  # the source of cases taken from another system's export (grids.incident_io)


class Incident(Base):
    """A case: where, what, who is accountable now, and its deadline. History lives in CaseEvent."""

    __tablename__ = "incidents"
    # Lean indexes, as every case written pays each (migration 0009): city_code leads the unique pair; a
    # mostly-empty column is indexed only where set (the triage queue: ask `needs_triage.is_(True)`).
    __table_args__ = (
        UniqueConstraint("city_code", "external_id"), _valid_geom("location"),
        *(Index(f"ix_incidents_{column}", column, postgresql_where=text(f"{column} IS NOT NULL"))
          for column in ("assignee_id", "co_manager_id", "component_id", "duplicate_of_id", "frontage_unit_id")),
        Index("ix_incidents_needs_triage", "needs_triage", postgresql_where=text("needs_triage IS TRUE")),
        Index("ix_incidents_deadline_at", "deadline_at", postgresql_where=text("deadline_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("cities.code"))
    external_id: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(32))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="reported", index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(300))
    reporter_contact: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[Any | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    input_crs: Mapped[str | None] = mapped_column(String(16))
    input_x: Mapped[float | None] = mapped_column(Float)
    input_y: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("divisions.id"), index=True)
    squad_id: Mapped[int | None] = mapped_column(ForeignKey("squads.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    frontage_unit_id: Mapped[int | None] = mapped_column(ForeignKey("frontage_units.id"))
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id"))
    routing_reason: Mapped[str | None] = mapped_column(Text)
    # The same explanation as [key, values] steps (grids.incidents.REASON_TEXT), worded per language on pages.
    routing_steps: Mapped[list[Any] | None] = mapped_column(JSONB)
    co_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who answers for the case now (责任主体唯一): department, squad, township (属地兜底) or centre.
    owner_type: Mapped[str | None] = mapped_column(String(16))
    # In the city but in no grid (or no usable location): waits in the triage queue, never dropped.
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    overdue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extensions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    extension_request: Mapped[str | None] = mapped_column(String(8))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Every stage clock started on this case: {stage: {"started": iso, "due": iso, "limit": "2h"}}.
    due_times: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # A report of something already reported points at the original (which keeps both reporters' photos).
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))

    # Read-only views of the ids above (the ids are what is written). A case being stored gets them set as
    # well (grids.incidents.apply_location), so the answer to its report names them from memory
    # (webapp.api.serialize); viewonly keeps them out of the flush, which writable ones made 25% dearer.
    category: Mapped[Category] = relationship(viewonly=True)
    township: Mapped[Division | None] = relationship(viewonly=True)
    squad: Mapped[Squad | None] = relationship(viewonly=True)
    grid: Mapped[Grid | None] = relationship(viewonly=True)
    department: Mapped[Department | None] = relationship(viewonly=True)
    component: Mapped[Component | None] = relationship(viewonly=True)

    @hybrid_property
    def due_at(self) -> datetime | None:
        """By when the case must move: its stage clock's deadline, or for an imported case still waiting for the
        centre (no gridlink clock has started; parked, it is due nowhere) the source system's handling deadline,
        by which evaluation and 只看超时 judge it late. Rows, pins, the urgency order and the tiles read this, so
        they agree with that filter."""
        if self.deadline_at is None and self.source == IMPORTED and self.status == "reported":
            due = (self.due_times or {}).get("handle", {}).get("due")  # null under a class without a time limit
            return datetime.fromisoformat(due) if due else None
        return self.deadline_at

    @due_at.inplace.expression
    @classmethod
    def _due_at_expression(cls) -> ColumnElement[datetime | None]:
        handle_due = cls.due_times["handle"]["due"].astext.cast(DateTime(timezone=True))
        waiting = cls.deadline_at.is_(None) & (cls.source == IMPORTED) & (cls.status == "reported")
        return case((waiting, handle_due), else_=cls.deadline_at)

    @hybrid_property
    def worked_by_squad(self) -> bool:
        """Whether the township's stationed squad does the work: a case the bureau owns
        (Department.worked_by_squads) or that no department owns (the squad's or township's own). The same rule
        in SQL below, for lists of cases (a squad's tasks)."""
        if self.owner_type == "department":
            return self.department is not None and self.department.worked_by_squads
        return self.owner_type in SQUAD_OWNERS

    @worked_by_squad.inplace.expression
    @classmethod
    def _worked_by_squad_expression(cls) -> ColumnElement[bool]:
        bureau = select(Department.id).where(Department.worked_by_squads).scalar_subquery()
        return or_(cls.owner_type.in_(SQUAD_OWNERS), (cls.owner_type == "department") & cls.department_id.in_(bureau))


class CaseEvent(Base):
    """One step of a case's history; append-only (the application never updates or deletes these)."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("incident_id", "seq"),
                      Index("ix_case_events_reporter", "actor_id",  # a reporter's own reports: see migration 0012
                            postgresql_where=text("action = 'report' AND actor_id IS NOT NULL")))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_code: Mapped[str] = _city_fk()
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))  # leads the unique (incident_id, seq)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


PHOTO_KINDS = ("before", "after")


class CasePhoto(Base):
    """A photo of a case: "before" from the report, "after" with the handling feedback (处置反馈).

    The file (re-encoded, without EXIF) lives under the uploads folder at `path`; the row says whose
    case it belongs to, so serving it can check the viewer's zone like any other view of the case, and when
    the camera took it.
    """

    __tablename__ = "case_photos"
    __table_args__ = (CheckConstraint(_in("kind", PHOTO_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_code: Mapped[str] = _city_fk()
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: When the camera took it (EXIF DateTimeOriginal, read before the EXIF is dropped); None when it did not say.
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CalendarDay(Base):
    """A city's override of one day: a local holiday, or a working day the holiday package does not know."""

    __tablename__ = "calendar_days"

    city_code: Mapped[str] = mapped_column(String(6), ForeignKey("cities.code"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(200))


class ApiKey(Base):
    """A machine client's key (Open311 api_key, Bearer on /api/v1): only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("city_code", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=120)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyRecord(Base):
    """The first answer to a request sent with an Idempotency-Key, replayed for every retry of it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


RESPONSIBILITY_KINDS = ("squad", "co_manager", "department")

responsibility_grid_members = Table(
    "responsibility_grid_members",
    Base.metadata,
    Column("responsibility_grid_id", ForeignKey("responsibility_grids.id", ondelete="CASCADE"), primary_key=True),
    Column("grid_id", ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class ResponsibilityGrid(Base):
    """A duty area (责任网格) made of unit grids, answered for by a squad, a co-manager or a department."""

    __tablename__ = "responsibility_grids"
    __table_args__ = (UniqueConstraint("city_code", "code"),
                      CheckConstraint(_in("kind", RESPONSIBILITY_KINDS), name="kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    city_code: Mapped[str] = _city_fk()
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    squad_id: Mapped[int | None] = mapped_column(ForeignKey("squads.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    grids: Mapped[list[Grid]] = relationship(secondary=responsibility_grid_members)


class OutboxMessage(Base):
    """A notification someone must get (dispatched to you, returned, overdue), written with its case event.

    The (event, recipient) pair is unique, so a relay (SMS, WeChat) that delivers at least once and marks
    delivered_at never sends the same message twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("event_id", "recipient"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    city_code: Mapped[str] = _city_fk()
    event_id: Mapped[int] = mapped_column(ForeignKey("case_events.id"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(64))  # "user:12", "department:3", "squad:4"
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
