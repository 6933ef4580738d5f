"""Where zone solves run: local processes by default, solver machines with a broker URL.

The dispatch loop (`dispatch.scheduled.hand_out_solves`, run by the scheduler every couple of
seconds) claims the zone-days whose changes have settled and submits each as a `SolveJob` to a
`SolveQueue` (`queue_for`). The solver holds the GIL, so a solve never runs in the web or
scheduler process's threads:

- `LocalProcesses` (no `DOORSTEP_BROKER_URL`) runs it in a pool of child processes
  (forkserver, ending with their parent, `dispatch.processes.die_with_parent`). A solve still
  running when its lease ends (`solve_lease_seconds`, from when it began) is stopped by the
  child's own alarm (SIGALRM, whose default kills the process even inside the compiled
  search): past its lease it could not save anyway. A child that died, killed or stopped so,
  breaks the pool (every solve in flight in it fails): the parent gives back the lease of
  each failed solve at once and records the failure against the zone-day
  (`dispatch.planning.loop.record_failure`), so the next hand-out re-plans it instead of
  waiting for the lease to lapse, and the next submission starts a new pool;
- `DramatiqQueue` (`DOORSTEP_BROKER_URL=redis://...`) sends it as a Dramatiq message through
  Redis to the solver machines, where `doorstep solver-worker` (`web.solver_worker`) runs it.

Either way the solving process opens its own engine from its settings and runs
`dispatch.scheduled.run_solve_job`, which saves through the versioned plan save; the job's
token proves its lease. The database lease is the source of truth and the queue only the
transport: a message lost (Redis restarted without its data, a worker killed) leaves the lease
to lapse and the loop hands the zone-day out again; a message delivered twice (Dramatiq gives a
dead worker's messages to another) finds its lease gone or its plan moved on and saves nothing
over another's plan. So the actor is never retried by Dramatiq (`max_retries=0`).

The Redis keys are prefixed with a namespace, `doorstep` unless the URL says otherwise
(`redis://host:6379/0?namespace=doorstep-staging`): two deployments may share one Redis.
Nothing here connects at import time: brokers are made by `make_broker`, the actor declared on
one by `solve_actor`.

Not here: which zone-days are due and the lease (`dispatch.planning.loop`), the solve itself
(`dispatch.visits.replan`), the worker processes (`web.solver_worker`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from dispatch import scheduled
from dispatch.clock import clock_for
from dispatch.config import Settings
from dispatch.db import engine_for, utcnow, write_session
from dispatch.planning import loop
from dispatch.ports import SolveJob, SolveQueue
from dispatch.processes import die_with_parent
from dispatch.visits import replan
from dispatch.visits.replan import SolveOutcome

log = logging.getLogger(__name__)
#: The Dramatiq queue of zone solves and its one actor.
QUEUE_NAME = "zone_solves"
ACTOR_NAME = "solve_zone"
#: The Redis keys' prefix unless the broker URL gives `?namespace=`.
NAMESPACE = "doorstep"
#: What a solve may take beyond its searches (reading, saving, re-offering the visits left
#: out) before Dramatiq interrupts it.
SOLVE_MARGIN_S = 120.0
#: How long a Redis connection or command may take before it counts as failed.
REDIS_WAIT_S = 10.0


def solve_job(settings: Settings, job: SolveJob) -> SolveOutcome:
    """Run one handed-out job (in whichever process got it) and log its outcome."""
    # Ids, the day and the lease's first characters: no personal data in these logs.
    log.info("solving district %s on %s (lease %s)", job.district_id, job.day, job.token[:8])
    outcome = scheduled.run_solve_job(
        engine=engine_for(settings.database_url), settings=settings, job=job
    )
    log.info(
        "zone solve of district %s on %s: %s (v%s, %s assigned, %s left, %s re-offered, %.2f s)",
        job.district_id,
        job.day,
        outcome.status,
        outcome.version,
        outcome.assigned,
        outcome.unassigned,
        len(outcome.reoffered),
        outcome.wall_s,
    )
    return outcome


def solve_in_child(settings: Settings, job: SolveJob) -> SolveOutcome:
    """`solve_job` in a local solver process, stopped outright (SIGALRM's default action) if
    it is still running when its lease ends."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, max(settings.solve_lease_seconds, 0.001))
    try:
        return solve_job(settings, job)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class LocalProcesses:
    """Solve in `processes` child processes of this one (the default `SolveQueue`)."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings = settings
        self.processes = max(1, processes)
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=die_with_parent,
        )

    def submit(self, job: SolveJob) -> None:
        try:
            future = self.pool.submit(solve_in_child, self.settings, job)
        except BrokenProcessPool:
            # A child died (killed, out of memory, past its lease): the pool takes no more
            # work. A new one; the solves in flight in the old one were given back as failed.
            log.warning("a solver process died: starting the solver processes again")
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
            future = self.pool.submit(solve_in_child, self.settings, job)
        future.add_done_callback(functools.partial(_settle_failure, self.settings, job))

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _settle_failure(settings: Settings, job: SolveJob, future: Future[SolveOutcome]) -> None:
    """A solve whose process failed (died, killed, stopped at its lease, or raised): its
    lease is given back at once, the failure recorded and the solve counted as failed (for as
    long as it held the lease), so the next hand-out re-plans the zone-day. Nothing if the
    lease is no longer the job's (it saved, or another has it)."""
    if future.cancelled() or (error := future.exception()) is None:
        return
    log.error(
        "the solve of district %s on %s failed in its process: %s",
        job.district_id,
        job.day,
        type(error).__name__,
    )
    claim = loop.Claim(job.district_id, job.day, job.token)
    try:
        with write_session(engine_for(settings.database_url)) as session:
            loop.fail(
                session=session,
                claim=claim,
                reason=f"its solver process failed: {type(error).__name__}",
                now=utcnow(),
            )
    except Exception:  # the lease lapses by itself: the zone-day is handed out again then
        log.exception(
            "could not give back the lease of district %s on %s", job.district_id, job.day
        )


def broker_address(url: str) -> tuple[str, str]:
    """The Redis URL without our `namespace` parameter, and the namespace (`NAMESPACE` if the
    URL gives none)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    namespace = next((v for k, v in query if k == "namespace" and v), NAMESPACE)
    rest = urlencode([(k, v) for k, v in query if k != "namespace"])
    return urlunsplit(parts._replace(query=rest)), namespace


def make_broker(settings: Settings) -> RedisBroker:
    """A Dramatiq broker on `settings.broker_url` (connects on first use, not here)."""
    if not settings.broker_url:
        raise ValueError("no broker URL: set DOORSTEP_BROKER_URL (redis://host:6379/0)")
    url, namespace = broker_address(settings.broker_url)
    # Bounded waits: an unreachable Redis fails a hand-out (its claim is released) instead of
    # holding the scheduler for the operating system's connect timeout.
    client = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_WAIT_S, socket_timeout=REDIS_WAIT_S
    )
    return RedisBroker(client=client, namespace=namespace)  # type: ignore[no-untyped-call]


def time_limit_ms(time_limit_s: float) -> int:
    """Dramatiq's time limit of a solve searching `time_limit_s` at a time: every search
    `solve_zone` may make, and the margin."""
    return int((time_limit_s * replan.SEARCHES + SOLVE_MARGIN_S) * 1000)


SolveActor: TypeAlias = dramatiq.Actor[[dict[str, Any]], None]


def solve_actor(broker: RedisBroker, settings: Settings) -> SolveActor:
    """The zone-solve actor on `broker`, declared once per broker; a worker runs it with the
    `settings` of its own machine (the sender's are never sent)."""
    if ACTOR_NAME in broker.actors:
        found: SolveActor = broker.actors[ACTOR_NAME]
        return found
    declare = dramatiq.actor(
        actor_name=ACTOR_NAME,
        queue_name=QUEUE_NAME,
        broker=broker,
        max_retries=0,  # the loop's lease hands a failed solve out again, not Dramatiq
        time_limit=time_limit_ms(max(settings.replan_seconds, settings.evening_plan_seconds)),
    )
    return declare(_run_message(settings))


def _run_message(settings: Settings) -> Callable[[dict[str, Any]], None]:
    def solve_zone(job: dict[str, Any]) -> None:
        solve_job(settings, SolveJob.from_json(job))

    return solve_zone


class DramatiqQueue:
    """Send each solve through Redis to the solver machines (`doorstep solver-worker`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker = make_broker(settings)
        self.actor = solve_actor(self.broker, settings)

    def submit(self, job: SolveJob) -> None:
        """Queue the job; raises if Redis cannot take it (the loop then releases the claim)."""
        self.actor.send_with_options(
            args=(job.to_json(),), time_limit=time_limit_ms(job.time_limit_s)
        )

    def shutdown(self) -> None:
        self.broker.client.close()


_queues: dict[int, SolveQueue] = {}


def queue_for(settings: Settings) -> SolveQueue:
    """The scheduler's solve queue for `settings` (one per settings object, made once): the
    solver machines' queue with a broker URL, else this machine's processes."""
    key = id(settings)
    if key not in _queues:
        if settings.broker_url:
            _queues[key] = DramatiqQueue(settings)
        else:
            _queues[key] = LocalProcesses(settings, settings.solver_processes)
    return _queues[key]


def hand_out_solves_task(settings: Settings) -> int:
    """Scheduled task: hand the settled zone-days to the solvers."""
    jobs = scheduled.hand_out_solves(
        engine=engine_for(settings.database_url),
        settings=settings,
        # The leases and the debounce compare with the database's own timestamps: wall time.
        now=dt.datetime.now(dt.UTC),
        submit=queue_for(settings).submit,
    )
    return len(jobs)


def plan_tomorrow_task(settings: Settings) -> int:
    """Scheduled task: the evening's full plan of tomorrow, zone by zone."""
    jobs = scheduled.plan_tomorrow(
        engine=engine_for(settings.database_url),
        settings=settings,
        now=clock_for(settings).now(),
        submit=queue_for(settings).submit,
    )
    return len(jobs)


__all__ = [
    "ACTOR_NAME",
    "NAMESPACE",
    "QUEUE_NAME",
    "DramatiqQueue",
    "LocalProcesses",
    "broker_address",
    "hand_out_solves_task",
    "make_broker",
    "plan_tomorrow_task",
    "queue_for",
    "solve_actor",
    "solve_in_child",
    "solve_job",
    "time_limit_ms",
]
