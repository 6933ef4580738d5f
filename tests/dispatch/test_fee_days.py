"""Agents' days of money on a real session: visits booked and closed through the real use
cases (booking, the reports from the door), the ledger's collections, declarations by the
agent and by a supervisor, and the local day running midnight to midnight in IST (not UTC).
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from dispatch.audit import service as audit
from dispatch.errors import InvalidFee, InvalidInput, NotFound
from dispatch.fieldwork import service as field
from dispatch.fieldwork.commands import FailReason
from dispatch.geography import service as geography_service
from dispatch.ledger import days as fee_days
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind, PaymentMethod
from dispatch.ledger.reconcile import FlagKind
from dispatch.ledger.rules import MOST_DECLARED_PAISE
from dispatch.planning import service as planning
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
S = factories.SETTINGS
#: A district and Tuesdays no other test plans on (the live plans are shared by the session).
DISTRICT = "RSI"
PLAIN_DAY = dt.date(2037, 2, 3)
MIDNIGHT_DAY = dt.date(2037, 2, 10)
DECLARED_DAY = dt.date(2037, 2, 17)
FAILED_DAY = dt.date(2037, 2, 24)


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    planning.clear_cache()


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), IST)


def _book(session: Session, booked_at: dt.datetime, n: int) -> list[DoorstepRequest]:
    """`n` visits in the district, each in the first window offered at `booked_at`."""
    out = []
    for _ in range(n):
        request, _offer = factories.booked_request(session, district_code=DISTRICT, now=booked_at)
        session.refresh(request)
        assert request.agent_id is not None, "the booking put the visit in an agent's route"
        out.append(request)
    return out


def _complete(
    session: Session, request: DoorstepRequest, at: dt.datetime, upi: str | None = None
) -> field.Report:
    assert request.id is not None and request.agent_id is not None
    return field.complete(
        session=session,
        settings=S,
        idempotency_key=f"test-done:{request.id}",
        agent_id=request.agent_id,
        request_id=request.id,
        visit_code=request.visit_code or "",
        upi_reference=upi,
        now=at,
    )


def _district_id(session: Session, code: str = DISTRICT) -> int:
    district = geography_service.get_district_by_code(session=session, code=code)
    assert district.id is not None
    return district.id


def _rows(
    session: Session, first: dt.date, last: dt.date, today: dt.date, **only: int
) -> dict[int, fee_days.FeeDay]:
    """The district's agent-days of the span, by agent (the spans here are single days)."""
    rows = fee_days.fee_days(
        session=session,
        state_code="JK",
        first=first,
        last=last,
        today=today,
        district_id=only.pop("district_id", _district_id(session)),
        **only,
    )
    assert len({(r.agent.id, r.money.day) for r in rows}) == len(rows)
    return {r.agent.id: r for r in rows}


def test_an_agents_day_holds_the_visits_they_completed_and_the_money_they_collected(
    session: Session,
) -> None:
    first, second = _book(session, _at(PLAIN_DAY, 7), 2)
    _complete(session, first, _at(PLAIN_DAY, 10))
    _complete(session, second, _at(PLAIN_DAY, 11), upi="412345678901")
    by_agent: dict[int, list[tuple[DoorstepRequest, PaymentMethod]]] = {}
    for request, how in ((first, PaymentMethod.CASH), (second, PaymentMethod.UPI)):
        by_agent.setdefault(request.agent_id or 0, []).append((request, how))

    rows = _rows(session, PLAIN_DAY, PLAIN_DAY, today=PLAIN_DAY)
    assert set(rows) == set(by_agent)
    for agent_id, done in by_agent.items():
        money = rows[agent_id].money
        assert money.day == PLAIN_DAY and money.completed == len(done)
        assert money.expected_paise == sum(r.fee_paise for r, _ in done) > 0
        assert money.cash_paise == sum(r.fee_paise for r, how in done if how == "cash")
        assert money.upi_paise == sum(r.fee_paise for r, how in done if how == "upi")
        assert money.outstanding_paise == 0 and money.refunded_paise == 0
        assert money.flags == ()  # today: the declaration is not late yet
        assert rows[agent_id].agent.district == "Reasi"

    late = _rows(session, PLAIN_DAY, PLAIN_DAY, today=PLAIN_DAY + dt.timedelta(days=1))
    assert all(r.money.flag_kinds == {FlagKind.NOT_DECLARED} for r in late.values())
    elsewhere = _rows(
        session, PLAIN_DAY, PLAIN_DAY, today=PLAIN_DAY, district_id=_district_id(session, "SXR")
    )
    assert not set(elsewhere) & set(by_agent)
    one = next(iter(by_agent))
    assert set(_rows(session, PLAIN_DAY, PLAIN_DAY, today=PLAIN_DAY, agent_id=one)) == {one}


