"""Demo data: one request per demo citizen (`seed_data/<state>/citizens.csv`), booked through
the booking use case into the earliest window the live plans can meet; and twelve weeks of
history before it (`add_demo_history`), made by the same use cases at their past times.

Touches demo citizens only, and each of them once per database: the idempotency key is the
citizen's, so a second `make run` books nothing again (not even for a demo citizen who has
cancelled meanwhile) and real callers are never touched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlmodel import Session, col, select

from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import utcnow
from dispatch.planning import service as planning
from dispatch.planning.service import WindowTaken
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.visits import service as visits
from dispatch.visits.models import VisitCommand

ACTOR = "demo"
#: The phone-menu PIN of every demo agent (development only: `doorstep seed --demo`).
DEMO_AGENT_PIN = "2580"


def demo_key(citizen: Citizen) -> str:
    return f"demo:{citizen.state_code}:{citizen.phone}"


def add_demo_day(
    *, session: Session, settings: Settings, state_code: str, now: dt.datetime | None = None
) -> int:
    """Book a request for each demo citizen of the state not booked before; returns how many
    were booked now."""
    now = now or utcnow()
    services = catalogue_service.most_requested(session=session, state_code=state_code, limit=10)
    citizens = session.exec(
        select(Citizen)
        .where(Citizen.state_code == state_code, col(Citizen.demo))
        .order_by(col(Citizen.id))
    ).all()
    done = set(
        session.exec(
            select(VisitCommand.idempotency_key).where(
                col(VisitCommand.idempotency_key).in_([demo_key(c) for c in citizens])
            )
        )
    )
    made = 0
    for i, citizen in enumerate(citizens):
        address = citizen_service.last_address(session=session, citizen_id=citizen.id or 0)
        if demo_key(citizen) in done or address is None or address.id is None or not services:
            continue
        service = services[i % len(services)]
        assert citizen.id is not None and service.id is not None
        offers = planning.offer_windows(
            session=session,
            settings=settings,
            address_id=address.id,
            service_id=service.id,
            language=citizen.language,
            now=now,
            limit=1,
        )
        try:
            visits.book_visit(
                session=session,
                settings=settings,
                idempotency_key=demo_key(citizen),
                actor=ACTOR,
                channel=Channel.CONSOLE,
                state_code=state_code,
                citizen_id=citizen.id,
                address_id=address.id,
                service_id=service.id,
                offer=offers[0] if offers else None,
                now=now,
            )
        except WindowTaken:
            continue
        made += 1
    return made


def give_demo_pins(*, session: Session, state_code: str) -> int:
    """Give the state's agents without a PIN the demo PIN; returns how many got it."""
    from dispatch.agents.models import Agent
    from dispatch.fieldwork import access

    agents = session.exec(
        select(Agent).where(Agent.state_code == state_code, col(Agent.pin_hash).is_(None))
    ).all()
    for agent in agents:
        assert agent.id is not None
        access.set_pin(session=session, agent_id=agent.id, pin=DEMO_AGENT_PIN, actor=ACTOR)
    return len(agents)


# --- twelve weeks of history ---------------------------------------------------------------

HISTORY_WEEKS = 12
#: Visits booked in each past week (spread over its working days).
HISTORY_PER_WEEK = 9
#: Of every 20 visits: how they ended (the rest were completed and rated).
_FAILED, _NEVER_DONE = 1, 1
#: Of every 20 visits, those the agent reached after the promised window.
_LATE = frozenset({6, 13})
#: Ratings drawn for completed visits: mostly good, a few poor (which open grievances).
_RATINGS = (5, 5, 5, 4, 4, 4, 4, 3, 3, 5, 1, 5, 4, 5, 4, 3, 5, 4, 2, 5, 4, 5, 4, 3, 5)


#: What citizens wrote with some ratings (the demo's; real comments come by SMS).
_COMMENTS: dict[int, tuple[str, ...]] = {
    1: ("agent asked 100 rupees more", "came very late, waited all day"),
    2: ("came two hours late", "agent did not have the form", "rude on the phone"),
    5: ("very helpful, thank you", "", "", "done in 20 minutes at home"),
}
#: The demo supervisor's notes on closing a grievance (internal; never sent to the citizen).
_NOTES = (
    "Spoke to the agent; the extra money was returned to the citizen in cash.",
    "Agent's bike broke down on the way; route reviewed with the district coordinator.",
    "Called the citizen; the form is now carried in the agent's kit.",
    "Checked the call recording; no fault found, the citizen was thanked.",
)


def history_key(state_code: str, week: int, n: int, step: str = "book") -> str:
    return f"demo-history:{state_code}:{week}:{n}:{step}"


