"""The console in a real browser (Debian's Chromium, headless), as its users work it:

- a call agent signs in with the keyboard and books a new caller on the intake page; a
  dispatcher then finds the request on the board and on the map;
- a call agent claims a call-back, sees the number to ring and closes it with an outcome;
- a dispatcher re-plans a district and watches the run finish on the board;
- a call agent is refused the staff admin page.

Every page visited is checked for labelled controls and for fitting the screen at 1280x800 and
at a phone's 390 px, and photographed: the screenshots are the test's artefacts, kept in
`var/test-artifacts/console/` (or `$DOORSTEP_SCREENSHOTS`)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch import scheduled
from dispatch.calls import service as call_service
from dispatch.calls.models import Callback, CallbackReason, CallbackStatus
from dispatch.db import read_session, write_session
from dispatch.geography.models import District
from dispatch.planning.models import ReplanRun, ReplanStatus
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.staff.rules import Role
from tests.conftest import unique_phone
from tests.console import make_user
from tests.e2e.browser import DESKTOP, PHONE, looked_at, open_page, sign_in_by_keyboard

pytestmark = pytest.mark.browser

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on, in a district of its own for this file.
DAY = dt.date(2033, 5, 3)
NOW = dt.datetime.combine(DAY, dt.time(7, 30), IST)
DISTRICT = "GBL"
SCREENSHOTS = "console"


def _settled(page: Page) -> None:
    """htmx has swapped and settled what it fetched (its handlers are on the new controls a
    moment after the swap: a person is never that fast, a script is)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
    )
    page.wait_for_timeout(50)


def test_a_call_agent_books_a_caller_and_the_dispatcher_sees_it_on_board_and_map(
    live_url: str, engine: Engine, browser: Browser, shots: Path
) -> None:
    agent, dispatcher = make_user(engine, Role.CALL_AGENT), make_user(engine, Role.DISPATCHER)
    phone = unique_phone()
    page = open_page(browser, DESKTOP)
    sign_in_by_keyboard(page, live_url, agent)
    assert page.url.endswith("/intake")
    looked_at(page, shots, "intake-empty")

    page.locator("#phone").fill(phone)
    expect(page.locator("#citizen .new-caller")).to_be_visible()
    page.locator("#name").fill("Fatima Browser")
    page.locator("#service_q").press_sequentially("income")
    expect(page.locator("#services input[name=service_id]").first).to_be_checked()
    with read_session(engine) as session:
        district = session.exec(select(District).where(District.code == DISTRICT)).one()
    _settled(page)
    page.locator("#district_id").select_option(str(district.id))
    expect(page.locator("#block_id option").nth(1)).to_be_attached()
    _settled(page)
    page.locator("#block_id").select_option(index=1)
    expect(page.locator("#village_id option").nth(1)).to_be_attached()
    _settled(page)
    page.locator("#village_id").select_option(index=1)
    page.locator("#landmark").fill("near the spring")
    page.locator("#landmark").press("Enter")  # Enter shows the windows
    first_window = page.locator("#windows input[name=offer]").first
    expect(first_window).to_be_visible()
    first_window.check()
    looked_at(page, shots, "intake-windows")
    page.locator("#confirm").click()
    reference = page.locator("#result-reference").inner_text().strip()
    code = page.locator("#result-code").inner_text().strip()
    assert reference.startswith("JK-") and len(code) == 4 and code.isdigit()
    looked_at(page, shots, "intake-booked")

    with read_session(engine) as session:
        request = session.exec(
            select(DoorstepRequest).where(DoorstepRequest.reference == reference)
        ).one()
    assert request.channel is Channel.CONSOLE and request.visit_code == code
    assert request.district_id == district.id and request.agent_id is not None

    board = open_page(browser, DESKTOP)
    sign_in_by_keyboard(board, live_url, dispatcher)
    board.goto(f"{live_url}/board?district={DISTRICT}&day={DAY.isoformat()}")
    expect(board.locator(f"#route-{request.agent_id}")).to_contain_text(reference)
    # The map: the visit is drawn (a numbered marker) on the agent's route, with no tile
    # server behind it.
    expect(board.locator("#board-map .leaflet-interactive").first).to_be_attached()
    data = board.request.get(
        f"{live_url}/board/data?district={DISTRICT}&day={DAY.isoformat()}"
    ).json()
    visits = [v for v in data["visits"] if v.get("reference") == reference]
    assert visits and visits[0]["lat"] and visits[0]["lon"], data.keys()
    assert board.locator("#board-map img.leaflet-tile").count() == 0
    looked_at(board, shots, "board")
    narrow = open_page(browser, PHONE)
    sign_in_by_keyboard(narrow, live_url, dispatcher)
    narrow.goto(f"{live_url}/board?district={DISTRICT}&day={DAY.isoformat()}")
    expect(narrow.locator(f"#route-{request.agent_id}")).to_contain_text(reference)
    looked_at(narrow, shots, "board")

    # The request's own page, found by its reference, on a wide screen and a phone.
    for viewer in (board, narrow):
        viewer.goto(f"{live_url}/requests")
        viewer.locator("input[name=q]").fill(reference)
        viewer.locator("input[name=q]").press("Enter")
        viewer.wait_for_url(f"**/requests/{request.id}**")
        expect(viewer.locator("main")).to_contain_text("via console")
        looked_at(viewer, shots, "request")
    phone_intake = open_page(browser, PHONE)
    sign_in_by_keyboard(phone_intake, live_url, agent)
    looked_at(phone_intake, shots, "intake-empty")


