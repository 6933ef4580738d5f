"""Alerts in a real browser (Debian's Chromium, headless): a supervisor sees the navigation's
count, opens /alerts, finds the appeal alert of a request past its legal time limit (raised by
the scheduled task), opens the request, comes back and acknowledges the alert (htmx: the row
says so, the count drops); /tasks shows the task's last run.

The request is a land-record copy (three working days) applied for in Samba on Monday
4 November 2013 (no other test books then), checked a week later. The pages are checked for
labelled controls and for fitting the screen, and photographed (`var/test-artifacts/alerts/`,
or `$DOORSTEP_SCREENSHOTS`)."""

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

from dispatch.alerts import deadlines
from dispatch.alerts.models import Alert
from dispatch.db import read_session, write_session
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.rules import Role
from dispatch.taskruns import service as task_runs
from tests import factories
from tests import pendency_history as history
from tests.console import make_user
from tests.e2e.browser import DESKTOP, PHONE, looked_at, open_page, sign_in
from tests.pendency_history import local

pytestmark = pytest.mark.browser

#: Monday 11 November 2013, noon: the limit ended on Thursday 7.
NOW = local(dt.date(2013, 11, 11), 12)
SCREENSHOTS = "alerts"

_looked_at = partial(looked_at, file="alerts-{name}{phone}")


@pytest.fixture(scope="module")
def past_limit(engine: Engine) -> Iterator[tuple[DoorstepRequest, int]]:
    """The request and its appeal alert, raised by the task; the task's run recorded as the
    scheduler records it."""
    with write_session(engine) as s:
        request, _ = history.book(
            s,
            district_code="SMB",
            at=local(dt.date(2013, 11, 4), 11),
            service_code="FARD_COPY",
            window=None,
        )
    assert request.due_date == dt.date(2013, 11, 7)
    started = dt.datetime.now(dt.UTC)
    raised = deadlines.check_deadlines(engine=engine, settings=factories.SETTINGS, now=NOW)
    task_runs.record(
        engine,
        task_runs.finished,
        name="deadlines",
        started_at=started,
        at=dt.datetime.now(dt.UTC),
        ok=True,
        summary=f"{len(raised)} alerts raised",
        next_run_at=started + dt.timedelta(minutes=15),
        runner="test-host:1",
    )
    with read_session(engine) as s:
        alert = s.exec(select(Alert).where(Alert.key == f"appeal:r{request.id}")).one()
    assert alert.id in raised
    yield request, alert.id


def test_a_supervisor_acknowledges_an_appeal_alert_after_opening_its_request(
    live_url: str,
    engine: Engine,
    browser: Browser,
    shots: Path,
    past_limit: tuple[DoorstepRequest, int],
) -> None:
    request, alert_id = past_limit
    supervisor = make_user(engine, Role.SUPERVISOR)
    page = open_page(browser, DESKTOP)
    sign_in(page, live_url, supervisor)
    page.goto(f"{live_url}/alerts?kind=appeal")
    badge = page.locator("header #alerts-count")
    expect(badge).to_have_text(re.compile(r"^\d+$"))  # loaded by htmx
    before = int(badge.inner_text())
    counted = re.match(r"(\d+) open", page.locator("#alerts-count-line").inner_text())
    assert counted is not None
    listed = int(counted.group(1))
    row = page.locator(f"#alert-{alert_id}")
    expect(row).to_contain_text(request.reference)
    expect(row).to_contain_text("Marked for appeal")
    expect(row).to_contain_text("Its time limit ended on Thu 07 Nov 2013")
    _looked_at(page, shots, "list")

    row.locator("a.subject").click()
    page.wait_for_url(f"{live_url}/requests/{request.id}")
    expect(page.locator("main")).to_contain_text(request.reference)
    page.go_back()
    page.wait_for_url(re.compile(r"/alerts\?kind=appeal$"))

    page.locator(f"#ack-{alert_id}").click()
    expect(page.locator(f"#alert-{alert_id}")).to_contain_text("Acknowledged at")
    expect(page.locator(f"#alert-{alert_id} button")).to_have_count(0)
    expect(badge).to_have_text("" if before == 1 else str(before - 1))
    line = page.locator("#alerts-count-line")
    expect(line).to_have_text(
        "No open alerts match." if listed == 1 else re.compile(rf"^{listed - 1} open alerts?\.")
    )
    with read_session(engine) as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.acknowledged_by == f"staff:{supervisor.username}"
    _looked_at(page, shots, "acknowledged")

    phone = open_page(browser, PHONE)
    sign_in(phone, live_url, supervisor)
    phone.goto(f"{live_url}/tasks")
    last = phone.locator("#task-deadlines .last-run")
    expect(last).not_to_have_text("—")
    expect(phone.locator("#task-deadlines")).to_contain_text("alerts raised")
    _looked_at(phone, shots, "tasks")
