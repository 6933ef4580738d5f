"""Administering field agents: the pure checks of an agent's form and of leave (property tests),
a change validated field by field and audited with before and after, and leave as a use case
over the live plan — the agent's visits moved to other agents within their windows, a visit
nobody can take moved to a new time with the citizen told, visits under way left alone, a retry
changing nothing, the agents' change notices following, and leave taken back."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.agents import rules
from dispatch.agents import service as agent_service
from dispatch.agents.models import WEEKDAYS, Agent, AgentLeave
from dispatch.agents.rules import AgentForm, InvalidAgent
from dispatch.audit.models import AuditEntry
from dispatch.calls.models import Callback, CallbackReason
from dispatch.fieldwork import itinerary
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning
from dispatch.planning import store, zone
from dispatch.planning.models import PlanChange, PlanChangeKind, ZonePlan
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Role
from dispatch.visits import roster
from dispatch.visits.once import KeyReused
from routing import check
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
S = factories.SETTINGS
#: A Monday no other test plans on (Srinagar's agents).
DAY = dt.date(2043, 3, 2)
NOW = dt.datetime.combine(DAY, dt.time(7, 0), IST)
JK_LANGUAGES = ("hi", "en", "ur", "ks", "doi")


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _form(**changes: object) -> AgentForm:
    values: dict[str, object] = {
        "name": "Test Agent",
        "phone": "+917000099001",
        "skills": ["biometric"],
        "languages": ["hi", "ks"],
        "working_days": ["mon", "tue"],
        "shift_start": "09:00",
        "shift_end": "17:00",
        "break_start": "13:00",
        "break_minutes": "30",
        "daily_cap": "8",
        "travel_mode": "two_wheeler",
    }
    values.update(changes)
    return AgentForm(**values)  # type: ignore[arg-type]


def _check(form: AgentForm) -> rules.AgentValues:
    return rules.check_agent(form, skills={"biometric", "land_records"}, languages=JK_LANGUAGES)


# --- the pure checks ---------------------------------------------------------------------------


def test_a_good_form_is_typed_and_every_bad_field_is_named_at_once() -> None:
    good = _check(_form(working_days=["tue", "mon", "tue"], languages=["ks", "hi"]))
    assert (good.shift_start_min, good.shift_end_min, good.break_start_min) == (540, 1020, 780)
    assert good.working_days == ["mon", "tue"] and good.languages == ["hi", "ks"]
    assert good.phone == "+917000099001" and good.daily_cap == 8

    with pytest.raises(InvalidAgent) as caught:
        _check(
            _form(
                name=" ",
                phone="12",
                skills=["flying"],
                languages=[],
                working_days=["someday"],
                shift_start="9am",
                daily_cap="31",
                travel_mode="camel",
            )
        )
    assert set(caught.value.problems) == {
        "name",
        "phone",
        "skills",
        "languages",
        "working_days",
        "shift_start",
        "daily_cap",
        "travel_mode",
    }
    assert "flying" in caught.value.problems["skills"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"shift_start": "17:00", "shift_end": "09:00"}, "shift_end", "after it starts"),
        ({"shift_start": "09:00", "shift_end": "09:30"}, "shift_end", "at least an hour"),
        ({"break_start": "08:00"}, "break_start", "within the shift"),
        ({"break_start": "16:45"}, "break_start", "by the end of the shift"),
        ({"break_minutes": "200"}, "break_minutes", "at most 120"),
        ({"daily_cap": "0"}, "daily_cap", "at least 1"),
    ],
)
def test_shift_break_and_cap_are_checked(changes: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(InvalidAgent) as caught:
        _check(_form(**changes))
    assert words in caught.value.problems[field]


@given(
    start=st.integers(0, 24 * 60 - 1),
    end=st.integers(0, 24 * 60 - 1),
    cap=st.integers(-5, 40),
)
def test_a_shift_is_valid_exactly_when_an_hour_or_more_and_a_cap_from_1_to_30(
    start: int, end: int, cap: int
) -> None:
    form = _form(
        shift_start=rules.hhmm(start), shift_end=rules.hhmm(end), break_start="", daily_cap=cap
    )
    valid = end - start >= rules.SHORTEST_SHIFT_MIN and 1 <= cap <= rules.MOST_VISITS
    try:
        values = _check(form)
    except InvalidAgent:
        assert not valid
    else:
        assert valid and (values.shift_start_min, values.shift_end_min) == (start, end)
        assert values.break_start_min is None


@given(
    start=st.integers(6 * 60, 10 * 60),
    length=st.integers(60, 10 * 60),
    brk=st.integers(0, 24 * 60 - 1),
    minutes=st.integers(5, 120),
)
def test_a_break_is_accepted_exactly_when_it_lies_within_the_shift(
    start: int, length: int, brk: int, minutes: int
) -> None:
    end = min(start + length, 24 * 60 - 1)
    form = _form(
        shift_start=rules.hhmm(start),
        shift_end=rules.hhmm(end),
        break_start=rules.hhmm(brk),
        break_minutes=minutes,
    )
    inside = start <= brk and brk + minutes <= end
    try:
        values = _check(form)
    except InvalidAgent as exc:
        assert not inside and set(exc.problems) == {"break_start"}
    else:
        assert inside and (values.break_start_min, values.break_minutes) == (brk, minutes)


@given(
    first=st.dates(dt.date(2040, 1, 1), dt.date(2040, 3, 1)),
    days=st.integers(-3, 40),
    today=st.dates(dt.date(2040, 1, 1), dt.date(2040, 3, 1)),
)
def test_leave_is_from_today_on_first_to_last_at_most_a_month(
    first: dt.date, days: int, today: dt.date
) -> None:
    last = first + dt.timedelta(days=days)
    valid = first >= today and 0 <= days < rules.LONGEST_LEAVE_DAYS
    try:
        leave = rules.check_leave(first, last, "  sick  leave ", today=today)
    except InvalidAgent:
        assert not valid
    else:
        assert valid and leave.reason == "sick leave"
        assert list(leave.days()) == [first + dt.timedelta(days=n) for n in range(days + 1)]


def test_leave_needs_a_day_and_a_reason() -> None:
    with pytest.raises(InvalidAgent) as caught:
        rules.check_leave(None, None, " ", today=DAY)
    assert set(caught.value.problems) == {"first", "reason"}
    assert rules.check_leave(DAY, None, "training", today=DAY).last == DAY


# --- changing an agent -------------------------------------------------------------------------


def _agent(session: Session, csc: str = "") -> Agent:
    return agent_service.create(
        session=session,
        state_code="JK",
        csc_id=csc or f"9{uuid.uuid4().int % 10**11:011d}",
        name="Admin Test Agent",
        phone=f"+91700{uuid.uuid4().int % 10**7:07d}",
        block_code="SXR01",
        lat=None,
        lon=None,
        skills=["biometric"],
        languages=["hi", "ks"],
        working_days=list(WEEKDAYS[:5]),
        shift_start="09:00",
        shift_end="17:00",
        daily_cap=8,
        travel_mode="two_wheeler",
        actor="staff:admin1",
    )


def _audits(session: Session, entity: str, entity_id: object, action: str) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(
                AuditEntry.entity == entity,
                AuditEntry.entity_id == str(entity_id),
                AuditEntry.action == action,
            )
            .order_by(col(AuditEntry.id))
        )
    )


def test_a_new_agent_without_coordinates_starts_from_their_blocks_centre(
    session: Session,
) -> None:
    agent = _agent(session)
    block = session.exec(select(zone.Block).where(zone.Block.code == "SXR01")).one()
    assert (agent.lat, agent.lon) == (block.lat, block.lon)
    assert agent.break_start_min == 13 * 60  # mid-shift by default
    [created] = _audits(session, "agent", agent.id, "create")
    assert created.detail["after"]["shift_start"] == "09:00"
    assert agent.phone not in str(created.detail)  # masked: no phone number in the audit log


def test_a_new_agent_with_bad_fields_names_them_all_and_writes_nothing(session: Session) -> None:
    existing = session.exec(select(Agent).order_by(col(Agent.id))).first()
    assert existing is not None
    with pytest.raises(InvalidAgent) as caught:
        agent_service.create(
            session=session,
            state_code="JK",
            csc_id=existing.csc_id,
            name="",
            phone=existing.phone,
            block_code="NOPE",
            lat=None,
            lon=None,
            skills=[],
            languages=["pa"],
            working_days=["mon"],
            shift_start="09:00",
            shift_end="17:00",
            daily_cap=8,
            travel_mode="two_wheeler",
        )
    assert {"csc_id", "name", "phone", "block", "languages"} <= set(caught.value.problems)


def test_an_update_changes_what_was_given_and_audits_before_and_after(session: Session) -> None:
    agent = _agent(session)
    made = agent_service.update(
        session=session,
        agent_id=agent.id or 0,
        actor="staff:admin1",
        skills=["biometric", "land_records"],
        shift_start="10:00",
        shift_end="18:00",
        break_start="",
        daily_cap="12",
        name="Admin Test Agent",  # the same: not a change
    )

    assert made.after == {
        "skills": ["biometric", "land_records"],
        "shift_start": "10:00",
        "shift_end": "18:00",
        "break_start": "",
        "break_minutes": 0,
        "daily_cap": 12,
    }
    assert made.before["shift_start"] == "09:00" and made.before["break_start"] == "13:00"
    assert made.changes_plans
    fresh = agent_service.get(session=session, agent_id=agent.id or 0)
    assert (fresh.shift_start_min, fresh.break_start_min, fresh.daily_cap) == (600, None, 12)
    [entry] = _audits(session, "agent", agent.id, "update")
    assert entry.actor == "staff:admin1"
    assert entry.detail == {"before": made.before, "after": made.after}


def test_a_bad_update_changes_nothing_and_names_each_field(session: Session) -> None:
    agent = _agent(session)
    other = _agent(session)
    with pytest.raises(InvalidAgent) as caught:
        agent_service.update(
            session=session,
            agent_id=agent.id or 0,
            actor="staff:admin1",
            phone=other.phone,
            shift_start="18:00",
            block_code="PB01",
            daily_cap="99",
        )
    assert set(caught.value.problems) == {"phone", "shift_end", "block", "daily_cap"}
    assert "another agent" in caught.value.problems["phone"]
    session.refresh(agent)
    assert agent.shift_start_min == 9 * 60 and agent.daily_cap == 8
    assert _audits(session, "agent", agent.id, "update") == []


def test_a_new_block_moves_the_agents_start_and_the_phone_is_masked_in_the_audit(
    session: Session,
) -> None:
    agent = _agent(session)
    made = agent_service.update(
        session=session,
        agent_id=agent.id or 0,
        actor="staff:admin1",
        block_code="SXR03",
        phone="+91 70000 99123",
    )
    block = session.exec(select(zone.Block).where(zone.Block.code == "SXR03")).one()
    assert (agent.lat, agent.lon, agent.phone) == (block.lat, block.lon, "+917000099123")
    assert made.after["block"] == "SXR03" and made.before["block"] == "SXR01"
    assert "99123" not in str(made.after) and made.after["phone"].endswith("123")


def test_a_new_phone_that_masks_like_the_old_one_is_a_change_and_audited(
    session: Session,
) -> None:
    """Changes are found on the values as they are: only the audit's copy is masked."""
    agent = _agent(session)
    old_phone = f"+91700{(int(agent.phone[-7:]) + 1000) % 10**7:07d}"  # same last three digits
    agent_service.update(session=session, agent_id=agent.id or 0, actor="t", phone=old_phone)
    new_phone = f"+91700{(int(old_phone[-7:]) + 1000) % 10**7:07d}"
    assert validation.mask_phone(new_phone) == validation.mask_phone(old_phone)

    made = agent_service.update(
        session=session, agent_id=agent.id or 0, actor="staff:admin1", phone=new_phone
    )

    assert made.after == {"phone": validation.mask_phone(new_phone)}
    assert made.before == {"phone": validation.mask_phone(old_phone)}
    entry = _audits(session, "agent", agent.id, "update")[-1]
    assert entry.actor == "staff:admin1" and entry.detail["after"] == made.after
    assert new_phone not in str(entry.detail) and old_phone not in str(entry.detail)
    session.expire_all()
    assert agent_service.get(session=session, agent_id=agent.id or 0).phone == new_phone


