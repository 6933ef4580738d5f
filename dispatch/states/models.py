"""The state (tenant): its toll-free number, languages, time zone, fee rules and area."""

from __future__ import annotations

import re

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

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon

    def may_message(self, phone: str | None) -> bool:
        """Whether SMS and call-backs may go to `phone` (E.164) in this state."""
        return bool(phone) and re.fullmatch(self.sms_numbers, phone or "") is not None
