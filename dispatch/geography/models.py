"""Geography: districts, blocks (tehsils) and villages with coordinates and terrain."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.db import enum_type


class Terrain(StrEnum):
    PLAINS = "plains"
    HILLS = "hills"
    HIGH_ALTITUDE = "high_altitude"


class District(SQLModel, table=True):
    """A district: the zone one plan covers."""

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    code: str = Field(unique=True, max_length=8)
    name: str
    name_hi: str = ""
    lat: float
    lon: float


class Block(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    code: str = Field(unique=True, max_length=12)
    name: str
    lat: float
    lon: float
    terrain: Terrain = Field(default=Terrain.PLAINS, sa_type=enum_type(Terrain))


class Village(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    block_id: int = Field(foreign_key="block.id", index=True)
    name: str
    lat: float
    lon: float
    terrain: Terrain = Field(default=Terrain.PLAINS, sa_type=enum_type(Terrain))
    pincode: str | None = Field(default=None, max_length=6, index=True)