def test_a_phone_taken_by_another_save_since_the_check_leaves_the_agent_unchanged(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two admins giving two agents one number: the second save's flush fails; its fields,
    already set on the agent, must not be written by the caller's commit."""
    agent, other = _agent(session), _agent(session)
    phone = agent.phone
    monkeypatch.setattr(agent_service, "_phone_taken", lambda *_args: False)  # the race

    with pytest.raises(InvalidAgent) as caught:
        agent_service.update(
            session=session, agent_id=agent.id or 0, actor="t", phone=other.phone, daily_cap=12
        )

    assert caught.value.problems == {"phone": "another agent has this phone"}
    assert (agent.phone, agent.daily_cap) == (phone, 8)  # expired: read back as stored
    session.flush()
    session.expire_all()
    fresh = agent_service.get(session=session, agent_id=agent.id or 0)
    assert (fresh.phone, fresh.daily_cap) == (phone, 8)
    assert _audits(session, "agent", agent.id, "update") == []


# --- leave over the live plan -------------------------------------------------------------------


def _admin(session: Session) -> StaffUser:
    return staff_service.create(
        session=session,
        state_code="JK",
        username=f"admin_{uuid.uuid4().hex[:8]}",
        name="Roster Admin",
        role=Role.ADMIN,
        password="correct horse battery",
        actor="test",
    )


def _book(session: Session, n: int) -> list[DoorstepRequest]:
    """`n` visits booked in Srinagar on DAY, across its windows."""
    return [
        factories.booked_request(session, district_code="SXR", now=NOW, choice=i % 3)[0]
        for i in range(n)
    ]


def _busiest(session: Session, requests: list[DoorstepRequest]) -> int:
    """The agent with most of these visits."""
    counts: dict[int, int] = {}
    for r in requests:
        session.refresh(r)
        assert r.agent_id is not None
        counts[r.agent_id] = counts.get(r.agent_id, 0) + 1
    return max(counts, key=lambda a: counts[a])


def _leave(
    session: Session, admin: StaffUser, agent_id: int, key: str = "", **kwargs: object
) -> roster.LeaveResult:
    return roster.put_on_leave(
        session=session,
        settings=S,
        idempotency_key=key or f"t:leave:{uuid.uuid4().hex}",
        actor=staff_service.actor_of(admin),
        agent_id=agent_id,
        first=kwargs.pop("first", DAY),  # type: ignore[arg-type]
        last=kwargs.pop("last", None),  # type: ignore[arg-type]
        reason=str(kwargs.pop("reason", "sick")),
        now=NOW,
    )


def _district(session: Session) -> int:
    district = session.exec(select(zone.District).where(zone.District.code == "SXR")).one()
    assert district.id is not None
    return district.id


def test_leave_moves_the_agents_visits_to_other_agents_keeping_their_windows(
    session: Session,
) -> None:
    admin = _admin(session)
    booked = _book(session, 4)
    away = _busiest(session, booked)
    theirs = [r for r in booked if r.agent_id == away]
    windows = {r.id: (r.window_start, r.window_end) for r in theirs}

    result = _leave(session, admin, away, reason="  fever ")

    assert result.days_added == [DAY] and not result.replayed
    assert sorted(m.request_id for m in result.moved) == sorted(windows)
    assert result.new_time == [] and result.under_way == []
    for moved in result.moved:
        request = request_service.get(session=session, request_id=moved.request_id)
        assert request.agent_id == moved.agent_id != away
        assert request.status is RequestStatus.ASSIGNED and request.pinned_agent_id is None
        assert (request.window_start, request.window_end) == windows[moved.request_id]
        assert (moved.window_start, moved.window_end) == windows[moved.request_id]
        assert request.planned_arrival is not None
        assert request.window_start <= request.planned_arrival <= request.window_end
        [audited] = _audits(session, "request", moved.request_id, "reassign")
        assert (audited.detail["from_agent"], audited.detail["to_agent"]) == (away, moved.agent_id)
        assert audited.detail["reason"] == roster.ON_LEAVE
    stops = store.current_stops(session=session, district_id=_district(session), day=DAY)
    assert away not in {s.agent_id for s in stops}
    zd = zone.load(session, _district(session), DAY)
    assert check(zd.problem, zd.plan, require_all_accounted=False) == []
    assert (
        session.exec(select(AgentLeave).where(AgentLeave.agent_id == away, AgentLeave.day == DAY))
        .one()
        .reason
        == "fever"
    )
    [entry] = _audits(session, "agent", away, roster.LEAVE_VISITS)
    assert entry.actor == staff_service.actor_of(admin)
    assert len(entry.detail["outcome"]["moved"]) == len(windows)


def test_a_visit_nobody_can_take_is_re_offered_with_an_sms_and_a_call_back(
    session: Session,
) -> None:
    admin = _admin(session)
    [request] = _book(session, 1)
    session.refresh(request)
    away = request.agent_id
    assert away is not None
    for other in agent_service.available(session=session, district_id=_district(session), day=DAY):
        if other.id != away:  # nobody else of Srinagar works that day
            agent_service.add_leave(session=session, agent_id=other.id or 0, day=DAY)

    result = _leave(session, admin, away)

    assert result.moved == []
    [new] = result.new_time
    after = request_service.get(session=session, request_id=request.id or 0)
    assert new.request_id == request.id and new.window_start == after.window_start
    assert after.window_start is not None and after.window_start.astimezone(IST).date() > DAY
    # Another day: the agent is back then, and may be the one who comes.
    assert after.status is RequestStatus.ASSIGNED and after.agent_id is not None
    message = session.get(OutboxMessage, new.message_id)
    assert message is not None and message.kind == "reoffer"
    assert message.request_id == request.id and request.reference in message.body
    assert result.message_ids == [new.message_id]
    # The console rings the citizen to confirm or change it; the timeline says why.
    callbacks = session.exec(select(Callback).where(Callback.request_id == request.id)).all()
    assert [c.reason for c in callbacks] == [CallbackReason.REOFFER]
    reoffered = session.exec(
        select(PlanChange).where(
            PlanChange.request_id == request.id, PlanChange.kind == PlanChangeKind.REOFFERED
        )
    ).one()
    assert reoffered.cause == roster.ON_LEAVE
    left = session.exec(
        select(PlanChange).where(
            PlanChange.request_id == request.id, PlanChange.kind == PlanChangeKind.DROPPED
        )
    ).one()  # first taken off the absent agent's day, then re-offered
    assert (left.cause, left.from_agent_id, left.to_agent_id) == (roster.ON_LEAVE, away, None)


def test_visits_under_way_are_left_with_the_agent(session: Session) -> None:
    admin = _admin(session)
    booked = _book(session, 3)
    away = _busiest(session, booked)
    first = next(r for r in booked if r.agent_id == away)
    request_service.transition(
        session=session, request_id=first.id or 0, to=RequestStatus.EN_ROUTE, actor="test"
    )

    result = _leave(session, admin, away)

    assert [(u.request_id, u.status) for u in result.under_way] == [
        (first.id, RequestStatus.EN_ROUTE)
    ]
    assert first.id not in {m.request_id for m in result.moved}
    still = request_service.get(session=session, request_id=first.id or 0)
    assert still.status is RequestStatus.EN_ROUTE and still.agent_id == away
    # Re-plans leave it out rather than give it to someone else while its agent is at it.
    assert still.window_start is not None
    day = still.window_start.astimezone(IST).date()
    zd = zone.load(session, still.district_id, day)
    assert zone.visit_id(first.id or 0) not in zd.requests


def test_a_retried_leave_changes_nothing_again_and_a_reused_key_is_refused(
    session: Session,
) -> None:
    admin = _admin(session)
    booked = _book(session, 2)
    away = _busiest(session, booked)
    key = f"t:leave:{uuid.uuid4().hex}"
    first = _leave(session, admin, away, key)
    version = zone.current_version(session, _district(session), DAY)
    audits = len(list(session.exec(select(AuditEntry.id))))

    again = _leave(session, admin, away, key)

    assert again.replayed and again.moved == first.moved and again.days_added == [DAY]
    assert zone.current_version(session, _district(session), DAY) == version
    assert len(list(session.exec(select(AuditEntry.id)))) == audits
    with pytest.raises(KeyReused):
        _leave(session, admin, away, key, last=DAY + dt.timedelta(days=1))


def test_leave_for_a_range_records_every_day_and_bad_days_record_nothing(
    session: Session,
) -> None:
    admin = _admin(session)
    agent = _agent(session)
    with pytest.raises(InvalidAgent):
        _leave(session, admin, agent.id or 0, first=DAY - dt.timedelta(days=1))
    assert agent_service.leave_from(session=session, agent_id=agent.id or 0, day=DAY) == []

    result = _leave(session, admin, agent.id or 0, last=DAY + dt.timedelta(days=2))

    assert result.days_added == [DAY + dt.timedelta(days=n) for n in range(3)]
    days = [
        x.day for x in agent_service.leave_from(session=session, agent_id=agent.id or 0, day=DAY)
    ]
    assert days == result.days_added
    [entry] = _audits(session, "agent", agent.id, "leave")
    assert entry.detail["after"]["days"] == [d.isoformat() for d in result.days_added]


def test_agents_hear_of_the_change_as_after_a_reassignment(session: Session) -> None:
    """The agent on leave, who had their day, is told the visits are off it; the agent who
    took them is told they are new (the scheduled itinerary task's `send_changes`)."""
    admin = _admin(session)
    booked = _book(session, 2)
    away = _busiest(session, booked)
    itinerary.send_day(
        session=session, settings=S, agent_id=away, on=DAY, now=NOW + dt.timedelta(minutes=30)
    )
    result = _leave(session, admin, away)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=S.itinerary_settle_minutes + 1)

    itinerary.send_changes(session=session, settings=S, agent_id=away, on=DAY, now=later)

    away_agent = agent_service.get(session=session, agent_id=away)
    [told] = session.exec(
        select(OutboxMessage).where(
            OutboxMessage.to == away_agent.phone, OutboxMessage.kind == "itinerary_changes"
        )
    ).all()
    for moved in result.moved:
        assert f"{moved.reference} cancelled" in told.body
    taker = result.moved[0].agent_id
    itinerary.send_day(session=session, settings=S, agent_id=taker, on=DAY, now=later)
    taker_phone = agent_service.get(session=session, agent_id=taker).phone
    heads = session.exec(select(OutboxMessage).where(OutboxMessage.to == taker_phone)).all()
    assert any(result.moved[0].reference in m.body for m in heads)


