"""Persisted plans: one current version per district and day, stops as versioned rows."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class ZonePlan(SQLModel, table=True):
    """The pointer to the current plan of a district and day; `version` guards saves."""

    __tablename__ = "zone_plan"
    __table_args__ = (sa.PrimaryKeyConstraint("district_id", "day"),)

    district_id: int = Field(foreign_key="district.id")
    day: dt.date
    version: int = 0
    #: The last version the solver improved; below `version`, the scheduled task re-plans.
    improved_version: int = 0
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PlanStop(SQLModel, table=True):
    """One visit in one version of a plan: which agent, in what order, arriving when."""

    __tablename__ = "plan_stop"
    __table_args__ = (sa.Index("ix_plan_stop_zone", "district_id", "day", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="district.id")
    day: dt.date
    version: int
    agent_id: int = Field(foreign_key="agent.id")
    request_id: int = Field(foreign_key="doorstep_request.id", index=True)
    position: int
    planned_arrival: dt.datetime = Field(sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
