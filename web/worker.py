"""The scheduler: the one process that runs Doorstep's scheduled tasks (APScheduler 3).

`make run` embeds it in the web process (`create_app` starts it in the app's lifespan); a
deployment with several web processes runs `doorstep worker` once instead and sets
DOORSTEP_SCHEDULER=false for the web. The solver holds the GIL, so plan improvement and the
dispatchers' re-plan runs go to child processes (forkserver; two, so a dispatcher's run does
not wait behind the scheduled improvement), never the web process's threads; those children
end with their parent however the parent ends (`dispatch.processes.die_with_parent`). Every
task is given the settings the scheduler was built with (never the environment's), and opens
its engine from them.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import signal
import threading
from functools import lru_cache

from apscheduler.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from dispatch import scheduled
from dispatch.clock import clock_for
from dispatch.config import Settings, get_settings
from dispatch.db import make_engine
from dispatch.fieldwork import tasks as field_tasks
from dispatch.processes import die_with_parent

log = logging.getLogger(__name__)
IMPROVE_EVERY_S = 60
#: How often queued re-plan runs are looked for (the console polls their progress).
REPLAN_RUNS_EVERY_S = 2


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


def improve_plans_task(settings: Settings) -> int:
    """Scheduled task: improve changed plans (runs in the solver child process)."""
    today = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    outcomes = scheduled.improve_plans(
        engine=_engine(settings.database_url),
        today=today,
        time_limit_s=settings.replan_seconds,
        solver_engine=settings.solver_engine,
    )
    for o in outcomes:
        log.info(
            "improved district %s on %s: v%s, %s assigned, %s left, %.2f s",
            o.district_id,
            o.day,
            o.version,
            o.assigned,
            o.unassigned,
            o.wall_s,
        )
    return len(outcomes)


def replan_runs_task(settings: Settings) -> int:
    """Scheduled task: the dispatchers' queued re-plans (runs in a solver child process)."""
    finished = scheduled.run_replans(
        engine=_engine(settings.database_url), solver_engine=settings.solver_engine
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
        engine=_engine(settings.database_url),
        sender=make_sms_sender(settings),
        now=clock_for(settings).now(),
    )


def forget_answers_task(settings: Settings) -> int:
    """Scheduled task: drop stored IVR answers older than a day."""
    return scheduled.forget_call_answers(
        engine=_engine(settings.database_url),
        before=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )


def inform_agents_task(settings: Settings) -> int:
    """Scheduled task: agents' itineraries from the morning hour on, then their changes."""
    return len(
        field_tasks.inform_agents(
            engine=_engine(settings.database_url), settings=settings, now=clock_for(settings).now()
        )
    )


def set_off_task(settings: Settings) -> int:
    """Scheduled task: "on the way" for the first visit of an agent's day."""
    return len(
        field_tasks.set_off_due(
            engine=_engine(settings.database_url), settings=settings, now=clock_for(settings).now()
        )
    )


def reminders_task(settings: Settings) -> int:
    """Scheduled task: the day-before reminders, from the evening hour on."""
    return len(
        field_tasks.send_reminders(
            engine=_engine(settings.database_url), settings=settings, now=clock_for(settings).now()
        )
    )


def feedback_calls_task(settings: Settings) -> int:
    """Scheduled task: a call to citizens who left a feedback request unanswered."""
    from ivr.deps import make_call_placer

    return field_tasks.place_feedback_calls(
        engine=_engine(settings.database_url),
        settings=settings,
        placer=make_call_placer(settings),
        now=clock_for(settings).now(),
    )


#: Field work's tasks and how often they run (each makes up for a missed run by itself).
FIELD_TASKS = (
    (inform_agents_task, 60),
    (set_off_task, 120),
    (reminders_task, 600),
    (feedback_calls_task, 900),
)


def build_scheduler(settings: Settings) -> BackgroundScheduler:
    """A scheduler running the tasks with `settings`; not started. `UnsafeSettings` if
    production settings hold development defaults."""
    settings.refuse_unsafe()
    context = multiprocessing.get_context("forkserver")
    pool = {"mp_context": context, "initializer": die_with_parent}
    scheduler = BackgroundScheduler(
        timezone="UTC",
        executors={
            "default": ThreadPoolExecutor(2),
            "solver": ProcessPoolExecutor(2, pool_kwargs=pool),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    scheduler.add_job(
        improve_plans_task,
        "interval",
        seconds=IMPROVE_EVERY_S,
        args=[settings],
        id="improve-plans",
        executor="solver",
        replace_existing=True,
    )
    scheduler.add_job(
        replan_runs_task,
        "interval",
        seconds=REPLAN_RUNS_EVERY_S,
        args=[settings],
        id="replan-runs",
        executor="solver",
        replace_existing=True,
        misfire_grace_time=REPLAN_RUNS_EVERY_S * 5,
    )
    scheduler.add_job(
        send_sms_task, "interval", seconds=30, args=[settings], id="send-sms", replace_existing=True
    )
    for task, every_s in FIELD_TASKS:
        scheduler.add_job(
            task,
            "interval",
            seconds=every_s,
            args=[settings],
            id=task.__name__.removesuffix("_task").replace("_", "-"),
            replace_existing=True,
        )
    scheduler.add_job(
        forget_answers_task,
        "interval",
        hours=1,
        args=[settings],
        id="forget-answers",
        replace_existing=True,
    )
    return scheduler


def stop_scheduler(scheduler: BackgroundScheduler) -> None:
    """Stop the scheduler: nothing new starts, and a plan improvement already running ends
    within its time limit (`replan_seconds`) before the process exits. Its child never
    outlives the process, even one killed outright (`die_with_parent`)."""
    scheduler.shutdown(wait=False)


def run_forever(settings: Settings | None = None) -> None:
    """`doorstep worker`: run the scheduler until SIGTERM or Ctrl-C."""
    scheduler = build_scheduler(settings or get_settings())
    scheduler.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("scheduler running: %s", [j.id for j in scheduler.get_jobs()])
    stop.wait()
    stop_scheduler(scheduler)