def add_demo_history(
    *,
    session: Session,
    settings: Settings,
    state_code: str,
    now: dt.datetime | None = None,
    weeks: int = HISTORY_WEEKS,
    per_week: int = HISTORY_PER_WEEK,
) -> int:
    """Twelve weeks of demo requests before `now`, made by the real use cases at their past
    times: booked into the plans of their days, most completed at the door (the fee collected,
    cash or UPI) and rated by the citizen (a poor rating opens a grievance), a few failed, a few
    never visited; and requests logged in the last weeks still waiting for a window. What the
    supervision pages (pendency, fees, feedback) show on a fresh `make run`.

    Once per database and state: the first booking's key marks it done. Returns how many
    requests were made."""
    import random
    import zoneinfo

    from dispatch.fieldwork import replies
    from dispatch.fieldwork import service as fieldwork
    from dispatch.fieldwork.commands import FailReason
    from dispatch.fieldwork.models import Feedback
    from dispatch.states.models import State

    now = now or utcnow()
    first = history_key(state_code, weeks, 0)
    if session.exec(select(VisitCommand).where(VisitCommand.idempotency_key == first)).first():
        return 0
    state = session.get(State, state_code)
    services = catalogue_service.most_requested(session=session, state_code=state_code, limit=10)
    citizens = session.exec(
        select(Citizen)
        .where(Citizen.state_code == state_code, col(Citizen.demo))
        .order_by(col(Citizen.id))
    ).all()
    if state is None or not services or not citizens:
        return 0
    tz = zoneinfo.ZoneInfo(state.timezone)
    today = now.astimezone(tz).date()
    pick = random.Random(f"doorstep-demo-history:{state_code}")  # the same history each time
    made = 0
    for week in range(weeks, 0, -1):
        for n in range(per_week):
            day = today - dt.timedelta(days=7 * week - n % 6)
            booked_at = dt.datetime.combine(day, dt.time(8, pick.randrange(0, 50)), tz)
            citizen = citizens[pick.randrange(len(citizens))]
            service = services[pick.randrange(len(services))]
            address = citizen_service.last_address(session=session, citizen_id=citizen.id or 0)
            if address is None or address.id is None or service.id is None:
                continue
            assert citizen.id is not None
            offers = planning.offer_windows(
                session=session,
                settings=settings,
                address_id=address.id,
                service_id=service.id,
                language=citizen.language,
                now=booked_at,
                limit=1,
            )
            try:
                booked = visits.book_visit(
                    session=session,
                    settings=settings,
                    idempotency_key=history_key(state_code, week, n),
                    actor=ACTOR,
                    channel=Channel.IVR if n % 3 else Channel.CONSOLE,
                    state_code=state_code,
                    citizen_id=citizen.id,
                    address_id=address.id,
                    service_id=service.id,
                    offer=offers[0] if offers else None,
                    now=booked_at,
                )
            except WindowTaken:
                continue
            made += 1
            request = session.get(DoorstepRequest, booked.request_id)
            if request is None or request.agent_id is None or request.window_start is None:
                continue
            fate = (week * per_week + n) % 20
            if fate < _NEVER_DONE:
                continue  # the agent never came: an open request past its promised window
            at_door = request.window_start + dt.timedelta(minutes=pick.randrange(5, 50))
            if fate in _LATE and request.window_end is not None:  # held up on the way
                at_door = request.window_end + dt.timedelta(minutes=pick.randrange(10, 70))
            agent_id = request.agent_id
            if fate < _NEVER_DONE + _FAILED:
                fieldwork.fail(
                    session=session,
                    settings=settings,
                    idempotency_key=history_key(state_code, week, n, "fail"),
                    agent_id=agent_id,
                    request_id=booked.request_id,
                    reason=FailReason.DOCS,
                    now=at_door,
                )
                continue
            fieldwork.complete(
                session=session,
                settings=settings,
                idempotency_key=history_key(state_code, week, n, "complete"),
                agent_id=agent_id,
                request_id=booked.request_id,
                visit_code=request.visit_code or "",
                upi_reference=f"UPI{week:02d}{n:02d}{pick.randrange(10**6):06d}" if n % 2 else None,
                now=at_door,
            )
            feedback = session.exec(
                select(Feedback).where(Feedback.request_id == booked.request_id)
            ).first()
            if feedback is not None and fate % 4 != 3:  # a quarter never answer
                stars = _RATINGS[(week * 7 + n) % len(_RATINGS)]
                said = _COMMENTS.get(stars, ("",))
                replies.record_rating(
                    session=session,
                    settings=settings,
                    feedback=feedback,
                    stars=stars,
                    comment=said[n % len(said)],
                    channel="sms",
                    now=at_door + dt.timedelta(hours=3),
                )
    made += _add_waiting(session, settings, state_code, citizens, services, today, tz)
    _declare_takings(session, state_code, today, tz, weeks)
    _close_old_grievances(session, settings, state_code, now)
    _settle_past_messages(session, state_code, now)
    return made


