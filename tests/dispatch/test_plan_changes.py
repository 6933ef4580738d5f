"""What each plan version changed for each request (`dispatch.planning.changes`): a booking,
a dispatcher's move, a cancellation and an agent's late report each leave one change with its
cause, agents and arrivals; a small re-timing leaves none; and whoever told someone of a change
is noted on it once — each agent of a moved visit apart. Every test runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from dispatch.citizens import service as citizen_service
from dispatch.fieldwork import itinerary
from dispatch.fieldwork import service as field
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import changes, store, zone
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning
from dispatch.planning.models import PlanChange, PlanChangeKind
from dispatch.requests.models import DoorstepRequest
from dispatch.visits import roster
from routing.plan import Plan
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: A Monday no other test books on (the live plans are shared by the session's tests).
NOW = dt.datetime(2038, 2, 1, 7, 0, tzinfo=IST)
DAY = NOW.date()
S = factories.SETTINGS


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _book(session: Session, district: str = "SXR") -> DoorstepRequest:
    request, _offer = factories.booked_request(session, district_code=district, now=NOW)
    session.refresh(request)
    assert request.agent_id is not None and request.planned_arrival is not None
    return request


def _changes(session: Session, request: DoorstepRequest) -> list[PlanChange]:
    return changes.for_request(session=session, request_id=request.id or 0)


def _other_agent(session: Session, request: DoorstepRequest) -> int:
    """An agent on duty that day, not the request's, with a place for the visit."""
    choices = planning_reassign.choices(session=session, request_id=request.id or 0)
    target = next(c.agent.id for c in choices if c.fits and not c.current)
    assert target is not None
    return target


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), IST)


def test_a_booking_records_the_visit_added_to_its_agent(session: Session) -> None:
    request = _book(session)
    [added] = _changes(session, request)
    assert added.kind is PlanChangeKind.ADDED and added.cause == planning.BOOKING
    assert (added.from_agent_id, added.from_arrival) == (None, None)
    assert (added.to_agent_id, added.to_arrival) == (request.agent_id, request.planned_arrival)
    assert added.day == DAY and added.district_id == request.district_id
    assert added.version == zone.current_version(session, request.district_id, DAY)
    assert added.notified == []


def test_a_dispatchers_move_records_the_visit_moved_between_agents(session: Session) -> None:
    request = _book(session)
    before_agent, before_arrival = request.agent_id, request.planned_arrival
    target = _other_agent(session, request)
    moved = planning_reassign.move_visit(
        session=session, request_id=request.id or 0, agent_id=target, actor="staff:asha"
    )
    last = _changes(session, request)[-1]
    assert last.kind is PlanChangeKind.MOVED and last.cause == planning_reassign.DISPATCHER
    assert last.actor == "staff:asha"
    assert (last.from_agent_id, last.from_arrival) == (before_agent, before_arrival)
    assert (last.to_agent_id, last.to_arrival) == (target, moved.planned_arrival)


def test_a_cancellation_records_the_visit_removed(session: Session) -> None:
    request = _book(session)
    agent_id, arrival = request.agent_id, request.planned_arrival
    planning.cancel(session=session, request_id=request.id or 0, actor="citizen", reason="x")
    kinds = [(c.kind, c.cause) for c in _changes(session, request)]
    assert kinds == [
        (PlanChangeKind.ADDED, planning.BOOKING),
        (PlanChangeKind.REMOVED, planning.CANCELLED),
    ]
    removed = _changes(session, request)[-1]
    assert (removed.from_agent_id, removed.from_arrival) == (agent_id, arrival)
    assert (removed.to_agent_id, removed.to_arrival) == (None, None)


