"""Alerts for supervisors: the time-limit arithmetic by hand (a Mon–Sat week, a holiday, limits
of 0, 1, 4 and 7 working days, exactly the warning share), then the scheduled tasks on the
real database — each alert once, the request past its limit marked for appeal once (audited),
holidays respected, a delivered request and one without a limit never alerted — yesterday's
fees alert with its reasons in rupees, and acknowledging twice.

The requests are booked through the real use cases in March 2015 (Ganderbal) and the fees
made in March 2014 (Bandipora): no other test books then, and the tasks only see requests
logged by the moment they are given."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.alerts import deadlines, fees, rules
from dispatch.alerts import service as alert_service
from dispatch.alerts.models import Alert, AlertKind
from dispatch.alerts.rules import Stage
from dispatch.audit import service as audit
from dispatch.clock import time_of_day
from dispatch.db import read_session, write_session
from dispatch.errors import NotFound
from dispatch.fieldwork import service as field
from dispatch.ledger import service as ledger_service
from dispatch.money import rupees
from dispatch.pendency import service as pendency
from dispatch.pendency.rules import WorkCalendar
from dispatch.planning import service as planning
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.states.models import Holiday
from dispatch.taskruns.service import error_summary
from tests import factories
from tests import pendency_history as history
from tests.pendency_history import local

IST = ZoneInfo("Asia/Kolkata")
S = factories.SETTINGS
MON_SAT = WorkCalendar.of(["mon", "tue", "wed", "thu", "fri", "sat"])
MON = dt.date(2015, 3, 2)  # a Monday


def _day(n: int) -> dt.date:
    """`n` days after Monday 2 March 2015."""
    return MON + dt.timedelta(days=n)


# --- the arithmetic ------------------------------------------------------------------------


def test_a_four_day_limit_warns_on_its_third_working_day_exactly_at_three_quarters() -> None:
    due = MON_SAT.add_working_days(MON, 4)
    assert due == _day(4)  # Tue, Wed, Thu, Fri
    assert rules.progress(MON, due, _day(3), MON_SAT) == rules.Progress(gone=3, limit=4)
    assert [rules.stage(MON, due, _day(n), MON_SAT, 0.75) for n in range(6)] == [
        None,  # Mon: the application day
        None,  # Tue: 1 of 4
        None,  # Wed: 2 of 4
        Stage.NEAR,  # Thu: 3 of 4 is exactly 0.75
        Stage.REACHED,  # Fri: the due date
        Stage.PASSED,  # Sat
    ]


def test_a_seven_day_limit_warns_once_six_days_are_gone_and_sunday_counts_nothing() -> None:
    due = MON_SAT.add_working_days(MON, 7)
    assert due == _day(8)  # Tue 3 .. Sat 7, Mon 9, Tue 10
    # 0.75 x 7 = 5.25: five days gone (Saturday, and the Sunday after) is not yet enough.
    assert rules.stage(MON, due, _day(5), MON_SAT, 0.75) is None
    assert rules.stage(MON, due, _day(6), MON_SAT, 0.75) is None  # Sunday
    assert rules.stage(MON, due, _day(7), MON_SAT, 0.75) is Stage.NEAR  # Monday: 6 of 7


def test_a_holiday_is_not_a_day_gone() -> None:
    holiday = WorkCalendar.of(["mon", "tue", "wed", "thu", "fri", "sat"], [_day(3)])  # Thu 5
    due = holiday.add_working_days(MON, 7)
    assert due == _day(9)  # the holiday moves it to Wednesday 11
    assert rules.progress(MON, due, _day(7), holiday) == rules.Progress(gone=5, limit=7)
    assert rules.stage(MON, due, _day(7), holiday, 0.75) is None  # warned on Monday without it
    assert rules.stage(MON, due, _day(8), holiday, 0.75) is Stage.NEAR


def test_a_limit_of_one_day_has_no_warning_and_a_limit_of_none_is_due_at_once() -> None:
    one = MON_SAT.add_working_days(MON, 1)
    assert [rules.stage(MON, one, _day(n), MON_SAT, 0.75) for n in range(3)] == [
        None,
        Stage.REACHED,
        Stage.PASSED,
    ]
    assert rules.stage(MON, MON, MON, MON_SAT, 0.75) is Stage.REACHED
    assert rules.stage(MON, MON, _day(1), MON_SAT, 0.75) is Stage.PASSED
    assert rules.Progress(gone=0, limit=0).share == 1


def test_the_share_is_compared_exactly() -> None:
    assert rules.reaches(Fraction(3, 4), 0.75)
    assert rules.reaches(Fraction(7, 10), 0.7)  # 7/10 as a float is not quite 0.7
    assert not rules.reaches(Fraction(2, 3), 0.67)
    assert rules.reaches(Fraction(1, 2), 0.5) and not rules.reaches(Fraction(1, 2), 0.51)


def test_keys_and_the_reconciliation_hour() -> None:
    assert rules.request_key(AlertKind.DEADLINE_NEAR, 123) == "deadline_near:r123"
    assert rules.request_key(AlertKind.APPEAL, 7) == "appeal:r7"
    assert rules.fees_key(7, dt.date(2030, 6, 2)) == "fees:7:2030-06-02"
    six = time_of_day("06:00")
    june = [dt.date(2030, 6, d) for d in range(1, 11)]
    before = rules.fees_days_due(dt.datetime(2030, 6, 10, 5, 59, tzinfo=IST), six)
    assert before == june[2:8]  # 3 to 8 June: yesterday waits for six o'clock
    after = rules.fees_days_due(dt.datetime(2030, 6, 10, 6, 0, tzinfo=IST), six)
    assert after == june[2:9] and len(after) == rules.FEES_LOOKBACK_DAYS  # and 9 June


def test_an_error_summary_is_one_line_without_long_numbers() -> None:
    error = ValueError("no citizen with +919797123456\nDETAIL: more")
    assert error_summary(error) == "ValueError: no citizen with +…"
    assert error_summary(KeyError()) == "KeyError"


# --- the legal time limits on the database ---------------------------------------------------

DISTRICT = "GBL"
#: Wednesday 4 March 2015 is a holiday in this test's calendar.
HOLIDAY = _day(2)
FIRST_CHECK = local(_day(8), 12)  # Tuesday 10 March, noon
SECOND_CHECK = local(_day(9), 12)  # Wednesday 11 March, noon


@pytest.fixture(scope="module")
def march(engine: Engine) -> Iterator[dict[str, DoorstepRequest]]:
    """Ganderbal's requests of March 2015, by what they should raise on Tuesday 10."""
    planning.clear_cache()
    with write_session(engine) as s:
        s.add(Holiday(state_code="JK", day=HOLIDAY, name="Test holiday"))
    made: dict[str, DoorstepRequest] = {}
    with write_session(engine) as s:

        def book(key: str, day: dt.date, service: str, window: int | None = None) -> None:
            made[key], _ = history.book(
                s, district_code=DISTRICT, at=local(day, 11), service_code=service, window=window
            )

        book("passed", MON, "FARD_COPY")  # 3 days: Tue 3, Thu 5, Fri 6
        book("reached", _day(4), "FARD_COPY")  # Sat 7, Mon 9, Tue 10
        book("near", MON, "BIRTH_CERT")  # 7 days: Tue 3, Thu 5 .. Tue 10, Wed 11
        book("holiday", _day(1), "BIRTH_CERT")  # Thu 5 .. Wed 11, Thu 12: 5 of 7 gone Tue 10
        book("no_limit", MON, "ABHA_ID")
        done, _ = history.book(
            s, district_code=DISTRICT, at=local(MON, 7), service_code="BIRTH_CERT", window=0
        )
        assert done.window_start is not None
        history.visit_done(s, done, arrived=done.window_start + dt.timedelta(minutes=10))
        made["delivered"] = done
    planning.clear_cache()
    assert made["passed"].due_date == _day(4)
    assert made["reached"].due_date == _day(8)
    assert made["near"].due_date == _day(9)
    assert made["holiday"].due_date == _day(10)  # Thursday 12: the holiday moved it
    assert made["no_limit"].due_date is None
    yield made


