"""A case reads the same in a list as on its own: codes and names of its category, grid, township, squad and
department (fetched for a whole page at once) match the single read, including the ones a case lacks."""

from grids.apikeys import create_key
from tests.webapp.test_api import YOUBU, ZHUGE, bearer, inner, submit

SHOWN = ("category", "category_name", "grid", "township", "squad", "department", "owner_type")


def test_listed_cases_carry_the_same_codes_as_each_case_read_alone(client, db) -> None:
    key = create_key(db, "330781", "reader", "dispatcher")[1]
    in_grid = submit(client, key, *inner(db, YOUBU)).json
    no_grid = submit(client, key, *inner(db, ZHUGE)).json
    assert in_grid["grid"].startswith(YOUBU) and no_grid["grid"] is None and no_grid["township"] == ZHUGE
    listed = client.get("/api/v1/incidents?per_page=100", headers=bearer(key)).json["items"]
    by_id = {item["id"]: item for item in listed}
    for case in (in_grid, no_grid):
        alone = client.get(f"/api/v1/incidents/{case['id']}", headers=bearer(key)).json
        assert {name: by_id[case["id"]][name] for name in SHOWN} == {name: alone[name] for name in SHOWN}
        assert {name: case[name] for name in SHOWN} == {name: alone[name] for name in SHOWN}
