"""A zone solve killed, or outrunning its lease, in the local solver processes
(`web.solving.LocalProcesses`): the stored plan stands, the zone-day stays pending, the failure
is recorded against it, and the next hand-out re-plans it.

The faults are real: the pool's child process is sent SIGKILL in the middle of its search, and
a search longer than its lease is stopped by the child's own alarm. The zone-day is claimed and
handed out as `dispatch.scheduled.hand_out_solves` does (`loop.due`, `loop.claim`), limited to
this test's zone-day so that other tests' pending zone-days in the shared database are left be.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch.audit.models import AuditEntry
from dispatch.config import Settings
from dispatch.db import is_sqlite, read_session, write_session
from dispatch.planning import loop, zone
from dispatch.planning import service as planning
from dispatch.planning.models import PlanStop, ZonePlan
from dispatch.ports import SolveJob
from dispatch.visits import replan
from routing.checker import check
from tests import factories
from web import solving

IST = ZoneInfo("Asia/Kolkata")
#: A zone-day: district id and local day.
ZoneDay = tuple[int, dt.date]


@pytest.fixture(autouse=True)
def _fresh_plans() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def database_url(engine: Engine) -> str:
    """A URL the solver processes can open the test database (and schema) by."""
    url = engine.url.render_as_string(hide_password=False)
    if is_sqlite(engine):
        return url
    with engine.connect() as conn:
        schema = conn.exec_driver_sql("SHOW search_path").scalar()
    return f"{url}?options=-csearch_path%3D{schema}"


def settings_for(engine: Engine, **changes: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url(engine),
        "scheduler": False,
        "replan_seconds": 0.3,
        "replan_quiet_seconds": 0.0,
        "replan_most_wait_seconds": 0.0,
        "solve_lease_seconds": 600.0,
        "solve_attempts": 5,
    }
    return Settings(**{**values, **changes})  # type: ignore[arg-type]


def book(engine: Engine, now: dt.datetime, district: str, count: int) -> ZoneDay:
    zone_days = set()
    with write_session(engine) as s:
        for n in range(count):
            r, _ = factories.booked_request(s, district_code=district, now=now, choice=n % 3)
            assert r.window_start is not None
            zone_days.add((r.district_id, r.window_start.astimezone(IST).date()))
    planning.clear_cache()
    [zd] = zone_days
    return zd


def row(engine: Engine, zd: ZoneDay) -> ZonePlan:
    with read_session(engine) as s:
        found = s.get(ZonePlan, zd)
        assert found is not None
        return found


def stops(engine: Engine, zd: ZoneDay) -> list[tuple[int, int, int]]:
    """The current plan: (request, agent, position) of each stop."""
    with read_session(engine) as s:
        version = row(engine, zd).version
        found = s.exec(
            select(PlanStop).where(
                PlanStop.district_id == zd[0], PlanStop.day == zd[1], PlanStop.version == version
            )
        ).all()
        return sorted((p.request_id, p.agent_id, p.position) for p in found)


def failures(engine: Engine, zd: ZoneDay) -> list[str]:
    with read_session(engine) as s:
        found = s.exec(
            select(AuditEntry)
            .where(
                AuditEntry.entity == "zone_plan",
                AuditEntry.entity_id == f"{zd[0]}:{zd[1].isoformat()}",
                AuditEntry.action == "solve_failed",
            )
            .order_by(col(AuditEntry.id))
        ).all()
        return [str(e.detail.get("reason")) for e in found]


def hand_out(engine: Engine, settings: Settings, zd: ZoneDay, submit: Callable[[SolveJob], None],
             time_limit_s: float) -> SolveJob:  # fmt: skip
    """The loop's hand-out of this zone-day: due (pending, settled, no live lease), claimed,
    submitted."""
    timing = replan.timing_of(settings)
    now = dt.datetime.now(dt.UTC)
    with read_session(engine) as s:
        due = loop.due(session=s, now=now, today=zd[1], timing=timing, most=1000)
    assert zd in due
    with write_session(engine) as s:
        claim = loop.claim(session=s, district_id=zd[0], day=zd[1], now=now, timing=timing)
    assert claim is not None
    job = SolveJob(zd[0], zd[1], claim.token, time_limit_s)
    submit(job)
    return job


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.05)


def assert_stood_and_pending(engine: Engine, zd: ZoneDay, version: int, plan: object) -> None:
    after = row(engine, zd)
    assert after.version == version and stops(engine, zd) == plan  # the stored plan stands
    assert after.pending_since is not None and after.improved_version < after.version
    assert after.solve_token is None  # given back at once: no lease to wait out


def assert_replanned(engine: Engine, settings: Settings, queue: solving.LocalProcesses,
                     zd: ZoneDay, version: int) -> None:  # fmt: skip
    hand_out(engine, settings, zd, queue.submit, 0.3)
    wait_for("the re-plan saved", lambda: row(engine, zd).improved_version == version + 1)
    after = row(engine, zd)
    assert after.version == version + 1 and after.pending_since is None
    with read_session(engine) as s:
        loaded = zone.load(s, *zd)
        assert check(loaded.problem, loaded.plan, require_all_accounted=False) == []


def test_a_solver_process_killed_mid_search_leaves_the_plan_and_the_next_hand_out_replans(
    engine: Engine,
) -> None:
    settings = settings_for(engine)
    zd = book(engine, dt.datetime(2037, 2, 3, 7, 0, tzinfo=IST), "KTW", 4)
    version, plan = row(engine, zd).version, stops(engine, zd)
    queue = solving.LocalProcesses(settings, 1)
    try:
        hand_out(engine, settings, zd, queue.submit, 60.0)  # a long search
        wait_for("the solve began", lambda: row(engine, zd).solve_attempts == 1)
        time.sleep(0.5)  # well into its search
        [pid] = list(queue.pool._processes)
        os.kill(pid, signal.SIGKILL)
        wait_for("the lease given back", lambda: row(engine, zd).solve_token is None)
        assert_stood_and_pending(engine, zd, version, plan)
        assert failures(engine, zd) == ["its solver process failed: BrokenProcessPool"]
        assert_replanned(engine, settings, queue, zd, version)
        assert queue.pool._processes and pid not in queue.pool._processes  # a new process
    finally:
        queue.shutdown()


def test_a_search_outrunning_its_lease_is_stopped_and_the_next_hand_out_replans(
    engine: Engine,
) -> None:
    settings = settings_for(engine, solve_lease_seconds=2.0)
    zd = book(engine, dt.datetime(2037, 2, 4, 7, 0, tzinfo=IST), "KTW", 4)
    version, plan = row(engine, zd).version, stops(engine, zd)
    queue = solving.LocalProcesses(settings, 1)
    try:
        started = time.monotonic()
        hand_out(engine, settings, zd, queue.submit, 60.0)  # three searches of a minute
        wait_for("the lease given back", lambda: row(engine, zd).solve_token is None)
        assert time.monotonic() - started < 30  # stopped at its lease, not after its searches
        assert row(engine, zd).solve_attempts == 1
        assert_stood_and_pending(engine, zd, version, plan)
        assert failures(engine, zd) == ["its solver process failed: BrokenProcessPool"]
        assert_replanned(engine, settings, queue, zd, version)
    finally:
        queue.shutdown()


def test_a_lease_that_lapsed_is_recorded_when_the_zone_day_is_claimed_again(
    engine: Engine,
) -> None:
    """A solver machine that died says nothing: the lapsed lease is the record."""
    settings = settings_for(engine, solve_lease_seconds=60.0)
    timing = replan.timing_of(settings)
    zd = book(engine, dt.datetime(2037, 2, 5, 7, 0, tzinfo=IST), "KTW", 2)
    now = dt.datetime.now(dt.UTC)
    with write_session(engine) as s:
        first = loop.claim(session=s, district_id=zd[0], day=zd[1], now=now, timing=timing)
    assert first is not None and failures(engine, zd) == []
    later = now + dt.timedelta(seconds=61)
    with write_session(engine) as s:
        second = loop.claim(session=s, district_id=zd[0], day=zd[1], now=later, timing=timing)
    assert second is not None and second.token != first.token
    assert failures(engine, zd) == ["the previous solve's lease lapsed"]
