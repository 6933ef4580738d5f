"""Outgoing messages: the SMS outbox (the development backend, and the record in production)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a sender, which is talking to the provider
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    to: str = Field(max_length=16, index=True)
    body: str
    kind: str
    request_id: int | None = Field(default=None, foreign_key="doorstep_request.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: MessageStatus = Field(default=MessageStatus.QUEUED, sa_type=enum_type(MessageStatus))
    provider_id: str | None = Field(default=None, index=True)
    attempts: int = 0
    idempotency_key: str | None = Field(default=None, unique=True, max_length=120)
    failures: int = 0
    next_attempt_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    segments: int | None = None
    encoding: str | None = Field(default=None, max_length=8)
    template: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=8)
    dlt_template_id: str | None = Field(default=None, max_length=32)
    provider_status: str | None = Field(default=None, max_length=16)
    error_code: str | None = Field(default=None, max_length=16)
    last_error: str | None = Field(default=None, max_length=200)
    reported_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
