"""An agent's day as the agent needs it: each visit in the order of the plan with its time,
reference, citizen's first name and phone, village and landmark, service, fee to collect and
documents to check. Read in one joined query; read-only.

Shared by the morning itinerary, the day page, the phone menu's "next visit" and the reports
(which need to know what comes next).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col

from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address, Citizen
from dispatch.geography.models import District, PlaceNames, Village
from dispatch.planning import store
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED, RequestStatus
from dispatch.states.models import State

#: A visit the agent has reported on: done for the day, whatever the outcome.
FINISHED = frozenset({RequestStatus.COMPLETED, RequestStatus.FAILED, RequestStatus.NO_SHOW})


@dataclass(frozen=True)
class DayVisit:
    request_id: int
    reference: str
    status: RequestStatus
    window_start: dt.datetime
    window_end: dt.datetime
    eta: dt.datetime | None
    first_name: str
    phone: str
    village: str
    landmark: str
    village_names: PlaceNames  # the village as Hindi and Urdu prompts read it
    service: str
    fee_paise: int
    documents: list[str]
    language: str
    at_risk: bool
    version: int

    @property
    def open(self) -> bool:
        return self.status in PLANNED

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def timezone_of(session: Session, district_id: int) -> ZoneInfo:
    district = session.get(District, district_id)
    assert district is not None
    state = session.get(State, district.state_code)
    assert state is not None
    return ZoneInfo(state.timezone)


def timezone_of_state(session: Session, state_code: str) -> ZoneInfo:
    state = session.get(State, state_code)
    assert state is not None
    return ZoneInfo(state.timezone)


def local_day(when: dt.datetime, tz: ZoneInfo) -> dt.date:
    return when.astimezone(tz).date()


def first_name(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else ""


def visits(*, session: Session, agent_id: int, day: dt.date, tz: ZoneInfo) -> list[DayVisit]:
    """The agent's visits of the local `day`, open and finished, in the plan's order: finished
    ones first (in the order reported), then the open ones by their place in the current plan."""
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    stmt = (
        sa.select(DoorstepRequest, Citizen, Address, Village, Service)
        .join(Citizen, col(Citizen.id) == col(DoorstepRequest.citizen_id))
        .join(Address, col(Address.id) == col(DoorstepRequest.address_id))
        .join(Village, col(Village.id) == col(Address.village_id))
        .join(Service, col(Service.id) == col(DoorstepRequest.service_id))
        .where(
            col(DoorstepRequest.agent_id) == agent_id,
            col(DoorstepRequest.window_start) >= start,
            col(DoorstepRequest.window_start) < start + dt.timedelta(days=1),
            col(DoorstepRequest.status).in_([s.value for s in PLANNED | FINISHED]),
        )
    )
    rows = [tuple(row) for row in session.execute(stmt)]
    district_ids = {row[0].district_id for row in rows}
    position: dict[int, int] = {}
    for district_id in district_ids:
        for stop in store.current_stops(session=session, district_id=district_id, day=day):
            if stop.agent_id == agent_id:
                position[stop.request_id] = stop.position
    out = []
    for request, citizen, address, village, service in rows:
        assert request.id is not None and request.window_start and request.window_end
        language = request.language
        out.append(
            DayVisit(
                request_id=request.id,
                reference=request.reference,
                status=request.status,
                window_start=request.window_start,
                window_end=request.window_end,
                eta=request.planned_arrival,
                first_name=first_name(citizen.name),
                phone=citizen.phone,
                village=village.name,
                landmark=address.landmark,
                village_names=PlaceNames(
                    name=village.name, name_hi=village.name_hi, name_ur=village.name_ur
                ),
                service=service.name_en,
                fee_paise=request.fee_paise,
                documents=service.documents_en,
                language=language,
                at_risk=request.at_risk,
                version=request.version,
            )
        )

    def order(v: DayVisit) -> tuple[int, float, int]:
        when = (v.eta or v.window_start).timestamp()
        if v.finished:
            return (0, when, v.request_id)
        return (1, position.get(v.request_id, 10**6) * 1e12 + when, v.request_id)

    return sorted(out, key=order)


def next_open(visits: list[DayVisit]) -> DayVisit | None:
    """The visit the agent is at or heading to: arrived, on the way, else the first assigned."""
    for wanted in (RequestStatus.ARRIVED, RequestStatus.EN_ROUTE):
        for v in visits:
            if v.status is wanted:
                return v
    return next((v for v in visits if v.open), None)
