"""The scheduled tasks' record: a run's start and end (how long, how it ended, what it did),
the counts, a start that arrives after its run was recorded, a run skipped while the previous
one goes on, a record that cannot be written (logged, never raised) or waits too long for a
lock (dropped after about a second), numbers masked in an error's summary, and the dispatch
loop's counts for the page. Every test runs on
SQLite and PostgreSQL; task names are the test's own."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dispatch.db import read_session, write_session
from dispatch.geography.models import District
from dispatch.planning import loop
from dispatch.planning.models import ZonePlan
from dispatch.taskruns import service as task_runs
from dispatch.taskruns.models import TaskOutcome, TaskRun

T0 = dt.datetime(2030, 6, 3, 2, 0, tzinfo=dt.UTC)


def _name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def _row(engine: Engine, name: str) -> TaskRun:
    with read_session(engine) as s:
        row = s.get(TaskRun, name)
        assert row is not None
        return row


def test_a_run_is_recorded_from_its_start_to_its_end_with_the_counts(engine: Engine) -> None:
    name = _name()
    end = T0 + dt.timedelta(seconds=1.5)
    later = T0 + dt.timedelta(seconds=30)
    assert task_runs.record(
        engine, task_runs.started, name=name, at=T0, next_run_at=later, runner="host:1"
    )
    running = _row(engine, name)
    assert (running.outcome, running.last_started_at, running.runs, running.next_run_at) == (
        TaskOutcome.RUNNING,
        T0,
        0,
        later,  # the scheduler moved it on as the run started: not overdue while it runs
    )
    task_runs.record(
        engine,
        task_runs.finished,
        name=name,
        started_at=T0,
        at=end,
        ok=True,
        summary="3 SMS sent",
        next_run_at=later,
        runner="host:1",
    )
    done = _row(engine, name)
    assert (done.outcome, done.summary, done.last_duration_s) == (TaskOutcome.OK, "3 SMS sent", 1.5)
    assert (done.last_finished_at, done.next_run_at, done.runs, done.failures) == (end, later, 1, 0)

    task_runs.record(
        engine, task_runs.started, name=name, at=later, next_run_at=None, runner="host:2"
    )
    task_runs.record(
        engine,
        task_runs.finished,
        name=name,
        started_at=later,
        at=later + dt.timedelta(seconds=2),
        ok=False,
        summary="ConnectionError: provider down",
        next_run_at=later + dt.timedelta(seconds=30),
        runner="host:2",
    )
    failed = _row(engine, name)
    assert (failed.outcome, failed.runs, failed.failures, failed.runner) == (
        TaskOutcome.FAILED,
        2,
        1,
        "host:2",
    )
    assert failed.summary == "ConnectionError: provider down"


def test_a_start_reported_after_its_run_was_recorded_changes_nothing(engine: Engine) -> None:
    """The scheduler reports a submission after the submitting thread's work; a quick run can
    end (and be recorded, with that start) first."""
    name = _name()
    task_runs.record(
        engine,
        task_runs.finished,
        name=name,
        started_at=T0,
        at=T0 + dt.timedelta(seconds=1),
        ok=True,
        summary="done",
        next_run_at=None,
        runner="host:1",
    )
    task_runs.record(engine, task_runs.started, name=name, at=T0, next_run_at=T0, runner="h:1")
    task_runs.record(
        engine,
        task_runs.started,
        name=name,
        at=T0 - dt.timedelta(seconds=5),
        next_run_at=T0,
        runner="host:1",
    )
    row = _row(engine, name)
    assert row.outcome is TaskOutcome.OK and row.next_run_at is None


def test_the_next_run_is_recorded_for_a_task_never_run(engine: Engine) -> None:
    name = _name()
    task_runs.record(engine, task_runs.scheduled, name=name, next_run_at=T0)
    row = _row(engine, name)
    assert (row.next_run_at, row.outcome, row.runs) == (T0, None, 0)
    with read_session(engine) as s:
        assert name in task_runs.all_runs(session=s)


def test_a_record_that_cannot_be_written_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nowhere = sa.create_engine("sqlite:////nonexistent-folder/none.db")
    with caplog.at_level(logging.ERROR, logger="dispatch.taskruns.service"):
        assert not task_runs.record(
            nowhere, task_runs.started, name="x", at=T0, next_run_at=None, runner="h:1"
        )
    assert "could not record started of task x" in caplog.text
    nowhere.dispose()


def test_a_skipped_run_counts_as_failed_and_shows_the_run_still_going(engine: Engine) -> None:
    """The scheduler skips a run while the previous one goes on: a failure in the counts, the
    row running since that run's start with the next run moved on; once that run's end is
    recorded, a skip reported late leaves the end as it is."""
    name = _name()
    at = [T0 + dt.timedelta(seconds=n) for n in range(12)]
    task_runs.record(
        engine,
        task_runs.finished,
        name=name,
        started_at=at[0],
        at=at[1],
        ok=True,
        summary="done",
        next_run_at=at[2],
        runner="h:1",
    )
    task_runs.record(
        engine, task_runs.skipped, name=name, running_since=at[2], next_run_at=at[4], runner="h:1"
    )
    row = _row(engine, name)
    assert (row.outcome, row.summary, row.runs, row.failures) == (
        TaskOutcome.RUNNING,
        task_runs.SKIPPED,
        2,
        1,
    )
    assert (row.last_started_at, row.next_run_at) == (at[2], at[4])
    task_runs.record(
        engine,
        task_runs.finished,
        name=name,
        started_at=at[2],
        at=at[5],
        ok=True,
        summary="done",
        next_run_at=at[6],
        runner="h:1",
    )
    task_runs.record(
        engine, task_runs.skipped, name=name, running_since=at[2], next_run_at=at[6], runner="h:1"
    )
    row = _row(engine, name)
    assert (row.outcome, row.summary, row.last_finished_at) == (TaskOutcome.OK, "done", at[5])
    assert (row.runs, row.failures) == (4, 2)


def test_a_record_waits_about_a_second_for_a_lock_then_is_dropped(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler's thread writes the record: a lock held long by another writer must not
    hold it for the database's usual 30 s (its two-second tasks would miss their grace)."""
    name = _name()
    task_runs.record(engine, task_runs.started, name=name, at=T0, next_run_at=None, runner="h:1")
    table = TaskRun.__table__  # type: ignore[attr-defined]
    with write_session(engine) as holder:  # SQLite: the write lock; PostgreSQL: the row's
        holder.execute(sa.update(table).where(table.c.name == name).values(summary="held"))
        began = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="dispatch.taskruns.service"):
            written = task_runs.record(
                engine,
                task_runs.finished,
                name=name,
                started_at=T0,
                at=T0,
                ok=True,
                summary="done",
                next_run_at=None,
                runner="h:1",
            )
        waited = time.monotonic() - began
    assert not written
    assert waited < 10 * task_runs.RECORD_WAIT_S  # not the 30 s a command waits
    assert f"dropped finished of task {name}: the database was locked" in caplog.text
    row = _row(engine, name)
    assert (row.summary, row.runs) == ("held", 0)  # the record was dropped, nothing half-done


