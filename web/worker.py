"""The scheduler: the one process that runs Doorstep's scheduled tasks (APScheduler 3).

`make run` embeds it in the web process (`create_app` starts it in the app's lifespan); a
deployment with several web processes runs `doorstep worker` once instead and sets
DOORSTEP_SCHEDULER=false for the web. Should two start anyway, only the one holding the
scheduler's lease runs its tasks; the other stands by (`web.scheduler_lease`). Every task is
given the settings the scheduler was built with (never the environment's), and opens its engine
from them. The tasks are plain functions of `dispatch` (idempotent, one unit per transaction,
carrying on past a failed unit); `TASKS` says which, how often, and their names for
supervisors.

The solver holds the GIL, so no solve runs in this process's threads: `zone-solves` (every two
seconds: the zone-days whose changes have settled) and `evening-plan` (tomorrow's full plan of
every zone, once each evening) only hand zone-days to the solve queue (`web.solving`: a pool of
child processes by default), and the dispatchers' queued re-plan runs go to the scheduler's own
child process (`replan-runs`). Those children end with their parent however it ends
(`dispatch.processes.die_with_parent`); `stop_scheduler` shuts both pools down (or the
broker's connection, when zone solves go to solver machines).

Every run is recorded for supervisors (`dispatch.taskruns`, the `/tasks` page) by listening to
the scheduler's events — submitted, executed, failed, missed, skipped because the previous run
was still going — so runs in child processes are recorded too, by this process; each job's next
run is recorded when the scheduler starts and with each run. Recording never stops a task, nor
holds the scheduler's thread for more than about a second: a record that cannot be written in
time is logged and dropped (`dispatch.taskruns.service.record`).
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_STARTED,
)
from apscheduler.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from sqlalchemy.engine import Engine

from dispatch import scheduled
from dispatch.alerts import deadlines, fees
from dispatch.clock import clock_for
from dispatch.config import Settings, get_settings
from dispatch.db import engine_for
from dispatch.fieldwork import tasks as field_tasks
from dispatch.processes import die_with_parent
from dispatch.retention import service as retention
from dispatch.taskruns import service as task_runs
from web import solving
from web.scheduler_lease import LeaseKeeper

log = logging.getLogger(__name__)


# --- the tasks ---------------------------------------------------------------------------------


def replan_runs_task(settings: Settings) -> int:
    """Scheduled task: the dispatchers' queued re-plans (runs in a solver child process)."""
    finished = scheduled.run_replans(
        engine=engine_for(settings.database_url), solver_engine=settings.solver_engine
    )
    for run in finished:
        log.info(
            "re-plan run %s of district %s on %s: %s", run.id, run.district_id, run.day, run.status
        )
    return len(finished)


def send_sms_task(settings: Settings) -> int:
    """Scheduled task: send what is left in the SMS outbox."""
    from ivr.deps import make_sms_sender

    return scheduled.send_pending_sms(
        engine=engine_for(settings.database_url),
        sender=make_sms_sender(settings),
        now=clock_for(settings).now(),
    )


def forget_answers_task(settings: Settings) -> int:
    """Scheduled task: drop stored IVR answers older than a day."""
    return scheduled.forget_call_answers(
        engine=engine_for(settings.database_url),
        before=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )


def inform_agents_task(settings: Settings) -> int:
    """Scheduled task: agents' itineraries from the morning hour on, then their changes."""
    return len(
        field_tasks.inform_agents(
            engine=engine_for(settings.database_url),
            settings=settings,
            now=clock_for(settings).now(),
        )
    )


def set_off_task(settings: Settings) -> int:
    """Scheduled task: "on the way" for the first visit of an agent's day."""
    return len(
        field_tasks.set_off_due(
            engine=engine_for(settings.database_url),
            settings=settings,
            now=clock_for(settings).now(),
        )
    )


def reminders_task(settings: Settings) -> int:
    """Scheduled task: the day-before reminders, from the evening hour on."""
    return len(
        field_tasks.send_reminders(
            engine=engine_for(settings.database_url),
            settings=settings,
            now=clock_for(settings).now(),
        )
    )


def feedback_calls_task(settings: Settings) -> int:
    """Scheduled task: a call to citizens who left a feedback request unanswered."""
    from ivr.deps import make_call_placer

    return field_tasks.place_feedback_calls(
        engine=engine_for(settings.database_url),
        settings=settings,
        placer=make_call_placer(settings),
        now=clock_for(settings).now(),
    )


