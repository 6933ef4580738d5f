"""The scheduler process: every task with the settings it was built with, the solvers never in
its threads; every run recorded from the scheduler's events through a real BackgroundScheduler
(a task that works, one that fails, one in a child process), the events' order not mattering,
the next runs recorded at start, a recorder that cannot write never stopping the scheduler, and
stopping it shutting the solve queue's processes down. Every database test runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from dispatch.db import read_session
from dispatch.processes import die_with_parent
from dispatch.taskruns import service as task_runs
from dispatch.taskruns.models import TaskOutcome, TaskRun
from web import solving
from web.worker import TASKS, RunRecorder, build_scheduler, record_runs, runner, stop_scheduler


def test_the_scheduler_has_every_task_and_gives_them_its_settings() -> None:
    settings = Settings(scheduler=True, database_url="sqlite:////nowhere/else.db")
    scheduler = build_scheduler(settings)
    assert {j.id for j in scheduler.get_jobs()} == {
        "zone-solves",
        "evening-plan",
        "replan-runs",
        "send-sms",
        "inform-agents",
        "set-off",
        "reminders",
        "feedback-calls",
        "deadlines",
        "fees-reconcile",
        "forget-answers",
        "retention-purge",
    }
    for job in scheduler.get_jobs():
        assert job.args == (settings,)  # not the environment's settings
        assert job.coalesce and job.max_instances == 1
    solves = scheduler.get_job("zone-solves")
    assert solves.func is solving.hand_out_solves_task and solves.executor == "default"
    assert solves.trigger.interval == dt.timedelta(seconds=2) and solves.misfire_grace_time == 10
    assert scheduler.get_job("evening-plan").func is solving.plan_tomorrow_task
    assert scheduler.get_job("replan-runs").executor == "solver"  # never in the threads
    assert scheduler.get_job("deadlines").trigger.interval == dt.timedelta(minutes=15)
    assert scheduler.get_job("fees-reconcile").trigger.interval == dt.timedelta(minutes=15)
    assert [t.id for t in TASKS] == [j.id for j in scheduler.get_jobs()]


# --- runs recorded through a real scheduler ---------------------------------------------------


def counted(n: int) -> int:
    """A task that did `n` things (module level: a child process imports it)."""
    return n


def broken() -> int:
    raise RuntimeError("the provider said no to +919797000001")


def held(until: threading.Event) -> int:
    """A task that runs until the test lets it end."""
    until.wait(30)
    return 1


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    pool = {"mp_context": multiprocessing.get_context("forkserver"), "initializer": die_with_parent}
    made = BackgroundScheduler(
        timezone="UTC",
        executors={
            "default": ThreadPoolExecutor(2),
            "solver": ProcessPoolExecutor(1, pool_kwargs=pool),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    yield made
    if made.running:
        made.shutdown(wait=True)


def _ran(scheduler: BackgroundScheduler, job_id: str, times: int = 1) -> threading.Event:
    """Set once `job_id` has ended `times` times (after the recorder, added first, wrote)."""
    ended = threading.Event()
    seen = [0]

    def listen(event: Any) -> None:
        if event.job_id == job_id:
            seen[0] += 1
            if seen[0] >= times:
                ended.set()

    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return ended


def _row(engine: Engine, name: str) -> TaskRun:
    with read_session(engine) as s:
        row = s.get(TaskRun, name)
        assert row is not None
        return row


def test_runs_that_work_and_fail_are_recorded_with_their_next_run(
    engine: Engine, scheduler: BackgroundScheduler
) -> None:
    good, bad = f"test-good-{uuid.uuid4().hex[:8]}", f"test-bad-{uuid.uuid4().hex[:8]}"
    record_runs(scheduler, lambda: engine)
    scheduler.add_job(counted, "interval", seconds=0.2, args=[3], id=good)
    scheduler.add_job(broken, "interval", seconds=0.2, id=bad)
    good_ran, bad_ran = _ran(scheduler, good, times=2), _ran(scheduler, bad, times=2)
    scheduler.start()
    assert good_ran.wait(20) and bad_ran.wait(20)
    scheduler.shutdown(wait=True)

    ok = _row(engine, good)
    assert ok.outcome is TaskOutcome.OK and ok.summary == "3 done"
    assert ok.runs >= 2 and ok.failures == 0 and ok.runner == runner()
    assert ok.last_started_at is not None and ok.last_finished_at is not None
    assert ok.last_started_at <= ok.last_finished_at
    assert ok.last_duration_s is not None and ok.last_duration_s >= 0
    assert ok.next_run_at is not None and ok.next_run_at > ok.last_started_at
    failed = _row(engine, bad)
    assert failed.outcome is TaskOutcome.FAILED and failed.failures == failed.runs >= 2
    assert failed.summary == "RuntimeError: the provider said no to +…"  # no number kept


def test_a_run_in_a_child_process_is_recorded_by_the_scheduler_process(
    engine: Engine, scheduler: BackgroundScheduler
) -> None:
    name = f"test-child-{uuid.uuid4().hex[:8]}"
    record_runs(scheduler, lambda: engine)
    scheduler.add_job(counted, "interval", seconds=0.5, args=[7], id=name, executor="solver")
    ran = _ran(scheduler, name)
    scheduler.start()
    assert ran.wait(60)
    scheduler.shutdown(wait=True)
    row = _row(engine, name)
    assert (row.outcome, row.summary, row.runner) == (TaskOutcome.OK, "7 done", runner())


def _on(scheduler: BackgroundScheduler, job_id: str, codes: int) -> threading.Event:
    """Set on the first of `codes`' events of `job_id` (after the recorder, added first)."""
    seen = threading.Event()
    scheduler.add_listener(lambda e: seen.set() if e.job_id == job_id else None, codes)
    return seen


