"""The alert table: one row per thing a supervisor must look at, unique by its key."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow


class AlertKind(StrEnum):
    DEADLINE_NEAR = "deadline_near"  # a configurable share of the legal time limit is gone
    DEADLINE_REACHED = "deadline_reached"  # the due date has come, undelivered: escalated
    APPEAL = "appeal"  # the time limit passed undelivered: marked for the state's appeal
    FEES = "fees"  # an agent's day does not reconcile


class Alert(SQLModel, table=True):
    """Something a supervisor must look at, raised once (`key` is unique) by a scheduled task."""

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=120)
    kind: AlertKind = Field(sa_type=enum_type(AlertKind), index=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    district_id: int | None = Field(default=None, foreign_key="district.id")
    request_id: int | None = Field(default=None, foreign_key="doorstep_request.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    day: dt.date | None = None
    #: One line for the supervisor, with no personal data (a reference, not a name).
    detail: str = Field(max_length=300)
    raised_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=80)
