"""Loading seed data (`seed_data/`) through the same service functions as user input.

A bad row fails the whole load with file, line and reason, and nothing is written. A state
already in the database is skipped, so seeding twice changes nothing — except that its place
names are brought up to date and the holidays of its `holidays.csv` it lacks are added (a new
year's list is added to a running database by the next `doorstep seed`).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from dispatch.agents import service as agent_service
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.errors import DispatchError, InvalidInput, NotFound, SeedError
from dispatch.geography import service as geography_service
from dispatch.geography.models import PlaceNames
from dispatch.states import service as state_service
from dispatch.states.models import State

ACTOR = "seed"


def _split(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def _float(row: dict[str, str], key: str) -> float:
    try:
        return float(row[key])
    except (KeyError, ValueError) as exc:
        raise InvalidInput(key, row.get(key), "expected a number") from exc


def _optional_int(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput("value", value, "expected a whole number") from exc


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV file with their line numbers (the header is line 1)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if not any((v or "").strip() for v in row.values()):
                continue
            if None in row:
                raise SeedError(str(path), reader.line_num, "more fields than the header names")
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}


def _load_file(
    session: Session,
    path: Path,
    load_row: Callable[[dict[str, str]], Any],
    *,
    required: bool = True,
) -> int:
    if not path.exists():
        if required:
            raise SeedError(str(path), 0, "file missing")
        return 0
    count = 0
    for line, row in _rows(path):
        try:
            load_row(row)
        except DispatchError as exc:
            if isinstance(exc, SeedError):
                raise
            raise SeedError(str(path), line, str(exc)) from exc
        except (KeyError, ValueError) as exc:
            raise SeedError(str(path), line, f"bad or missing field: {exc}") from exc
        count += 1
    return count


def load(*, session: Session, seed_dir: Path, states: list[str] | None = None) -> dict[str, int]:
    """Load every state in `seed_dir/states.csv` (or just `states`). Returns row counts.

    The caller's transaction is the unit: on `SeedError` roll it back and nothing is written.
    """
    counts: dict[str, int] = {}
    states_file = seed_dir / "states.csv"
    wanted: list[str] = []

    def load_state(row: dict[str, str]) -> None:
        code = row["code"].upper()
        if states is not None and code not in states:
            return
        wanted.append(code)
        if session.get(State, code) is not None:
            return
        state_service.create(
            session=session,
            code=code,
            name=row["name"],
            service_name=row["service_name"],
            toll_free=row["toll_free"],
            languages=_split(row["languages"]),
            timezone=row["timezone"],
            citizen_fee_paise=int(row["citizen_fee_paise"]),
            business_fee_paise=int(row["business_fee_paise"]),
            bounds=(
                _float(row, "min_lat"),
                _float(row, "max_lat"),
                _float(row, "min_lon"),
                _float(row, "max_lon"),
            ),
            sms_numbers=row.get("sms_numbers") or None,
            actor=ACTOR,
        )
        counts[f"{code}:new"] = 1

    _load_file(session, states_file, load_state)
    new_states = [code for code in wanted if counts.pop(f"{code}:new", 0)]
    counts["states"] = len(new_states)
    for code in new_states:
        counts.update(_load_state(session, seed_dir / code.lower(), code))
    for code in wanted:
        if code not in new_states:
            counts.update(_refresh_names(session, seed_dir / code.lower(), code))
        counts.update(_add_holidays(session, seed_dir / code.lower(), code))
    return counts


def _add_holidays(session: Session, folder: Path, code: str) -> dict[str, int]:
    """The state's gazetted holidays (`holidays.csv`: day, name) it does not have yet; a day
    it has keeps the name it has. Returns how many were added."""
    have = {h.day for h in state_service.holidays(session=session, state_code=code)}
    listed: set[dt.date] = set()
    added = 0

    def holiday(row: dict[str, str]) -> None:
        nonlocal added
        try:
            day = dt.date.fromisoformat(row["day"])
        except ValueError as exc:
            raise InvalidInput("day", row["day"], "expected a date like 2026-01-26") from exc
        if day in listed:
            raise InvalidInput("day", row["day"], "listed twice")
        listed.add(day)
        if day in have:
            return
        state_service.add_holiday(
            session=session, state_code=code, day=day, name=row["name"], actor=ACTOR
        )
        have.add(day)
        added += 1

    _load_file(session, folder / "holidays.csv", holiday, required=False)
    return {f"{code}.holidays": added}


def _refresh_names(session: Session, folder: Path, code: str) -> dict[str, int]:
    """A state loaded earlier gets the place names of the current seed files (the Hindi, Urdu
    and spoken names the phone line matches speech against); nothing else is changed, and a
    place the database does not have is left to whoever adds it. Returns how many places
    were renamed."""
    geo = geography_service
    renamed = 0

    def rename(place: PlaceNames | None, row: dict[str, str]) -> None:
        nonlocal renamed
        if place is not None:
            renamed += geo.set_names(session=session, place=place, names=_place_names(row))

    def district(row: dict[str, str]) -> None:
        with suppress(NotFound):
            rename(geo.get_district_by_code(session=session, code=row["code"]), row)

    def block(row: dict[str, str]) -> None:
        with suppress(NotFound):
            rename(geo.get_block_by_code(session=session, code=row["code"]), row)

    def village(row: dict[str, str]) -> None:
        with suppress(NotFound):
            found = geo.get_block_by_code(session=session, code=row["block_code"])
            rename(geo.find_village(session=session, block_id=found.id or 0, name=row["name"]), row)

    _load_file(session, folder / "districts.csv", district)
    _load_file(session, folder / "blocks.csv", block)
    _load_file(session, folder / "villages.csv", village)
    return {f"{code}.places_renamed": renamed}


def _load_state(session: Session, folder: Path, code: str) -> dict[str, int]:
    counts: dict[str, int] = {}

    def district(row: dict[str, str]) -> None:
        geography_service.create_district(
            session=session,
            state_code=code,
            code=row["code"],
            name=row["name"],
            lat=_float(row, "lat"),
            lon=_float(row, "lon"),
            names=_place_names(row),
        )

    def block(row: dict[str, str]) -> None:
        geography_service.create_block(
            session=session,
            district_code=row["district_code"],
            code=row["code"],
            name=row["name"],
            lat=_float(row, "lat"),
            lon=_float(row, "lon"),
            terrain=row["terrain"],
            names=_place_names(row),
        )

    def village(row: dict[str, str]) -> None:
        geography_service.create_village(
            session=session,
            block_code=row["block_code"],
            name=row["name"],
            lat=_float(row, "lat"),
            lon=_float(row, "lon"),
            terrain=row["terrain"],
            pincode=row.get("pincode") or None,
            names=_place_names(row),
        )

    def service(row: dict[str, str]) -> None:
        catalogue_service.create(
            session=session,
            state_code=code,
            code=row["code"],
            name_en=row["name_en"],
            name_hi=row["name_hi"],
            name_ur=row.get("name_ur") or None,
            aliases=_split(row.get("aliases", "")),
            department=row["department"],
            category=row.get("category") or "citizen",
            doorstep_fee_paise=_optional_int(row.get("doorstep_fee_paise")),
            government_fee_paise=_optional_int(row.get("government_fee_paise")) or 0,
            time_limit_days=_optional_int(row.get("time_limit_days")),
            visit_minutes=_optional_int(row.get("visit_minutes")) or 30,
            required_skill=row.get("required_skill") or None,
            documents_en=_split(row.get("documents_en", "")),
            documents_hi=_split(row.get("documents_hi", "")),
            popularity=_optional_int(row.get("popularity")) or 999,
            actor=ACTOR,
        )

    def agent(row: dict[str, str]) -> None:
        agent_service.create(
            session=session,
            state_code=code,
            csc_id=row["csc_id"],
            name=row["name"],
            phone=row["phone"],
            block_code=row["block_code"],
            lat=_float(row, "lat"),
            lon=_float(row, "lon"),
            skills=_split(row["skills"]),
            languages=_split(row["languages"]),
            working_days=_split(row["working_days"]),
            shift_start=row["shift_start"],
            shift_end=row["shift_end"],
            daily_cap=int(row["daily_cap"]),
            travel_mode=row["travel_mode"],
            actor=ACTOR,
        )

    def citizen(row: dict[str, str]) -> None:
        block_row = geography_service.get_block_by_code(session=session, code=row["block_code"])
        assert block_row.id is not None
        found = geography_service.find_village(
            session=session, block_id=block_row.id, name=row["village"]
        )
        if found is None or found.id is None:
            raise InvalidInput(
                "village", row["village"], f"no such village in block {row['block_code']}"
            )
        person = citizen_service.register(
            session=session,
            state_code=code,
            phone=row["phone"],
            name=row["name"],
            language=row["language"],
            senior=row.get("senior", "") in {"1", "yes", "true"},
            demo=True,
            actor=ACTOR,
        )
        assert person.id is not None
        citizen_service.add_address(
            session=session,
            citizen_id=person.id,
            village_id=found.id,
            landmark=row.get("landmark", ""),
            actor=ACTOR,
        )

    counts[f"{code}.districts"] = _load_file(session, folder / "districts.csv", district)
    counts[f"{code}.blocks"] = _load_file(session, folder / "blocks.csv", block)
    counts[f"{code}.villages"] = _load_file(session, folder / "villages.csv", village)
    counts[f"{code}.services"] = _load_file(session, folder / "services.csv", service)
    counts[f"{code}.agents"] = _load_file(session, folder / "agents.csv", agent)
    counts[f"{code}.citizens"] = _load_file(
        session, folder / "citizens.csv", citizen, required=False
    )
    return counts


def is_seeded(*, session: Session) -> bool:
    return session.exec(select(State)).first() is not None


def _place_names(row: dict[str, str]) -> geography_service.Names:
    return geography_service.Names(
        hi=row.get("name_hi") or "",
        ur=row.get("name_ur") or "",
        aliases=tuple(_split(row.get("aliases") or "")),
    )
