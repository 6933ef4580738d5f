"""Telling people what happens next: the agent's messages, and the citizen's "your agent",
"reminder" and "on the way" notices.

Each is queued in the transaction of what causes it, under an idempotency key that makes a
second run of a scheduled task (or a retried report) queue nothing twice. The words are data
(`seed_data/messages/`): agents read them in `settings.agent_language`, citizens in the
language of their request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.config import Settings
from dispatch.fieldwork import day
from dispatch.notifications import service as notification_service
from dispatch.notifications import texts as message_texts
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.states import service as state_service
from dispatch.visits import messages


def agent_zone(session: Session, agent: Agent) -> ZoneInfo:
    return day.timezone_of_state(session, agent.state_code)


def hhmm(when: dt.datetime | None, tz: dt.tzinfo) -> str:
    return when.astimezone(tz).strftime("%H:%M") if when is not None else "--:--"


def short(text: str, most: int = 30) -> str:
    """At most `most` characters (an SMS line, and DLT's limit on one variable)."""
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1].rstrip() + "."


def short_list(items: list[str], most: int = 30) -> str:
    """As many whole items as fit in `most` characters, then "+N" for the rest."""
    shown: list[str] = []
    for n, item in enumerate(items):
        rest = len(items) - n - 1
        candidate = ", ".join([*shown, item]) + (f" +{rest}" if rest else "")
        if len(candidate) > most:
            break
        shown.append(item)
    if not shown:
        return short(items[0], most) if items else "-"
    hidden = len(items) - len(shown)
    return ", ".join(shown) + (f" +{hidden}" if hidden else "")


def agent_text(settings: Settings, key: str, **values: object) -> str:
    texts = message_texts.load(settings.seed_dir / "messages")
    return texts.text(key, texts.language(settings.agent_language), **values)


def agent_money(settings: Settings, paise: int) -> str:
    texts = message_texts.load(settings.seed_dir / "messages")
    return texts.money(paise, texts.language(settings.agent_language))


def tell_agent(
    *,
    session: Session,
    settings: Settings,
    agent: Agent,
    key: str,
    kind: str,
    idempotency_key: str,
    now: dt.datetime,
    **values: object,
) -> int | None:
    """Queue message `key` to the agent's phone."""
    texts = message_texts.load(settings.seed_dir / "messages")
    state = state_service.get(session=session, code=agent.state_code)
    body = agent_text(settings, key, service_name=state.service_name, **values)
    message = notification_service.queue(
        session=session,
        to=agent.phone,
        body=body,
        kind=kind,
        template=key,
        language=texts.language(settings.agent_language),
        idempotency_key=idempotency_key,
        now=now,
    )
    return message.id


# --- "on the way" ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Departure:
    """The agent set off for this visit; its citizen was told the time (if they may be)."""

    request_id: int
    reference: str
    eta: str
    message_id: int | None


def set_off(
    *,
    session: Session,
    settings: Settings,
    agent_id: int,
    now: dt.datetime,
    not_later_than: dt.datetime | None = None,
) -> Departure | None:
    """Mark the agent's next visit of today `en_route` and tell its citizen "about HH:MM".

    Nothing when the agent is already at a door or on the way, or has no visit left; with
    `not_later_than`, only a visit planned by then (the first visit of the day, which nothing
    reported sets off)."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        return None
    tz = agent_zone(session, agent)
    today = day.visits(session=session, agent_id=agent_id, day=day.local_day(now, tz), tz=tz)
    if any(v.status in (RequestStatus.EN_ROUTE, RequestStatus.ARRIVED) for v in today):
        return None
    nxt = next((v for v in today if v.status is RequestStatus.ASSIGNED), None)
    if nxt is None:
        return None
    if not_later_than is not None and (nxt.eta is None or nxt.eta > not_later_than):
        return None
    request = request_service.transition(
        session=session,
        request_id=nxt.request_id,
        to=RequestStatus.EN_ROUTE,
        actor=f"agent:{agent_id}",
        now=now,
    )
    eta = hhmm(request.planned_arrival, tz)
    message_id = messages.tell_citizen(
        session=session,
        settings=settings,
        request=request,
        key="on_the_way",
        kind="on_the_way",
        now=now,
        idempotency_key=f"sms:on_the_way:{request.id}",
        agent=day.first_name(agent.name),
        time=eta,
    )
    return Departure(nxt.request_id, nxt.reference, eta, message_id)


def agents_due(*, session: Session, now: dt.datetime, lead: dt.timedelta) -> list[int]:
    """Agents with a visit planned within `lead` from now that nobody has set off yet."""
    stmt = (
        select(col(DoorstepRequest.agent_id))
        .where(
            col(DoorstepRequest.status) == RequestStatus.ASSIGNED.value,
            col(DoorstepRequest.agent_id).is_not(None),
            col(DoorstepRequest.planned_arrival) <= now + lead,
            col(DoorstepRequest.planned_arrival) >= now - dt.timedelta(hours=12),
        )
        .distinct()
    )
    return sorted(int(a) for a in session.exec(stmt) if a is not None)


# --- citizens: your agent, and the reminder ---------------------------------------------------


def agent_assigned(
    *,
    session: Session,
    settings: Settings,
    request: DoorstepRequest,
    agent: Agent,
    now: dt.datetime,
) -> int | None:
    """Tell the citizen who comes (name, CSC, phone), once per agent and visit."""
    return messages.tell_citizen(
        session=session,
        settings=settings,
        request=request,
        key="assigned",
        kind="assigned",
        now=now,
        idempotency_key=f"sms:assigned:{request.id}:{agent.id}",
        agent=short(agent.name),
        csc=agent.csc_id,
        agent_phone=agent.phone,
    )


def reminders(
    *,
    session: Session,
    settings: Settings,
    district_ids: list[int] | None,
    day_: dt.date,
    tz: ZoneInfo,
    now: dt.datetime,
) -> list[int]:
    """The day-before reminder, with how to change or cancel, to every citizen with a visit on
    `day_`; once per request and day."""
    start = dt.datetime.combine(day_, dt.time(), tz).astimezone(dt.UTC)
    stmt = select(DoorstepRequest).where(
        col(DoorstepRequest.status).in_(
            [RequestStatus.SCHEDULED.value, RequestStatus.ASSIGNED.value]
        ),
        col(DoorstepRequest.window_start) >= start,
        col(DoorstepRequest.window_start) < start + dt.timedelta(days=1),
    )
    if district_ids is not None:
        stmt = stmt.where(col(DoorstepRequest.district_id).in_(district_ids))
    ids = []
    for request in session.exec(stmt.order_by(col(DoorstepRequest.id))):
        message_id = messages.tell_citizen(
            session=session,
            settings=settings,
            request=request,
            key="reminder",
            kind="reminder",
            now=now,
            idempotency_key=f"sms:reminder:{request.id}:{day_.isoformat()}",
        )
        if message_id is not None:
            ids.append(message_id)
    return ids
