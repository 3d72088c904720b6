"""A city's catalog as data: departments, the category tree with working-time limits, stage limits, routing rules.

Why a file: every city extends the standard tree and routes differently; that is configuration, loaded
(and re-loaded) with `gridlink catalog import`, never code.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from grids.errors import Invalid
from grids.layouts import city_today, layout_not_ended
from grids.models import Category, City, Department, Division, Grid, GridLayout, RoutingRule, StageLimit

SCHEMA = json.loads(resources.files("grids").joinpath("data/catalog.schema.json").read_text())


#: The schema's patterns in words: "'4 hours' does not match '^[0-9]+[hd]$'" told the author a regex.
PATTERN_WORDS = {"^[0-9]+[hd]$": "working hours or days, such as 4h or 5d",
                 "^[0-9]{1,7}[mhd]$": "working minutes, hours or days, such as 30m, 2h or 1d",
                 "^[0-9]{6}$": "a 6-digit city code such as 330781",
                 "^[0-9A-Za-z-]{1,24}$": "a grid code of letters, digits and -, such as 330781102004553"}


def _worded(error: jsonschema.ValidationError) -> str:
    if error.validator == "pattern" and error.validator_value in PATTERN_WORDS:
        return f"{error.instance!r} is not {PATTERN_WORDS[error.validator_value]}"
    return error.message


def validate_catalog(doc: Any) -> None:
    """Every schema violation listed with its path, so the author can fix the file in one go."""
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        problems = [f"{'/'.join(str(p) for p in e.path) or '(top)'}: {_worded(e)}" for e in errors]
        raise Invalid("the catalog file does not match the format: " + "; ".join(problems[:20]),
                      code="bad_catalog", details=problems)
    try:
        ZoneInfo(doc["city"]["timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {doc['city']['timezone']!r}; use an IANA name such as Asia/Shanghai",
                      code="bad_catalog") from exc
    codes = {c["code"] for c in doc["categories"]}
    depts = {d["code"] for d in doc["departments"]}
    bad = [f"category {c['code']}: unknown parent {c['parent']}" for c in doc["categories"]
           if c.get("parent") and c["parent"] not in codes]
    bad += [f"category {c['code']}: unknown department {d}" for c in doc["categories"]
            for d in c.get("departments", []) if d not in depts]
    bad += [f"routing {r['category']}: unknown category {r['category']}" for r in doc.get("routing", [])
            if r["category"] not in codes]
    bad += [f"routing {r['category']}: unknown department {r['department']}" for r in doc.get("routing", [])
            if r["department"] not in depts]
    scopes = Counter((r["category"], r.get("scope"), r.get("grid")) for r in doc.get("routing", []))
    bad += [f"routing {category}: {count} rules for {scope or (grid and f'grid {grid}') or 'the whole city'}, "
            "keep one (one rule per category and scope)" for (category, scope, grid), count in scopes.items()
            if count > 1]
    bad += [f"stage_limits: unknown category {code}" for code in doc.get("stage_limits", {}).get("categories", {})
            if code not in codes]
    if bad:
        raise Invalid("the catalog refers to codes it does not define: " + "; ".join(bad[:20]),
                      code="bad_catalog", details=bad)


def _upsert(session: Session, model: type, city_code: str, code: str, **values: Any) -> Any:
    row = session.scalar(select(model).where(model.city_code == city_code, model.code == code))
    if row is None:
        row = model(city_code=city_code, code=code)
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    return row


def _parents_first(categories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_code = {c["code"]: c for c in categories}

    def depth(c: dict[str, Any]) -> int:
        return 0 if not c.get("parent") else 1 + depth(by_code[c["parent"]])

    return sorted(categories, key=depth)


def upsert_city(session: Session, city: dict[str, str]) -> City:
    """The city's name and time zone; an outline gridlink made from its districts (named by the code when the
    districts came first) takes the name too."""
    row = session.get(City, city["code"]) or City(code=city["code"])
    row.name, row.timezone = city["name"], city["timezone"]
    session.add(row)
    session.execute(update(Division).where(Division.city_code == row.code, Division.level == "city",
                                           Division.derived).values(name=row.name))
    session.flush()
    return row


def _replace_stage_limits(session: Session, city_code: str, cats: dict[str, Category],
                          limits: dict[str, Any]) -> int:
    """The city's stage limits become the file's: the city default (category NULL), then per-category rows."""
    session.execute(delete(StageLimit).where(StageLimit.city_code == city_code))
    scopes = [(None, limits.get("city", {})),
              *((cats[code].id, stages) for code, stages in limits.get("categories", {}).items())]
    rows = [StageLimit(city_code=city_code, category_id=category_id, stage=stage, time_limit=limit)
            for category_id, stages in scopes for stage, limit in stages.items()]
    session.add_all(rows)
    return len(rows)


def published_grid_codes(session: Session, city_code: str, codes: set[str]) -> set[str]:
    """Those of `codes` that a layout in force today or published for a later day draws: the grids a grid
    rule can apply in (a layout retired from next month still draws this month's grids)."""
    if not codes:
        return set()
    return set(session.scalars(select(Grid.code).join(GridLayout, GridLayout.id == Grid.layout_id).where(
        Grid.city_code == city_code, Grid.code.in_(codes), layout_not_ended(city_today(city_code)))))


def _check_grid_rules(session: Session, city_code: str, rules: list[dict[str, Any]]) -> None:
    """A rule for a grid no published layout draws would never apply: refused, naming the codes, before
    anything is written (a typo must not silently route nothing)."""
    codes = {rule["grid"] for rule in rules if rule.get("grid")}
    known = published_grid_codes(session, city_code, codes)
    bad = [f"routing/{n} (category {rule['category']}): no published grid has the code {rule['grid']}"
           for n, rule in enumerate(rules) if rule.get("grid") and rule["grid"] not in known]
    if bad:
        raise Invalid("; ".join(bad[:20]) + ". Check the code (gridlink grids export lists a layout's grids) or "
                      "publish the layout that draws the grid first (gridlink grids publish), then import the "
                      "catalog again", code="unknown_grid", details=bad)


def import_catalog(session: Session, doc: dict[str, Any], city_code: str | None = None) -> dict[str, int]:
    """Insert or update everything in the file; routing rules of the city are replaced by the file's, and
    so are its stage limits when the file has a stage_limits section. A grid rule needs its grid published.
    `city_code` (the command's --city) must be the file's city: Lanxi's catalog imported while setting up
    Jiujiang made a second city in its database without a word."""
    validate_catalog(doc)
    if city_code is not None and doc["city"]["code"] != city_code:
        raise Invalid(f"the catalog is for city {doc['city']['code']} ({doc['city']['name']}), not {city_code}: "
                      f"pass --city {doc['city']['code']} (or set GRIDLINK_CITY) if that is the city you mean",
                      code="another_city")
    _check_grid_rules(session, doc["city"]["code"], doc.get("routing", []))
    city_code = upsert_city(session, doc["city"]).code
    depts = {d["code"]: _upsert(session, Department, city_code, d["code"], name=d["name"],
                                **{k: d[k] for k in ("worked_by_squads",) if k in d})  # absent: kept as it is
             for d in doc["departments"]}
    session.flush()
    cats: dict[str, Category] = {}
    for c in _parents_first(doc["categories"]):
        cats[c["code"]] = _upsert(
            session, Category, city_code, c["code"], name=c["name"], name_en=c.get("name_en"), type=c["type"],
            parent_id=cats[c["parent"]].id if c.get("parent") else None, time_limit=c.get("time_limit"),
            filing_condition=c.get("filing_condition"), closing_condition=c.get("closing_condition"),
            departments=[depts[d] for d in c.get("departments", [])])
        session.flush()
    session.execute(delete(RoutingRule).where(RoutingRule.city_code == city_code))
    for rule in doc.get("routing", []):
        scope_id = None
        if rule.get("scope"):
            scope_id = session.scalar(select(Division.id).where(Division.city_code == city_code,
                                                                Division.code == rule["scope"]))
            if scope_id is None:
                raise Invalid(f"routing rule for {rule['category']}: scope {rule['scope']} is not a stored "
                              "division; import the divisions first", code="bad_catalog")
        session.add(RoutingRule(city_code=city_code, category_id=cats[rule["category"]].id, division_id=scope_id,
                                grid_code=rule.get("grid"), department_id=depts[rule["department"]].id))
    counts = {"departments": len(depts), "categories": len(cats), "routing_rules": len(doc.get("routing", []))}
    if "stage_limits" in doc:
        counts["stage_limits"] = _replace_stage_limits(session, city_code, cats, doc["stage_limits"])
    session.flush()
    return counts
