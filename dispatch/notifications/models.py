"""Outgoing messages: the SMS outbox (the development backend, and the record in production)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow


class MessageStatus(StrEnum):
    """Where a message is. Only `queued` ones are sent by the outbox; the last four are for a
    person to look at (`failed`, `uncertain` and `undelivered` may be re-sent)."""

    QUEUED = "queued"  # to send: now, or at `next_attempt_at` after a refusal
    SENDING = "sending"  # claimed by a sender, which is talking to the provider
    SENT = "sent"  # the provider took it (its id is `provider_id`); no delivery report yet
    DELIVERED = "delivered"  # the provider reports it reached the phone
    UNDELIVERED = "undelivered"  # the provider reports the carrier could not deliver it
    FAILED = "failed"  # not sent: refused too often, refused for good, or reported failed
    UNCERTAIN = "uncertain"  # no answer once the request was out: it may have been accepted


class OutboxMessage(SQLModel, table=True):
    """One SMS: its words, where it is, and what the provider last said about it.

    `attempts` counts every try ever made (it numbers the attempts, so a delivery report names
    the one it is about); `failures` counts refusals in a row since the message was queued or
    last re-sent, and sets the wait before the next try. `segments` and `encoding` are what the
    body costs (`segments.count`); `template`, `language` and `dlt_template_id` name the
    registered DLT template it was written from. `provider_status` and `error_code` are the
    provider's own words from its last delivery report.
    """

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