def deadlines_task(settings: Settings) -> int:
    """Scheduled task: legal time limits near, reached (escalated) or passed (appeal)."""
    return len(
        deadlines.check_deadlines(
            engine=engine_for(settings.database_url),
            settings=settings,
            now=clock_for(settings).now(),
        )
    )


def fees_reconcile_task(settings: Settings) -> int:
    """Scheduled task: yesterday's fees reconciled, once a day per state from the set hour
    (and a day a stopped scheduler missed, caught up)."""
    return len(
        fees.reconcile_due_days(
            engine=engine_for(settings.database_url),
            settings=settings,
            now=clock_for(settings).now(),
        )
    )


@dataclass(frozen=True)
class Task:
    """A scheduled task: its id, its name for supervisors, what it runs every how many
    seconds, what its count means ("{n} SMS sent"), and where it runs."""

    id: str
    name: str
    run: Callable[[Settings], int]
    every_s: int
    done: str
    executor: str = "default"
    #: A run this late still runs (None: the scheduler's default, `MISFIRE_GRACE_S`).
    grace_s: int | None = None


#: After a start, tasks that run a minute apart or more run first this soon.
FIRST_RUN_AFTER_S = 10
#: A run that could not start on time (the process was busy, or asleep) still runs this late.
MISFIRE_GRACE_S = 300
#: How often the dispatch loop and the dispatchers' queued re-plans are looked for (the console
#: polls a run's progress).
LOOP_EVERY_S = 2
TASKS: tuple[Task, ...] = (
    Task(
        "zone-solves",
        "Re-plans of changed zones",
        solving.hand_out_solves_task,
        LOOP_EVERY_S,
        "{n} zone-days handed to the solvers",
        grace_s=10,
    ),
    Task(
        "replan-runs",
        "Dispatchers' re-plan runs",
        replan_runs_task,
        LOOP_EVERY_S,
        "{n} runs finished",
        executor="solver",
        grace_s=10,
    ),
    Task(
        "evening-plan",
        "Tomorrow's plan (evening)",
        solving.plan_tomorrow_task,
        300,
        "{n} zone-days handed to the solvers",
    ),
    Task("send-sms", "SMS outbox sender", send_sms_task, 30, "{n} SMS sent"),
    Task("inform-agents", "Agents' itineraries", inform_agents_task, 60, "{n} SMS queued"),
    Task("set-off", "“On the way” notices", set_off_task, 120, "{n} SMS queued"),
    Task("reminders", "Reminders the day before", reminders_task, 600, "{n} SMS queued"),
    Task(
        "feedback-calls", "Feedback follow-up calls", feedback_calls_task, 900, "{n} calls placed"
    ),
    Task("deadlines", "Legal time limits", deadlines_task, 900, "{n} alerts raised"),
    Task(
        "fees-reconcile",
        "Yesterday's fees reconciled",
        fees_reconcile_task,
        900,
        "{n} alerts raised",
    ),
    Task("forget-answers", "Old phone answers forgotten", forget_answers_task, 3600, "{n} dropped"),
    Task("retention-purge", "Old personal data purged", retention.purge_task, 3600, "{n} purged"),
)
TASK_BY_ID = {task.id: task for task in TASKS}


