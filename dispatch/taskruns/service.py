"""The scheduled tasks' record (`task_run`, one row per task): a run's start, its end (how it
ended, how long it took, what it did in a few words), the next run, how many runs and failures,
and which scheduler process ran it ("host:pid"); read back for the supervisors' page, with the
dispatch loop's state beside it.

The scheduler (`web.worker`) writes these from its events, each in a short transaction of its
own (`record`) that waits at most `RECORD_WAIT_S` for a lock, and never lets a failure to
record stop or hold up a task: `record` logs it and drops it (the scheduler's own thread writes,
and its two-second tasks must not miss their grace behind a long-held lock). The events of one
run may arrive out of order (a task can end before the scheduler's thread has reported it
submitted), so `started` never overwrites a later start or a finished run: it only moves
`last_started_at` forward. A start records the next run too (the scheduler has moved it on by
then), so a run longer than its interval is not taken for a stopped scheduler; a run skipped
because the previous one was still going counts as a failed run (`skipped`).

A summary holds no personal data: a count ("3 SMS sent"), or the error's type and the first
line of its message with any long number (a phone number, an Aadhaar number, even written in
groups: "98765 43210", "1234-5678-9012") masked (`error_summary`).

Not here: when tasks run (`web.worker`), the page (`web.tasks`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.db import waited_too_long, write_session
from dispatch.geography.models import District
from dispatch.planning import loop
from dispatch.planning.models import ZonePlan
from dispatch.taskruns.models import TaskOutcome, TaskRun

log = logging.getLogger(__name__)

#: The longest summary kept (the column is text; the page shows one line).
SUMMARY_CHARS = 200
#: Six digits or more in an error's message may be someone's number: masked, also when they
#: are written in groups (spaces, dashes or dots between them).
LONG_NUMBER_DIGITS = 6
_DIGITS = re.compile(r"\d(?:[ .-]{0,3}\d)*")
#: How long a record waits for a lock before it is dropped (SQLite's busy timeout, PostgreSQL's
#: lock and statement timeouts): the scheduler's thread waits with it.
RECORD_WAIT_S = 1.0
#: The summary of a run the scheduler skipped (`skipped`).
SKIPPED = "Skipped: the previous run was still going"


def _table() -> Any:
    return TaskRun.__table__  # type: ignore[attr-defined]


def _ensure(session: Session, name: str) -> None:
    """The task's row, made on its first event (a concurrent first event makes it once)."""
    if session.get(TaskRun, name) is not None:
        return
    try:
        with session.begin_nested():
            session.execute(sa.insert(_table()).values(name=name, summary="", runs=0, failures=0))
    except sa.exc.IntegrityError:
        pass  # made meanwhile by the task's other event


def started(
    *, session: Session, name: str, at: dt.datetime, next_run_at: dt.datetime | None, runner: str
) -> None:
    """A run of `name` started at `at` (running until `finished`); the task runs next at
    `next_run_at` (None: not again). A start older than the one recorded (its run already
    finished and was recorded with it) changes nothing."""
    _ensure(session, name)
    table = _table()
    session.execute(
        sa.update(table)
        .where(
            table.c.name == name,
            sa.or_(table.c.last_started_at.is_(None), table.c.last_started_at < at),
        )
        .values(
            last_started_at=at, outcome=TaskOutcome.RUNNING, next_run_at=next_run_at, runner=runner
        )
    )


def skipped(
    *,
    session: Session,
    name: str,
    running_since: dt.datetime | None,
    next_run_at: dt.datetime | None,
    runner: str,
) -> None:
    """A run of `name` was skipped: its previous run, started at `running_since` (None: not
    known), was still going. Counted as a run that failed; the task runs next at
    `next_run_at`. The row says the previous run is going on — unless that run's end was
    recorded meanwhile (the end is written by another thread): a frequent task's start is not
    written (`web.worker`), and this is how a long run of it shows."""
    _ensure(session, name)
    table = _table()
    session.execute(
        sa.update(table)
        .where(table.c.name == name)
        .values(
            next_run_at=next_run_at,
            runs=table.c.runs + 1,
            failures=table.c.failures + 1,
        )
    )
    if running_since is None:
        return
    session.execute(
        sa.update(table)
        .where(
            table.c.name == name,
            sa.or_(table.c.last_finished_at.is_(None), table.c.last_finished_at < running_since),
        )
        .values(
            last_started_at=running_since,
            outcome=TaskOutcome.RUNNING,
            summary=SKIPPED,
            runner=runner,
        )
    )


