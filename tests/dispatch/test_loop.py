"""The dispatch loop: a burst of changes makes one re-plan once settled, a zone-day is solved
under a lease, a solve that lost its lease or its plan version never saves over another, and
a visit no agent can make is re-offered."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch import scheduled
from dispatch.calls.models import Callback, CallbackReason
from dispatch.config import Settings
from dispatch.db import read_session, utcnow, write_session
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import loop, zone
from dispatch.planning import service as planning
from dispatch.planning.models import PlanChange, PlanChangeKind, PlanStop, ZonePlan, ZoneSolveStat
from dispatch.ports import SolveJob
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.visits import replan
from dispatch.visits.replan import SolveStatus
from routing.checker import check
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
TIMING = loop.Timing(quiet_s=5, most_wait_s=30, lease_s=60, max_attempts=3)
SETTINGS = Settings(
    database_url="sqlite://",
    scheduler=False,
    replan_seconds=0.3,
    replan_quiet_seconds=5,
    replan_most_wait_seconds=30,
    solve_lease_seconds=60,
    solve_attempts=3,
)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _book(engine: Engine, now: dt.datetime, count: int, district: str = "UDH") -> list[int]:
    ids = []
    with write_session(engine) as s:
        for _ in range(count):
            r, _offer = factories.booked_request(s, district_code=district, now=now)
            assert r.id is not None
            ids.append(r.id)
    return ids


def _zone(engine: Engine, request_id: int) -> tuple[int, dt.date]:
    with read_session(engine) as s:
        r = s.get(DoorstepRequest, request_id)
        assert r is not None and r.window_start is not None
        return r.district_id, r.window_start.astimezone(IST).date()


def _row(engine: Engine, district_id: int, day: dt.date) -> ZonePlan:
    with read_session(engine) as s:
        row = s.get(ZonePlan, (district_id, day))
        assert row is not None
        return row


def test_a_burst_of_bookings_is_due_once_it_settles_or_has_waited_long_enough(
    engine: Engine,
) -> None:
    now = dt.datetime(2027, 1, 5, 7, 0, tzinfo=IST)  # a Tuesday
    ids = _book(engine, now, 4)
    zd = _zone(engine, ids[0])
    row = _row(engine, *zd)
    assert row.pending_since is not None and row.version > row.improved_version
    assert row.pending_since <= row.updated_at
    today = zd[1]

    def due(at: dt.datetime) -> bool:
        with read_session(engine) as s:
            return zd in loop.due(session=s, now=at, today=today, timing=TIMING)

    assert not due(row.updated_at + dt.timedelta(seconds=1))  # still changing
    assert due(row.updated_at + dt.timedelta(seconds=TIMING.quiet_s))  # settled
    # However busy the zone, a change waits no longer than the longest wait.
    with write_session(engine) as s:
        s.execute(
            sa.update(ZonePlan)
            .where(col(ZonePlan.district_id) == zd[0], col(ZonePlan.day) == zd[1])
            .values(pending_since=row.updated_at - dt.timedelta(seconds=TIMING.most_wait_s))
        )
    assert due(row.updated_at + dt.timedelta(seconds=1))


def test_a_claim_is_exclusive_until_its_lease_lapses_and_attempts_are_counted(
    engine: Engine,
) -> None:
    now = dt.datetime(2027, 1, 6, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 2)[0])
    at = utcnow() + dt.timedelta(seconds=TIMING.quiet_s)
    with write_session(engine) as s:
        first = loop.claim(session=s, district_id=zd[0], day=zd[1], now=at, timing=TIMING)
        second = loop.claim(session=s, district_id=zd[0], day=zd[1], now=at, timing=TIMING)
        assert first is not None and second is None
        assert loop.begin(session=s, claim=first, now=at)  # a solver began, then died
    with read_session(engine) as s:
        assert zd not in loop.due(session=s, now=at, today=zd[1], timing=TIMING)
        assert loop.holds(session=s, claim=first)
    later = at + dt.timedelta(seconds=TIMING.lease_s + 1)  # the lease lapsed
    with write_session(engine) as s:
        assert zd in loop.due(session=s, now=later, today=zd[1], timing=TIMING)
        third = loop.claim(session=s, district_id=zd[0], day=zd[1], now=later, timing=TIMING)
        assert third is not None and not loop.holds(session=s, claim=first)
        assert loop.begin(session=s, claim=third, now=later)
    assert _row(engine, *zd).solve_attempts == 2  # solves begun, not hand-outs
    # A zone-day whose solves keep dying is left alone after its last attempt...
    latest = later + dt.timedelta(seconds=TIMING.lease_s + 1)
    with write_session(engine) as s:
        last = loop.claim(session=s, district_id=zd[0], day=zd[1], now=latest, timing=TIMING)
        assert last is not None and loop.begin(session=s, claim=last, now=latest)
    gone = latest + dt.timedelta(seconds=TIMING.lease_s + 1)
    with read_session(engine) as s:
        assert zd not in loop.due(session=s, now=gone, today=zd[1], timing=TIMING)
    # ... until its next change, which starts the count again.
    _book(engine, now, 1)
    assert _row(engine, *zd).solve_attempts == 0
    with read_session(engine) as s:
        assert zd in loop.due(session=s, now=gone, today=zd[1], timing=TIMING)


def test_a_change_plans_must_respect_makes_an_improved_zone_day_due_again(
    engine: Engine,
) -> None:
    """A shift or skill changed, a priority raised: no new stops, but a re-plan is owed."""
    from dispatch.planning import reassign as planning_reassign

    now = dt.datetime(2027, 1, 19, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 2)[0])
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert claim is not None
    assert replan.solve_zone(engine=engine, settings=SETTINGS, claim=claim, now=now).status is (
        SolveStatus.SAVED
    )
    with write_session(engine) as s:
        planning_reassign.mark_for_replan(session=s, district_id=zd[0], day=zd[1])
    row = _row(engine, *zd)
    assert row.pending_since is not None and row.improved_version < row.version
    with read_session(engine) as s:
        later = row.updated_at + dt.timedelta(seconds=TIMING.quiet_s)
        assert zd in loop.due(session=s, now=later, today=zd[1], timing=TIMING)


def test_a_claimed_zone_day_is_improved_saved_and_no_longer_pending(engine: Engine) -> None:
    now = dt.datetime(2027, 1, 7, 7, 0, tzinfo=IST)
    ids = _book(engine, now, 6)
    zd = _zone(engine, ids[0])
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert claim is not None
    outcome = replan.solve_zone(engine=engine, settings=SETTINGS, claim=claim, now=now)
    assert outcome.status is SolveStatus.SAVED and outcome.assigned >= 6
    assert outcome.searches == 1 and outcome.reoffered == []
    row = _row(engine, *zd)
    assert row.version == row.improved_version == outcome.version
    assert row.pending_since is None and row.solve_token is None and row.solve_attempts == 0
    with read_session(engine) as s:
        plan = zone.load(s, *zd)
        assert check(plan.problem, plan.plan, require_all_accounted=False) == []
        changes = s.exec(
            select(PlanChange).where(
                col(PlanChange.request_id).in_(ids), PlanChange.cause == planning.BOOKING
            )
        ).all()
        # Each booking added its visit (and may have moved or re-timed the ones before it).
        added = [c.request_id for c in changes if c.kind is PlanChangeKind.ADDED]
        assert sorted(added) == sorted(ids)


def test_a_booking_during_the_search_makes_it_search_again_from_the_new_plan(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2027, 1, 8, 7, 0, tzinfo=IST)
    ids = _book(engine, now, 3)
    zd = _zone(engine, ids[0])
    improve = planning.improve
    landed: list[int] = []

    def booking_lands_meanwhile(*args: object, **kwargs: object) -> object:
        result = improve(*args, **kwargs)  # type: ignore[arg-type]
        if not landed:
            landed.extend(_book(engine, now, 1))
        return result

    monkeypatch.setattr(replan.planning, "improve", booking_lands_meanwhile)
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert claim is not None
    outcome = replan.solve_zone(engine=engine, settings=SETTINGS, claim=claim, now=now)
    assert landed and _zone(engine, landed[0]) == zd
    assert outcome.status is SolveStatus.SAVED and outcome.searches == 2
    with read_session(engine) as s:
        stops = s.exec(
            select(PlanStop.request_id).where(
                PlanStop.district_id == zd[0],
                PlanStop.day == zd[1],
                PlanStop.version == outcome.version,
            )
        ).all()
    assert set(ids + landed) <= set(stops)  # the booking made meanwhile is in the saved plan
    assert len(stops) == len(set(stops))  # and nothing twice


def test_a_solver_whose_lease_was_handed_to_another_saves_nothing(engine: Engine) -> None:
    now = dt.datetime(2027, 1, 11, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 3)[0])
    at = utcnow()
    with write_session(engine) as s:
        stale = loop.claim(session=s, district_id=zd[0], day=zd[1], now=at, timing=TIMING)
        later = at - dt.timedelta(seconds=0)  # the same moment, seen after the lease lapsed
        s.execute(
            sa.update(ZonePlan)
            .where(col(ZonePlan.district_id) == zd[0], col(ZonePlan.day) == zd[1])
            .values(solve_claimed_at=at - dt.timedelta(seconds=TIMING.lease_s + 1))
        )
        fresh = loop.claim(session=s, district_id=zd[0], day=zd[1], now=later, timing=TIMING)
    assert stale is not None and fresh is not None
    version = _row(engine, *zd).version
    lost = replan.solve_zone(engine=engine, settings=SETTINGS, claim=stale, now=now)
    assert lost.status is SolveStatus.LOST
    row = _row(engine, *zd)
    assert row.version == version and row.solve_token == fresh.token  # untouched
    saved = replan.solve_zone(engine=engine, settings=SETTINGS, claim=fresh, now=now)
    assert saved.status is SolveStatus.SAVED


def test_a_visit_no_agent_can_make_is_re_offered_with_an_sms_and_a_call_back(
    engine: Engine,
) -> None:
    now = dt.datetime(2027, 1, 12, 7, 0, tzinfo=IST)
    ids = _book(engine, now, 3)
    zd = _zone(engine, ids[0])
    doomed = ids[0]
    with write_session(engine) as s:
        # Its window is now before any agent's shift begins: nobody can make it.
        r = s.get(DoorstepRequest, doomed)
        assert r is not None and r.window_start is not None
        early = dt.datetime.combine(zd[1], dt.time(5, 0), IST).astimezone(dt.UTC)
        r.window_start, r.window_end = early, early + dt.timedelta(minutes=30)
        s.add(r)
        planning.follow_progress(session=s, district_id=zd[0], day=zd[1], actor="test")
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert claim is not None
    outcome = replan.solve_zone(engine=engine, settings=SETTINGS, claim=claim, now=now)
    assert outcome.status is SolveStatus.SAVED and outcome.reoffered == [doomed]
    with read_session(engine) as s:
        r = s.get(DoorstepRequest, doomed)
        assert r is not None and r.status is RequestStatus.ASSIGNED
        assert r.window_start is not None and r.window_start > early
        sms = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.request_id == doomed, OutboxMessage.kind == "reoffer"
            )
        ).all()
        assert len(sms) == 1 and r.reference in sms[0].body
        callbacks = s.exec(select(Callback).where(Callback.request_id == doomed)).all()
        assert [c.reason for c in callbacks] == [CallbackReason.REOFFER]
        [change] = s.exec(
            select(PlanChange).where(
                PlanChange.request_id == doomed, PlanChange.kind == PlanChangeKind.REOFFERED
            )
        ).all()
        told = {(n["who"], n["how"], n["id"]) for n in change.notified}
        assert told == {("citizen", "sms", sms[0].id), ("console", "callback", callbacks[0].id)}
        assert change.to_arrival == r.planned_arrival
    # Solved again (the re-offer changed the plan): nothing is re-offered twice.
    with write_session(engine) as s:
        again = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert again is not None
    assert replan.solve_zone(engine=engine, settings=SETTINGS, claim=again, now=now).reoffered == []


def test_hand_out_claims_settled_zone_days_and_releases_what_no_solver_took(
    engine: Engine,
) -> None:
    now = dt.datetime(2027, 1, 13, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 2)[0])
    later = utcnow() + dt.timedelta(seconds=SETTINGS.replan_quiet_seconds + 1)

    def refuse(job: SolveJob) -> None:
        raise ConnectionError("broker down")

    assert [
        (j.district_id, j.day)
        for j in scheduled.hand_out_solves(
            engine=engine, settings=SETTINGS, now=later, submit=refuse
        )
    ] == []
    row = _row(engine, *zd)
    assert row.solve_token is None  # released: handed out again next time
    assert row.solve_attempts == 0  # and a broker outage uses up no attempts
    taken: list[SolveJob] = []
    scheduled.hand_out_solves(engine=engine, settings=SETTINGS, now=later, submit=taken.append)
    mine = [j for j in taken if (j.district_id, j.day) == zd]
    assert len(mine) == 1 and mine[0].token == _row(engine, *zd).solve_token
    again: list[SolveJob] = []
    scheduled.hand_out_solves(engine=engine, settings=SETTINGS, now=later, submit=again.append)
    assert zd not in [(j.district_id, j.day) for j in again]  # held by the first
    outcome = scheduled.run_solve_job(engine=engine, settings=SETTINGS, job=mine[0])
    assert outcome.status is SolveStatus.SAVED
    assert SolveJob.from_json(mine[0].to_json()) == mine[0]


def test_the_evening_plans_tomorrow_once(engine: Engine) -> None:
    now = dt.datetime(2027, 1, 14, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 2)[0])
    evening = dt.datetime.combine(zd[1] - dt.timedelta(days=1), dt.time(19, 5), IST)
    taken: list[SolveJob] = []
    scheduled.plan_tomorrow(engine=engine, settings=SETTINGS, now=evening, submit=taken.append)
    mine = [j for j in taken if (j.district_id, j.day) == zd]
    assert len(mine) == 1 and mine[0].evening
    assert mine[0].time_limit_s == SETTINGS.evening_plan_seconds
    job = SolveJob(zd[0], zd[1], mine[0].token, 0.3, evening=True)
    assert scheduled.run_solve_job(engine=engine, settings=SETTINGS, job=job).status is (
        SolveStatus.SAVED
    )
    assert _row(engine, *zd).planned_ahead_at is not None
    again: list[SolveJob] = []
    scheduled.plan_tomorrow(
        engine=engine,
        settings=SETTINGS,
        now=evening + dt.timedelta(minutes=5),
        submit=again.append,
    )
    assert zd not in [(j.district_id, j.day) for j in again]
    before: list[SolveJob] = []
    scheduled.plan_tomorrow(
        engine=engine,
        settings=SETTINGS,
        now=evening - dt.timedelta(hours=2),
        submit=before.append,
    )
    assert zd not in [(j.district_id, j.day) for j in before]


def test_a_re_offer_lets_go_of_the_dispatchers_choice_and_says_why_at_every_step(
    session: Session,
) -> None:
    from dispatch.planning import reassign as planning_reassign
    from dispatch.visits import reoffer

    now = dt.datetime(2027, 1, 15, 7, 0, tzinfo=IST)
    request, _offer = factories.booked_request(session, district_code="UDH", now=now)
    session.refresh(request)
    assert request.id is not None and request.agent_id is not None
    planning_reassign.keep_with(
        session=session, request_id=request.id, agent_id=request.agent_id, actor="staff:d"
    )
    # Its window can no longer be met: the plan leaves it out (agent let go, choice kept).
    day = now.date()
    early = dt.datetime.combine(day, dt.time(5, 0), IST).astimezone(dt.UTC)
    request.window_start, request.window_end = early, early + dt.timedelta(minutes=30)
    session.add(request)
    planning.follow_progress(session=session, district_id=request.district_id, day=day, actor="t")
    session.refresh(request)
    assert request.agent_id is None and request.pinned_agent_id is not None
    promised = request.window_start
    done = reoffer.reoffer(
        session=session,
        settings=SETTINGS,
        request_id=request.id,
        cause="agent on leave",
        actor="test",
        now=now,
    )
    after = session.get(DoorstepRequest, request.id)
    assert after is not None and after.pinned_agent_id is None  # chosen for the window left
    assert done.window_start == after.window_start != promised
    changes = session.exec(
        select(PlanChange).where(PlanChange.request_id == request.id).order_by(col(PlanChange.id))
    ).all()
    steps = [
        (c.kind, c.cause)
        for c in changes
        if c.cause.startswith("reoffer") or c.cause == "agent on leave"
    ]
    assert steps == [
        (PlanChangeKind.REMOVED, "reoffer:agent on leave"),
        (PlanChangeKind.ADDED, "reoffer:agent on leave"),
        (PlanChangeKind.REOFFERED, "agent on leave"),
    ]


def test_the_lease_runs_from_when_the_solver_begins_not_from_the_hand_out(engine: Engine) -> None:
    """A job that waited in a queue still gets its whole lease to solve."""
    now = dt.datetime(2027, 1, 18, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 2)[0])
    handed = utcnow()
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=handed, timing=TIMING)
    assert claim is not None
    began = handed + dt.timedelta(seconds=TIMING.lease_s - 5)  # it waited in the queue
    with write_session(engine) as s:
        assert loop.begin(session=s, claim=claim, now=began)
    soon_after = handed + dt.timedelta(seconds=TIMING.lease_s + 5)
    with read_session(engine) as s:
        assert zd not in loop.due(session=s, now=soon_after, today=zd[1], timing=TIMING)
    lapsed = began + dt.timedelta(seconds=TIMING.lease_s + 1)
    with write_session(engine) as s:
        other = loop.claim(session=s, district_id=zd[0], day=zd[1], now=lapsed, timing=TIMING)
        assert other is not None
        assert not loop.begin(session=s, claim=claim, now=lapsed)  # too late: another's now


def test_a_visit_placed_again_meanwhile_is_not_re_offered(session: Session) -> None:
    """Between the solve that left it out and its re-offer, a dispatcher or a newer plan gave
    the visit an agent: its promise can be kept, and nobody is told otherwise."""
    from dispatch.visits import reoffer

    now = dt.datetime(2027, 1, 20, 7, 0, tzinfo=IST)
    request, _offer = factories.booked_request(session, district_code="UDH", now=now)
    session.refresh(request)
    assert request.id is not None and request.agent_id is not None
    window = request.window_start
    done = reoffer.reoffer(
        session=session, settings=SETTINGS, request_id=request.id, cause="x", actor="t", now=now
    )
    assert (done.message_id, done.callback_id) == (None, None)
    session.refresh(request)
    assert request.window_start == window and request.status is RequestStatus.ASSIGNED


def test_re_offers_owed_keep_the_zone_day_pending_until_they_are_made(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-offer that fails (or a solver that dies after its save) is made by the next solve."""
    now = dt.datetime(2027, 1, 21, 7, 0, tzinfo=IST)
    ids = _book(engine, now, 2)
    zd = _zone(engine, ids[0])
    with write_session(engine) as s:
        r = s.get(DoorstepRequest, ids[0])
        assert r is not None
        early = dt.datetime.combine(zd[1], dt.time(5, 0), IST).astimezone(dt.UTC)
        r.window_start, r.window_end = early, early + dt.timedelta(minutes=30)
        s.add(r)
        planning.follow_progress(session=s, district_id=zd[0], day=zd[1], actor="test")

    def broken(**kwargs: object) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(replan.reoffer, "reoffer", broken)
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert claim is not None
    first = replan.solve_zone(engine=engine, settings=SETTINGS, claim=claim, now=now)
    assert first.status is SolveStatus.SAVED and first.reoffered == []
    row = _row(engine, *zd)
    assert row.pending_since is not None and row.improved_version < row.version
    monkeypatch.undo()
    with write_session(engine) as s:
        again = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert again is not None
    second = replan.solve_zone(engine=engine, settings=SETTINGS, claim=again, now=now)
    assert second.reoffered == [ids[0]]
    with read_session(engine) as s:
        [change] = s.exec(
            select(PlanChange).where(
                PlanChange.request_id == ids[0], PlanChange.kind == PlanChangeKind.REOFFERED
            )
        ).all()
        assert change.from_arrival != change.to_arrival and change.to_arrival is not None


