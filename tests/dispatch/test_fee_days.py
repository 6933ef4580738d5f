"""Agents' days of money on a real session: visits booked and closed through the real use
cases (booking, the reports from the door), the ledger's collections, declarations by the
agent and by a supervisor (whose count the agent cannot replace), the same declaration sent
twice at once, and the local day running midnight to midnight in IST (not UTC). Every test
runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.audit import service as audit
from dispatch.db import read_session, write_session
from dispatch.errors import InvalidFee, InvalidInput, NotFound
from dispatch.fieldwork import service as field
from dispatch.fieldwork.commands import FailReason
from dispatch.geography import service as geography_service
from dispatch.ledger import days as fee_days
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind, FeeDeclaration, PaymentMethod
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
#: Days only declared on (no visit), by an agent no other test declares for then.
COUNTED_DAY = dt.date(2037, 8, 3)
TWIN_DAY = dt.date(2037, 8, 4)


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


def test_a_later_declaration_counts_and_each_is_audited_with_before_and_after(
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
    found = ledger_service.counting_declaration(
        session=session, agent_id=agent_id, day=DECLARED_DAY
    )
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


# --- a supervisor's count stands; a declaration sent twice at once records once ---------------


def _some_agent(s: Session) -> int:
    found = s.exec(select(Agent.id).where(Agent.state_code == "JK").order_by(col(Agent.id))).first()
    assert found is not None
    return found


def _declare(
    session: Session, agent_id: int, actor: str, cash: int, at: dt.datetime, key: str
) -> FeeDeclaration:
    return ledger_service.declare(
        session=session,
        agent_id=agent_id,
        day=COUNTED_DAY,
        cash_paise=cash,
        upi_paise=500,
        actor=actor,
        today=at.astimezone(IST).date(),
        idempotency_key=key,
        now=at,
    )


def test_once_a_supervisor_counted_the_day_the_agent_cannot_replace_it(session: Session) -> None:
    """The agent says ₹300, the supervisor counts ₹250 at the handover the next morning; the
    agent's link of that day still works, but declaring ₹300 again is refused and the count
    stands. Another supervisor's count later replaces the first."""
    agent_id = _some_agent(session)
    agent, next_day = f"agent:{agent_id}", COUNTED_DAY + dt.timedelta(days=1)
    said = _declare(session, agent_id, agent, 30000, _at(COUNTED_DAY, 19), "test-counted:said")
    counted = _declare(session, agent_id, "staff:rekha", 25000, _at(next_day, 10), "test-counted:1")
    with pytest.raises(ledger_service.CountedAtHandover) as refused:
        _declare(session, agent_id, agent, 30000, _at(next_day, 11), "test-counted:again")
    assert refused.value.counted.id == counted.id
    retried = _declare(session, agent_id, agent, 30000, _at(next_day, 11), "test-counted:said")
    assert retried.id == said.id, "a retry of what was recorded before answers as it did"

    found = ledger_service.declarations(session=session, agent_id=agent_id, day=COUNTED_DAY)
    assert [d.id for d in found] == [said.id, counted.id], "nothing refused was recorded"
    money = fee_days.agent_day(session=session, agent_id=agent_id, day=COUNTED_DAY, today=next_day)
    assert money.counts is not None and money.counts.id == counted.id
    assert money.money.declared is not None
    assert (money.money.declared.cash_paise, money.money.declared.actor) == (25000, "staff:rekha")

    recount = _declare(session, agent_id, "staff:imran", 26000, _at(next_day, 12), "test-counted:2")
    counts = ledger_service.counting_declaration(
        session=session, agent_id=agent_id, day=COUNTED_DAY
    )
    assert counts is not None and counts.id == recount.id
    trail = audit.history(
        session=session, entity="agent_day", entity_id=f"{agent_id}:{COUNTED_DAY.isoformat()}"
    )
    assert [(e.actor, e.detail["before"]) for e in trail] == [
        (agent, None),
        ("staff:rekha", {"cash_paise": 30000, "upi_paise": 500}),
        ("staff:imran", {"cash_paise": 25000, "upi_paise": 500}),
    ]