def build_scheduler(settings: Settings, *, engine: Engine | None = None) -> BackgroundScheduler:
    """A scheduler running `TASKS` with `settings`, recording their runs in `engine` (else
    the settings' database); not started. `UnsafeSettings` if production settings hold
    development defaults."""
    settings.refuse_unsafe()
    context = multiprocessing.get_context("forkserver")
    pool = {"mp_context": context, "initializer": die_with_parent}
    scheduler = BackgroundScheduler(
        timezone="UTC",
        executors={
            # Four threads: the loop's two-second task must not wait behind slow ones (an
            # SMS provider's latency, a big state's time limits) past its grace.
            "default": ThreadPoolExecutor(4),
            # One child: only `replan-runs` runs there, one run at a time.
            "solver": ProcessPoolExecutor(1, pool_kwargs=pool),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
    )
    start = dt.datetime.now(dt.UTC)
    for order, task in enumerate(TASKS):
        # A slow task's first run comes soon after the start (staggered), not a whole
        # interval later: a restart must not leave time limits unwatched for 15 minutes.
        first = start + dt.timedelta(seconds=FIRST_RUN_AFTER_S + order)
        scheduler.add_job(
            task.run,
            "interval",
            seconds=task.every_s,
            args=[settings],
            id=task.id,
            name=task.name,
            executor=task.executor,
            replace_existing=True,
            **({"next_run_time": first} if task.every_s >= FREQUENT.total_seconds() else {}),
            # Said here, not only as defaults: a job added before the start has no defaults.
            coalesce=True,
            max_instances=1,
            misfire_grace_time=task.grace_s or MISFIRE_GRACE_S,
        )
    # The engine is opened on the first event, not here: building a scheduler connects to
    # nothing.
    record_runs(scheduler, lambda: engine or engine_for(settings.database_url))
    return scheduler


# --- the record of runs ------------------------------------------------------------------------

RECORDED = (
    EVENT_JOB_SUBMITTED
    | EVENT_JOB_EXECUTED
    | EVENT_JOB_ERROR
    | EVENT_JOB_MISSED
    | EVENT_JOB_MAX_INSTANCES
    | EVENT_SCHEDULER_STARTED
)


def runner() -> str:
    """This scheduler process, as the record names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


#: Tasks run more often than this get their run written once, when it ends.
FREQUENT = dt.timedelta(minutes=1)


class RunRecorder:
    """Keeps `task_run` up to date from the scheduler's events.

    A job's run is submitted by the scheduler's thread and ends in an executor's thread (or,
    for a child process, the thread that collects its result); the "submitted" event is
    dispatched after the submission, so a quick run may end first. The start is therefore kept
    here, under a lock: the end takes it (or, when it came first, the scheduled time, and tells
    the late "submitted" to write nothing)."""

    def __init__(self, scheduler: BackgroundScheduler, engine: Callable[[], Engine]) -> None:
        self.scheduler = scheduler
        self.engine_of = engine
        self.runner = runner()
        self._lock = threading.Lock()
        self._started: dict[str, dt.datetime] = {}
        self._ended_first: set[str] = set()

    def __call__(self, event: Any) -> None:
        try:
            if event.code == EVENT_SCHEDULER_STARTED:
                self.scheduler_started()
            elif event.code == EVENT_JOB_SUBMITTED:
                self.submitted(event.job_id)
            elif event.code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR):
                self.ended(event)
            elif event.code == EVENT_JOB_MISSED:
                self.missed(event)
            elif event.code == EVENT_JOB_MAX_INSTANCES:
                self.skipped(event.job_id)
        except Exception:  # a listener's failure must never reach the scheduler
            log.exception("could not record the scheduler's event %s", event)

    def _next_run(self, job_id: str) -> dt.datetime | None:
        if getattr(self.scheduler, "state", None) == STATE_STOPPED:
            return None  # shutting down: its job store's lock may be held while it waits
        job = self.scheduler.get_job(job_id)
        when: dt.datetime | None = job.next_run_time if job is not None else None
        return when

    def scheduler_started(self) -> None:
        for job in self.scheduler.get_jobs():
            task_runs.record(
                self.engine_of(), task_runs.scheduled, name=job.id, next_run_at=job.next_run_time
            )

    def submitted(self, job_id: str) -> None:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            if job_id in self._ended_first:
                self._ended_first.discard(job_id)
                return
            self._started[job_id] = now
        if self._frequent(job_id):
            return  # its end is written in a moment: one write a run, not two, every 2 s
        # The scheduler has moved the job's next run on before it reports the submission: a
        # run longer than its interval is then not "overdue" on the page.
        task_runs.record(
            self.engine_of(),
            task_runs.started,
            name=job_id,
            at=now,
            next_run_at=self._next_run(job_id),
            runner=self.runner,
        )

    def skipped(self, job_id: str) -> None:
        """A run not started because the previous one is still going (`max_instances`):
        counted as failed, the one going shown running."""
        with self._lock:
            running_since = self._started.get(job_id)
        task_runs.record(
            self.engine_of(),
            task_runs.skipped,
            name=job_id,
            running_since=running_since,
            next_run_at=self._next_run(job_id),
            runner=self.runner,
        )

    def _frequent(self, job_id: str) -> bool:
        job = self.scheduler.get_job(job_id)
        interval = getattr(getattr(job, "trigger", None), "interval", None)
        return isinstance(interval, dt.timedelta) and interval < FREQUENT

    def _start_of(self, event: Any) -> dt.datetime:
        with self._lock:
            start = self._started.pop(event.job_id, None)
            if start is None:
                self._ended_first.add(event.job_id)
        scheduled_at: dt.datetime = event.scheduled_run_time
        return start or scheduled_at.astimezone(dt.UTC)

    def ended(self, event: Any) -> None:
        start = self._start_of(event)
        ok = event.code == EVENT_JOB_EXECUTED
        task_runs.record(
            self.engine_of(),
            task_runs.finished,
            name=event.job_id,
            started_at=start,
            at=dt.datetime.now(dt.UTC),
            ok=ok,
            summary=_summary(event.job_id, event.retval)
            if ok
            else task_runs.error_summary(event.exception),
            next_run_at=self._next_run(event.job_id),
            runner=self.runner,
        )

    def missed(self, event: Any) -> None:
        """A run that started too late (past its grace) did not run: counted as failed."""
        start = self._start_of(event)
        due: dt.datetime = event.scheduled_run_time
        task_runs.record(
            self.engine_of(),
            task_runs.finished,
            name=event.job_id,
            started_at=start,
            at=start,
            ok=False,
            summary=f"Missed: the run due at {due.astimezone(dt.UTC):%H:%M:%S} UTC came too late",
            next_run_at=self._next_run(event.job_id),
            runner=self.runner,
        )


def _summary(job_id: str, retval: object) -> str:
    task = TASK_BY_ID.get(job_id)
    if isinstance(retval, int) and task is not None:
        return task.done.format(n=retval)
    return "done" if retval is None else f"{retval} done"


def record_runs(scheduler: BackgroundScheduler, engine: Callable[[], Engine]) -> RunRecorder:
    """Record every run of `scheduler`'s jobs in the database `engine()` gives
    (`dispatch.taskruns`)."""
    recorder = RunRecorder(scheduler, engine)
    scheduler.add_listener(recorder, RECORDED)
    return recorder


# --- stopping ---------------------------------------------------------------------------------


_keepers: dict[int, LeaseKeeper] = {}


def start_scheduler(
    scheduler: BackgroundScheduler, settings: Settings, *, engine: Engine | None = None
) -> LeaseKeeper:
    """Start the scheduler as the one scheduler: it runs its tasks while this process holds
    the scheduler's lease, and stands by (paused) while another process does
    (`web.scheduler_lease`)."""
    keeper = LeaseKeeper(scheduler, lambda: engine or engine_for(settings.database_url), runner())
    _keepers[id(scheduler)] = keeper
    keeper.start()
    return keeper


def stop_scheduler(scheduler: BackgroundScheduler) -> None:
    """Stop the scheduler: nothing new starts; a re-plan run already running ends within its
    time limit before the process exits, and zone solves handed out and not started are
    dropped (their leases lapse and they are handed out again). No child outlives the
    process, even one killed outright (`die_with_parent`). The scheduler's lease is given up,
    so a scheduler standing by takes over at once."""
    made = {id(job.args[0]): job.args[0] for job in scheduler.get_jobs() if job.args}
    keeper = _keepers.pop(id(scheduler), None)
    if keeper is not None:
        keeper.stop()
    scheduler.shutdown(wait=False)
    for settings in made.values():
        _stop_solvers(settings)


def _stop_solvers(settings: Settings) -> None:
    """Shut down the solve queue of `settings` (this machine's processes, or the broker's
    connection), only if a task made one."""
    # web.solving makes its queue on first use and has no "stop" of its own yet.
    queue = solving._queues.pop(id(settings), None)
    if isinstance(queue, solving.LocalProcesses | solving.DramatiqQueue):
        queue.shutdown()


def run_forever(settings: Settings | None = None) -> None:
    """`doorstep worker`: run the scheduler until SIGTERM or Ctrl-C."""
    settings = settings or get_settings()
    scheduler = build_scheduler(settings)
    start_scheduler(scheduler, settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("scheduler running: %s", [j.id for j in scheduler.get_jobs()])
    stop.wait()
    stop_scheduler(scheduler)
