"""Exactly one scheduler, with real schedulers: the second to start stands by (paused, running
nothing) while the first holds the lease, and takes over when the first stops."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from web.scheduler_lease import LeaseKeeper

TTL = dt.timedelta(seconds=60)
EVERY = dt.timedelta(seconds=10)  # the tests tick by hand, well within the first 10 s


def _keeper(engine: Engine, holder: str, name: str) -> tuple[BackgroundScheduler, LeaseKeeper]:
    scheduler = BackgroundScheduler(timezone="UTC")
    keeper = LeaseKeeper(scheduler, lambda: engine, holder, every=EVERY, ttl=TTL, name=name)
    keeper.start()
    return scheduler, keeper


def _paused(scheduler: BackgroundScheduler) -> bool:
    from apscheduler.schedulers.base import STATE_PAUSED

    return bool(scheduler.state == STATE_PAUSED)


def test_the_second_scheduler_stands_by_until_the_first_stops(engine: Engine) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    first, one = _keeper(engine, "host-a:1", name)
    second, two = _keeper(engine, "host-b:2", name)
    try:
        assert one.running and not _paused(first)  # its thread's first try took the lease
        assert not two.running and _paused(second)  # standing by
        assert not two.tick()  # still held, and renewed by the first
        assert one.tick()
        one.stop()  # a clean stop gives the lease up
        first.shutdown(wait=False)
        assert two.tick() and two.running and not _paused(second)
    finally:
        two.stop()
        second.shutdown(wait=False)


def test_a_scheduler_that_cannot_renew_pauses_before_its_lease_could_lapse(
    engine: Engine,
) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    scheduler, keeper = _keeper(engine, "host-a:1", name)
    try:
        assert keeper.running
        start = keeper.renewed
        assert start is not None

        def away() -> Engine:
            raise ConnectionError("database away")

        keeper.engine_of = away
        assert keeper.tick(start + dt.timedelta(seconds=10))  # lapses in 50 s: runs on
        assert not keeper.tick(start + TTL - dt.timedelta(seconds=5))  # too close: pauses
        assert _paused(scheduler) and not keeper.running
    finally:
        keeper.stop()
        scheduler.shutdown(wait=False)


def test_jobs_due_while_standing_by_run_soon_after_the_take_over_not_missed(
    engine: Engine,
) -> None:
    """A task due 20 minutes ago (past its 5-minute grace) while this process stood by: on
    taking the lease it runs within seconds, and is not recorded as missed."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    first, one = _keeper(engine, "host-a:1", name)
    second, two = _keeper(engine, "host-b:2", name)
    ran, missed = threading.Event(), threading.Event()
    second.add_listener(lambda _e: ran.set(), EVENT_JOB_EXECUTED)
    second.add_listener(lambda _e: missed.set(), EVENT_JOB_MISSED)
    late = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    second.add_job(
        lambda: None, "interval", hours=1, id="slow", next_run_time=late, misfire_grace_time=300
    )
    try:
        assert not two.running
        one.stop()
        first.shutdown(wait=False)
        assert two.tick()
        assert ran.wait(10) and not missed.is_set()
    finally:
        two.stop()
        second.shutdown(wait=False)
