"""Geography: districts, blocks (tehsils) and villages with coordinates and terrain."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from dispatch.db import enum_type


class Terrain(StrEnum):
    PLAINS = "plains"
    HILLS = "hills"
    HIGH_ALTITUDE = "high_altitude"


class PlaceNames(SQLModel):
    """How a place is written and said: `name` in Latin script, in Devanagari (Hindi) and in
    Urdu script, and the spoken aliases a caller or a speech recogniser may give for it."""

    name: str
    name_hi: str = ""
    name_ur: str = ""
    aliases: list[str] = Field(default_factory=list, sa_type=JSON)

    def name_in(self, language: str) -> str:
        """The name as a prompt in `language` should read it (its own script when known)."""
        if language == "hi" and self.name_hi:
            return self.name_hi
        if language == "ur" and self.name_ur:
            return self.name_ur
        return self.name

    @property
    def spoken_names(self) -> list[str]:
        """Every way of saying the place, in every script (what speech is matched against)."""
        return [n for n in (self.name, self.name_hi, self.name_ur, *self.aliases) if n]


class District(PlaceNames, table=True):
    """A district: the zone one plan covers."""

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    code: str = Field(unique=True, max_length=8)
    lat: float
    lon: float


class Block(PlaceNames, table=True):
    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    code: str = Field(unique=True, max_length=12)
    lat: float
    lon: float
    terrain: Terrain = Field(default=Terrain.PLAINS, sa_type=enum_type(Terrain))


class Village(PlaceNames, table=True):
    id: int | None = Field(default=None, primary_key=True)
    block_id: int = Field(foreign_key="block.id", index=True)
    lat: float
    lon: float
    terrain: Terrain = Field(default=Terrain.PLAINS, sa_type=enum_type(Terrain))
    pincode: str | None = Field(default=None, max_length=6, index=True)