def test_taking_leave_back_puts_the_agent_on_duty_and_moves_nothing_back(
    session: Session,
) -> None:
    admin = _admin(session)
    booked = _book(session, 2)
    away = _busiest(session, booked)
    result = _leave(session, admin, away)
    district = _district(session)
    assert away not in {
        a.id for a in agent_service.available(session=session, district_id=district, day=DAY)
    }

    back = roster.end_leave(session=session, actor="staff:admin1", agent_id=away, days=[DAY])

    assert back == [DAY]
    assert away in {
        a.id for a in agent_service.available(session=session, district_id=district, day=DAY)
    }
    for moved in result.moved:
        assert request_service.get(session=session, request_id=moved.request_id).agent_id != away
    [entry] = _audits(session, "agent", away, "leave_removed")
    assert entry.detail["before"]["days"] == [DAY.isoformat()]
    plan = session.get(ZonePlan, (district, DAY), populate_existing=True)
    assert plan is not None and plan.improved_version < plan.version  # to be re-planned
    assert roster.end_leave(session=session, actor="staff:admin1", agent_id=away, days=[DAY]) == []


def test_an_agent_with_visits_planned_cannot_be_switched_off_and_a_shift_change_replans(
    session: Session,
) -> None:
    booked = _book(session, 2)
    away = _busiest(session, booked)
    with pytest.raises(InvalidAgent) as caught:
        roster.update_agent(
            session=session, actor="staff:admin1", agent_id=away, active=False, now=NOW
        )
    assert "on leave" in caught.value.problems["active"]
    assert agent_service.get(session=session, agent_id=away).active
    version = zone.current_version(session, _district(session), DAY)

    roster.update_agent(
        session=session, actor="staff:admin1", agent_id=away, shift_end="16:00", now=NOW
    )

    plan = session.get(ZonePlan, (_district(session), DAY), populate_existing=True)
    # A new version: what was computed with the old shift is outdated; and a re-plan is due.
    assert plan is not None and plan.version == version + 1
    assert plan.improved_version < plan.version
