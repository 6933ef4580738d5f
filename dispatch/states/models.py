"""The state (tenant): its toll-free number, languages, time zone, fee rules and area."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel


class State(SQLModel, table=True):
    """A state or UT running a doorstep line; everything else belongs to one."""

    code: str = Field(primary_key=True, max_length=4)
    name: str
    service_name: str
    toll_free: str = Field(unique=True, max_length=16)
    languages: list[str] = Field(sa_type=JSON)
    timezone: str = "Asia/Kolkata"
    citizen_fee_paise: int
    business_fee_paise: int
    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float
    #: The numbers this state sends SMS to and rings back (a regular expression over E.164);
    #: by default Indian mobiles. Other callers book without an SMS and hear their reference.
    sms_numbers: str = Field(default=r"^\+91[6-9]\d{9}$", max_length=200)
    #: The days its offices work ("mon".."sun"): the service-guarantee time limits count these,
    #: less the state's holidays (`Holiday`).
    working_days: list[str] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat"], sa_type=JSON
    )

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon

    def may_message(self, phone: str | None) -> bool:
        """Whether SMS and call-backs may go to `phone` (E.164) in this state."""
        return bool(phone) and re.fullmatch(self.sms_numbers, phone or "") is not None


class Holiday(SQLModel, table=True):
    """A gazetted holiday of the state: not a working day for the service-guarantee clocks
    (`seed_data/<state>/holidays.csv`)."""

    __table_args__ = (sa.UniqueConstraint("state_code", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    day: dt.date
    name: str = Field(max_length=120)
