"""CSC field agents: where they start, what they can do, when they work."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from dispatch.db import enum_type


class TravelMode(StrEnum):
    TWO_WHEELER = "two_wheeler"
    ON_FOOT = "on_foot"
    FOUR_WHEEL_DRIVE = "four_wheel_drive"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Agent(SQLModel, table=True):
    """A field agent (CSC village-level entrepreneur). Shift times are local minutes."""

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    csc_id: str = Field(unique=True, max_length=16)
    name: str
    phone: str = Field(unique=True, max_length=16)
    block_id: int = Field(foreign_key="block.id", index=True)
    lat: float
    lon: float
    skills: list[str] = Field(default_factory=list, sa_type=JSON)
    languages: list[str] = Field(default_factory=list, sa_type=JSON)
    working_days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:6]), sa_type=JSON)
    shift_start_min: int = 9 * 60
    shift_end_min: int = 17 * 60
    break_start_min: int | None = 13 * 60
    break_minutes: int = 30
    daily_cap: int = 8
    travel_mode: TravelMode = Field(default=TravelMode.TWO_WHEELER, sa_type=enum_type(TravelMode))
    active: bool = True
    #: The agent's phone-menu PIN, hashed (argon2); None until one is set.
    pin_hash: str | None = Field(default=None, max_length=200)

    def works_on(self, day: dt.date) -> bool:
        return self.active and WEEKDAYS[day.weekday()] in self.working_days


class AgentLeave(SQLModel, table=True):
    __tablename__ = "agent_leave"
    __table_args__ = (sa.UniqueConstraint("agent_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    day: dt.date
    reason: str = ""
