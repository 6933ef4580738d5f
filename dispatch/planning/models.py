"""Persisted plans: one current version per district and day, stops as versioned rows."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow


class ZonePlan(SQLModel, table=True):
    """The pointer to the current plan of a district and day; `version` guards saves."""

    __tablename__ = "zone_plan"
    __table_args__ = (sa.PrimaryKeyConstraint("district_id", "day"),)

    district_id: int = Field(foreign_key="district.id")
    day: dt.date
    version: int = 0
    #: The last version the solver improved; below `version`, the zone-day waits for a re-plan.
    improved_version: int = 0
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: When the first change the solver has not seen yet was saved (the debounce's start:
    #: `dispatch.planning.loop`); None while the plan is improved.
    pending_since: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: A solve of this zone-day was handed to a solver (a process or a queue worker) at this
    #: time, under this token: the lease. A solver that died leaves it to lapse, and the zone-day
    #: is handed out again.
    solve_claimed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    solve_token: str | None = Field(default=None, max_length=40)
    #: Solves handed out since the plan was last improved (a zone-day that keeps failing stops).
    solve_attempts: int = 0
    #: The evening's full plan of this day was made (`dispatch.planning.loop.plan_tomorrow`).
    planned_ahead_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ZoneSolveStat(SQLModel, table=True):
    """The dispatch loop's zone solves, counted by how they ended and how long they took: one
    row per outcome and duration bucket, added to in the transaction where each solve settles
    (`dispatch.planning.loop.record_solve`), so every process reads the same counts
    (`web.metrics`). A handful of rows (outcomes x buckets), never one per solve."""

    __tablename__ = "zone_solve_stat"
    __table_args__ = (sa.PrimaryKeyConstraint("status", "le_ms"),)

    #: How the solve ended: `dispatch.visits.replan.SolveStatus`'s values, or `lapsed`.
    status: str = Field(max_length=20)
    #: The duration bucket's upper bound in milliseconds (`loop.SOLVE_BUCKETS_S`), or
    #: `loop.OVER_MS` for the solves longer than the last bound.
    le_ms: int
    solves: int = 0
    #: The solves' wall time, summed.
    seconds: float = 0.0


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


class RouteLock(SQLModel, table=True):
    """A dispatcher locked one agent's route of a district-day: re-plans keep its visits, in
    their order, with that agent (bookings may still add to it)."""

    __tablename__ = "route_lock"
    __table_args__ = (sa.PrimaryKeyConstraint("district_id", "day", "agent_id"),)

    district_id: int = Field(foreign_key="district.id")
    day: dt.date
    agent_id: int = Field(foreign_key="agent.id")
    locked_by: str
    locked_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReplanStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ReplanRun(SQLModel, table=True):
    """A re-plan asked for from the console and run by the worker: what it found before and
    after (distance, lateness, unassigned) and how many visits it moved."""

    __tablename__ = "replan_run"

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    day: dt.date
    status: ReplanStatus = Field(
        default=ReplanStatus.QUEUED, sa_type=enum_type(ReplanStatus), index=True
    )
    requested_by: str
    requested_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: A double-submitted "re-plan now" starts one run.
    idempotency_key: str | None = Field(default=None, unique=True, max_length=120)
    time_limit_s: float = 5.0
    started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    distance_before_m: int | None = None
    distance_after_m: int | None = None
    lateness_before_s: int | None = None
    lateness_after_s: int | None = None
    unassigned_before: int | None = None
    unassigned_after: int | None = None
    moved: int | None = None
    version: int | None = None
    message: str | None = None


class PlanChangeKind(StrEnum):
    ADDED = "added"  # into the plan (a booking, a visit moved in)
    MOVED = "moved"  # to another agent
    RETIMED = "retimed"  # same agent, arrival moved by more than a few minutes
    DROPPED = "dropped"  # left out of the plan: no agent can make its window
    REOFFERED = "reoffered"  # the citizen was told and given new windows
    REMOVED = "removed"  # out of the plan (cancelled, rescheduled by the citizen)


class PlanChange(SQLModel, table=True):
    """What one saved plan version changed for one request, why, and who was told: the
    request's timeline shows these (`dispatch.planning.changes`)."""

    __tablename__ = "plan_change"
    __table_args__ = (sa.Index("ix_plan_change_zone", "district_id", "day", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="doorstep_request.id", index=True)
    district_id: int = Field(foreign_key="district.id")
    day: dt.date
    version: int
    kind: PlanChangeKind = Field(sa_type=enum_type(PlanChangeKind))
    #: Why the plan changed: a key (`booking`, `cancelled`, `rescheduled`, `leave`, `late`,
    #: `failed`, `improved`, `evening`, `dispatcher`, ...) with free detail after a colon.
    cause: str = Field(max_length=120)
    actor: str = Field(max_length=80)
    from_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    to_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    from_arrival: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    to_arrival: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Who was told, as added: [{"who": "citizen"|"agent"|"console", "how": "sms"|"callback",
    #: "id": message or call-back id, "at": ISO time}].
    notified: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
