"""A day that runs by itself, as issue #18's "done when" tells it, driven by the scheduled
tasks' own functions at their hours (the scheduler only calls them on a timer): bookings come
in by phone (signed webhooks) and through the console's intake; the day-before reminders go
out in the evening and tomorrow is planned at length; the morning itineraries go out; an agent
is put on leave and the dispatch loop re-plans the zone — each of their visits with another
agent or re-offered to its citizen (SMS, call-back) — the board follows and the agents hear of
it; a request past its legal time limit is escalated and marked for the state's appeal.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch import scheduled
from dispatch.agents.models import Agent
from dispatch.alerts import deadlines
from dispatch.alerts.models import Alert, AlertKind
from dispatch.calls.models import Callback, CallbackReason, CallSession
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import read_session, utcnow, write_session
from dispatch.fieldwork import tasks
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import board as planning_board
from dispatch.planning import service as planning
from dispatch.planning.models import PlanChange, ZonePlan
from dispatch.ports import SolveJob
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.staff.rules import Role
from dispatch.visits import roster
from dispatch.visits.replan import SolveStatus
from ivr.deps import get_clock
from tests import factories
from tests.conftest import build_app, unique_phone
from tests.console import signed_in
from tests.ivr.caller import heard, phone

IST = ZoneInfo("Asia/Kolkata")
#: The day of the visits: a Tuesday no other test books on.
DAY = dt.date(2033, 3, 8)


class MovableClock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at.astimezone(dt.UTC)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), IST)


def _kinds(engine: Engine, request_ids: list[int]) -> dict[int, list[str]]:
    with read_session(engine) as session:
        rows = session.exec(
            select(OutboxMessage.request_id, OutboxMessage.kind)
            .where(col(OutboxMessage.request_id).in_(request_ids))
            .order_by(col(OutboxMessage.id))
        ).all()
    out: dict[int, list[str]] = {r: [] for r in request_ids}
    for request_id, kind in rows:
        out[int(request_id or 0)].append(kind)
    return out


def _solve_all(engine: Engine, settings: Settings, jobs: list[SolveJob]) -> list[SolveStatus]:
    """What the solver processes would do with the jobs handed out (here, in turn)."""
    return [scheduled.run_solve_job(engine=engine, settings=settings, job=j).status for j in jobs]


def test_a_day_runs_by_itself(engine: Engine, settings: Settings) -> None:
    assert DAY.weekday() == 1
    planning.clear_cache()
    clock = MovableClock(_at(DAY - dt.timedelta(days=1), 16, 30))
    app = build_app(settings, engine)
    app.dependency_overrides[get_clock] = lambda: clock

    # The day before, 16:30 - a citizen books by phone (the earliest window is tomorrow's).
    call = phone(app, caller=unique_phone())
    call.dial()
    call.press("1")  # Hindi
    call.press("1")  # a new request
    call.press("2")  # income certificate
    call.press("192201")  # Achabal's PIN code: Anantnag
    call.press("1")  # Achabal
    call.say("सरकारी स्कूल के पास")
    call.press("1")  # book the earliest window
    assert "आपकी बुकिंग पक्की हो गई" in heard(call)
    with read_session(engine) as session:
        by_phone = session.exec(
            select(CallSession.request_id).where(CallSession.call_sid == call.call_sid)
        ).one()
    assert by_phone is not None

    # ... and a call agent books another caller through the console's intake.
    with write_session(engine) as session:
        person = factories.citizen(session, district_code="ANT")
        address = citizen_service.addresses(session=session, citizen_id=person.id or 0)[0]
        service = catalogue_service.get_by_code(
            session=session, state_code="JK", code="OLD_AGE_PENSION"
        )
    agent_console = signed_in(app, engine, Role.CALL_AGENT)
    form = {
        "key": agent_console.get("/intake").context["p"].form.key,  # type: ignore[attr-defined]
        "phone": person.phone,
        "language": "hi",
        "service_q": "old age pension",
        "suggested_for": "old age pension",
        "service_id": service.id,
        "address": str(address.id),
    }
    shown = agent_console.submit("/intake/windows", form).context["p"]  # type: ignore[attr-defined]
    booked = agent_console.submit(
        "/intake/book",
        {
            **form,
            "address": shown.form.address,
            "windows_for": shown.form.windows_for,
            "offer": shown.offers[0].value,
        },
    )
    assert booked.status_code == 200, booked.text
    by_console = booked.context["p"].result.request_id  # type: ignore[attr-defined]

    # More bookings through the same use case, so the district's day has a few agents busy.
    with write_session(engine) as session:
        others = [
            factories.booked_request(session, district_code="ANT", now=clock.at)[0].id or 0
            for _ in range(6)
        ]
    visits = [by_phone, by_console, *others]
    with read_session(engine) as session:
        rows = [session.get(DoorstepRequest, r) for r in visits]
    assert all(r is not None and r.window_start is not None for r in rows)
    district_id = rows[0].district_id  # type: ignore[union-attr]
    assert {r.district_id for r in rows if r} == {district_id}
    assert {r.window_start.astimezone(IST).date() for r in rows if r and r.window_start} == {DAY}

    # 18:05 - the day-before reminders go out, once.
    evening = _at(DAY - dt.timedelta(days=1), 18, 5)
    tasks.send_reminders(engine=engine, settings=settings, now=evening.astimezone(dt.UTC))
    tasks.send_reminders(engine=engine, settings=settings, now=evening.astimezone(dt.UTC))
    assert all(k.count("reminder") == 1 for k in _kinds(engine, visits).values())

    # 19:05 - tomorrow's plan is searched again at length, once.
    later = _at(DAY - dt.timedelta(days=1), 19, 5)
    jobs = [
        j
        for j in scheduled.plan_tomorrow(
            engine=engine, settings=settings, now=later, submit=lambda job: None
        )
        if j.district_id == district_id
    ]
    assert len(jobs) == 1 and jobs[0].evening
    quick = SolveJob(jobs[0].district_id, jobs[0].day, jobs[0].token, 0.5, evening=True)
    assert _solve_all(engine, settings, [quick]) == [SolveStatus.SAVED]
    with read_session(engine) as session:
        zone_plan = session.get(ZonePlan, (district_id, DAY))
        assert zone_plan is not None and zone_plan.planned_ahead_at is not None

    # 07:35 - each agent with visits gets their day.
    morning = _at(DAY, 7, 35)
    tasks.inform_agents(engine=engine, settings=settings, now=morning.astimezone(dt.UTC))
    with read_session(engine) as session:
        rows = [session.get(DoorstepRequest, r) for r in visits]
        busy = {r.agent_id for r in rows if r and r.agent_id}
        itineraries = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == "itinerary")
        ).all()
    for r in rows:
        assert r is not None
        assert any(r.reference in m.body for m in itineraries), r.reference

    # 08:00 - the busiest agent is off sick: their visits go to others or are re-offered.
    counts = {a: sum(1 for r in rows if r and r.agent_id == a) for a in busy}
    away = max(counts, key=lambda a: counts[a])
    theirs = [r.id or 0 for r in rows if r and r.agent_id == away]
    assert len(theirs) >= 2, counts
    clock.at = _at(DAY, 8, 0)
    with write_session(engine) as session:
        leave = roster.put_on_leave(
            session=session,
            settings=settings,
            idempotency_key=f"day:{uuid.uuid4().hex}",
            actor="staff:admin",
            agent_id=away,
            first=DAY,
            last=None,
            reason="sick",
            now=clock.now(),
        )
    assert {m.request_id for m in leave.moved} | {n.request_id for n in leave.new_time} == set(
        theirs
    )

    # The dispatch loop: once the changes settle, the zone is handed out and re-planned.
    settled = utcnow() + dt.timedelta(seconds=settings.replan_quiet_seconds + 1)
    handed: list[SolveJob] = []
    scheduled.hand_out_solves(engine=engine, settings=settings, now=settled, submit=handed.append)
    mine = [j for j in handed if (j.district_id, j.day) == (district_id, DAY)]
    assert len(mine) == 1
    assert _solve_all(engine, settings, mine) == [SolveStatus.SAVED]

    # The board follows: nobody's route is the absent agent's; every visit has an agent, or
    # a new time, a call-back and an SMS.
    with read_session(engine) as session:
        day_board = planning_board.board(
            session=session, district_id=district_id, day=DAY, timezone="Asia/Kolkata"
        )
        assert all(not route.stops for route in day_board.routes if route.agent.id == away)
        assert day_board.planned >= len(visits) - len(leave.new_time)
        for request_id in theirs:
            r = session.get(DoorstepRequest, request_id)
            assert r is not None and r.agent_id != away
            if r.window_start is not None and r.window_start.astimezone(IST).date() == DAY:
                assert r.status is RequestStatus.ASSIGNED
            else:
                callbacks = session.exec(
                    select(Callback).where(Callback.request_id == request_id)
                ).all()
                assert [c.reason for c in callbacks] == [CallbackReason.REOFFER]
                assert "reoffer" in _kinds(engine, [request_id])[request_id]
            causes = session.exec(
                select(PlanChange.cause).where(PlanChange.request_id == request_id)
            ).all()
            assert any(roster.ON_LEAVE in c for c in causes), causes

    # 08:05 - the agents hear of it: the absent one that their visits are gone.
    tasks.inform_agents(engine=engine, settings=settings, now=_at(DAY, 8, 5).astimezone(dt.UTC))
    with read_session(engine) as session:
        absent = session.get(Agent, away)
        assert absent is not None
        told = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.kind == "itinerary_changes", OutboxMessage.to == absent.phone
            )
        ).all()
    assert len(told) == 1 and all(r.reference in told[0].body for r in rows if r and r.id in theirs)

    # A request past its legal time limit is escalated and marked for the state's appeal.
    with write_session(engine) as session:
        old = factories.request(session, district_code="ANT")
        old.logged_at = _at(DAY - dt.timedelta(days=60), 10).astimezone(dt.UTC)
        old.due_date = DAY - dt.timedelta(days=30)
        session.add(old)
        old_id = old.id
    raised = deadlines.check_deadlines(
        engine=engine, settings=settings, now=_at(DAY, 8, 15).astimezone(dt.UTC)
    )
    with read_session(engine) as session:
        marked = session.get(DoorstepRequest, old_id)
        assert marked is not None and marked.appeal_marked_at is not None
        alerts = session.exec(select(Alert).where(Alert.request_id == old_id)).all()
        assert AlertKind.APPEAL in {a.kind for a in alerts}
        assert {a.id for a in alerts if a.kind is AlertKind.APPEAL} <= set(raised)