def test_an_error_summary_masks_numbers_written_in_groups() -> None:
    def said(message: str) -> str:
        return task_runs.error_summary(ValueError(message))

    assert said("no citizen with 98765 43210") == "ValueError: no citizen with …"
    assert said("Aadhaar 1234 5678 9012 refused") == "ValueError: Aadhaar … refused"
    assert said("call +91-97971-23456 failed") == "ValueError: call +… failed"
    assert said("card 1234.5678.90 read") == "ValueError: card … read"
    assert said("3 of 7 days, 12 34 gone") == "ValueError: 3 of 7 days, 12 34 gone"  # 4 digits
    assert said("retry 2 of 3 in 45 s") == "ValueError: retry 2 of 3 in 45 s"


def test_the_summary_is_cut_to_one_short_line(engine: Engine) -> None:
    name = _name()
    task_runs.record(
        engine,
        task_runs.finished,
        name=name,
        started_at=T0,
        at=T0,
        ok=True,
        summary="x" * 500,
        next_run_at=None,
        runner="h:1",
    )
    assert len(_row(engine, name).summary) == task_runs.SUMMARY_CHARS


def test_the_loop_counts_the_states_changed_zone_days_from_today(session: Session) -> None:
    """Zone-days of 2045 (no other test plans then): one changed since its last improvement,
    one improved, one before the day asked about."""
    district = session.exec(select(District).where(District.code == "KLG")).one()
    day = dt.date(2045, 1, 10)
    session.add(ZonePlan(district_id=district.id or 0, day=day, version=3, improved_version=2))
    session.add(
        ZonePlan(
            district_id=district.id or 0,
            day=day + dt.timedelta(days=1),
            version=2,
            improved_version=2,
        )
    )
    session.add(
        ZonePlan(
            district_id=district.id or 0,
            day=day - dt.timedelta(days=1),
            version=5,
            improved_version=1,
            solve_claimed_at=T0,
        )
    )
    session.flush()
    timing = loop.Timing(lease_s=120)
    state = task_runs.loop_state(
        session=session,
        state_code="JK",
        today=day,
        now=T0 + dt.timedelta(seconds=30),
        timing=timing,
    )
    assert state.pending == 1
    assert state.held >= 1  # the lease taken at T0 is live 30 s later
    other = task_runs.loop_state(session=session, state_code="PB", today=day, now=T0, timing=timing)
    assert other.pending == 0 and other.held == 0  # J&K's solves are not Punjab's
