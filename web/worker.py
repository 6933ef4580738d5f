"""The scheduler: the one process that runs Doorstep's scheduled tasks (APScheduler 3).

`make run` embeds it in the web process (`start_in_process`); a deployment with several web
processes runs `doorstep worker` once instead and sets DOORSTEP_SCHEDULER=false for the web.
The solver holds the GIL, so plan improvement runs in a child process (forkserver), never in
the web process's threads. Tasks take plain values and open their own engine.
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
from dispatch.config import Settings, get_settings
from dispatch.db import make_engine

log = logging.getLogger(__name__)
IMPROVE_EVERY_S = 60


@lru_cache(maxsize=1)
def _engine(url: str) -> Engine:
    return make_engine(url)


def improve_plans_task() -> int:
    """Scheduled task: improve changed plans (runs in the solver child process)."""
    settings = get_settings()
    today = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    outcomes = scheduled.improve_plans(
        engine=_engine(settings.database_url),
        today=today,
        time_limit_s=settings.replan_seconds,
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


def send_sms_task() -> int:
    """Scheduled task: send what is left in the SMS outbox."""
    from ivr.deps import make_sms_sender

    settings = get_settings()
    return scheduled.send_pending_sms(
        engine=_engine(settings.database_url),
        sender=make_sms_sender(settings),
        now=dt.datetime.now(dt.UTC),
    )


def forget_answers_task() -> int:
    """Scheduled task: drop stored IVR answers older than a day."""
    settings = get_settings()
    return scheduled.forget_call_answers(
        engine=_engine(settings.database_url),
        before=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )


def build_scheduler(settings: Settings) -> BackgroundScheduler:
    """A scheduler with the plan-improvement task; not started."""
    context = multiprocessing.get_context("forkserver")
    scheduler = BackgroundScheduler(
        timezone="UTC",
        executors={
            "default": ThreadPoolExecutor(2),
            "solver": ProcessPoolExecutor(1, pool_kwargs={"mp_context": context}),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    scheduler.add_job(
        improve_plans_task,
        "interval",
        seconds=IMPROVE_EVERY_S,
        id="improve-plans",
        executor="solver",
        replace_existing=True,
    )
    scheduler.add_job(send_sms_task, "interval", seconds=30, id="send-sms", replace_existing=True)
    scheduler.add_job(
        forget_answers_task, "interval", hours=1, id="forget-answers", replace_existing=True
    )
    return scheduler


def run_forever(settings: Settings | None = None) -> None:
    """`doorstep worker`: run the scheduler until interrupted."""
    scheduler = build_scheduler(settings or get_settings())
    scheduler.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("scheduler running: %s", [j.id for j in scheduler.get_jobs()])
    stop.wait()
    scheduler.shutdown(wait=False)