def test_an_agents_declaration_after_a_count_does_not_count_when_reading_the_day(
    session: Session,
) -> None:
    """A declaration the agent made after the count before such were refused (it is kept,
    append-only) does not undo the count on the fees pages."""
    agent_id = _some_agent(session)
    next_day = COUNTED_DAY + dt.timedelta(days=1)
    counted = _declare(session, agent_id, "staff:rekha", 25000, _at(next_day, 10), "test-read:1")
    session.add(
        FeeDeclaration(
            agent_id=agent_id,
            day=COUNTED_DAY,
            cash_paise=90000,
            upi_paise=0,
            at=_at(next_day, 11),
            actor=f"agent:{agent_id}",
        )
    )
    session.flush()
    (row,) = fee_days.fee_days(
        session=session,
        state_code="JK",
        first=COUNTED_DAY,
        last=COUNTED_DAY,
        today=next_day,
        agent_id=agent_id,
    )
    assert row.money.declared is not None
    assert (row.money.declared.cash_paise, row.money.declared.at) == (25000, counted.at)


def test_a_twin_recorded_between_the_look_and_the_insert_is_answered_as_it_was(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same hand-over sent twice at once: the second looks up its key before the first
    commits, then its insert meets the unique key. It answers with the first (a savepoint
    undoes its own insert only) and records and audits nothing."""
    agent_id = _some_agent(session)
    key = f"test-twin:{uuid.uuid4()}"
    twin = FeeDeclaration(
        agent_id=agent_id, day=COUNTED_DAY, cash_paise=100, actor="staff:rekha", idempotency_key=key
    )
    session.add(twin)
    session.flush()
    looked: list[str] = []
    real = ledger_service._declaration_by_key

    def before_the_twin_committed(s: Session, k: str | None) -> FeeDeclaration | None:
        looked.append(k or "")
        return None if len(looked) == 1 else real(s, k)

    monkeypatch.setattr(ledger_service, "_declaration_by_key", before_the_twin_committed)
    answer = _declare(session, agent_id, "staff:imran", 200, _at(COUNTED_DAY, 19), key)
    assert answer.id == twin.id and looked == [key, key]
    found = ledger_service.declarations(session=session, agent_id=agent_id, day=COUNTED_DAY)
    assert [(d.id, d.cash_paise) for d in found] == [(twin.id, 100)]
    assert (
        audit.history(
            session=session, entity="agent_day", entity_id=f"{agent_id}:{COUNTED_DAY.isoformat()}"
        )
        == []
    )


def test_two_handovers_sent_at_the_same_moment_record_one(engine: Engine) -> None:
    """Two connections, the second sent while the first is still uncommitted: on PostgreSQL it
    waits on the unique key and then fails to insert (the path under test), on SQLite it
    waits for the write lock and then finds the key. Either way it answers with the first."""
    with read_session(engine) as s:
        agent_id = _some_agent(s)
    key = f"test-twin:{uuid.uuid4()}"
    failed_inserts: list[BaseException] = []

    def note(context: sa.engine.ExceptionContext) -> None:
        if isinstance(context.sqlalchemy_exception, sa.exc.IntegrityError):
            failed_inserts.append(context.sqlalchemy_exception)

    def handover(answers: list[int]) -> None:
        with write_session(engine) as s:
            row = ledger_service.declare(
                session=s,
                agent_id=agent_id,
                day=TWIN_DAY,
                cash_paise=45050,
                upi_paise=0,
                actor="staff:imran",
                today=TWIN_DAY,
                idempotency_key=key,
                now=_at(TWIN_DAY, 18, 1),
            )
            answers.append(row.id or 0)

    answers: list[int] = []
    sa.event.listen(engine, "handle_error", note)
    try:
        with write_session(engine) as first:
            row = ledger_service.declare(
                session=first,
                agent_id=agent_id,
                day=TWIN_DAY,
                cash_paise=45050,
                upi_paise=0,
                actor="staff:rekha",
                today=TWIN_DAY,
                idempotency_key=key,
                now=_at(TWIN_DAY, 18),
            )
            first_id = row.id
            second = threading.Thread(target=handover, args=(answers,))
            second.start()
            second.join(timeout=1.0)
            assert second.is_alive(), "the second waits for the first"
        second.join(timeout=30)
    finally:
        sa.event.remove(engine, "handle_error", note)
    assert not second.is_alive() and answers == [first_id]
    if engine.dialect.name == "postgresql":
        assert len(failed_inserts) == 1, "the second's insert met the unique key"
    with read_session(engine) as s:
        found = ledger_service.declarations(session=s, agent_id=agent_id, day=TWIN_DAY)
        trail = audit.history(
            session=s, entity="agent_day", entity_id=f"{agent_id}:{TWIN_DAY.isoformat()}"
        )
    assert [d.id for d in found] == [first_id]
    assert [e.actor for e in trail] == ["staff:rekha"]
