"""The agent's day page records the day's takings: cash and UPI typed in rupees, read as exact
paise, recorded as the day's fee declaration by the agent; a form that cannot be read is shown
again with what was typed and why (422); the same form sent twice records once; no form for a
day still to come, nor for a day whose money a supervisor has counted at a handover (the page
shows that count, and the agent's own is refused). Through `create_app()` with a fixed clock,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch.agents.models import Agent
from dispatch.audit.models import AuditEntry
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork import access
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import FeeDeclaration
from tests.ivr.conftest import FixedClock

IST = ZoneInfo("Asia/Kolkata")
#: Days no other test declares takings on, one per test (no visit needs booking: the form is
#: the day's).
DAYS = {
    "saved": dt.date(2037, 4, 7),
    "twice": dt.date(2037, 4, 8),
    "refused": dt.date(2037, 4, 9),
    "future": dt.date(2037, 4, 10),
    "yesterday": dt.date(2037, 4, 11),
    "counted": dt.date(2037, 4, 12),
}


def _evening(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(18, 30), IST)


def _client(app: FastAPI, clock: FixedClock, now: dt.datetime) -> TestClient:
    clock.at = now.astimezone(dt.UTC)
    return TestClient(app)


@pytest.fixture
def agent_id(engine: Engine) -> int:
    """A J&K agent (each test declares on a day of its own)."""
    with read_session(engine) as s:
        found = s.exec(
            select(Agent.id).where(Agent.state_code == "JK").order_by(col(Agent.id))
        ).first()
    assert found is not None
    return found


def _link(settings: Settings, agent_id: int, on: dt.date) -> str:
    return f"/a/{access.day_token(settings=settings, agent_id=agent_id, day=on)}"


def _form_id(client: TestClient, link: str) -> str:
    page = client.get(link)
    assert page.status_code == 200
    assert page.context["may_declare"]  # type: ignore[attr-defined]
    form_id = page.context["form_id"]  # type: ignore[attr-defined]
    assert isinstance(form_id, str)
    return form_id


def _declarations(engine: Engine, agent_id: int, day: dt.date) -> list[FeeDeclaration]:
    with read_session(engine) as s:
        stmt = (
            select(FeeDeclaration)
            .where(FeeDeclaration.agent_id == agent_id, FeeDeclaration.day == day)
            .order_by(col(FeeDeclaration.id))
        )
        return list(s.exec(stmt))


def test_the_agent_saves_todays_takings_in_rupees_as_exact_paise(
    app: FastAPI, clock: FixedClock, settings: Settings, engine: Engine, agent_id: int
) -> None:
    day = DAYS["saved"]
    client = _client(app, clock, _evening(day))
    link = _link(settings, agent_id, day)
    page = client.get(link)
    assert "Today&#39;s takings" in page.text and f'action="{link}/takings"' in page.text
    assert 'inputmode="decimal"' in page.text
    sent = client.post(
        f"{link}/takings",
        data={"form_id": _form_id(client, link), "cash": "450", "upi": "120.50"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{link}?m=takings#takings"
    assert sent.headers["cache-control"] == "no-store"
    (saved,) = _declarations(engine, agent_id, day)
    assert (saved.cash_paise, saved.upi_paise) == (45000, 12050)
    assert saved.actor == f"agent:{agent_id}"
    back = client.get(sent.headers["location"])
    result = back.context["result"]  # type: ignore[attr-defined]
    assert result.ok and result.text == "Takings saved: cash ₹450, UPI ₹120.50"
    assert "Saved: cash ₹450, UPI ₹120.50 at 18:30" in back.text
    with read_session(engine) as s:
        audit = s.exec(
            select(AuditEntry).where(
                AuditEntry.entity == "agent_day", AuditEntry.entity_id == f"{agent_id}:{day}"
            )
        ).one()
    assert audit.actor == f"agent:{agent_id}"
    assert audit.detail["after"] == {"cash_paise": 45000, "upi_paise": 12050}


def test_the_same_form_sent_twice_records_once_and_a_correction_counts(
    app: FastAPI, clock: FixedClock, settings: Settings, engine: Engine, agent_id: int
) -> None:
    day = DAYS["twice"]
    client = _client(app, clock, _evening(day))
    link = _link(settings, agent_id, day)
    form = {"form_id": _form_id(client, link), "cash": "300", "upi": "0"}
    for _ in range(2):  # a double tap, a retry after a timeout
        assert client.post(f"{link}/takings", data=form, follow_redirects=False).status_code == 303
    assert len(_declarations(engine, agent_id, day)) == 1
    corrected = {"form_id": _form_id(client, link), "cash": "350", "upi": ""}
    assert client.post(f"{link}/takings", data=corrected, follow_redirects=False).status_code == 303
    first, latest = _declarations(engine, agent_id, day)
    assert (first.cash_paise, latest.cash_paise, latest.upi_paise) == (30000, 35000, 0)
    assert client.get(link).context["declared"].id == latest.id  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cash", "upi", "said"),
    [
        ("45O", "0", "Cash: type an amount in rupees, like 450 or 450.50"),
        ("100", "12.345", "UPI: at most two digits after the point (paise)"),
        ("-20", "", "Cash: cannot be negative"),
        ("", " ", "Cash: type the cash you took in (0 if none)"),
        ("200000", "0", "Cash: more than ₹1,00,000: check the amount"),
        ("450,50", "0", "Cash: use a point for paise, like 450.50"),
    ],
)
def test_takings_that_cannot_be_read_are_shown_again_with_the_reason(
    app: FastAPI,
    clock: FixedClock,
    settings: Settings,
    engine: Engine,
    agent_id: int,
    cash: str,
    upi: str,
    said: str,
) -> None:
    day = DAYS["refused"]
    client = _client(app, clock, _evening(day))
    link = _link(settings, agent_id, day)
    answer = client.post(
        f"{link}/takings",
        data={"form_id": _form_id(client, link), "cash": cash, "upi": upi},
        follow_redirects=False,
    )
    assert answer.status_code == 422
    assert answer.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert said in answer.text
    takings = answer.context["takings"]  # type: ignore[attr-defined]
    assert (takings.cash, takings.upi) == (cash, upi)
    if cash.strip():
        assert f'value="{cash}"' in answer.text
    assert _declarations(engine, agent_id, day) == []


def test_no_takings_form_for_a_day_still_to_come_and_a_forged_link_gets_404(
    app: FastAPI, clock: FixedClock, settings: Settings, engine: Engine, agent_id: int
) -> None:
    day = DAYS["future"]
    client = _client(app, clock, _evening(day - dt.timedelta(days=1)))
    link = _link(settings, agent_id, day)
    page = client.get(link)
    assert page.status_code == 200 and not page.context["may_declare"]  # type: ignore[attr-defined]
    assert 'id="takings"' not in page.text and "/takings" not in page.text
    refused = client.post(
        f"{link}/takings",
        data={"form_id": "abcdefgh12", "cash": "100", "upi": "0"},
        follow_redirects=False,
    )
    assert refused.status_code == 303 and refused.headers["location"].endswith("?m=stale")
    forged = client.post(
        f"/a/{agent_id}-{day:%y%m%d}-forged/takings",
        data={"form_id": "abcdefgh12", "cash": "100", "upi": "0"},
        follow_redirects=False,
    )
    assert forged.status_code == 404
    assert _declarations(engine, agent_id, day) == []


def test_yesterdays_link_declares_yesterdays_takings(
    app: FastAPI, clock: FixedClock, settings: Settings, engine: Engine, agent_id: int
) -> None:
    """An agent who counts their takings the next morning, from yesterday's link (links
    last a day after theirs)."""
    day = DAYS["yesterday"]
    client = _client(app, clock, _evening(day) + dt.timedelta(hours=14))
    link = _link(settings, agent_id, day)
    page = client.get(link)
    assert page.status_code == 200 and "Takings on" in page.text
    sent = client.post(
        f"{link}/takings",
        data={"form_id": _form_id(client, link), "cash": "80", "upi": "20"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    (saved,) = _declarations(engine, agent_id, day)
    assert saved.day == day and (saved.cash_paise, saved.upi_paise) == (8000, 2000)


def test_once_a_supervisor_counted_the_money_the_page_shows_the_count_and_refuses_the_agents(
    app: FastAPI, clock: FixedClock, settings: Settings, engine: Engine, agent_id: int
) -> None:
    """The agent saved ₹300 in the evening; the supervisor counted ₹250 at the handover the
    next morning. Yesterday's link still opens: it shows the count, no form, and a form sent
    from a page loaded before the count records nothing."""
    day = DAYS["counted"]
    client = _client(app, clock, _evening(day))
    link = _link(settings, agent_id, day)
    form = {"form_id": _form_id(client, link), "cash": "300", "upi": "0"}
    assert client.post(f"{link}/takings", data=form, follow_redirects=False).status_code == 303
    stale_form = {"form_id": _form_id(client, link), "cash": "320", "upi": "0"}
    morning = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(10, 0), IST)
    with write_session(engine) as s:
        ledger_service.declare(
            session=s,
            agent_id=agent_id,
            day=day,
            cash_paise=25000,
            upi_paise=0,
            actor="staff:rekha",
            today=morning.date(),
            idempotency_key=f"test-takings-counted:{agent_id}:{day}",
            now=morning,
        )
    client = _client(app, clock, morning + dt.timedelta(hours=1))
    page = client.get(link)
    assert page.status_code == 200
    assert page.context["counted"].actor == "staff:rekha"  # type: ignore[attr-defined]
    assert "Counted by a supervisor at the handover: cash ₹250, UPI ₹0" in page.text
    assert f'action="{link}/takings"' not in page.text and 'name="cash"' not in page.text

    for sent in (stale_form, {**stale_form, "cash": "3,2O"}):  # a readable one and not
        refused = client.post(f"{link}/takings", data=sent, follow_redirects=False)
        assert refused.status_code == 303
        assert refused.headers["location"] == f"{link}?m=counted"
    told = client.get(f"{link}?m=counted").context["result"]  # type: ignore[attr-defined]
    assert not told.ok and "a supervisor has already counted" in told.text
    retried = client.post(f"{link}/takings", data=form, follow_redirects=False)
    assert retried.status_code == 303, "the first form's retry answers as the first did"
    saved = _declarations(engine, agent_id, day)
    assert [(d.actor, d.cash_paise) for d in saved] == [
        (f"agent:{agent_id}", 30000),
        ("staff:rekha", 25000),
    ]