def _alerts(engine: Engine, requests: dict[str, DoorstepRequest]) -> dict[str, set[AlertKind]]:
    ids = {r.id: key for key, r in requests.items()}
    found: dict[str, set[AlertKind]] = {key: set() for key in requests}
    with read_session(engine) as s:
        for alert in s.exec(select(Alert).where(col(Alert.request_id).in_(list(ids)))):
            found[ids[alert.request_id]].add(alert.kind)
    return found


def test_each_stage_is_alerted_once_and_the_passed_request_marked_for_appeal(
    engine: Engine, march: dict[str, DoorstepRequest]
) -> None:
    raised = deadlines.check_deadlines(engine=engine, settings=S, now=FIRST_CHECK)
    assert _alerts(engine, march) == {
        "passed": {AlertKind.APPEAL},
        "reached": {AlertKind.DEADLINE_REACHED},
        "near": {AlertKind.DEADLINE_NEAR},
        "holiday": set(),  # 5 of 7 working days gone: the holiday is not one of them
        "no_limit": set(),
        "delivered": set(),  # 6 of 7 working days gone, but delivered
    }
    with read_session(engine) as s:
        mine = s.exec(
            select(Alert.id).where(col(Alert.request_id).in_([r.id for r in march.values()]))
        ).all()
    assert set(mine) <= set(raised)
    again = deadlines.check_deadlines(engine=engine, settings=S, now=FIRST_CHECK)
    assert again == []  # a second run raises nothing
    with read_session(engine) as s:
        passed = request_service.get(session=s, request_id=march["passed"].id or 0)
        assert passed.appeal_marked_at == FIRST_CHECK.astimezone(dt.UTC)
        assert passed.version == march["passed"].version  # not a change a form collides with
        marks = [
            e
            for e in audit.history(session=s, entity="request", entity_id=passed.id)
            if e.action == "marked_for_appeal"
        ]
        assert len(marks) == 1 and marks[0].actor == deadlines.ACTOR
        assert marks[0].detail["due_date"] == "2015-03-06"
        appeal = s.exec(select(Alert).where(Alert.key == f"appeal:r{passed.id}")).one()
        assert appeal.detail == (
            f"{passed.reference} · Copy of Jamabandi / Fard (Land Record) · Ganderbal — its "
            "time limit ended on Fri 06 Mar 2015, not delivered: marked for the appeal"
        )
        near = s.exec(select(Alert).where(Alert.key == f"deadline_near:r{march['near'].id}")).one()
        assert "6 of 7 working days gone" in near.detail
        for request in march.values():
            unmarked = request_service.get(session=s, request_id=request.id or 0)
            assert (unmarked.appeal_marked_at is not None) == (request is march["passed"])

    # The next day: the reached one has passed, the near one is due.
    deadlines.check_deadlines(engine=engine, settings=S, now=SECOND_CHECK)
    deadlines.check_deadlines(engine=engine, settings=S, now=SECOND_CHECK)
    assert _alerts(engine, march) == {
        "passed": {AlertKind.APPEAL},
        "reached": {AlertKind.DEADLINE_REACHED, AlertKind.APPEAL},
        "near": {AlertKind.DEADLINE_NEAR, AlertKind.DEADLINE_REACHED},
        "holiday": {AlertKind.DEADLINE_NEAR},  # 6 of 7 on Wednesday
        "no_limit": set(),
        "delivered": set(),
    }
    with read_session(engine) as s:
        counted = s.exec(
            select(sa.func.count())
            .select_from(Alert)
            .where(col(Alert.request_id).in_([r.id for r in march.values()]))
        ).one()
    assert counted == 6  # each once


