"""The pendency pages: the overview (filters, tiles, charts, tables with breaching rows marked),
the requests behind each count, the CSV export of every table, and who may see them.

Shopian's requests are made once for the module by the booking, rescheduling and field-report
use cases at their moments in June 2018 (no other test books there, nor then); the app's clock
is Thursday 21 June 2018, noon. Pendency is as of that moment, so other tests' later requests
are not counted; assertions about the whole state only compare the page with itself."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dispatch.citizens.models import Citizen
from dispatch.db import write_session
from dispatch.geography.models import District
from dispatch.pendency.rules import LegalState, PromiseState
from dispatch.planning import service as planning
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.rules import Role
from dispatch.states import service as state_service
from ivr.deps import get_clock
from tests import pendency_history as history
from tests.console import Console, signed_in
from tests.ivr.conftest import FixedClock
from tests.pendency_history import IST, local

DISTRICT = "SPN"
NOW = dt.datetime(2018, 6, 21, 12, 0, tzinfo=IST)


def _book(
    session: Session, at: dt.datetime, service_code: str = "BIRTH_CERT", window: int | None = 0
) -> tuple[DoorstepRequest, Citizen]:
    return history.book(
        session, district_code=DISTRICT, at=at, service_code=service_code, window=window
    )


@pytest.fixture(scope="module")
def shopian(engine: Engine) -> Iterator[dict[str, DoorstepRequest]]:
    """Shopian's requests in June 2018, by what they show."""
    planning.clear_cache()
    made: dict[str, DoorstepRequest] = {}
    with write_session(engine) as s:
        made["old"], _ = _book(s, local(dt.date(2018, 5, 10), 11), window=None)
        made["no_limit"], _ = _book(s, local(dt.date(2018, 6, 11), 11), "ABHA_ID", window=None)
        made["missed"], _ = _book(s, local(dt.date(2018, 6, 18), 7))
        fard, person = _book(s, local(dt.date(2018, 6, 19), 7), "FARD_COPY", window=None)
        made["late_plan"] = history.reschedule(
            s, fard, person, at=local(dt.date(2018, 6, 21), 7), window=-1
        )
        made["on_time"], _ = _book(s, local(dt.date(2018, 6, 21), 7), window=-1)
        done, _ = _book(s, local(dt.date(2018, 6, 4), 7))
        assert done.window_start is not None
        history.visit_done(s, done, arrived=done.window_start + dt.timedelta(minutes=15))
        made["completed"] = done
    planning.clear_cache()
    yield made


OPEN_KEYS = ("old", "no_limit", "missed", "late_plan", "on_time")


@pytest.fixture
def supervisor(app: FastAPI, engine: Engine) -> Console:
    app.dependency_overrides[get_clock] = lambda: FixedClock(NOW)
    return signed_in(app, engine, Role.SUPERVISOR)


def _district_id(engine: Engine) -> int:
    with write_session(engine) as s:
        found = s.exec(select(District).where(District.code == DISTRICT)).one()
        return found.id or 0


def _context(client: Console, url: str, template: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.template.name == template  # type: ignore[attr-defined]
    context: dict[str, Any] = response.context  # type: ignore[attr-defined]
    return context


def _csv(client: Console, url: str) -> tuple[list[str], list[list[str]]]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text[1:])))
    return header, rows


# --- the overview ---------------------------------------------------------------------------


def test_a_district_shows_its_counts_and_its_breaching_row_is_marked_in_words(
    supervisor: Console, engine: Engine, shopian: dict[str, DoorstepRequest]
) -> None:
    district = _district_id(engine)
    context = _context(supervisor, f"/pendency?district={district}", "pendency/index.html")
    summary = context["summary"]
    assert summary.total == len(OPEN_KEYS)
    assert summary.legal[LegalState.BREACHED] == 1 and summary.legal[LegalState.FORECAST] == 1
    assert summary.legal[LegalState.NO_LIMIT] == 1
    assert summary.promise[PromiseState.MISSED] == 1
    assert summary.bands["31+"] == 1 and summary.bands["8-15"] == 1
    tiles = {t.kind: t.count for t in context["tiles"]}
    assert tiles == {
        "open": 5,
        "breached": 1,
        "forecast": 1,
        "due-soon": summary.legal[LegalState.DUE_SOON],
        "missed": 1,
        "at-risk": summary.promise[PromiseState.AT_RISK],
    }
    tables = {t.dimension.value: t for t in context["tables"]}
    [row] = tables["district"].rows
    assert (row.name, row.total, row.breaching) == ("Shopian", 5, 2)
    unassigned = next(t for t in tables["agent"].rows if t.key is None)
    assert unassigned.total == 2  # waiting for a window: no agent yet
    html = supervisor.get(f"/pendency?district={district}").text
    shopian_row = re.search(rf'<tr class="breaching" data-key="{district}">.*?</tr>', html, re.S)
    assert shopian_row is not None and "2 breaching" in shopian_row.group(0)
    assert "⚠" in shopian_row.group(0)
    assert html.count("<svg") == 2  # both charts, drawn on the server
    assert 'id="pendency-empty"' not in html
    week = next(w for w in context["weeks"] if w.week == dt.date(2018, 6, 4))
    assert (week.completed, week.legal_rate, week.promise_rate) == (1, 100.0, 100.0)
    assert context["band_chart_of"].dimension.value == "block"  # a district chosen: its blocks


