"""Re-plan runs: a dispatcher's "re-plan now", queued in the database and run by the worker.

`request` queues a run (one per idempotency key, and one at a time per zone-day); the worker's
scheduled task (`dispatch.scheduled.run_replans`) `claim`s it — a conditional update, so two
workers never run the same — and `execute`s it: read the zone-day, let the solver improve it
with no transaction open, and save the plan and the run's figures in one short write. A
booking that lands meanwhile, or a route locked or unlocked meanwhile, makes the plan outdated
(`PlanOutdated`): the run computes once more from the plan as it then is (a locked route kept),
and if that is outdated too it fails saying so, having changed nothing. A run left "running"
by a worker that stopped is failed by the next pass.

The figures (`Figures`) measure a plan of the zone-day: the estimated road distance (great
circle x the terrain's detour factor, as the default travel model has it), the lateness (how
long after their window closes the agents would reach visits, following each route's order
from where they are now) and the visits left out. "Before" is the stored plan, "after" the
solver's; `moved` counts visits that changed agent or predecessor.

Runs hold no solver and no process pool: the worker decides where `execute` runs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.audit import service as audit
from dispatch.db import read_session, utcnow, write_session
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography.models import District
from dispatch.planning import service as planning
from dispatch.planning import store, zone
from dispatch.planning.models import ReplanRun, ReplanStatus
from dispatch.planning.store import PlanOutdated
from routing.model import Location, Problem
from routing.travel import DEFAULT_DETOUR, haversine_m

log = logging.getLogger(__name__)
ACTIVE = frozenset({ReplanStatus.QUEUED, ReplanStatus.RUNNING})
FINISHED = frozenset({ReplanStatus.DONE, ReplanStatus.FAILED})
#: A run still "running" this long after its time limit was left by a worker that stopped.
ABANDONED_AFTER_S = 120.0
#: The longest search a dispatcher may ask for.
MAX_TIME_LIMIT_S = 60.0
OUTDATED_TWICE = (
    "The plan changed twice while re-planning (bookings landed or routes were locked "
    "meanwhile); nothing was changed. Re-plan again."
)

Sequences = Mapping[str, Sequence[str]]  # routing agent id -> visit ids in order


# --- figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """How good a plan of a zone-day is: metres, seconds late, visits left out."""

    distance_m: int
    lateness_s: int
    unassigned: int


def leg_metres(a: Location, b: Location) -> float:
    """Estimated road metres from `a` to `b`: the great circle times the detour factor of the
    worse terrain of the two ends (the default travel model's own estimate)."""
    worse = max(DEFAULT_DETOUR[a.terrain], DEFAULT_DETOUR[b.terrain])
    return haversine_m(a, b) * worse


def path_metres(points: Sequence[Location]) -> int:
    """Estimated road metres along `points` in order."""
    return round(sum(leg_metres(a, b) for a, b in itertools.pairwise(points)))


def _route_lateness(problem: Problem, agent_id: str, visit_ids: Sequence[str]) -> int:
    """Seconds after their windows the agent would start the visits, in this order, leaving
    from where and when their day now starts (service starts at the earliest in a window)."""
    agent = problem.agent(agent_id)
    durations = problem.travel.durations[agent.mode]
    t, here, late = agent.shift.start, problem.travel.index(agent.start), 0
    for vid in visit_ids:
        visit = problem.visit(vid)
        there = problem.travel.index(visit.location)
        t += durations[here][there]
        window = next((w for w in visit.windows if w.end >= t), None)
        if window is None:
            late += t - visit.windows[-1].end
        else:
            t = max(t, window.start)
        t += visit.service
        here = there
    return late


def figures(zd: zone.ZoneDay, sequences: Sequences) -> Figures:
    """The figures of `sequences` as a plan of the zone-day: routes of agents not on duty, and
    visits no longer of the day, do not count (the former's visits are left out)."""
    problem = zd.problem
    distance = lateness = placed = 0
    for agent_id, visit_ids in sequences.items():
        if not problem.has_agent(agent_id):
            continue
        mine = [v for v in visit_ids if problem.has_visit(v)]
        if not mine:
            continue
        agent = problem.agent(agent_id)
        points = [agent.start, *(problem.visit(v).location for v in mine), agent.end]
        distance += path_metres(points)
        lateness += _route_lateness(problem, agent_id, mine)
        placed += len(mine)
    return Figures(distance, lateness, len(problem.visits) - placed)


def stored_sequences(session: Session, zd: zone.ZoneDay) -> dict[str, list[str]]:
    """The zone-day's stored plan (its current version) as routing sequences."""
    out: dict[str, list[str]] = {}
    for stop in store.current_stops(session=session, district_id=zd.district_id, day=zd.day):
        out.setdefault(zone.agent_key(stop.agent_id), []).append(zone.visit_id(stop.request_id))
    return out


def moved(before: Sequences, after: Sequences) -> int:
    """Visits in both plans that changed agent, or whose previous stop changed."""

    def where(sequences: Sequences) -> dict[str, tuple[str, str | None]]:
        return {
            v: (agent, seq[i - 1] if i else None)
            for agent, seq in sequences.items()
            for i, v in enumerate(seq)
        }

    old, new = where(before), where(after)
    return sum(1 for v, place in new.items() if v in old and old[v] != place)


# --- asking for a run ----------------------------------------------------------------------


def get(*, session: Session, run_id: int) -> ReplanRun:
    run = session.get(ReplanRun, run_id)
    if run is None:
        raise NotFound("re-plan run", run_id)
    return run


def latest(*, session: Session, district_id: int, day: dt.date) -> ReplanRun | None:
    """The zone-day's most recent run, if any."""
    return session.exec(
        select(ReplanRun)
        .where(ReplanRun.district_id == district_id, ReplanRun.day == day)
        .order_by(col(ReplanRun.id).desc())
        .limit(1)
    ).first()


def _by_key(session: Session, key: str) -> ReplanRun | None:
    return session.exec(select(ReplanRun).where(ReplanRun.idempotency_key == key)).first()


def request(
    *,
    session: Session,
    district_id: int,
    day: dt.date,
    actor: str,
    time_limit_s: float,
    idempotency_key: str | None = None,
) -> ReplanRun:
    """Queue a re-plan of the zone-day, audited. The same key again returns the same run (a
    double submit starts one run); while a run of the zone-day is queued or running, that run
    is returned instead of a second one."""
    if idempotency_key and (found := _by_key(session, idempotency_key)) is not None:
        return found
    if session.get(District, district_id) is None:
        raise NotFound("district", district_id)
    if not 0 < time_limit_s <= MAX_TIME_LIMIT_S:
        raise InvalidInput("time_limit_s", time_limit_s, f"must be in (0, {MAX_TIME_LIMIT_S}]")
    active = session.exec(
        select(ReplanRun)
        .where(
            ReplanRun.district_id == district_id,
            ReplanRun.day == day,
            col(ReplanRun.status).in_([s.value for s in ACTIVE]),
        )
        .order_by(col(ReplanRun.id))
    ).first()
    if active is not None:
        return active
    run = ReplanRun(
        district_id=district_id,
        day=day,
        requested_by=actor,
        idempotency_key=idempotency_key or None,
        time_limit_s=time_limit_s,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except sa.exc.IntegrityError:  # the same key's twin committed first
        assert idempotency_key
        twin = _by_key(session, idempotency_key)
        assert twin is not None
        return twin
    audit.record(
        session=session,
        actor=actor,
        entity="plan",
        entity_id=f"{district_id}/{day}",
        action="replan_requested",
        run=run.id,
        time_limit_s=time_limit_s,
    )
    return run


# --- running it (the worker) ---------------------------------------------------------------

_TABLE = ReplanRun.__table__  # type: ignore[attr-defined]


def queued(*, session: Session, most: int = 10, only: Collection[int] | None = None) -> list[int]:
    """Ids of queued runs (of `only`, if given), oldest first."""
    stmt = select(col(ReplanRun.id)).where(ReplanRun.status == ReplanStatus.QUEUED)
    if only is not None:
        stmt = stmt.where(col(ReplanRun.id).in_(list(only)))
    rows = session.exec(stmt.order_by(col(ReplanRun.id)).limit(most))
    return [int(r) for r in rows if r is not None]


def claim(*, session: Session, run_id: int, now: dt.datetime | None = None) -> bool:
    """Mark a queued run as running; False if another worker got it first (or it is not
    queued). A conditional update, so two workers never both win."""
    claimed = session.execute(
        sa.update(_TABLE)
        .where(_TABLE.c.id == run_id, _TABLE.c.status == ReplanStatus.QUEUED.value)
        .values(status=ReplanStatus.RUNNING.value, started_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def stale(*, session: Session, now: dt.datetime | None = None) -> list[int]:
    """Ids of runs left "running" well past their time limit (their worker stopped)."""
    now = now or utcnow()
    running = session.exec(select(ReplanRun).where(ReplanRun.status == ReplanStatus.RUNNING))
    return [
        run.id
        for run in running
        if run.id is not None
        and (now - (run.started_at or run.requested_at)).total_seconds()
        > run.time_limit_s + ABANDONED_AFTER_S
    ]


def abandon_stale(*, session: Session, now: dt.datetime | None = None) -> list[int]:
    """Fail the `stale` runs; the ids of those this call failed."""
    now = now or utcnow()
    out = []
    for run_id in stale(session=session, now=now):
        updated = session.execute(
            sa.update(_TABLE)
            .where(_TABLE.c.id == run_id, _TABLE.c.status == ReplanStatus.RUNNING.value)
            .values(
                status=ReplanStatus.FAILED.value,
                finished_at=now,
                message="The worker stopped during the re-plan; nothing was changed.",
            )
            .execution_options(synchronize_session=False)
        )
        if updated.rowcount == 1:  # type: ignore[attr-defined]
            out.append(run_id)
    return out


def execute(*, engine: Engine, run_id: int, solver_engine: str = "sisr") -> ReplanRun:
    """Run a claimed run to its end (done or failed, with a message); never raises for a
    failed re-plan. Holds no transaction while the solver searches."""
    with read_session(engine) as session:
        run = get(session=session, run_id=run_id)
    try:
        return _run(engine, run, solver_engine)
    except PlanOutdated:
        return _fail(engine, run_id, OUTDATED_TWICE)
    except Exception as exc:
        log.exception("re-plan run %s failed", run_id)
        return _fail(engine, run_id, f"The re-plan failed ({type(exc).__name__}); nothing changed.")


def _run(engine: Engine, run: ReplanRun, solver_engine: str) -> ReplanRun:
    assert run.id is not None
    for attempt in range(2):
        with read_session(engine) as session:
            zd = planning.prepare_replan(session=session, district_id=run.district_id, day=run.day)
            before_seq = stored_sequences(session, zd)
        before = figures(zd, before_seq)
        result = planning.improve(zd, time_limit_s=run.time_limit_s, engine=solver_engine)
        after_seq = result.plan.sequences()
        after = figures(zd, after_seq)
        try:
            with write_session(engine) as session:
                outcome = planning.save_replan(
                    session=session, zd=zd, result=result, actor=run.requested_by
                )
                done = get(session=session, run_id=run.id)
                done.status = ReplanStatus.DONE
                done.finished_at = utcnow()
                done.distance_before_m, done.distance_after_m = before.distance_m, after.distance_m
                done.lateness_before_s, done.lateness_after_s = before.lateness_s, after.lateness_s
                done.unassigned_before, done.unassigned_after = before.unassigned, after.unassigned
                done.moved = moved(before_seq, after_seq)
                done.version = outcome.version
                done.message = (
                    "The plan changed meanwhile (a booking landed or a route was locked); "
                    "computed again and saved."
                    if attempt
                    else None
                )
                session.add(done)
                session.flush()
                return done
        except PlanOutdated:
            if attempt:
                raise
            log.info("re-plan run %s: the plan changed meanwhile; computing again", run.id)
    raise AssertionError("unreachable")


def _fail(engine: Engine, run_id: int, message: str) -> ReplanRun:
    with write_session(engine) as session:
        run = get(session=session, run_id=run_id)
        run.status = ReplanStatus.FAILED
        run.finished_at = utcnow()
        run.message = message
        session.add(run)
        session.flush()
        return run
