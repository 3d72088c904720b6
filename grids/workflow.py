"""The case workflow as data: which action moves a case from which state to which, and who may do it.

report -> (verify 核实, or refute 不属实) -> file 立案 -> dispatch 派遣 -> accept -> handle 处置/反馈
-> check 核查 -> close 结案,
with the exception flows rework 返工, extension 延期 (a second one needs a higher approval), return 回退
and redispatch 改派, park 挂账, escalate 督办, cancel 作废 and reopen. Every action is one guarded UPDATE
(`WHERE version = :expected`) plus one appended CaseEvent in the caller's transaction, so of two
concurrent actions exactly one wins and the other gets Conflict (RELIABILITY 11). Cases outside the
actor's zone are NotFound, so their existence does not leak (RELIABILITY 13).

The clock is per stage (STAGE_CLOCKS): entering a state starts the working-time clock of the stage that
state waits on -- the centre files (立案) and dispatches (派遣), the handler handles (处置, the minor
class's own limit; 改派 restarts it, an approved extension adds to it), the inspector checks (核查), the
centre closes (结案). Parking, closing and cancelling stop it. Each start writes the stage's due time to
deadline_at and keeps it in due_times beside the stages before. `escalate_overdue` compares the stored
deadlines with the database clock and escalates each stage's deadline once (RELIABILITY 15).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from grids.calendar import WorkCalendar, calendar_stamp, city_calendar, deadline, parse_limit
from grids.db import prepared
from grids.errors import Conflict, Forbidden, Invalid, NotFound
from grids.incidents import (
    REASON_TEXT,
    Actor,
    check_event_time,
    locate,
    location_values,
    open_case,
    record_event,
)
from grids.models import (
    EXTENSION_APPROVERS,
    CaseEvent,
    Category,
    City,
    Department,
    Division,
    Incident,
    Squad,
    StageLimit,
    User,
    extension_approvers,
)

log = logging.getLogger("gridlink.workflow")

STAY = None  # an action that keeps the state (extension, escalation) still changes the version
AS_RECORDED = "as recorded"  # an imported case starts in the old system's state, written on its event
CENTRE_ROLES = ("dispatcher", "supervisor")
ON_SITE_ROLES = ("inspector", "co_manager", "officer", "squad_leader")
HANDLER_ROLES = ("department", "squad_leader", "officer")
REPORTER_ROLES = ("reporter", "dispatcher", "supervisor", "inspector", "squad_leader", "officer", "co_manager")
SQUAD_ROLES = ("squad_leader", "officer", "co_manager")
SYSTEM_ROLE = "system"
#: The stage whose clock a state starts (DOMAIN 4): who the case waits on there. States not named here
#: (parked, closed, cancelled) stop the clock.
STAGE_CLOCKS: dict[str, str] = {
    "reported": "file", "verified": "file",  # the centre must file (立案)
    "unfounded": "file",  # ... or cancel (作废) what the inspector found not true
    "filed": "dispatch",  # ... and dispatch (派遣)
    "dispatched": "handle", "in_progress": "handle",  # the handler must handle (处置)
    "handled": "check",  # the inspector must check the feedback on site (核查)
    "checked": "close",  # the centre must close (结案)
}
#: The stage whose limit is the minor class's handling limit (Category.time_limit); the others' are StageLimit rows.
HANDLE_STAGE = "handle"
#: Actions that restart their stage's clock although the stage stays (改派: a new handler gets a full limit).
RESTARTS = ("redispatch",)
# A case can become overdue only while a stage clock runs.
CLOCK_STATES = tuple(STAGE_CLOCKS)
OPEN_STATES = ("reported", "verified", "unfounded", "filed", "dispatched", "in_progress", "handled", "checked",
               "parked")
CLOSED_STATES = ("closed", "cancelled")
#: The open cases a new report of the same problem joins (附近同类, 标记为重复, a 门前三包 violation found again):
#: not one found not as reported, which waits to be cancelled; the new report says the problem is there.
JOINABLE_STATES = tuple(state for state in OPEN_STATES if state != "unfounded")
#: A case routed to a department is the centre's until it is dispatched (立案, 派遣): the department does not see
#: it yet, nor one cancelled before it was dispatched (a cancel comes only before; a return clears the department).
BEFORE_DISPATCH = ("reported", "verified", "unfounded", "filed", "cancelled")
CANCEL_REASONS = ("duplicate", "invalid")
#: The original of a linked duplicate records the other report (contact, photos); only
#: grids.duplicates.link_duplicate takes it, so it is not offered as an allowed next action.
ABSORB_DUPLICATE = "absorb_duplicate"
#: The shortest and longest extension a handler may ask for (working time): longer work is parked (挂账).
EXTENSION_RANGE = ("30m", "30d")
#: A case is "due soon" when less than this working-clock time is left; lists, markers and tiles share it.
DUE_SOON = timedelta(hours=1)


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str | None, ...]
    target: str | None
    roles: tuple[str, ...]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # fields it may take besides COMMON_FIELDS (a dispatch's department)


TRANSITIONS: tuple[Transition, ...] = (
    Transition("report", (None,), "reported", REPORTER_ROLES),
    Transition("import", (None,), AS_RECORDED, (SYSTEM_ROLE,)),
    Transition("verify", ("reported",), "verified", ON_SITE_ROLES),
    # 核实不属实: nothing on site as reported; the centre cancels (or files after all, knowing better)
    Transition("refute", ("reported",), "unfounded", ON_SITE_ROLES, ("reason",)),
    Transition("file", ("reported", "verified", "unfounded"), "filed", CENTRE_ROLES),
    Transition("dispatch", ("filed",), "dispatched", CENTRE_ROLES, optional=("department",)),
    Transition("accept", ("dispatched",), "in_progress", HANDLER_ROLES),
    Transition("return", ("dispatched", "in_progress"), "filed", HANDLER_ROLES, ("reason",)),
    Transition("redispatch", ("dispatched", "in_progress"), "dispatched", CENTRE_ROLES, ("department",)),
    # 反馈 carries evidence (DOMAIN §4): the after-photo, stored (grids.photos.handle_with_photos) or referenced.
    Transition("handle", ("dispatched", "in_progress"), "handled", HANDLER_ROLES, ("note", "after_photo")),
    Transition("check", ("handled",), "checked", ON_SITE_ROLES),
    # 核查不通过: who checks on site sends unfinished work straight back (the centre may too, and after a check)
    Transition("rework", ("handled",), "in_progress", (*CENTRE_ROLES, *ON_SITE_ROLES), ("reason",)),
    Transition("rework", ("checked",), "in_progress", CENTRE_ROLES, ("reason",)),
    Transition("close", ("checked",), "closed", CENTRE_ROLES),
    Transition("request_extension", ("dispatched", "in_progress"), STAY, HANDLER_ROLES, ("duration", "reason")),
    Transition("approve_extension", ("dispatched", "in_progress"), STAY, EXTENSION_APPROVERS[0]),
    Transition("reject_extension", ("dispatched", "in_progress"), STAY, EXTENSION_APPROVERS[0], ("reason",)),
    Transition("park", ("filed", "dispatched", "in_progress"), "parked", ("supervisor",), ("reason",)),
    Transition("resume", ("parked",), "filed", ("supervisor",)),
    Transition("escalate", OPEN_STATES, STAY, (*CENTRE_ROLES, SYSTEM_ROLE)),
    Transition("cancel", ("reported", "verified", "unfounded", "filed"), "cancelled", CENTRE_ROLES, ("reason",)),
    # a report 不属实 because it was placed wrong is moved to where the problem is, then filed
    Transition("relocate", ("reported", "verified", "unfounded", "filed"), STAY, CENTRE_ROLES, ("lon", "lat"),
               optional=("crs",)),
    Transition(ABSORB_DUPLICATE, OPEN_STATES, STAY, CENTRE_ROLES, ("duplicate",)),
    Transition("reopen", ("closed",), "filed", ("supervisor",), ("reason",)),
)
#: The actions that decide a waiting extension request: for the approvers of the case's next extension.
EXTENSION_DECISIONS = ("approve_extension", "reject_extension")
#: Actions after which a waiting extension request is moot: the handler is done, gave the case back, or lost it.
DROP_EXTENSION_REQUEST = ("handle", "return", "redispatch", "park")
RULES: dict[tuple[str | None, str], Transition] = {(s, t.action): t for t in TRANSITIONS for s in t.sources}
ACTIONS = tuple(dict.fromkeys(t.action for t in TRANSITIONS))
RULES_OF: dict[str, tuple[Transition, ...]] = {a: tuple(t for t in TRANSITIONS if t.action == a) for a in ACTIONS}
#: What every action takes: a note (what was seen, done, decided), or a reason in its place.
COMMON_FIELDS = ("note", "reason")


def action_fields(action: str) -> tuple[str, ...]:
    """The fields an action takes: the API refuses others (a dispatch's duration) instead of storing them on the
    event as if they had counted."""
    own = (name for t in RULES_OF.get(action, ()) for name in (*t.required, *t.optional))
    return tuple(dict.fromkeys((*COMMON_FIELDS, *own)))


#: Field roles: a squad member sees only the township of their squad; an inspector bound to a township, only it.
TOWNSHIP_ROLES = ("inspector", *SQUAD_ROLES)


@dataclass(frozen=True)
class Zone:
    """The part of the city someone may see; None on an axis means no limit on it, 0 matches nothing."""

    township_id: int | None = None
    department_id: int | None = None


def zone_of(who: Actor | User) -> Zone:
    """The one rule of who sees which cases, for every page, tile, export and API call (RELIABILITY 16).

    An account missing its binding (a squad member without a township, a department account without a
    department) sees nothing rather than everything.
    """
    if who.role == "department":
        return Zone(department_id=who.department_id or 0)
    if who.role in SQUAD_ROLES:
        return Zone(township_id=who.township_id or 0)
    if who.role == "inspector" and who.township_id:
        return Zone(township_id=who.township_id)
    return Zone()


def deadline_class(deadline: datetime | None, now: datetime) -> str:
    """overdue / due_soon / on_time, or none for a case whose clock has not started."""
    if deadline is None:
        return "none"
    if deadline < now:
        return "overdue"
    return "due_soon" if deadline - now < DUE_SOON else "on_time"


#: A case the centre has dispatched (派遣) and not taken back: past its own stages, the handling clock started (a
#: case parked before 派遣 has none). Until then the department the rules named is a suggestion, not its owner.
DISPATCHED = Incident.status.not_in(BEFORE_DISPATCH) & Incident.due_times.has_key(HANDLE_STAGE)


def is_dispatched(incident: Incident) -> bool:
    """DISPATCHED for a loaded case."""
    return incident.status not in BEFORE_DISPATCH and HANDLE_STAGE in (incident.due_times or {})


def case_conditions(zone: Zone) -> list[ColumnElement[bool]]:
    """SQL conditions for the cases in a zone."""
    conditions: list[ColumnElement[bool]] = []
    if zone.township_id is not None:
        conditions.append(Incident.township_id == zone.township_id)
    if zone.department_id is not None:
        conditions += [Incident.department_id == zone.department_id, DISPATCHED]
    return conditions


def zone_conditions(actor: Actor) -> list[ColumnElement[bool]]:
    """SQL conditions for the cases an actor may see in their city."""
    return [Incident.city_code == actor.city_code, *case_conditions(zone_of(actor))]


def reported_by(user_id: int | None) -> ColumnElement[bool]:
    """The cases this user reported (ix_case_events_reporter); an API key has no user and reports nothing here."""
    if user_id is None:
        return false()
    return Incident.id.in_(select(CaseEvent.incident_id).where(CaseEvent.action == "report",
                                                               CaseEvent.actor_id == user_id))


def reported_on_site() -> ColumnElement[bool]:
    """The cases staff reported on site (ON_SITE_ROLES): first-hand, so no one else's 核实 task; DOMAIN §4 has
    public and hotline reports verified on site before filing. One probe of the report, always event 1."""
    return exists().where(CaseEvent.incident_id == Incident.id, CaseEvent.seq == 1, CaseEvent.action == "report",
                          CaseEvent.actor_role.in_(ON_SITE_ROLES))


def visible_case(session: Session, actor: Actor, incident_id: int, *, own_reports: bool = False) -> Incident:
    """The case if the actor's zone holds it; NotFound otherwise, exactly as if it did not exist.
    own_reports (reading, never acting): the actor's own reports too, wherever they lie, so a squad member
    who reported in the next township follows that report until it closes."""
    seen = and_(*zone_conditions(actor))
    if own_reports:
        seen = or_(seen, (Incident.city_code == actor.city_code) & reported_by(actor.user_id))
    incident = session.scalar(select(Incident).where(Incident.id == incident_id, seen))
    if incident is None and not own_reports and _own_report(session, actor, incident_id):
        log.warning("refused case %s to %s (%s): their own report, outside their zone", incident_id, actor.label,
                    actor.role)
        raise Forbidden(f"case {incident_id} is your own report outside your zone: you follow it, the staff of its "
                        "zone work it", code="own_report_outside_zone")
    if incident is None:
        log.warning("refused case %s to %s (%s): not in their zone, or no such case", incident_id, actor.label,
                    actor.role)  # RELIABILITY 13: the attempt is logged, the answer leaks nothing
        raise NotFound(f"no case {incident_id}", code="case_not_found")
    return incident


def _own_report(session: Session, actor: Actor, incident_id: int) -> bool:
    """Whether the actor reported the case (which they read wherever it lies, but work only in their zone)."""
    return actor.user_id is not None and session.scalar(select(Incident.id).where(
        Incident.id == incident_id, Incident.city_code == actor.city_code, reported_by(actor.user_id))) is not None


def rule_for(state: str | None, action: str, may: Callable[[Transition], bool] | None = None) -> Transition:
    """The transition for (state, action), or Invalid listing what the state allows (to whoever `may` take, if
    given), in the workflow's order."""
    rule = RULES.get((state, action))
    if rule is None:
        allowed = [t.action for t in TRANSITIONS if state in t.sources and t.action != ABSORB_DUPLICATE
                   and (may is None or may(t))]
        what = f"cannot be {action!r}ed" if action in ACTIONS else f"has no action {action!r}"
        raise Invalid(f"a case that is {state} {what}; allowed now: {', '.join(allowed) or 'none'}",
                      code="illegal_action", details={"status": state, "action": action, "allowed": allowed})
    return rule


def roles_for(rule: Transition, extensions: int = 0) -> tuple[str, ...]:
    """Who may take the transition on a case with `extensions` granted: deciding an extension request is
    for the approvers of the next extension, everything else for the table's roles."""
    if rule.action in EXTENSION_DECISIONS:
        return extension_approvers(extensions)
    return rule.roles


#: The handler's actions: only the case's one accountable owner takes them.
HANDLER_ACTIONS = ("accept", "return", "handle", "request_extension")


def dispatched_elsewhere(role: str, action: str, incident: Incident) -> str | None:
    """The department whose case this is, when a squad member would take its handler's action: a case
    dispatched to a functional department (环卫, 园林 ...) is that department's to accept, handle or return,
    while the bureau's own cases (Department.worked_by_squads) are the stationed squad's. None: no objection."""
    if role not in SQUAD_ROLES or action not in HANDLER_ACTIONS or incident.owner_type != "department":
        return None
    return None if incident.department is None or incident.worked_by_squad else incident.department.name


#: 核查 verifies the handler's work on site, passed (check) or failed (rework): never by whoever did that work
#: (监管分离, supervision kept apart from handling).
CHECK_ACTIONS = ("check", "rework")


def checks_own_work(role: str, action: str, incident: Incident) -> bool:
    """Whether a squad member would 核查 a case their squad works (the bureau's, or the squad's own): that is
    for an inspector, or a squad checking a department's work."""
    return role in SQUAD_ROLES and action in CHECK_ACTIONS and incident.worked_by_squad


def objection(role: str, action: str, incident: Incident) -> Forbidden | None:
    """Why a role the table grants an action may still not take it on this case: the case is a functional
    department's (not_the_owner), or it is the squad's own work to be checked by someone else (own_work)."""
    owner = dispatched_elsewhere(role, action, incident)
    if owner is not None:
        return Forbidden(f"case {incident.id} is dispatched to {owner}: it accepts, handles or returns it",
                         code="not_the_owner", details={"department": owner})
    if checks_own_work(role, action, incident):
        return Forbidden(f"case {incident.id} is their squad's own work: its 核查 is for an inspector",
                         code="own_work", details={"action": action})
    return None


#: Actions the case's own reporter never takes: 核实 confirms (or refutes) someone else's report on site; one's
#: own field report is first-hand already, and the centre files it.
NOT_BY_REPORTER = ("verify", "refute")


def report_objection(session: Session, user_id: int | None, action: str, incident: Incident) -> Forbidden | None:
    """Forbidden when the user would take a NOT_BY_REPORTER action on a case they reported, or on one staff
    reported on site: first-hand, it is no one's 核实 (DOMAIN §4 verifies public and hotline reports), and the
    centre files it (one query, and only for those actions); None otherwise."""
    if action not in NOT_BY_REPORTER:
        return None
    own, first_hand = session.execute(select(reported_by(user_id), reported_on_site())
                                      .where(Incident.id == incident.id)).one()
    if own:
        return Forbidden(f"case {incident.id} is your own report: its {action} is for someone else on site",
                         code="own_report", details={"action": action})
    if first_hand:
        return Forbidden(f"case {incident.id} was reported on site by staff: it is first-hand, and the centre "
                         "files it without 核实", code="first_hand", details={"action": action})
    return None


def may_take(role: str, rule: Transition, incident: Incident | None = None) -> bool:
    """Whether the role may take the transition on the case: the table's grant (for an extension decision, the
    approvers of the case's next extension) and no objection. Admin may."""
    if role == "admin":
        return True
    extensions = incident.extensions if incident is not None else 0
    return role in roles_for(rule, extensions) and (incident is None or objection(role, rule.action, incident) is None)


def _nothing_to_decide(actor: Actor, action: str, incident: Incident | None) -> bool:
    """An approver of some extension deciding one on a case where none waits: after one extension was granted,
    the next one's approver (a higher role) was named instead, as if the supervisor lacked the right."""
    return (action in EXTENSION_DECISIONS and incident is not None and not incident.extension_request
            and any(actor.role in level for level in EXTENSION_APPROVERS))


def authorize(session: Session, actor: Actor, state: str | None, action: str, *,
              incident: Incident | None = None) -> Transition:
    """The transition for (state, action) if the actor may take it on the case (may_take, and not their own
    report's 核实); Invalid, or Forbidden saying who may or why not, otherwise. Every refusal is logged
    (RELIABILITY 13)."""
    case = f"case {incident.id}" if incident is not None else "a new case"
    try:
        rule = rule_for(state, action, lambda t: may_take(actor.role, t, incident))
    except Invalid:
        log.warning("refused %s by %s (%s) on %s (%s): not a step of the workflow", action, actor.label,
                    actor.role, case, state)
        raise
    if _nothing_to_decide(actor, action, incident):  # who decides is by the waiting request's level: none waits
        log.warning("refused %s by %s on %s: no extension request waits", action, actor.label, case)
        raise _none_waiting()
    _check_role(actor, action, roles_for(rule, incident.extensions if incident is not None else 0), case, state)
    refused = (objection(actor.role, action, incident) or report_objection(session, actor.user_id, action, incident)
               if incident is not None and actor.role != "admin" else None)
    if refused is not None:
        log.warning("refused %s by %s (%s) on %s: %s", action, actor.label, actor.role, case, refused)
        raise refused
    return rule


def _check_role(actor: Actor, action: str, roles: Collection[str], case: str, state: str | None) -> None:
    """role_forbidden (logged) unless the actor's role is one of `roles`."""
    if actor.role != "admin" and actor.role not in roles:
        log.warning("refused %s by %s (%s) on %s (%s): not their role", action, actor.label, actor.role, case, state)
        raise Forbidden(f"the role {actor.role} may not {action} this case; that needs {' or '.join(roles)}",
                        code="role_forbidden", details={"role": actor.role, "action": action, "needs": list(roles)})


def _check_role_ever(actor: Actor, action: str, incident: Incident) -> None:
    """role_forbidden rather than stale_version: a role that may take the action in no state hears so, not
    "reload and retry" (a viewer quoting an old version got 409, then the 403 after reloading)."""
    roles = tuple(dict.fromkeys(role for t in RULES_OF.get(action, ()) for role in roles_for(t, incident.extensions)))
    if roles:  # an unknown action: authorize names it
        _check_role(actor, action, roles, f"case {incident.id}", incident.status)


def _department(session: Session, city_code: str, code: str) -> Department:
    dept = session.scalar(select(Department).where(Department.city_code == city_code, Department.code == code))
    if dept is None:
        raise Invalid(f"unknown department {code!r}", code="unknown_department")
    return dept


def stage_limit(city_code: Any, category_id: Any, stage: str) -> ScalarSelect[str | None]:
    """A stage's working-time limit other than 处置's: the category's StageLimit row, else the city default
    (category NULL); NULL: the stage has no clock. SQL expressions in, so a statement built once can use it."""
    return (select(StageLimit.time_limit).where(
        StageLimit.city_code == city_code, StageLimit.stage == stage,
        or_(StageLimit.category_id == category_id, StageLimit.category_id.is_(None)))
        .order_by(StageLimit.category_id.nulls_last()).limit(1).scalar_subquery())


def _limit_of(incident: Incident, stage: str) -> ColumnElement[str | None]:
    """This case's limit for `stage`, as a column: 处置 is the minor class's handling limit."""
    if stage == HANDLE_STAGE:
        return literal(incident.category.time_limit, String)
    return stage_limit(incident.city_code, incident.category_id, stage)


ClockFacts = tuple[str | None, WorkCalendar, datetime]


def _clock_facts(session: Session, incident: Incident, stage: str) -> ClockFacts:
    """The stage's limit, the city's calendar and the transaction's now(), read in one statement."""
    row = session.execute(calendar_stamp(incident.city_code)
                          .add_columns(_limit_of(incident, stage).label("limit"), func.now().label("now"))).first()
    if row is None:
        raise Invalid(f"unknown city {incident.city_code}", code="unknown_city")
    return row.limit, city_calendar(session, incident.city_code, row), row.now


def _utc(moment: datetime) -> str:
    """due_times in UTC, like every other time the API answers, whatever zone the calendar counted in."""
    return moment.astimezone(UTC).isoformat()


def handle_due(incident: Incident) -> datetime | None:
    """When the case is to be handled (处置时限: set at 派遣, moved by an approved 延期, an imported case's source
    deadline), or None before it is dispatched: what a citizen may expect, unlike the running stage's deadline."""
    due = (incident.due_times or {}).get(HANDLE_STAGE, {}).get("due")
    return datetime.fromisoformat(due) if due else None


def start_stage(session: Session, incident: Incident, stage: str, now: datetime) -> dict[str, Any]:
    """The column values that start `stage`'s clock at `now`."""
    limit, calendar, _ = _clock_facts(session, incident, stage)
    return _started(incident, stage, now, limit, calendar)


def _started(incident: Incident, stage: str, now: datetime, limit: str | None,
             calendar: WorkCalendar) -> dict[str, Any]:
    """deadline_at is what the sweep, lists, markers and tiles read; due_times keeps every stage's clock for
    the history. Clearing overdue_at lets the sweep escalate the new deadline once more."""
    due = deadline(now, limit, calendar) if limit else None
    entry = {"started": _utc(now), "due": _utc(due) if due else None, "limit": limit}
    return {"deadline_at": due, "overdue_at": None, "due_times": {**(incident.due_times or {}), stage: entry}}


def _clock(session: Session, incident: Incident, action: str, target: str, now: datetime) -> dict[str, Any]:
    """Start the clock of the stage `target` waits on when the stage changes (or the action restarts it);
    stop it in a state without a stage."""
    stage = STAGE_CLOCKS.get(target)
    if stage is None:
        return {"deadline_at": None}
    if stage != STAGE_CLOCKS.get(incident.status) or action in RESTARTS:
        return start_stage(session, incident, stage, now)
    return {}


def start_report_clock(session: Session, incident: Incident, facts: ClockFacts | None = None) -> Incident:
    """Start the clock of a reported case (the centre must file it) from its report time: the transaction's
    now() -- what the column's default stores -- unless the case says otherwise.

    Passed to open_case as `clock`, it runs before the INSERT, which then carries the deadline (no UPDATE,
    no flush of its own). Imported history starts none: it keeps the state and deadline the old system
    recorded.
    """
    stage = STAGE_CLOCKS[incident.status]
    limit, calendar, now = facts or _clock_facts(session, incident, stage)
    incident.reported_at = incident.reported_at or now
    for column, value in _started(incident, stage, incident.reported_at, limit, calendar).items():
        setattr(incident, column, value)
    return incident


def _dispatch(session: Session, incident: Incident, now: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    """派遣/改派 to a named department: it owns the case now, and the routing explanation says the centre chose it
    (pages show it as 派遣依据; the rules' steps stay before it). Without one, to whoever answers locally."""
    if not payload.get("department"):
        return _dispatch_locally(incident)
    department = _department(session, incident.city_code, payload["department"])
    chosen = {"department_id": department.id, "owner_type": "department"}
    if department.id == incident.department_id:  # the department the rules named: nothing new to explain
        return chosen
    return {**chosen, **_explained(incident, "centre_dispatch", name=department.name)}


def local_owner(incident: Incident) -> tuple[str, Squad | Division] | None:
    """Who answers for a case no department has: the squad stationed there, else the township (属地兜底)."""
    return next(((kind, row) for kind, row in (("squad", incident.squad), ("township", incident.township))
                 if row is not None), None)


def _dispatch_locally(incident: Incident) -> dict[str, Any]:
    """派遣 with no department named: the rules' department keeps the case; a case with none (no rule, or one its
    department returned) goes to its local_owner. Never to no one: the centre would have dispatched the case to
    itself, and no one would be told."""
    if incident.department_id is not None:
        return {}
    local = local_owner(incident)
    if local is None:
        raise Invalid("the case has no department, squad or township to answer for it: name the department to "
                      "dispatch it to", code="missing_fields", details=["department"])
    kind, row = local
    return {"owner_type": kind, **_explained(incident, "centre_dispatch_local", name=row.name)}


def _redispatch(session: Session, incident: Incident, now: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    """改派 to another department. To the one that has the case it would only restart its clock (a late case
    made on time again) and count against 准确派遣率, so it is refused."""
    department = _department(session, incident.city_code, payload["department"])
    if incident.owner_type == "department" and department.id == incident.department_id:
        raise Invalid(f"the case is with {department.name} already: 改派 names another department",
                      code="same_department", details={"department": department.name})
    return _dispatch(session, incident, now, payload)


def _explained(incident: Incident, key: str, **params: str) -> dict[str, Any]:
    """The case's routing explanation with one more step (a REASON_TEXT key): in words, and in its steps when it
    has them (imported history keeps only words, which pages then show as they are)."""
    words = "; ".join(filter(None, (incident.routing_reason, REASON_TEXT[key].format(**params))))
    steps = [*incident.routing_steps, [key, params]] if incident.routing_steps else incident.routing_steps
    return {"routing_reason": words, "routing_steps": steps}


def _return(session: Session, incident: Incident, now: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    """回退: the department says "not ours"; the centre owns the case (and the dispatch clock) again."""
    # the bureau's case is the squad's work: the squad gives it back, not the bureau
    worker = incident.squad if incident.worked_by_squad and incident.squad is not None else incident.department
    returned_by = worker.name if worker is not None else ""
    return {"department_id": None, "owner_type": "centre",
            **_explained(incident, "returned_to_centre", name=returned_by)}


def _request_extension(session: Session, incident: Incident, now: datetime,
                       payload: dict[str, Any]) -> dict[str, Any]:
    if incident.extension_request:
        raise Conflict(f"an extension of {incident.extension_request} is already waiting for approval",
                       code="extension_pending", details={"duration": incident.extension_request})
    calendar = city_calendar(session, incident.city_code)
    shortest, longest = (parse_limit(limit, calendar) for limit in EXTENSION_RANGE)
    try:
        asked = parse_limit(payload["duration"], calendar)
    except Invalid:  # "abc", "1w", "1.5h": the same answer as a duration out of range, with its words
        asked = None
    if asked is None or not shortest <= asked <= longest:
        raise Invalid(f"an extension is {EXTENSION_RANGE[0]} to {EXTENSION_RANGE[1]} of working time, written like "
                      f"4h or 2d, not {payload['duration']}; a case that cannot be done for longer is parked (挂账)",
                      code="bad_extension", details={"duration": payload["duration"], "shortest": EXTENSION_RANGE[0],
                                                     "longest": EXTENSION_RANGE[1]})
    return {"extension_request": payload["duration"]}


def _none_waiting() -> Invalid:
    return Invalid("no extension is waiting for approval", code="no_extension_request")


def _decided_request(incident: Incident, payload: dict[str, Any]) -> str:
    """The waiting extension request; its duration goes into the decision's event ("批准延期（2 个工作日）")."""
    if not incident.extension_request:
        raise _none_waiting()
    payload["duration"] = incident.extension_request
    return incident.extension_request


def _approve_extension(session: Session, incident: Incident, now: datetime,
                       payload: dict[str, Any]) -> dict[str, Any]:
    requested = _decided_request(incident, payload)
    calendar = city_calendar(session, incident.city_code)
    granted = parse_limit(requested, calendar)
    # The running clock counts from the deadline, or from now when it has passed: a day granted to a late case
    # is a day from now, not a deadline still in the past (overdue again at the next sweep). What the case is
    # judged by (the handling deadline the evaluation reads) counts from the deadline: it was late.
    due = calendar.add(incident.deadline_at or now, granted)
    handle = {**(incident.due_times or {}).get(HANDLE_STAGE, {}), "due": _utc(due)}
    return {"deadline_at": max(due, calendar.add(now, granted)),
            "due_times": {**(incident.due_times or {}), HANDLE_STAGE: handle},
            "extensions": incident.extensions + 1, "extension_request": None, "overdue_at": None}


def _reject_extension(session: Session, incident: Incident, now: datetime,
                      payload: dict[str, Any]) -> dict[str, Any]:
    """The request is refused with a reason: the deadline stays, and the handler may ask again."""
    _decided_request(incident, payload)
    return {"extension_request": None}


def _relocate(session: Session, incident: Incident, now: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    """分拣: the centre places a case that came without a usable place (an address-only Open311 request, a
    point in no grid), or at the wrong one, and it is located and routed again as if reported there."""
    loc = locate(session, incident.city_code, payload["lon"], payload["lat"], crs=payload.get("crs") or "wgs84",
                 category=incident.category,  # a component case keeps its component (and its maintainer)
                 component_code=incident.component.code if incident.component_id else None)
    return location_values(loc)


def _cancel(session: Session, incident: Incident, now: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    if payload["reason"] not in CANCEL_REASONS:
        raise Invalid(f"a case is cancelled as one of: {', '.join(CANCEL_REASONS)}", code="bad_cancel_reason")
    return {"closed_at": now}


Effect = Callable[[Session, Incident, datetime, dict[str, Any]], dict[str, Any]]
#: What an action changes besides the state and the stage clock (_clock).
EFFECTS: dict[str, Effect] = {
    "dispatch": _dispatch,
    "redispatch": _redispatch,
    "return": _return,
    "request_extension": _request_extension,
    "approve_extension": _approve_extension,
    "reject_extension": _reject_extension,
    "close": lambda s, i, now, p: {"closed_at": now},
    "cancel": _cancel,
    "relocate": _relocate,
    "reopen": lambda s, i, now, p: {"closed_at": None},
}


def _guarded_update(session: Session, incident: Incident, expected_version: int, values: dict[str, Any]) -> None:
    """UPDATE ... WHERE version = :expected: of two concurrent writers exactly one matches a row."""
    row = session.execute(
        update(Incident).where(Incident.id == incident.id, Incident.version == expected_version)
        .values(version=Incident.version + 1, **values).returning(Incident.version)
        .execution_options(synchronize_session=False)).first()
    if row is None:  # the writer that won has committed: its version is the one to reload
        current = session.scalar(select(Incident.version).where(Incident.id == incident.id))
        raise Conflict("case changed, reload", code="stale_version", details={"version": current})
    session.refresh(incident)


def act(session: Session, incident_id: int, action: str, actor: Actor, expected_version: int, *,
        at: datetime | None = None, **payload: Any) -> Incident:
    """Take one workflow action on a case, checking zone, version, transition, role and payload.

    `at` back-fills history (the demo's worked cases, tests): the action happened then, not at the
    transaction's now(), so the stage clock it starts, closed_at and the event's time count from it. It may
    not lie in the future nor before the case's last event (grids.incidents.check_event_time);
    HTTP callers never pass it.
    """
    incident = visible_case(session, actor, incident_id)
    if incident.version != expected_version:
        _check_role_ever(actor, action, incident)
        raise Conflict("case changed, reload", code="stale_version", details={"version": incident.version})
    rule = authorize(session, actor, incident.status, action, incident=incident)
    payload = {name: value.strip() if isinstance(value, str) else value for name, value in payload.items()}
    missing = [name for name in rule.required if not payload.get(name)]  # a reason of spaces is no reason
    if missing:
        raise Invalid(f"{action} needs: {', '.join(missing)}", code="missing_fields", details=missing)
    if at is not None:  # refused before the case changes, not only when its event is written
        check_event_time(session, incident.id, at)
    now = at or session.scalar(select(func.now()))
    from_status = incident.status
    target = rule.target or from_status
    values = {**_clock(session, incident, action, target, now),
              **({"extension_request": None} if action in DROP_EXTENSION_REQUEST else {}),
              **EFFECTS.get(action, lambda s, i, n, p: {})(session, incident, now, payload)}
    _guarded_update(session, incident, expected_version, {"status": target, **values})
    note = payload.get("note") or payload.get("reason")
    data = {k: v for k, v in payload.items() if k not in ("note",) and v is not None} or None
    record_event(session, incident, action, actor_id=actor.user_id, actor_role=actor.role,
                 from_status=from_status, note=note, data=data, at=at)
    return incident


def _unknown_category(value: str) -> Invalid:
    return Invalid(f"unknown category {value!r}: use a minor class code such as E0101 "
                   "(list them at /open311/v2/services.json)", code="unknown_category")


def _minor_class(city_code: Any, value: Any) -> ColumnElement[bool]:
    """A minor class (the classes cases are reported in) of the city, named by its code, its Chinese or English
    name, or "code name" as pickers list it (codes are free-form in catalogs, so no pattern could split that);
    letter case and surrounding spaces do not matter (e0101, "exposed garbage "), as in the bulk import."""
    named = func.lower(func.btrim(value))
    return and_(Category.city_code == city_code, Category.parent_id.is_not(None),
                or_(*(func.lower(label) == named for label in (
                    Category.code, Category.name, Category.name_en, Category.code + " " + Category.name,
                    Category.code + " " + Category.name_en))))


def _exact_code_first(value: Any) -> tuple[ColumnElement[Any], ...]:
    """The order among matches: the class whose code is the text as written, then by code (e01 and E01 in
    one catalog would both match "e01"; the one written so is meant)."""
    return (case((Category.code == func.btrim(value), 0), else_=1), Category.code)


def category_by_code(session: Session, city_code: str, value: str) -> Category:
    """A minor class by its code or name, or Invalid naming the fix."""
    category = session.scalar(select(Category).where(_minor_class(city_code, value))
                              .order_by(*_exact_code_first(value)).limit(1))
    if category is None:
        raise _unknown_category(value)
    return category


#: What a report needs before its case is stored, in one statement built once: the minor class by code or
#: name, and for its first stage clock (立案) the limit, the city calendar's stamp and now().
_REPORTED_IN = prepared(calendar_stamp(bindparam("city_code", type_=String))
                .add_columns(Category, stage_limit(City.code, Category.id, STAGE_CLOCKS["reported"]).label("limit"),
                             func.now().label("now"))
                .join(Category, _minor_class(City.code, bindparam("category", type_=String)))
                .order_by(*_exact_code_first(bindparam("category", type_=String))).limit(1))


def report(session: Session, actor: Actor, category_code: str, x: float | None, y: float | None, *,
           crs: str = "wgs84", source: str, description: str, **details: Any) -> Incident:
    """Take in a report from any channel, if the actor's role may report."""
    authorize(session, actor, None, "report")
    row = session.execute(_REPORTED_IN, {"city_code": actor.city_code, "category": category_code}).first()
    if row is None:
        raise _unknown_category(category_code)
    facts = (row.limit, city_calendar(session, actor.city_code, row), row.now)
    return open_case(session, actor.city_code, row.Category, x, y, crs=crs, source=source, description=description,
                     actor=actor, clock=partial(start_report_clock, facts=facts), **details)


def escalate_overdue(session: Session, now: datetime | None = None, *,
                     backfill: Iterable[int] | None = None) -> list[int]:
    """Mark and escalate (督办) every case past its stage deadline; each deadline is escalated exactly once.

    The guarded UPDATE (overdue_at IS NULL) makes a concurrent or restarted sweeper find nothing twice;
    the next stage's start clears overdue_at, so its deadline is escalated once in turn.
    `backfill` (the demo's worked cases) sweeps only these cases, whose history is being written up to
    `now`: what a sweeper running back then would have said, so the mark and the event take the deadline's
    time (check_event_time: in order with the history), not the time of the late action that follows.
    """
    clock = now if now is not None else func.now()
    scope = [] if backfill is None else [Incident.id.in_(backfill)]
    rows = session.execute(
        update(Incident).where(Incident.deadline_at < clock, Incident.overdue_at.is_(None),
                               Incident.status.in_(CLOCK_STATES), *scope)
        .values(overdue_at=clock if backfill is None else Incident.deadline_at, version=Incident.version + 1)
        .returning(Incident.id).execution_options(synchronize_session=False)).scalars().all()
    for incident_id in rows:
        incident = session.get(Incident, incident_id, populate_existing=True)
        at = None if backfill is None else incident.deadline_at
        if at is not None:
            check_event_time(session, incident.id, at)
        record_event(session, incident, "escalate", actor_role=SYSTEM_ROLE, from_status=incident.status,
                     note="overdue", data={"stage": STAGE_CLOCKS[incident.status],
                                           "deadline_at": incident.deadline_at.isoformat()}, at=at)
    return list(rows)


#: The advisory lock key of the overdue sweep ("grid" in ASCII): one process sweeps at a time.
SWEEP_LOCK = 0x67726964


def sweep_if_free(session: Session) -> list[int] | None:
    """Escalate overdue cases unless another process is sweeping now (None then).

    The rows already make escalation happen once; the transaction-scoped advisory lock keeps two servers
    (or a server and cron's `gridlink sla sweep`) from doing the same work at once and from waiting on
    each other's row locks.
    """
    if not session.scalar(select(func.pg_try_advisory_xact_lock(SWEEP_LOCK))):
        return None
    return escalate_overdue(session)


def replay(events: Iterable[CaseEvent]) -> str | None:
    """The state a case's events lead to, walking the same transition table (history is the truth)."""
    state: str | None = None
    for event in events:
        target = rule_for(state, event.action).target
        state = event.to_status if target == AS_RECORDED else target or state
    return state


def latest_event(query: Select[Any], case_ids: Sequence[int]) -> Select[Any]:
    """`query` over case events kept to each case's latest one (DISTINCT ON: one statement for all)."""
    return (query.where(CaseEvent.incident_id.in_(case_ids)).ext(distinct_on(CaseEvent.incident_id))
            .order_by(CaseEvent.incident_id, CaseEvent.seq.desc()))


def events_of(session: Session, incident_id: int) -> list[CaseEvent]:
    return list(session.scalars(select(CaseEvent).where(CaseEvent.incident_id == incident_id)
                                .order_by(CaseEvent.seq)))


def case_filter(status: str | None = None) -> ColumnElement[bool]:
    """Open311's two-state view of the workflow: closed or cancelled is closed, all else is open."""
    if status == "open":
        return Incident.status.in_(OPEN_STATES)
    if status == "closed":
        return Incident.status.in_(CLOSED_STATES)
    return true()
