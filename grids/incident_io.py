"""Bulk import of historical cases (hotline and old-system CSV exports) and export of cases (CSV, GeoJSON).

Import is set-based, so a million rows take minutes rather than a per-row ORM loop:
1. the mapping is checked against data/incident_mapping.schema.json, its time zones and the CSV header,
   and every problem is listed at once;
2. the CSV is read in chunks by a read-ahead thread (memory stays flat, and the next chunk is parsed on one
   core while the database places the last one on the other): times and categories are read in Python
   (the mapping's strptime formats, see _time_parser), coordinates converted to WGS84 in one vectorised
   gis.crs call per chunk (GCJ-02 and BD-09 exist only there) and tested against the city outline; a
   rejected row goes to the report file (the original row + reason + detail). Parsing is about a fifth of
   the import's CPU time; the rest is the statement below;
3. a chunk's good rows are COPYed into a TEMP staging table, and its repeated external ids reported;
4. ONE INSERT ... SELECT per chunk routes every staged row with the rules and tie-breaks of
   grids.incidents.locate (one spatial join for the grid in force; division path, squad, co-manager, 门前三包
   unit, department by grid rule > deepest division rule > city-wide rule > category default, owner) and
   writes the routing both as words (routing_reason) and as steps (routing_steps: REASON_TEXT keys and
   values, which pages word in the reader's language); the same statement appends one "import" CaseEvent
   per new case. Most of its time is the schema's: the indexes and foreign keys of incidents and
   case_events (bench/import.py measures that share). All chunks are one transaction: the caller's, so a
   file that fails half-way (not UTF-8 at line N) stores nothing once the caller rolls back.

Counting invariant, reported in the JSON as `invariant`: rows == imported + rejected, where rows counts the
data rows of the file and imported == located + unlocated. Duplicates (an external id stored already, or
seen earlier in the file: the first occurrence wins) are rejected rows with the reason
`duplicate_external_id`, also counted on their own as `duplicates`, so a second run of the same file
imports nothing and rejects every row; the report lists them with the case or row they repeat.

Choices an operator can rely on:
- the grid is the one in force on the import day, the city's today (what grid_at answers): imported cases are
  routed now, like every other channel. A point in the city but in no grid is imported `unlocated`
  and waits in the triage queue while it is open;
- status is `closed` when the status column holds one of `closed_values` (without a status mapping:
  when a closed time is given), else `reported`, waiting for the centre to file it;
- a time without a UTC offset is read in its mapping's `tz`, else in the `tz` of `created` (one source system
  writes all its times in one zone), else in the city's time zone;
- the optional `deadline` (the source system's 应办结时间) is kept as the case's handling deadline
  (due_times.handle, what evaluation's 按期/超期 read); it starts no clock in gridlink: imported cases are
  history, not escalated by the sweep, and one the centre files and dispatches gets gridlink's own clock.
  Without it an imported case has no deadline;
- a row is rejected for the first of: bad_quote (a record the CSV reader cannot read: a quote left open, which
  swallows the lines after it, or a character after a closing quote), extra_cells or missing_cells (more or fewer
  cells than the header: a quote or a separator out of place), missing_external_id, too_long, bad_date
  (unreadable, missing, closed or deadline before created, after the import started), status_mismatch (a
  closed status without its closed time, or a closed time under a status that is not one of closed_values),
  unknown_category, missing_coordinates, bad_coordinates, swapped_coordinates, outside_city.

CSV written here (the export and the rejects report) is data, never formulas: a text cell starting with
= + - @ or a tab/CR gets a leading ' (OWASP CSV injection), so a spreadsheet shows it as text (in the
spirit of RELIABILITY 10). Numbers are written as numbers. The GeoJSON export carries text verbatim as
JSON strings; whoever shows it must insert it as text.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, DateTime, and_, func, literal_column, null, or_, select, text
from sqlalchemy.orm import Session, aliased

from gis.crs import geometry_to_wgs84
from grids.divisions import city_outline, district_at_sql, known_city, known_crs
from grids.errors import Conflict, Invalid
from grids.incidents import REASON_TEXT, SOURCES, TEXT_LIMITS, UNFIT_CHARACTERS, Actor
from grids.layouts import EDGE_SNAP_DEG, city_date
from grids.models import (
    DIVISION_LEVELS,
    IMPORTED,
    Category,
    Component,
    Department,
    Division,
    DivisionPart,
    FrontageUnit,
    Grid,
    Incident,
    Squad,
    User,
)
from grids.spreadsheet import replaced_on_success, safe_cell, write_xlsx
from grids.workflow import CLOSED_STATES, DISPATCHED, OPEN_STATES, zone_conditions

SCHEMA = json.loads(resources.files("grids").joinpath("data/incident_mapping.schema.json").read_text())
CHUNK_ROWS = 10_000
SORT_MEMORY = "128MB"  # the staging sorts (first occurrence per external id, file order) stay off disk
SOURCE = IMPORTED
REPORT_COLUMNS = ("reject_row", "reject_reason", "reject_detail")
EXPORT_FORMATS = ("csv", "geojson", "xlsx")
INVARIANT = "rows == imported + rejected; duplicates are rejected rows; imported == located + unlocated"
DUPLICATE = "duplicate_external_id"
STAGING = "incident_import"  # one chunk's parsed rows
STORED = "incident_import_stored"  # external id -> the row of this file that stored it
STAGING_COLUMNS = ("row_no", "external_id", "category_id", "category_code", "status", "reported_at", "closed_at",
                   "deadline_at", "lon", "lat", "input_x", "input_y", "address", "description")
TIME_KEYS = ("created", "closed", "deadline")  # the mapping's times (format, time zone)
Progress = Callable[[int, int], None]
T = TypeVar("T")
Row = dict[str, Any]


class Rejected(Exception):
    """One row that cannot be imported: `reason` is counted, `detail` tells the operator what to fix."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


# --- mapping -------------------------------------------------------------------------------------
def validate_mapping(mapping: Any, header: Sequence[str] | None = None) -> None:
    """Invalid listing every problem of a mapping (schema paths, unknown time zones and time formats, and with
    the file's `header` the columns it lacks), so one edit fixes all."""
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(mapping), key=lambda e: list(e.path))
    problems = [f"{'/'.join(str(p) for p in e.path) or '(top)'}: {e.message}" for e in errors]
    if not errors and mapping["lat"] == mapping["lon"]:
        problems.append(f"lat and lon: both name the column {mapping['lat']!r}; each needs its own")
    if not errors and "status" in mapping and "closed" not in mapping:
        problems.append("status: its closed_values mark cases closed, but the mapping has no closed time; map "
                        "`closed` (a closed case without its closing time counts in no closing rate)")
    if header is not None and isinstance(mapping, dict):  # beside schema errors too: one edit fixes all
        shown = ", ".join(map(repr, header)) or "empty: the file has no header row"
        mapped = dict.fromkeys(_mapped_columns({k: v for k, v in mapping.items() if k in SCHEMA["properties"]}))
        problems += [f"column {column!r}: the CSV has no such column (its header: {shown})"
                     for column in mapped if column not in header]
        problems += [f"column {column!r}: the header has it {header.count(column)} times; rename all but one"
                     for column in mapped if header.count(column) > 1]
    times = {key: spec for key, spec in mapping.items() if key in TIME_KEYS and isinstance(spec, dict)} \
        if isinstance(mapping, dict) else {}
    problems += [f"{key}/tz: unknown time zone {spec['tz']!r}; use an IANA name such as Asia/Shanghai"
                 for key, spec in times.items() if not _known_zone(spec.get("tz"))]
    problems += [f"{key}/format: {spec['format']!r} is not a strptime format: write it with %Y, %m, %d, %H, %M, %S "
                 "... (2025/01/05 08:03 is %Y/%m/%d %H:%M)" for key, spec in times.items()
                 if not _known_format(spec.get("format"))]
    if problems:
        raise Invalid("the mapping does not match the format: " + "; ".join(problems[:20]), code="bad_mapping",
                      details=problems)


