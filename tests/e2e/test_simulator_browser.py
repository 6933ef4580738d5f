"""A real browser books a visit through the phone simulator, by clicking its keypad: the
softphone page, its JavaScript and the signed webhooks behind it, end to end."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.calls.models import CallSession, CallStatus
from dispatch.db import read_session
from dispatch.ledger import service as ledger_service
from dispatch.notifications import service as notification_service
from dispatch.requests import service as request_service
from tests.conftest import unique_phone
from tests.ivr.conftest import MONDAY_MORNING

#: The served app's clock.
NOW = MONDAY_MORNING


def _turn(page: Page) -> int:
    return int(page.get_attribute("#status", "data-turn") or "0")


def _press(page: Page, keys: str) -> str:
    """Click the keys on the keypad and wait for the line's next question; return the text."""
    before = _turn(page)
    for key in keys:
        page.click(f'#keys button[data-key="{key}"]')
    page.wait_for_function(
        f"() => Number(document.getElementById('status').dataset.turn) > {before}"
    )
    return page.inner_text("#transcript")


@pytest.mark.browser
def test_booking_a_visit_by_clicking_the_keypad(
    live_url: str, engine: Engine, browser: Browser
) -> None:
    caller = unique_phone()
    page = browser.new_page()
    page.goto(f"{live_url}/simulator")
    page.uncheck("#aloud")
    page.fill("#caller", caller)
    page.click("#dial")
    page.wait_for_function("() => document.getElementById('status').dataset.turn === '1'")
    assert "For English, press 2" in page.inner_text("#transcript")
    _press(page, "2")  # English
    _press(page, "1")  # a new request
    assert "Income Certificate" in _press(page, "2")
    assert "That PIN code is in Anantnag" in _press(page, "192201")  # Achabal's
    _press(page, "1")  # Achabal, the one village on that PIN code
    page.fill("#speech", "near the post office")
    before = _turn(page)
    page.click("#say")
    page.wait_for_function(
        f"() => Number(document.getElementById('status').dataset.turn) > {before}"
    )
    offer = page.inner_text("#transcript")
    assert "The earliest visit is" in offer and "To book this visit, press 1" in offer
    assert "Your visit is booked" in _press(page, "1")  # the earliest window, and fee
    page.click("#hangup")
    page.wait_for_function("() => document.getElementById('status').dataset.ended === 'true'")
    status = page.inner_text("#status")
    assert "logged as booked" in status and "request JK-30-" in status
    with read_session(engine) as session:
        call = session.exec(select(CallSession).where(CallSession.from_number == caller)).one()
        assert call.status is CallStatus.BOOKED and call.request_id is not None
        request = request_service.get(session=session, request_id=call.request_id)
        charges = ledger_service.entries(session=session, request_id=call.request_id)
        [sms] = notification_service.for_request(session=session, request_id=call.request_id)
        trail = request_service.events(session=session, request_id=call.request_id)
    assert request.reference in status and len(charges) == 1
    assert sms.to == caller and request.reference in sms.body
    assert len(trail) >= 2
