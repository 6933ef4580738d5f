"""The fees pages through `create_app()`: each agent-day with its money and flags (a flagged row
marked by word and colour), the filters (days, district, flagged only) and their refusals, the
chart with its numbers, the drill-down, the handover form (validation, audit, sent twice), the
CSV exports, and who may see them. Visits are booked and done through the real use cases."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx2 import Response
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from dispatch.agents.models import Agent
from dispatch.audit.models import AuditEntry
from dispatch.db import read_session, write_session
from dispatch.fieldwork import service as field
from dispatch.geography import service as geography_service
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import FeeDeclaration
from dispatch.ledger.reconcile import FlagKind
from dispatch.notifications import service as notification_service
from dispatch.notifications.service import OutboxSender
from dispatch.staff.rules import Role
from ivr.deps import get_clock
from tests import factories
from tests.console import Console, signed_in
from tests.ivr.conftest import FixedClock
from web.export import paise_cell

IST = ZoneInfo("Asia/Kolkata")
#: A district and days no other test plans on; each test that books takes its own day.
DISTRICT = "RMB"
DAYS = {
    "page": dt.date(2037, 3, 3),
    "drill": dt.date(2037, 3, 10),
    "handover": dt.date(2037, 3, 17),
    "csv": dt.date(2037, 3, 24),
    "filters": dt.date(2037, 3, 31),
}


@dataclass(frozen=True)
class Done:
    """A visit booked and completed (read before its session closed)."""

    request_id: int
    reference: str
    agent_id: int
    fee_paise: int
    upi: bool


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), IST)


def _clock(app: FastAPI, now: dt.datetime) -> None:
    app.dependency_overrides[get_clock] = lambda: FixedClock(now)


def _done(engine: Engine, day: dt.date, upi: list[bool]) -> list[Done]:
    """Visits in the district on `day`, booked at 07:00 and completed from 10:00 (by UPI where
    `upi` says), their SMS sent as the web process would."""
    out = []
    for n, by_upi in enumerate(upi):
        with write_session(engine) as s:
            request, _offer = factories.booked_request(
                s, district_code=DISTRICT, now=_at(day, 7, n)
            )
            s.refresh(request)
            assert request.id is not None and request.agent_id is not None
            field.complete(
                session=s,
                settings=factories.SETTINGS,
                idempotency_key=f"test-fees:{request.id}",
                agent_id=request.agent_id,
                request_id=request.id,
                visit_code=request.visit_code or "",
                upi_reference="412345678901" if by_upi else None,
                now=_at(day, 10, n),
            )
            out.append(
                Done(request.id, request.reference, request.agent_id, request.fee_paise, by_upi)
            )
        _send_queued(engine, out[-1].request_id)
    return out


def _send_queued(engine: Engine, request_id: int) -> None:
    """Nothing left in the shared outbox for the scheduled sender's tests to find."""
    with read_session(engine) as s:
        queued = [
            m.id or 0 for m in notification_service.for_request(session=s, request_id=request_id)
        ]
    for message_id in queued:
        notification_service.send(engine=engine, message_id=message_id, sender=OutboxSender())


def _district_id(engine: Engine) -> int:
    with read_session(engine) as s:
        found = geography_service.get_district_by_code(session=s, code=DISTRICT).id
    assert found is not None
    return found


def _declare(engine: Engine, agent_id: int, day: dt.date, cash: int, upi: int) -> None:
    with write_session(engine) as s:
        ledger_service.declare(
            session=s,
            agent_id=agent_id,
            day=day,
            cash_paise=cash,
            upi_paise=upi,
            actor=f"agent:{agent_id}",
            today=day,
            now=_at(day, 18),
        )


def _supervisor(app: FastAPI, engine: Engine, now: dt.datetime) -> Console:
    _clock(app, now)
    return signed_in(app, engine, Role.SUPERVISOR)


def _context(response: Response, template: str) -> dict[str, Any]:
    assert response.template.name == template  # type: ignore[attr-defined]
    context: dict[str, Any] = response.context  # type: ignore[attr-defined]
    return context


