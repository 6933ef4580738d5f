"""Exactly one scheduler, with real schedulers: the second to start stands by (paused, running
nothing) while the first holds the lease, and takes over when the first stops."""

from __future__ import annotations

import datetime as dt
import uuid

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