def finished(
    *,
    session: Session,
    name: str,
    started_at: dt.datetime,
    at: dt.datetime,
    ok: bool,
    summary: str,
    next_run_at: dt.datetime | None,
    runner: str,
) -> None:
    """The run of `name` that started at `started_at` ended at `at`, well (`ok`) or not, having
    done `summary`; the task runs next at `next_run_at` (None: not again)."""
    _ensure(session, name)
    table = _table()
    session.execute(
        sa.update(table)
        .where(table.c.name == name)
        .values(
            last_started_at=started_at,
            last_finished_at=at,
            last_duration_s=max((at - started_at).total_seconds(), 0.0),
            outcome=TaskOutcome.OK if ok else TaskOutcome.FAILED,
            summary=summary[:SUMMARY_CHARS],
            next_run_at=next_run_at,
            runs=table.c.runs + 1,
            failures=table.c.failures + (0 if ok else 1),
            runner=runner,
        )
    )


def scheduled(*, session: Session, name: str, next_run_at: dt.datetime | None) -> None:
    """`name` runs next at `next_run_at` (when the scheduler starts, and after a missed run)."""
    _ensure(session, name)
    table = _table()
    session.execute(sa.update(table).where(table.c.name == name).values(next_run_at=next_run_at))


def all_runs(*, session: Session) -> dict[str, TaskRun]:
    """Every task's row, by name."""
    return {run.name: run for run in session.exec(select(TaskRun))}


def record(engine: Engine, change: Callable[..., None], **values: Any) -> bool:
    """Apply one of the changes above in a short transaction of its own, waiting at most
    `RECORD_WAIT_S` for a lock. A failure (the database busy or away) is logged and answered
    False, never raised: the record is dropped, and the scheduler goes on running its tasks
    whether or not their record can be kept."""
    try:
        with write_session(engine, wait_s=RECORD_WAIT_S) as session:
            change(session=session, **values)
    except Exception as error:
        if waited_too_long(error):  # the next event records the task again
            log.warning(
                "dropped %s of task %s: the database was locked for more than %s s",
                change.__name__,
                values.get("name"),
                RECORD_WAIT_S,
            )
        else:
            log.exception("could not record %s of task %s", change.__name__, values.get("name"))
        return False
    return True


def _masked(found: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in found.group())
    return "…" if digits >= LONG_NUMBER_DIGITS else found.group()


def error_summary(error: BaseException) -> str:
    """One line for the page: the error's type and the first line of its message, long numbers
    masked — six digits or more, also in groups ("98765 43210", "1234 5678 9012")
    (`IntegrityError: (sqlite3.IntegrityError) UNIQUE constraint failed: ...`)."""
    lines = str(error).strip().splitlines()
    first = _DIGITS.sub(_masked, lines[0].strip()) if lines else ""
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


# --- the dispatch loop, for the same page ------------------------------------------------------


@dataclass(frozen=True)
class LoopState:
    """The dispatch loop at a glance: zone-days of the state (from `today` on) whose plan
    changed since the solver last improved it, and zone-days a live solve holds (all states:
    the solvers are shared)."""

    pending: int
    held: int


def loop_state(
    *, session: Session, state_code: str, today: dt.date, now: dt.datetime, timing: loop.Timing
) -> LoopState:
    pending = session.exec(
        select(sa.func.count())
        .select_from(ZonePlan)
        .join(District, col(District.id) == col(ZonePlan.district_id))
        .where(
            District.state_code == state_code,
            col(ZonePlan.day) >= today,
            col(ZonePlan.version) > col(ZonePlan.improved_version),
        )
    ).one()
    held = loop.held(session=session, now=now, timing=timing, state_code=state_code)
    return LoopState(pending=int(pending), held=held)
