"""Demo data: one request per demo citizen (`seed_data/<state>/citizens.csv`), booked through
the booking use case into the earliest window the live plans can meet.

Touches demo citizens only, and each of them once per database: the idempotency key is the
citizen's, so a second `make run` books nothing again (not even for a demo citizen who has
cancelled meanwhile) and real callers are never touched.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import utcnow
from dispatch.planning import service as planning
from dispatch.planning.service import WindowTaken
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
