"""Exactly one scheduler: the first takes the lease and renews it; a second stands by until
the first stops renewing (or gives it up), then takes over. Both databases."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.engine import Engine

from dispatch.taskruns import lease

TTL = dt.timedelta(seconds=60)


def test_one_holder_at_a_time_and_a_takeover_when_it_stops_renewing(engine: Engine) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    t0 = dt.datetime(2030, 1, 1, 10, 0, tzinfo=dt.UTC)
    first, second = "host-a:1", "host-b:2"
    assert lease.take(engine=engine, holder=first, now=t0, ttl=TTL, name=name)
    assert not lease.take(engine=engine, holder=second, now=t0, ttl=TTL, name=name)
    later = t0 + dt.timedelta(seconds=50)
    assert lease.take(engine=engine, holder=first, now=later, ttl=TTL, name=name)  # renewed
    assert not lease.take(engine=engine, holder=second, now=later + TTL / 2, ttl=TTL, name=name)
    gone = later + TTL + dt.timedelta(seconds=1)  # the first stopped renewing
    assert lease.take(engine=engine, holder=second, now=gone, ttl=TTL, name=name)
    assert not lease.take(engine=engine, holder=first, now=gone, ttl=TTL, name=name)
    held = lease.holder_of(engine=engine, name=name)
    assert held is not None and held.holder == second


def test_a_scheduler_stopping_cleanly_hands_over_at_once(engine: Engine) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    t0 = dt.datetime(2030, 1, 1, 10, 0, tzinfo=dt.UTC)
    assert lease.take(engine=engine, holder="a:1", now=t0, ttl=TTL, name=name)
    lease.give_up(engine=engine, holder="b:2", name=name)  # not theirs to give up
    assert not lease.take(engine=engine, holder="b:2", now=t0, ttl=TTL, name=name)
    lease.give_up(engine=engine, holder="a:1", name=name)
    assert lease.take(engine=engine, holder="b:2", now=t0, ttl=TTL, name=name)
