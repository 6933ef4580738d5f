"""Exactly one scheduler: a lease in the database that the running scheduler renews.

A scheduler process (`doorstep worker`, or `doorstep serve` with the scheduler on) tries to take
the lease when it starts and every few seconds after: it holds it if nobody does, if it held it
already, or if the holder has not renewed it for `ttl` (it stopped, or lost its database). A
second scheduler started by mistake (two web processes each with the scheduler on, a worker
beside a server) finds the lease held and stands by, running nothing, ready to take over when
the first stops. It works the same on SQLite and PostgreSQL and on one machine or many: a
conditional update decides, as for the plans' versions.

Not here: pausing and resuming the scheduler (`web.worker`).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dispatch.db import read_session, write_session
from dispatch.taskruns.models import SchedulerLease

NAME = "scheduler"


def take(
    *, engine: Engine, holder: str, now: dt.datetime, ttl: dt.timedelta, name: str = NAME
) -> bool:
    """Take or renew the lease for `holder`; whether `holder` holds it now."""
    table = SchedulerLease.__table__  # type: ignore[attr-defined]
    with write_session(engine) as session:
        result = session.execute(
            sa.update(table)
            .where(
                table.c.name == name,
                sa.or_(table.c.holder == holder, table.c.renewed_at < now - ttl),
            )
            .values(holder=holder, renewed_at=now)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        if session.get(SchedulerLease, name) is not None:
            return False  # another holds it, and renews it
        try:
            with session.begin_nested():
                session.add(SchedulerLease(name=name, holder=holder, renewed_at=now))
        except sa.exc.IntegrityError:
            return False  # another took it at the same moment
        return True


def give_up(*, engine: Engine, holder: str, name: str = NAME) -> None:
    """Let the lease go at once (a scheduler stopping cleanly): a standing-by one takes over
    at its next try, not a `ttl` later."""
    table = SchedulerLease.__table__  # type: ignore[attr-defined]
    with write_session(engine) as session:
        session.execute(sa.delete(table).where(table.c.name == name, table.c.holder == holder))


def holder_of(*, engine: Engine, name: str = NAME) -> SchedulerLease | None:
    """The lease as it stands (who holds it, when they last renewed it), if anyone took it."""
    with read_session(engine) as session:
        return session.get(SchedulerLease, name)
