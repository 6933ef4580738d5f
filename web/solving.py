"""Where zone solves run: local processes by default (`LocalProcesses`).

The dispatch loop (`dispatch.scheduled.hand_out_solves`, run by the scheduler every couple of
seconds) claims the zone-days whose changes have settled and submits each as a `SolveJob` to a
`SolveQueue`. The solver holds the GIL, so a solve never runs in the web or scheduler process's
threads: `LocalProcesses` runs it in a pool of child processes (forkserver, ending with their
parent, `dispatch.processes.die_with_parent`). Each child opens its own engine from the
settings it was given (never the environment's) and runs `dispatch.scheduled.run_solve_job`,
which saves through the versioned plan save; the job's token proves its lease.

Not here: which zone-days are due and the lease (`dispatch.planning.loop`), the solve itself
(`dispatch.visits.replan`).
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from functools import lru_cache

from sqlalchemy.engine import Engine

from dispatch import scheduled
from dispatch.clock import clock_for
from dispatch.config import Settings
from dispatch.db import make_engine
from dispatch.ports import SolveJob, SolveQueue
from dispatch.processes import die_with_parent
from dispatch.visits.replan import SolveOutcome

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


def solve_job(settings: Settings, job: SolveJob) -> SolveOutcome:
    """Run one handed-out job (in whichever process got it) and log its outcome."""
    outcome = scheduled.run_solve_job(
        engine=_engine(settings.database_url), settings=settings, job=job
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


class LocalProcesses:
    """Solve in `processes` child processes of this one (the default `SolveQueue`)."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings = settings
        self.pool = ProcessPoolExecutor(
            max_workers=max(1, processes),
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=die_with_parent,
        )

    def submit(self, job: SolveJob) -> None:
        future = self.pool.submit(solve_job, self.settings, job)
        future.add_done_callback(_log_failure)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _log_failure(future: Future[SolveOutcome]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("a zone solve's process failed: %r", error)


_queues: dict[int, SolveQueue] = {}


def queue_for(settings: Settings) -> SolveQueue:
    """The scheduler's solve queue for `settings` (one per settings object, made once)."""
    key = id(settings)
    if key not in _queues:
        _queues[key] = LocalProcesses(settings, settings.solver_processes)
    return _queues[key]


def hand_out_solves_task(settings: Settings) -> int:
    """Scheduled task: hand the settled zone-days to the solvers."""
    jobs = scheduled.hand_out_solves(
        engine=_engine(settings.database_url),
        settings=settings,
        # The leases and the debounce compare with the database's own timestamps: wall time.
        now=dt.datetime.now(dt.UTC),
        submit=queue_for(settings).submit,
    )
    return len(jobs)


def plan_tomorrow_task(settings: Settings) -> int:
    """Scheduled task: the evening's full plan of tomorrow, zone by zone."""
    jobs = scheduled.plan_tomorrow(
        engine=_engine(settings.database_url),
        settings=settings,
        now=clock_for(settings).now(),
        submit=queue_for(settings).submit,
    )
    return len(jobs)


__all__ = [
    "LocalProcesses",
    "hand_out_solves_task",
    "plan_tomorrow_task",
    "queue_for",
    "solve_job",
]
