"""The catalogue: e-services a citizen can ask for at the door, with fees and time limits."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from dispatch.db import enum_type


class ServiceCategory(StrEnum):
    CITIZEN = "citizen"
    BUSINESS = "business"


class Service(SQLModel, table=True):
    """One e-service; money in integer paise, the legal time limit in days."""

    __table_args__ = (sa.UniqueConstraint("state_code", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    state_code: str = Field(foreign_key="state.code", index=True)
    code: str = Field(max_length=48)
    name_en: str
    name_hi: str
    name_ur: str | None = None
    aliases: list[str] = Field(default_factory=list, sa_type=JSON)
    department: str
    category: ServiceCategory = Field(
        default=ServiceCategory.CITIZEN, sa_type=enum_type(ServiceCategory)
    )
    doorstep_fee_paise: int
    government_fee_paise: int = 0
    time_limit_days: int | None = None
    visit_minutes: int = 30
    required_skill: str | None = None
    documents_en: list[str] = Field(default_factory=list, sa_type=JSON)
    documents_hi: list[str] = Field(default_factory=list, sa_type=JSON)
    popularity: int = 999
    active: bool = True

    @property
    def total_fee_paise(self) -> int:
        return self.doorstep_fee_paise + self.government_fee_paise

    def name_in(self, language: str) -> str:
        if language == "hi":
            return self.name_hi
        if language == "ur" and self.name_ur:
            return self.name_ur
        return self.name_en

    def documents_in(self, language: str) -> list[str]:
        return self.documents_hi if language == "hi" and self.documents_hi else self.documents_en