def _known_zone(name: Any) -> bool:
    if not isinstance(name, str):
        return True  # absent (the city's zone) or already a schema error
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _known_format(fmt: Any) -> bool:
    """Whether strptime knows every directive of the format: a bad one fails on any text, the empty one too,
    where a good one only says the text does not match."""
    if not isinstance(fmt, str):
        return True  # absent or already a schema error
    if "%" not in fmt:  # yyyy/MM/dd HH:mm (Java, Excel): no directive, so no time would ever match
        return False
    try:
        datetime.strptime("", fmt)
    except ValueError as exc:
        return "bad directive" not in str(exc) and "stray %" not in str(exc)
    return True


def _mapped_columns(mapping: dict[str, Any]) -> list[str]:
    """The column names the mapping reads (skipping what the schema check already refused)."""
    names = [spec.get("column") if isinstance(spec, dict) else spec for spec in mapping.values()]
    return [name for name in names if isinstance(name, str)]


# --- parsing one row -----------------------------------------------------------------------------
Cells = list[str]
_TIME_FIELDS = {"%Y": r"(\d{4})", "%m": r"(\d{1,2})", "%d": r"(\d{1,2})", "%H": r"(\d{1,2})", "%M": r"(\d{1,2})",
                "%S": r"(\d{1,2})"}  # in the order of datetime()'s arguments


def _time_parser(fmt: str, zone: ZoneInfo) -> Callable[[str], datetime]:
    """strptime(value, fmt), read in `zone` when the value has no offset.

    Why a regex first: strptime costs ~10 µs, a third of the Python side of a million-row import. A format
    of only %Y %m %d %H %M %S (each once) and literal text is matched by one compiled regex and datetime()
    checks the ranges; whatever that refuses goes to strptime, which stays the judge (same result, same errors).
    """
    parts = re.split(r"(%.)", fmt)
    directives = parts[1::2]
    fast = None
    if all(d in _TIME_FIELDS for d in directives) and len(set(directives)) == len(directives):
        fast = re.compile("".join(_TIME_FIELDS[p] if i % 2 else re.escape(p) for i, p in enumerate(parts)))
        slots = [list(_TIME_FIELDS).index(d) for d in directives]

    def parse(value: str) -> datetime:
        match = fast.fullmatch(value) if fast else None
        if match:
            fields = [1900, 1, 1, 0, 0, 0]
            for slot, number in zip(slots, match.groups(), strict=True):
                fields[slot] = int(number)
            with suppress(ValueError):
                return datetime(*fields, tzinfo=zone)
        moment = datetime.strptime(value, fmt)
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)

    return parse


@dataclass
class _Context:
    """What every row of one import is checked against, loaded once."""

    mapping: dict[str, Any]
    crs: str
    categories: dict[str, tuple[int, str]]
    outline: BaseGeometry
    city_name: str
    column: dict[str, int]  # mapped field -> its position in the header
    width: int  # cells in the header
    now: datetime  # when the import started: a history cannot have happened after it
    times: dict[str, Callable[[str], datetime]]


def _key(value: str) -> str:
    return value.strip().casefold()


def _categories(session: Session, city_code: str) -> dict[str, tuple[int, str]]:
    """(id, code) of the minor classes by code, Chinese name and English name (what hotline exports carry), in
    any letter case; a code as written comes first (e01 and E01 in one catalog both match "e01")."""
    rows = session.execute(select(Category.id, Category.code, Category.name, Category.name_en)
                           .where(Category.city_code == city_code, Category.parent_id.is_not(None))
                           .order_by(Category.code.desc())).all()
    folded = {_key(label): (row.id, row.code) for row in rows for label in (row.code, row.name, row.name_en) if label}
    return {**folded, **{row.code: (row.id, row.code) for row in rows}}


Values = dict[str, str]


def _values(row: Cells, ctx: _Context) -> Values:
    """The mapped fields of a row of the header's width, stripped; one pass per row, as this runs a million
    times in an import."""
    return {name: row[index].strip() for name, index in ctx.column.items()}


def _time(values: Values, ctx: _Context, name: str) -> datetime | None:
    value = values.get(name)
    if not value:
        return None
    try:
        return ctx.times[name](value)
    except ValueError as exc:
        raise Rejected("bad_date", f"{name} time {value!r} does not match {ctx.mapping[name]['format']!r}") from exc


def _status(values: Values, ctx: _Context, closed: datetime | None) -> str:
    spec = ctx.mapping.get("status")
    if spec is None:
        return "closed" if closed else "reported"
    return "closed" if values["status"] in spec["closed_values"] else "reported"


def _fields(values: Values, ctx: _Context) -> tuple[Any, ...]:
    """(external_id, category_id, category_code, status, reported_at, closed_at, deadline_at, address,
    description) of a row, or Rejected with the first reason of the documented order; places are checked per
    chunk."""
    external_id, address = values["external_id"], values.get("address", "")
    if not external_id:
        raise Rejected("missing_external_id", f"the {ctx.mapping['external_id']} column is empty")
    too_long = [f"{name} over {TEXT_LIMITS[name]}" for name, value in
                (("external_id", external_id), ("address", address), ("description", values.get("description", "")))
                if len(value) > TEXT_LIMITS[name]]
    if too_long:
        raise Rejected("too_long", f"{', '.join(too_long)} characters")
    created = _time(values, ctx, "created")
    if created is None:
        raise Rejected("bad_date", f"the created time ({ctx.mapping['created']['column']}) is empty")
    closed = _time(values, ctx, "closed") if "closed" in ctx.times else None
    latest = max(created, closed or created)
    if latest > ctx.now:
        raise Rejected("bad_date", f"{latest.isoformat()} is in the future; check the format and the time zone "
                                   "of the mapping")
    if closed is not None and closed < created:
        raise Rejected("bad_date", f"closed {closed.isoformat()} is before created {created.isoformat()}")
    deadline = _time(values, ctx, "deadline") if "deadline" in ctx.times else None
    if deadline is not None and deadline < created:
        raise Rejected("bad_date", f"deadline {deadline.isoformat()} is before created {created.isoformat()}")
    category = ctx.categories.get(values["category"]) or ctx.categories.get(_key(values["category"]))
    if category is None:
        raise Rejected("unknown_category", f"no minor class has the code or name {values['category']!r}")
    status = _status(values, ctx, closed)
    if status == "closed" and closed is None and "closed" in ctx.times:
        raise Rejected("status_mismatch", f"the status says closed but the closed time "
                                          f"({ctx.mapping['closed']['column']}) is empty")
    if status != "closed" and closed is not None:
        raise Rejected("status_mismatch", f"closed at {closed.isoformat()} but the status {values['status']!r} is "
                                          f"not one of closed_values {ctx.mapping['status']['closed_values']}: add "
                                          "it to the mapping's closed_values, or clear the closed time")
    return (external_id, *category, status, created.isoformat(),
            closed.isoformat() if closed else None,
            deadline.isoformat() if deadline else None, address or None, values.get("description") or None)


