"""The fees pages in a real browser (Debian's Chromium, headless), as a supervisor and an agent
use them:

- a supervisor opens three days of a district's fees, finds the flagged agent-day, opens it,
  is refused a handover typed wrong (the field says why, what was typed stays) and records
  the right one, which clears the flag;
- an agent, on a small phone, types the day's takings on their day page; once a supervisor
  has counted the money at the handover, the page shows that count instead of the form.

Every page is checked for labelled controls and for fitting its screen, and photographed
(`var/test-artifacts/fees/`, or `$DOORSTEP_SCREENSHOTS`)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Engine

from dispatch.agents import service as agent_service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork import access
from dispatch.fieldwork import service as field
from dispatch.geography import service as geography_service
from dispatch.ledger import days as fee_days
from dispatch.ledger import service as ledger_service
from dispatch.notifications import service as notification_service
from dispatch.notifications.service import OutboxSender
from dispatch.staff.rules import Role
from tests import factories
from tests.console import make_user
from tests.e2e.browser import DESKTOP, PHONE, looked_at, open_page, sign_in

pytestmark = pytest.mark.browser

IST = ZoneInfo("Asia/Kolkata")
#: A district and days of its own for this file.
DISTRICT = "SPN"
DAYS = [dt.date(2037, 5, 4), dt.date(2037, 5, 5), dt.date(2037, 5, 6)]
NOW = dt.datetime.combine(DAYS[-1], dt.time(18, 0), IST)
SMALL_PHONE = {"width": 360, "height": 640}
SCREENSHOTS = "fees"

_looked_at = partial(looked_at, file="{name}")


def _days_of_work(engine: Engine) -> tuple[int, int]:
    """Three days of visits done in the district (some by UPI), every agent's first two days
    declared, one of them wrongly; returns that agent and the district's id."""
    done: dict[tuple[int, dt.date], list[tuple[int, bool]]] = {}
    for day in DAYS:
        for n in range(3):
            with write_session(engine) as s:
                request, _offer = factories.booked_request(
                    s,
                    district_code=DISTRICT,
                    now=dt.datetime.combine(day, dt.time(7, n), IST),
                )
                s.refresh(request)
                assert request.id is not None and request.agent_id is not None
                by_upi = n == 1
                field.complete(
                    session=s,
                    settings=factories.SETTINGS,
                    idempotency_key=f"test-fees-browser:{request.id}",
                    agent_id=request.agent_id,
                    request_id=request.id,
                    visit_code=request.visit_code or "",
                    upi_reference="412345678901" if by_upi else None,
                    now=dt.datetime.combine(day, dt.time(10 + n, 15), IST),
                )
                done.setdefault((request.agent_id, day), []).append((request.fee_paise, by_upi))
                messages = notification_service.for_request(session=s, request_id=request.id)
                queued = [m.id or 0 for m in messages]
            for message_id in queued:
                notification_service.send(
                    engine=engine, message_id=message_id, sender=OutboxSender()
                )
    wrong = next(agent for agent, day in done if day == DAYS[1])
    with write_session(engine) as s:
        for (agent, day), fees in done.items():
            if day == DAYS[-1]:
                continue  # today: not declared yet
            cash = sum(fee for fee, upi in fees if not upi)
            upi = sum(fee for fee, upi in fees if upi)
            ledger_service.declare(
                session=s,
                agent_id=agent,
                day=day,
                cash_paise=cash - (2000 if (agent, day) == (wrong, DAYS[1]) else 0),
                upi_paise=upi,
                actor=f"agent:{agent}",
                today=day,
                now=dt.datetime.combine(day, dt.time(18, 0), IST),
            )
        district = geography_service.get_district_by_code(session=s, code=DISTRICT).id
    assert district is not None
    return wrong, district


