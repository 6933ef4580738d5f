"""The record of each use case run under an idempotency key, so a retry gets the first result:
the citizens' (book, reschedule, cancel), the agents' from the door (arrive, complete, fail,
no-show) and the dispatchers' (reassign, raise priority).

The key is unique: a second run with the same key finds the first one's row (or, run at the
same moment, waits for it and then finds it) and returns its stored outcome instead of booking,
charging or messaging again.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlmodel import JSON, Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow


class UseCase(StrEnum):
    BOOK = "book"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    ARRIVE = "arrive"
    COMPLETE = "complete"
    FAIL = "fail"
    NO_SHOW = "no_show"
    REASSIGN = "reassign"
    RAISE_PRIORITY = "raise_priority"
    REOFFER = "reoffer"


class VisitCommand(SQLModel, table=True):
    """One use case run: its key, what it was asked (as a fingerprint), and what it answered."""

    __tablename__ = "visit_command"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=120)
    use_case: UseCase = Field(sa_type=enum_type(UseCase))
    request_id: int | None = Field(default=None, foreign_key="doorstep_request.id", index=True)
    fingerprint: str = Field(max_length=64)
    outcome: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    actor: str
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