def test_a_run_longer_than_its_interval_has_its_next_run_recorded_as_it_starts(
    engine: Engine, scheduler: BackgroundScheduler
) -> None:
    """The scheduler moves the next run on before it reports the submission: the start records
    it, so a run going on past its interval is not taken for a stopped scheduler."""
    name = f"test-long-{uuid.uuid4().hex[:8]}"
    release = threading.Event()
    record_runs(scheduler, lambda: engine)
    now = dt.datetime.now(dt.UTC)
    scheduler.add_job(held, "interval", minutes=5, args=[release], id=name, next_run_time=now)
    submitted = _on(scheduler, name, EVENT_JOB_SUBMITTED)
    ended = _ran(scheduler, name)
    scheduler.start()
    try:
        assert submitted.wait(20)
        row = _row(engine, name)
        assert row.outcome is TaskOutcome.RUNNING and row.last_started_at is not None
        assert row.next_run_at == scheduler.get_job(name).next_run_time
        assert row.next_run_at is not None and row.next_run_at > row.last_started_at
    finally:
        release.set()
    assert ended.wait(20)


def test_a_run_skipped_while_the_previous_one_goes_on_is_recorded(
    engine: Engine, scheduler: BackgroundScheduler
) -> None:
    """A frequent task (its start is not written) held past its interval: the scheduler skips
    its next runs; each counts as failed and the row shows the run going on."""
    name = f"test-skip-{uuid.uuid4().hex[:8]}"
    release = threading.Event()
    record_runs(scheduler, lambda: engine)
    scheduler.add_job(held, "interval", seconds=0.2, args=[release], id=name)
    skipped = _on(scheduler, name, EVENT_JOB_MAX_INSTANCES)
    ended = _ran(scheduler, name)
    scheduler.start()
    try:
        assert skipped.wait(20)
        row = _row(engine, name)
        assert (row.outcome, row.summary) == (TaskOutcome.RUNNING, task_runs.SKIPPED)
        assert row.failures >= 1 and row.runs == row.failures  # the held run has not ended
        assert row.last_started_at is not None and row.next_run_at is not None
        assert row.next_run_at > row.last_started_at
    finally:
        release.set()
    # Ended (and recorded) before the fixture's shutdown(wait=True): APScheduler joins its
    # threads holding the job store's lock, which the recorder of an ending run asks for.
    assert ended.wait(20)


def test_the_next_runs_are_recorded_when_the_scheduler_starts(
    engine: Engine, scheduler: BackgroundScheduler
) -> None:
    name = f"test-later-{uuid.uuid4().hex[:8]}"
    record_runs(scheduler, lambda: engine)
    scheduler.add_job(counted, "interval", hours=1, args=[1], id=name)
    scheduler.start(paused=True)
    job = scheduler.get_job(name)
    row = _row(engine, name)
    assert row.next_run_at == job.next_run_time and row.runs == 0 and row.outcome is None


class _Jobs:
    """A scheduler as the recorder sees it: its jobs' next runs."""

    def __init__(self, next_run: dt.datetime, every: dt.timedelta | None = None) -> None:
        self.next_run = next_run
        self.every = every

    def get_job(self, job_id: str) -> Any:
        trigger = type("Trigger", (), {"interval": self.every})()
        return type("Job", (), {"id": job_id, "next_run_time": self.next_run, "trigger": trigger})()

    def get_jobs(self) -> list[Any]:
        return []


