"""Requests on a real session: logging charges the fee once, transitions are audited,
bad input is refused clearly and writes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.errors import (
    InvalidFee,
    InvalidPhone,
    InvalidTransition,
    NotFound,
    OutsideServiceArea,
)
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind, LedgerEntry
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus as S
from dispatch.validation import mask_phone
from tests import factories


def test_logging_a_request_charges_the_fee_and_starts_the_trail(session: Session) -> None:
    req = factories.request(session, service_code=None)
    svc = catalogue_service.get(session=session, service_id=req.service_id)
    assert req.status == S.LOGGED
    assert req.reference.startswith("JK-")
    assert req.fee_paise == svc.doorstep_fee_paise + svc.government_fee_paise
    entries = ledger_service.entries(session=session, request_id=req.id or 0)
    assert [(e.kind, e.amount_paise) for e in entries] == [(EntryKind.CHARGE, req.fee_paise)]
    events = request_service.events(session=session, request_id=req.id or 0)
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [(None, S.LOGGED, "test")]
    if svc.time_limit_days:
        assert req.due_date is not None


def test_references_are_sequential_and_unique(session: Session) -> None:
    a = factories.request(session)
    b = factories.request(session)
    seq = lambda r: int(r.reference.split("-")[2])  # noqa: E731
    assert seq(b) == seq(a) + 1


def test_same_idempotency_key_gives_the_same_request_and_one_charge(session: Session) -> None:
    first = factories.request(session, key="call:CAxyz")
    again = request_service.log(
        session=session,
        state_code="JK",
        citizen_id=first.citizen_id,
        service_id=first.service_id,
        address_id=first.address_id,
        channel=first.channel,
        actor="test",
        idempotency_key="call:CAxyz",
    )
    assert again.id == first.id
    charges = session.exec(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.request_id == first.id)
    ).one()
    assert charges == 1


def test_every_transition_is_stored_with_actor_and_reason(session: Session) -> None:
    req = factories.request(session)
    rid = req.id or 0
    request_service.transition(session=session, request_id=rid, to=S.SCHEDULED, actor="ivr")
    request_service.transition(session=session, request_id=rid, to=S.ASSIGNED, actor="planner")
    request_service.transition(session=session, request_id=rid, to=S.EN_ROUTE, actor="agent:1")
    done = request_service.transition(
        session=session, request_id=rid, to=S.ARRIVED, actor="agent:1"
    )
    assert done.version == 5
    trail = request_service.events(session=session, request_id=rid)
    assert [e.to_status for e in trail] == [
        S.LOGGED,
        S.SCHEDULED,
        S.ASSIGNED,
        S.EN_ROUTE,
        S.ARRIVED,
    ]
    assert trail[-1].from_status == S.EN_ROUTE and trail[-1].actor == "agent:1"


def test_illegal_transition_writes_nothing(session: Session) -> None:
    req = factories.request(session)
    with pytest.raises(InvalidTransition, match="'logged' to 'completed'"):
        request_service.transition(
            session=session, request_id=req.id or 0, to=S.COMPLETED, actor="x"
        )
    session.refresh(req)
    assert req.status == S.LOGGED and req.version == 1
    assert len(request_service.events(session=session, request_id=req.id or 0)) == 1


def test_cancelling_waives_the_charge(session: Session) -> None:
    req = factories.request(session)
    request_service.transition(
        session=session,
        request_id=req.id or 0,
        to=S.CANCELLED,
        actor="citizen",
        reason="no longer needed",
    )
    b = ledger_service.balance(session=session, request_id=req.id or 0)
    assert (b.charged, b.waived, b.outstanding) == (req.fee_paise, req.fee_paise, 0)


def test_collecting_at_the_door(session: Session) -> None:
    req = factories.request(session)
    with pytest.raises(InvalidFee, match="more than"):
        ledger_service.collect(
            session=session,
            request_id=req.id or 0,
            agent_id=1,
            amount_paise=req.fee_paise + 1,
            method="cash",
            actor="agent:1",
        )
    ledger_service.collect(
        session=session,
        request_id=req.id or 0,
        agent_id=1,
        amount_paise=req.fee_paise,
        method="upi",
        upi_reference="UPI123",
        actor="agent:1",
        idempotency_key="sms:SM1",
    )
    ledger_service.collect(
        session=session,
        request_id=req.id or 0,
        agent_id=1,
        amount_paise=req.fee_paise,
        method="upi",
        upi_reference="UPI123",
        actor="agent:1",
        idempotency_key="sms:SM1",
    )
    assert ledger_service.balance(session=session, request_id=req.id or 0).outstanding == 0
    assert ledger_service.agent_balance(session=session, agent_id=1).collected >= req.fee_paise


@pytest.mark.parametrize("phone", ["12345", "+91 00000 00000", "not a phone", "+1 202 555"])
def test_invalid_phones_are_refused(session: Session, phone: str) -> None:
    with pytest.raises(InvalidPhone) as err:
        citizen_service.register(session=session, state_code="JK", phone=phone)
    assert err.value.value == phone


def test_phone_masking() -> None:
    assert mask_phone("+919812345678") == "+9198•••••678"


def test_unknown_service_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="service 'passport_to_mars' not found"):
        catalogue_service.get_by_code(session=session, state_code="JK", code="passport_to_mars")


def test_address_outside_the_state_is_refused(session: Session) -> None:
    person = factories.citizen(session)
    village = factories.village_in(session)
    before = session.exec(select(func.count()).select_from(DoorstepRequest)).one()
    with pytest.raises(OutsideServiceArea, match="outside Jammu and Kashmir"):
        citizen_service.add_address(
            session=session,
            citizen_id=person.id or 0,
            village_id=village.id or 0,
            lat=28.61,
            lon=77.21,
        )
    assert len(citizen_service.addresses(session=session, citizen_id=person.id or 0)) == 1
    assert session.exec(select(func.count()).select_from(DoorstepRequest)).one() == before


def test_negative_fee_is_refused(session: Session) -> None:
    with pytest.raises(InvalidFee, match="must not be negative"):
        catalogue_service.create(
            session=session,
            state_code="JK",
            code="X_TEST",
            name_en="X",
            name_hi="X",
            department="Revenue",
            government_fee_paise=-1,
        )
    with pytest.raises(NotFound):
        catalogue_service.get_by_code(session=session, state_code="JK", code="X_TEST")


def test_lookup_by_keyed_reference(session: Session) -> None:
    req = factories.request(session)
    digits = "".join(c for c in req.reference if c.isdigit())
    found = request_service.get_by_reference(session=session, reference=digits, default_state="JK")
    assert found.id == req.id


def test_search_finds_services_by_hindi_and_english_words(session: Session) -> None:
    found = catalogue_service.search(session=session, state_code="JK", text="income certificate")
    assert found and "income" in found[0].name_en.lower()
    found_hi = catalogue_service.search(session=session, state_code="JK", text="आय प्रमाण पत्र")
    assert found_hi and found_hi[0].id == found[0].id
