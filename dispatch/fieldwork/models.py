"""Field work tables: the itinerary each agent was sent for a day, and citizens' feedback."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class Itinerary(SQLModel, table=True):
    """What an agent was last told about one day: the visits in order with their times.

    Later changes are sent as the difference from this snapshot, which is then replaced."""

    __tablename__ = "itinerary"
    __table_args__ = (sa.UniqueConstraint("agent_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    day: dt.date = Field(index=True)
    #: [{"request_id", "reference", "time"}] in the order the agent was given them.
    visits: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    sent_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updates: int = 0
    #: The version of the district's plan last compared with it: an unchanged plan needs no
    #: look (the task runs every minute for every agent told).
    plan_version: int = 0


class Feedback(SQLModel, table=True):
    """A citizen's rating of one completed visit, asked by SMS (and by a call if unanswered)."""

    __tablename__ = "feedback"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="doorstep_request.id", unique=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    asked_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    call_placed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    rating: int | None = None
    comment: str = ""
    channel: str | None = Field(default=None, max_length=16)
    answered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
