"""Making pendency's history for tests through the real use cases at their own moments: a
citizen books (with or without a window), moves the visit, the agent arrives and completes.
Typed helpers over `dispatch.visits` and `dispatch.fieldwork`; nothing is written by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlmodel import Session

from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.fieldwork import service as fieldwork
from dispatch.planning import service as planning
from dispatch.planning.service import WindowOffer
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.visits import service as visits
from dispatch.visits.proof import Proof
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: Enough to see every window the plans offer (the phone line offers the first three).
ALL_WINDOWS = 60


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """`hour:minute` on `day`, Indian time."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=IST)


def _key() -> str:
    return f"t:pendency:{uuid.uuid4().hex}"


def offers(
    session: Session, *, address_id: int, service_id: int, language: str, at: dt.datetime
) -> list[WindowOffer]:
    """Every window the live plans offer at `at`, earliest first."""
    return planning.offer_windows(
        session=session,
        settings=factories.SETTINGS,
        address_id=address_id,
        service_id=service_id,
        language=language,
        now=at,
        limit=ALL_WINDOWS,
    )


def book(
    session: Session,
    *,
    district_code: str,
    at: dt.datetime,
    service_code: str = "BIRTH_CERT",
    window: int | None = 0,
) -> tuple[DoorstepRequest, Citizen]:
    """A new citizen of `district_code` books `service_code` at `at`, into the `window`-th
    window offered then (None: no window; the request waits to be given one)."""
    person = factories.citizen(session, district_code=district_code)
    address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
    svc = factories.service(session, service_code)
    assert address is not None and address.id is not None and svc.id is not None
    offer = None
    if window is not None:
        offer = offers(
            session, address_id=address.id, service_id=svc.id, language=person.language, at=at
        )[window]
    done = visits.book_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=_key(),
        actor="test",
        channel=Channel.CONSOLE,
        state_code="JK",
        citizen_id=person.id or 0,
        address_id=address.id,
        service_id=svc.id,
        offer=offer,
        now=at,
    )
    return request_service.get(session=session, request_id=done.request_id), person


def reschedule(
    session: Session, request: DoorstepRequest, person: Citizen, *, at: dt.datetime, window: int
) -> DoorstepRequest:
    """The citizen gives the request (waiting, or booked) the `window`-th window offered at
    `at`."""
    offer = offers(
        session,
        address_id=request.address_id,
        service_id=request.service_id,
        language=request.language,
        at=at,
    )[window]
    visits.reschedule_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=_key(),
        actor="test",
        request_id=request.id or 0,
        proof=Proof(caller_id=person.phone),
        offer=offer,
        now=at,
    )
    return request_service.get(session=session, request_id=request.id or 0)


def arrive(session: Session, request: DoorstepRequest, *, at: dt.datetime) -> None:
    """The request's agent reports being at the door at `at`."""
    assert request.agent_id is not None
    fieldwork.arrive(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=_key(),
        agent_id=request.agent_id,
        request_id=request.id or 0,
        now=at,
    )


def visit_done(session: Session, request: DoorstepRequest, *, arrived: dt.datetime) -> None:
    """The agent reports arriving at `arrived` and completing (the citizen's visit code keyed)
    ten minutes later."""
    assert request.agent_id is not None and request.visit_code is not None
    arrive(session, request, at=arrived)
    fieldwork.complete(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=_key(),
        agent_id=request.agent_id,
        request_id=request.id or 0,
        visit_code=request.visit_code,
        now=arrived + dt.timedelta(minutes=10),
    )
