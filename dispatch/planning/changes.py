"""What each saved plan version changed for each request, why, and who was told.

`store.save` records, per request whose place in the plan changed: added (it had no agent),
moved (another agent), retimed (same agent, arrival moved by `RETIME_MINUTES` or more) or
dropped (no agent can make its window any more); `release` records it removed. The cause is
the event that made the plan change (`booking`, `leave`, `report:late`, `improved`, ...).
Whoever tells someone about a change adds it (`notified`): the itinerary sender for the
agent, the re-offer for the citizen and the console. The request's timeline shows them.

Not here: saving plans (`dispatch.planning.store`), telling anyone (`dispatch.fieldwork`,
`dispatch.visits.reoffer`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.db import utcnow
from dispatch.planning.models import PlanChange, PlanChangeKind
from dispatch.requests.models import DoorstepRequest

#: An arrival that moves by less is not a change worth a line (the plan re-times all day).
RETIME_MINUTES = 15


def kind_of(
    before_agent: int | None,
    before_arrival: dt.datetime | None,
    agent: int | None,
    arrival: dt.datetime | None,
) -> PlanChangeKind | None:
    """The change from (agent, arrival) before to after, or None if none worth recording."""
    if agent is None:
        return PlanChangeKind.DROPPED if before_agent is not None else None
    if before_agent is None:
        return PlanChangeKind.ADDED
    if before_agent != agent:
        return PlanChangeKind.MOVED
    if before_arrival is None or arrival is None:
        return None
    if abs((arrival - before_arrival).total_seconds()) >= RETIME_MINUTES * 60:
        return PlanChangeKind.RETIMED
    return None


class Recorder:
    """Collects one save's changes (`saw` each request before it is aligned)."""

    def __init__(
        self, session: Session, district_id: int, day: dt.date, version: int, cause: str, actor: str
    ) -> None:
        self.session = session
        self.district_id, self.day, self.version = district_id, day, version
        self.cause = cause[:120]
        self.actor = actor[:80]

    def saw(
        self, request: DoorstepRequest, agent_id: int | None, arrival: dt.datetime | None
    ) -> PlanChange | None:
        kind = kind_of(request.agent_id, request.planned_arrival, agent_id, arrival)
        if kind is None:
            return None
        return self.add(request, kind, agent_id, arrival)

    def add(
        self,
        request: DoorstepRequest,
        kind: PlanChangeKind,
        agent_id: int | None = None,
        arrival: dt.datetime | None = None,
    ) -> PlanChange:
        assert request.id is not None
        row = PlanChange(
            request_id=request.id,
            kind=kind,
            cause=self.cause,
            actor=self.actor,
            from_agent_id=request.agent_id,
            to_agent_id=agent_id,
            from_arrival=request.planned_arrival,
            to_arrival=arrival,
            district_id=self.district_id,
            day=self.day,
            version=self.version,
        )
        self.session.add(row)
        return row


def record(
    *,
    session: Session,
    request: DoorstepRequest,
    kind: PlanChangeKind,
    version: int,
    day: dt.date,
    cause: str,
    actor: str,
) -> PlanChange:
    """Record one change outside a save (a visit re-offered, or taken out of the plan)."""
    recorder = Recorder(session, request.district_id, day, version, cause, actor)
    return recorder.add(request, kind)


def notified(
    *,
    session: Session,
    request_id: int,
    who: str,
    how: str,
    ref: int | None,
    at: dt.datetime | None = None,
    day: dt.date | None = None,
    agent_id: int | None = None,
) -> int:
    """Note on the request's changes not yet told to `who` that `who` was told by `how` (`ref`:
    the message or call-back id); only the changes of `day` and those that concern `agent_id`
    (the visit came to them or left them), when given. Returns how many changes it noted."""
    stmt = select(PlanChange).where(PlanChange.request_id == request_id)
    if day is not None:
        stmt = stmt.where(PlanChange.day == day)
    if agent_id is not None:
        stmt = stmt.where(
            sa.or_(
                col(PlanChange.from_agent_id) == agent_id, col(PlanChange.to_agent_id) == agent_id
            )
        )
    entry: dict[str, Any] = {"who": who, "how": how, "id": ref, "at": (at or utcnow()).isoformat()}
    count = 0
    for change in session.exec(stmt.order_by(col(PlanChange.id))):
        if any(n.get("who") == who for n in change.notified):
            continue
        change.notified = [*change.notified, entry]
        session.add(change)
        count += 1
    return count


def for_request(*, session: Session, request_id: int) -> list[PlanChange]:
    """The request's plan changes, oldest first (its timeline)."""
    stmt = (
        select(PlanChange)
        .where(PlanChange.request_id == request_id)
        .order_by(col(PlanChange.at), col(PlanChange.id))
    )
    return list(session.exec(stmt))