def test_a_day_runs_from_midnight_to_midnight_in_india_not_in_utc(session: Session) -> None:
    """A visit done at 00:10 IST (18:40 UTC the day before) and one at 23:50 IST both fall on
    their Indian day; neither the day before nor the day after has them."""
    early, late = _book(session, _at(MIDNIGHT_DAY - dt.timedelta(days=1), 18), 2)
    assert early.window_start is not None
    assert early.window_start.astimezone(IST).date() == MIDNIGHT_DAY
    _complete(session, early, _at(MIDNIGHT_DAY, 0, 10))
    _complete(session, late, _at(MIDNIGHT_DAY, 23, 50))
    entries = [
        e
        for r in (early, late)
        for e in ledger_service.entries(session=session, request_id=r.id or 0)
        if e.kind is EntryKind.COLLECT
    ]
    assert entries[0].at.astimezone(dt.UTC).date() == MIDNIGHT_DAY - dt.timedelta(days=1)

    agents = {early.agent_id, late.agent_id}
    the_day = _rows(session, MIDNIGHT_DAY, MIDNIGHT_DAY, today=MIDNIGHT_DAY)
    assert agents <= set(the_day)
    collected = sum(the_day[a].money.collected_paise for a in agents if a is not None)
    assert collected == early.fee_paise + late.fee_paise
    assert sum(the_day[a].money.completed for a in agents if a is not None) == 2
    for other in (MIDNIGHT_DAY - dt.timedelta(days=1), MIDNIGHT_DAY + dt.timedelta(days=1)):
        assert not agents & set(_rows(session, other, other, today=MIDNIGHT_DAY))


def test_the_latest_declaration_counts_and_each_is_audited_with_before_and_after(
    session: Session,
) -> None:
    (visit,) = _book(session, _at(DECLARED_DAY, 7), 1)
    _complete(session, visit, _at(DECLARED_DAY, 10))
    agent_id = visit.agent_id or 0
    said = ledger_service.declare(
        session=session,
        agent_id=agent_id,
        day=DECLARED_DAY,
        cash_paise=visit.fee_paise - 1000,
        upi_paise=0,
        actor=f"agent:{agent_id}",
        today=DECLARED_DAY,
        idempotency_key="test-declare:agent",
        now=_at(DECLARED_DAY, 17),
    )
    money = _rows(session, DECLARED_DAY, DECLARED_DAY, today=DECLARED_DAY)[agent_id].money
    assert money.flag_kinds == {FlagKind.CASH_DIFFERS}
    assert money.flags[0].amount_paise == 1000

    again = ledger_service.declare(
        session=session,
        agent_id=agent_id,
        day=DECLARED_DAY,
        cash_paise=visit.fee_paise - 1000,
        upi_paise=0,
        actor=f"agent:{agent_id}",
        today=DECLARED_DAY,
        idempotency_key="test-declare:agent",
    )
    assert again.id == said.id
    counted = ledger_service.declare(
        session=session,
        agent_id=agent_id,
        day=DECLARED_DAY,
        cash_paise=visit.fee_paise,
        upi_paise=0,
        actor="staff:rekha",
        note="handed over at the block office",
        today=DECLARED_DAY + dt.timedelta(days=1),
        idempotency_key="test-declare:staff",
        now=_at(DECLARED_DAY + dt.timedelta(days=1), 10),
    )
    later = DECLARED_DAY + dt.timedelta(days=5)
    detail = fee_days.agent_day(session=session, agent_id=agent_id, day=DECLARED_DAY, today=later)
    assert detail.money.flags == ()
    assert detail.money.declared is not None and detail.money.declared.actor == "staff:rekha"
    assert [d.id for d in detail.declarations] == [said.id, counted.id]
    assert [(v.money.reference, v.service, v.status) for v in detail.visits] == [
        (visit.reference, factories.service(session).name_en, RequestStatus.COMPLETED)
    ]
    closed_at = detail.visits[0].closed_at
    assert closed_at is not None and closed_at.astimezone(IST) == _at(DECLARED_DAY, 10)
    assert [(e.reference, e.kind, e.method, e.amount_paise) for e in detail.entries] == [
        (visit.reference, EntryKind.COLLECT, PaymentMethod.CASH, visit.fee_paise)
    ]

    trail = audit.history(
        session=session, entity="agent_day", entity_id=f"{agent_id}:{DECLARED_DAY.isoformat()}"
    )
    assert [(e.actor, e.action) for e in trail] == [
        (f"agent:{agent_id}", "takings_declared"),
        ("staff:rekha", "takings_declared"),
    ]
    assert trail[0].detail["before"] is None
    assert trail[1].detail["before"] == {"cash_paise": visit.fee_paise - 1000, "upi_paise": 0}
    assert trail[1].detail["after"] == {"cash_paise": visit.fee_paise, "upi_paise": 0}
    assert trail[1].detail["note"] == "handed over at the block office"


