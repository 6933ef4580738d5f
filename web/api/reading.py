"""What a channel reads before it books: the catalogue of the client's state (services, fees,
legal time limits, documents) and its places (districts, blocks, villages, villages by PIN
code), so a citizen can name their address. All read-only; each needs a key like every route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlmodel import Session

from dispatch.catalogue import service as catalogue_service
from dispatch.errors import NotFound
from dispatch.geography import service as geography_service
from dispatch.geography.models import Block, District, Village
from dispatch.states import service as state_service
from web.api.access import ClientDep
from web.api.problems import ApiProblem
from web.api.schemas import (
    BlockOut,
    Blocks,
    Catalogue,
    DistrictOut,
    Districts,
    ServiceOut,
    VillageOut,
    Villages,
)
from web.deps import ReadSessionDep

router = APIRouter()

PLACE_CODE = Annotated[str, Path(min_length=2, max_length=12, pattern=r"^[A-Za-z0-9_-]+$")]
PINCODE = Annotated[str, Path(pattern=r"^[1-9][0-9]{5}$", examples=["190003"])]


@router.get("/catalogue", response_model=Catalogue, tags=["catalogue"], summary="The catalogue")
def catalogue(client: ClientDep, session: ReadSessionDep) -> Catalogue:
    """The services a citizen of the client's state can ask for at the door, the most requested
    first: names, fees (paise), the legal time limit, the documents to keep ready."""
    state = state_service.get(session=session, code=client.state_code)
    services = catalogue_service.list_active(session=session, state_code=state.code)
    return Catalogue(
        state=state.code,
        timezone=state.timezone,
        languages=list(state.languages),
        services=[
            ServiceOut(
                code=s.code,
                name_en=s.name_en,
                name_hi=s.name_hi,
                name_ur=s.name_ur,
                department=s.department,
                category=s.category.value,
                doorstep_fee_paise=s.doorstep_fee_paise,
                government_fee_paise=s.government_fee_paise,
                total_fee_paise=s.total_fee_paise,
                time_limit_days=s.time_limit_days,
                visit_minutes=s.visit_minutes,
                documents_en=list(s.documents_en),
                documents_hi=list(s.documents_hi),
            )
            for s in services
        ],
    )


def _names(place: District | Block | Village) -> dict[str, str]:
    return {"name": place.name, "name_hi": place.name_hi, "name_ur": place.name_ur}


@router.get("/places/districts", response_model=Districts, tags=["places"], summary="Districts")
def districts(client: ClientDep, session: ReadSessionDep) -> Districts:
    """The districts of the client's state, by name."""
    found = geography_service.districts(session=session, state_code=client.state_code)
    return Districts(districts=[DistrictOut(code=d.code, **_names(d)) for d in found])


@router.get(
    "/places/districts/{district_code}/blocks",
    response_model=Blocks,
    summary="Blocks of a district",
    tags=["places"],
    responses={404: {"description": "no such district in the client's state"}},
)
def blocks(district_code: PLACE_CODE, client: ClientDep, session: ReadSessionDep) -> Blocks:
    """The blocks (tehsils) of a district."""
    district = _district(session, client.state_code, district_code)
    assert district.id is not None
    found = geography_service.blocks(session=session, district_id=district.id)
    return Blocks(
        blocks=[BlockOut(code=b.code, district_code=district.code, **_names(b)) for b in found]
    )


@router.get(
    "/places/blocks/{block_code}/villages",
    response_model=Villages,
    summary="Villages of a block",
    tags=["places"],
    responses={404: {"description": "no such block in the client's state"}},
)
def villages(block_code: PLACE_CODE, client: ClientDep, session: ReadSessionDep) -> Villages:
    """The villages (and town wards) of a block: their `id` is what an address takes."""
    try:
        block = geography_service.get_block_by_code(session=session, code=block_code)
    except NotFound:
        raise ApiProblem("not-found", "No such block in this state.") from None
    district = geography_service.get_district(session=session, district_id=block.district_id)
    if district.state_code != client.state_code:
        raise ApiProblem("not-found", "No such block in this state.")
    assert block.id is not None
    found = geography_service.villages(session=session, block_id=block.id)
    return Villages(villages=[_village(v, block, district) for v in found])


@router.get(
    "/places/pincodes/{pincode}",
    response_model=Villages,
    tags=["places"],
    summary="Villages by PIN code",
)
def by_pincode(pincode: PINCODE, client: ClientDep, session: ReadSessionDep) -> Villages:
    """The villages that have this 6-digit PIN code in the client's state (often several; an
    empty list when none has it: then name the place by district, block and village)."""
    places = geography_service.places_with_pincode(
        session=session, state_code=client.state_code, pincode=pincode
    )
    return Villages(villages=[_village(p.village, p.block, p.district) for p in places])


def _district(session: Session, state_code: str, code: str) -> District:
    try:
        district = geography_service.get_district_by_code(session=session, code=code)
    except NotFound:
        raise ApiProblem("not-found", "No such district in this state.") from None
    if district.state_code != state_code:
        raise ApiProblem("not-found", "No such district in this state.")
    return district


def _village(village: Village, block: Block, district: District) -> VillageOut:
    assert village.id is not None
    return VillageOut(
        id=village.id,
        pincode=village.pincode,
        block_code=block.code,
        district_code=district.code,
        label=f"{village.name}, {block.name}, {district.name}",
        **_names(village),
    )