def test_an_evening_hand_out_no_solver_took_is_not_marked_done(engine: Engine) -> None:
    now = dt.datetime(2027, 1, 22, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 1)[0])
    evening = dt.datetime.combine(zd[1] - dt.timedelta(days=1), dt.time(19, 5), IST)

    def refuse(job: SolveJob) -> None:
        raise ConnectionError("broker down")

    scheduled.plan_tomorrow(engine=engine, settings=SETTINGS, now=evening, submit=refuse)
    assert _row(engine, *zd).planned_ahead_at is None
    taken: list[SolveJob] = []
    later = evening + dt.timedelta(minutes=5)
    scheduled.plan_tomorrow(engine=engine, settings=SETTINGS, now=later, submit=taken.append)
    assert zd in [(j.district_id, j.day) for j in taken]


def test_settling_an_empty_zone_day_needs_its_version_and_the_lease(engine: Engine) -> None:
    now = dt.datetime(2027, 1, 25, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 1)[0])
    version = _row(engine, *zd).version
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
        assert claim is not None
        stranger = loop.Claim(zd[0], zd[1], "not-the-lease")
        assert not loop.settle(session=s, claim=stranger, version=version)
        assert not loop.settle(session=s, claim=claim, version=version - 1)  # a booking came
        assert loop.settle(session=s, claim=claim, version=version)
    row = _row(engine, *zd)
    assert row.improved_version == row.version and row.pending_since is None