def test_the_whole_state_adds_up_and_lists_shopian(
    supervisor: Console, engine: Engine, shopian: dict[str, DoorstepRequest]
) -> None:
    context = _context(supervisor, "/pendency", "pendency/index.html")
    tables = {t.dimension.value: t for t in context["tables"]}
    summary = context["summary"]
    for table in tables.values():
        assert sum(t.total for t in table.rows) == summary.total
    names = [t.name for t in tables["district"].rows]
    assert "Shopian" in names
    breaching = [t.breaching for t in tables["district"].rows]
    assert breaching == sorted(breaching, reverse=True)  # worst first
    assert context["band_chart_of"].dimension.value == "district"
    assert context["working_week"] == "Mon–Sat"


def test_every_count_links_to_the_requests_behind_it(
    supervisor: Console, engine: Engine, shopian: dict[str, DoorstepRequest]
) -> None:
    """Each number in the tables opens the list of exactly those requests."""
    district = _district_id(engine)
    html = supervisor.get(f"/pendency?district={district}").text
    counts = re.findall(r'<a href="(/pendency/requests\?[^"]+)">(\d+)</a>', html)
    breached = f"/pendency/requests?district={district}&amp;legal=breached"
    assert (breached, "1") in counts
    for link, shown in set(counts):
        listed = _context(supervisor, link.replace("&amp;", "&"), "pendency/requests.html")
        assert listed["page"].total == int(shown), link
    context = _context(supervisor, breached.replace("&amp;", "&"), "pendency/requests.html")
    [row] = context["page"].rows
    assert row.request_id == shopian["old"].id and row.legal is LegalState.BREACHED
    assert row.working_days_left is not None and row.working_days_left < 0
    page = supervisor.get(breached.replace("&amp;", "&")).text
    assert f'href="/requests/{row.request_id}"' in page
    assert "⚠" in page and "breached" in page and "working days late" in page


def test_the_list_narrows_by_band_agent_promise_and_block(
    supervisor: Console, engine: Engine, shopian: dict[str, DoorstepRequest]
) -> None:
    district = _district_id(engine)

    def ids(query: str) -> set[int]:
        context = _context(
            supervisor, f"/pendency/requests?district={district}&{query}", "pendency/requests.html"
        )
        return {r.request_id for r in context["page"].rows}

    assert ids("band=31%2B") == {shopian["old"].id}
    assert ids("agent=none") == {shopian["old"].id, shopian["no_limit"].id}
    assert ids("promise=missed") == {shopian["missed"].id}
    assert ids("legal=forecast") == {shopian["late_plan"].id}
    assert ids("legal=breached&promise=missed") == set()
    everything = _context(
        supervisor, f"/pendency/requests?district={district}", "pendency/requests.html"
    )
    rows = everything["page"].rows
    assert {r.request_id for r in rows} == {shopian[k].id for k in OPEN_KEYS}
    assert [r.legal for r in rows][:2] == [LegalState.BREACHED, LegalState.FORECAST]
    said = {n.label: n.value for n in everything["narrowed"]}
    assert said == {"District": "Shopian"}
    narrowed = _context(
        supervisor,
        f"/pendency/requests?district={district}&band=31%2B&legal=bogus",
        "pendency/requests.html",
    )
    assert narrowed["form"] == {"district": str(district), "band": "31+"}  # bogus left out
    [band] = [n for n in narrowed["narrowed"] if n.label == "Waiting"]
    assert band.without == f"/pendency/requests?district={district}"


def test_nothing_pending_says_so(
    app: FastAPI, engine: Engine, shopian: dict[str, DoorstepRequest]
) -> None:
    """Before Shopian's first request there is nothing to count: the page says so instead of
    empty tables and charts."""
    app.dependency_overrides[get_clock] = lambda: FixedClock(local(dt.date(2018, 5, 1), 9))
    client = signed_in(app, engine, Role.SUPERVISOR)
    district = _district_id(engine)
    context = _context(client, f"/pendency?district={district}", "pendency/index.html")
    assert context["summary"].total == 0 and context["band_chart"] is None
    html = client.get(f"/pendency?district={district}").text
    assert 'id="pendency-empty"' in html and "Nothing pending" in html
    assert 'id="table-districts"' not in html and 'id="rates-empty"' in html
    listed = client.get(f"/pendency/requests?district={district}").text
    assert 'id="pending-empty"' in listed