def test_a_late_report_records_the_visit_the_agent_can_no_longer_make_dropped(
    session: Session,
) -> None:
    """The agent reports arriving at their first door after their second visit's window has
    closed: the re-timed plan leaves the second out, recorded with the report as its cause."""
    booked = [_book(session, "BGM") for _ in range(8)]
    by_agent: dict[int, list[DoorstepRequest]] = {}
    for r in booked:
        by_agent.setdefault(r.agent_id or 0, []).append(r)
    route = sorted(max(by_agent.values(), key=len), key=lambda r: r.planned_arrival or NOW)
    assert len(route) >= 2, "eight bookings in one district give some agent two visits"
    first, second = route[0], route[1]
    assert second.window_end is not None
    field.arrive(
        session=session,
        settings=S,
        idempotency_key="plan-changes:late",
        agent_id=first.agent_id or 0,
        request_id=first.id or 0,
        now=second.window_end + dt.timedelta(minutes=30),
    )
    session.refresh(second)
    assert second.at_risk
    dropped = _changes(session, second)[-1]
    assert dropped.kind is PlanChangeKind.DROPPED and dropped.cause == "report:arrived"
    assert dropped.from_agent_id == first.agent_id and dropped.to_agent_id is None
    assert dropped.actor == field.actor_of(first.agent_id or 0)


def _shifted(plan: Plan, visit: str, seconds: int) -> Plan:
    """`plan` with `visit`'s stop moved by `seconds` (its route otherwise unchanged)."""
    routes = tuple(
        dataclasses.replace(
            r,
            stops=tuple(
                dataclasses.replace(
                    s, arrival=s.arrival + seconds, start=s.start + seconds, departure=s.departure
                )
                if s.visit_id == visit
                else s
                for s in r.stops
            ),
        )
        for r in plan.routes
    )
    return Plan(routes, plan.unassigned)


def test_an_arrival_moved_by_less_than_the_retime_threshold_records_nothing(
    session: Session,
) -> None:
    request = _book(session)
    vid = zone.visit_id(request.id or 0)
    for minutes, recorded in ((changes.RETIME_MINUTES - 1, 1), (changes.RETIME_MINUTES, 2)):
        zd = zone.load(session, request.district_id, DAY)
        session.refresh(request)
        assert request.planned_arrival is not None
        # The loaded plan is re-timed from its stops: aim at the arrival the request has now.
        [stop] = [s for r in zd.plan.routes for s in r.stops if s.visit_id == vid]
        target = request.planned_arrival + dt.timedelta(minutes=minutes)
        store.save(
            session=session,
            district_id=zd.district_id,
            day=DAY,
            based_on=zd.version,
            plan=_shifted(zd.plan, vid, zd.clock.seconds(target) - stop.start),
            clock=zd.clock,
            requests=zd.requests,
            cause="test",
        )
        assert len(_changes(session, request)) == recorded, minutes
    retimed = _changes(session, request)[-1]
    assert retimed.kind is PlanChangeKind.RETIMED and retimed.cause == "test"
    assert retimed.from_agent_id == retimed.to_agent_id == request.agent_id
    assert retimed.from_arrival is not None and retimed.to_arrival is not None
    step = retimed.to_arrival - retimed.from_arrival
    assert step == dt.timedelta(minutes=changes.RETIME_MINUTES)


def test_notified_marks_each_who_once(session: Session) -> None:
    request = _book(session)
    rid = request.id or 0
    planning.cancel(session=session, request_id=rid, actor="citizen", reason="x")
    told = changes.notified(session=session, request_id=rid, who="citizen", how="sms", ref=7)
    assert told == 2  # the booking and the cancellation
    again = changes.notified(session=session, request_id=rid, who="citizen", how="sms", ref=8)
    assert again == 0
    console = changes.notified(
        session=session, request_id=rid, who="console", how="callback", ref=3, at=_at(8)
    )
    assert console == 2
    for change in _changes(session, request):
        assert [(n["who"], n["how"], n["id"]) for n in change.notified] == [
            ("citizen", "sms", 7),
            ("console", "callback", 3),
        ]
        assert change.notified[1]["at"] == _at(8).isoformat()


# --- the agents' side: their itinerary messages -----------------------------------------------


def _agent_sms(session: Session, message_id: int | None) -> OutboxMessage:
    assert message_id is not None
    message = session.get(OutboxMessage, message_id)
    assert message is not None
    return message


def _told(change: PlanChange) -> dict[str, int | None]:
    return {n["who"]: n["id"] for n in change.notified}


