"""Statements marked `prepared` (grids.db) run as server-side prepared statements: same answers as the plain
statement, prepared once per connection, surviving rollbacks, whatever SQL text the statement compiles to."""

import pytest
from sqlalchemy import String, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError

from grids.db import make_engine, prepared
from grids.incidents import _CASE_COLUMNS
from grids.models import Category, Division
from grids.workflow import report
from tests.grids.test_routing import inner_point
from tests.grids.test_workflow import CITY, YOUBU, actor


def prepared_statements(db) -> dict[str, str]:
    """This connection's prepared statements: name -> SQL, as the server keeps them."""
    return dict(db.execute(text("SELECT name, statement FROM pg_prepared_statements")).all())


def test_a_report_prepares_its_statements_once_and_still_finds_its_grid_squad_and_rule(db, demo_city) -> None:
    inspector, here = actor(db, "inspector"), inner_point(db, YOUBU)
    first = report(db, inspector, "E0101", here.x, here.y, source="test", description="垃圾满溢")
    after_first = prepared_statements(db)
    second = report(db, inspector, "暴露垃圾", here.x + 0.0001, here.y, source="test", description="又满了")
    assert prepared_statements(db) == after_first, "the second report prepared again"
    assert any("routing_rules" in sql for sql in after_first.values())
    township = db.scalar(select(Division).where(Division.code == YOUBU))
    for case in (first, second):
        assert (case.township_id, case.category.code) == (township.id, "E0101")
        assert case.grid_id is not None and case.squad_id is not None
    assert first.routing_reason == second.routing_reason


def test_prepared_statements_survive_a_rollback(db, demo_city) -> None:
    by_code = prepared(select(Category.name).where(Category.city_code == CITY,
                                                   Category.code == bindparam("code", type_=String)))
    nested = db.begin_nested()
    assert db.scalar(by_code, {"code": "E0101"}) == "暴露垃圾"
    nested.rollback()  # the PREPARE was inside it; the server keeps prepared statements anyway
    assert db.scalar(by_code, {"code": "E0101"}) == "暴露垃圾"


def test_each_sql_text_of_a_statement_is_prepared_on_its_own(db, demo_city) -> None:
    """An IN list renders one placeholder per item, so lists of other lengths are other SQL texts; a LIKE
    pattern's % must reach the server as one %."""
    in_list = prepared(select(func.count()).select_from(Category)
                       .where(Category.city_code == CITY, Category.code.in_(bindparam("codes", expanding=True))))
    assert db.scalar(in_list, {"codes": ["E0101"]}) == 1
    assert db.scalar(in_list, {"codes": ["E0101", "E0102", "NOPE"]}) == 2
    like = prepared(select(func.count()).select_from(Category)
                    .where(Category.city_code == CITY, Category.code.like("E01%")))
    plain = select(func.count()).select_from(Category).where(Category.city_code == CITY, Category.code.like("E01%"))
    assert db.scalar(like) == db.scalar(plain) > 1


def test_a_connection_whose_statements_the_server_dropped_fails_once_then_a_fresh_one_works(database_url,
                                                                                              demo_city) -> None:
    """DEALLOCATE ALL (or a pooler's DISCARD ALL) empties the server's list behind the connection's back."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    name_of = prepared(select(Category.name).where(Category.city_code == CITY,
                                                    Category.code == bindparam("code", type_=String)))
    try:
        with engine.connect() as conn:
            assert conn.scalar(name_of, {"code": "E0101"}) == "暴露垃圾"
            conn.execute(text("DEALLOCATE ALL"))
            with pytest.raises(DBAPIError) as failure:
                conn.scalar(name_of, {"code": "E0101"})
            assert failure.value.connection_invalidated
        with engine.connect() as conn:
            assert conn.scalar(name_of, {"code": "E0101"}) == "暴露垃圾"
    finally:
        engine.dispose()


def test_every_column_a_report_binds_has_a_python_default_or_none() -> None:
    """The report INSERT binds every case column, so a server-side default would be overwritten by NULL:
    each column must have a plain Python default (copied onto the case) or be meant to start empty."""
    for column in _CASE_COLUMNS:
        if column.key == "reported_at":  # coalesce(:reported_at, now()) in the statement itself
            continue
        assert column.default is None or column.default.is_scalar, column.key
        assert column.server_default is None or column.default is not None or column.nullable, column.key
