"""Citizens who call, and the addresses a field agent visits."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class Citizen(SQLModel, table=True):
    """A caller, known by phone (E.164) within a state."""

    __table_args__ = (sa.UniqueConstraint("state_code", "phone"),)

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    phone: str = Field(max_length=16)
    name: str = ""
    language: str = "hi"
    senior: bool = False
    disabled: bool = False
    #: A demo citizen from `seed_data/` (the simulator offers only these as caller IDs).
    demo: bool = False
    #: The citizen replied STOP: only messages about their request and money still go.
    sms_opt_out: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Address(SQLModel, table=True):
    """Where a visit happens: a village, a landmark, coordinates.

    `proven` is False for an address given by a caller who has not proven to be the citizen
    (a withheld caller ID with a keyed-in contact number): it serves the request it was given
    for, and is never offered back as "your last address".
    """

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    village_id: int = Field(foreign_key="village.id")
    landmark: str = ""
    lat: float
    lon: float
    proven: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
