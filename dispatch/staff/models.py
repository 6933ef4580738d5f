"""Staff accounts and their signed-in sessions (server-side: a cookie holds only a random
token, the table its SHA-256, so signing out or disabling an account ends it at once)."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow
from dispatch.staff.rules import Role


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    username: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=120)
    role: Role = Field(sa_type=enum_type(Role))
    #: argon2 hash; never the password.
    password_hash: str
    active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    password_changed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StaffSession(SQLModel, table=True):
    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
