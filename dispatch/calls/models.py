"""Phone calls to the doorstep line: one session per call, its stored answers, call-backs.

A `CallSession` is keyed by the telephony provider's call id (Twilio's CallSid) and holds where
the caller is in the conversation and what they chose so far (`data`, a JSON object owned by
the IVR adapter). `CallAnswer` keeps the answer given to each step so that a webhook retried
by the provider gets the very same answer and changes nothing twice. `Callback` is a promise
that a person will ring the caller back; `QueueWait` feeds the estimate of the wait for a
person. Nothing here knows of Twilio or HTTP.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow


class CallStatus(StrEnum):
    ACTIVE = "active"  # the caller is on the line
    BOOKED = "booked"  # a request was booked on this call
    CHANGED = "changed"  # a request was rescheduled or cancelled on this call
    CALLBACK = "callback"  # a person will ring back (long wait, no window)
    TRANSFERRED = "transferred"  # put through to the call-agent queue
    COMPLETED = "completed"  # the line said goodbye after answering (e.g. a status check)
    INFORMED = "informed"  # the caller heard the status of their request (then may hang up)
    ABANDONED = "abandoned"  # the caller hung up before anything was settled


#: Outcomes that settle a call; the status callback never downgrades them.
SETTLED = frozenset(
    {
        CallStatus.BOOKED,
        CallStatus.CHANGED,
        CallStatus.CALLBACK,
        CallStatus.TRANSFERRED,
        CallStatus.COMPLETED,
        CallStatus.INFORMED,
    }
)


class CallSession(SQLModel, table=True):
    """One call: who called which number, in what language, and how far they got."""

    __tablename__ = "call_session"

    id: int | None = Field(default=None, primary_key=True)
    call_sid: str = Field(unique=True, max_length=64)
    state_code: str = Field(foreign_key="state.code", index=True)
    from_number: str = Field(max_length=32)
    to_number: str = Field(max_length=32)
    citizen_id: int | None = Field(default=None, foreign_key="citizen.id", index=True)
    language: str = Field(default="hi", max_length=8)
    step: str = Field(default="incoming", max_length=40)
    turn: int = 0
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: CallStatus = Field(default=CallStatus.ACTIVE, sa_type=enum_type(CallStatus), index=True)
    request_id: int | None = Field(default=None, foreign_key="doorstep_request.id")
    errors: int = 0
    started_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_step: str | None = Field(default=None, max_length=40)
    duration_s: int | None = None


class CallAnswer(SQLModel, table=True):
    """The answer (TwiML) given to one step of one call for one input: replayed on retries."""

    __tablename__ = "call_answer"
    __table_args__ = (sa.UniqueConstraint("call_sid", "step", "turn", "input_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    call_sid: str = Field(max_length=64, index=True)
    step: str = Field(max_length=60)
    turn: int
    input_hash: str = Field(max_length=64)
    answer: str = Field(sa_type=sa.Text)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CallbackReason(StrEnum):
    LONG_WAIT = "long_wait"  # the caller chose a call-back over a long wait for a person
    NO_WINDOW = "no_window"  # the live plan had no window in the horizon
    NO_AGENT = "no_agent"  # the call-agent queue could not take the call
    REOFFER = "reoffer"  # the plan could no longer meet a promised window: ring to re-book


class CallbackStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class Callback(SQLModel, table=True):
    """A promise to ring a caller back, with what they wanted when it is known."""

    __tablename__ = "callback"

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    call_sid: str = Field(unique=True, max_length=64)
    phone: str = Field(max_length=32)
    citizen_id: int | None = Field(default=None, foreign_key="citizen.id")
    language: str = Field(default="hi", max_length=8)
    reason: CallbackReason = Field(sa_type=enum_type(CallbackReason))
    service_id: int | None = Field(default=None, foreign_key="service.id")
    address_id: int | None = Field(default=None, foreign_key="address.id")
    request_id: int | None = Field(default=None, foreign_key="doorstep_request.id")
    status: CallbackStatus = Field(
        default=CallbackStatus.OPEN, sa_type=enum_type(CallbackStatus), index=True
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_by: str | None = None
    #: The console: who took it to ring back, and how it ended.
    claimed_by: str | None = Field(default=None, max_length=80)  # "staff:" + a username
    claimed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, max_length=500)


class QueueWait(SQLModel, table=True):
    """One observation of the wait in a call-agent queue (a caller who left it, or a report)."""

    __tablename__ = "queue_wait"

    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(max_length=64, index=True)
    call_sid: str | None = Field(default=None, max_length=64)
    waited_s: int
    result: str = Field(max_length=24)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
