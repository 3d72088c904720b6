"""People and organisation: staff accounts, roles, zones, and authentication.

Passwords are hashed with Argon2id (argon2-cffi, the winner of the Password Hashing Competition).
Failed logins are counted per typed user name, so the slow-down says nothing about which names exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from grids.divisions import known_city
from grids.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized, Unavailable
from grids.models import PINYIN, ROLES, City, Department, Division, LoginThrottle, Squad, User
from grids.workflow import SQUAD_ROLES

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the response time the same either way.
_DUMMY_HASH = _hasher.hash("gridlink-no-such-user")

FREE_FAILURES = 3
MAX_DELAY = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"the password must have at least {MIN_PASSWORD_LENGTH} characters", code="weak_password")
    return _hasher.hash(password)


@dataclass(frozen=True)
class SharedPassword:
    """A published password that many accounts share (the demo logins'), hashed once: each account stores
    the same hash. Hashing costs ~0.3 s by design, and a per-account salt protects nothing when the password
    itself is public. A plain str given to add_user is always hashed afresh with its own salt."""

    password_hash: str

    @classmethod
    def of(cls, password: str) -> SharedPassword:
        return cls(hash_password(password))


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def lockout_delay(failures: int) -> timedelta:
    """After FREE_FAILURES misses each further miss doubles the wait: 2 s, 4 s, 8 s ... up to 15 minutes."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(timedelta(seconds=2 ** (failures - FREE_FAILURES + 1)), MAX_DELAY)


def authenticate(session: Session, city_code: str, username: str, password: str,
                 now: datetime | None = None) -> User:
    """The active user with these credentials, or Unauthorized that never says which part was wrong."""
    now = now or datetime.now(UTC)
    if session.get(City, city_code) is None:  # a fresh install: no one to log in, no city to count a failure in
        raise Unavailable(f"city {city_code} is not set up on this server; load it with `gridlink demo load` or "
                          "`gridlink catalog import`", code="city_not_set_up", details={"city": city_code})
    throttle = session.get(LoginThrottle, (city_code, username))
    if throttle is not None:
        wait = throttle.last_failed_at + lockout_delay(throttle.failures) - now
        if wait > timedelta(0):
            raise TooManyRequests(f"too many failed logins; try again in {int(wait.total_seconds()) + 1} s",
                                  code="login_throttled")
    user = session.scalar(select(User).where(User.city_code == city_code, User.username == username))
    ok = _verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None and user.active
    if ok:
        if throttle is not None:
            session.delete(throttle)
        return user
    if throttle is None:
        throttle = LoginThrottle(city_code=city_code, username=username, failures=0)
        session.add(throttle)
    throttle.failures += 1
    throttle.last_failed_at = now
    raise Unauthorized("wrong user name or password", code="bad_credentials")


def township_by_code(session: Session, city_code: str, code: str) -> Division:
    """The township a squad is stationed in or a user bound to: a district or community there would hide every
    case of the user's zone (the zone is a township), and a city drawn without townships is told so."""
    division = session.scalar(select(Division).where(Division.city_code == city_code, Division.code == code))
    if division is not None and division.level == "township":
        return division
    drawn = session.scalar(select(func.count()).select_from(Division).where(Division.city_code == city_code,
                                                                            Division.level == "township"))
    what = f"{division.code} {division.name} is a {division.level}" if division else f"no division {code}"
    fix = ("list the townships with `gridlink divisions list --level township`" if drawn else "the city has no "
           "townships drawn yet: import their boundaries first (`gridlink divisions import FILE --level township "
           "--parent DISTRICT`)")
    raise Invalid(f"{what}: give a township's code; {fix}", code="not_a_township")


SQUAD_CODE_LIMIT, SQUAD_NAME_LIMIT = 32, 200  # the columns' lengths


def station_squad(session: Session, city_code: str, code: str, name: str, township_code: str) -> Squad:
    """Station an enforcement squad (派驻执法中队) in a township, or rename one stationed there (idempotent by
    code). DOMAIN §1: the bureau stations one squad in each township as it becomes ready, so a second squad
    in a township is refused: routing gives a township's cases to its first squad, and the second would get
    none. Moving a squad to another township is refused too: its grids and staff would stay behind."""
    code, name = code.strip(), name.strip()
    if not code or len(code) > SQUAD_CODE_LIMIT or not name or len(name) > SQUAD_NAME_LIMIT:
        raise Invalid(f"a squad needs a code of 1 to {SQUAD_CODE_LIMIT} characters and a name of 1 to "
                      f"{SQUAD_NAME_LIMIT}", code="bad_squad")
    township = township_by_code(session, city_code, township_code)
    squads = session.scalars(select(Squad).where(Squad.city_code == city_code,
                                                 (Squad.code == code) | (Squad.township_id == township.id))).all()
    squad = next((s for s in squads if s.code == code), None)
    other = next((s for s in squads if s.code != code), None)
    if squad is not None and squad.township_id != township.id:
        raise Conflict(f"squad {code} is stationed in {squad.township.code} {squad.township.name}; a squad does not "
                       "move: station a new one in the other township", code="squad_elsewhere")
    if other is not None:
        raise Conflict(f"{township.code} {township.name} has squad {other.code} {other.name} stationed already; "
                       "a township has one squad", code="township_has_squad")
    if squad is None:
        squad = Squad(city_code=city_code, code=code, township_id=township.id)
        session.add(squad)
    squad.name = name
    session.flush()
    return squad


def set_active(session: Session, city_code: str, username: str, active: bool) -> User:
    """Let a staff account log in again, or stop it: a deactivated user's session ends on its next request (and
    its tile requests within webapp.auth.VIEWER_TTL). The account stays, so its history keeps naming who acted."""
    user = session.scalar(select(User).where(User.city_code == city_code, User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r} in city {city_code}", code="unknown_user")
    user.active = active
    session.flush()
    return user


#: The zone each role works in, as add_user takes it: a squad member sees and acts in a township (its squad's),
#: a department account in its department; without one such an account sees nothing (grids.workflow.zone_of).
ZONE_OPTIONS = {**dict.fromkeys(SQUAD_ROLES, ("squad", "township")), "department": ("department",)}


def _check_zone_given(role: str, township: str | None, department: str | None, squad: str | None) -> None:
    """An officer added without a squad could log in to empty lists; a dispatcher bound to a squad read as a
    squad member in `users list`; neither was said."""
    given = {"squad": squad, "township": township, "department": department}
    needed = ZONE_OPTIONS.get(role)
    if needed and not any(given[zone] for zone in needed):
        raise Invalid(f"{role} accounts work in a {' or '.join(needed)}: give --{' or --'.join(needed)}",
                      code="zone_required")
    if squad and role not in SQUAD_ROLES:
        raise Invalid(f"only squad members ({', '.join(SQUAD_ROLES)}) belong to a squad, not {role} accounts",
                      code="zone_mismatch")


def add_user(session: Session, city_code: str, username: str, role: str, password: str | SharedPassword, *,
             display_name: str = "", township_code: str | None = None, department_code: str | None = None,
             squad_code: str | None = None) -> User:
    """Create a staff account, or update the role/zone/password of an existing one (idempotent by name).

    A str password is hashed with its own salt; a SharedPassword's one hash is stored as it is."""
    if role not in ROLES:
        raise Invalid(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}", code="unknown_role")
    known_city(session, city_code)  # before the password is hashed into a row the database then refuses
    _check_zone_given(role, township_code, department_code, squad_code)
    user = session.scalar(select(User).where(User.city_code == city_code, User.username == username))
    if user is None:
        user = User(city_code=city_code, username=username)
        session.add(user)
    user.role = role
    user.display_name = display_name or user.display_name or username
    user.password_hash = (password.password_hash if isinstance(password, SharedPassword)
                          else hash_password(password))
    user.township_id = township_by_code(session, city_code, township_code).id if township_code else None
    user.department_id = None
    if department_code:
        dept = session.scalar(select(Department).where(Department.city_code == city_code,
                                                       Department.code == department_code))
        if dept is None:
            codes = ", ".join(session.scalars(select(Department.code).where(Department.city_code == city_code)
                                              .order_by(Department.code))) or "none yet: import the city's catalog"
            raise NotFound(f"no department with code {department_code}; the city's departments: {codes}",
                           code="unknown_department")
        user.department_id = dept.id
    user.squad_id = None
    if squad_code:
        squad = session.scalar(select(Squad).where(Squad.city_code == city_code, Squad.code == squad_code))
        if squad is None:
            raise NotFound(f"no squad with code {squad_code}; station it first (gridlink squads add), or list "
                           "them with `gridlink squads list`", code="unknown_squad")
        if township_code and user.township_id != squad.township_id:
            raise Invalid(f"squad {squad.code} is stationed in {squad.township.code}, not {township_code}: give the "
                          "squad alone (it sets the township)", code="zone_mismatch")
        user.squad_id = squad.id
        user.township_id = squad.township_id
    session.flush()
    return user


def list_users(session: Session, city_code: str, role: str | None = None) -> list[dict[str, Any]]:
    """The city's staff accounts by role then name, with their zone (squad, township or department) and whether
    they may log in: what an administrator checks before adding or deactivating someone. No password hashes."""
    known_city(session, city_code)
    query = (select(User).where(User.city_code == city_code).order_by(User.role, User.username)
             .options(selectinload(User.squad), selectinload(User.township), selectinload(User.department)))
    if role is not None:
        query = query.where(User.role == role)
    return [{"username": u.username, "display_name": u.display_name, "role": u.role, "active": u.active,
             "squad": u.squad.code if u.squad else None, "township": u.township.code if u.township else None,
             "department": u.department.code if u.department else None} for u in session.scalars(query)]


def city_departments(session: Session, city_code: str) -> list[Department]:
    """The city's departments as people look them up: by pinyin (every list a dispatcher or planner picks from)."""
    return list(session.scalars(select(Department).where(Department.city_code == city_code)
                                .order_by(Department.name.collate(PINYIN))))


#: DOMAIN §1's seed rule: each officer the bureau stations in a township works with at least this many
#: co-managers the township hires; a report flags the squads below it.
CO_MANAGERS_PER_OFFICER = 2


@dataclass(frozen=True)
class Staffing:
    """A squad's active officers and co-managers against CO_MANAGERS_PER_OFFICER."""

    squad: str
    township: str
    officers: int
    co_managers: int
    code: str
    township_code: str

    @property
    def short(self) -> int:
        """Co-managers missing for the rule (0 when it is met)."""
        return max(0, self.officers * CO_MANAGERS_PER_OFFICER - self.co_managers)


def squad_staffing(session: Session, city_code: str) -> list[Staffing]:
    """Each of the city's squads with its active officers and co-managers, in code order."""
    counted = (select(Squad.name, Division.name,
                      func.count(User.id).filter(User.role == "officer"),
                      func.count(User.id).filter(User.role == "co_manager"), Squad.code, Division.code)
               .join(Division, Division.id == Squad.township_id)
               .outerjoin(User, (User.squad_id == Squad.id) & User.active)
               .where(Squad.city_code == city_code).group_by(Squad.id, Division.id)
               .order_by(Squad.code))
    return [Staffing(*row) for row in session.execute(counted)]


def understaffed_squads(session: Session, city_code: str) -> list[Staffing]:
    """The city's squads with fewer active co-managers than the rule asks for their active officers, or with no
    officer at all (a squad just stationed read as meeting the rule: zero officers need zero co-managers)."""
    return [staffing for staffing in squad_staffing(session, city_code) if staffing.short or not staffing.officers]


def townships_without_squad(session: Session, city_code: str) -> list[Division]:
    """The townships no squad is stationed in yet (DOMAIN §1: squads are added as each township is ready)."""
    return list(session.scalars(select(Division).where(
        Division.city_code == city_code, Division.level == "township",
        ~select(Squad.id).where(Squad.township_id == Division.id).exists()).order_by(Division.code)))
