"""What must never be wrong is enforced by the database itself, even if the application is bypassed."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

BOWTIE = "SRID=4326;MULTIPOLYGON(((119 29, 119.01 29.01, 119.01 29, 119 29.01, 119 29)))"


def test_invalid_polygon_is_refused_by_the_database(db, demo_city) -> None:
    with pytest.raises(IntegrityError, match="ck_divisions_geom_valid"):
        db.execute(text("INSERT INTO divisions (city_code, code, name, level, geom, illustrative, version) "
                        "VALUES ('330781', '330781999', 'bow-tie', 'township', ST_GeomFromEWKT(:g), false, 1)"),
                   {"g": BOWTIE})


def test_empty_polygon_is_refused_by_the_database(db, demo_city) -> None:
    with pytest.raises(IntegrityError, match="ck_divisions_geom_valid"):
        db.execute(text("INSERT INTO divisions (city_code, code, name, level, geom, illustrative, version) "
                        "VALUES ('330781', '330781998', 'empty', 'township', "
                        "ST_GeomFromEWKT('SRID=4326;MULTIPOLYGON EMPTY'), false, 1)"))


def test_division_codes_are_unique_per_city(db, demo_city) -> None:
    with pytest.raises(IntegrityError, match="uq_divisions_city_code_code"):
        db.execute(text("INSERT INTO divisions (city_code, code, name, level, geom, illustrative, version) "
                        "SELECT city_code, code, name, level, geom, illustrative, 1 FROM divisions "
                        "WHERE code = '330781102'"))


def test_case_history_cannot_be_rewritten(db, demo_city) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("UPDATE case_events SET note = 'rewritten'"))
    db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("DELETE FROM case_events"))
    db.rollback()
    with pytest.raises(DBAPIError, match="append-only: TRUNCATE"):
        db.execute(text("TRUNCATE incidents CASCADE"))  # would take the events with it
