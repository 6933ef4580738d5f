"""The console's desk: a planned visit moved to another agent of its district-day through the
live plan (or refused when that agent cannot take it) and kept with them through re-plans
until it is rescheduled or cancelled, a priority raised with the zone-day marked for
re-planning; each a use case run once per key (`visit_command`) and audited."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.audit.models import AuditEntry
from dispatch.errors import InvalidInput, InvalidTransition
from dispatch.ledger import service as ledger_service
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning
from dispatch.planning import store, zone
from dispatch.planning.models import ZonePlan
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Role
from dispatch.visits import desk
from dispatch.visits import service as visits
from dispatch.visits.models import UseCase, VisitCommand
from dispatch.visits.once import KeyReused
from dispatch.visits.proof import StaffActing
from routing import check
from routing.model import Pin
from routing.timing import Indexed
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: Days no other test plans on (Monday, Wednesday, Thursday).
MONDAY = dt.datetime(2034, 3, 6, 7, 0, tzinfo=IST)
WEDNESDAY = dt.datetime(2034, 3, 8, 7, 0, tzinfo=IST)
THURSDAY = dt.datetime(2034, 3, 9, 7, 0, tzinfo=IST)
#: Tuesdays no other test plans on in Anantnag (agents from Anantnag town to Pahalgam).
KEPT_DAY = dt.datetime(2035, 3, 6, 7, 0, tzinfo=IST)
LET_GO_DAY = dt.datetime(2035, 3, 13, 7, 0, tzinfo=IST)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _key() -> str:
    return f"t:desk:{uuid.uuid4().hex}"


def _another_agent(session: Session, request: DoorstepRequest) -> Agent:
    """An agent on duty that day, other than the request's, who can take it (speaks Hindi,
    starts at nine)."""
    return next(
        a
        for a in planning_reassign.agents_for(session=session, request_id=request.id or 0)
        if a.id != request.agent_id and "hi" in a.languages and a.shift_start_min == 9 * 60
    )


def _audits(session: Session, request_id: int, action: str) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(
                AuditEntry.entity == "request",
                AuditEntry.entity_id == str(request_id),
                AuditEntry.action == action,
            )
            .order_by(col(AuditEntry.id))
        )
    )


def _command(session: Session, key: str) -> VisitCommand:
    return session.exec(select(VisitCommand).where(VisitCommand.idempotency_key == key)).one()


def _staff(session: Session) -> StaffUser:
    return staff_service.create(
        session=session,
        state_code="JK",
        username=f"desk_{uuid.uuid4().hex[:8]}",
        name="Desk",
        role=Role.DISPATCHER,
        password="correct horse battery",
        actor="test",
    )


def _day(request: DoorstepRequest) -> dt.date:
    assert request.window_start is not None
    return request.window_start.astimezone(IST).date()


def test_a_visit_moves_to_another_agent_of_its_day_within_its_window(session: Session) -> None:
    request, offer = factories.booked_request(session, district_code="SXR", now=MONDAY)
    assert request.status is RequestStatus.ASSIGNED and request.agent_id is not None
    before_agent = request.agent_id
    target = _another_agent(session, request)
    version = zone.current_version(session, request.district_id, _day(request))
    key = _key()

    moved = desk.reassign(
        session=session,
        idempotency_key=key,
        actor="staff:dispatcher1",
        request_id=request.id or 0,
        agent_id=target.id or 0,
        now=MONDAY,
    )

    assert moved.agent_id == target.id and not moved.replayed
    after = request_service.get(session=session, request_id=request.id or 0)
    assert after.agent_id == target.id and after.status is RequestStatus.ASSIGNED
    assert (after.window_start, after.window_end) == (offer.start, offer.end)
    assert after.planned_arrival is not None
    assert offer.start <= after.planned_arrival <= offer.end
    day = _day(request)
    assert zone.current_version(session, request.district_id, day) == version + 1
    stops = store.current_stops(session=session, district_id=request.district_id, day=day)
    assert [s.agent_id for s in stops if s.request_id == request.id] == [target.id]
    zd = zone.load(session, request.district_id, day)
    assert check(zd.problem, zd.plan, require_all_accounted=False) == []
    [entry] = _audits(session, request.id or 0, desk.REASSIGN)
    assert entry.actor == "staff:dispatcher1"
    assert (entry.detail["from_agent"], entry.detail["to_agent"]) == (before_agent, target.id)
    command = _command(session, key)
    assert (command.use_case, command.request_id) == (UseCase.REASSIGN, request.id)
    assert command.actor == "staff:dispatcher1" and command.outcome["agent_id"] == target.id
    assert (after.pinned_agent_id, after.pinned_by) == (target.id, "staff:dispatcher1")


def test_a_reassignment_sent_twice_acts_once_and_its_key_serves_nothing_else(
    session: Session,
) -> None:
    request, _ = factories.booked_request(session, district_code="SXR", now=MONDAY)
    target, first_agent = _another_agent(session, request), request.agent_id
    key = _key()
    args = dict(
        session=session,
        idempotency_key=key,
        actor="staff:dispatcher1",
        request_id=request.id or 0,
        agent_id=target.id or 0,
    )
    first = desk.reassign(**args)  # type: ignore[arg-type]
    version = zone.current_version(session, request.district_id, _day(request))
    again = desk.reassign(**args)  # type: ignore[arg-type]
    assert again.replayed and again.agent_id == first.agent_id == target.id
    assert zone.current_version(session, request.district_id, _day(request)) == version
    assert len(_audits(session, request.id or 0, desk.REASSIGN)) == 1
    with pytest.raises(KeyReused):
        desk.reassign(**{**args, "agent_id": first_agent})  # type: ignore[arg-type]
    with pytest.raises(KeyReused):  # nor for another use case
        desk.raise_priority(
            session=session,
            idempotency_key=key,
            actor="staff:dispatcher1",
            request_id=request.id or 0,
            priority=1,
        )
    assert request_service.get(session=session, request_id=request.id or 0).priority == 0


def test_an_agent_who_cannot_take_the_visit_is_refused_and_nothing_changes(
    session: Session,
) -> None:
    """Mohammad Ramzan Naqash (Srinagar) speaks Kashmiri and Urdu only: a Hindi visit does not
    fit him, whatever his day."""
    request, _ = factories.booked_request(session, district_code="SXR", now=WEDNESDAY)
    no_hindi = session.exec(select(Agent).where(Agent.name == "Mohammad Ramzan Naqash")).one()
    day = _day(request)
    version = zone.current_version(session, request.district_id, day)
    with pytest.raises(planning_reassign.AgentCannotTake) as refused:
        desk.reassign(
            session=session,
            idempotency_key=_key(),
            actor="staff:dispatcher1",
            request_id=request.id or 0,
            agent_id=no_hindi.id or 0,
        )
    assert refused.value.reference == request.reference
    assert request.reference in str(refused.value) and no_hindi.name in str(refused.value)
    choices = planning_reassign.choices(session=session, request_id=request.id or 0)
    fits = {c.agent.id: c.fits for c in choices}
    assert fits[no_hindi.id] is False and fits[request.agent_id] is True
    assert [c.agent.id for c in choices if c.current] == [request.agent_id]
    assert zone.current_version(session, request.district_id, day) == version
    unchanged = request_service.get(session=session, request_id=request.id or 0)
    assert unchanged.agent_id == request.agent_id
    assert _audits(session, request.id or 0, desk.REASSIGN) == []


def test_reassigning_needs_a_planned_visit_and_an_agent_of_its_day(session: Session) -> None:
    request, _ = factories.booked_request(session, district_code="SXR", now=WEDNESDAY)
    logged = factories.request(session, district_code="SXR")
    elsewhere = session.exec(select(Agent).where(Agent.name == "Rakesh Kumar Sharma")).one()

    def reassign(request_id: int, agent_id: int) -> None:
        desk.reassign(
            session=session,
            idempotency_key=_key(),
            actor="staff:d",
            request_id=request_id,
            agent_id=agent_id,
        )

    with pytest.raises(InvalidInput, match="with this agent"):
        reassign(request.id or 0, request.agent_id or 0)
    with pytest.raises(InvalidInput, match="not on duty"):
        reassign(request.id or 0, elsewhere.id or 0)  # an agent of Jammu
    with pytest.raises(InvalidInput, match="no planned visit"):
        reassign(logged.id or 0, request.agent_id or 0)
    assert planning_reassign.agents_for(session=session, request_id=logged.id or 0) == []


def test_a_visit_the_agent_is_on_the_way_to_stays_with_them(session: Session) -> None:
    request, _ = factories.booked_request(session, district_code="SXR", now=WEDNESDAY)
    target = _another_agent(session, request)
    request_service.transition(
        session=session, request_id=request.id or 0, to=RequestStatus.EN_ROUTE, actor="agent"
    )
    with pytest.raises(InvalidTransition, match="on the way"):
        desk.reassign(
            session=session,
            idempotency_key=_key(),
            actor="staff:d",
            request_id=request.id or 0,
            agent_id=target.id or 0,
        )


def _far_reassignment(session: Session, now: dt.datetime) -> tuple[DoorstepRequest, Agent]:
    """Four visits booked in Anantnag, and the one visit and on-duty agent (with a place for
    it) farthest apart: a move the solver would undo if it were free to."""
    booked = [
        factories.booked_request(session, district_code="ANT", now=now, choice=i % 2)[0]
        for i in range(4)
    ]
    zd = zone.load(session, booked[0].district_id, _day(booked[0]))
    ix = Indexed.of(zd.problem)
    best: tuple[int, DoorstepRequest, Agent] | None = None
    for request in booked:
        v = zd.problem.visit_index(zone.visit_id(request.id or 0))
        for choice in planning_reassign.choices(session=session, request_id=request.id or 0):
            if choice.current or not choice.fits:
                continue
            a = zd.problem.agent_index(zone.agent_key(choice.agent.id or 0))
            far = ix.a_dur[a][ix.a_start[a]][ix.v_loc[v]]
            if best is None or far > best[0]:
                best = (far, request, choice.agent)
    assert best is not None and best[0] > 3600, "no agent far enough to make the test mean it"
    return best[1], best[2]


def test_a_reassigned_visit_stays_with_its_agent_through_a_replan(session: Session) -> None:
    request, far = _far_reassignment(session, KEPT_DAY)
    desk.reassign(
        session=session,
        idempotency_key=_key(),
        actor="staff:dispatcher1",
        request_id=request.id or 0,
        agent_id=far.id or 0,
    )
    planning.clear_cache()
    zd = zone.load(session, request.district_id, _day(request))
    vid, kept_with = zone.visit_id(request.id or 0), zone.agent_key(far.id or 0)
    pins = {v.id: v.pin for v in zd.problem.visits if v.pin is not None}
    assert pins == {vid: Pin(kept_with)}  # with that agent, anywhere in the route
    assert zd.plan.agent_of(vid) == kept_with
    free = replace(
        zd,
        problem=zd.problem.with_visits([replace(v, pin=None) for v in zd.problem.visits]),
    )
    # Free to, the solver gives the visit back to an agent who lives nearer.
    assert planning.improve(free, time_limit_s=0.2).plan.agent_of(vid) != kept_with

    result = planning.improve(zd, time_limit_s=0.2)
    assert result.plan.agent_of(vid) == kept_with
    assert check(zd.problem, result.plan, require_all_accounted=False) == []
    planning.save_replan(session=session, zd=zd, result=result)
    after = request_service.get(session=session, request_id=request.id or 0)
    assert after.agent_id == far.id and after.status is RequestStatus.ASSIGNED
    assert after.pinned_agent_id == far.id


def test_rescheduling_or_cancelling_lets_go_of_the_agent_a_dispatcher_chose(
    session: Session,
) -> None:
    first, _ = factories.booked_request(session, district_code="ANT", now=LET_GO_DAY)
    second, _ = factories.booked_request(session, district_code="ANT", now=LET_GO_DAY)
    staff = StaffActing(_staff(session).id or 0)
    for request in (first, second):
        desk.reassign(
            session=session,
            idempotency_key=_key(),
            actor="staff:dispatcher1",
            request_id=request.id or 0,
            agent_id=_another_agent(session, request).id or 0,
        )
        assert request_service.get(session=session, request_id=request.id or 0).pinned_agent_id
    later = next(
        o for o in factories.offers_for(session, first, LET_GO_DAY) if o.start != first.window_start
    )
    visits.reschedule_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=_key(),
        actor="staff:agent",
        request_id=first.id or 0,
        proof=staff,
        offer=later,
    )
    visits.cancel_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=_key(),
        actor="staff:agent",
        request_id=second.id or 0,
        proof=staff,
        reason="asked on the phone",
    )
    for request in (first, second):
        after = request_service.get(session=session, request_id=request.id or 0)
        assert (after.pinned_agent_id, after.pinned_by) == (None, None)
    planning.clear_cache()
    zd = zone.load(session, first.district_id, later.day)
    assert zd.problem.visits[zd.problem.visit_index(zone.visit_id(first.id or 0))].pin is None


def test_a_raised_priority_is_audited_and_marks_the_day_for_re_planning(
    session: Session,
) -> None:
    request, _ = factories.booked_request(session, district_code="KPW", now=THURSDAY)
    day = _day(request)
    plan = session.get(ZonePlan, (request.district_id, day))
    assert plan is not None
    plan.improved_version = plan.version  # as if the solver had just improved it
    session.add(plan)
    session.flush()
    assert request.priority == 0
    key = _key()

    raised = desk.raise_priority(
        session=session,
        idempotency_key=key,
        actor="staff:dispatcher1",
        request_id=request.id or 0,
        priority=2,
    )

    assert raised.priority == 2
    assert request_service.get(session=session, request_id=request.id or 0).priority == 2
    session.refresh(plan)
    assert plan.improved_version < plan.version  # the scheduled re-plan will look again
    [entry] = _audits(session, request.id or 0, desk.RAISE_PRIORITY)
    assert entry.actor == "staff:dispatcher1"
    assert (entry.detail["from_priority"], entry.detail["to_priority"]) == (0, 2)
    again = desk.raise_priority(
        session=session,
        idempotency_key=key,
        actor="staff:dispatcher1",
        request_id=request.id or 0,
        priority=2,
    )
    assert again.replayed and len(_audits(session, request.id or 0, desk.RAISE_PRIORITY)) == 1
    assert _command(session, key).use_case is UseCase.RAISE_PRIORITY


def test_a_priority_goes_only_up_to_what_the_planner_tells_apart(session: Session) -> None:
    request = factories.request(session)  # logged, no window: nothing to re-plan

    def raise_to(level: int) -> desk.DeskResult:
        return desk.raise_priority(
            session=session,
            idempotency_key=_key(),
            actor="staff:d",
            request_id=request.id or 0,
            priority=level,
        )

    assert raise_to(1).priority == 1
    with pytest.raises(InvalidInput):
        raise_to(1)  # not higher
    with pytest.raises(InvalidInput):
        raise_to(desk.MOST_URGENT + 1)
    assert raise_to(desk.MOST_URGENT).priority == desk.MOST_URGENT


def test_a_closed_request_keeps_its_priority(session: Session) -> None:
    request = factories.request(session)
    visits.cancel_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=_key(),
        actor="staff:agent",
        request_id=request.id or 0,
        proof=StaffActing(_staff(session).id or 0),
        reason="asked on the phone",
    )
    with pytest.raises(InvalidTransition):
        desk.raise_priority(
            session=session,
            idempotency_key=_key(),
            actor="staff:d",
            request_id=request.id or 0,
            priority=1,
        )


def test_cancelling_would_waive_what_is_owed_and_refund_what_was_paid(session: Session) -> None:
    request = factories.request(session)
    assert request.fee_paise > 0
    owed = desk.settlement_if_cancelled(session=session, request_id=request.id or 0)
    assert (owed.refund_paise, owed.waive_paise) == (0, request.fee_paise)
    agent = session.exec(select(Agent).order_by(col(Agent.id))).first()
    assert agent is not None
    ledger_service.collect(
        session=session,
        request_id=request.id or 0,
        agent_id=agent.id or 0,
        amount_paise=request.fee_paise,
        method="cash",
        actor="test",
    )
    paid = desk.settlement_if_cancelled(session=session, request_id=request.id or 0)
    assert (paid.refund_paise, paid.waive_paise) == (request.fee_paise, request.fee_paise)
