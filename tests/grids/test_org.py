"""Staff accounts: real passwords each get their own salt; the demo logins share the public demo password's hash."""

import pytest

from grids.demo import CITY_CODE, DEMO_PASSWORD
from grids.errors import Unauthorized
from grids.org import add_user, authenticate


def test_two_accounts_with_the_same_password_store_different_hashes(db, demo_city) -> None:
    first = add_user(db, CITY_CODE, "clerk-a", "viewer", "same-secret-1")
    second = add_user(db, CITY_CODE, "clerk-b", "viewer", "same-secret-1")
    assert first.password_hash != second.password_hash
    assert authenticate(db, CITY_CODE, "clerk-a", "same-secret-1").id == first.id
    assert authenticate(db, CITY_CODE, "clerk-b", "same-secret-1").id == second.id


def test_demo_logins_open_with_the_demo_password_only(db, demo_city) -> None:
    assert authenticate(db, CITY_CODE, "330781102-comanager1", DEMO_PASSWORD).role == "co_manager"
    with pytest.raises(Unauthorized):
        authenticate(db, CITY_CODE, "330781102-comanager1", "not-the-demo-password")


def test_changing_a_demo_login_password_leaves_the_other_logins_alone(db, demo_city) -> None:
    add_user(db, CITY_CODE, "viewer", "viewer", "a-new-secret")
    assert authenticate(db, CITY_CODE, "viewer", "a-new-secret").role == "viewer"
    assert authenticate(db, CITY_CODE, "planner", DEMO_PASSWORD).role == "planner"


def test_an_account_gets_the_zone_its_role_works_in(db, demo_city) -> None:
    """An officer without a squad logged in to empty lists; a dispatcher bound to a squad, or a squad member
    bound to another township than its squad's, was stored as typed."""
    from grids.errors import Invalid

    for kwargs, words in (({"role": "officer"}, "officer accounts work in a squad or township: give --squad or "
                                                "--township"),
                          ({"role": "department"}, "give --department"),
                          ({"role": "dispatcher", "squad_code": "SQ330781102"}, "not dispatcher accounts"),
                          ({"role": "officer", "squad_code": "SQ330781102", "township_code": "330781104"},
                           "squad SQ330781102 is stationed in 330781102, not 330781104")):
        role = kwargs.pop("role")
        with pytest.raises(Invalid, match=words):
            add_user(db, CITY_CODE, "new.one", role, "a-long-password", **kwargs)
    made = add_user(db, CITY_CODE, "new.one", "officer", "a-long-password", squad_code="SQ330781102",
                    township_code="330781102")
    assert made.squad.code == "SQ330781102" and made.township.code == "330781102"