def _declarations(engine: Engine, agent_id: int, day: dt.date) -> list[FeeDeclaration]:
    with read_session(engine) as s:
        stmt = (
            select(FeeDeclaration)
            .where(FeeDeclaration.agent_id == agent_id, FeeDeclaration.day == day)
            .order_by(col(FeeDeclaration.id))
        )
        return list(s.exec(stmt))


def _expected(visits: list[Done]) -> dict[int, dict[str, int]]:
    """Per agent: expected, cash and UPI, as the visits were done."""
    out: dict[int, dict[str, int]] = {}
    for v in visits:
        sums = out.setdefault(v.agent_id, {"expected": 0, "cash": 0, "upi": 0})
        sums["expected"] += v.fee_paise
        sums["upi" if v.upi else "cash"] += v.fee_paise
    return out


# --- the list -------------------------------------------------------------------------------


def test_the_fees_page_shows_each_agent_day_totals_a_chart_and_the_flagged_row(
    app: FastAPI, engine: Engine
) -> None:
    day = DAYS["page"]
    visits = _done(engine, day, [False, True, False])
    sums = _expected(visits)
    wrong = visits[0].agent_id
    _declare(engine, wrong, day, cash=sums[wrong]["cash"] + 2000, upi=sums[wrong]["upi"])
    client = _supervisor(app, engine, _at(day, 19))
    response = client.get(f"/fees?first={day}&last={day}&district={_district_id(engine)}")
    assert response.status_code == 200
    context = _context(response, "fees/index.html")
    rows = {r.agent.id: r for r in context["table"].rows}
    assert set(rows) == set(sums)
    for agent_id, expected in sums.items():
        money = rows[agent_id].money
        assert (money.expected_paise, money.cash_paise, money.upi_paise) == (
            expected["expected"],
            expected["cash"],
            expected["upi"],
        )
        assert money.outstanding_paise == 0
        # Today: the others' declarations are not late yet; the wrong one is flagged now.
        assert money.flag_kinds == ({FlagKind.CASH_DIFFERS} if agent_id == wrong else set())
    totals = context["table"].totals
    assert totals.expected_paise == sum(v.fee_paise for v in visits)
    assert totals.collected_paise == totals.expected_paise and totals.flagged == 1
    (per_day,) = context["table"].per_day
    assert per_day.cash_paise == sum(s["cash"] for s in sums.values())
    assert per_day.upi_paise == sum(s["upi"] for s in sums.values())

    html = response.text
    flagged_row = re.search(rf'<tr class="flagged" id="row-{wrong}-{day}">(.*?)</tr>', html, re.S)
    assert flagged_row is not None, "the flagged row is marked"
    assert '<span class="pill flag">check</span>' in flagged_row.group(1)
    assert "declared cash ₹" in flagged_row.group(1) and "₹20 more" in flagged_row.group(1)
    for agent_id in set(sums) - {wrong}:
        assert f'<tr class="" id="row-{agent_id}-{day}">' in html
    assert '<svg role="img" aria-label="Cash and UPI collected per day' in html
    assert 'id="per-day"' in html and f"/fees/{wrong}/{day}" in html


def test_the_filters_default_to_the_last_seven_days_and_can_show_flagged_days_only(
    app: FastAPI, engine: Engine
) -> None:
    day = DAYS["filters"]
    visits = _done(engine, day, [False, False, True])
    sums = _expected(visits)
    late = visits[0].agent_id
    for agent_id, expected in sums.items():
        if agent_id != late:
            _declare(engine, agent_id, day, cash=expected["cash"], upi=expected["upi"])
    client = _supervisor(app, engine, _at(day + dt.timedelta(days=2), 9))
    context = _context(client.get("/fees"), "fees/index.html")
    filters = context["filters"]
    assert (filters.first, filters.last) == (day - dt.timedelta(days=4), day + dt.timedelta(days=2))
    assert len(context["table"].per_day) == 7
    district = _district_id(engine)
    everything = _context(
        client.get(f"/fees?first={day}&last={day}&district={district}"), "fees/index.html"
    )["table"].rows
    flagged = _context(
        client.get(f"/fees?first={day}&last={day}&district={district}&flagged=on"),
        "fees/index.html",
    )["table"].rows
    # Two days later, the day nobody declared is late; the declared ones match the ledger.
    assert {r.agent.id for r in everything} == set(sums)
    assert [(r.agent.id, r.money.flag_kinds) for r in flagged] == [(late, {FlagKind.NOT_DECLARED})]
    assert all(not r.money.flags for r in everything if r.agent.id != late)


