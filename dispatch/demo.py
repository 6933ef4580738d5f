"""Demo data: a day of requests from the demo citizens, for trying the console and plans."""

from __future__ import annotations

from sqlmodel import Session, select

from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.requests import service as request_service
from dispatch.requests.rules import Channel


def add_demo_day(*, session: Session, state_code: str) -> int:
    """Log one request per demo citizen (idempotent: keyed by citizen and service)."""
    services = catalogue_service.most_requested(session=session, state_code=state_code, limit=10)
    citizens = list(session.exec(select(Citizen).where(Citizen.state_code == state_code)))
    made = 0
    for i, citizen in enumerate(citizens):
        address = citizen_service.last_address(session=session, citizen_id=citizen.id or 0)
        if address is None or not services:
            continue
        service = services[i % len(services)]
        assert citizen.id is not None and address.id is not None and service.id is not None
        request_service.log(
            session=session,
            state_code=state_code,
            citizen_id=citizen.id,
            service_id=service.id,
            address_id=address.id,
            channel=Channel.CONSOLE,
            actor="demo",
            idempotency_key=f"demo:{citizen.id}:{service.code}",
        )
        made += 1
    return made
