"""Typed factories over the real service functions and use cases, for tests."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlmodel import Session, col, select

from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.fieldwork import replies
from dispatch.fieldwork import service as fieldwork
from dispatch.fieldwork.models import Feedback
from dispatch.geography.models import Block, District, Village
from dispatch.planning import service as planning
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.visits import service as visits
from tests.conftest import unique_phone

#: The settings domain calls get in tests (the visit windows and texts of the defaults).
SETTINGS = Settings(database_url="sqlite://", scheduler=False)


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
    offer: planning.WindowOffer | None = None,
    settings: Settings | None = None,
) -> DoorstepRequest:
    """A new citizen's request through the booking use case: logged with its charge, code and
    confirmation, and booked into `offer`'s window if one is given."""
    person = citizen(session, district_code=district_code)
    address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
    svc = service(session, service_code)
    assert person.id is not None and address is not None and address.id is not None
    assert svc.id is not None
    result = visits.book_visit(
        session=session,
        settings=settings or SETTINGS,
        idempotency_key=key or f"test:{uuid.uuid4().hex}",
        actor="test",
        channel=Channel.CONSOLE,
        state_code="JK",
        citizen_id=person.id,
        address_id=address.id,
        service_id=svc.id,
        offer=offer,
    )
    return request_service.get(session=session, request_id=result.request_id)


def offers_for(
    session: Session, request: DoorstepRequest, now: dt.datetime
) -> list[planning.WindowOffer]:
    """The windows the live plan offers this request's citizen at `now`."""
    return planning.offer_windows(
        session=session,
        settings=SETTINGS,
        address_id=request.address_id,
        service_id=request.service_id,
        language=request.language,
        now=now,
    )


def booked_request(
    session: Session, *, district_code: str, now: dt.datetime, choice: int = 0
) -> tuple[DoorstepRequest, planning.WindowOffer]:
    """A new citizen's request booked through the use case into the `choice`-th window the
    live plan offers at `now` (to a citizen of that district)."""
    probe = citizen(session, district_code=district_code)
    address = citizen_service.last_address(session=session, citizen_id=probe.id or 0)
    assert address is not None and address.id is not None
    svc = service(session)
    assert svc.id is not None
    offer = planning.offer_windows(
        session=session,
        settings=SETTINGS,
        address_id=address.id,
        service_id=svc.id,
        language="hi",
        now=now,
    )[choice]
    return request(session, district_code=district_code, offer=offer), offer


def done_and_rated(
    session: Session,
    request: DoorstepRequest,
    *,
    stars: int,
    comment: str,
    channel: str,
    key: str,
    done_after: dt.timedelta,
    rated_after: dt.timedelta,
) -> None:
    """A booked visit done at the door with the citizen's code `done_after` its window opened,
    and rated `rated_after` that (a rating of 1-2 opens a grievance)."""
    assert request.id is not None and request.agent_id is not None
    assert request.window_start is not None
    done_at = request.window_start + done_after
    fieldwork.complete(
        session=session,
        settings=SETTINGS,
        idempotency_key=key,
        agent_id=request.agent_id,
        request_id=request.id,
        visit_code=request.visit_code or "",
        now=done_at,
    )
    feedback = session.exec(select(Feedback).where(Feedback.request_id == request.id)).one()
    replies.record_rating(
        session=session,
        settings=SETTINGS,
        feedback=feedback,
        stars=stars,
        comment=comment,
        channel=channel,
        now=done_at + rated_after,
    )
