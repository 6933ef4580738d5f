"""The Content-Security-Policy in a real browser (Debian's Chromium, headless): the pages that
draw the most — the board with its Leaflet map, pendency with its server-drawn charts, intake
with its htmx look-ups, the phone simulator, the API clients page, the agent's day page — load
and work with no violation reported (neither a `securitypolicyviolation` event nor a console
error), and the map and charts are drawn. Screenshots go to `$DOORSTEP_SCREENSHOTS`, else
`var/test-artifacts/csp/`, to be looked at."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from dispatch.db import write_session
from dispatch.fieldwork import access
from dispatch.staff.rules import Role
from tests import factories
from tests.console import make_user
from tests.e2e.browser import DESKTOP, open_page, sign_in

pytestmark = pytest.mark.browser

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on (the live plans are shared by the session's tests).
DAY = dt.date(2031, 10, 14)
BOOKED_AT = dt.datetime.combine(DAY, dt.time(7, 0), IST)
NOW = dt.datetime.combine(DAY, dt.time(9, 30), IST)
SCREENSHOTS = "csp"
DISTRICT = "RMB"

#: Collects every violation the page reports (run before any of the page's own script).
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


class Watched:
    """A page whose CSP violations and console errors are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.add_init_script(WATCH)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message: object) -> None:
        kind = getattr(message, "type", "")
        text = getattr(message, "text", "")
        where = getattr(message, "location", {}).get("url", "")
        if where.endswith("/favicon.ico"):  # the site has none; not the policy's doing
            return
        if kind == "error" or "Content Security Policy" in text:
            self.errors.append(f"{kind}: {text} ({where})")

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations || []")
        return found + self.errors


def _booked(engine: Engine) -> int:
    """Bookings in Ramban on DAY; the agent with one of them."""
    agent_id = None
    for _ in range(4):
        with write_session(engine) as session:
            request, _offer = factories.booked_request(
                session, district_code=DISTRICT, now=BOOKED_AT
            )
            session.refresh(request)
            agent_id = agent_id or request.agent_id
    assert agent_id is not None
    return agent_id


def test_the_pages_load_and_work_with_no_policy_violation(
    browser: Browser, live_url: str, engine: Engine, settings: Settings, shots: Path
) -> None:
    agent_id = _booked(engine)
    supervisor = make_user(engine, Role.SUPERVISOR)
    page = open_page(browser, DESKTOP)
    watched = Watched(page)
    sign_in(page, live_url, supervisor)

    # The board: Leaflet draws the visits; the route swatches are SVG, not style attributes.
    page.goto(f"{live_url}/board?district={DISTRICT}&day={DAY.isoformat()}")
    expect(page.locator("#board-map .leaflet-interactive").first).to_be_attached()
    expect(page.locator("svg.swatch circle").first).to_be_attached()
    page.screenshot(path=str(shots / "csp-board.png"), full_page=True)

    # Pendency: pygal's charts, their stylesheet nonced (a refused one leaves them unstyled:
    # the title's font size tells).
    page.goto(f"{live_url}/pendency")
    chart = page.locator("#chart-bands svg")
    expect(chart).to_be_visible()
    size = chart.locator(".title").first.evaluate("e => getComputedStyle(e).fontSize")
    assert size == "16px"
    page.screenshot(path=str(shots / "csp-pendency.png"), full_page=True)

    # Pages whose inline style or script moved to files.
    for path in ("/alerts", "/tasks", "/fees", "/feedback", "/requests"):
        page.goto(f"{live_url}{path}")
        expect(page.locator("main")).to_be_visible()
    assert watched.violations() == []

    # Intake: the phone look-up is fired by doorstep.js (htmx's eval-filter is gone).
    agent = make_user(engine, Role.CALL_AGENT)
    intake = open_page(browser, DESKTOP)
    on_intake = Watched(intake)
    sign_in(intake, live_url, agent)
    intake.goto(f"{live_url}/intake")
    with intake.expect_response(lambda r: r.url.endswith("/intake/citizen")):
        intake.locator("#phone").fill("9876543210")
    expect(intake.locator("#citizen")).to_be_attached()
    assert on_intake.violations() == []

    # The agent's day page: one nonced stylesheet and nothing else.
    token = access.day_token(settings=settings, agent_id=agent_id, day=DAY)
    day = open_page(browser, {"width": 375, "height": 740})
    on_day = Watched(day)
    day.goto(f"{live_url}/a/{token}")
    expect(day.locator("section.visit").first).to_be_visible()
    background = day.locator("body").evaluate("e => getComputedStyle(e).maxWidth")
    assert background == "640px"  # the page's own stylesheet applied (40rem)
    day.screenshot(path=str(shots / "csp-agent-day.png"), full_page=True)
    assert on_day.violations() == []


def test_the_development_tools_load_with_no_policy_violation(
    browser: Browser, live_url: str, engine: Engine
) -> None:
    admin = make_user(engine, Role.ADMIN)
    page = open_page(browser, DESKTOP)
    watched = Watched(page)
    sign_in(page, live_url, admin)
    page.goto(f"{live_url}/simulator")
    checkbox = page.locator("#aloud")
    expect(checkbox).to_be_visible()
    assert checkbox.evaluate("e => getComputedStyle(e).width") != "100%"
    # A new API key: its page's script (now a file) selects the key.
    page.goto(f"{live_url}/admin/api-clients")
    page.locator("#client-name").fill("CSC portal")
    page.locator("#create-client").click()
    expect(page.locator("#api-key")).to_be_focused()
    assert watched.violations() == []
