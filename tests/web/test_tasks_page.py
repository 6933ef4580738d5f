"""The scheduled tasks' page: every task in the scheduler's order with its last run in the
state's local time, how long it took, how it ended, what it did, its next run (overdue when
long past) and its counts; the dispatch loop's counts of this state only; who may see it.
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.db import write_session
from dispatch.geography.models import District
from dispatch.planning.models import ZonePlan
from dispatch.staff.rules import Role
from dispatch.taskruns import service as task_runs
from dispatch.taskruns.models import TaskOutcome, TaskRun
from tests.console import Console, signed_in
from web import tasks
from web.worker import TASKS


def _context(client: Console) -> dict[str, Any]:
    response = client.get("/tasks")
    assert response.status_code == 200, response.text
    assert response.template.name == "tasks/index.html"  # type: ignore[attr-defined]
    context: dict[str, Any] = response.context  # type: ignore[attr-defined]
    return context


def test_each_task_shows_its_last_run_in_local_time_and_its_next(
    app: FastAPI, engine: Engine
) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    started = now - dt.timedelta(minutes=10)
    task_runs.record(
        engine,
        task_runs.finished,
        name="send-sms",
        started_at=started,
        at=started + dt.timedelta(seconds=1.5),
        ok=True,
        summary="3 SMS sent",
        next_run_at=now + dt.timedelta(seconds=20),
        runner="worker-host:4242",
    )
    task_runs.record(
        engine,
        task_runs.finished,
        name="deadlines",
        started_at=started,
        at=started + dt.timedelta(seconds=2),
        ok=False,
        summary="OperationalError: database is locked",
        next_run_at=now - dt.timedelta(minutes=5),  # the scheduler has stopped
        runner="worker-host:4242",
    )
    console = signed_in(app, engine, Role.SUPERVISOR)
    context = _context(console)
    assert [row.task.id for row in context["rows"]] == [t.id for t in TASKS]
    rows = {row.task.id: row for row in context["rows"]}
    sms, limits = rows["send-sms"], rows["deadlines"]
    assert (sms.outcome, sms.overdue, sms.every) == ("ok", False, "every 30 s")
    assert (limits.outcome, limits.overdue, limits.every) == ("failed", True, "every 15 min")
    assert limits in context["failing"] and limits in context["overdue"]
    assert context["recorded"]
    page = console.get("/tasks").text
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    row = page.split('id="task-send-sms"')[1].split("</tr>")[0]
    assert f"{started.astimezone(ist):%a %d %b, %H:%M:%S}" in row  # the state's time
    assert "1.5 s" in row and "3 SMS sent" in row and "SMS outbox sender" in row
    limits_row = page.split('id="task-deadlines"')[1].split("</tr>")[0]
    assert "overdue" in limits_row and "OperationalError: database is locked" in limits_row
    assert "worker-host:4242" in page  # the latest run's process


def test_a_task_whose_run_is_still_going_is_not_overdue() -> None:
    """A run longer than a minute leaves the next run it was started for behind it."""
    now = dt.datetime(2030, 6, 3, 9, 0, tzinfo=dt.UTC)
    past = now - 5 * tasks.OVERDUE_AFTER
    going = TaskRun(
        name="deadlines",
        outcome=TaskOutcome.RUNNING,
        last_started_at=past - dt.timedelta(minutes=15),
        next_run_at=past,
    )
    stopped = TaskRun(name="send-sms", outcome=TaskOutcome.OK, next_run_at=past)
    rows = {r.task.id: r for r in tasks.rows({"deadlines": going, "send-sms": stopped}, now)}
    assert (rows["deadlines"].outcome, rows["deadlines"].overdue) == ("running", False)
    assert rows["send-sms"].overdue


def test_the_words_for_how_often_and_how_long() -> None:
    assert [tasks.every(s) for s in (2, 30, 300, 900, 3600, 7200)] == [
        "every 2 s",
        "every 30 s",
        "every 5 min",
        "every 15 min",
        "hourly",
        "every 2 h",
    ]
    assert [tasks.duration(s) for s in (None, 0.042, 2.34, 184)] == [
        "—",
        "0.04 s",
        "2.3 s",
        "3 min 4 s",
    ]


def test_the_dispatch_loop_counts_only_this_states_zone_days(app: FastAPI, engine: Engine) -> None:
    """A zone-day of Kulgam in 2046 (no other test plans then) changed since its last
    improvement: Jammu and Kashmir's supervisor counts it, Punjab's does not."""
    jk, pb = (
        signed_in(app, engine, Role.SUPERVISOR),
        signed_in(app, engine, Role.SUPERVISOR, state_code="PB"),
    )
    before = _context(jk)["loop"].pending, _context(pb)["loop"].pending
    with write_session(engine) as s:
        district = s.exec(select(District).where(District.code == "KLG")).one()
        plan = ZonePlan(
            district_id=district.id or 0, day=dt.date(2046, 3, 5), version=2, improved_version=1
        )
        s.add(plan)
    try:
        after = _context(jk)["loop"].pending, _context(pb)["loop"].pending
        assert after == (before[0] + 1, before[1])
        assert 'id="loop-pending"' in jk.get("/tasks").text
    finally:
        with write_session(engine) as s:
            found = s.get(ZonePlan, (plan.district_id, plan.day))
            assert found is not None
            s.delete(found)


def test_call_agents_and_dispatchers_may_not_see_the_tasks(app: FastAPI, engine: Engine) -> None:
    for role in (Role.CALL_AGENT, Role.DISPATCHER):
        assert signed_in(app, engine, role).get("/tasks").status_code == 403
    nav = signed_in(app, engine, Role.SUPERVISOR).get("/pendency").text
    assert 'href="/tasks"' in nav and 'href="/alerts"' in nav
