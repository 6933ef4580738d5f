"""Agents' itineraries: the day in order each morning, then only what changes.

`send_day` queues an agent's day once (a head message with the count, the first time and the
signed link to the day page, then one short message per visit: time, reference, citizen's
first name and phone, village and landmark, service, fee, documents — one DLT template each)
and tells each citizen who is coming. What the agent was told is kept (`Itinerary.visits`);
`send_changes` later sends the difference — added / moved / cancelled — as one message, and
only once the zone-day's plan has been still for `settings.itinerary_settle_minutes`, so a
burst of changes makes one message. Visits the agent finished themselves are not "changes".
Each message to an agent is noted on the plan changes it told them of (`told_agent`:
`PlanChange.notified`, as `agent:<id>` — a visit moved from one agent to another concerns
both), so the request's timeline says who was told.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.config import Settings
from dispatch.fieldwork import access, day, notices
from dispatch.fieldwork import rules as field_rules
from dispatch.fieldwork.models import Itinerary
from dispatch.geography.models import Block
from dispatch.planning import changes as plan_changes
from dispatch.planning.models import ZonePlan
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED

#: A change message lists at most this many changes, then "and N more" (one SMS, short).
MOST_CHANGES = 4


def agents_with_visits(
    *, session: Session, on: dt.date, tz: dt.tzinfo, district_id: int | None = None
) -> list[int]:
    start = dt.datetime.combine(on, dt.time(), tz).astimezone(dt.UTC)
    stmt = select(col(DoorstepRequest.agent_id)).where(
        col(DoorstepRequest.agent_id).is_not(None),
        col(DoorstepRequest.status).in_([s.value for s in PLANNED]),
        col(DoorstepRequest.window_start) >= start,
        col(DoorstepRequest.window_start) < start + dt.timedelta(days=1),
    )
    if district_id is not None:
        stmt = stmt.where(col(DoorstepRequest.district_id) == district_id)
    return sorted({int(a) for a in session.exec(stmt.distinct()) if a is not None})


def day_link(settings: Settings, agent_id: int, on: dt.date) -> str:
    token = access.day_token(settings=settings, agent_id=agent_id, day=on)
    return f"{settings.public_base_url.rstrip('/')}/a/{token}"


def _told(visits: list[day.DayVisit], tz: dt.tzinfo) -> list[field_rules.Told]:
    return [
        field_rules.Told(v.request_id, v.reference, notices.hhmm(v.eta or v.window_start, tz))
        for v in visits
        if v.open
    ]


def send_day(
    *, session: Session, settings: Settings, agent_id: int, on: dt.date, now: dt.datetime
) -> list[int]:
    """Queue the agent's itinerary for `on` unless it was sent already (then: nothing; later
    changes go by `send_changes`). Returns the ids of the messages queued."""
    existing = session.exec(
        select(Itinerary).where(Itinerary.agent_id == agent_id, Itinerary.day == on)
    ).first()
    agent = session.get(Agent, agent_id)
    if existing is not None or agent is None:
        return []
    tz = notices.agent_zone(session, agent)
    visits = [v for v in day.visits(session=session, agent_id=agent_id, day=on, tz=tz) if v.open]
    if not visits:
        return []
    told = _told(visits, tz)
    plan = district_plan(session=session, agent=agent, on=on)
    session.add(
        Itinerary(
            agent_id=agent_id,
            day=on,
            plan_version=plan.version if plan is not None else 0,
            visits=[asdict(t) for t in told],
            sent_at=now,
        )
    )
    session.flush()
    key = f"itinerary:{agent_id}:{on.isoformat()}"
    ids = [
        notices.tell_agent(
            session=session,
            settings=settings,
            agent=agent,
            key="itinerary_head",
            kind="itinerary",
            idempotency_key=f"{key}:head",
            now=now,
            date=f"{on:%d.%m}",
            count=len(visits),
            time=told[0].time,
            link=day_link(settings, agent_id, on),
        )
    ]
    for n, (visit, line) in enumerate(zip(visits, told, strict=True), start=1):
        message_id = notices.tell_agent(
            session=session,
            settings=settings,
            agent=agent,
            key="itinerary_visit",
            kind="itinerary",
            idempotency_key=f"{key}:{visit.request_id}",
            now=now,
            **_visit_values(settings, visit, line.time),
            n=n,
            count=len(visits),
        )
        ids.append(message_id)
        told_agent(
            session=session,
            agent_id=agent_id,
            request_id=visit.request_id,
            on=on,
            message_id=message_id,
            now=now,
        )
        ids.append(_assigned(session, settings, visit.request_id, agent, now))
    return [i for i in ids if i is not None]


def _visit_values(settings: Settings, visit: day.DayVisit, time: str) -> dict[str, object]:
    return {
        "time": time,
        "reference": visit.reference,
        "name": notices.short(visit.first_name, 20) or "-",
        "phone": visit.phone,
        "village": notices.short(visit.village, 24),
        "landmark": notices.short(visit.landmark, 30),
        "service": notices.short(visit.service, 30),
        "fee": notices.agent_money(settings, visit.fee_paise),
        "documents": notices.short_list(visit.documents, 30),
    }


def _assigned(
    session: Session, settings: Settings, request_id: int, agent: Agent, now: dt.datetime
) -> int | None:
    request = session.get(DoorstepRequest, request_id)
    assert request is not None
    return notices.agent_assigned(
        session=session, settings=settings, request=request, agent=agent, now=now
    )


def district_plan(*, session: Session, agent: Agent, on: dt.date) -> ZonePlan | None:
    """The plan of the agent's district and day (an agent works in their own district:
    `agent_service.available`)."""
    district_id = session.exec(
        select(col(Block.district_id)).where(Block.id == agent.block_id)
    ).first()
    return session.get(ZonePlan, (district_id, on)) if district_id is not None else None


def settled(*, settings: Settings, plan: ZonePlan | None, now: dt.datetime) -> bool:
    """Whether the plan has been still long enough (a burst of changes is over)."""
    quiet = dt.timedelta(minutes=settings.itinerary_settle_minutes)
    return plan is None or now - plan.updated_at >= quiet


def send_changes(
    *, session: Session, settings: Settings, agent_id: int, on: dt.date, now: dt.datetime
) -> list[int]:
    """Queue one message with what changed in the agent's day since they were last told, if
    anything did and the changes have settled; the new day becomes what they were told."""
    itinerary = session.exec(
        select(Itinerary).where(Itinerary.agent_id == agent_id, Itinerary.day == on)
    ).first()
    agent = session.get(Agent, agent_id)
    if itinerary is None or agent is None:
        return []
    plan = district_plan(session=session, agent=agent, on=on)
    version = plan.version if plan is not None else 0
    if version == itinerary.plan_version or not settled(settings=settings, plan=plan, now=now):
        return []  # nothing changed since the last look, or it is still changing
    itinerary.plan_version = version
    session.add(itinerary)
    tz = notices.agent_zone(session, agent)
    visits = day.visits(session=session, agent_id=agent_id, day=on, tz=tz)
    told = [field_rules.Told(**v) for v in itinerary.visits]
    current = _told(visits, tz)
    finished = {v.request_id for v in visits if v.finished}
    found = field_rules.changes(told, current, finished)
    if not found:
        return []
    by_id = {v.request_id: v for v in visits}
    lines = [
        notices.agent_text(
            settings, "change_added", **_visit_values(settings, by_id[t.request_id], t.time)
        )
        for t in found.added
    ]
    lines += [
        notices.agent_text(settings, "change_moved", reference=t.reference, time=t.time)
        for t in found.moved
    ]
    lines += [
        notices.agent_text(settings, "change_removed", reference=t.reference) for t in found.removed
    ]
    if len(lines) > MOST_CHANGES:
        more = notices.agent_text(settings, "change_more", count=len(lines) - MOST_CHANGES + 1)
        lines = [*lines[: MOST_CHANGES - 1], more]
    itinerary.updates += 1
    itinerary.visits = [asdict(t) for t in current if t.request_id not in finished]
    session.add(itinerary)
    session.flush()
    message_id = notices.tell_agent(
        session=session,
        settings=settings,
        agent=agent,
        key="itinerary_changes",
        kind="itinerary_changes",
        idempotency_key=f"itinerary:{agent_id}:{on.isoformat()}:update:{itinerary.updates}",
        now=now,
        date=f"{on:%d.%m}",
        changes="; ".join(lines),
    )
    # The visits past MOST_CHANGES were told as "and N more": the day page has them.
    for t in [*found.added, *found.moved, *found.removed]:
        told_agent(
            session=session,
            agent_id=agent_id,
            request_id=t.request_id,
            on=on,
            message_id=message_id,
            now=now,
        )
    ids = [message_id]
    ids += [_assigned(session, settings, t.request_id, agent, now) for t in found.added]
    return [i for i in ids if i is not None]


def told_agent(
    *,
    session: Session,
    agent_id: int,
    request_id: int,
    on: dt.date,
    message_id: int | None,
    now: dt.datetime,
) -> int:
    """Note on the request's plan changes of day `on` that concern the agent (the visit came
    to them, left them or moved in their day) and that they had not been told of, that this
    message about their day `on` told them (`agent:<id>`, by SMS, as
    `dispatch.planning.changes.notified` notes). A change that never touched them — the
    booking with the agent they took the visit over from, or the next agent's taking it after
    it left them — is not theirs to have been told, nor is a change of another day (a visit
    rescheduled to another day of theirs: the message saying it left this day does not tell
    them of it on the other). Returns how many changes it noted."""
    return plan_changes.notified(
        session=session,
        request_id=request_id,
        who=f"agent:{agent_id}",
        how="sms",
        ref=message_id,
        at=now,
        day=on,
        agent_id=agent_id,
    )
