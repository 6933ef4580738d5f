"""The doorstep request table, its lifecycle events (the audit trail) and reference counters."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow
from dispatch.requests.rules import Channel, RequestStatus


class DoorstepRequest(SQLModel, table=True):
    """One request for a visit. `version` guards every change (optimistic concurrency)."""

    __tablename__ = "doorstep_request"

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    reference: str = Field(unique=True, max_length=24)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    service_id: int = Field(foreign_key="service.id", index=True)
    address_id: int = Field(foreign_key="address.id")
    district_id: int = Field(foreign_key="district.id", index=True)
    channel: Channel = Field(sa_type=enum_type(Channel))
    status: RequestStatus = Field(
        default=RequestStatus.LOGGED, sa_type=enum_type(RequestStatus), index=True
    )
    status_reason: str | None = None
    language: str = "hi"
    priority: int = 0
    window_start: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    window_end: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    planned_arrival: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    doorstep_fee_paise: int
    government_fee_paise: int
    logged_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    due_date: dt.date | None = None
    idempotency_key: str | None = Field(default=None, unique=True, max_length=120)
    #: The 4-digit code sent to the citizen alone (SMS): the proof on the phone and at the door.
    visit_code: str | None = Field(default=None, max_length=8)
    #: The agent's real progress says this visit can no longer be made within its window.
    at_risk: bool = False
    #: The agent a dispatcher gave this visit to (`dispatch.visits.desk.reassign`): re-plans
    #: keep it with them (`dispatch.planning.zone.load`) until it is rescheduled or cancelled.
    pinned_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    #: Who chose that agent (the audit actor, e.g. "staff:dispatcher").
    pinned_by: str | None = Field(default=None, max_length=80)
    #: The legal time limit passed undelivered: listed for the state's appeal
    #: (`dispatch.alerts.deadlines`).
    appeal_marked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = 1

    @property
    def fee_paise(self) -> int:
        return self.doorstep_fee_paise + self.government_fee_paise


class RequestEvent(SQLModel, table=True):
    """One lifecycle transition: who, when, from what, to what, why."""

    __tablename__ = "request_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="doorstep_request.id", index=True)
    from_status: RequestStatus | None = Field(default=None, sa_type=enum_type(RequestStatus))
    to_status: RequestStatus = Field(sa_type=enum_type(RequestStatus))
    actor: str
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str | None = None


class ReferenceCounter(SQLModel, table=True):
    """The next sequence number of reference numbers per state and year."""

    __tablename__ = "reference_counter"
    __table_args__ = (sa.PrimaryKeyConstraint("state_code", "year"),)

    state_code: str = Field(foreign_key="state.code")
    year: int
    last_value: int = 0