def test_a_request_delivered_as_it_is_marked_is_neither_marked_nor_alerted(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task reads the request open and past its limit; another transaction delivers it
    before the conditional mark (PostgreSQL lets that happen): the mark matches no row, and no
    appeal alert says it was "not delivered"."""
    request, _ = history.book(
        session, district_code=DISTRICT, at=local(MON, 10), service_code="FARD_COPY", window=None
    )
    rid = request.id or 0
    table = DoorstepRequest.__table__  # type: ignore[attr-defined]
    real_stage = rules.stage

    def stage_then_delivered(*args: object, **kwargs: object) -> Stage | None:
        found = real_stage(*args, **kwargs)  # type: ignore[arg-type]
        delivered = {"status": RequestStatus.COMPLETED.value}
        session.execute(sa.update(table).where(table.c.id == rid).values(**delivered))
        return found

    monkeypatch.setattr(rules, "stage", stage_then_delivered)
    moment = pendency.moment(session=session, state_code="JK", now=FIRST_CHECK)
    assert deadlines._act(session, rid, moment, S, FIRST_CHECK) is None
    session.expire_all()
    assert request_service.get(session=session, request_id=rid).appeal_marked_at is None
    assert session.exec(select(Alert).where(Alert.request_id == rid)).first() is None
    marks = audit.history(session=session, entity="request", entity_id=rid)
    assert deadlines.MARKED not in {e.action for e in marks}


def test_an_alert_raised_meanwhile_by_another_run_is_not_raised_again(
    session: Session, march: dict[str, DoorstepRequest], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look finds nothing (the other run had not committed yet), the insert meets the
    unique key: no second row, and the caller's transaction goes on."""
    request = march["no_limit"]
    key = f"test:r{request.id}"
    values = {
        "kind": AlertKind.DEADLINE_NEAR,
        "state_code": "JK",
        "now": FIRST_CHECK,
        "request_id": request.id,
    }
    first = alert_service.raise_once(session=session, key=key, detail="first", **values)
    assert first is not None
    monkeypatch.setattr(alert_service, "exists", lambda **_: False)
    assert alert_service.raise_once(session=session, key=key, detail="again", **values) is None
    assert session.exec(select(Alert).where(Alert.key == key)).one().detail == "first"


def test_acknowledging_twice_is_fine_and_audited_once(
    session: Session, march: dict[str, DoorstepRequest]
) -> None:
    alert_id = alert_service.raise_once(
        session=session,
        key="test:ack",
        kind=AlertKind.APPEAL,
        state_code="JK",
        detail="to acknowledge",
        now=FIRST_CHECK,
        request_id=march["no_limit"].id,
    )
    assert alert_id is not None
    before = alert_service.count_open(session=session, state_code="JK")
    at = FIRST_CHECK + dt.timedelta(hours=1)
    first = alert_service.acknowledge(
        session=session, state_code="JK", alert_id=alert_id, actor="staff:one", now=at
    )
    second = alert_service.acknowledge(
        session=session,
        state_code="JK",
        alert_id=alert_id,
        actor="staff:two",
        now=at + dt.timedelta(minutes=5),
    )
    assert first.changed and not second.changed
    assert second.alert.acknowledged_by == "staff:one"
    assert second.alert.acknowledged_at == at.astimezone(dt.UTC)
    entries = audit.history(session=session, entity="alert", entity_id=alert_id)
    assert [(e.action, e.actor) for e in entries] == [("acknowledged", "staff:one")]
    assert alert_service.count_open(session=session, state_code="JK") == before - 1
    with pytest.raises(NotFound):  # another state's supervisor
        alert_service.acknowledge(
            session=session, state_code="PB", alert_id=alert_id, actor="staff:pb", now=at
        )


# --- yesterday's fees ----------------------------------------------------------------------------

FEES_DISTRICT = "BDP"
SHORT_DAY = dt.date(2014, 3, 4)  # a Tuesday: the agent declares ₹10 less cash than taken
EXACT_DAY = dt.date(2014, 3, 11)  # a Tuesday: the agent declares exactly what was taken
MISSED_DAY = dt.date(2014, 3, 18)  # a Tuesday the scheduler missed: ₹5 short


def _collected_day(engine: Engine, day: dt.date, short_paise: int) -> tuple[int, int]:
    """A visit booked and completed in Bandipora on `day` (its fee collected in cash), and the
    agent's declaration that evening `short_paise` below it. The agent's id and the fee."""
    planning.clear_cache()
    with write_session(engine) as s:
        request, _offer = factories.booked_request(
            s, district_code=FEES_DISTRICT, now=local(day, 7)
        )
        s.refresh(request)
        assert request.agent_id is not None and request.id is not None
        field.complete(
            session=s,
            settings=S,
            idempotency_key=f"test-alerts-done:{request.id}",
            agent_id=request.agent_id,
            request_id=request.id,
            visit_code=request.visit_code or "",
            now=local(day, 11),
        )
        ledger_service.declare(
            session=s,
            agent_id=request.agent_id,
            day=day,
            cash_paise=request.fee_paise - short_paise,
            upi_paise=0,
            actor=f"agent:{request.agent_id}",
            today=day,
            now=local(day, 18),
        )
        agent_id, fee = request.agent_id, request.fee_paise
    planning.clear_cache()
    return agent_id, fee


def test_yesterdays_fees_raise_one_alert_per_flagged_agent_day_in_rupees(engine: Engine) -> None:
    agent_id, fee = _collected_day(engine, SHORT_DAY, short_paise=1000)
    morning = SHORT_DAY + dt.timedelta(days=1)
    assert fees.reconcile_due_days(engine=engine, settings=S, now=local(morning, 5, 59)) == []
    raised = fees.reconcile_due_days(engine=engine, settings=S, now=local(morning, 6, 15))
    assert len(raised) == 1
    with read_session(engine) as s:
        alert = s.get(Alert, raised[0])
        assert alert is not None
        assert alert.key == f"fees:{agent_id}:{SHORT_DAY.isoformat()}"
        assert (alert.kind, alert.agent_id, alert.day) == (AlertKind.FEES, agent_id, SHORT_DAY)
        assert alert.detail == (
            f"1 flag: cash differs: declared cash {rupees(fee - 1000)}, the ledger "
            f"{rupees(fee)}: ₹10 less"
        )
        assert fees.reconciled(session=s, state_code="JK", day=SHORT_DAY)
    # Later runs that morning (or a second scheduler) do it once.
    assert fees.reconcile_due_days(engine=engine, settings=S, now=local(morning, 6, 30)) == []


def test_a_day_that_reconciles_raises_nothing_and_is_done(engine: Engine) -> None:
    _collected_day(engine, EXACT_DAY, short_paise=0)
    morning = EXACT_DAY + dt.timedelta(days=1)
    assert fees.reconcile_due_days(engine=engine, settings=S, now=local(morning, 7)) == []
    with read_session(engine) as s:
        assert fees.reconciled(session=s, state_code="JK", day=EXACT_DAY)
        assert (
            s.exec(select(Alert).where(col(Alert.key).like(f"fees:%:{EXACT_DAY}"))).first() is None
        )


def test_a_day_the_scheduler_missed_is_reconciled_by_the_next_run(engine: Engine) -> None:
    """The scheduler was stopped the morning after the day, from the reconciliation hour till
    midnight: the next morning's first run, before the hour, reconciles the missed day (and
    not yet yesterday), once."""
    agent_id, _fee = _collected_day(engine, MISSED_DAY, short_paise=500)
    two_days_on = MISSED_DAY + dt.timedelta(days=2)
    raised = fees.reconcile_due_days(engine=engine, settings=S, now=local(two_days_on, 0, 5))
    with read_session(engine) as s:
        [alert] = [s.get(Alert, alert_id) for alert_id in raised]
        assert alert is not None and alert.key == f"fees:{agent_id}:{MISSED_DAY.isoformat()}"
        assert fees.reconciled(session=s, state_code="JK", day=MISSED_DAY)
        assert not fees.reconciled(
            session=s, state_code="JK", day=MISSED_DAY + dt.timedelta(days=1)
        )
    assert fees.reconcile_due_days(engine=engine, settings=S, now=local(two_days_on, 5)) == []
    assert fees.reconcile_due_days(engine=engine, settings=S, now=local(two_days_on, 6)) == []
    with read_session(engine) as s:
        assert fees.reconciled(session=s, state_code="JK", day=MISSED_DAY + dt.timedelta(days=1))