def test_a_supervisor_finds_a_flagged_agent_day_and_records_the_handover(
    live_url: str, engine: Engine, browser: Browser, shots: Path
) -> None:
    wrong, district = _days_of_work(engine)
    supervisor = make_user(engine, Role.SUPERVISOR)
    page = open_page(browser, DESKTOP)
    sign_in(page, live_url, supervisor)
    page.goto(f"{live_url}/fees?first={DAYS[0]}&last={DAYS[-1]}&district={district}")
    flagged = page.locator(f"#row-{wrong}-{DAYS[1]}")
    expect(flagged).to_have_class("flagged")
    expect(flagged).to_contain_text("check")
    expect(flagged).to_contain_text("cash differs")
    expect(page.locator("figure.chart svg")).to_be_visible()
    expect(page.locator("#per-day tbody tr")).to_have_count(3)
    _looked_at(page, shots, "fees-list")

    narrow = open_page(browser, PHONE)
    sign_in(narrow, live_url, supervisor)
    narrow.goto(page.url)
    expect(narrow.locator(f"#row-{wrong}-{DAYS[1]}")).to_contain_text("check")
    _looked_at(narrow, shots, "fees-list-phone")

    flagged.locator("a").first.click()
    page.wait_for_url(f"**/fees/{wrong}/{DAYS[1]}")
    expect(page.locator("#day-flags")).to_contain_text("₹20 less")
    _looked_at(page, shots, "fees-agent-day")

    page.locator("#handover-cash").fill("12O")
    page.locator("#handover-submit").click()
    expect(page.locator("#error-cash")).to_contain_text("like 450 or 450.50")
    expect(page.locator("#handover-cash")).to_have_value("12O")
    _looked_at(page, shots, "fees-handover-refused")

    with read_session(engine) as s:
        held = fee_days.agent_day(session=s, agent_id=wrong, day=DAYS[1], today=DAYS[-1]).money
    page.locator("#handover-cash").fill(f"{held.cash_held_paise / 100:.2f}")
    page.locator("#handover-upi").fill(f"{held.upi_held_paise / 100:.2f}")
    page.locator("#handover-note").fill("counted at the block office")
    page.locator("#handover-submit").click()
    expect(page.locator("#fee-notice")).to_contain_text("handed over")
    expect(page.locator("#day-ok")).to_be_visible()
    expect(page.locator("#declarations li.counts")).to_contain_text("counted at the block office")
    _looked_at(page, shots, "fees-agent-day-handed-over")
    narrow.goto(page.url.split("?")[0])
    _looked_at(narrow, shots, "fees-agent-day-phone")


def test_an_agent_types_the_days_takings_on_a_small_phone(
    live_url: str, engine: Engine, settings: Settings, browser: Browser, shots: Path
) -> None:
    with write_session(engine) as s:  # the agent's day: one visit done, one still to do
        done, _offer = factories.booked_request(
            s, district_code=DISTRICT, now=dt.datetime.combine(DAYS[-1], dt.time(7, 5), IST)
        )
        s.refresh(done)
        agent = agent_service.get(session=s, agent_id=done.agent_id or 0)
        field.complete(
            session=s,
            settings=factories.SETTINGS,
            idempotency_key=f"test-fees-browser:{done.id}",
            agent_id=agent.id or 0,
            request_id=done.id or 0,
            visit_code=done.visit_code or "",
            now=dt.datetime.combine(DAYS[-1], dt.time(12, 40), IST),
        )
        queued = [
            m.id or 0 for m in notification_service.for_request(session=s, request_id=done.id or 0)
        ]
    for message_id in queued:
        notification_service.send(engine=engine, message_id=message_id, sender=OutboxSender())
    assert agent.id is not None
    token = access.day_token(settings=settings, agent_id=agent.id, day=DAYS[-1])
    page = open_page(browser, SMALL_PHONE)
    page.goto(f"{live_url}/a/{token}")
    page.locator("input[name=cash]").fill("1,250.50")
    page.locator("input[name=upi]").fill("300")
    _looked_at(page, shots, "fees-agent-takings-form")
    page.get_by_role("button", name="Save takings").click()
    expect(page.locator("p.msg.ok")).to_contain_text("Takings saved: cash ₹1,250.50, UPI ₹300")
    _looked_at(page, shots, "fees-agent-takings-saved")
    with read_session(engine) as s:
        saved = ledger_service.counting_declaration(session=s, agent_id=agent.id, day=DAYS[-1])
    assert saved is not None and (saved.cash_paise, saved.upi_paise) == (125050, 30000)

    with write_session(engine) as s:  # the supervisor counts ₹50 less UPI at the handover
        ledger_service.declare(
            session=s,
            agent_id=agent.id,
            day=DAYS[-1],
            cash_paise=125050,
            upi_paise=25000,
            actor="staff:rekha",
            today=DAYS[-1],
            idempotency_key=f"test-fees-browser:handover:{agent.id}",
            now=NOW + dt.timedelta(minutes=30),
        )
    page.goto(f"{live_url}/a/{token}")
    expect(page.locator("#counted")).to_contain_text(
        "Counted by a supervisor at the handover: cash ₹1,250.50, UPI ₹250"
    )
    expect(page.locator("input[name=cash]")).to_have_count(0)
    _looked_at(page, shots, "fees-agent-takings-counted")