# --- every solve counted where it settles (the metrics read these: `web.metrics`) -------------


def _solves(engine: Engine) -> dict[str, tuple[int, float]]:
    """Solves and their seconds by how they ended, summed over the duration buckets."""
    with read_session(engine) as s:
        rows = s.exec(select(ZoneSolveStat)).all()
    out: dict[str, tuple[int, float]] = {}
    for r in rows:
        n, sec = out.get(r.status, (0, 0.0))
        out[r.status] = (n + r.solves, sec + r.seconds)
    return out


def _grew(before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]) -> dict[
    str, tuple[int, float]
]:  # fmt: skip
    """What each status gained, the statuses that gained nothing left out."""
    grown = {}
    for status, (n, sec) in after.items():
        n0, sec0 = before.get(status, (0, 0.0))
        if n != n0:
            grown[status] = (n - n0, sec - sec0)
    return grown


def test_a_solve_falls_in_the_smallest_bucket_that_holds_it() -> None:
    assert loop.bucket_ms(0.0) == loop.bucket_ms(0.25) == 250
    assert loop.bucket_ms(0.2501) == 500
    assert loop.bucket_ms(loop.SOLVE_BUCKETS_S[-1]) == round(loop.SOLVE_BUCKETS_S[-1] * 1000)
    assert loop.bucket_ms(loop.SOLVE_BUCKETS_S[-1] + 0.001) == loop.OVER_MS
    assert SolveStatus.FAILED == loop.FAILED  # one word for a failure, wherever it is counted


