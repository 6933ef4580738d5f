"""The request and response bodies of `/api/v1` (pydantic), with the examples the OpenAPI
description shows. Money is in integer paise; times are ISO 8601 with their offset (UTC from
this server; the state's own time zone is named in the catalogue)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatch.requests.rules import RequestStatus

ROW_ID = Annotated[int, Field(ge=1, le=2**31 - 1)]
SERVICE_CODE = Annotated[
    str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_]+$", examples=["INCOME_CERT"])
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- the catalogue ----------------------------------------------------------------------------


class ServiceOut(_Out):
    code: str = Field(examples=["INCOME_CERT"])
    name_en: str = Field(examples=["Income Certificate"])
    name_hi: str = Field(examples=["आय प्रमाण पत्र"])
    name_ur: str | None = Field(examples=["آمدنی سرٹیفکیٹ"])
    department: str = Field(examples=["Revenue Department"])
    category: Literal["citizen", "business"]
    doorstep_fee_paise: int = Field(description="the doorstep fee, paise", examples=[5000])
    government_fee_paise: int = Field(description="the department's own fee, paise", examples=[0])
    total_fee_paise: int = Field(description="what the citizen pays at the door", examples=[5000])
    time_limit_days: int | None = Field(
        description="the legal time limit (public-services guarantee act), days; null: none",
        examples=[15],
    )
    visit_minutes: int = Field(examples=[30])
    documents_en: list[str] = Field(examples=[["Aadhaar card", "Ration card"]])
    documents_hi: list[str] = Field(examples=[["आधार कार्ड", "राशन कार्ड"]])


class Catalogue(_Out):
    state: str = Field(examples=["JK"])
    timezone: str = Field(examples=["Asia/Kolkata"])
    languages: list[str] = Field(
        description="the languages a citizen may be served in (ISO 639 codes)",
        examples=[["hi", "en", "ur", "ks", "doi"]],
    )
    services: list[ServiceOut]


# --- places -----------------------------------------------------------------------------------


class Names(_Out):
    name: str = Field(description="in Latin script", examples=["Srinagar"])
    name_hi: str = Field(description="in Devanagari ('' when unknown)", examples=["श्रीनगर"])
    name_ur: str = Field(description="in Urdu script ('' when unknown)", examples=["سرینگر"])


class DistrictOut(Names):
    code: str = Field(examples=["SXR"])


class BlockOut(Names):
    code: str = Field(examples=["SXR02"])
    district_code: str = Field(examples=["SXR"])


class VillageOut(Names):
    id: int = Field(description="what `address.village_id` takes", examples=[101])
    pincode: str | None = Field(examples=["190003"])
    block_code: str = Field(examples=["SXR02"])
    district_code: str = Field(examples=["SXR"])
    label: str = Field(
        description="village, block, district", examples=["Rainawari, Khanyar, Srinagar"]
    )


class Districts(_Out):
    districts: list[DistrictOut]


class Blocks(_Out):
    blocks: list[BlockOut]


class Villages(_Out):
    villages: list[VillageOut]


# --- citizens, addresses, offers ---------------------------------------------------------------


class CitizenIn(_In):
    """The citizen the channel serves."""

    phone: str = Field(
        min_length=10,
        max_length=20,
        description="their mobile number (10 digits, or E.164). SMS go here",
        examples=["+919812345678"],
    )
    phone_verified: bool = Field(
        default=False,
        description="true only if the channel itself verified that the person it serves holds "
        "this number (a WhatsApp sender, an OTP). Then the address is theirs (offered back "
        "to them later), and without an SMS the visit code may be returned",
    )
    language: str = Field(
        min_length=2,
        max_length=3,
        pattern=r"^[a-z]{2,3}$",
        description="one of the catalogue's `languages`: the SMS and the agent's language",
        examples=["hi"],
    )


class NamedCitizenIn(CitizenIn):
    name: str = Field(min_length=1, max_length=120, examples=["Shabnam Akhtar"])


class AddressIn(_In):
    village_id: ROW_ID = Field(description="from /places", examples=[101])
    landmark: str = Field(
        default="",
        max_length=200,
        description="how the agent finds the door, in the citizen's words",
        examples=["behind the Jamia Masjid, green gate"],
    )


class OffersIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service": "INCOME_CERT",
                    "citizen": {"phone": "+919812345678", "phone_verified": True, "language": "hi"},
                    "address": {"village_id": 101, "landmark": "near the school"},
                }
            ]
        }
    )

    service: SERVICE_CODE
    citizen: CitizenIn
    address: AddressIn


class WindowOut(_Out):
    offer_id: str = Field(
        description="opaque: send it back to book (or move) into this window",
        examples=["eyJkaXN0cmljdF9pZCI6MSwi...Zg.q1w2e3r4t5y6u7i8o9p0aa"],
    )
    start: dt.datetime = Field(examples=["2026-12-02T03:30:00+00:00"])
    end: dt.datetime = Field(examples=["2026-12-02T05:30:00+00:00"])
    label: str = Field(
        description="the window in the state's local time", examples=["Wed 2 Dec, 09:00-11:00"]
    )


class Offers(_Out):
    service: str = Field(examples=["INCOME_CERT"])
    fee_paise: int = Field(description="what the citizen will pay at the door", examples=[5000])
    windows: list[WindowOut] = Field(
        description="the earliest windows the live plan can meet, earliest first; empty when "
        "none can be met in the coming days (a request may then be made with `offer_id` null)"
    )


# --- requests ---------------------------------------------------------------------------------


class NewRequestIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service": "INCOME_CERT",
                    "citizen": {
                        "phone": "+919812345678",
                        "phone_verified": True,
                        "name": "Shabnam Akhtar",
                        "language": "hi",
                    },
                    "address": {"village_id": 101, "landmark": "near the school"},
                    "offer_id": "eyJkaXN0cmljdF9pZCI6MSwi...Zg.q1w2e3r4t5y6u7i8o9p0aa",
                }
            ]
        }
    )

    service: SERVICE_CODE
    citizen: NamedCitizenIn
    address: AddressIn
    offer_id: str | None = Field(
        max_length=1000,
        description="a window from /offers; null logs the request without a window (when "
        "none could be offered): it is given one later",
    )


class RescheduleIn(_In):
    offer_id: str = Field(
        min_length=1, max_length=1000, description="a window from /requests/{reference}/offers"
    )


class CancelIn(_In):
    reason: str = Field(
        default="",
        max_length=200,
        description="why, in the citizen's words (kept in the request's history)",
        examples=["the certificate is no longer needed"],
    )


class RequestOut(_Out):
    """A request as its citizen may see it (and, after a command, what the command did)."""

    reference: str = Field(examples=["JK-26-000123-7"])
    service: str = Field(examples=["INCOME_CERT"])
    status: RequestStatus
    window_start: dt.datetime | None = Field(examples=["2026-12-02T03:30:00+00:00"])
    window_end: dt.datetime | None = Field(examples=["2026-12-02T05:30:00+00:00"])
    fee_paise: int = Field(examples=[5000])
    changeable: bool = Field(
        description="whether the citizen may still move or cancel it (not once the agent is "
        "on the way)"
    )
    sms_queued: bool | None = Field(
        default=None,
        description="after a command: whether an SMS to the citizen was queued (SMS go only "
        "to the numbers the state allows: Indian mobiles)",
    )
    visit_code: str | None = Field(
        default=None,
        description="after booking, only when no SMS can carry the code and the channel "
        "verified the phone (`phone_verified`): the 4-digit code the citizen shows the agent. "
        "Otherwise null: it is in the citizen's SMS",
    )