def test_each_agent_is_noted_on_the_changes_their_messages_told_them_of(
    session: Session,
) -> None:
    """The morning itinerary tells the first agent of the booking. They go on leave and the
    visit goes to a second agent: the first agent's change message (the visit is gone from
    their day) is noted on the changes that took it from them, the second's itinerary on the
    changes that gave it to them — and neither on a change that never touched them."""
    request = _book(session)
    rid, first = request.id or 0, request.agent_id or 0
    itinerary.send_day(session=session, settings=S, agent_id=first, on=DAY, now=_at(7, 30))
    [added] = _changes(session, request)
    morning = _told(added)[f"agent:{first}"]
    assert request.reference in _agent_sms(session, morning).body
    roster.put_on_leave(
        session=session,
        settings=S,
        idempotency_key="plan-changes:leave",
        actor="staff:admin",
        agent_id=first,
        first=DAY,
        last=None,
        reason="unwell",
        now=_at(7, 40),
    )
    session.refresh(request)
    second = request.agent_id
    assert second is not None and second != first, "another agent of the district took it"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=S.itinerary_settle_minutes)
    [to_first] = itinerary.send_changes(
        session=session, settings=S, agent_id=first, on=DAY, now=later
    )
    assert f"{request.reference} cancelled" in _agent_sms(session, to_first).body
    itinerary.send_day(session=session, settings=S, agent_id=second, on=DAY, now=later)
    noted = _changes(session, request)
    assert len(noted) >= 2 and all(c.cause == roster.ON_LEAVE for c in noted[1:])
    to_second = next(m for c in noted if (m := _told(c).get(f"agent:{second}")) is not None)
    assert request.reference in _agent_sms(session, to_second).body
    for change in noted:
        expected: dict[str, int | None] = {}
        if first in (change.from_agent_id, change.to_agent_id):
            expected[f"agent:{first}"] = morning if change is added else to_first
        if second in (change.from_agent_id, change.to_agent_id):
            expected[f"agent:{second}"] = to_second
        assert _told(change) == expected, change
    again = itinerary.told_agent(
        session=session, agent_id=second, request_id=rid, on=DAY, message_id=99, now=later
    )
    assert again == 0  # told once


def test_an_agents_message_is_noted_only_on_the_changes_of_its_own_day(
    session: Session,
) -> None:
    """A visit of the first agent's day is rescheduled to the next day and lands with the
    same agent: the message telling them it left the first day is noted on that day's
    changes only, and the next morning's itinerary on the next day's booking."""
    request = _book(session)
    rid, agent = request.id or 0, request.agent_id or 0
    itinerary.send_day(session=session, settings=S, agent_id=agent, on=DAY, now=_at(7, 30))
    planning.reschedule(session=session, request_id=rid, actor="citizen", reason="another day")
    address = citizen_service.last_address(session=session, citizen_id=request.citizen_id)
    assert address is not None and address.id is not None
    [offer, *_] = planning.offer_windows(
        session=session,
        settings=S,
        address_id=address.id,
        service_id=request.service_id,
        language="hi",
        now=_at(7, 40),
    )
    next_day = dataclasses.replace(
        offer,
        day=offer.day + dt.timedelta(days=1),
        start=offer.start + dt.timedelta(days=1),
        end=offer.end + dt.timedelta(days=1),
        agent_id=agent,
    )
    moved = planning.book(session=session, request_id=rid, offer=next_day, actor="citizen")
    assert moved.agent_id == agent, "the same agent has the visit the next day"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=S.itinerary_settle_minutes)
    [cancelled] = itinerary.send_changes(
        session=session, settings=S, agent_id=agent, on=DAY, now=later
    )
    assert f"{request.reference} cancelled" in _agent_sms(session, cancelled).body
    itinerary.send_day(session=session, settings=S, agent_id=agent, on=next_day.day, now=later)
    first_day = [c for c in _changes(session, request) if c.day == DAY]
    [booked_again] = [c for c in _changes(session, request) if c.day == next_day.day]
    assert [c.kind for c in first_day] == [PlanChangeKind.ADDED, PlanChangeKind.REMOVED]
    assert _told(first_day[1]) == {f"agent:{agent}": cancelled}
    morning = _told(booked_again)[f"agent:{agent}"]
    assert morning != cancelled
    assert request.reference in _agent_sms(session, morning).body