def test_every_solve_is_counted_once_where_it_settles(engine: Engine) -> None:
    """A lease left to lapse is counted by the claim that takes the zone-day over (for as long
    as it was held), the stale solver's run as lost, the fresh one as saved with its wall time,
    and a zone-day with nothing left to plan as empty."""
    now = dt.datetime(2027, 2, 1, 7, 0, tzinfo=IST)
    ids = _book(engine, now, 2)
    zd = _zone(engine, ids[0])
    at = utcnow()
    held = TIMING.lease_s + 7
    with write_session(engine) as s:
        stale = loop.claim(session=s, district_id=zd[0], day=zd[1], now=at, timing=TIMING)
        assert stale is not None and loop.begin(session=s, claim=stale, now=at)
    before = _solves(engine)
    later = at + dt.timedelta(seconds=held)
    with write_session(engine) as s:
        fresh = loop.claim(session=s, district_id=zd[0], day=zd[1], now=later, timing=TIMING)
    assert fresh is not None
    assert _grew(before, _solves(engine)) == {loop.LAPSED: (1, pytest.approx(held))}

    before = _solves(engine)
    lost = scheduled.run_solve_job(
        engine=engine, settings=SETTINGS, job=SolveJob(zd[0], zd[1], stale.token, 0.3)
    )
    assert lost.status is SolveStatus.LOST
    assert _grew(before, _solves(engine)) == {"lost": (1, 0.0)}

    before = _solves(engine)
    saved = scheduled.run_solve_job(
        engine=engine, settings=SETTINGS, job=SolveJob(zd[0], zd[1], fresh.token, 0.3)
    )
    assert saved.status is SolveStatus.SAVED
    assert 0 < saved.wall_s <= saved.elapsed_s
    assert _grew(before, _solves(engine)) == {"saved": (1, pytest.approx(saved.elapsed_s))}

    with write_session(engine) as s:
        for request_id in ids:
            planning.cancel(session=s, request_id=request_id, actor="test", reason="test")
        emptied = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert emptied is not None
    before = _solves(engine)
    empty = replan.solve_zone(engine=engine, settings=SETTINGS, claim=emptied, now=now)
    assert empty.status is SolveStatus.EMPTY and _row(engine, *zd).solve_token is None
    assert _grew(before, _solves(engine)) == {"empty": (1, pytest.approx(empty.elapsed_s))}


