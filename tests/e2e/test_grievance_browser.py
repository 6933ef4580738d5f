"""A grievance opened by a poor rating is closed with a note, in a real browser (Debian's
Chromium, headless): a visit is booked, done at the door (the agent's DONE by SMS) and rated 2
by the citizen's SMS reply, both through the signed inbound webhook; a supervisor sees the
ratings on /feedback, opens /grievances and the grievance, is refused an empty note (the
outcome chosen stays chosen), closes it with a note; the page shows it closed, by whom, and
the SMS the citizen was sent, which is in the outbox.

Every page is checked for labelled controls and for fitting the screen (1280 px and a phone's
390 px), and photographed into `$DOORSTEP_SCREENSHOTS` (else `var/test-artifacts/feedback/`)."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.grievances.models import Grievance, GrievanceStatus
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.staff.rules import Role
from dispatch.visits import service as visits
from ivr.deps import get_clock
from ivr.standin import signed_headers
from tests import factories
from tests.console import make_user
from tests.e2e.browser import DESKTOP, PHONE, looked_at, open_page, sign_in
from tests.e2e.served import served
from tests.ivr.conftest import FixedClock
from web.app import create_app

pytestmark = pytest.mark.browser

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on: the poorly rated visit's day.
DAY = dt.date(2037, 9, 15)
BOOKED_AT = dt.datetime.combine(DAY, dt.time(7, 0), IST)
#: The supervisor looks the next morning.
LOOKED_AT = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(10, 0), IST)
DISTRICT = "RSI"
#: The weeks before it: a visit a week in three districts, rated by their citizens.
HISTORY = {
    "RSI": (5, 4, 5, 3, 4, 5, 2, 4),
    "RJR": (4, 5, 5, 4, 1, 5, 4, 5),
    "SPN": (3, 4, 2, 4, 5, 3, 4, 4),
}
COMMENTS = {1: "agent never came inside", 2: "had to wait two hours", 5: "very helpful, thank you"}
SCREENSHOTS = "feedback"

_looked_at = partial(looked_at, file="feedback-{name}-{width}")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(BOOKED_AT)


@pytest.fixture
def app(engine: Engine, settings: Settings, clock: FixedClock) -> FastAPI:
    application = create_app(settings=settings, engine=engine)
    application.dependency_overrides[get_clock] = lambda: clock
    return application


def _rated_in_the_past(session: Session, district: str, day: dt.date, stars: int, n: int) -> None:
    """A visit of one of the most requested services on `day`, done and rated `stars`."""
    person = factories.citizen(session, district_code=district)
    address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
    services = catalogue_service.most_requested(session=session, state_code="JK", limit=5)
    service = services[n % len(services)]
    assert address is not None and address.id is not None and service.id is not None
    booked_at = dt.datetime.combine(day, dt.time(7, 0), IST)
    offers = planning.offer_windows(
        session=session,
        settings=factories.SETTINGS,
        address_id=address.id,
        service_id=service.id,
        language=person.language,
        now=booked_at,
        limit=1,
    )
    if not offers:
        return
    booked = visits.book_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=f"test:grievance-browser:{uuid.uuid4().hex}",
        actor="test",
        channel=Channel.IVR,
        state_code="JK",
        citizen_id=person.id or 0,
        address_id=address.id,
        service_id=service.id,
        offer=offers[0],
        now=booked_at,
    )
    request = session.get(DoorstepRequest, booked.request_id)
    assert request is not None
    factories.done_and_rated(
        session,
        request,
        stars=stars,
        comment=COMMENTS.get(stars, ""),
        channel="sms" if n % 3 else "call",
        key=f"test:grievance-browser:done:{request.id}",
        done_after=dt.timedelta(minutes=25),
        rated_after=dt.timedelta(hours=3),
    )


def _history(engine: Engine) -> None:
    """Eight weeks of rated visits before the day, in three districts (committed)."""
    for district, ratings in HISTORY.items():
        for weeks_ago, stars in enumerate(ratings, start=1):
            day = DAY - dt.timedelta(weeks=weeks_ago)
            with write_session(engine) as session:
                _rated_in_the_past(session, district, day, stars, weeks_ago)


def _sms(app: FastAPI, settings: Settings, sender: str, body: str) -> None:
    """An SMS to the state's number, through the signed inbound webhook."""
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": settings.twilio_account_sid,
        "From": sender,
        "To": settings.twilio_from_number,
        "Body": body,
        "NumSegments": "1",
    }
    url = f"{settings.public_base_url}/ivr/sms/incoming"
    with TestClient(app) as client:
        response = client.post(
            "/ivr/sms/incoming", data=params, headers=signed_headers(settings, url, params)
        )
    assert response.status_code == 200, response.text


