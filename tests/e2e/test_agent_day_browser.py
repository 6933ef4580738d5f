"""A real browser with JavaScript off, at a cheap phone's width, opens an agent's signed day
page and completes a visit by typing the citizen's code and pressing Done (the next one by
pressing Enter in the code box).

Screenshots (375 px and 1280 px) go to `$DOORSTEP_SCREENSHOTS` when set (to look at them),
else to `var/test-artifacts/agent-day/`."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork import access
from dispatch.requests import service as request_service
from dispatch.requests.rules import RequestStatus
from tests import factories
from tests.e2e.browser import open_page

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on (the live plans are shared by the session's tests).
DAY = dt.date(2031, 9, 16)
BOOKED_AT = dt.datetime.combine(DAY, dt.time(7, 0), IST)
REPORTED_AT = dt.datetime.combine(DAY, dt.time(10, 0), IST)
#: The served app's clock: 10:00 on DAY.
NOW = REPORTED_AT
SCREENSHOTS = "agent-day"
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def _an_agents_day(engine: Engine) -> tuple[int, dict[int, str]]:
    """Bookings in Ramban on DAY: the agent with the most of them, and their visit codes."""
    booked = []
    for _ in range(5):
        with write_session(engine) as session:
            request, _offer = factories.booked_request(session, district_code="RMB", now=BOOKED_AT)
            session.refresh(request)
            booked.append(request)
    agent_id, _count = Counter(r.agent_id for r in booked).most_common(1)[0]
    assert agent_id is not None
    return agent_id, {r.id or 0: r.visit_code or "" for r in booked if r.agent_id == agent_id}


def _fits(page: Page, width: int) -> None:
    """Nothing is cut off: every visit card and form control lies within the screen's width."""
    for box in page.locator("section.visit, input, select, button").all():
        bounds = box.bounding_box()
        if bounds is not None:  # a closed <details> hides its controls
            assert bounds["x"] >= 0 and bounds["x"] + bounds["width"] <= width + 0.5


@pytest.mark.browser
def test_completing_a_visit_on_the_day_page_without_javascript(
    live_url: str, engine: Engine, settings: Settings, browser: Browser, shots: Path
) -> None:
    agent_id, codes = _an_agents_day(engine)
    link = f"{live_url}/a/{access.day_token(settings=settings, agent_id=agent_id, day=DAY)}"
    page = open_page(browser, PHONE, javascript=False)
    page.goto(link)
    card = page.locator("section.visit").first  # the next visit in the plan
    request_id = int((card.get_attribute("id") or "v0").removeprefix("v"))
    with read_session(engine) as session:
        first = request_service.get(session=session, request_id=request_id)
    assert first.reference in card.inner_text() and request_id in codes
    _fits(page, PHONE["width"])
    page.screenshot(path=str(shots / "agent-day-375.png"), full_page=True)
    card.locator("summary").click()  # "Could not do it" opens without a script
    _fits(page, PHONE["width"])
    page.screenshot(path=str(shots / "agent-day-375-could-not.png"), full_page=True)

    card.locator("input[name=code]").fill(codes[request_id])
    with page.expect_navigation():
        card.locator("button[value=done]").click()
    result = page.locator("[role=status]").inner_text()
    assert result.startswith(f"{first.reference}: done, collected ₹")
    assert result.endswith(" cash")
    assert page.locator(f"#v{request_id}").count() == 0, "no buttons on a finished visit"
    assert first.reference in page.locator(".finished").inner_text()
    page.screenshot(path=str(shots / "agent-day-375-done.png"), full_page=True)

    # Enter in the code box sends the Done form too, as the Done button.
    following = page.locator("section.visit").first
    next_id = int((following.get_attribute("id") or "v0").removeprefix("v"))
    following.locator("input[name=code]").fill(codes[next_id])
    with page.expect_navigation():
        following.locator("input[name=code]").press("Enter")
    assert ": done, collected ₹" in page.locator("[role=status]").inner_text()

    wide = open_page(browser, DESKTOP, javascript=False)
    wide.goto(link)
    _fits(wide, DESKTOP["width"])
    wide.screenshot(path=str(shots / "agent-day-1280.png"), full_page=True)
    with read_session(engine) as session:
        for finished in (request_id, next_id):
            done = request_service.get(session=session, request_id=finished)
            assert done.status is RequestStatus.COMPLETED
