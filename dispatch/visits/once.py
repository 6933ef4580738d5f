"""One run per idempotency key: the shared wrapper of every visit command (book, reschedule,
cancel, and the agents' reports from the door).

A command runs inside a savepoint together with the row that records its key, so it happens
all or not at all; a retry with the same key returns the stored result without running again,
and the same key with other arguments is refused (`KeyReused`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, select

from dispatch.errors import Conflict
from dispatch.visits.models import UseCase, VisitCommand


class KeyReused(Conflict):
    """An idempotency key already used for a different command."""

    def __init__(self, key: str) -> None:
        super().__init__("idempotency key", key, "already used for a different command")


class Outcome(Protocol):
    """What a command returns: it can be stored and read back."""

    @property
    def request_id(self) -> int: ...

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Outcome)


def run_once(
    session: Session,
    key: str,
    use_case: UseCase,
    asked: str,
    actor: str,
    now: dt.datetime,
    run: Callable[[], R],
    load: Callable[[dict[str, Any]], R],
) -> R:
    """Run `run` once for `key`: all of it or none of it (a savepoint), recorded under the key;
    `load` rebuilds a stored outcome for a retry.

    The key's row is written first, so a concurrent twin (another process with the same key)
    waits on the unique index until this one commits, then fails to insert and returns what
    this one stored."""
    if (done := stored_outcome(session, key, use_case, asked, load)) is not None:
        return done
    try:
        with session.begin_nested():
            command = VisitCommand(
                idempotency_key=key, use_case=use_case, fingerprint=asked, actor=actor, at=now
            )
            session.add(command)
            session.flush()
            result = run()
            command.request_id = result.request_id
            command.outcome = result.to_json()
            session.add(command)
            session.flush()
    except sa.exc.IntegrityError:
        session.expire_all()
        if (done := stored_outcome(session, key, use_case, asked, load)) is not None:
            return done
        raise
    except Exception:
        # The savepoint rolled back (a window taken meanwhile, a request changed): what the
        # command loaded or changed inside it is stale. Everything was flushed before the
        # savepoint began, so expiring loses nothing; the caller may go on in this session
        # (offer windows again) and must read what is really there.
        session.expire_all()
        raise
    return result


def stored_outcome(
    session: Session,
    key: str,
    use_case: UseCase,
    asked: str,
    load: Callable[[dict[str, Any]], R],
) -> R | None:
    """The outcome stored under `key` by an earlier run, if any (`KeyReused` if that run was
    another command): a caller that must check something before running (a code that is
    counted when wrong) asks this first, so a retry is not counted again."""
    found = session.exec(select(VisitCommand).where(VisitCommand.idempotency_key == key)).first()
    if found is None:
        return None
    if found.use_case is not use_case or found.fingerprint != asked:
        raise KeyReused(key)
    return load(found.outcome)
