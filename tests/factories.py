"""Typed factories over the real service functions, for tests."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.geography.models import Block, District, Village
from dispatch.planning import service as planning
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from tests.conftest import unique_phone


def village_in(session: Session, district_code: str = "SXR") -> Village:
    stmt = (
        select(Village)
        .join(Block, col(Block.id) == col(Village.block_id))
        .join(District, col(District.id) == col(Block.district_id))
        .where(District.code == district_code)
        .order_by(col(Village.id))
    )
    village = session.exec(stmt).first()
    assert village is not None, f"no village in {district_code}"
    return village


def citizen(session: Session, *, district_code: str = "SXR", language: str = "hi") -> Citizen:
    person = citizen_service.register(
        session=session,
        state_code="JK",
        phone=unique_phone(),
        name="Test Citizen",
        language=language,
    )
    assert person.id is not None
    village = village_in(session, district_code)
    assert village.id is not None
    citizen_service.add_address(
        session=session, citizen_id=person.id, village_id=village.id, landmark="near the school"
    )
    return person


def service(session: Session, code: str | None = None) -> Service:
    stmt = select(Service).where(Service.state_code == "JK").order_by(col(Service.popularity))
    if code:
        stmt = stmt.where(Service.code == code)
    found = session.exec(stmt).first()
    assert found is not None
    return found


def request(
    session: Session,
    *,
    district_code: str = "SXR",
    service_code: str | None = None,
    key: str | None = None,
) -> DoorstepRequest:
    person = citizen(session, district_code=district_code)
    address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
    svc = service(session, service_code)
    assert person.id is not None and address is not None and address.id is not None
    assert svc.id is not None
    return request_service.log(
        session=session,
        state_code="JK",
        citizen_id=person.id,
        service_id=svc.id,
        address_id=address.id,
        channel=Channel.CONSOLE,
        actor="test",
        idempotency_key=key,
    )


def offers_for(
    session: Session, request: DoorstepRequest, now: dt.datetime
) -> list[planning.WindowOffer]:
    """The windows the live plan offers this request's citizen at `now`."""
    return planning.offer_windows(
        session=session,
        address_id=request.address_id,
        service_id=request.service_id,
        language=request.language,
        now=now,
    )


def booked_request(
    session: Session, *, district_code: str, now: dt.datetime, choice: int = 0
) -> tuple[DoorstepRequest, planning.WindowOffer]:
    """A new request booked into the `choice`-th window offered at `now`."""
    req = request(session, district_code=district_code)
    offer = offers_for(session, req, now)[choice]
    return planning.book(session=session, request_id=req.id or 0, offer=offer, actor="test"), offer