def test_a_run_that_ends_before_its_submission_is_reported_stays_ended(engine: Engine) -> None:
    """The submitting thread reports after submitting: a quick run's end can come first."""
    name = f"test-quick-{uuid.uuid4().hex[:8]}"
    due = dt.datetime.now(dt.UTC)
    recorder = RunRecorder(_Jobs(due + dt.timedelta(seconds=2)), lambda: engine)  # type: ignore[arg-type]
    recorder(JobExecutionEvent(EVENT_JOB_EXECUTED, name, "default", due, retval=2))
    recorder(JobSubmissionEvent(EVENT_JOB_SUBMITTED, name, "default", [due]))
    row = _row(engine, name)
    assert (row.outcome, row.runs, row.last_started_at) == (TaskOutcome.OK, 1, due)
    # The next run, in the usual order, is recorded running, then ended.
    recorder(JobSubmissionEvent(EVENT_JOB_SUBMITTED, name, "default", [due]))
    assert _row(engine, name).outcome is TaskOutcome.RUNNING
    recorder(JobExecutionEvent(EVENT_JOB_ERROR, name, "default", due, exception=KeyError("k")))
    row = _row(engine, name)
    assert (row.outcome, row.runs, row.failures, row.summary) == (
        TaskOutcome.FAILED,
        2,
        1,
        "KeyError: 'k'",
    )


def test_a_frequent_task_is_written_once_a_run_when_it_ends(engine: Engine) -> None:
    """The loop's two-second tasks would otherwise cost two writes a run."""
    name = f"test-often-{uuid.uuid4().hex[:8]}"
    due = dt.datetime.now(dt.UTC)
    jobs = _Jobs(due + dt.timedelta(seconds=2), every=dt.timedelta(seconds=2))
    recorder = RunRecorder(jobs, lambda: engine)  # type: ignore[arg-type]
    recorder(JobSubmissionEvent(EVENT_JOB_SUBMITTED, name, "default", [due]))
    with read_session(engine) as session:
        assert session.get(TaskRun, name) is None
    recorder(JobExecutionEvent(EVENT_JOB_EXECUTED, name, "default", due, retval=3))
    row = _row(engine, name)
    assert (row.outcome, row.runs) == (TaskOutcome.OK, 1)
    assert row.last_started_at is not None and row.last_started_at >= due


def test_a_recorder_that_cannot_reach_its_database_never_stops_the_scheduler(
    scheduler: BackgroundScheduler,
) -> None:
    def no_database() -> Engine:
        raise ConnectionError("database away")

    record_runs(scheduler, no_database)
    name = f"test-away-{uuid.uuid4().hex[:8]}"
    scheduler.add_job(counted, "interval", seconds=0.2, args=[1], id=name)
    ran = _ran(scheduler, name, times=2)
    scheduler.start()
    assert ran.wait(20)  # ran again after the first failed record


def test_stopping_the_scheduler_shuts_the_solve_queue_down(engine: Engine) -> None:
    settings = Settings(scheduler=True, database_url="sqlite://")
    scheduler = build_scheduler(settings, engine=engine)
    scheduler.start(paused=True)
    queue = solving.queue_for(settings)
    assert isinstance(queue, solving.LocalProcesses)
    stop_scheduler(scheduler)
    with pytest.raises(RuntimeError):  # no new solve is taken
        queue.pool.submit(counted, 1)
    again = solving.queue_for(settings)
    assert again is not queue  # a later start makes a new one
    assert isinstance(again, solving.LocalProcesses)
    again.shutdown()


def test_stopping_a_scheduler_that_made_no_solve_queue_makes_none(engine: Engine) -> None:
    settings = Settings(scheduler=True, database_url="sqlite://")
    scheduler = build_scheduler(settings, engine=engine)
    scheduler.start(paused=True)
    stop_scheduler(scheduler)
    assert id(settings) not in solving._queues


def test_slow_tasks_run_first_soon_after_a_start_not_an_interval_later(engine: Engine) -> None:
    from web.worker import FIRST_RUN_AFTER_S

    settings = Settings(scheduler=True, database_url="sqlite://")
    scheduler = build_scheduler(settings, engine=engine)
    scheduler.start(paused=True)
    try:
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=FIRST_RUN_AFTER_S + len(TASKS))
        slow = [task for task in TASKS if task.every_s >= 60]
        assert {t.id for t in slow} >= {"deadlines", "fees-reconcile", "reminders"}
        for task in slow:
            job = scheduler.get_job(task.id)
            assert job is not None and job.next_run_time is not None
            assert job.next_run_time <= soon, task.id
    finally:
        stop_scheduler(scheduler)
