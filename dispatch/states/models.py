"""The state (tenant): its toll-free number, languages, time zone, fee rules and area."""

from __future__ import annotations

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

    def contains(self, lat: float, lon: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon
