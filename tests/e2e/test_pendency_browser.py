"""Pendency in a real browser (Debian's Chromium, headless): a supervisor opens /pendency, sees
Doda's row marked as breaching, opens the requests behind its breached count, opens the one
whose visit is planned after its legal due date, and moves that visit to another agent with
the request page's reassign form; the request page then names the new agent.

The history is made by the use cases at its own moments (June 2017, no other test's time):
visits completed over the weeks before, requests waiting for a window since May, one given a
window only after its due date had passed. Every page is checked for labelled controls and
for fitting a desktop and a phone screen, and photographed (`$DOORSTEP_SCREENSHOTS`, else
`var/test-artifacts/pendency/`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.agents.models import Agent
from dispatch.db import read_session, write_session
from dispatch.geography.models import District
from dispatch.planning import service as planning
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.rules import Role
from tests import pendency_history as history
from tests.console import make_user
from tests.e2e.browser import DESKTOP, PHONE, looked_at, open_page, sign_in
from tests.pendency_history import local

pytestmark = pytest.mark.browser

#: Thursday 15 June 2017, noon.
NOW = local(dt.date(2017, 6, 15), 12)
SCREENSHOTS = "pendency"

_looked_at = partial(looked_at, file="pendency-{name}{phone}")


@pytest.fixture(scope="module")
def june(engine: Engine) -> Iterator[DoorstepRequest]:
    """Doda, Kishtwar and Udhampur in June 2017; yields the request the supervisor acts on:
    a birth certificate applied for on Monday 5 June (due Tuesday 13: seven working days),
    waiting for a window until this morning, now planned for tomorrow."""
    planning.clear_cache()
    with write_session(engine) as s:
        # Completed over the weeks before: mostly in time, one agent late, one delivered late.
        for monday in (dt.date(2017, 4, 24) + dt.timedelta(weeks=n) for n in range(7)):
            done, _ = history.book(s, district_code="DOD", at=local(monday, 7))
            assert done.window_start is not None
            late = monday == dt.date(2017, 5, 15)
            minutes = 150 if late else 20
            history.visit_done(s, done, arrived=done.window_start + dt.timedelta(minutes=minutes))
        waited, person = history.book(
            s, district_code="DOD", at=local(dt.date(2017, 5, 22), 10), window=None
        )
        waited = history.reschedule(s, waited, person, at=local(dt.date(2017, 6, 12), 7), window=0)
        assert waited.window_start is not None
        history.visit_done(s, waited, arrived=waited.window_start + dt.timedelta(minutes=30))
        # Waiting since May, long past seven working days.
        for district, day in (("DOD", 2), ("DOD", 19), ("UDH", 29), ("KTW", 24)):
            history.book(
                s, district_code=district, at=local(dt.date(2017, 5, day), 11), window=None
            )
        # No time limit; due soon; a window missed on Monday; booked today, in time.
        history.book(
            s,
            district_code="DOD",
            at=local(dt.date(2017, 6, 6), 11),
            service_code="ABHA_ID",
            window=None,
        )
        history.book(s, district_code="KTW", at=local(dt.date(2017, 6, 6), 11), window=None)
        history.book(s, district_code="KTW", at=local(dt.date(2017, 6, 12), 7))
        for district in ("DOD", "UDH", "KTW", "DOD"):
            history.book(s, district_code=district, at=local(dt.date(2017, 6, 15), 7), window=-1)
        # The one to act on: applied for on Monday 5 June, given a window this morning for
        # tomorrow (the first window offered tomorrow).
        chosen, person = history.book(
            s, district_code="DOD", at=local(dt.date(2017, 6, 5), 10), window=None
        )
        tomorrow = local(dt.date(2017, 6, 16), 0)
        windows = history.offers(
            s,
            address_id=chosen.address_id,
            service_id=chosen.service_id,
            language=chosen.language,
            at=local(dt.date(2017, 6, 15), 7),
        )
        first_tomorrow = next(i for i, o in enumerate(windows) if o.start >= tomorrow)
        chosen = history.reschedule(
            s, chosen, person, at=local(dt.date(2017, 6, 15), 7), window=first_tomorrow
        )
    planning.clear_cache()
    assert chosen.due_date == dt.date(2017, 6, 13)
    yield chosen


def _district(engine: Engine, code: str = "DOD") -> int:
    with read_session(engine) as s:
        return s.exec(select(District).where(District.code == code)).one().id or 0


def test_a_supervisor_finds_a_breaching_request_and_gives_it_to_another_agent(
    live_url: str, engine: Engine, browser: Browser, shots: Path, june: DoorstepRequest
) -> None:
    supervisor = make_user(engine, Role.SUPERVISOR)
    page = open_page(browser, DESKTOP)
    sign_in(page, live_url, supervisor)
    page.goto(f"{live_url}/pendency")
    expect(page.locator("h1")).to_have_text("Pendency")
    doda = page.locator(f'#table-districts tr[data-key="{_district(engine)}"]')
    expect(doda).to_have_class(re.compile(r"\bbreaching\b"))
    expect(doda.locator(".flag")).to_contain_text("breaching")  # in words, not colour alone
    expect(page.locator("#tile-breached .n")).not_to_have_text("0")
    assert page.locator("#chart-bands svg").count() == 1
    assert page.locator("#chart-rates svg").count() == 1
    _looked_at(page, shots, "overview")

    doda.locator("td.legal-breached a").click()
    page.wait_for_url(re.compile(r"/pendency/requests\?(?=.*\blegal=breached)(?=.*\bdistrict=\d+)"))
    row = page.locator(f"#pending-{june.id}")
    expect(row).to_have_class(re.compile(r"\bbreaching\b"))
    expect(row.locator(".pill.legal")).to_contain_text("breached")
    expect(row).to_contain_text("working days late")
    _looked_at(page, shots, "drill-down")

    row.locator("a.ref").click()
    page.wait_for_url(f"{live_url}/requests/{june.id}")
    before = june.agent_id
    options = page.locator("#reassign-agent option:not([disabled])")
    assert options.count() >= 1
    target = next(
        int(value)
        for value in options.evaluate_all("os => os.map(o => o.value)")
        if int(value) != before
    )
    _looked_at(page, shots, "request")
    page.locator("#reassign-agent").select_option(str(target))
    page.locator("#reassign-submit").click()
    page.wait_for_url(re.compile(rf"/requests/{june.id}"))
    with read_session(engine) as s:
        moved = request_service.get(session=s, request_id=june.id or 0)
        agent = s.get(Agent, target)
    assert moved.agent_id == target and agent is not None
    expect(page.locator("main")).to_contain_text(agent.name)
    _looked_at(page, shots, "reassigned")


def test_the_pages_on_a_phone_and_filtered_and_the_csv(
    live_url: str, engine: Engine, browser: Browser, shots: Path, june: DoorstepRequest
) -> None:
    """The overview filtered to one district (its blocks drawn), the first lines of a
    download, a district with nothing pending, and the pages on a phone."""
    supervisor = make_user(engine, Role.SUPERVISOR)
    page = open_page(browser, DESKTOP)
    sign_in(page, live_url, supervisor)
    page.goto(f"{live_url}/pendency")
    page.locator("#filter-district").select_option(label="Doda")
    page.locator("#filter-submit").click()
    page.wait_for_url(re.compile(r"/pendency\?district=\d+"))
    expect(page.locator("#chart-bands")).to_contain_text("block")
    expect(page.locator("#table-districts tbody tr")).to_have_count(1)
    _looked_at(page, shots, "filtered")
    with page.expect_download() as download:
        page.locator("#export-districts").click()
    saved = download.value.path()
    lines = Path(saved).read_text(encoding="utf-8-sig").splitlines()
    print("\n".join(lines[:4]))  # the artefact a reviewer reads
    assert lines[0].startswith("District,0–2 days")
    assert lines[1].startswith("Doda,")

    page.goto(f"{live_url}/pendency?district={_district(engine, 'KPW')}")  # nothing there
    expect(page.locator("#pendency-empty")).to_contain_text("Nothing pending")
    _looked_at(page, shots, "empty")

    phone = open_page(browser, PHONE)
    sign_in(phone, live_url, supervisor)
    phone.goto(f"{live_url}/pendency/requests?district={_district(engine)}")
    expect(phone.locator(f"#pending-{june.id}")).to_be_visible()
    _looked_at(phone, shots, "drill-down")
    phone.goto(f"{live_url}/pendency")
    _looked_at(phone, shots, "overview")
    other = make_user(engine, Role.CALL_AGENT)
    refused = open_page(browser, DESKTOP)
    sign_in(refused, live_url, other)
    response = refused.goto(f"{live_url}/pendency")
    assert response is not None and response.status == 403
