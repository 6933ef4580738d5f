"""Demo data: a day of requests from the demo citizens, booked into the live plans."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.db import utcnow
from dispatch.errors import Conflict
from dispatch.planning import service as planning
from dispatch.requests import service as request_service
from dispatch.requests.rules import Channel, RequestStatus


def add_demo_day(*, session: Session, state_code: str, now: dt.datetime | None = None) -> int:
    """One request per demo citizen, booked into the earliest window the plan can meet.

    Idempotent: keyed by citizen and service, and a request already booked is left alone.
    """
    now = now or utcnow()
    services = catalogue_service.most_requested(session=session, state_code=state_code, limit=10)
    citizens = session.exec(
        select(Citizen).where(Citizen.state_code == state_code).order_by(col(Citizen.id))
    )
    made = 0
    for i, citizen in enumerate(citizens):
        address = citizen_service.last_address(session=session, citizen_id=citizen.id or 0)
        if address is None or not services:
            continue
        service = services[i % len(services)]
        assert citizen.id is not None and address.id is not None and service.id is not None
        request = request_service.log(
            session=session,
            state_code=state_code,
            citizen_id=citizen.id,
            service_id=service.id,
            address_id=address.id,
            channel=Channel.CONSOLE,
            actor="demo",
            idempotency_key=f"demo:{citizen.id}:{service.code}",
            now=now,
        )
        if request.status is not RequestStatus.LOGGED:
            continue
        offers = planning.offer_windows(
            session=session,
            address_id=address.id,
            service_id=service.id,
            language=request.language,
            now=now,
            limit=1,
        )
        if offers:
            try:
                planning.book(
                    session=session, request_id=request.id or 0, offer=offers[0], actor="demo"
                )
            except Conflict:
                continue
        made += 1
    return made
