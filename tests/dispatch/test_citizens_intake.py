"""What the console's intake needs of citizens and geography: registering a caller with an
address in one go (or finding them), a missing name filled in, an address that must be the
citizen's own, and a village's block and district for the pickers."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dispatch.audit.models import AuditEntry
from dispatch.citizens import service as citizen_service
from dispatch.errors import NotFound
from dispatch.geography import service as geography_service
from tests import factories
from tests.conftest import unique_phone


def test_a_new_caller_is_registered_with_their_address(session: Session) -> None:
    village = factories.village_in(session, "BDP")
    assert village.id is not None
    phone = unique_phone()
    citizen, address = citizen_service.register_with_address(
        session=session,
        state_code="JK",
        phone=phone,
        village_id=village.id,
        landmark="near the post office",
        name="Rafiq Lone",
        language="ur",
        senior=True,
        actor="staff:tester",
    )
    assert (citizen.phone, citizen.name, citizen.language, citizen.senior) == (
        phone,
        "Rafiq Lone",
        "ur",
        True,
    )
    assert address.citizen_id == citizen.id and address.village_id == village.id
    assert address.landmark == "near the post office" and address.proven
    again, same = citizen_service.register_with_address(
        session=session,
        state_code="JK",
        phone=phone,
        village_id=village.id,
        landmark="Near the Post Office",
        actor="staff:tester",
    )
    assert again.id == citizen.id and same.id == address.id


def test_a_nameless_citizen_gets_the_name_a_name_held_is_kept(session: Session) -> None:
    person = citizen_service.register(session=session, state_code="JK", phone=unique_phone())
    assert person.id is not None and person.name == ""
    citizen_service.fill_in_name(
        session=session, citizen_id=person.id, name=" Shazia Bano ", actor="staff:tester"
    )
    assert person.name == "Shazia Bano"
    citizen_service.fill_in_name(session=session, citizen_id=person.id, name="Someone Else")
    assert person.name == "Shazia Bano"
    named = session.exec(
        select(AuditEntry).where(AuditEntry.entity == "citizen", AuditEntry.action == "name")
    ).all()
    assert [e.actor for e in named if e.entity_id == str(person.id)] == ["staff:tester"]


def test_an_address_of_another_citizen_is_not_found(session: Session) -> None:
    one = factories.citizen(session, district_code="BDP")
    other = factories.citizen(session, district_code="BDP")
    assert one.id is not None and other.id is not None
    own = citizen_service.addresses(session=session, citizen_id=one.id)[0]
    assert own.id is not None
    found = citizen_service.address_of(session=session, citizen_id=one.id, address_id=own.id)
    assert found.id == own.id
    with pytest.raises(NotFound):
        citizen_service.address_of(session=session, citizen_id=other.id, address_id=own.id)


def test_a_village_knows_its_block_and_district(session: Session) -> None:
    village = factories.village_in(session, "BDP")
    assert village.id is not None
    place = geography_service.place_of_village(session=session, village_id=village.id)
    assert place.district.code == "BDP" and place.block.id == village.block_id
    assert place.label == f"{village.name}, {place.block.name}, {place.district.name}"
    assert village in geography_service.villages(session=session, block_id=village.block_id)
    with pytest.raises(NotFound):
        geography_service.place_of_village(session=session, village_id=10**9)
