"""The API client table: one per channel, its key stored as a hash."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class ApiClient(SQLModel, table=True):
    """A channel allowed to call `/api/v1`. The key is shown once when made; the table keeps
        its first characters (to find it) and its SHA-256 (to check it: keys are long and random,
        so a fast hash is enough). Revoking is for good. A name is unique within its state (an
    admin of one state learns nothing of another's clients by the names they may not take)."""

    __tablename__ = "api_client"
    __table_args__ = (sa.UniqueConstraint("state_code", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    name: str = Field(max_length=80)
    #: The first characters of the key (not secret): which row to check it against.
    key_prefix: str = Field(unique=True, max_length=16)
    key_hash: str = Field(max_length=64)
    #: Requests allowed per minute with this key.
    rate_per_minute: int = 60
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str = Field(max_length=80)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, max_length=80)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
