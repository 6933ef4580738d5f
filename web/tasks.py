"""The scheduled tasks' page (permission: supervise): `GET /tasks`.

Each task the scheduler runs (`web.worker.TASKS`, in that order), by its name: how often it
runs, its last run (started, in the state's local time, with seconds), how long it took, how it
ended and what it did ("3 SMS sent", or the error's one line), its next run, and its runs and
failures since it was first recorded; then which scheduler process made the latest run. A next
run more than a minute in the past is marked overdue (the scheduler is not running, or is
stuck) unless the task's run is still going: a run longer than its interval is not overdue
(the scheduler records the next run as each run starts, and skips runs while one is going).
Below, the dispatch loop: the state's zone-days waiting for a re-plan (their plan changed since
the solver last improved it, from today on), and its zone-days a live solve holds now.

Times here are the machine's, not the product's clock (the scheduler runs on real time, even
when a demonstration moves the product's clock).

Not here: recording the runs (`web.worker`, `dispatch.taskruns`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from dispatch.states import service as state_service
from dispatch.taskruns import service as task_runs
from dispatch.taskruns.models import TaskOutcome, TaskRun
from dispatch.visits import replan
from web.auth import Supervisor
from web.deps import ReadSessionDep, SettingsDep
from web.templating import templates
from web.worker import TASKS, Task

router = APIRouter()
#: A next run this far in the past is overdue (the scheduler would have run it by now).
OVERDUE_AFTER = dt.timedelta(minutes=1)


def every(seconds: int) -> str:
    """ "every 2 s", "every 15 min", "hourly"."""
    if seconds == 3600:
        return "hourly"
    if seconds % 3600 == 0:
        return f"every {seconds // 3600} h"
    if seconds % 60 == 0:
        return f"every {seconds // 60} min"
    return f"every {seconds} s"


def duration(seconds: float | None) -> str:
    """ "0.04 s", "2.3 s", "3 min 4 s"."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


@dataclass(frozen=True)
class LocalClock:
    """UTC times in the state's zone, to the second (tasks run every few seconds)."""

    tz: ZoneInfo

    def at(self, when: dt.datetime | None) -> str:
        return f"{when.astimezone(self.tz):%a %d %b, %H:%M:%S}" if when else "—"


@dataclass(frozen=True)
class TaskRow:
    task: Task
    run: TaskRun | None
    overdue: bool

    @property
    def every(self) -> str:
        return every(self.task.every_s)

    @property
    def outcome(self) -> str:
        """ok, failed, running, or never (not run yet)."""
        if self.run is None or self.run.outcome is None:
            return "never"
        return self.run.outcome.value


def rows(runs: dict[str, TaskRun], now: dt.datetime) -> list[TaskRow]:
    out = []
    for task in TASKS:
        run = runs.get(task.id)
        next_at = run.next_run_at if run is not None else None
        going = run is not None and run.outcome is TaskOutcome.RUNNING
        overdue = not going and next_at is not None and next_at < now - OVERDUE_AFTER
        out.append(TaskRow(task=task, run=run, overdue=overdue))
    return out


def _latest(table: list[TaskRow]) -> TaskRun | None:
    """The run that started last (its runner is the scheduler running now, if one is)."""
    started = [r.run for r in table if r.run is not None and r.run.last_started_at is not None]
    return max(started, key=lambda run: run.last_started_at or dt.datetime.min, default=None)


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(
    request: Request, user: Supervisor, session: ReadSessionDep, settings: SettingsDep
) -> Response:
    now = dt.datetime.now(dt.UTC)
    tz = ZoneInfo(state_service.get(session=session, code=user.state_code).timezone)
    table = rows(task_runs.all_runs(session=session), now)
    context = {
        "rows": table,
        "failing": [r for r in table if r.outcome == TaskOutcome.FAILED.value],
        "overdue": [r for r in table if r.overdue],
        "recorded": any(r.run is not None for r in table),
        "latest": _latest(table),
        "loop": task_runs.loop_state(
            session=session,
            state_code=user.state_code,
            today=now.astimezone(tz).date(),
            now=now,
            timing=replan.timing_of(settings),
        ),
        "clock": LocalClock(tz),
        "duration": duration,
        "now_local": f"{now.astimezone(tz):%a %d %b %Y, %H:%M:%S}",
        "scheduler_here": settings.scheduler,
    }
    return templates.TemplateResponse(request, "tasks/index.html", context)