def test_filters_that_cannot_be_read_are_said_next_to_their_field_and_kept(
    app: FastAPI, engine: Engine
) -> None:
    client = _supervisor(app, engine, _at(DAYS["page"], 9))
    response = client.get("/fees?first=2037-02-30&last=2037-03-03&district=999999")
    assert response.status_code == 422
    context = _context(response, "fees/index.html")
    assert context["errors"] == {
        "first": "a date like 2026-12-01",
        "district": "not a district of this state",
    }
    assert context["table"] is None
    assert 'value="2037-02-30"' in response.text and 'id="error-first"' in response.text
    backwards = client.get("/fees?first=2037-03-03&last=2037-03-01")
    assert backwards.status_code == 422
    assert _context(backwards, "fees/index.html")["errors"] == {
        "last": "the last day is before the first"
    }
    too_long = client.get("/fees?first=2037-01-01&last=2037-06-01")
    assert "at most 92 days" in _context(too_long, "fees/index.html")["errors"]["last"]
    assert client.get("/fees/export/days.csv?first=nonsense").status_code == 422


# --- one agent-day --------------------------------------------------------------------------


def test_the_drill_down_lists_the_visits_entries_and_declarations_of_an_agent_day(
    app: FastAPI, engine: Engine
) -> None:
    day = DAYS["drill"]
    first, *_rest = visits = _done(engine, day, [False, True])
    mine = [v for v in visits if v.agent_id == first.agent_id]
    _declare(engine, first.agent_id, day, cash=0, upi=0)
    client = _supervisor(app, engine, _at(day + dt.timedelta(days=1), 9))
    response = client.get(f"/fees/{first.agent_id}/{day}")
    assert response.status_code == 200
    context = _context(response, "fees/agent_day.html")
    detail = context["d"]
    assert [v.money.reference for v in detail.visits] == [v.reference for v in mine]
    assert [e.reference for e in detail.entries] == [v.reference for v in mine]
    assert [e.amount_paise for e in detail.entries] == [v.fee_paise for v in mine]
    assert len(detail.declarations) == 1 and context["may_record"]
    assert detail.money.flag_kinds == {FlagKind.CASH_DIFFERS} | (
        {FlagKind.UPI_DIFFERS} if any(v.upi for v in mine) else set()
    )
    html = response.text
    assert 'id="day-flags"' in html and 'id="day-flagged"' in html
    for v in mine:
        assert f'href="/requests/{v.request_id}"' in html and v.reference in html
    assert 'id="handover-form"' in html and 'name="key"' in html
    assert client.get(f"/fees/{first.agent_id}/{day}?done=handover").status_code == 200


def test_an_agent_of_another_state_or_none_is_not_found(app: FastAPI, engine: Engine) -> None:
    with read_session(engine) as s:
        punjab = s.exec(select(Agent).where(Agent.state_code == "PB")).first()
    assert punjab is not None
    client = _supervisor(app, engine, _at(DAYS["drill"], 9))
    assert client.get(f"/fees/{punjab.id}/{DAYS['drill']}").status_code == 404
    assert client.get(f"/fees/export/{punjab.id}/{DAYS['drill']}.csv").status_code == 404
    assert client.get(f"/fees/{2**31 - 1}/{DAYS['drill']}").status_code == 404
    assert client.get(f"/fees/{punjab.id}/not-a-day").status_code == 422


