"""The field agent's signed day page (`/a/<token>`): the day in order, the reports by plain
form posts, what a forged or expired link gets, and the page's weight. Every test runs on
SQLite and PostgreSQL through `create_app()` with a fixed clock."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from dispatch.agents.models import Agent
from dispatch.audit.models import AuditEntry
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork import access
from dispatch.fieldwork import day as field_day
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind, PaymentMethod
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.requests import service as request_service
from dispatch.requests.rules import RequestStatus
from ivr.deps import get_clock
from tests import factories
from tests.conftest import build_app
from tests.ivr.conftest import FixedClock

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on (the live plans are shared by the session's tests).
DAY = dt.date(2031, 9, 9)
BOOKED_AT = dt.datetime.combine(DAY, dt.time(7, 0), IST)
REPORTED_AT = dt.datetime.combine(DAY, dt.time(10, 0), IST)
MOST_BYTES = 30 * 1024


@dataclass(frozen=True)
class Booked:
    """What a test needs of a booked visit (read before its session closed)."""

    request_id: int
    reference: str
    agent_id: int
    visit_code: str
    fee_paise: int
    phone: str
    first_name: str


@pytest.fixture
def client(app: FastAPI, clock: FixedClock) -> TestClient:
    clock.at = REPORTED_AT.astimezone(dt.UTC)
    return TestClient(app)


def _book(engine: Engine, district: str, n: int = 1) -> list[Booked]:
    """`n` visits booked on DAY in `district` (each in the first window offered at 07:00)."""
    booked = []
    for _ in range(n):
        with write_session(engine) as session:
            request, _offer = factories.booked_request(
                session, district_code=district, now=BOOKED_AT
            )
            session.refresh(request)
            assert request.id is not None and request.agent_id is not None
            citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
            booked.append(
                Booked(
                    request_id=request.id,
                    reference=request.reference,
                    agent_id=request.agent_id,
                    visit_code=request.visit_code or "",
                    fee_paise=request.fee_paise,
                    phone=citizen.phone,
                    first_name=field_day.first_name(citizen.name),
                )
            )
    return booked


def _link(settings: Settings, agent_id: int, on: dt.date = DAY) -> str:
    return f"/a/{access.day_token(settings=settings, agent_id=agent_id, day=on)}"


def _form_id(client: TestClient, link: str) -> str:
    page = client.get(link)
    assert page.status_code == 200
    form_id = page.context["form_id"]  # type: ignore[attr-defined]
    assert isinstance(form_id, str)
    return form_id


def _post(
    client: TestClient, link: str, visit: Booked, action: str, form_id: str, **fields: str
) -> str:
    """Post one report the way the page's form does; returns where it sends the browser."""
    answer = client.post(
        f"{link}/report",
        data={"form_id": form_id, "request_id": str(visit.request_id), "action": action, **fields},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["cache-control"] == "no-store"
    location = answer.headers["location"]
    assert visit.phone not in location and visit.first_name not in location
    return location


def _result(client: TestClient, location: str) -> str:
    page = client.get(location)
    assert page.status_code == 200
    return re.sub(r"\s+", " ", page.context["result"].text)  # type: ignore[attr-defined]


def _status(engine: Engine, visit: Booked) -> RequestStatus:
    with read_session(engine) as session:
        return request_service.get(session=session, request_id=visit.request_id).status


def _collections(engine: Engine, visit: Booked) -> list[tuple[int, PaymentMethod | None]]:
    with read_session(engine) as session:
        return [
            (e.amount_paise, e.method)
            for e in ledger_service.entries(session=session, request_id=visit.request_id)
            if e.kind is EntryKind.COLLECT
        ]


def _code_failures(engine: Engine, agent_id: int) -> int:
    with read_session(engine) as session:
        stmt = (
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.entity == access.AGENT,
                AuditEntry.entity_id == str(agent_id),
                AuditEntry.action == access.CODE_FAILED,
            )
        )
        return int(session.exec(stmt).one())


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10000:04d}"


# --- the page ---------------------------------------------------------------------------------


