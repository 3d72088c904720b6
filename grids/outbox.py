"""The notifications outbox: who must hear about which case action, written with the action's event.

Why an outbox and not a send: the message row commits (or rolls back) with the case event it is about,
so a relay (SMS, WeChat) reading undelivered rows never announces an action that did not happen, and
never misses one that did. (event_id, recipient) is unique and rows are inserted with ON CONFLICT DO
NOTHING, so writing the same event's messages again adds nothing.

Recipients are strings: "department:<id>", "squad:<id>", "township:<id>" for the case's accountable
owner, "role:<role>" for everyone of a role in the city (the dispatch centre, the supervisors), and
"role:<role>@township:<id>" for those of a zone-bound role (ZONED_ROLES) whose zone holds the case's
township: the staff bound to that township and those bound to none (city-wide).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from grids.errors import NotFound
from grids.models import CaseEvent, Category, Incident, OutboxMessage, extension_approvers

OWNER = "owner"  # stands for the case's accountable owner after the action
APPROVERS = "approvers"  # stands for the roles that decide the case's next extension (a second one: admin)
DISPATCH_CENTRE = "role:dispatcher"
SUPERVISORS = "role:supervisor"
INSPECTORS = "role:inspector"
ZONED_ROLES = (INSPECTORS,)  # who works in a township: only that township's (and the city-wide) hear of its cases

#: Which actions notify whom: the data a relay's audience is decided by (issue 4 item 8).
NOTIFY: dict[str, tuple[str, ...]] = {
    "dispatch": (OWNER,),
    "redispatch": (OWNER,),
    "rework": (OWNER,),
    "return": (DISPATCH_CENTRE,),
    "refute": (DISPATCH_CENTRE,),
    "handle": (DISPATCH_CENTRE,),
    "escalate": (OWNER, SUPERVISORS),
    "request_extension": (APPROVERS,),
    "approve_extension": (OWNER,),
    "reject_extension": (OWNER,),
}


#: States whose next step is not the owner's: the dispatch centre's (立案, 派遣, 结案) or the inspectors' (核查
#: of the handler's feedback on site). Whoever owns the case, they must act.
WAITING_ON = {"reported": DISPATCH_CENTRE, "verified": DISPATCH_CENTRE, "unfounded": DISPATCH_CENTRE,
              "filed": DISPATCH_CENTRE,
              "handled": INSPECTORS, "checked": DISPATCH_CENTRE}


def owner_recipient(incident: Incident) -> str:
    """Who must act next: the one accountable owner, or whoever the case waits on (an overdue filing is the
    centre's to hear about, not the department's the case will go to; an overdue 核查, the inspectors')."""
    if incident.status in WAITING_ON:
        return _in_zone(WAITING_ON[incident.status], incident)
    owner = incident.owner_type or ""
    if owner == "department" and incident.worked_by_squad and incident.squad_id is not None:
        owner = "squad"  # the bureau's own case: the squad stationed there does the work
    owner_ids = {"department": incident.department_id, "squad": incident.squad_id, "township": incident.township_id}
    owner_id = owner_ids.get(owner)
    return f"{owner}:{owner_id}" if owner_id else DISPATCH_CENTRE


def _in_zone(recipient: str, incident: Incident) -> str:
    """A zone-bound role narrowed to the case's township (an overdue 核查 in 游埠 is for 游埠's inspectors)."""
    if recipient in ZONED_ROLES and incident.township_id is not None:
        return f"{recipient}@township:{incident.township_id}"
    return recipient


def _resolve(incident: Incident, who: str) -> list[str]:
    if who == OWNER:
        return [owner_recipient(incident)]
    if who == APPROVERS:
        return [f"role:{role}" for role in extension_approvers(incident.extensions)]
    return [who]


def recipients(incident: Incident, action: str) -> list[str]:
    """Distinct recipients of an action on a case, in table order (the owner may be the centre itself)."""
    return list(dict.fromkeys(name for who in NOTIFY.get(action, ()) for name in _resolve(incident, who)))


def notify(session: Session, incident: Incident, event: CaseEvent | Row[Any]) -> int:
    """Queue the messages an event (a CaseEvent or the row record_event inserted) calls for; idempotent by
    (event_id, recipient). Returns rows added."""
    targets = recipients(incident, event.action)
    if not targets:
        return 0
    # the deadline as the event set it: a relay sending late tells this one, not the case's next stage's
    payload = {"action": event.action, "status": incident.status, "note": event.note,
               "category_id": incident.category_id,
               "deadline_at": incident.deadline_at.isoformat() if incident.deadline_at else None}
    rows = [{"city_code": incident.city_code, "event_id": event.id, "incident_id": incident.id,
             "kind": event.action, "recipient": who, "payload": payload} for who in targets]
    result = session.execute(insert(OutboxMessage).values(rows)
                             .on_conflict_do_nothing(index_elements=["event_id", "recipient"]))
    return result.rowcount


def list_messages(session: Session, *, undelivered: bool = False, after: int = 0,
                  limit: int = 1000) -> dict[str, Any]:
    """One page of messages oldest first, as a relay or an operator reads them: those after the id `after`;
    `total` counts every match (the page may hold fewer), `next_after` is where the next page starts (None:
    this page is the last), the same on every page. Times are ISO 8601, like the API's."""
    matching = [OutboxMessage.delivered_at.is_(None)] if undelivered else []
    where = [OutboxMessage.id > after, *matching]
    rows = session.execute(select(OutboxMessage, Category.code, Category.name, Incident.address, Incident.deadline_at)
                           .join(Incident, Incident.id == OutboxMessage.incident_id)
                           .join(Category, Category.id == Incident.category_id)
                           .where(*where).order_by(OutboxMessage.id).limit(limit + 1)).all()
    page = rows[:limit]
    return {"messages": [_message(*row) for row in page],
            "total": session.scalar(select(func.count()).select_from(OutboxMessage).where(*matching)),
            "next_after": page[-1][0].id if len(rows) > limit else None}


def _message(m: OutboxMessage, category_code: str, category_name: str, address: str | None,
             deadline: datetime | None) -> dict[str, Any]:
    """A message as a relay sends it: what happened (payload, at the event) and what the case is now (its
    class, address and deadline), so an SMS can say 暴露垃圾 at 游埠老街, due 17:00 without another lookup."""
    return {"id": m.id, "event_id": m.event_id, "incident_id": m.incident_id, "kind": m.kind,
            "recipient": m.recipient, "payload": m.payload, "created_at": m.created_at.isoformat(),
            "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
            "case": {"category_code": category_code, "category_name": category_name, "address": address,
                     "deadline_at": deadline.isoformat() if deadline else None}}


def mark_delivered(session: Session, ids: Sequence[int]) -> list[int]:
    """Mark messages delivered once; marking again keeps the first delivery time (at-least-once relays).
    An id that names no message refuses the whole call: a relay with a wrong id has a bug to hear about."""
    unknown = sorted(set(ids) - set(session.scalars(select(OutboxMessage.id).where(OutboxMessage.id.in_(ids)))))
    if unknown:
        raise NotFound(f"no outbox message {', '.join(map(str, unknown))}: nothing marked", code="unknown_message",
                       details={"unknown": unknown})
    rows = session.execute(update(OutboxMessage)
                           .where(OutboxMessage.id.in_(ids), OutboxMessage.delivered_at.is_(None))
                           .values(delivered_at=func.now()).returning(OutboxMessage.id)
                           .execution_options(synchronize_session=False))
    return sorted(rows.scalars())