# --- places of a chunk, vectorised ---------------------------------------------------------------
def _number(value: str) -> float:
    """A coordinate cell's number; NaN for text that is none ("1_19.7": Python reads 119.7, no one means it)."""
    if "_" in value:
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


def _to_city(xs: np.ndarray, ys: np.ndarray, ctx: _Context) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 coordinates of in-range points (one gis.crs pass) and whether the city outline covers them."""
    usable = np.isfinite(xs) & np.isfinite(ys) & (np.abs(xs) <= 180) & (np.abs(ys) <= 90)
    coords = np.column_stack([np.where(usable, xs, 0.0), np.where(usable, ys, 0.0)])
    wgs = shapely.get_coordinates(geometry_to_wgs84(shapely.multipoints(coords), ctx.crs)) if len(coords) else coords
    inside = usable & shapely.covers(ctx.outline, shapely.points(wgs))
    return wgs, inside


def _place_reasons(raw: list[tuple[str, str]], ctx: _Context) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                       list[tuple[str, str] | None]]:
    """Per row: its numbers, its WGS84 point, and None or (reason, detail) saying why it is not a city place."""
    xs = np.array([_number(x) for x, _ in raw], dtype=float)
    ys = np.array([_number(y) for _, y in raw], dtype=float)
    wgs, inside = _to_city(xs, ys, ctx)
    swapped = np.zeros_like(inside)
    swapped[~inside] = _to_city(ys[~inside], xs[~inside], ctx)[1]
    finite = np.isfinite(xs) & np.isfinite(ys)
    reasons: list[tuple[str, str] | None] = []
    for i, (x, y) in enumerate(raw):
        if inside[i]:
            reasons.append(None)
        elif not x or not y:
            reasons.append(("missing_coordinates", "longitude or latitude is empty"))
        elif xs[i] == 0 and ys[i] == 0:  # what many systems write for "no position"
            reasons.append(("missing_coordinates", f"({x}, {y}) is the placeholder for no position"))
        elif swapped[i]:
            reasons.append(("swapped_coordinates", f"longitude and latitude look swapped: ({x}, {y}) is outside "
                                                   f"{ctx.city_name} but ({y}, {x}) is inside"))
        elif not finite[i] or abs(xs[i]) > 180 or abs(ys[i]) > 90:
            reasons.append(("bad_coordinates", f"({x}, {y}) is not a longitude/latitude in degrees"))
        else:
            reasons.append(("outside_city", f"({x}, {y}) in {ctx.crs} is outside {ctx.city_name}"))
    return xs, ys, wgs, reasons


@dataclass
class _Chunk:
    """One parsed chunk: its good rows as COPY csv (STAGING_COLUMNS order), its rejects (row, reason,
    detail), how many data rows it held and where in the file (bytes) its last row ends."""

    rows: int
    staged: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[tuple[int, Record, str, str]] = field(default_factory=list)
    position: int = 0

    def copy_text(self) -> str:
        """QUOTE_ALL + FORCE_NULL (see _COPY) keeps any text intact and '' as NULL."""
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_ALL).writerows(self.staged)
        return buffer.getvalue()


def _cell_count(cells: int, width: int) -> tuple[str, str]:
    """The reason and detail of a row whose cells do not line up with the header."""
    if cells > width:
        return "extra_cells", f"{cells} cells under a header of {width}: a quote left open or a separator inside " \
                              "a cell splits it"
    return "missing_cells", f"{cells} cells under a header of {width}: a quote left open joins it to the lines " \
                            "after it, or cells are missing; every row needs all the header's cells"


def _parse_chunk(rows: list[tuple[int, Record]], ctx: _Context) -> _Chunk:
    """Split a chunk into staging tuples (STAGING_COLUMNS order) and rejects (row, reason, detail)."""
    chunk, parsed = _Chunk(rows=len(rows)), []
    for row_no, row in rows:
        try:
            if isinstance(row, Unreadable):
                raise Rejected("bad_quote", row.detail)
            if len(row) != ctx.width:
                raise Rejected(*_cell_count(len(row), ctx.width))
            values = _values(row, ctx)
            parsed.append((row_no, row, values, _fields(values, ctx)))
        except Rejected as exc:
            chunk.rejected.append((row_no, row, exc.reason, exc.detail))
    xs, ys, wgs, reasons = _place_reasons([(values["lon"], values["lat"]) for _, _, values, _ in parsed], ctx)
    for i, (row_no, row, _, fields_of_row) in enumerate(parsed):
        if reasons[i] is not None:
            chunk.rejected.append((row_no, row, *reasons[i]))
            continue
        *fields, address, description = fields_of_row
        chunk.staged.append((row_no, *fields, float(wgs[i, 0]), float(wgs[i, 1]), float(xs[i]), float(ys[i]),
                             address, description))
    return chunk


def _parsed_chunks(reader: Iterator[Record], raw: IO[bytes], ctx: _Context) -> Iterator[tuple[_Chunk, str]]:
    """Each chunk of the file parsed, with its COPY text (both made here, in the read-ahead thread)."""
    for rows in _chunks(reader, CHUNK_ROWS):
        chunk = _parse_chunk(rows, ctx)
        chunk.position = raw.tell()
        yield chunk, chunk.copy_text()


def _read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced by a thread up to `depth` ahead of the consumer, its exception raised here.

    Why: an import is Python parsing (one core) then the database placing the chunk (the other core);
    psycopg2 lets go of the interpreter lock while it waits, so the next chunk is parsed meanwhile. A
    consumer that stops early (an error) stops the thread too.
    """
    slots: queue.Queue[tuple[bool, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            with suppress(queue.Full):
                slots.put(item, timeout=0.1)
                return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((False, exc))

    worker = threading.Thread(target=produce, name="import-read-ahead", daemon=True)
    worker.start()
    try:
        while (slot := slots.get())[0]:
            yield slot[1]
        if slot[1] is not None:
            raise slot[1]
    finally:
        stop.set()
        worker.join()


# --- staging and the one set-based insert --------------------------------------------------------
_CREATE_STAGING = text(f"""
DROP TABLE IF EXISTS {STAGING};
DROP TABLE IF EXISTS {STORED};
CREATE TEMP TABLE {STORED} (external_id text PRIMARY KEY, row_no integer) ON COMMIT DROP;
CREATE TEMP TABLE {STAGING} (row_no integer, external_id text, category_id integer, category_code text,
    status text, reported_at timestamptz, closed_at timestamptz, deadline_at timestamptz, lon float8, lat float8,
    input_x float8, input_y float8, address text, description text) ON COMMIT DROP""")
_COPY = (f"COPY {STAGING} ({', '.join(STAGING_COLUMNS)}) FROM STDIN "
         f"WITH (FORMAT csv, FORCE_NULL ({', '.join(STAGING_COLUMNS)}))")


PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _step(key: str, **params: str) -> tuple[str, str]:
    """One routing step in SQL, from SQL expressions for its values: its [key, values] JSON (as
    Incident.routing_steps) and its words, formatted from REASON_TEXT like Location.routing_reason."""
    template = REASON_TEXT[key]
    names = PLACEHOLDER.findall(template)
    pattern = _sql_text(PLACEHOLDER.sub("%s", template.replace("%", "%%")))
    words = f"format({pattern}, {', '.join(params[name] for name in names)})" if names else _sql_text(template)
    values = ", ".join(f"{_sql_text(name)}, {expression}" for name, expression in params.items())
    return f"jsonb_build_array({_sql_text(key)}, jsonb_build_object({values}))", words


def _slot(*branches: tuple[str, tuple[str, str]]) -> tuple[str, str]:
    """The first step whose condition holds, or none (NULL): (JSON, words) as two CASE expressions."""
    return tuple("CASE " + " ".join(f"WHEN {condition} THEN {step[part]}" for condition, step in branches) + " END"
                 for part in (0, 1))  # type: ignore[return-value]


# The steps of grids.incidents.locate, in its order and with its keys and values.
_STEPS = [
    _slot(("township_id IS NOT NULL", _step("township", name="township_name")),
          ("true", _step("no_township"))),
    _slot(("grid_id IS NOT NULL", _step("grid", code="grid_code")), ("true", _step("no_grid"))),
    _slot(("grid_squad_id IS NOT NULL", _step("squad_of_grid", name="grid_squad_name")),
          ("township_squad_id IS NOT NULL", _step("squad_of_township", name="township_squad_name"))),
    _slot(("frontage_unit_id IS NOT NULL", _step("frontage", name="frontage_name"))),
    _slot(("rule_grid IS NOT NULL", _step("grid_rule", name="rule_department", category="category_code",
                                          grid="rule_grid")),
          ("rule_scope IS NOT NULL", _step("scoped_rule", name="rule_department", scope="rule_scope",
                                           category="category_code")),
          ("rule_department_id IS NOT NULL", _step("city_rule", name="rule_department", category="category_code")),
          ("default_department_id IS NOT NULL", _step("category_default", name="default_department",
                                                    category="category_code")),
          ("true", _step("no_department", category="category_code"))),
    _slot(("true", _step("owner", owner="owner_type"))),
]
_ROUTING_STEPS = f"to_jsonb(array_remove(ARRAY[{', '.join(json for json, _ in _STEPS)}], NULL))"
_ROUTING_REASON = f"array_to_string(ARRAY[{', '.join(words for _, words in _STEPS)}], '; ')"

# The division path (city first, one per level: the first by `rank`, then the lowest id) of the divisions that
# pass `covers`, and its township.
_PATH = """
    SELECT array_agg(x.id ORDER BY array_position(CAST(:levels AS text[]), x.level)) AS path_ids,
           max(x.id) FILTER (WHERE x.level = 'township') AS township_id,
           max(x.name) FILTER (WHERE x.level = 'township') AS township_name
    FROM (SELECT DISTINCT ON (d.level) d.id, d.level, d.name FROM {parts} JOIN divisions d ON d.id = {part_id}
          WHERE d.city_code = :city AND {covers} ORDER BY d.level, {rank}d.id) x"""

# The grid in force on :day (the lowest code) of those at the point f.pt that pass `found`.
_GRID_AT = """SELECT g.id, g.code, g.division_id, g.squad_id, g.co_manager_id
        FROM grids g JOIN grid_layouts l ON l.id = g.layout_id
        WHERE g.city_code = :city AND l.status IN ('published', 'retired') AND l.effective_from <= :day
          AND (l.effective_to IS NULL OR l.effective_to > :day) AND {found}
        ORDER BY g.code LIMIT 1"""

# grids.incidents.locate as one statement (tests compare the two case by case):
# - fresh: the first row of each external id that is not stored yet (a rerun skips the spatial work), found
#   like _DUPLICATES by a LATERAL ... LIMIT 1 probe of the unique index per staged row: NOT EXISTS becomes an
#   anti join that hashes all the city's cases every chunk, a cost growing with the cases stored so far;
# - gridded: the ONE spatial join, the grid in force (grid_at: lowest code on a shared edge);
# - sure: the grids' divisions whose every point has the same division path (each division of the city
#   covers them or stays out of them): a case inside such a grid takes that path, so only cases in no
#   grid or in a grid of a split division are looked up in the divisions at the point, a shared edge going to
#   the division of the point's grid (as grids.incidents._PATH_IDS);
# - placed: squad, frontage unit (门前三包), department by rule (grid > deepest division > city-wide, as
#   grids.incidents._department_for) or the category's default, owner, then the steps in words.
_PLACE_AND_INSERT = text(f"""
WITH fresh AS MATERIALIZED (
    SELECT DISTINCT ON (s.external_id) s.*, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) AS pt
    FROM {STAGING} s
    LEFT JOIN LATERAL (SELECT true AS stored FROM incidents i
                       WHERE i.city_code = :city AND i.external_id = s.external_id LIMIT 1) i ON true
    WHERE i.stored IS NULL
    ORDER BY s.external_id, s.row_no
), gridded AS MATERIALIZED (
    SELECT f.*, g.id AS grid_id, g.code AS grid_code, g.division_id AS grid_division_id,
           g.squad_id AS grid_squad_id, g.co_manager_id
    -- as grids.layouts.grid_in_force: covering, else within EDGE_SNAP_DEG. PostgreSQL runs a (non-parallel)
    -- UNION ALL's branches in order and LIMIT 1 stops at the first row: the second runs only for a point no
    -- grid covers (a lateral subquery is never run in parallel).
    FROM fresh f LEFT JOIN LATERAL (
        ({_GRID_AT.format(found="ST_Covers(g.geom, f.pt)")}) UNION ALL
        ({_GRID_AT.format(found=f"ST_DWithin(g.geom, f.pt, {EDGE_SNAP_DEG})")}) LIMIT 1) g ON true
), sure AS (
    SELECT dd.id AS division_id, p.path_ids, p.township_id, p.township_name FROM divisions dd
    CROSS JOIN LATERAL ({_PATH.format(parts="divisions dp", part_id="dp.id", covers="ST_Covers(dp.geom, dd.geom)",
                                      rank="")}) p
    WHERE dd.id IN (SELECT DISTINCT grid_division_id FROM gridded)
      AND NOT EXISTS (SELECT 1 FROM divisions o WHERE o.city_code = :city AND o.geom && dd.geom
                      AND NOT ST_Covers(o.geom, dd.geom) AND ST_Relate(o.geom, dd.geom, 'T********'))
), pathed AS (
    SELECT r.*, sure.path_ids, sure.township_id, sure.township_name
    FROM gridded r JOIN sure ON sure.division_id = r.grid_division_id
    UNION ALL
    SELECT r.*, p.* FROM gridded r LEFT JOIN LATERAL (SELECT ST_PointOnSurface(geom) AS pt FROM grids
                                                      WHERE id = r.grid_id) g ON true
    CROSS JOIN LATERAL ({_PATH.format(parts="division_parts dp", part_id="dp.division_id",
                                      covers="(ST_Covers(dp.geom, r.pt) OR ST_Covers(dp.geom, g.pt))",
                                      rank="NOT ST_Covers(dp.geom, r.pt), "
                                           "NOT coalesce(ST_Covers(dp.geom, g.pt), false), ")}) p
    WHERE NOT EXISTS (SELECT 1 FROM sure WHERE sure.division_id = r.grid_division_id)
), township_squads AS (
    SELECT DISTINCT ON (township_id) township_id, id, name FROM squads ORDER BY township_id, id
), defaults AS (
    SELECT DISTINCT ON (cd.category_id) cd.category_id, dep.id, dep.name
    FROM category_departments cd JOIN departments dep ON dep.id = cd.department_id
    ORDER BY cd.category_id, dep.code
), placed AS (
    SELECT p.*, gs.name AS grid_squad_name, ts.id AS township_squad_id,
           ts.name AS township_squad_name,
           coalesce(gs.id, ts.id) AS squad_id, f.id AS frontage_unit_id, f.name AS frontage_name,
           r.id AS rule_department_id, r.name AS rule_department, r.grid_code AS rule_grid, dv.name AS rule_scope,
           dd.id AS default_department_id, dd.name AS default_department, coalesce(r.id, dd.id) AS department_id,
           CASE WHEN coalesce(r.id, dd.id) IS NOT NULL THEN 'department'
                WHEN coalesce(gs.id, ts.id) IS NOT NULL THEN 'squad'
                WHEN p.township_id IS NOT NULL THEN 'township' ELSE 'centre' END AS owner_type
    FROM pathed p
    LEFT JOIN squads gs ON gs.id = p.grid_squad_id
    LEFT JOIN township_squads ts ON ts.township_id = p.township_id AND gs.id IS NULL
    LEFT JOIN LATERAL (SELECT fu.id, fu.name FROM frontage_units fu
                       WHERE fu.city_code = :city AND fu.status = 'active' AND ST_Covers(fu.area, p.pt)
                       ORDER BY fu.id LIMIT 1) f ON true
    LEFT JOIN LATERAL (
        SELECT dep.id, dep.name, rr.grid_code, rr.division_id
        FROM routing_rules rr JOIN departments dep ON dep.id = rr.department_id
        WHERE rr.category_id = p.category_id
          AND (rr.grid_code = p.grid_code OR rr.division_id = ANY(p.path_ids)
               OR (rr.grid_code IS NULL AND rr.division_id IS NULL))
        ORDER BY rr.grid_code IS NULL, array_position(p.path_ids, rr.division_id) DESC NULLS LAST
        LIMIT 1) r ON true
    LEFT JOIN divisions dv ON dv.id = r.division_id
    LEFT JOIN defaults dd ON dd.category_id = p.category_id
), inserted AS (
    INSERT INTO incidents (city_code, external_id, source, category_id, status, description, address, location,
        input_crs, input_x, input_y, grid_id, township_id, squad_id, co_manager_id, department_id,
        frontage_unit_id, routing_reason, routing_steps, owner_type, needs_triage, extensions, reported_at,
        closed_at, due_times, version)
    SELECT :city, external_id, :source, category_id, status, coalesce(description, ''), address, pt,
        :crs, input_x, input_y, grid_id, township_id, squad_id, co_manager_id, department_id, frontage_unit_id,
        {_ROUTING_REASON}, {_ROUTING_STEPS}, owner_type, grid_id IS NULL AND status <> 'closed', 0, reported_at,
        closed_at, CASE WHEN deadline_at IS NOT NULL THEN jsonb_build_object('handle', jsonb_build_object(
            'due', deadline_at, 'limit', NULL, 'source', :source)) END, 1
    FROM placed
    ON CONFLICT (city_code, external_id) DO NOTHING
    RETURNING id, external_id, status, grid_id, routing_reason
), numbered AS (
    SELECT i.*, f.row_no FROM inserted i JOIN fresh f ON f.external_id = i.external_id
), events AS (
    INSERT INTO case_events (city_code, incident_id, seq, action, to_status, data)
    SELECT :city, id, 1, :source, status,
           jsonb_build_object('source', :source, 'file', :file, 'row', row_no, 'routing_reason', routing_reason)
    FROM numbered
), stored AS (
    INSERT INTO {STORED} (external_id, row_no) SELECT external_id, row_no FROM numbered
)
SELECT count(*) AS imported, count(grid_id) AS located FROM inserted""")


def _stage(session: Session, copy_text: str) -> None:
    """A chunk's good rows, alone, in the staging table."""
    with session.connection().connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {STAGING}")
        cursor.copy_expert(_COPY, io.StringIO(copy_text))


# A chunk's rows that are not imported: their external id was stored before this import (that wins), or by an
# earlier row of this file (in an earlier chunk: STORED; in this chunk: the first occurrence). The LATERAL ...
# LIMIT 1 probes the indexes row by row: a join would hash all of STORED and of the city's cases every chunk.
_DUPLICATES = text(f"""
SELECT s.row_no, s.external_id, i.id AS case_id, coalesce(st.row_no, s.first_row) AS first_row
FROM (SELECT row_no, external_id, min(row_no) OVER (PARTITION BY external_id) AS first_row FROM {STAGING}) s
LEFT JOIN LATERAL (SELECT row_no FROM {STORED} WHERE external_id = s.external_id LIMIT 1) st ON true
LEFT JOIN LATERAL (SELECT id FROM incidents WHERE city_code = :city AND external_id = s.external_id LIMIT 1) i
       ON st.row_no IS NULL
WHERE i.id IS NOT NULL OR st.row_no IS NOT NULL OR s.row_no > s.first_row
ORDER BY s.row_no""")


def _duplicates(session: Session, city_code: str, external_id_column: int,
                width: int) -> Iterator[tuple[Cells, str, str]]:
    """The staged chunk's rows whose external id is stored already or came earlier in the file, as report
    lines (the staging keeps parsed values, not the original cells: the line shows the external id)."""
    for row in session.execute(_DUPLICATES, {"city": city_code}):
        cells = [""] * width
        cells[external_id_column] = row.external_id
        detail = (f"row {row.row_no}: case #{row.case_id} has this external id already" if row.case_id
                  else f"row {row.row_no} repeats row {row.first_row} of this file")
        yield row.row_no, cells, DUPLICATE, detail


def _place_and_insert(session: Session, params: dict[str, Any]) -> tuple[int, int]:
    """(imported, located) of the placing INSERT of the staged chunk."""
    result = session.execute(_PLACE_AND_INSERT, params).one()
    return result.imported, result.located


# --- the use case --------------------------------------------------------------------------------
def _city_zone(session: Session, city_code: str) -> ZoneInfo:
    """The city's time zone, in which its days and its files' times are read; Invalid for an unknown city."""
    return ZoneInfo(known_city(session, city_code).timezone)


def _context(session: Session, city_code: str, mapping: dict[str, Any], crs: str, header: Cells) -> _Context:
    crs_name = known_crs(crs)
    city = city_outline(session, city_code)
    zone = _city_zone(session, city_code)
    outline = to_shape(city.geom)
    shapely.prepare(outline)
    created_tz = mapping["created"].get("tz")  # one source system writes all its times in one zone
    times = {name: _time_parser(spec["format"], ZoneInfo(tz) if (tz := spec.get("tz") or created_tz) else zone)
             for name, spec in mapping.items() if name in TIME_KEYS}
    columns = {name: header.index(spec["column"] if isinstance(spec, dict) else spec)
               for name, spec in mapping.items()}
    return _Context(mapping=mapping, crs=crs_name, categories=_categories(session, city_code), outline=outline,
                    city_name=city.name, column=columns, width=len(header), now=datetime.now(UTC), times=times)


@dataclass(frozen=True)
class Unreadable:
    """A record the CSV reader could not read (strict quoting): where it is and why, in place of its cells."""

    detail: str


Record = Cells | Unreadable


def _csv_rows(raw: IO[bytes]) -> Iterator[Record]:
    """The records of the file (NUL and other unfit characters dropped: no text may hold them), or Invalid
    naming where it is not UTF-8.

    Quoting is strict: a quote left open would otherwise swallow the rest of the file into one cell, and a
    character after a closing quote would be glued on without a word. Such a record is yielded as Unreadable
    and the reader goes on at the next line."""
    handle = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    reader = csv.reader((UNFIT_CHARACTERS.sub("", line) for line in handle), strict=True)
    try:
        while True:
            first = reader.line_num + 1
            try:
                yield next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Unreadable(_unreadable(exc, first, reader.line_num))
    except UnicodeDecodeError as exc:
        raise _not_utf8(raw, exc) from exc
    finally:
        handle.detach()  # the caller closes the file


def _unreadable(exc: csv.Error, first: int, last: int) -> str:
    """Why a record cannot be read, with the lines it took: a quote left open swallows the lines after it, to
    the end of the file or until its cell passes the reader's limit (csv.field_size_limit, 131,072 characters)."""
    if str(exc) == "unexpected end of data":
        return f"the quote opened in line {first} is never closed: lines {first}-{last} (the end of the file) " \
               "read as one cell; close the quote and import again"
    if str(exc).startswith("field larger than field limit"):
        return f"a cell from line {first} runs past {csv.field_size_limit():,} characters: a quote opened there is " \
               f"probably never closed, and lines {first}-{last} read as one cell; close the quote and import again"
    span = f"lines {first}-{last}" if last > first else f"line {first}"
    return f"{span}: {exc} (a quote inside a quoted cell is written twice: \"\")"


def _not_utf8(raw: IO[bytes], exc: UnicodeDecodeError) -> Invalid:
    """The line and byte of the file where UTF-8 breaks: the decoder knows only its place in the block it was given
    (the block just read, after the bytes it kept from the one before)."""
    offset = raw.tell() - len(exc.object) + exc.start
    raw.seek(0)
    line = 1 + sum(raw.read(min(1 << 20, offset - done)).count(b"\n") for done in range(0, offset, 1 << 20))
    return Invalid(f"{Path(raw.name).name} is not UTF-8 text: line {line} (byte {offset}) has {exc.reason}; save "
                   "it as UTF-8 (Excel: CSV UTF-8) and import again", code="bad_encoding",
                   details={"line": line, "byte": offset})


def _chunks(reader: Iterator[Record], size: int) -> Iterator[list[tuple[int, Record]]]:
    """Data rows (blank lines skipped, as csv.DictReader does) numbered as a spreadsheet shows them (the header is
    row 1, like the components import's report), in lists of `size`."""
    numbered = enumerate((row for row in reader if row), start=2)
    while chunk := list(islice(numbered, size)):
        yield chunk


def _write_rejects(writer: Any, width: int, rejects: Iterable[tuple[int, Record, str, str]]) -> None:
    """In the file's order: the original cells under the file's header (short rows padded, extra cells dropped;
    none for an unreadable record), the row as a spreadsheet numbers it (the header is 1), reason, detail. An
    operator finds and fixes each row by its number (a chunk's duplicates came after its other rejects)."""
    for row_no, row, reason, detail in sorted(rejects, key=lambda reject: reject[0]):
        cells = [] if isinstance(row, Unreadable) else row[:width]
        cells += [""] * (width - len(cells))
        writer.writerow([*(safe_cell(cell) for cell in cells), row_no, reason, detail])


#: The advisory lock (with the city's code) an import holds until its transaction ends.
IMPORT_LOCK = "gridlink.import."


def _refuse_a_second_import(session: Session, city_code: str) -> None:
    """Conflict when another import into the city is running. Run at once, the second one's rows waited on the
    first's case numbers and were skipped uncounted (rows != imported + rejected); waiting silently for a
    million-row import is no better than saying so."""
    if not session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"), {"key": IMPORT_LOCK + city_code}):
        raise Conflict(f"another import into city {city_code} is running: run this one when it has finished",
                       code="import_running")


def import_cases(session: Session, city_code: str, csv_path: str | Path, mapping: dict[str, Any],
                 crs: str = "wgs84", report_path: str | Path | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Import historical cases from a CSV export (see the module docstring); flushes, never commits.

    `crs` names the coordinates of the file (wgs84 GPS, gcj02 Amap/Tencent, bd09 Baidu, cgcs2000).
    The rejects go to `report_path` (default FILE.rejects.csv next to the CSV), written even when empty
    so a rerun never leaves an old report behind. `progress(bytes_read, total_bytes)` after each chunk is stored.
    Memory stays flat: the file is read and staged CHUNK_ROWS rows at a time.
    """
    csv_path = Path(csv_path)
    report = Path(report_path) if report_path else csv_path.with_suffix(".rejects.csv")
    if report.resolve() == csv_path.resolve():
        raise Invalid(f"the rejects report {report} would overwrite the file being imported; name another "
                      "report file", code="bad_report_path")
    session.flush()
    _refuse_a_second_import(session, city_code)
    session.execute(_CREATE_STAGING)
    session.execute(text(f"SET LOCAL jit = off; SET LOCAL work_mem = '{SORT_MEMORY}'"))  # JIT: 40% of the run
    rows, imported, located, reasons = 0, 0, 0, Counter()
    with csv_path.open("rb") as raw, closing(_csv_rows(raw)) as reader, replaced_on_success(report) as out:
        header = next(reader, [])
        if isinstance(header, Unreadable):
            raise Invalid(f"the header row cannot be read: {header.detail}", code="bad_mapping")
        header = [name.strip() for name in header]  # "工单编号 " or a full-width space an editor left
        if not any(header):
            raise Invalid(f"{csv_path.name} is empty: it has no header row naming its columns", code="bad_mapping")
        validate_mapping(mapping, header)  # every problem of the mapping at once, missing columns included
        ctx = _context(session, city_code, mapping, crs, header)
        params = {"city": city_code, "day": city_date(session, city_code), "crs": ctx.crs, "source": SOURCE,
                  "file": csv_path.name, "levels": list(DIVISION_LEVELS)}
        writer = csv.writer(out)
        writer.writerow([*header, *REPORT_COLUMNS])
        total = os.fstat(raw.fileno()).st_size
        with closing(_read_ahead(_parsed_chunks(reader, raw, ctx))) as chunks:
            for chunk, copy_text in chunks:
                _stage(session, copy_text)
                rejected = [*chunk.rejected, *_duplicates(session, city_code, ctx.column["external_id"], len(header))]
                _write_rejects(writer, len(header), rejected)
                stored, placed = _place_and_insert(session, params)
                rows, imported, located = rows + chunk.rows, imported + stored, located + placed
                reasons.update(reason for _, _, reason, _ in rejected)
                if progress:
                    progress(chunk.position, total)
    rejected = sum(reasons.values())
    return {"file": str(csv_path), "crs": ctx.crs, "rows": rows, "imported": imported, "rejected": rejected,
            "duplicates": reasons[DUPLICATE], "located": located, "unlocated": imported - located,
            "reasons": dict(sorted(reasons.items())), "report": str(report), "invariant": INVARIANT}

# --- export --------------------------------------------------------------------------------------
EXPORT_COLUMNS = ("id", "external_id", "category_code", "category_name", "status", "source", "reported_at",
                  "deadline_at", "handle_due_at", "closed_at", "grid_code", "community_code", "township_code",
                  "district_code", "city_code", "squad_code", "squad_name", "co_manager", "co_manager_name",
                  "department_code", "department_name", "frontage_unit", "component_code", "owner_type", "needs_triage",
                  "routing_reason", "address", "description", "lon", "lat")
#: The columns in the trade's words, for the workbook people open (the CSV and GeoJSON keep the codes alone), in
#: the reader's language: words, not a catalog, because the CLI has no reader's locale and they are the data's.
EXPORT_HEADINGS = {"zh": {
    "id": "案件编号", "external_id": "外部编号", "category_code": "类别编码", "category_name": "问题类别",
    "status": "状态", "source": "来源", "reported_at": "上报时间", "deadline_at": "当前环节时限",
    "handle_due_at": "处置时限", "closed_at": "结案时间", "grid_code": "单元网格", "community_code": "社区编码",
    "township_code": "乡镇编码", "district_code": "区县编码", "city_code": "城市编码", "squad_code": "中队编码",
    "squad_name": "责任中队",
    "co_manager": "协管员账号", "co_manager_name": "协管员", "department_code": "部门编码",
    "department_name": "承办单位", "frontage_unit": "门前三包单位", "component_code": "部件编码",
    "owner_type": "责任主体", "needs_triage": "待分拣", "routing_reason": "派遣依据", "address": "地址",
    "description": "问题描述", "lon": "经度", "lat": "纬度"}, "en": {
    "id": "Case no.", "external_id": "External no.", "category_code": "Category code", "category_name": "Category",
    "status": "Status", "source": "Channel", "reported_at": "Reported", "deadline_at": "Current stage due",
    "handle_due_at": "Handling due", "closed_at": "Closed", "grid_code": "Unit grid",
    "community_code": "Community code", "township_code": "Township code",
    "district_code": "District code", "city_code": "City code",
    "squad_code": "Squad code", "squad_name": "Squad", "co_manager": "Co-manager login",
    "co_manager_name": "Co-manager", "department_code": "Department code", "department_name": "Department",
    "frontage_unit": "Frontage unit (门前三包)", "component_code": "Component code",
    "owner_type": "Accountable party", "needs_triage": "Triage", "routing_reason": "Routing reason",
    "address": "Address", "description": "Description", "lon": "Longitude", "lat": "Latitude"}}
TIME_COLUMNS = ("reported_at", "deadline_at", "handle_due_at", "closed_at")
#: The handling deadline (处置时限, an imported case's source deadline): what evaluation judges 按期 by; it
#: outlives the running stage's deadline_at, which a closed case no longer has.
_HANDLE_DUE = Incident.due_times["handle"]["due"].astext.cast(DateTime(timezone=True))
STATES = (*OPEN_STATES, *CLOSED_STATES)


def _day(value: str | date | None, name: str) -> date | None:
    if isinstance(value, date):
        return value
    if not value:  # since= left empty, as a form sends it: no bound, like the other filters left empty
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be a date such as 2025-10-08, got {value!r}", code="bad_filter") from exc


def _codes(value: str | Sequence[str] | None) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value or ()
    return tuple(item.strip() for item in items if item and item.strip())


#: The dispatch queue's 只看 choices, one definition for the queue and the exports (`--overdue`,
#: `?overdue=1` ...), so a download holds what the queue shows: open cases only.
ONLY: dict[str, ColumnElement[bool]] = {
    # an imported open case runs no stage clock: it is late by the source system's deadline (Incident.due_at)
    "overdue": Incident.status.in_(OPEN_STATES) & (Incident.due_at < func.now()),
    "triage": Incident.status.in_(OPEN_STATES) & Incident.needs_triage.is_(True),  # 待分拣: in no grid
    "extension": Incident.status.in_(OPEN_STATES) & Incident.extension_request.is_not(None),  # 延期待批
}


def department_condition(code: str) -> ColumnElement[bool]:
    """The cases a department has (承办): dispatched to it and not given back, or imported closed history routed to
    it (which has no dispatch, and no handling clock without a mapped deadline; an imported open case waits for
    the centre). The queue and the exports share it."""
    return or_(DISPATCHED, (Incident.source == SOURCE) & (Incident.status == "closed")) & Incident.department_id.in_(
        select(Department.id).where(Department.code == code))  # the case's city condition picks the city's


@dataclass(frozen=True)
class CaseFilter:
    """Which cases an export holds: the CLI options and the download's query string, with the same names.

    `since` and `until` are whole days in the city's time zone, both included.
    """

    status: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    township: str | None = None
    since: date | None = None
    until: date | None = None
    source: str | None = None
    only: frozenset[str] = frozenset()  # ONLY: the dispatch queue's 只看 filters
    department: str | None = None  # the code of the department that has the cases (承办)
    district: str | None = None  # a city run by district (Jiujiang: no township drawn) splits its cases by it

    @classmethod
    def parse(cls, status: str | Sequence[str] | None = None, category: str | Sequence[str] | None = None,
              township: str | None = None, since: str | date | None = None,
              until: str | date | None = None, source: str | None = None,
              only: Iterable[str] = (), department: str | None = None, district: str | None = None) -> CaseFilter:
        """From text (comma lists, ISO dates), or Invalid saying which value is wrong."""
        statuses = _codes(status)
        unknown = [s for s in statuses if s not in STATES]
        if unknown:
            raise Invalid(f"unknown status {', '.join(unknown)}; use one of {', '.join(STATES)}",
                          code="bad_filter", details=unknown)
        first, last = _day(since, "since"), _day(until, "until")
        if first and last and first > last:
            raise Invalid(f"since {first} is after until {last}: swap them", code="bad_filter")
        return cls(status=statuses, category=_codes(category), township=township or None, since=first, until=last,
                   source=source or None, only=frozenset(only), department=department or None,
                   district=district or None)

    def check(self, session: Session, city_code: str) -> CaseFilter:
        """This filter with its category codes as the catalog writes them (in any letter case, as the import
        reads them; a code as written first), or Invalid naming a category, township or source the city does
        not have: a typo would export nothing, which reads as "no such cases"."""
        known = session.scalars(select(Category.code).where(
            Category.city_code == city_code, func.upper(Category.code).in_([c.upper() for c in self.category]))).all()
        matches = {code: code if code in known else next((k for k in known if k.upper() == code.upper()), None)
                   for code in self.category}
        unknown = [code for code, match in matches.items() if match is None]
        if unknown:
            raise Invalid(f"unknown category {', '.join(unknown)}: give a class code of the city's catalog,"
                          " such as E0101, or a major class such as E01", code="bad_filter", details=unknown)
        if self.township and not session.scalar(select(Division.id).where(
                Division.city_code == city_code, Division.code == self.township, Division.level == "township")):
            raise Invalid(f"unknown township {self.township}: give one of the city's township codes (gridlink "
                          "divisions list --level township)", code="bad_filter", details=[self.township])
        if self.district and not session.scalar(select(Division.id).where(
                Division.city_code == city_code, Division.code == self.district, Division.level == "district")):
            raise Invalid(f"unknown district {self.district}: give one of the city's district codes (gridlink "
                          "divisions list --level district)", code="bad_filter", details=[self.district])
        if self.department and not session.scalar(select(Department.id).where(
                Department.city_code == city_code, Department.code == self.department)):
            raise Invalid(f"unknown department {self.department}: give a department's code such as sanitation"
                          " (gridlink catalog)", code="bad_filter", details=[self.department])
        if self.source and self.source not in SOURCES:
            raise Invalid(f"unknown source {self.source!r}; the sources: {', '.join(SOURCES)}", code="bad_filter",
                          details=[self.source])
        return replace(self, category=tuple(dict.fromkeys(matches.values())))

    def where(self, session: Session, city_code: str) -> list[ColumnElement[bool]]:
        """The checked filters as SQL conditions, days counted in the city's zone (exports, GET /incidents)."""
        return self.check(session, city_code).conditions(city_code, _city_zone(session, city_code))

    def conditions(self, city_code: str, zone: ZoneInfo) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [Incident.city_code == city_code]
        if self.status:
            where.append(Incident.status.in_(self.status))
        if self.category:  # a major class means its minor classes, as on the dispatch page
            chosen = select(Category.id).where(Category.city_code == city_code, Category.code.in_(self.category))
            where.append(or_(Incident.category_id.in_(chosen),
                             Incident.category_id.in_(select(Category.id).where(Category.parent_id.in_(chosen)))))
        if self.township:
            where.append(Incident.township_id.in_(select(Division.id).where(
                Division.city_code == city_code, Division.code == self.township)))
        if self.district:  # the cases at a point in it, in a township, a grid or neither (a district drawn alone)
            where.append(select(DivisionPart.division_id).join(Division, Division.id == DivisionPart.division_id)
                         .where(Division.city_code == city_code, Division.code == self.district,
                                func.ST_Covers(DivisionPart.geom, Incident.location)).exists())
        if self.source:
            where.append(Incident.source == self.source)
        if self.department:
            where.append(department_condition(self.department))
        where += [ONLY[name] for name in sorted(self.only)]
        if self.since:
            where.append(Incident.reported_at >= datetime.combine(self.since, time(), zone))
        if self.until:
            where.append(Incident.reported_at < datetime.combine(self.until + timedelta(days=1), time(), zone))
        return where


def _export_query(conditions: list[ColumnElement[bool]], districts: bool) -> Any:
    """One row per case; the community is the case's grid's, when that grid lies in a community (a township
    whose communities are not drawn has its grids directly); the district is the one at the case's point, looked
    up only when the city has `districts` (a county-level city such as Lanxi has none: a million-row export
    would probe its divisions a million times for nothing)."""
    community, township, manager = aliased(Division), aliased(Division), aliased(User)
    columns = (Incident.id, Incident.external_id, Category.code, Category.name, Incident.status, Incident.source,
               Incident.reported_at, Incident.deadline_at, _HANDLE_DUE, Incident.closed_at, Grid.code, community.code,
               township.code, _CASE_DISTRICT if districts else null(), Incident.city_code, Squad.code, Squad.name,
               manager.username, manager.display_name, Department.code, Department.name, FrontageUnit.name,
               Component.code, Incident.owner_type, Incident.needs_triage, Incident.routing_reason, Incident.address,
               Incident.description, func.ST_X(Incident.location), func.ST_Y(Incident.location))
    return (select(*(c.label(name) for c, name in zip(columns, EXPORT_COLUMNS, strict=True)),
                   Incident.routing_steps.label("routing_steps"))  # for words in a reader's language (`words`)
            .join(Category, Category.id == Incident.category_id)
            .outerjoin(Grid, Grid.id == Incident.grid_id)
            .outerjoin(community, and_(community.id == Grid.division_id, community.level == "community"))
            .outerjoin(township, township.id == Incident.township_id)
            .outerjoin(Squad, Squad.id == Incident.squad_id).outerjoin(manager, manager.id == Incident.co_manager_id)
            .outerjoin(Department, Department.id == Incident.department_id)
            .outerjoin(FrontageUnit, FrontageUnit.id == Incident.frontage_unit_id)
            .outerjoin(Component, Component.id == Incident.component_id)
            .where(*conditions).order_by(Incident.id))


_CASE_DISTRICT = literal_column(district_at_sql(Incident.__tablename__, "code"))

EXPORT_PROGRESS_ROWS = 2000  # rows fetched at a time, and rows between two progress reports


def _export_rows(session: Session, city_code: str, filters: CaseFilter, actor: Actor | None,
                 progress: Progress | None = None) -> Iterator[Row]:
    """Case rows with times in the city's zone (each writer formats them); the actor's zone (if any) limits them.
    With `progress`, the cases are counted first (one more pass, for a bar that knows its end)."""
    zone = _city_zone(session, city_code)
    conditions = [*filters.check(session, city_code).conditions(city_code, zone),
                  *(zone_conditions(actor) if actor else ())]
    districts = session.scalar(select(Division.id).where(Division.city_code == city_code,
                                                         Division.level == "district").limit(1)) is not None
    query = _export_query(conditions, districts)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) if progress else 0
    rows = session.execute(query.execution_options(yield_per=EXPORT_PROGRESS_ROWS)).mappings()
    done = 0
    for done, row in enumerate(rows, start=1):
        if progress and done % EXPORT_PROGRESS_ROWS == 0:
            progress(done, max(done, total))  # cases reported since the count make the end later
        yield {**row, **{name: row[name].astimezone(zone).replace(microsecond=0) if row[name] else None
                         for name in TIME_COLUMNS}}  # whole seconds, as imported history has them
    if progress:  # the end, whatever changed since the count (and for no case at all)
        progress(done, done)


def _iso(row: Row) -> Row:
    return {**row, **{name: row[name].isoformat() if row[name] else None for name in TIME_COLUMNS}}


@contextmanager
def _text(out: IO[bytes]) -> Iterator[IO[str]]:
    """`out` as UTF-8 text, left open (and flushed) for whoever owns it."""
    wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="")  # type: ignore[arg-type]
    yield wrapper
    wrapper.detach()


def _write_csv(rows: Iterable[Row], out: IO[bytes]) -> int:
    with _text(out) as text_out:
        text_out.write("\ufeff")  # a BOM, so Excel reads the Chinese text as UTF-8
        writer = csv.writer(text_out)
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        for row in map(_iso, rows):
            writer.writerow([safe_cell(row[name]) for name in EXPORT_COLUMNS])
            count += 1
    return count


def _write_geojson(rows: Iterable[Row], out: IO[bytes]) -> int:
    """A FeatureCollection written feature by feature, so memory stays flat for any number of cases."""
    with _text(out) as text_out:
        text_out.write('{"type": "FeatureCollection", "features": [\n')
        count = 0
        for count, row in enumerate(map(_iso, rows), start=1):
            point = {"type": "Point", "coordinates": [row["lon"], row["lat"]]} if row["lon"] is not None else None
            properties = {name: row[name] for name in EXPORT_COLUMNS if name not in ("lon", "lat")}
            feature = {"type": "Feature", "id": row["id"], "geometry": point, "properties": properties}
            text_out.write((",\n" if count > 1 else "") + json.dumps(feature, ensure_ascii=False))
        text_out.write("\n]}\n")
    return count


def _write_xlsx(rows: Iterable[Row], out: IO[bytes], language: str = "zh") -> int:
    return write_xlsx(out, EXPORT_COLUMNS, rows, "cases", EXPORT_HEADINGS[language])


WRITERS: dict[str, Callable[[Iterable[Row], IO[bytes]], int]] = {
    "csv": _write_csv, "geojson": _write_geojson, "xlsx": _write_xlsx}


def export_cases(session: Session, city_code: str, fmt: str, out: IO[bytes], filters: CaseFilter | None = None,
                 actor: Actor | None = None, language: str = "zh", progress: Progress | None = None,
                 words: Callable[[Row], Row] | None = None) -> dict[str, Any]:
    """Write one row per case (EXPORT_COLUMNS) to the binary stream `out` as CSV, GeoJSON or an Excel workbook
    (its headings in `language`, zh or en, above the codes). `words` rewrites each row before it is written
    (the web download words a workbook's status, channel, owner and routing in the reader's language: the
    catalogs are the web app's); each row also carries its `routing_steps` for that.

    Text is data: CSV cells that a spreadsheet would run as a formula get a leading ' (safe_cell), GeoJSON
    strings are JSON-escaped, workbook cells are typed text; none is ever interpreted.
    """
    if fmt not in WRITERS:
        raise Invalid(f"unknown format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}", code="bad_format")
    write = partial(_write_xlsx, language=language) if fmt == "xlsx" else WRITERS[fmt]
    rows = _export_rows(session, city_code, filters or CaseFilter(), actor, progress)
    count = write(map(words, rows) if words else rows, out)
    return {"format": fmt, "cases": count}