def test_a_grievance_opened_by_a_poor_rating_is_closed_with_a_note(
    app: FastAPI,
    engine: Engine,
    settings: Settings,
    clock: FixedClock,
    browser: Browser,
    shots: Path,
) -> None:
    _history(engine)
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code=DISTRICT, now=BOOKED_AT)
        session.refresh(request)
        agent = session.get(Agent, request.agent_id)
        citizen = session.get(Citizen, request.citizen_id)
        assert agent is not None and citizen is not None and request.window_start is not None
        reference, code, agent_phone, citizen_phone = (
            request.reference,
            request.visit_code,
            agent.phone,
            citizen.phone,
        )
    # At the door: the agent reports it done with the citizen's code; later the citizen
    # answers the feedback SMS with a 2 and a few words.
    clock.at = (request.window_start + dt.timedelta(minutes=30)).astimezone(dt.UTC)
    _sms(app, settings, agent_phone, f"DONE {reference} {code}")
    clock.at = (request.window_start + dt.timedelta(hours=4)).astimezone(dt.UTC)
    _sms(app, settings, citizen_phone, "2 agent asked me to come to his shop instead")
    with read_session(engine) as session:
        grievance = session.exec(select(Grievance).where(Grievance.request_id == request.id)).one()
        opened = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.request_id == request.id, OutboxMessage.kind == "grievance_opened"
            )
        ).one()
    assert grievance.status is GrievanceStatus.OPEN and grievance.rating == 2
    assert reference in opened.body

    clock.at = LOOKED_AT.astimezone(dt.UTC)
    supervisor = make_user(engine, Role.SUPERVISOR)
    with served(app) as url:
        page = open_page(browser, DESKTOP)
        sign_in(page, url, supervisor)
        page.goto(f"{url}/feedback")
        expect(page.locator("#chart-weekly svg")).to_be_visible()
        expect(page.locator("#table-recent")).to_contain_text("agent asked me to come")
        _looked_at(page, shots, "page")

        page.goto(f"{url}/grievances")
        row = page.locator(f"#grievance-row-{grievance.id}")
        expect(row).to_contain_text(reference)
        _looked_at(page, shots, "grievances")
        row.locator(f'a[href="/grievances/{grievance.id}"]').click()
        page.wait_for_url(f"**/grievances/{grievance.id}")
        expect(page.locator("#grievance-status")).to_have_text("open")
        expect(page.locator("#grievance-comment")).to_contain_text("come to his shop")
        expect(page.locator("#grievance-request")).to_have_attribute(
            "href", f"/requests/{request.id}"
        )
        _looked_at(page, shots, "grievance-open")

        page.locator("#outcome-agent_spoken_to").check()
        page.locator("#close-note").fill("   ")
        page.locator("#close-submit").click()
        expect(page.locator("#close-note-error")).to_be_visible()
        expect(page.locator("#outcome-agent_spoken_to")).to_be_checked()
        _looked_at(page, shots, "grievance-refused")

        page.locator("#close-note").fill(
            "Called the citizen and the agent. Agent told to do every visit at the door."
        )
        page.locator("#close-submit").click()
        page.wait_for_url(f"**/grievances/{grievance.id}?done=closed")
        expect(page.locator("#grievance-status")).to_have_text("closed")
        expect(page.locator("#grievance-closed-by")).to_have_text(supervisor.username)
        expect(page.locator("#grievance-note")).to_contain_text("every visit at the door")
        expect(page.locator("#grievance-told")).to_contain_text(reference)
        _looked_at(page, shots, "grievance-closed")

        narrow = open_page(browser, PHONE)
        sign_in(narrow, url, supervisor)
        for path, name in (
            ("/feedback", "page"),
            ("/grievances", "grievances"),
            (f"/grievances/{grievance.id}", "grievance-closed"),
        ):
            narrow.goto(f"{url}{path}")
            _looked_at(narrow, shots, name)

    with read_session(engine) as session:
        closed = session.get(Grievance, grievance.id)
        told = session.exec(
            select(OutboxMessage)
            .where(
                OutboxMessage.request_id == request.id,
                OutboxMessage.kind == "grievance_closed",
            )
            .order_by(col(OutboxMessage.id))
        ).all()
    assert closed is not None and closed.status is GrievanceStatus.CLOSED
    assert closed.closed_by == f"staff:{supervisor.username}"
    assert len(told) == 1 and told[0].to == citizen_phone and reference in told[0].body
    assert "shop" not in told[0].body and "every visit" not in told[0].body