def _open_callback(engine: Engine) -> Callback:
    with write_session(engine) as session:
        call = call_service.start(
            session=session,
            call_sid=f"CA{uuid.uuid4().hex}",
            state_code="JK",
            from_number=unique_phone(),
            to_number="1447",
            language="ur",
            now=NOW.astimezone(dt.UTC),
        )
        return call_service.request_callback(
            session=session,
            call=call,
            phone=call.from_number,
            reason=CallbackReason.NO_WINDOW,
            now=NOW.astimezone(dt.UTC),
        )


def test_a_call_back_is_claimed_rung_and_closed(
    live_url: str, engine: Engine, browser: Browser, shots: Path
) -> None:
    callback = _open_callback(engine)
    agent = make_user(engine, Role.CALL_AGENT)
    page = open_page(browser, DESKTOP)
    sign_in_by_keyboard(page, live_url, agent)
    page.goto(f"{live_url}/callbacks")
    row = page.locator(f"#row-callback-{callback.id}")
    expect(row).to_be_visible()
    assert callback.phone not in row.inner_text()  # masked until claimed
    looked_at(page, shots, "callbacks")
    page.locator(f"#claim-{callback.id}").click()
    ring = page.locator(f"#ring-{callback.id}")
    expect(ring).to_have_attribute("href", f"tel:{callback.phone}")
    page.locator(f"#outcome-{callback.id}").select_option("no_answer")
    page.locator(f"#note-{callback.id}").fill("rang twice, no answer")
    looked_at(page, shots, "callbacks-claimed")
    page.locator(f"#close-{callback.id}").click()
    expect(page.locator(f"#callback-{callback.id}")).to_have_count(0)
    with read_session(engine) as session:
        closed = session.get(Callback, callback.id)
    assert closed is not None and closed.status is CallbackStatus.DONE
    assert closed.outcome == "no_answer" and closed.done_by == f"staff:{agent.username}"
    narrow = open_page(browser, PHONE)
    sign_in_by_keyboard(narrow, live_url, agent)
    narrow.goto(f"{live_url}/callbacks")
    looked_at(narrow, shots, "callbacks")


def test_a_dispatcher_re_plans_a_district_and_sees_the_result(
    live_url: str, engine: Engine, browser: Browser, shots: Path
) -> None:
    from tests import factories

    for _ in range(3):
        with write_session(engine) as session:
            factories.booked_request(session, district_code=DISTRICT, now=NOW)
    dispatcher = make_user(engine, Role.DISPATCHER)
    page = open_page(browser, DESKTOP)
    sign_in_by_keyboard(page, live_url, dispatcher)
    page.goto(f"{live_url}/board?district={DISTRICT}&day={DAY.isoformat()}")
    page.locator("#replan-now").click()
    expect(page.locator("#replan-status")).to_contain_text("queued", ignore_case=True)
    with read_session(engine) as session:
        run = session.exec(
            select(ReplanRun).where(ReplanRun.requested_by == f"staff:{dispatcher.username}")
        ).one()
    # The worker's own pass (in `make run` the scheduler calls it every 2 s).
    [finished] = scheduled.run_replans(engine=engine, only=[run.id or 0])
    assert finished.status is ReplanStatus.DONE, finished.message
    expect(page.locator("#replan-figures")).to_be_visible()
    expect(page.locator("#replan-status")).to_contain_text("moved", ignore_case=True)
    looked_at(page, shots, "board-replanned")


def test_a_call_agent_cannot_open_the_staff_admin_page(
    live_url: str, engine: Engine, browser: Browser, shots: Path
) -> None:
    agent = make_user(engine, Role.CALL_AGENT)
    for viewport in (DESKTOP, PHONE):
        page = open_page(browser, viewport)
        sign_in_by_keyboard(page, live_url, agent)
        assert page.locator("header nav a[href='/admin/staff']").count() == 0
        response = page.goto(f"{live_url}/admin/staff")
        assert response is not None and response.status == 403
        expect(page.locator(".error")).to_contain_text("may not manage staff")
        looked_at(page, shots, "admin-refused")