def _settle_past_messages(session: Session, state_code: str, now: dt.datetime) -> None:
    """The history's SMS are history too: delivered when they were written (left queued, the
    outbox would send months-old confirmations on the first minute of `make run`), and its
    unanswered feedback requests were called about the next day (no feedback call now)."""
    import sqlalchemy as sa

    from dispatch.fieldwork.models import Feedback
    from dispatch.notifications.models import MessageStatus, OutboxMessage

    history = (
        select(DoorstepRequest.id)
        .where(
            DoorstepRequest.state_code == state_code,
            col(DoorstepRequest.idempotency_key).like("demo-history:%"),
        )
        .scalar_subquery()
    )
    outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
    session.execute(
        sa.update(outbox)
        .where(
            outbox.c.request_id.in_(history),
            outbox.c.status == MessageStatus.QUEUED.value,
            outbox.c.created_at < now,
        )
        .values(
            status=MessageStatus.DELIVERED.value,
            sent_at=outbox.c.created_at,
            reported_at=outbox.c.created_at,
            attempts=1,
        )
    )
    unanswered = session.exec(
        select(Feedback).where(
            col(Feedback.request_id).in_(history),
            col(Feedback.rating).is_(None),
            col(Feedback.call_placed_at).is_(None),
        )
    ).all()
    for asked in unanswered:
        asked.call_placed_at = asked.asked_at + dt.timedelta(days=1)
        session.add(asked)
    session.flush()


def _close_old_grievances(
    session: Session, settings: Settings, state_code: str, now: dt.datetime
) -> None:
    """The demo supervisor has closed every grievance but the two newest, a few days after
    each was opened (what `/grievances` lists as closed, with its note and outcome)."""
    from dispatch.grievances import service as grievances
    from dispatch.grievances.models import Grievance, GrievanceStatus
    from dispatch.grievances.rules import Outcome

    opened = session.exec(
        select(Grievance)
        .where(Grievance.state_code == state_code, Grievance.status == GrievanceStatus.OPEN)
        .order_by(col(Grievance.opened_at).desc())
    ).all()
    outcomes = list(Outcome)
    for i, grievance in enumerate(opened[2:]):
        assert grievance.id is not None
        grievances.close(
            session=session,
            settings=settings,
            state_code=state_code,
            grievance_id=grievance.id,
            version=grievance.version,
            note=_NOTES[i % len(_NOTES)],
            outcome=outcomes[i % len(outcomes)].value,
            actor="staff:supervisor",
            now=min(now, grievance.opened_at + dt.timedelta(days=2, hours=3)),
        )


def _declare_takings(
    session: Session, state_code: str, today: dt.date, tz: dt.tzinfo, weeks: int
) -> None:
    """The agents' declarations of their days' takings, as they would type them at the foot of
    their day page that evening: most match the ledger; one is ₹20 short in cash, one leaves
    out the UPI, and the latest day of one agent is not declared (what `/fees` flags)."""
    from dispatch.ledger import days as fee_days
    from dispatch.ledger import service as ledger_service

    rows = fee_days.fee_days(
        session=session,
        state_code=state_code,
        first=today - dt.timedelta(days=7 * weeks),
        last=today - dt.timedelta(days=1),
        today=today,
    )
    rows = [r for r in rows if r.money.collected_paise and r.money.declared is None]
    short = next((i for i, r in enumerate(rows) if i >= 2 and r.money.cash_held_paise), None)
    no_upi = next(
        (i for i, r in enumerate(rows) if i >= 3 and i != short and r.money.upi_held_paise), None
    )
    for i, row in enumerate(rows):  # newest first
        if i == 0:
            continue  # not declared yet
        cash, upi = row.money.cash_held_paise, row.money.upi_held_paise
        if i == short:
            cash = max(0, cash - 2000)
        elif i == no_upi:
            upi = 0
        day = row.money.day
        ledger_service.declare(
            session=session,
            agent_id=row.agent.id,
            day=day,
            cash_paise=cash,
            upi_paise=upi,
            actor=f"agent:{row.agent.id}",
            today=today,
            idempotency_key=f"demo-history:{state_code}:takings:{row.agent.id}:{day}",
            now=dt.datetime.combine(day, dt.time(19, 30), tz),
        )


def _add_waiting(
    session: Session,
    settings: Settings,
    state_code: str,
    citizens: Sequence[Citizen],
    services: Sequence[Service],
    today: dt.date,
    tz: dt.tzinfo,
) -> int:
    """Requests logged 3 to 40 days ago still waiting for a window (the caller took none):
    the oldest are past the service's legal time limit."""
    made = 0
    for k, days_ago in enumerate((40, 33, 26, 19, 12, 8, 5, 3)):
        citizen = citizens[(k * 5) % len(citizens)]
        service = services[(k * 3) % len(services)]
        address = citizen_service.last_address(session=session, citizen_id=citizen.id or 0)
        if address is None or address.id is None or service.id is None or citizen.id is None:
            continue
        visits.book_visit(
            session=session,
            settings=settings,
            idempotency_key=history_key(state_code, 0, k, "waiting"),
            actor=ACTOR,
            channel=Channel.IVR,
            state_code=state_code,
            citizen_id=citizen.id,
            address_id=address.id,
            service_id=service.id,
            offer=None,
            now=dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(11), tz),
        )
        made += 1
    return made
