"""Re-plan runs asked for from the console: queued once per key, run by the worker's own
function (`scheduled.run_replans`) to done with figures before and after, or to failed with
a message; a booking that lands meanwhile makes the run compute once more."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from dispatch import scheduled
from dispatch.audit import service as audit
from dispatch.db import read_session, utcnow, write_session
from dispatch.planning import runs, zone
from dispatch.planning import service as planning
from dispatch.planning.models import ReplanRun, ReplanStatus, ZonePlan
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
ACTOR = "staff:test-dispatcher"
#: Days in Budgam no other test plans (one per test: the database is shared and committed).
BUDGAM_DAYS = {
    "lifecycle": dt.datetime(2032, 4, 6, 7, 0, tzinfo=IST),
    "once": dt.datetime(2032, 4, 7, 7, 0, tzinfo=IST),
    "failed": dt.datetime(2032, 4, 8, 7, 0, tzinfo=IST),
    "outdated": dt.datetime(2032, 4, 9, 7, 0, tzinfo=IST),
    "outdated_twice": dt.datetime(2032, 4, 13, 7, 0, tzinfo=IST),
    "claim": dt.datetime(2032, 4, 14, 7, 0, tzinfo=IST),
}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _zone_day(engine: Engine, name: str, visits: int = 3) -> tuple[int, dt.date]:
    offer = None
    with write_session(engine) as s:
        for i in range(visits):
            _, offer = factories.booked_request(
                s, district_code="BGM", now=BUDGAM_DAYS[name], choice=i % 2
            )
    assert offer is not None
    return offer.district_id, offer.day


def _ask(engine: Engine, district_id: int, day: dt.date, key: str | None = None) -> int:
    with write_session(engine) as s:
        run = runs.request(
            session=s,
            district_id=district_id,
            day=day,
            actor=ACTOR,
            time_limit_s=0.2,
            idempotency_key=key or uuid.uuid4().hex,
        )
        assert run.id is not None
        return run.id


def _run(engine: Engine, run_id: int) -> ReplanRun:
    with read_session(engine) as s:
        return runs.get(session=s, run_id=run_id)


def test_a_queued_run_is_run_to_done_with_figures_before_and_after(engine: Engine) -> None:
    district_id, day = _zone_day(engine, "lifecycle", visits=4)
    run_id = _ask(engine, district_id, day)
    queued = _run(engine, run_id)
    assert queued.status is ReplanStatus.QUEUED and queued.time_limit_s == 0.2
    with read_session(engine) as s:
        trail = audit.history(session=s, entity="plan", entity_id=f"{district_id}/{day}")
        assert ("replan_requested", ACTOR) in [(e.action, e.actor) for e in trail]

    finished = scheduled.run_replans(engine=engine, only=[run_id])

    assert [r.id for r in finished] == [run_id]
    done = _run(engine, run_id)
    assert done.status is ReplanStatus.DONE, done.message
    assert done.started_at is not None and done.finished_at is not None
    assert done.started_at <= done.finished_at
    for figure in (
        done.distance_before_m,
        done.distance_after_m,
        done.lateness_before_s,
        done.lateness_after_s,
        done.unassigned_before,
        done.unassigned_after,
        done.moved,
    ):
        assert figure is not None and figure >= 0
    assert done.distance_before_m and done.distance_after_m  # visits away from the bases
    assert done.unassigned_before == done.unassigned_after == 0
    assert done.lateness_after_s == 0
    with read_session(engine) as s:
        plan = s.get(ZonePlan, (district_id, day))
        assert plan is not None and plan.version == plan.improved_version == done.version
    # Run once: a second pass finds nothing queued for it.
    assert scheduled.run_replans(engine=engine, only=[run_id]) == []


def test_a_double_submit_starts_one_run(engine: Engine) -> None:
    district_id, day = _zone_day(engine, "once", visits=1)
    key = uuid.uuid4().hex
    first = _ask(engine, district_id, day, key)
    assert _ask(engine, district_id, day, key) == first
    # Another key while the zone-day's run is still queued: still that run.
    assert _ask(engine, district_id, day) == first
    scheduled.run_replans(engine=engine, only=[first])
    assert _ask(engine, district_id, day, key) == first  # the key stays the same run
    assert _ask(engine, district_id, day) != first  # a new re-plan once it has finished


def test_a_failed_run_is_recorded_and_changes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    district_id, day = _zone_day(engine, "failed", visits=1)
    run_id = _ask(engine, district_id, day)
    with read_session(engine) as s:
        before = zone.current_version(s, district_id, day)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the solver fell over")

    monkeypatch.setattr(planning, "improve", broken)
    scheduled.run_replans(engine=engine, only=[run_id])

    failed = _run(engine, run_id)
    assert failed.status is ReplanStatus.FAILED and failed.finished_at is not None
    assert failed.message and "RuntimeError" in failed.message
    with read_session(engine) as s:
        assert zone.current_version(s, district_id, day) == before


def _booking_meanwhile(
    engine: Engine, name: str, times: int, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Make the first `times` searches see a booking land while they run."""
    real, calls = planning.improve, []

    def improve_while_booking(zd: zone.ZoneDay, **kwargs: Any) -> Any:
        calls.append(zd.version)
        if len(calls) <= times:
            with write_session(engine) as s:
                factories.booked_request(s, district_code="BGM", now=BUDGAM_DAYS[name])
        return real(zd, **kwargs)

    monkeypatch.setattr(planning, "improve", improve_while_booking)
    return calls


def test_a_booking_meanwhile_makes_the_run_compute_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    district_id, day = _zone_day(engine, "outdated", visits=2)
    run_id = _ask(engine, district_id, day)
    calls = _booking_meanwhile(engine, "outdated", 1, monkeypatch)
    scheduled.run_replans(engine=engine, only=[run_id])
    done = _run(engine, run_id)
    assert done.status is ReplanStatus.DONE and len(calls) == 2
    assert calls[1] == calls[0] + 1  # the second search started from the booked plan
    assert done.message and "computed again" in done.message


def test_outdated_twice_fails_saying_so(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    district_id, day = _zone_day(engine, "outdated_twice", visits=1)
    run_id = _ask(engine, district_id, day)
    _booking_meanwhile(engine, "outdated_twice", 2, monkeypatch)
    scheduled.run_replans(engine=engine, only=[run_id])
    failed = _run(engine, run_id)
    assert failed.status is ReplanStatus.FAILED and failed.message == runs.OUTDATED_TWICE


def test_only_one_worker_claims_a_run_and_a_stopped_one_is_failed(engine: Engine) -> None:
    district_id, day = _zone_day(engine, "claim", visits=1)
    run_id = _ask(engine, district_id, day)
    long_ago = utcnow() - dt.timedelta(hours=1)
    with write_session(engine) as s:
        assert runs.claim(session=s, run_id=run_id, now=long_ago)
    with write_session(engine) as s:
        assert not runs.claim(session=s, run_id=run_id)
    with write_session(engine) as s:
        assert run_id in runs.abandon_stale(session=s)
    stopped = _run(engine, run_id)
    assert stopped.status is ReplanStatus.FAILED and "stopped" in (stopped.message or "")


def test_moved_counts_visits_that_changed_agent_or_predecessor() -> None:
    before = {"a1": ["r1", "r2", "r3"], "a2": ["r4"]}
    assert runs.moved(before, before) == 0
    # r3 goes before r2 (both change predecessor); r4 goes to a1 (r4 changes agent).
    assert runs.moved(before, {"a1": ["r1", "r3", "r2", "r4"], "a2": []}) == 3