def test_a_supervisor_records_the_money_handed_over_once_audited_and_it_counts(
    app: FastAPI, engine: Engine
) -> None:
    day = DAYS["handover"]
    (visit,) = _done(engine, day, [False])
    client = _supervisor(app, engine, _at(day, 18))
    page = _context(client.get(f"/fees/{visit.agent_id}/{day}"), "fees/agent_day.html")
    form = {"cash": "450.50", "upi": "", "note": "at the block office", "key": page["key"]}
    url = f"/fees/{visit.agent_id}/{day}/handover"
    sent = client.submit(url, form)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/fees/{visit.agent_id}/{day}?done=handover"
    again = client.submit(url, form)  # a double click, a retry after a timeout
    assert again.status_code == 303
    (recorded,) = _declarations(engine, visit.agent_id, day)
    assert (recorded.cash_paise, recorded.upi_paise) == (45050, 0)
    assert recorded.actor == f"staff:{client.user.username}"
    assert recorded.note == "at the block office"
    with read_session(engine) as s:
        audits = list(
            s.exec(
                select(AuditEntry).where(
                    AuditEntry.entity == "agent_day",
                    AuditEntry.entity_id == f"{visit.agent_id}:{day.isoformat()}",
                )
            )
        )
    assert len(audits) == 1 and audits[0].actor == recorded.actor
    assert audits[0].detail["after"] == {"cash_paise": 45050, "upi_paise": 0}

    shown = client.get(sent.headers["location"])
    context = _context(shown, "fees/agent_day.html")
    assert "Recorded: cash ₹450.50, UPI ₹0 handed over" in context["notice"]
    money = context["m"]
    assert money.declared.actor == recorded.actor
    differs = visit.fee_paise != 45050
    assert (FlagKind.CASH_DIFFERS in money.flag_kinds) == differs
    assert context["d"].counts.id == recorded.id

    # The agent can no longer replace the count; a supervisor's recount (a new form) does.
    with pytest.raises(ledger_service.CountedAtHandover):
        _declare(engine, visit.agent_id, day, cash=visit.fee_paise, upi=0)
    key = _context(client.get(f"/fees/{visit.agent_id}/{day}"), "fees/agent_day.html")["key"]
    recount = client.submit(url, {"cash": "460", "upi": "0", "note": "", "key": key})
    assert recount.status_code == 303
    first, second = _declarations(engine, visit.agent_id, day)
    assert (first.id, second.cash_paise) == (recorded.id, 46000)
    shown = client.get(f"/fees/{visit.agent_id}/{day}")
    assert _context(shown, "fees/agent_day.html")["d"].counts.id == second.id
    counts = re.search(r'<li class="counts">(.*?)</li>', shown.text, re.S)
    assert counts is not None and "cash ₹460, UPI ₹0" in counts.group(1)
    assert shown.text.count('<span class="pill ok">counts</span>') == 1


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"cash": "45O", "upi": "0"}, "cash", "type an amount in rupees, like 450 or 450.50"),
        ({"cash": "10", "upi": "-5"}, "upi", "cannot be negative"),
        ({"cash": "4.505", "upi": ""}, "cash", "at most two digits after the point (paise)"),
        ({"cash": " ", "upi": ""}, "cash", "type the cash handed over (0 if none), and the UPI"),
        ({"cash": "1", "upi": "1", "note": "x" * 201}, "note", "at most 200 characters"),
    ],
)
def test_a_handover_that_cannot_be_read_is_refused_next_to_its_field_and_kept(
    app: FastAPI, engine: Engine, form: dict[str, str], field: str, message: str
) -> None:
    day = DAYS["handover"]
    with read_session(engine) as s:
        agent = s.exec(select(Agent).where(Agent.state_code == "JK")).first()
    assert agent is not None and agent.id is not None
    before = len(_declarations(engine, agent.id, day))
    client = _supervisor(app, engine, _at(day, 18))
    key = str(uuid.uuid4())
    response = client.submit(f"/fees/{agent.id}/{day}/handover", {**form, "key": key})
    assert response.status_code == 422
    context = _context(response, "fees/agent_day.html")
    assert context["errors"] == {field: message}
    assert context["key"] == key  # the same form: sent again once fixed, it still acts once
    assert f'id="error-{field}"' in response.text
    typed = form[field] if field != "note" else form["note"]
    if typed.strip():
        assert f'value="{typed}"' in response.text
    assert len(_declarations(engine, agent.id, day)) == before