def test_a_declaration_is_refused_for_bad_amounts_a_day_to_come_or_an_unknown_agent(
    session: Session,
) -> None:
    (visit,) = _book(session, _at(DECLARED_DAY, 7), 1)
    agent_id = visit.agent_id or 0

    def declare(**change: object) -> None:
        args: dict[str, object] = {
            "session": session,
            "agent_id": agent_id,
            "day": DECLARED_DAY,
            "cash_paise": 100,
            "upi_paise": 0,
            "actor": "test",
            "today": DECLARED_DAY,
        }
        ledger_service.declare(**{**args, **change})  # type: ignore[arg-type]

    with pytest.raises(InvalidFee):
        declare(cash_paise=-1)
    with pytest.raises(InvalidFee):
        declare(upi_paise=MOST_DECLARED_PAISE + 1)
    with pytest.raises(InvalidInput) as future:
        declare(day=DECLARED_DAY + dt.timedelta(days=1))
    assert future.value.field == "day"
    with pytest.raises(NotFound):
        declare(agent_id=2**31 - 1)
    found = ledger_service.latest_declaration(session=session, agent_id=agent_id, day=DECLARED_DAY)
    assert found is None, "nothing refused was recorded"


def test_money_on_a_failed_visit_and_on_a_visit_not_done_are_flagged(session: Session) -> None:
    failed, other = _book(session, _at(FAILED_DAY, 7), 2)
    agent_id = failed.agent_id or 0
    field.fail(
        session=session,
        settings=S,
        idempotency_key=f"test-fail:{failed.id}",
        agent_id=agent_id,
        request_id=failed.id or 0,
        reason=FailReason.DOCS,
        now=_at(FAILED_DAY, 10),
    )
    for request, minute in ((failed, 5), (other, 10)):
        ledger_service.collect(
            session=session,
            request_id=request.id or 0,
            agent_id=agent_id,
            amount_paise=request.fee_paise,
            method="cash",
            actor=f"agent:{agent_id}",
            at=_at(FAILED_DAY, 10, minute),
        )
    detail = fee_days.agent_day(
        session=session, agent_id=agent_id, day=FAILED_DAY, today=FAILED_DAY
    )
    money = detail.money
    assert (money.expected_paise, money.closed, money.completed) == (0, 1, 0)
    assert money.cash_paise == failed.fee_paise + other.fee_paise
    assert [(f.kind, f.reference) for f in money.flags] == [
        (FlagKind.OVERCHARGE, failed.reference),
        (FlagKind.NO_VISIT, other.reference),
    ]
    assert [v.money.reference for v in detail.visits] == [failed.reference, other.reference]
    assert detail.visits[1].closed_at is None and detail.visits[1].status is not None


def test_a_span_is_one_to_ninety_two_days(session: Session) -> None:
    with pytest.raises(InvalidInput):
        _rows(session, PLAIN_DAY, PLAIN_DAY - dt.timedelta(days=1), today=PLAIN_DAY)
    with pytest.raises(InvalidInput):
        _rows(session, PLAIN_DAY, PLAIN_DAY + dt.timedelta(days=92), today=PLAIN_DAY)
    assert _rows(session, PLAIN_DAY, PLAIN_DAY + dt.timedelta(days=91), today=PLAIN_DAY) == {}
