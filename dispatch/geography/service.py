"""Geography service functions: validated creation (inside the state), lookups, and the
district -> block -> village chain the console's pickers walk (`place_of_village`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography.models import Block, District, PlaceNames, Terrain, Village
from dispatch.states import service as state_service

TERRAINS = frozenset(t.value for t in Terrain)
#: Spoken aliases kept per place (more only slows speech matching down).
MAX_ALIASES = 12


@dataclass(frozen=True)
class Names:
    """A place's names besides its Latin `name`: Devanagari, Urdu script, spoken aliases."""

    hi: str = ""
    ur: str = ""
    aliases: tuple[str, ...] = ()


def _names(target: PlaceNames, names: Names) -> None:
    target.name_hi = validation.text(names.hi, field="name_hi", max_length=120, required=False)
    target.name_ur = validation.text(names.ur, field="name_ur", max_length=120, required=False)
    aliases = [validation.text(a, field="aliases", max_length=120) for a in names.aliases]
    if len(aliases) > MAX_ALIASES:
        raise InvalidInput("aliases", len(aliases), f"more than {MAX_ALIASES}")
    own = {target.name.casefold(), target.name_hi, target.name_ur}
    target.aliases = list(dict.fromkeys(a for a in aliases if a.casefold() not in own))


def set_names(*, session: Session, place: PlaceNames, names: Names) -> bool:
    """Replace a place's Devanagari, Urdu and alias names (the seed refreshes them); whether
    anything changed."""
    before = (place.name_hi, place.name_ur, list(place.aliases))
    _names(place, names)
    if (place.name_hi, place.name_ur, place.aliases) == before:
        return False
    session.add(place)
    return True


def create_district(
    *,
    session: Session,
    state_code: str,
    code: str,
    name: str,
    lat: float,
    lon: float,
    names: Names = Names(),
) -> District:
    state = state_service.get(session=session, code=state_code)
    state_service.check_inside(state, lat, lon)
    code = validation.text(code, field="code", max_length=8).upper()
    if session.exec(select(District).where(District.code == code)).first():
        raise InvalidInput("code", code, "a district with this code exists")
    district = District(
        state_code=state.code,
        code=code,
        name=validation.text(name, field="name"),
        lat=lat,
        lon=lon,
    )
    _names(district, names)
    session.add(district)
    session.flush()
    return district


def create_block(
    *,
    session: Session,
    district_code: str,
    code: str,
    name: str,
    lat: float,
    lon: float,
    terrain: str,
    names: Names = Names(),
) -> Block:
    district = get_district_by_code(session=session, code=district_code)
    state_service.check_inside(
        state_service.get(session=session, code=district.state_code), lat, lon
    )
    code = validation.text(code, field="code", max_length=12).upper()
    if session.exec(select(Block).where(Block.code == code)).first():
        raise InvalidInput("code", code, "a block with this code exists")
    assert district.id is not None
    block = Block(
        district_id=district.id,
        code=code,
        name=validation.text(name, field="name"),
        lat=lat,
        lon=lon,
        terrain=Terrain(validation.choice(terrain, field="terrain", allowed=TERRAINS)),
    )
    _names(block, names)
    session.add(block)
    session.flush()
    return block


def create_village(
    *,
    session: Session,
    block_code: str,
    name: str,
    lat: float,
    lon: float,
    terrain: str,
    pincode: str | None = None,
    names: Names = Names(),
) -> Village:
    block = get_block_by_code(session=session, code=block_code)
    district = session.get(District, block.district_id)
    assert district is not None and block.id is not None
    state_service.check_inside(
        state_service.get(session=session, code=district.state_code), lat, lon
    )
    village = Village(
        block_id=block.id,
        name=validation.text(name, field="name"),
        lat=lat,
        lon=lon,
        terrain=Terrain(validation.choice(terrain, field="terrain", allowed=TERRAINS)),
        pincode=validation.pincode(pincode),
    )
    _names(village, names)
    session.add(village)
    session.flush()
    return village


def get_district(*, session: Session, district_id: int) -> District:
    district = session.get(District, district_id)
    if district is None:
        raise NotFound("district", district_id)
    return district


def get_district_by_code(*, session: Session, code: str) -> District:
    district = session.exec(select(District).where(District.code == code.upper())).first()
    if district is None:
        raise NotFound("district", code)
    return district


def get_block_by_code(*, session: Session, code: str) -> Block:
    block = session.exec(select(Block).where(Block.code == code.upper())).first()
    if block is None:
        raise NotFound("block", code)
    return block


def get_village(*, session: Session, village_id: int) -> Village:
    village = session.get(Village, village_id)
    if village is None:
        raise NotFound("village", village_id)
    return village


def districts(*, session: Session, state_code: str) -> list[District]:
    stmt = select(District).where(District.state_code == state_code).order_by(col(District.name))
    return list(session.exec(stmt))


def blocks(*, session: Session, district_id: int) -> list[Block]:
    stmt = select(Block).where(Block.district_id == district_id).order_by(col(Block.name))
    return list(session.exec(stmt))


def villages(*, session: Session, block_id: int) -> list[Village]:
    stmt = select(Village).where(Village.block_id == block_id).order_by(col(Village.name))
    return list(session.exec(stmt))


def find_village(*, session: Session, block_id: int, name: str) -> Village | None:
    """The village of a block called `name` (case-insensitive), if any."""
    wanted = name.strip().casefold()
    for village in villages(session=session, block_id=block_id):
        if village.name.casefold() == wanted:
            return village
    return None


def places_with_pincode(*, session: Session, state_code: str, pincode: str) -> list[Place]:
    """The villages of a state that have `pincode`, with their blocks and districts."""
    stmt = (
        select(Village, Block, District)
        .join(Block, col(Block.id) == Village.block_id)
        .join(District, col(District.id) == Block.district_id)
        .where(Village.pincode == pincode, District.state_code == state_code)
        .order_by(col(Village.name))
    )
    return [Place(district=d, block=b, village=v) for v, b, d in session.exec(stmt)]


def district_of_village(*, session: Session, village_id: int) -> District:
    village = get_village(session=session, village_id=village_id)
    block = session.get(Block, village.block_id)
    assert block is not None
    return get_district(session=session, district_id=block.district_id)


def get_block(*, session: Session, block_id: int) -> Block:
    block = session.get(Block, block_id)
    if block is None:
        raise NotFound("block", block_id)
    return block


@dataclass(frozen=True)
class Place:
    """A village with its block and district: what a picker preselects and a page shows."""

    district: District
    block: Block
    village: Village

    @property
    def label(self) -> str:
        return f"{self.village.name}, {self.block.name}, {self.district.name}"


def place_of_village(*, session: Session, village_id: int) -> Place:
    """The village, its block and its district (`NotFound` for an unknown village)."""
    village = get_village(session=session, village_id=village_id)
    block = get_block(session=session, block_id=village.block_id)
    district = get_district(session=session, district_id=block.district_id)
    return Place(district=district, block=block, village=village)