def test_no_handover_for_a_day_still_to_come(app: FastAPI, engine: Engine) -> None:
    day = DAYS["handover"]
    with read_session(engine) as s:
        agent = s.exec(select(Agent).where(Agent.state_code == "JK")).first()
    assert agent is not None and agent.id is not None
    client = _supervisor(app, engine, _at(day, 18))
    tomorrow = day + dt.timedelta(days=1)
    page = _context(client.get(f"/fees/{agent.id}/{tomorrow}"), "fees/agent_day.html")
    assert not page["may_record"]
    refused = client.submit(
        f"/fees/{agent.id}/{tomorrow}/handover",
        {"cash": "100", "upi": "0", "key": str(uuid.uuid4())},
    )
    assert refused.status_code == 422
    assert _context(refused, "fees/agent_day.html")["errors"] == {
        "form": "a day still to come has no takings yet"
    }
    assert _declarations(engine, agent.id, tomorrow) == []


# --- exports and permissions ----------------------------------------------------------------


def _csv(response: Response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_each_table_downloads_as_csv_with_the_same_rows(app: FastAPI, engine: Engine) -> None:
    day = DAYS["csv"]
    visits = _done(engine, day, [False, True])
    sums = _expected(visits)
    client = _supervisor(app, engine, _at(day, 19))
    query = f"first={day}&last={day}&district={_district_id(engine)}"

    days = client.get(f"/fees/export/days.csv?{query}")
    assert f'filename="fees-{day}-to-{day}.csv"' in days.headers["content-disposition"]
    header, *rows = _csv(days)
    assert header[:4] == ["Day", "Agent", "CSC ID", "District"] and header[-1] == "Flags"
    by_agent = {row[2]: row for row in rows}
    with read_session(engine) as s:
        csc = {a: (s.get(Agent, a) or Agent()).csc_id for a in sums}
    assert set(by_agent) == set(csc.values())
    for agent_id, expected in sums.items():
        row = by_agent[csc[agent_id]]
        assert row[0] == day.isoformat() and row[3] == "Ramban"
        assert row[6:9] == [
            paise_cell(expected["expected"]),
            paise_cell(expected["cash"]),
            paise_cell(expected["upi"]),
        ]

    collected = _csv(client.get(f"/fees/export/collected.csv?{query}"))
    assert collected == [
        ["Day", "Cash (Rs)", "UPI (Rs)", "Total (Rs)"],
        [
            day.isoformat(),
            paise_cell(sum(s["cash"] for s in sums.values())),
            paise_cell(sum(s["upi"] for s in sums.values())),
            paise_cell(sum(s["expected"] for s in sums.values())),
        ],
    ]

    agent_id = visits[0].agent_id
    mine = [v for v in visits if v.agent_id == agent_id]
    entries = _csv(client.get(f"/fees/export/{agent_id}/{day}.csv"))
    assert entries[0][:3] == ["Time", "Reference", "Kind"]
    assert [(r[1], r[2], r[4]) for r in entries[1:]] == [
        (v.reference, "collect", paise_cell(v.fee_paise)) for v in mine
    ]
    assert entries[1][0] == f"{day.isoformat()} 10:00"  # local time
    visit_rows = _csv(client.get(f"/fees/export/{agent_id}/{day}/visits.csv"))
    assert [(r[0], r[2], r[4], r[5]) for r in visit_rows[1:]] == [
        (v.reference, "completed", paise_cell(v.fee_paise), paise_cell(v.fee_paise)) for v in mine
    ]


def test_only_those_who_supervise_see_the_fees(app: FastAPI, engine: Engine) -> None:
    day = DAYS["csv"]
    with read_session(engine) as s:
        agent_id = s.exec(select(func.min(Agent.id)).where(Agent.state_code == "JK")).one()
    _clock(app, _at(day, 19))
    urls = [
        "/fees",
        "/fees/export/days.csv",
        "/fees/export/collected.csv",
        f"/fees/{agent_id}/{day}",
        f"/fees/export/{agent_id}/{day}.csv",
        f"/fees/export/{agent_id}/{day}/visits.csv",
    ]
    call_agent = signed_in(app, engine, Role.CALL_AGENT)
    for url in urls:
        assert call_agent.get(url).status_code == 403, url
    posted = call_agent.submit(
        f"/fees/{agent_id}/{day}/handover", {"cash": "1", "key": str(uuid.uuid4())}
    )
    assert posted.status_code == 403
    admin = signed_in(app, engine, Role.ADMIN)
    for url in urls:
        assert admin.get(url).status_code == 200, url