def test_the_page_lists_the_agents_day_in_the_plans_order(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    booked = _book(engine, "RMB", 3)
    agent_id = booked[0].agent_id
    with write_session(engine) as session:
        late = request_service.get(session=session, request_id=booked[0].request_id)
        late.at_risk = True  # as a re-timing after a late report would flag it
        session.add(late)
    page = client.get(_link(settings, agent_id))
    assert page.status_code == 200
    assert page.template.name == "agent_day/day.html"  # type: ignore[attr-defined]
    with read_session(engine) as session:
        expected = field_day.visits(session=session, agent_id=agent_id, day=DAY, tz=IST)
        agent = session.get(Agent, agent_id)
        assert agent is not None
    shown = [v.reference for v in page.context["open"]]  # type: ignore[attr-defined]
    assert shown == [v.reference for v in expected if v.open]
    html = page.text
    positions = [html.index(reference) for reference in shown]
    assert positions == sorted(positions), "the visits appear in the plan's order"
    assert agent.name.split()[0] in html and "Tue 9 Sep" in html
    mine = [b for b in booked if b.agent_id == agent_id]
    for visit in mine:
        assert f'href="tel:{visit.phone}"' in html
        assert "near the school" in html and f"₹{visit.fee_paise // 100}" in html
    risky = html[html.index(f'id="v{booked[0].request_id}"') :].split("</section>")[0]
    assert "at risk" in risky
    assert 'inputmode="numeric"' in html and "<select" in html
    assert '<meta name="robots" content="noindex">' in html
    assert "<script" not in html and "/static/" not in html and "<img" not in html
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_forged_mistyped_and_expired_links_get_a_bare_404(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    (visit,) = _book(engine, "PNC")
    good = _link(settings, visit.agent_id)
    token = good.removeprefix("/a/")
    agent_part, day_part, signature = token.split("-", 2)
    other_agent = f"{int(agent_part) + 1}-{day_part}-{signature}"
    flipped = f"{agent_part}-{day_part}-{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    expired = _link(settings, visit.agent_id, DAY - dt.timedelta(days=2))
    signed_elsewhere = _link(
        settings.model_copy(update={"secret_key": SecretStr("another-key")}), visit.agent_id
    )
    for link in (f"/a/{other_agent}", f"/a/{flipped}", expired, signed_elsewhere, "/a/nonsense"):
        page = client.get(link)
        assert page.status_code == 404, link
        assert page.template.name == "agent_day/missing.html"  # type: ignore[attr-defined]
        assert visit.reference not in page.text and visit.phone not in page.text
        assert page.headers["cache-control"] == "no-store"
    posted = client.post(
        f"/a/{flipped}/report",
        data={
            "form_id": "abcdefgh12",
            "request_id": str(visit.request_id),
            "action": "done",
            "code": visit.visit_code,
        },
        follow_redirects=False,
    )
    assert posted.status_code == 404
    assert _status(engine, visit) is RequestStatus.ASSIGNED


def test_the_page_for_a_full_day_weighs_under_30_kb(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    booked = _book(engine, "DOD", 14)
    agent_id, count = Counter(b.agent_id for b in booked).most_common(1)[0]
    assert count >= 8, "fourteen bookings in Doda fill one agent's day"
    page = client.get(_link(settings, agent_id))
    assert len(page.context["open"]) >= 8  # type: ignore[attr-defined]
    print(f"{count} visits: {len(page.content)} bytes")
    assert len(page.content) < MOST_BYTES, f"{len(page.content)} bytes"


# --- the reports ------------------------------------------------------------------------------


def test_done_with_the_right_code_completes_collects_and_says_so(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    (visit,) = _book(engine, "KTW")
    link = _link(settings, visit.agent_id)
    location = _post(
        client, link, visit, "done", _form_id(client, link), code=visit.visit_code, upi=""
    )
    assert location == f"{link}?m=done&r={visit.reference}"
    fee = f"₹{visit.fee_paise // 100}"
    assert _result(client, location) == f"{visit.reference}: done, collected {fee} cash"
    assert _status(engine, visit) is RequestStatus.COMPLETED
    assert _collections(engine, visit) == [(visit.fee_paise, PaymentMethod.CASH)]
    page = client.get(link)
    assert visit.reference not in {v.reference for v in page.context["open"]}  # type: ignore[attr-defined]
    assert visit.reference in {v.reference for v in page.context["finished"]}  # type: ignore[attr-defined]


def test_done_by_upi_records_the_reference_and_a_bad_one_is_refused(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    (visit,) = _book(engine, "KTW")
    link = _link(settings, visit.agent_id)
    form_id = _form_id(client, link)
    refused = _post(client, link, visit, "done", form_id, code=visit.visit_code, upi="12345")
    assert "UPI ref" in _result(client, refused)
    assert _status(engine, visit) is not RequestStatus.COMPLETED
    upi = "4123 4567 8901"
    location = _post(client, link, visit, "done", form_id, code=visit.visit_code, upi=upi)
    assert _result(client, location).endswith(
        "done, collected " + f"₹{visit.fee_paise // 100} by UPI"
    )
    with read_session(engine) as session:
        [entry] = [
            e
            for e in ledger_service.entries(session=session, request_id=visit.request_id)
            if e.kind is EntryKind.COLLECT
        ]
    assert entry.method is PaymentMethod.UPI and entry.upi_reference == upi


def test_a_wrong_code_completes_nothing_and_is_counted(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    (visit,) = _book(engine, "RJR")
    link = _link(settings, visit.agent_id)
    before = _code_failures(engine, visit.agent_id)
    location = _post(
        client, link, visit, "done", _form_id(client, link), code=_wrong(visit.visit_code)
    )
    assert location == f"{link}?m=wrong_code&r={visit.reference}"
    left = settings.agent_failures_allowed - before - 1
    assert _result(client, location) == (
        f"{visit.reference}: visit code does not match: {left} tries left"
    )
    assert _status(engine, visit) is RequestStatus.ASSIGNED
    assert _collections(engine, visit) == []
    assert _code_failures(engine, visit.agent_id) == before + 1


def test_too_many_wrong_codes_pause_the_agents_reports(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    """Past the limit even the right code is refused, and the page says the reports paused."""
    (visit,) = _book(engine, "SPN")
    link = _link(settings, visit.agent_id)
    while _code_failures(engine, visit.agent_id) < settings.agent_failures_allowed:
        _post(client, link, visit, "done", _form_id(client, link), code=_wrong(visit.visit_code))
    location = _post(client, link, visit, "done", _form_id(client, link), code=visit.visit_code)
    assert _result(client, location).startswith("too many wrong codes: paused")
    assert _status(engine, visit) is RequestStatus.ASSIGNED


def test_someone_elses_visit_is_not_one_of_yours_and_nothing_changes(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    (mine,) = _book(engine, "BRM")
    (theirs,) = _book(engine, "BDP")
    assert mine.agent_id != theirs.agent_id
    link = _link(settings, mine.agent_id)
    for action, fields in [
        ("done", {"code": theirs.visit_code}),
        ("arrived", {}),
        ("failed", {"reason": "docs"}),
        ("no_show", {}),
    ]:
        location = _post(client, link, theirs, action, _form_id(client, link), **fields)
        assert location == f"{link}?m=not_yours"
        assert _result(client, location) == "not one of your visits"
    assert _status(engine, theirs) is RequestStatus.ASSIGNED
    assert _collections(engine, theirs) == []
    assert theirs.reference not in client.get(link).text


def test_the_same_form_sent_twice_completes_once_and_sends_one_receipt(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    (visit,) = _book(engine, "PNC")
    link = _link(settings, visit.agent_id)
    form_id = _form_id(client, link)
    first = _post(client, link, visit, "done", form_id, code=visit.visit_code)
    again = _post(client, link, visit, "done", form_id, code=visit.visit_code)
    assert first == again == f"{link}?m=done&r={visit.reference}"
    assert _status(engine, visit) is RequestStatus.COMPLETED
    assert len(_collections(engine, visit)) == 1
    with read_session(engine) as session:
        receipts = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.to == visit.phone, OutboxMessage.kind == "receipt"
            )
        ).all()
    assert len(receipts) == 1
    assert receipts[0].status is MessageStatus.SENT and receipts[0].attempts == 1
    # A form of a later page view (the Back button) is another report: the visit is closed.
    later = _post(client, link, visit, "done", _form_id(client, link), code=visit.visit_code)
    assert _result(client, later) == f"{visit.reference}: already completed"
    closed = _post(client, link, visit, "arrived", _form_id(client, link))
    assert _result(client, closed) == f"{visit.reference}: already completed"
    assert len(_collections(engine, visit)) == 1
    with read_session(engine) as session:
        kinds = Counter(
            m.kind
            for m in session.exec(select(OutboxMessage).where(OutboxMessage.to == visit.phone))
        )
    assert kinds["receipt"] == kinds["feedback"] == 1


def test_arrived_failed_and_no_show_by_their_buttons(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    first, second = _book(engine, "RMB", 2)
    link = _link(settings, first.agent_id)
    arrived = _post(client, link, first, "arrived", _form_id(client, link))
    assert _result(client, arrived) == f"{first.reference}: arrived"
    assert _status(engine, first) is RequestStatus.ARRIVED
    no_reason = _post(client, link, first, "failed", _form_id(client, link), reason="")
    assert _result(client, no_reason) == "choose why the visit failed"
    failed = _post(client, link, first, "failed", _form_id(client, link), reason="docs")
    assert _result(client, failed) == f"{first.reference}: marked failed"
    assert _status(engine, first) is RequestStatus.FAILED
    late = _post(client, link, first, "done", _form_id(client, link), code=first.visit_code)
    assert _result(client, late) == f"{first.reference}: already marked failed"
    assert _collections(engine, first) == []
    second_link = _link(settings, second.agent_id)
    gone = _post(client, second_link, second, "no_show", _form_id(client, second_link))
    assert _result(client, gone) == f"{second.reference}: marked no-show"
    assert _status(engine, second) is RequestStatus.NO_SHOW


def test_a_visit_of_another_day_is_not_todays(
    client: TestClient, clock: FixedClock, engine: Engine, settings: Settings
) -> None:
    """Yesterday's link still opens the morning after, but its visits can no longer be reported."""
    (visit,) = _book(engine, "BRM")
    link = _link(settings, visit.agent_id)
    clock.at = (REPORTED_AT + dt.timedelta(days=1)).astimezone(dt.UTC)
    page = client.get(link)
    assert page.status_code == 200 and not page.context["today"]  # type: ignore[attr-defined]
    location = _post(client, link, visit, "arrived", page.context["form_id"])  # type: ignore[attr-defined]
    assert _result(client, location) == f"{visit.reference}: not today's visit"
    assert _status(engine, visit) is RequestStatus.ASSIGNED


def test_nothing_about_the_citizen_reaches_the_urls(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    """Every link and form target on the page is the token's; phones only as `tel:` links."""
    (visit,) = _book(engine, "RJR")
    html = client.get(_link(settings, visit.agent_id)).text
    targets = re.findall(r'(?:href|action)="([^"]+)"', html)
    assert targets and all(t.startswith(("/a/", "tel:")) for t in targets)


def test_the_page_is_served_in_production(
    engine: Engine, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signed link is the agent's only proof: the page is no development tool. (What else
    production insists on is `test_production`'s business: skipped here.)"""
    monkeypatch.setattr(Settings, "refuse_unsafe", lambda self: None)
    settings = Settings(
        env="production",
        secret_key=SecretStr("a-real-secret-key-from-the-vault"),
        simulator=False,
        scheduler=False,
        database_url="sqlite://",
    )
    assert settings.production
    (visit,) = _book(engine, "KTW")
    app = build_app(settings, engine)
    clock.at = REPORTED_AT.astimezone(dt.UTC)
    app.dependency_overrides[get_clock] = lambda: clock
    client = TestClient(app)
    page = client.get(_link(settings, visit.agent_id))
    assert page.status_code == 200 and visit.reference in page.text
    assert client.get(_link(factories.SETTINGS, visit.agent_id)).status_code == 404