def test_a_solve_that_raised_counts_as_failed_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2027, 2, 2, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 2)[0])

    def broken(*args: object, **kwargs: object) -> object:
        raise MemoryError("the search ran out of memory")

    monkeypatch.setattr(replan.planning, "improve", broken)
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert claim is not None
    before = _solves(engine)
    failed = replan.solve_zone(engine=engine, settings=SETTINGS, claim=claim, now=now)
    assert failed.status is SolveStatus.FAILED and _row(engine, *zd).solve_token is None
    assert _grew(before, _solves(engine)) == {"failed": (1, pytest.approx(failed.elapsed_s))}
    with write_session(engine) as s:  # given back already: failing it again counts nothing
        assert not loop.fail(session=s, claim=claim, reason="again", now=utcnow())
    assert _grew(before, _solves(engine)) == {"failed": (1, pytest.approx(failed.elapsed_s))}


def test_two_first_solves_of_a_kind_are_both_counted(engine: Engine) -> None:
    """The first solve of an outcome and bucket makes its row; another writing the same row's
    first at the same time adds to it instead (PostgreSQL: its insert waits, then conflicts)."""
    status = f"test-{uuid.uuid4().hex[:8]}"
    done = threading.Event()

    def second() -> None:
        with write_session(engine) as s:
            loop.record_solve(session=s, status=status, seconds=0.1)
        done.set()

    with write_session(engine) as s:
        loop.record_solve(session=s, status=status, seconds=0.2)
        other = threading.Thread(target=second)
        other.start()
        assert not done.wait(0.3)  # it waits for this transaction's row
    other.join(10)
    assert done.is_set()
    with read_session(engine) as s:
        [row] = s.exec(select(ZoneSolveStat).where(ZoneSolveStat.status == status)).all()
    assert (row.le_ms, row.solves, row.seconds) == (250, 2, pytest.approx(0.3))


def test_a_solve_outrun_by_bookings_counts_as_outdated(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A booking lands during every search: the solve gives the zone-day back, counted once as
    outdated with the time of its three searches and more."""
    now = dt.datetime(2027, 2, 3, 7, 0, tzinfo=IST)
    zd = _zone(engine, _book(engine, now, 2)[0])
    improve = planning.improve

    def booking_lands_every_time(*args: object, **kwargs: object) -> object:
        result = improve(*args, **kwargs)  # type: ignore[arg-type]
        _book(engine, now, 1)
        return result

    monkeypatch.setattr(replan.planning, "improve", booking_lands_every_time)
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=utcnow(), timing=TIMING)
    assert claim is not None
    before = _solves(engine)
    outdated = replan.solve_zone(engine=engine, settings=SETTINGS, claim=claim, now=now)
    assert outdated.status is SolveStatus.OUTDATED and outdated.searches == replan.SEARCHES
    assert 0 < outdated.wall_s <= outdated.elapsed_s and _row(engine, *zd).solve_token is None
    assert _grew(before, _solves(engine)) == {"outdated": (1, pytest.approx(outdated.elapsed_s))}
