"""Planning on a real database: offers the live plan can meet, bookings that go into the plan
at once, cancellations, and re-planning that keeps visits with their agents. Every plan is
re-checked with the independent checker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.agents import service as agent_service
from dispatch.audit import service as audit
from dispatch.db import write_session
from dispatch.ledger import service as ledger_service
from dispatch.planning import service as planning
from dispatch.planning import store, zone
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus as S
from routing.checker import check
from routing.plan import Result
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
MONDAY_MORNING = dt.datetime(2026, 11, 30, 7, 0, tzinfo=IST)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _offers(
    session: Session, request: DoorstepRequest, now: dt.datetime = MONDAY_MORNING
) -> list[planning.WindowOffer]:
    return factories.offers_for(session, request, now)


def _assert_clean(session: Session, district_id: int, day: dt.date) -> zone.ZoneDay:
    zd = zone.load(session, district_id, day)
    assert check(zd.problem, zd.plan, require_all_accounted=False) == []
    return zd


def test_offers_are_the_earliest_three_bookable_windows(session: Session) -> None:
    request = factories.request(session)
    offers = _offers(session, request)
    assert len(offers) == 3
    assert [o.start for o in offers] == sorted(o.start for o in offers)
    district_agents = {
        a.id for a in agent_service.in_district(session=session, district_id=request.district_id)
    }
    for o in offers:
        assert o.start >= MONDAY_MORNING + dt.timedelta(minutes=60)
        assert o.end - o.start == dt.timedelta(hours=2)
        assert o.start <= o.eta <= o.end
        assert o.agent_id in district_agents
        assert planning.WindowOffer.from_json(o.to_json()) == o
    # 07:00 on a Monday: the first window is that morning's 09:00-11:00.
    assert offers[0].start.astimezone(IST).hour == 9 and offers[0].day == MONDAY_MORNING.date()


def test_booking_puts_the_visit_into_the_plan_at_once(session: Session) -> None:
    request = factories.request(session)
    offer = _offers(session, request)[1]
    booked = planning.book(session=session, request_id=request.id or 0, offer=offer, actor="ivr")
    assert booked.status == S.ASSIGNED
    assert (booked.window_start, booked.window_end) == (offer.start, offer.end)
    assert booked.agent_id is not None and booked.planned_arrival is not None
    assert offer.start <= booked.planned_arrival <= offer.end
    stops = store.current_stops(session=session, district_id=offer.district_id, day=offer.day)
    assert [s.request_id for s in stops] == [request.id]
    trail = [
        e.to_status for e in request_service.events(session=session, request_id=request.id or 0)
    ]
    assert trail == [S.LOGGED, S.SCHEDULED, S.ASSIGNED]
    saved = audit.history(
        session=session, entity="plan", entity_id=f"{offer.district_id}/{offer.day}"
    )
    assert [(e.action, e.detail["version"], e.actor) for e in saved] == [("save", 1, "ivr")]
    _assert_clean(session, offer.district_id, offer.day)


def test_many_bookings_stay_feasible_and_windows_fill_up(session: Session) -> None:
    """Book the first offer again and again in one small district: every plan is feasible,
    and once a window is full it is no longer offered."""
    district = "SMB"
    first_offers: list[dt.datetime] = []
    for _ in range(30):
        request = factories.request(session, district_code=district)
        offers = _offers(session, request)
        if not offers:
            break
        first_offers.append(offers[0].start)
        planning.book(session=session, request_id=request.id or 0, offer=offers[0], actor="test")
    assert first_offers == sorted(first_offers)
    assert first_offers[-1] > first_offers[0], "the first window filled up and moved on"
    for day in {o.astimezone(IST).date() for o in first_offers}:
        zd = _assert_clean(session, request.district_id, day)
        assert zd.plan.assigned_count == sum(
            1 for o in first_offers if o.astimezone(IST).date() == day
        )


def test_a_window_taken_meanwhile_is_refused_and_nothing_changes(session: Session) -> None:
    request = factories.request(session, district_code="SMB")
    offer = _offers(session, request)[0]
    for agent in agent_service.in_district(session=session, district_id=request.district_id):
        agent_service.add_leave(session=session, agent_id=agent.id or 0, day=offer.day)
    with pytest.raises(planning.WindowTaken):
        planning.book(session=session, request_id=request.id or 0, offer=offer, actor="test")
    session.refresh(request)
    assert request.status == S.LOGGED and request.window_start is None


def test_cancel_takes_the_visit_out_and_waives_the_fee(session: Session) -> None:
    request = factories.request(session)
    offer = _offers(session, request)[0]
    planning.book(session=session, request_id=request.id or 0, offer=offer, actor="test")
    planning.cancel(
        session=session, request_id=request.id or 0, actor="citizen", reason="not needed"
    )
    assert store.current_stops(session=session, district_id=offer.district_id, day=offer.day) == []
    assert ledger_service.balance(session=session, request_id=request.id or 0).outstanding == 0
    # The freed window is offered again.
    again = factories.request(session)
    assert _offers(session, again)[0].start == offer.start


def test_reschedule_frees_the_window_and_books_anew(session: Session) -> None:
    request = factories.request(session)
    first = _offers(session, request)[0]
    planning.book(session=session, request_id=request.id or 0, offer=first, actor="test")
    planning.reschedule(session=session, request_id=request.id or 0, actor="citizen", reason="away")
    later = _offers(session, request)[2]
    booked = planning.book(session=session, request_id=request.id or 0, offer=later, actor="test")
    assert booked.status == S.ASSIGNED and booked.window_start == later.start


def test_replan_keeps_agents_and_refuses_a_stale_version(session: Session) -> None:
    district = "JMU"
    day = None
    booked: dict[int, int] = {}
    for _ in range(12):
        request = factories.request(session, district_code=district)
        offer = _offers(session, request)[0]
        day = offer.day
        done = planning.book(session=session, request_id=request.id or 0, offer=offer, actor="t")
        booked[done.id or 0] = done.agent_id or 0
    assert day is not None
    district_id = request.district_id
    before = zone.current_version(session, district_id, day)
    zd = planning.prepare_replan(session=session, district_id=district_id, day=day)
    result = planning.improve(zd, time_limit_s=0.5)
    outcome = planning.save_replan(session=session, zd=zd, result=result)
    assert outcome.version == before + 1
    zd = _assert_clean(session, district_id, day)
    assert zd.plan.assigned_count == len(booked)
    kept = sum(
        1
        for rid, agent in booked.items()
        if zd.plan.agent_of(zone.visit_id(rid)) == zone.agent_key(agent)
    )
    assert kept / len(booked) >= 0.9
    with pytest.raises(planning.PlanOutdated):
        store.save(
            session=session,
            district_id=district_id,
            day=day,
            based_on=before,
            plan=zd.plan,
            clock=zd.clock,
            requests=zd.requests,
        )


def test_a_language_is_required_only_if_an_agent_of_the_zone_speaks_it(session: Session) -> None:
    """Kashmiri callers in Srinagar get a Kashmiri speaker; a language nobody speaks is relaxed."""
    district_id = factories.request(session, district_code="SXR").district_id
    zd = zone.load(session, district_id, MONDAY_MORNING.date())
    assert any("ks" in a.languages for a in zd.problem.agents)
    assert zone.visit_language("ks", zd.problem.agents) == "ks"
    assert zone.visit_language("zz", zd.problem.agents) is None


def test_the_plan_a_booking_leaves_in_the_cache_is_the_plan_in_the_database(engine: Engine) -> None:
    """After a booking, the next caller is answered from the grown plan the booking cached;
    those answers equal what a fresh load from the database gives."""
    now = dt.datetime(2026, 12, 10, 7, 0, tzinfo=IST)
    for _ in range(3):
        with write_session(engine) as s:
            factories.booked_request(s, district_code="GBL", now=now)
    with write_session(engine) as s:
        probe = factories.request(s, district_code="GBL")
        cached = factories.offers_for(s, probe, now)
        planning.clear_cache()
        fresh = factories.offers_for(s, probe, now)
        assert [(o.start, o.agent_id, o.eta) for o in cached] == [
            (o.start, o.agent_id, o.eta) for o in fresh
        ]
        booked = planning.book(session=s, request_id=probe.id or 0, offer=cached[0], actor="t")
        assert booked.status == S.ASSIGNED


def test_a_replan_holds_no_write_lock_while_it_searches(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer (a caller booking into the same zone-day) gets the lock and commits while
    a re-plan is still searching; the re-plan then finds its plan outdated and saves nothing.
    (The search is lengthened by a sleep: a real one holds the GIL, which is why re-plans run
    in a process of their own, and would starve this test's other thread.)"""
    import threading
    import time

    real_improve = planning.improve

    def slow_improve(zd: zone.ZoneDay, **kwargs: Any) -> Result:
        time.sleep(1.5)
        return real_improve(zd, **{**kwargs, "time_limit_s": 0.2})

    monkeypatch.setattr(planning, "improve", slow_improve)
    now = dt.datetime(2026, 12, 14, 7, 0, tzinfo=IST)
    with write_session(engine) as s:
        booked, offer = factories.booked_request(s, district_code="UDH", now=now)
    outcome: list[object] = []
    ended: list[float] = []

    def replan() -> None:
        try:
            outcome.append(
                planning.replan(
                    engine=engine, district_id=booked.district_id, day=offer.day, time_limit_s=2.0
                )
            )
        except planning.PlanOutdated as exc:
            outcome.append(exc)
        ended.append(time.monotonic())

    searching = threading.Thread(target=replan)
    searching.start()
    time.sleep(0.5)  # well inside the search
    with write_session(engine, wait_s=0.5) as s:  # a held lock would fail this, not delay it
        factories.booked_request(s, district_code="UDH", now=now)
    committed = time.monotonic()
    searching.join(timeout=30)
    assert ended and committed < ended[0]  # committed while the re-plan was still at work
    assert len(outcome) == 1 and isinstance(outcome[0], planning.PlanOutdated)
