"""The grievance table: one per poorly rated visit, open until a supervisor closes it."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow


class GrievanceStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Grievance(SQLModel, table=True):
    """Opened by a rating of 1-2 (`feedback_id`); closed by a supervisor with a note.
    `version` guards the close (two supervisors cannot both close it)."""

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    request_id: int = Field(foreign_key="doorstep_request.id", index=True)
    feedback_id: int = Field(foreign_key="feedback.id", unique=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    rating: int
    comment: str = ""
    status: GrievanceStatus = Field(
        default=GrievanceStatus.OPEN, sa_type=enum_type(GrievanceStatus), index=True
    )
    opened_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The audit actor who closed it (e.g. "staff:supervisor").
    closed_by: str | None = Field(default=None, max_length=80)
    note: str = ""
    version: int = 1