def test_the_pages_say_when_the_states_holidays_have_run_out(
    app: FastAPI, engine: Engine, shopian: dict[str, DoorstepRequest]
) -> None:
    """In 2018 the seeded holidays (2026-2027) lie ahead: no note. The day after the last
    one on record, both pages say due dates now take no holiday off, naming that day."""
    with write_session(engine) as s:
        last = max(h.day for h in state_service.holidays(session=s, state_code="JK"))
    app.dependency_overrides[get_clock] = lambda: FixedClock(NOW)
    client = signed_in(app, engine, Role.SUPERVISOR)
    before = _context(client, "/pendency", "pendency/index.html")
    assert before["holidays_run_out"] is False
    assert 'id="holidays-run-out"' not in client.get("/pendency").text
    after = local(last + dt.timedelta(days=1), 10)
    app.dependency_overrides[get_clock] = lambda: FixedClock(after)
    for url, template in (
        ("/pendency", "pendency/index.html"),
        ("/pendency/requests", "pendency/requests.html"),
    ):
        context = _context(client, url, template)
        assert context["holidays_run_out"] is True and context["last_holiday"] == last
        html = client.get(url).text
        assert 'id="holidays-run-out"' in html, url
        assert f"No gazetted holidays on record after {last:%a %d %b %Y}" in html
        assert "due dates count every working day (Mon–Sat)" in html


def test_the_pages_ask_the_database_a_fixed_number_of_questions(
    supervisor: Console, engine: Engine, shopian: dict[str, DoorstepRequest]
) -> None:
    """No query per request or per row: the whole state (every district of every test) takes
    as many statements as one district."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    district = _district_id(engine)
    seen: dict[str, int] = {}
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        for url in (f"/pendency?district={district}", "/pendency", "/pendency/requests"):
            statements.clear()
            assert supervisor.get(url).status_code == 200
            seen[url] = len(statements)
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert seen[f"/pendency?district={district}"] == seen["/pendency"] <= 20
    assert seen["/pendency/requests"] <= 20


# --- exports ------------------------------------------------------------------------------------


def test_every_table_exports_as_csv_with_the_same_filters(
    supervisor: Console, engine: Engine, shopian: dict[str, DoorstepRequest]
) -> None:
    district = _district_id(engine)
    response = supervisor.get(f"/pendency/export/districts.csv?district={district}")
    assert response.headers["content-disposition"] == (
        'attachment; filename="pendency-districts-2018-06-21.csv"'
    )
    header, rows = _csv(supervisor, f"/pendency/export/districts.csv?district={district}")
    assert header[:7] == [
        "District",
        "0–2 days",
        "3–7 days",
        "8–15 days",
        "16–30 days",
        "31+ days",
        "Open",
    ]
    [shopian_row] = rows
    line = dict(zip(header, shopian_row, strict=True))
    assert line["District"] == "Shopian" and line["Open"] == "5"
    assert line["Breached"] == "1" and line["Forecast to breach"] == "1"
    assert line["Promise missed"] == "1" and line["31+ days"] == "1"
    for table in ("blocks", "services", "agents"):
        head, body = _csv(supervisor, f"/pendency/export/{table}.csv?district={district}")
        opened = head.index("Open")
        assert sum(int(r[opened]) for r in body) == 5, table
    head, body = _csv(supervisor, f"/pendency/export/weeks.csv?district={district}")
    assert head[0] == "Week starting" and len(body) == 12
    assert body[-1][0] == "2018-06-18"
    assert ["2018-06-04", "1", "1", "1", "100.0", "1", "1", "100.0"] in body
    head, body = _csv(supervisor, f"/pendency/export/requests.csv?district={district}")
    references = [r[head.index("Reference")] for r in body]
    assert set(references) == {shopian[k].reference for k in OPEN_KEYS}
    assert body[0][head.index("Legal time limit")] == "breached"
    text = supervisor.get(f"/pendency/export/requests.csv?district={district}").text
    with write_session(engine) as s:
        citizens = [s.get(Citizen, shopian[k].citizen_id) for k in OPEN_KEYS]
    for person in citizens:
        assert person is not None and person.phone[-10:] not in text  # no personal data
    narrowed = _csv(supervisor, f"/pendency/export/requests.csv?district={district}&agent=none")
    assert len(narrowed[1]) == 2
    assert supervisor.get("/pendency/export/secrets.csv").status_code == 404


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CALL_AGENT, Role.DISPATCHER])
def test_only_supervisors_and_admins_see_pendency(app: FastAPI, engine: Engine, role: Role) -> None:
    app.dependency_overrides[get_clock] = lambda: FixedClock(NOW)
    client = signed_in(app, engine, role)
    for url in ("/pendency", "/pendency/requests", "/pendency/export/districts.csv"):
        assert client.get(url).status_code == 403, url
    admin = signed_in(app, engine, Role.ADMIN)
    assert admin.get("/pendency").status_code == 200
    anonymous = Console(app, follow_redirects=False, headers={"accept": "text/html"})
    response = anonymous.get("/pendency")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_a_filter_that_is_not_an_id_is_refused(supervisor: Console) -> None:
    assert supervisor.get("/pendency?district=abc").status_code == 422
    assert supervisor.get("/pendency/requests?agent=someone").status_code == 422
    assert supervisor.get("/pendency?district=9999999999").status_code == 422
