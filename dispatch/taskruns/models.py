"""One row per scheduled task: its last run and its next (`dispatch.taskruns.service`)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type


class TaskOutcome(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


class TaskRun(SQLModel, table=True):
    """A scheduled task's last run (started, finished, outcome, what it did) and next run."""

    __tablename__ = "task_run"

    name: str = Field(primary_key=True, max_length=60)
    last_started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_duration_s: float | None = None
    outcome: TaskOutcome | None = Field(default=None, sa_type=enum_type(TaskOutcome))
    #: What the run did, in a few words ("3 SMS sent"), or the error's one-line summary.
    summary: str = Field(default="", sa_type=sa.Text)
    next_run_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    runs: int = 0
    failures: int = 0
    #: Which scheduler process ran it last ("host:pid").
    runner: str = Field(default="", max_length=80)


class SchedulerLease(SQLModel, table=True):
    """Which process is the one scheduler: it renews the lease while it runs; another finds
    it held and stands by until the holder stops renewing (`dispatch.taskruns.lease`)."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=80)  # "host:pid"
    renewed_at: dt.datetime = Field(sa_type=UTCDateTime)
