"""Citizens and their addresses: find by phone, register, add an address; and for the
console's intake, register with an address and fill in a missing name."""

from __future__ import annotations

from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.audit import service as audit
from dispatch.citizens.models import Address, Citizen
from dispatch.db import utcnow
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.states import service as state_service


def find_by_phone(*, session: Session, state_code: str, phone: str) -> Citizen | None:
    try:
        e164 = validation.phone(phone)
    except InvalidInput:
        return None
    stmt = select(Citizen).where(Citizen.state_code == state_code, Citizen.phone == e164)
    return session.exec(stmt).first()


def get(*, session: Session, citizen_id: int) -> Citizen:
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise NotFound("citizen", citizen_id)
    return citizen


def register(
    *,
    session: Session,
    state_code: str,
    phone: str,
    name: str = "",
    language: str = "hi",
    senior: bool = False,
    disabled: bool = False,
    demo: bool = False,
    actor: str = "system",
) -> Citizen:
    """Find the citizen with this phone, or register a new one."""
    state = state_service.get(session=session, code=state_code)
    e164 = validation.phone(phone)
    validation.choice(language, field="language", allowed=set(state.languages))
    existing = find_by_phone(session=session, state_code=state.code, phone=e164)
    if existing is not None:
        return existing
    citizen = Citizen(
        state_code=state.code,
        phone=e164,
        name=validation.text(name, field="name", required=False),
        language=language,
        senior=senior,
        disabled=disabled,
        demo=demo,
    )
    session.add(citizen)
    session.flush()
    audit.record(
        session=session, actor=actor, entity="citizen", entity_id=citizen.id, action="register"
    )
    return citizen


def add_address(
    *,
    session: Session,
    citizen_id: int,
    village_id: int,
    landmark: str = "",
    lat: float | None = None,
    lon: float | None = None,
    proven: bool = True,
    actor: str = "system",
) -> Address:
    """Add an address in a village; coordinates default to the village's. An address given
    by a caller who has not proven to be the citizen is added as not `proven` (and is then
    never offered back as their last address)."""
    citizen = get(session=session, citizen_id=citizen_id)
    village = geography_service.get_village(session=session, village_id=village_id)
    lat = village.lat if lat is None else lat
    lon = village.lon if lon is None else lon
    state_service.check_inside(
        state_service.get(session=session, code=citizen.state_code), lat, lon
    )
    landmark = validation.text(landmark, field="landmark", required=False)
    for existing in addresses(session=session, citizen_id=citizen_id):
        if (
            existing.village_id == village_id
            and existing.landmark.casefold() == landmark.casefold()
            and existing.proven == proven
        ):
            existing.last_used_at = utcnow()
            session.add(existing)
            return existing
    assert village.id is not None and citizen.id is not None
    address = Address(
        citizen_id=citizen.id,
        village_id=village.id,
        landmark=landmark,
        lat=lat,
        lon=lon,
        proven=proven,
    )
    session.add(address)
    session.flush()
    audit.record(
        session=session, actor=actor, entity="address", entity_id=address.id, action="create"
    )
    return address


def addresses(*, session: Session, citizen_id: int) -> list[Address]:
    stmt = (
        select(Address)
        .where(Address.citizen_id == citizen_id)
        .order_by(col(Address.last_used_at).desc())
    )
    return list(session.exec(stmt))


def last_address(*, session: Session, citizen_id: int) -> Address | None:
    """The address the citizen (proven to be them) used last: what "your last address" means."""
    found = [a for a in addresses(session=session, citizen_id=citizen_id) if a.proven]
    return found[0] if found else None


def get_address(*, session: Session, address_id: int) -> Address:
    address = session.get(Address, address_id)
    if address is None:
        raise NotFound("address", address_id)
    return address


def address_of(*, session: Session, citizen_id: int, address_id: int) -> Address:
    """The citizen's own address; `NotFound` for another citizen's (a form's stale choice)."""
    address = session.get(Address, address_id)
    if address is None or address.citizen_id != citizen_id:
        raise NotFound("address", address_id)
    return address


def register_with_address(
    *,
    session: Session,
    state_code: str,
    phone: str,
    village_id: int,
    landmark: str = "",
    name: str = "",
    language: str = "hi",
    senior: bool = False,
    disabled: bool = False,
    proven: bool = True,
    actor: str = "system",
) -> tuple[Citizen, Address]:
    """A call agent's new address: the citizen with this phone (registered if new; a name their
    record lacks is filled in) and the address in the village (an equal one is reused)."""
    citizen = register(
        session=session,
        state_code=state_code,
        phone=phone,
        name=name,
        language=language,
        senior=senior,
        disabled=disabled,
        actor=actor,
    )
    assert citizen.id is not None
    fill_in_name(session=session, citizen_id=citizen.id, name=name, actor=actor)
    address = add_address(
        session=session,
        citizen_id=citizen.id,
        village_id=village_id,
        landmark=landmark,
        proven=proven,
        actor=actor,
    )
    return citizen, address


def fill_in_name(*, session: Session, citizen_id: int, name: str, actor: str = "system") -> Citizen:
    """Give a citizen registered without a name (by the phone line) the name a call agent
    took down; a name already held is kept (changing one is not the intake's to do)."""
    citizen = get(session=session, citizen_id=citizen_id)
    given = validation.text(name, field="name", max_length=120, required=False)
    if given and not citizen.name:
        citizen.name = given
        session.add(citizen)
        session.flush()
        audit.record(
            session=session, actor=actor, entity="citizen", entity_id=citizen.id, action="name"
        )
    return citizen
