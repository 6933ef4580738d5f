"""An admin puts a field agent with planned visits on leave for the day, in a real browser
(Debian's Chromium, headless), and the dispatcher's board follows:

- the admin finds the agent in the agents list, is told beside the field what is wrong with a
  bad shift, then puts the agent on leave with a reason; the page says which visits went to
  which agents and which got a new time;
- the dispatcher's board of that day shows the moved visits on the other agents' routes and
  nothing on the agent on leave; the visit nobody could take is on the board of its new day;
- the admin's services list and a service's form are looked at too.

Every page is checked for labelled controls and for fitting the screen, and photographed (to
`$DOORSTEP_SCREENSHOTS`, or `var/test-artifacts/admin/`)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.planning import service as planning
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.rules import Role
from dispatch.visits import desk
from tests import factories
from tests.console import make_user
from tests.e2e.browser import DESKTOP, PHONE, looked_at, open_page, sign_in

pytestmark = pytest.mark.browser

IST = ZoneInfo("Asia/Kolkata")
#: A Monday no other test plans on, in Doda (one agent there keeps land records).
DAY = dt.date(2043, 9, 7)
NOW = dt.datetime.combine(DAY, dt.time(7, 30), IST)
DISTRICT = "DOD"
LAND_SERVICE = "FARD_COPY"
SCREENSHOTS = "admin"

_looked_at = partial(looked_at, file="admin-{name}-{width}")


def _book(session: Session, service_code: str | None, choice: int = 0) -> DoorstepRequest:
    """A new citizen of Doda booked into the `choice`-th window the live plan offers."""
    person = factories.citizen(session, district_code=DISTRICT)
    address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
    service = factories.service(session, service_code)
    assert address is not None and address.id is not None and service.id is not None
    offer = planning.offer_windows(
        session=session,
        settings=factories.SETTINGS,
        address_id=address.id,
        service_id=service.id,
        language="hi",
        now=NOW,
    )[choice]
    booked = factories.request(
        session, district_code=DISTRICT, service_code=service_code, offer=offer
    )
    session.refresh(booked)
    return booked


def _a_day_of_visits(engine: Engine) -> tuple[Agent, list[DoorstepRequest], DoorstepRequest]:
    """The land-records agent of Doda with a land-record visit only they can do, and two
    ordinary visits a dispatcher gave them."""
    with write_session(engine) as session:
        land = _book(session, LAND_SERVICE)
        assert land.agent_id is not None
        keeper = session.get(Agent, land.agent_id)
        assert keeper is not None and "land_records" in keeper.skills
        ordinary = [_book(session, None, choice) for choice in (1, 2)]
        for visit in ordinary:
            if visit.agent_id != keeper.id:
                desk.reassign(
                    session=session,
                    idempotency_key=f"t:leave-browser:{visit.id}",
                    actor="staff:dispatcher",
                    request_id=visit.id or 0,
                    agent_id=keeper.id or 0,
                    now=NOW,
                )
        for visit in [land, *ordinary]:
            session.refresh(visit)
            assert visit.agent_id == keeper.id
        return keeper, ordinary, land


def test_an_admin_puts_an_agent_on_leave_and_the_board_shows_the_visits_re_offered(
    live_url: str, engine: Engine, browser: Browser, shots: Path
) -> None:
    keeper, ordinary, land = _a_day_of_visits(engine)
    admin, dispatcher = make_user(engine, Role.ADMIN), make_user(engine, Role.DISPATCHER)
    page = open_page(browser, DESKTOP)
    sign_in(page, live_url, admin)

    # The list, narrowed to Doda; the agent's load today is their three visits.
    page.goto(f"{live_url}/admin/agents")
    page.locator("#filter-district").select_option(label="Doda")
    page.locator("#filter-submit").click()
    row = page.locator("#agent-table tr", has_text=keeper.name)
    expect(row).to_contain_text(f"3 / {keeper.daily_cap}")
    _looked_at(page, shots, "agents")
    row.get_by_role("link", name=keeper.name).click()
    page.wait_for_url(f"**/admin/agents/{keeper.id}")

    # A shift that ends before it starts: said beside the field, the rest kept as typed.
    page.locator("#f-shift_end").fill("08:00")
    page.locator("#f-name").fill(f"{keeper.name} (edited)")
    page.locator("#agent-save").click()
    expect(page.locator("#shift_end-error")).to_contain_text("end after it starts")
    expect(page.locator("#f-name")).to_have_value(f"{keeper.name} (edited)")
    _looked_at(page, shots, "agent-edit-error")
    with read_session(engine) as session:
        assert session.get(Agent, keeper.id).name == keeper.name  # type: ignore[union-attr]

    # Leave for the day, from the agent's page as it stands.
    page.goto(f"{live_url}/admin/agents/{keeper.id}")
    _looked_at(page, shots, "agent-edit")
    page.locator("#f-first").fill(DAY.isoformat())
    page.locator("#f-reason").fill("fever")
    page.locator("#leave-submit").click()
    result = page.locator("#leave-result")
    expect(result).to_be_visible()
    expect(page.locator("#leave-summary")).to_contain_text("2 visits moved to other agents")
    expect(page.locator("#leave-summary")).to_contain_text("1 moved to a new time")
    for visit in ordinary:
        expect(page.locator("#leave-moved")).to_contain_text(visit.reference)
    expect(page.locator("#leave-new-time")).to_contain_text(land.reference)
    expect(page.locator("#leave-days")).to_contain_text("fever")
    _looked_at(page, shots, "leave-result")

    with read_session(engine) as session:
        moved = {v.id: session.get(DoorstepRequest, v.id) for v in ordinary}
        new_land = session.get(DoorstepRequest, land.id)
    assert new_land is not None and new_land.window_start is not None
    new_day = new_land.window_start.astimezone(IST).date()
    assert new_day > DAY

    # The dispatcher's board: the visits on other agents' routes, none on the agent on leave.
    board = open_page(browser, DESKTOP)
    sign_in(board, live_url, dispatcher)
    board.goto(f"{live_url}/board?district={DISTRICT}&day={DAY.isoformat()}")
    expect(board.locator("#board-routes")).to_be_visible()
    assert board.locator(f"#route-{keeper.id}").count() == 0
    for visit in ordinary:
        after = moved[visit.id]
        assert after is not None and after.agent_id not in (None, keeper.id)
        expect(board.locator(f"#route-{after.agent_id}")).to_contain_text(visit.reference)
    expect(board.locator("#board-routes")).not_to_contain_text(land.reference)
    _looked_at(board, shots, "board-after-leave")
    # The visit nobody could take is planned on its new day, the citizen told.
    board.goto(f"{live_url}/board?district={DISTRICT}&day={new_day.isoformat()}")
    expect(board.locator(f"#route-{new_land.agent_id}")).to_contain_text(land.reference)
    _looked_at(board, shots, "board-new-day")

    # The same pages on a phone.
    narrow = open_page(browser, PHONE)
    sign_in(narrow, live_url, admin)
    narrow.goto(f"{live_url}/admin/agents?district=&q={keeper.csc_id}")
    _looked_at(narrow, shots, "agents")
    narrow.goto(page.url)
    expect(narrow.locator("#leave-result")).to_be_visible()
    _looked_at(narrow, shots, "leave-result")


def test_an_admin_looks_up_a_service_and_its_form(
    live_url: str, engine: Engine, browser: Browser, shots: Path
) -> None:
    admin = make_user(engine, Role.ADMIN)
    with read_session(engine) as session:
        service = session.exec(
            select(Service).where(Service.state_code == "JK", Service.code == LAND_SERVICE)
        ).one()
    for viewport in (DESKTOP, PHONE):
        page = open_page(browser, viewport)
        sign_in(page, live_url, admin)
        page.goto(f"{live_url}/admin/services")
        _looked_at(page, shots, "services")
        page.locator("#filter-q").fill("jamabandi")
        page.locator("#filter-submit").click()
        expect(page.locator("#service-table")).to_contain_text(service.code)
        page.get_by_role("link", name=service.name_en).click()
        page.wait_for_url(f"**/admin/services/{service.id}")
        expect(page.locator("#fee-note")).to_contain_text("new requests only")
        page.locator("#f-doorstep_fee").fill("30.505")
        page.locator("#service-save").click()
        expect(page.locator("#doorstep_fee-error")).to_contain_text("two digits after the point")
        expect(page.locator("#f-doorstep_fee")).to_have_value("30.505")
        _looked_at(page, shots, "service-edit-error")
        page.goto(f"{live_url}/admin/services/{service.id}")
        _looked_at(page, shots, "service-edit")
    with read_session(engine) as session:
        kept = session.get(Service, service.id)
    assert kept is not None and kept.doorstep_fee_paise == service.doorstep_fee_paise
