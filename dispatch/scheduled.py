"""Scheduled tasks as plain functions: no scheduler import here (see `web.worker`).

Each takes an engine and plain values, works one unit at a time in its own session, logs a
failed unit and carries on with the next, and can run twice without harm. Here: the
dispatchers' queued re-plan runs, the outbox sender, forgetting old IVR answers, and the
dispatch loop's two tasks — handing settled zone-days to the solvers (`hand_out_solves`) and
the evening's plan of tomorrow (`plan_tomorrow`) — with what a solver runs for a job
(`run_solve_job`). Field work's tasks are in `dispatch.fieldwork.tasks`, the alerts' in
`dispatch.alerts`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch.calls import service as call_service
from dispatch.clock import time_of_day
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.geography.models import District
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus
from dispatch.planning import loop
from dispatch.planning import runs as replan_runs
from dispatch.planning.models import ReplanRun, ZonePlan
from dispatch.ports import SmsSender, SolveJob
from dispatch.states.models import State
from dispatch.visits import replan

log = logging.getLogger(__name__)


def run_replans(
    *,
    engine: Engine,
    solver_engine: str = "sisr",
    most: int = 5,
    only: Collection[int] | None = None,
) -> list[ReplanRun]:
    """Run the dispatchers' queued re-plans (`dispatch.planning.runs`), oldest first: each is
    claimed conditionally (another worker's claim wins), then run to done or failed. Runs a
    stopped worker left "running" are failed first. `only` limits the pass to those runs."""
    # Every few seconds: read first, and take the write lock only when there is work.
    with read_session(engine) as session:
        stale = replan_runs.stale(session=session)
        ids = replan_runs.queued(session=session, most=most, only=only)
    if stale:
        with write_session(engine) as session:
            for run_id in replan_runs.abandon_stale(session=session):
                log.warning("re-plan run %s was left running by a stopped worker", run_id)
    finished = []
    for run_id in ids:
        try:
            with write_session(engine) as session:
                if not replan_runs.claim(session=session, run_id=run_id):
                    continue
            finished.append(
                replan_runs.execute(engine=engine, run_id=run_id, solver_engine=solver_engine)
            )
        except Exception:
            log.exception("re-plan run %s could not be run", run_id)
    return finished


def send_pending_sms(
    *, engine: Engine, sender: SmsSender, now: dt.datetime, settle_s: float = 30.0
) -> int:
    """Send queued SMS the request that queued them did not get out (a crash, a provider
    failure), and those whose retry time has come. Messages younger than `settle_s` are left to
    their own request; a conditional claim makes sure no message goes out twice, and no
    transaction is open while the provider answers. Messages left mid-send by a sender that
    stopped are marked uncertain first, never sent again. Returns how many were sent."""
    with write_session(engine) as session:
        notification_service.settle_abandoned(session=session, now=now)
    with read_session(engine) as session:
        settled = now - dt.timedelta(seconds=settle_s)
        ids = [
            m.id
            for m in notification_service.pending(session=session, now=now, created_before=settled)
            if m.id is not None
        ]
    sent = 0
    for message_id in ids:
        try:
            status = notification_service.send(
                engine=engine, message_id=message_id, sender=sender, now=now
            )
            sent += status is MessageStatus.SENT
        except Exception:
            log.exception("sending SMS %s failed", message_id)
    return sent


def forget_call_answers(*, engine: Engine, before: dt.datetime) -> int:
    """Drop the stored webhook answers of calls older than `before` (kept only so that a
    retried webhook gets the same answer)."""
    with write_session(engine) as session:
        return call_service.forget_answers(session=session, before=before)


# --- the dispatch loop ------------------------------------------------------------------------


def hand_out_solves(
    *,
    engine: Engine,
    settings: Settings,
    now: dt.datetime,
    submit: Callable[[SolveJob], None],
    most: int = 20,
) -> list[SolveJob]:
    """Claim the zone-days whose changes have settled (`dispatch.planning.loop.due`) and hand
    each to `submit` (a local process, or a queue for solver machines). A claim `submit` could
    not take is released at once; one another dispatcher took first is skipped."""
    timing = replan.timing_of(settings)
    with read_session(engine) as session:
        zones = {ZoneInfo(tz) for tz in session.exec(select(State.timezone)).all()}
        # The earliest local today of any state: a day gone by is not re-planned.
        today = min((now.astimezone(tz).date() for tz in zones), default=now.date())
        due = loop.due(session=session, now=now, today=today, timing=timing, most=most)
    return _hand_out(engine, due, now, timing, submit, settings.replan_seconds, evening=False)


def plan_tomorrow(
    *,
    engine: Engine,
    settings: Settings,
    now: dt.datetime,
    submit: Callable[[SolveJob], None],
) -> list[SolveJob]:
    """From `settings.evening_plan_at` (each state's local time), tomorrow's plan of every
    zone with visits is searched again at length (`evening_plan_seconds`), once per evening."""
    timing = replan.timing_of(settings)
    due: list[tuple[int, dt.date]] = []
    with read_session(engine) as session:
        for state in session.exec(select(State)):
            tz = ZoneInfo(state.timezone)
            local = now.astimezone(tz)
            if local.time() < time_of_day(settings.evening_plan_at):
                continue
            tomorrow = local.date() + dt.timedelta(days=1)
            evening = dt.datetime.combine(local.date(), time_of_day(settings.evening_plan_at), tz)
            rows = session.exec(
                select(col(ZonePlan.district_id))
                .join(District, col(District.id) == col(ZonePlan.district_id))
                .where(
                    District.state_code == state.code,
                    ZonePlan.day == tomorrow,
                    sa.or_(
                        col(ZonePlan.planned_ahead_at).is_(None),
                        col(ZonePlan.planned_ahead_at) < evening.astimezone(dt.UTC),
                    ),
                )
                .order_by(col(ZonePlan.district_id))
            ).all()
            due += [(int(d), tomorrow) for d in rows]
    return _hand_out(engine, due, now, timing, submit, settings.evening_plan_seconds, evening=True)


def _hand_out(
    engine: Engine,
    zone_days: list[tuple[int, dt.date]],
    now: dt.datetime,
    timing: loop.Timing,
    submit: Callable[[SolveJob], None],
    time_limit_s: float,
    *,
    evening: bool,
) -> list[SolveJob]:
    jobs: list[SolveJob] = []
    for district_id, day in zone_days:
        try:
            with write_session(engine) as session:
                claim = loop.claim(
                    session=session,
                    district_id=district_id,
                    day=day,
                    now=now,
                    timing=timing,
                    force=evening,
                )
            if claim is None:
                continue
            job = SolveJob(district_id, day, claim.token, time_limit_s, evening)
            try:
                submit(job)
            except Exception:
                log.exception("no solver took district %s on %s", district_id, day)
                with write_session(engine) as session:
                    loop.release(session=session, claim=claim)
                continue
            if evening:
                # Once per evening once a solver has it, whatever becomes of the solve: the plan
                # it improves is valid as it stands, and later changes are re-planned as they come.
                with write_session(engine) as session:
                    loop.mark_planned_ahead(
                        session=session, district_id=district_id, day=day, now=now
                    )
            jobs.append(job)
        except Exception:
            log.exception("handing out district %s on %s failed", district_id, day)
    return jobs


def run_solve_job(*, engine: Engine, settings: Settings, job: SolveJob) -> replan.SolveOutcome:
    """What a solver (a local process, a queue worker) runs for a job handed out."""
    claim = loop.Claim(job.district_id, job.day, job.token)
    return replan.solve_zone(
        engine=engine,
        settings=settings,
        claim=claim,
        time_limit_s=job.time_limit_s,
        evening=job.evening,
    )
