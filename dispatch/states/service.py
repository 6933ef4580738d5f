"""States (tenants): lookup and validated creation; their gazetted holidays (list, add)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.audit import service as audit
from dispatch.errors import InvalidInput, NotFound, OutsideServiceArea
from dispatch.states.models import Holiday, State


def get(*, session: Session, code: str) -> State:
    state = session.get(State, code)
    if state is None:
        raise NotFound("state", code)
    return state


def get_by_toll_free(*, session: Session, number: str) -> State | None:
    return session.exec(select(State).where(State.toll_free == number)).first()


def list_all(*, session: Session) -> list[State]:
    return list(session.exec(select(State).order_by(State.code)))


def create(
    *,
    session: Session,
    code: str,
    name: str,
    service_name: str,
    toll_free: str,
    languages: list[str],
    timezone: str,
    citizen_fee_paise: int,
    business_fee_paise: int,
    bounds: tuple[float, float, float, float],
    sms_numbers: str | None = None,
    actor: str = "system",
) -> State:
    """Add a state; `bounds` is (min_lat, max_lat, min_lon, max_lon)."""
    code = validation.text(code, field="code", max_length=4).upper()
    if not code.isalpha():
        raise InvalidInput("code", code, "letters only")
    if not toll_free.isdigit():
        raise InvalidInput("toll_free", toll_free, "digits only")
    if not languages:
        raise InvalidInput("languages", languages, "at least one language")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("timezone", timezone, "unknown time zone") from exc
    min_lat, max_lat, min_lon, max_lon = bounds
    if not (-90 <= min_lat < max_lat <= 90 and -180 <= min_lon < max_lon <= 180):
        raise InvalidInput("bounds", bounds, "expected min_lat < max_lat, min_lon < max_lon")
    extra: dict[str, Any] = {}
    if sms_numbers:
        try:
            re.compile(sms_numbers)
        except re.error as exc:
            raise InvalidInput(
                "sms_numbers", sms_numbers, f"not a regular expression: {exc}"
            ) from exc
        extra["sms_numbers"] = sms_numbers
    state = State(
        code=code,
        name=validation.text(name, field="name"),
        service_name=validation.text(service_name, field="service_name"),
        toll_free=toll_free,
        languages=languages,
        timezone=timezone,
        citizen_fee_paise=validation.fee(citizen_fee_paise, field="citizen_fee_paise"),
        business_fee_paise=validation.fee(business_fee_paise, field="business_fee_paise"),
        min_lat=min_lat,
        max_lat=max_lat,
        min_lon=min_lon,
        max_lon=max_lon,
        **extra,
    )
    session.add(state)
    audit.record(session=session, actor=actor, entity="state", entity_id=code, action="create")
    return state


def check_inside(state: State, lat: float, lon: float, *, field: str = "coordinates") -> None:
    """Raise `OutsideServiceArea` unless (lat, lon) lies inside the state's area."""
    if not state.contains(lat, lon):
        raise OutsideServiceArea(field, (lat, lon), f"outside {state.name}")


# --- holidays -------------------------------------------------------------------------------


def holidays(
    *,
    session: Session,
    state_code: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[Holiday]:
    """The state's gazetted holidays from `start` to `end` (both included; no bound when
    None), in date order."""
    stmt = select(Holiday).where(Holiday.state_code == state_code)
    if start is not None:
        stmt = stmt.where(Holiday.day >= start)
    if end is not None:
        stmt = stmt.where(Holiday.day <= end)
    return list(session.exec(stmt.order_by(col(Holiday.day))))


def add_holiday(
    *, session: Session, state_code: str, day: dt.date, name: str, actor: str
) -> Holiday:
    """Add a gazetted holiday (audited). A day the state already has as a holiday is refused
    (`InvalidInput` on `day`, naming it). Due dates already given are not moved: they were
    counted with the calendar of the day the request was logged."""
    state = get(session=session, code=state_code)
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise InvalidInput("day", day, "expected a date")
    name = validation.text(name, field="name", max_length=120)
    existing = session.exec(
        select(Holiday).where(Holiday.state_code == state.code, Holiday.day == day)
    ).first()
    if existing is not None:
        raise InvalidInput("day", day.isoformat(), f"already a holiday: {existing.name}")
    holiday = Holiday(state_code=state.code, day=day, name=name)
    session.add(holiday)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        entity="holiday",
        entity_id=holiday.id,
        action="create",
        after={"state_code": state.code, "day": day.isoformat(), "name": name},
    )
    return holiday
