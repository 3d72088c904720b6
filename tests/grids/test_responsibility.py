"""Responsibility grids (责任网格): parties match kinds, members are contiguous, publishing carries them over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from grids import cli
from grids.errors import Invalid, NotFound
from grids.layouts import generate_layout, publish_impact, publish_layout
from grids.models import Department, Grid, Squad
from grids.responsibility import (
    create_responsibility_grid,
    list_responsibility_grids,
    update_members,
)

CITY = "330781"
ZHUGE = "330781104"  # 诸葛: a stationed squad and no grids yet in the tests' demo

# Pairs of grids of a layout sharing an edge (1-dimensional boundary intersection), and pairs far apart.
_NEIGHBOURS = text("""
SELECT a.id, b.id FROM grids a JOIN grids b ON b.layout_id = a.layout_id AND a.id < b.id AND a.geom && b.geom
WHERE a.layout_id = :l AND ST_Relate(a.geom, b.geom, '****1****') ORDER BY a.code, b.code""")
_APART = text("""
SELECT a.id, b.id FROM grids a JOIN grids b ON b.layout_id = a.layout_id AND a.id < b.id
WHERE a.layout_id = :l AND NOT ST_DWithin(a.geom, b.geom, 0.001) ORDER BY a.code, b.code LIMIT 1""")


@pytest.fixture()
def layout(db, demo_city):
    return generate_layout(db, CITY, ZHUGE, target_area=2_000_000, method="square")


@pytest.fixture()
def squad(db, demo_city) -> Squad:
    return db.scalar(select(Squad).where(Squad.code == "SQ330781104"))


def _pair(db, query, layout_id: int) -> tuple[int, int]:
    return tuple(db.execute(query, {"l": layout_id}).first())


def test_create_lists_area_and_members_and_answers_for_a_grid(db, layout, squad) -> None:
    a, b = _pair(db, _NEIGHBOURS, layout.id)
    rgrid = create_responsibility_grid(db, CITY, "R1", "诸葛一片", "squad", [a, b], squad_id=squad.id)
    assert {g.id for g in rgrid.grids} == {a, b}
    [row] = [r for r in list_responsibility_grids(db, CITY) if r["code"] == "R1"]
    areas = sum(db.get(Grid, i).area_m2 for i in (a, b))
    assert row["grids"] == 2 and row["area_m2"] == pytest.approx(areas, rel=1e-3) and row["party"] == squad.name


def test_non_contiguous_grids_are_refused_by_code(db, layout, squad) -> None:
    a, b = _pair(db, _APART, layout.id)
    with pytest.raises(Invalid, match="not contiguous") as caught:
        create_responsibility_grid(db, CITY, "R2", "散片", "squad", [a, b], squad_id=squad.id)
    assert len(caught.value.details["detached"]) == 1
    assert caught.value.details["detached"][0] in {db.get(Grid, a).code, db.get(Grid, b).code}


def test_the_party_must_match_the_kind_and_exist(db, layout, squad) -> None:
    a, _ = _pair(db, _NEIGHBOURS, layout.id)
    admin = db.scalar(text("SELECT id FROM users WHERE role = 'admin' LIMIT 1"))
    with pytest.raises(NotFound, match="no co_manager"):
        create_responsibility_grid(db, CITY, "R3", "x", "co_manager", [a], user_id=admin)
    with pytest.raises(Invalid, match="exactly one department"):
        create_responsibility_grid(db, CITY, "R3", "x", "department", [a], squad_id=squad.id)
    with pytest.raises(Invalid, match="unknown kind"):
        create_responsibility_grid(db, CITY, "R3", "x", "township", [a], squad_id=squad.id)
    department = db.scalar(select(Department).limit(1))
    assert create_responsibility_grid(db, CITY, "R3", "x", "department", [a], department_id=department.id).id


def test_update_members_applies_the_same_rules(db, layout, squad) -> None:
    a, b = _pair(db, _NEIGHBOURS, layout.id)
    far = _pair(db, _APART, layout.id)
    create_responsibility_grid(db, CITY, "R4", "x", "squad", [a], squad_id=squad.id)
    assert {g.id for g in update_members(db, CITY, "R4", [a, b]).grids} == {a, b}
    with pytest.raises(Invalid, match="not contiguous"):
        update_members(db, CITY, "R4", list(far))
    with pytest.raises(NotFound, match="no responsibility grid 'R9'"):
        update_members(db, CITY, "R9", [a])


def test_publishing_a_redraw_carries_members_onto_the_new_grids(db, layout, squad) -> None:
    a, b = _pair(db, _NEIGHBOURS, layout.id)
    publish_layout(db, layout.id, effective=date(2026, 1, 1))
    rgrid = create_responsibility_grid(db, CITY, "R5", "x", "squad", [a, b], squad_id=squad.id)
    old_area = list_responsibility_grids(db, CITY)[0]["area_m2"]
    finer = generate_layout(db, CITY, ZHUGE, target_area=500_000, method="square")
    [change] = publish_impact(db, finer.id)["responsibility"]["items"]
    assert change["code"] == "R5" and len(change["new_grids"]) > 2
    publish_layout(db, finer.id, effective=date(2026, 6, 1))
    db.expire_all()
    members = db.get(type(rgrid), rgrid.id).grids
    assert {g.layout_id for g in members} == {finer.id}
    assert sorted(g.code for g in members) == change["new_grids"]
    [row] = list_responsibility_grids(db, CITY)
    assert row["area_m2"] == pytest.approx(old_area, rel=0.3)  # the same place, drawn with other grids


def test_cli_creates_by_codes_and_lists(db, layout, squad, monkeypatch) -> None:
    """`gridlink grids responsibility create|list` in the test's transaction (the CLI's commit is a savepoint)."""
    codes = [db.get(Grid, i).code for i in _pair(db, _NEIGHBOURS, layout.id)]

    @contextmanager
    def same_session() -> Iterator:
        yield db

    monkeypatch.setattr(cli, "command_session", same_session)
    runner = CliRunner()
    created = runner.invoke(cli.grids_group, ["responsibility", "create", str(layout.id), "--code", "R-CLI",
                                              "--name", "x", "--kind", "squad", "--party", squad.code,
                                              "--grids", ",".join(codes), "--city", CITY, "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["grids"] == 2
    listed = runner.invoke(cli.grids_group, ["responsibility", "list", "--city", CITY])
    assert "R-CLI" in listed.output and "2 grids" in listed.output
    refused = runner.invoke(cli.grids_group, ["responsibility", "create", str(layout.id), "--code", "R-CLI2",
                                              "--name", "x", "--kind", "department", "--party", "NOPE",
                                              "--grids", codes[0], "--city", CITY])
    assert refused.exit_code != 0 and "no department" in refused.output
    shrunk = runner.invoke(cli.grids_group, ["responsibility", "update", str(layout.id), "--code", "R-CLI",
                                             "--grids", codes[0], "--city", CITY])
    assert shrunk.exit_code == 0 and "R-CLI now has 1 grids" in shrunk.output, shrunk.output
    unknown = runner.invoke(cli.grids_group, ["responsibility", "update", str(layout.id), "--code", "R-CLI",
                                              "--grids", "999", "--city", CITY])
    assert unknown.exit_code == 1 and f"layout {layout.id} has no grids 999" in unknown.output
