"""Exactly one scheduler: a scheduler runs its tasks only while its process holds the lease.

`start` starts the scheduler paused, tries the lease (`dispatch.taskruns.lease`) at once, and
starts a thread that tries it every `EVERY` after: holding it, the scheduler runs;
not holding it (another process is the scheduler), it stays paused — standing by, logged once
— and takes over when the holder stops renewing it or gives it up. A holder that cannot reach
the database to renew pauses itself once its lease would have lapsed, so two never run at
once. `stop` ends the thread and gives the lease up, so a standing-by scheduler takes over at
its next try.

Not here: what the scheduler runs (`web.worker`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from dispatch.taskruns import lease

log = logging.getLogger(__name__)
#: How often the lease is tried or renewed, and how long an unrenewed lease lasts.
EVERY = dt.timedelta(seconds=10)
TTL = dt.timedelta(seconds=60)
#: How soon after a take-over the jobs that came due meanwhile run (then one a second).
RESUME_AFTER = dt.timedelta(seconds=1)


class LeaseKeeper:
    """Runs `scheduler` while this process (`holder`) holds the scheduler's lease."""

    def __init__(
        self,
        scheduler: BackgroundScheduler,
        engine: Callable[[], Engine],
        holder: str,
        *,
        every: dt.timedelta = EVERY,
        ttl: dt.timedelta = TTL,
        name: str = lease.NAME,
    ) -> None:
        self.scheduler, self.engine_of, self.holder = scheduler, engine, holder
        self.every, self.ttl, self.name = every, ttl, name
        self.held_since: dt.datetime | None = None
        self.renewed: dt.datetime | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler-lease", daemon=True)
        self._standing_by = False

    @property
    def running(self) -> bool:
        """Whether the scheduler is running its tasks now (not paused, standing by)."""
        return self.held_since is not None

    def start(self) -> None:
        """Start the scheduler paused, try the lease once now, then keep trying."""
        self.scheduler.start(paused=True)
        self.tick()
        self._thread.start()

    def tick(self, now: dt.datetime | None = None) -> bool:
        """Try or renew the lease once, and run or pause the scheduler to match."""
        now = now or dt.datetime.now(dt.UTC)
        try:
            held = lease.take(
                engine=self.engine_of(), holder=self.holder, now=now, ttl=self.ttl, name=self.name
            )
        except Exception:
            log.exception("could not reach the scheduler's lease")
            # Without a renewal it lapses for the others: stop before anyone may take it.
            held = self.renewed is not None and now - self.renewed < self.ttl - self.every
        else:
            if held:
                self.renewed = now
        if held and self.held_since is None:
            self.held_since = now
            self._standing_by = False
            self._due_soon(now)
            self.scheduler.resume()
            log.info("this process (%s) is the scheduler", self.holder)
        elif not held and self.held_since is not None:
            self.held_since = None
            self.scheduler.pause()
            log.warning("the scheduler's lease is lost: paused, standing by")
        elif not held and not self._standing_by:
            self._standing_by = True
            current = _holder(self)
            log.warning("another process (%s) is the scheduler: standing by", current)
        return held

    def _due_soon(self, now: dt.datetime) -> None:
        """Jobs that came due while this process stood by (or was paused) run soon after it
        takes over, staggered, rather than being missed past their grace and left for a whole
        interval: a take-over must not leave the time limits unwatched."""
        for order, job in enumerate(self.scheduler.get_jobs()):
            if job.next_run_time is not None and job.next_run_time <= now + RESUME_AFTER:
                job.modify(next_run_time=now + RESUME_AFTER + dt.timedelta(seconds=order))

    def _run(self) -> None:
        while not self._stop.wait(self.every.total_seconds()):
            self.tick()

    def stop(self) -> None:
        """Stop trying; give the lease up if held (the scheduler itself is shut down by the
        caller)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.held_since is not None:
            try:
                lease.give_up(engine=self.engine_of(), holder=self.holder, name=self.name)
            except Exception:
                log.exception("could not give the scheduler's lease up (it lapses by itself)")
            self.held_since = None


def _holder(keeper: LeaseKeeper) -> str:
    try:
        row = lease.holder_of(engine=keeper.engine_of(), name=keeper.name)
    except Exception:
        return "unknown"
    return row.holder if row is not None else "unknown"
