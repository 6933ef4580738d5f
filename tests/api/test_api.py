"""The channels' API (`/api/v1`) through `create_app()`, on SQLite and PostgreSQL: the catalogue
and places of the key's state; offers from the live plan; a request made with a key (channel
api, the charge in the ledger, the SMS in the outbox) and made once however often it is sent;
status, moves and cancelling with the citizen's proof, and the same 404 for a wrong proof as
for an unknown reference (counted, then locked); keys refused (401) and clients past their
rate (429, in memory and in Redis); every error as problem details."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from dispatch.audit.models import AuditEntry
from dispatch.catalogue import service as catalogue_service
from dispatch.channels import rules as channel_rules
from dispatch.channels import service as channel_service
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.geography import service as geography_service
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning_service
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel, RequestStatus, make_reference
from dispatch.visits import proof as visit_proof
from dispatch.visits.models import VisitCommand
from ivr.deps import get_clock
from tests import factories
from tests.api.conftest import DISTRICT, MONDAY, Key, make_client
from tests.conftest import build_app, unique_phone
from tests.ivr.conftest import FixedClock
from tests.web.test_production import SAFE
from web.app import create_app

PROBLEM = "application/problem+json"


# --- helpers ----------------------------------------------------------------------------------


def _village_id(engine: Engine, district: str = DISTRICT) -> int:
    with read_session(engine) as session:
        village = factories.village_in(session, district)
        assert village.id is not None
        return village.id


def _citizen(
    phone: str, *, verified: bool = True, name: str | None = "Kamla Devi"
) -> dict[str, Any]:
    citizen: dict[str, Any] = {"phone": phone, "phone_verified": verified, "language": "hi"}
    if name is not None:
        citizen["name"] = name
    return citizen


def _offers(api: TestClient, engine: Engine, phone: str, **address: Any) -> Response:
    body = {
        "service": "INCOME_CERT",
        "citizen": _citizen(phone, name=None),
        "address": {"village_id": _village_id(engine), "landmark": "near the school", **address},
    }
    response = api.post("/api/v1/offers", json=body)
    assert response.status_code == 200, response.text
    return response


def _booking(api: TestClient, engine: Engine, phone: str, choice: int = 0) -> dict[str, Any]:
    """A booking body for a new citizen, with the `choice`-th window offered."""
    windows = _offers(api, engine, phone).json()["windows"]
    return {
        "service": "INCOME_CERT",
        "citizen": _citizen(phone),
        "address": {"village_id": _village_id(engine), "landmark": "near the school"},
        "offer_id": windows[choice]["offer_id"],
    }


def _book(api: TestClient, body: dict[str, Any], key: str | None = None) -> Response:
    return api.post(
        "/api/v1/requests", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())}
    )


def _booked(api: TestClient, engine: Engine) -> tuple[str, str, str]:
    """A request booked through the API: its reference, the citizen's phone, its visit code."""
    phone = unique_phone()
    response = _book(api, _booking(api, engine, phone))
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    return reference, phone, _code(engine, reference)


def _request(engine: Engine, reference: str) -> DoorstepRequest:
    with read_session(engine) as session:
        return request_service.get_by_reference(
            session=session, reference=reference, default_state="JK"
        )


def _code(engine: Engine, reference: str) -> str:
    code = _request(engine, reference).visit_code
    assert code is not None
    return code


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10_000:04d}"


def _assert_problem(response: Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:doorstep:problem:{slug}"
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert problem["instance"].startswith("/api/v1/")
    return problem


def _counts(engine: Engine, key: str) -> tuple[int, int, int]:
    """Requests, visit commands and outbox messages made under a channel's idempotency key."""
    with read_session(engine) as session:
        requests = list(
            session.exec(select(DoorstepRequest).where(DoorstepRequest.idempotency_key == key))
        )
        commands = session.exec(
            select(func.count())
            .select_from(VisitCommand)
            .where(VisitCommand.idempotency_key == key)
        ).one()
        ids = [r.id for r in requests]
        messages = session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(col(OutboxMessage.request_id).in_(ids))
        ).one()
    return len(requests), int(commands), int(messages)


# --- reading ----------------------------------------------------------------------------------


def test_catalogue_lists_the_active_services_of_the_keys_state(
    api: TestClient, engine: Engine
) -> None:
    response = api.get("/api/v1/catalogue")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "JK" and body["timezone"] == "Asia/Kolkata"
    assert "hi" in body["languages"]
    with read_session(engine) as session:
        active = catalogue_service.list_active(session=session, state_code="JK")
    assert [s["code"] for s in body["services"]] == [s.code for s in active]
    income = next(s for s in body["services"] if s["code"] == "INCOME_CERT")
    service = next(s for s in active if s.code == "INCOME_CERT")
    assert income["total_fee_paise"] == service.total_fee_paise
    assert income["doorstep_fee_paise"] + income["government_fee_paise"] == service.total_fee_paise
    assert income["time_limit_days"] == service.time_limit_days
    assert income["documents_en"] == service.documents_en and income["documents_en"]
    assert response.headers["RateLimit-Limit"] == "1000"


def test_places_name_an_address_by_district_block_or_pin_code(
    api: TestClient, engine: Engine
) -> None:
    districts = api.get("/api/v1/places/districts").json()["districts"]
    assert "SMB" in {d["code"] for d in districts} and "PB" not in str(districts)
    blocks = api.get("/api/v1/places/districts/smb/blocks").json()["blocks"]
    assert blocks and {b["district_code"] for b in blocks} == {"SMB"}
    villages = api.get(f"/api/v1/places/blocks/{blocks[0]['code']}/villages").json()["villages"]
    assert villages and all(v["block_code"] == blocks[0]["code"] for v in villages)
    with read_session(engine) as session:
        village = factories.village_in(session, "SXR")
        assert village.pincode is not None
        expected = geography_service.places_with_pincode(
            session=session, state_code="JK", pincode=village.pincode
        )
    by_pin = api.get(f"/api/v1/places/pincodes/{village.pincode}").json()["villages"]
    assert [v["id"] for v in by_pin] == [p.village.id for p in expected]
    assert village.id in {v["id"] for v in by_pin}
    assert api.get("/api/v1/places/pincodes/999999").json() == {"villages": []}


def test_places_of_another_state_or_unknown_are_not_found(api: TestClient, engine: Engine) -> None:
    with read_session(engine) as session:
        punjab = geography_service.districts(session=session, state_code="PB")[0]
    _assert_problem(api.get(f"/api/v1/places/districts/{punjab.code}/blocks"), 404, "not-found")
    _assert_problem(api.get("/api/v1/places/districts/NOPE/blocks"), 404, "not-found")
    _assert_problem(api.get("/api/v1/places/blocks/NOPE99/villages"), 404, "not-found")


# --- offers and booking -----------------------------------------------------------------------


def test_offers_are_the_live_plans_windows_for_the_registered_address(
    api: TestClient, engine: Engine
) -> None:
    """Offers register the citizen and address (as the phone line does) and give the windows
    the planning service gives for that address: the same starts, earliest first."""
    phone = unique_phone()
    windows = _offers(api, engine, phone).json()["windows"]
    assert windows, "Samba's agents can take a visit on a quiet Monday"
    with write_session(engine) as session:
        citizen = citizen_service.find_by_phone(session=session, state_code="JK", phone=phone)
        assert citizen is not None and citizen.id is not None
        address = citizen_service.last_address(session=session, citizen_id=citizen.id)
        assert address is not None and address.id is not None and address.proven
        service = catalogue_service.get_by_code(
            session=session, state_code="JK", code="INCOME_CERT"
        )
        assert service.id is not None
        planning_service.clear_cache()
        expected = planning_service.offer_windows(
            session=session,
            settings=factories.SETTINGS,
            address_id=address.id,
            service_id=service.id,
            language="hi",
            now=MONDAY,
            limit=6,
        )
    starts = [dt.datetime.fromisoformat(w["start"]) for w in windows]
    assert starts == [o.start for o in expected]
    assert starts == sorted(starts) and all(s > MONDAY for s in starts)
    assert windows[0]["label"] == "Mon 1 Aug 09:00–11:00"
    assert all("." in w["offer_id"] and "district" not in w["offer_id"] for w in windows)


def test_a_request_made_with_a_key_is_booked_charged_and_confirmed_by_sms(
    api: TestClient, engine: Engine, key: Key
) -> None:
    phone = unique_phone()
    body = _booking(api, engine, phone)
    idempotency_key = str(uuid.uuid4())
    response = _book(api, body, idempotency_key)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["status"] in {"scheduled", "assigned"} and made["changeable"]
    assert made["window_start"] and made["fee_paise"] == 5000
    assert made["sms_queued"] is True and made["visit_code"] is None  # the SMS carries it
    assert response.headers["Location"] == f"/api/v1/requests/{made['reference']}"
    request = _request(engine, made["reference"])
    assert request.channel is Channel.API and request.status in {
        RequestStatus.SCHEDULED,
        RequestStatus.ASSIGNED,
    }
    assert request.idempotency_key == f"api:{key.client_id}:{idempotency_key}"
    with read_session(engine) as session:
        assert request.id is not None
        events = request_service.events(session=session, request_id=request.id)
        assert {e.actor for e in events} == {f"api:{key.name}"}
        entries = ledger_service.entries(session=session, request_id=request.id)
        assert [(e.kind, e.amount_paise) for e in entries] == [(EntryKind.CHARGE, 5000)]
        sms = session.exec(
            select(OutboxMessage).where(OutboxMessage.request_id == request.id)
        ).all()
        citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
    assert citizen.name == "Kamla Devi" and citizen.phone == phone
    assert [m.to for m in sms] == [phone]
    assert made["reference"] in sms[0].body and request.visit_code in sms[0].body


def test_a_retry_gets_the_first_answer_and_makes_nothing_twice(
    api: TestClient, engine: Engine, key: Key
) -> None:
    body = _booking(api, engine, unique_phone())
    idempotency_key = str(uuid.uuid4())
    first = _book(api, body, idempotency_key)
    second = _book(api, body, idempotency_key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _counts(engine, f"api:{key.client_id}:{idempotency_key}") == (1, 1, 1)


def test_the_same_key_with_another_body_is_refused(api: TestClient, engine: Engine) -> None:
    """Even a difference the domain does not fingerprint (the name) is another request."""
    body = _booking(api, engine, unique_phone())
    idempotency_key = str(uuid.uuid4())
    assert _book(api, body, idempotency_key).status_code == 201
    renamed = {**body, "citizen": {**body["citizen"], "name": "Somebody Else"}}
    _assert_problem(_book(api, renamed, idempotency_key), 409, "key-reused")
    other_service = {**body, "service": "DOMICILE_CERT"}
    _assert_problem(_book(api, other_service, idempotency_key), 409, "key-reused")
    cancelled = api.post(
        f"/api/v1/requests/{_book(api, body, idempotency_key).json()['reference']}/cancel",
        headers={"Idempotency-Key": idempotency_key, "X-Citizen-Phone": body["citizen"]["phone"]},
    )
    _assert_problem(cancelled, 409, "key-reused")


def test_two_clients_may_use_the_same_idempotency_key(
    app: FastAPI, api: TestClient, engine: Engine
) -> None:
    other = make_client(engine)
    second_channel = TestClient(app, headers={"X-API-Key": other.key})
    shared = f"whatsapp-{uuid.uuid4().hex}"
    first = _book(api, _booking(api, engine, unique_phone()), shared)
    second = _book(second_channel, _booking(second_channel, engine, unique_phone()), shared)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["reference"] != second.json()["reference"]


def test_a_command_without_an_idempotency_key_is_refused(api: TestClient, engine: Engine) -> None:
    body = _booking(api, engine, unique_phone())
    _assert_problem(api.post("/api/v1/requests", json=body), 400, "idempotency-key-missing")
    short = api.post("/api/v1/requests", json=body, headers={"Idempotency-Key": "abc"})
    problem = _assert_problem(short, 422, "invalid-input")
    assert problem["errors"][0]["field"] == "header.Idempotency-Key"


def test_offers_only_this_server_made_for_this_district_and_not_past(
    api: TestClient, app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    phone = unique_phone()
    body = _booking(api, engine, phone)
    payload, _, mac = body["offer_id"].partition(".")
    forged = {**body, "offer_id": f"{payload}.{mac[::-1]}"}
    problem = _assert_problem(_book(api, forged), 422, "invalid-input")
    assert problem["errors"] == [
        {"field": "body.offer_id", "message": "not an offer from /offers: ask for offers again"}
    ]
    elsewhere = {**body, "address": {"village_id": _village_id(engine, "SXR")}}
    _assert_problem(_book(api, elsewhere), 422, "invalid-input")
    clock.at = dt.datetime.fromisoformat(_offers(api, engine, phone).json()["windows"][0]["end"])
    _assert_problem(_book(api, body), 409, "window-taken")
    assert _request_count(engine, phone) == 0


def _request_count(engine: Engine, phone: str) -> int:
    with read_session(engine) as session:
        citizen = citizen_service.find_by_phone(session=session, state_code="JK", phone=phone)
        assert citizen is not None
        return len(
            session.exec(
                select(DoorstepRequest).where(DoorstepRequest.citizen_id == citizen.id)
            ).all()
        )


def test_bad_fields_are_named_without_their_values(api: TestClient, engine: Engine) -> None:
    body = _booking(api, engine, unique_phone())
    wrong = {
        **body,
        "service": "NO_SUCH_SERVICE",
        "citizen": {**body["citizen"], "language": "fr"},
    }
    problem = _assert_problem(_book(api, wrong), 422, "invalid-input")
    assert problem["errors"][0]["field"] == "body.service"
    bad_phone = {**body, "citizen": {**body["citizen"], "phone": "12345678901"}}
    problem = _assert_problem(_book(api, bad_phone), 422, "invalid-input")
    assert problem["errors"] == [
        {"field": "body.citizen.phone", "message": "not a valid phone number"}
    ]
    assert "12345678901" not in str(problem)
    shapeless = _book(api, {"service": "INCOME_CERT", "citizen": {}})
    fields = {e["field"] for e in _assert_problem(shapeless, 422, "invalid-input")["errors"]}
    assert {"body.citizen.phone", "body.address", "body.offer_id"} <= fields
    not_json = api.post(
        "/api/v1/requests",
        content=b"{not json",
        headers={"Idempotency-Key": str(uuid.uuid4()), "content-type": "application/json"},
    )
    _assert_problem(not_json, 400, "bad-request")


# --- an existing request ----------------------------------------------------------------------


def test_status_needs_the_citizens_verified_phone_or_visit_code(
    api: TestClient, engine: Engine
) -> None:
    reference, phone, code = _booked(api, engine)
    by_phone = api.get(f"/api/v1/requests/{reference}", headers={"X-Citizen-Phone": phone})
    assert by_phone.status_code == 200
    assert by_phone.json()["reference"] == reference and by_phone.json()["changeable"]
    by_code = api.get(f"/api/v1/requests/{reference}", headers={"X-Visit-Code": code})
    assert by_code.json() == by_phone.json()
    digits = reference.replace("JK", "").replace("-", " ")
    assert api.get(f"/api/v1/requests/{digits}", headers={"X-Visit-Code": code}).status_code == 200


def _failures(app: FastAPI, engine: Engine, caller: str, now: dt.datetime = MONDAY) -> int:
    with read_session(engine) as session:
        return visit_proof.recent_failures(
            session=session, settings=app.state.settings, caller=caller, now=now
        )


def test_a_wrong_proof_is_the_same_404_as_an_unknown_reference_and_is_counted(
    app: FastAPI, api: TestClient, engine: Engine
) -> None:
    """Every failed proof counts against the client; one that named a phone number counts
    against that number too. A 404 with no proof at all counts nothing."""
    reference, _, code = _booked(api, engine)
    other = make_client(engine)
    channel = TestClient(app, headers={"X-API-Key": other.key})
    unknown = make_reference("JK", 2039, 999_999)  # well formed, and nobody's
    stranger = unique_phone()
    answers = [
        channel.get(f"/api/v1/requests/{reference}", headers={"X-Visit-Code": _wrong(code)}),
        channel.get(f"/api/v1/requests/{unknown}", headers={"X-Visit-Code": code}),
        channel.get(f"/api/v1/requests/{reference}", headers={"X-Citizen-Phone": stranger}),
    ]
    bodies = [_assert_problem(a, 404, "not-found") for a in answers]
    assert len({(b["title"], b["detail"]) for b in bodies}) == 1
    counter = channel_service.proof_counter(other.client_id)
    assert _failures(app, engine, counter) == 3
    assert _failures(app, engine, stranger) == 1
    _assert_problem(channel.get(f"/api/v1/requests/{reference}"), 404, "not-found")
    assert _failures(app, engine, counter) == 3


@pytest.fixture
def strict_app(engine: Engine, settings: Settings, clock: FixedClock) -> FastAPI:
    """The app with two failed proofs allowed per phone number (so 20 per client)."""
    strict = settings.model_copy(update={"proof_failures_allowed": 2})
    application = build_app(strict, engine)
    application.dependency_overrides[get_clock] = lambda: clock
    return application


def test_too_many_wrong_proofs_lock_that_phone_until_its_count_falls_back(
    strict_app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """Retry-After is the time left: the lock lifts when the oldest failure that keeps the
    count at its limit leaves the window."""
    channel = TestClient(strict_app, headers={"X-API-Key": make_client(engine).key})
    reference, phone, code = _booked(channel, engine)
    stranger = unique_phone()
    window = strict_app.state.settings.proof_lockout_minutes * 60
    as_stranger = {"X-Citizen-Phone": stranger}
    for _ in range(2):
        wrong = channel.get(
            f"/api/v1/requests/{reference}", headers={**as_stranger, "X-Visit-Code": _wrong(code)}
        )
        _assert_problem(wrong, 404, "not-found")
    right_code = {**as_stranger, "X-Visit-Code": code}
    locked = channel.get(f"/api/v1/requests/{reference}", headers=right_code)
    _assert_problem(locked, 429, "proofs-locked")
    assert int(locked.headers["Retry-After"]) == window + 1  # the failures are this second's
    assert locked.headers["RateLimit-Limit"] == "1000"
    clock.at += dt.timedelta(minutes=10)
    later = channel.get(f"/api/v1/requests/{reference}", headers=right_code)
    assert int(later.headers["Retry-After"]) == window - 600 + 1
    # The citizen's own number is another count, and the client is far from its own limit.
    mine = channel.get(f"/api/v1/requests/{reference}", headers={"X-Citizen-Phone": phone})
    assert mine.status_code == 200
    clock.at += dt.timedelta(seconds=int(later.headers["Retry-After"]))
    assert channel.get(f"/api/v1/requests/{reference}", headers=right_code).status_code == 200


def test_a_new_phone_number_for_each_guess_still_locks_the_client(
    strict_app: FastAPI, engine: Engine
) -> None:
    """A key holder guessing visit codes with a fresh X-Citizen-Phone each time is stopped at
    the client's own allowance (ten times a phone number's), then even the right code is
    refused through that client; other channels are not affected."""
    guesser = make_client(engine)
    channel = TestClient(strict_app, headers={"X-API-Key": guesser.key})
    reference, phone, code = _booked(channel, engine)
    allowed = channel_rules.client_proofs_allowed(2)
    assert allowed == 2 * channel_rules.CLIENT_PROOFS_FACTOR == 20
    for _ in range(allowed):
        guess = channel.get(
            f"/api/v1/requests/{reference}",
            headers={"X-Citizen-Phone": unique_phone(), "X-Visit-Code": _wrong(code)},
        )
        _assert_problem(guess, 404, "not-found")
    for proof in (
        {"X-Citizen-Phone": unique_phone(), "X-Visit-Code": code},
        {"X-Citizen-Phone": phone},
        {},
    ):
        locked = channel.get(f"/api/v1/requests/{reference}", headers=proof)
        _assert_problem(locked, 429, "proofs-locked")
        assert int(locked.headers["Retry-After"]) == 60 * 60 + 1
    assert _failures(strict_app, engine, channel_service.proof_counter(guesser.client_id)) == 20
    other = TestClient(strict_app, headers={"X-API-Key": make_client(engine).key})
    assert other.get(f"/api/v1/requests/{reference}", headers={"X-Visit-Code": code}).is_success


def test_the_description_says_what_a_failed_proof_counts_against(strict_app: FastAPI) -> None:
    schema = TestClient(strict_app).get("/api/v1/openapi.json").json()
    text = " ".join(schema["info"]["description"].split())
    assert "a 404 with neither header counts nothing" in text
    assert "against the client, always, and also against the verified phone number" in text
    assert "has failed 2 times within the last 60 minutes, or the client 20 times" in text
    assert "a new phone number for each try does not buy more guesses" in text
    assert "`Retry-After` (the seconds left)" in text
    status = schema["paths"]["/requests/{reference}"]["get"]["responses"]["404"]["description"]
    assert "when `X-Citizen-Phone` or `X-Visit-Code` was sent" in status


def test_a_request_is_moved_into_another_offered_window(api: TestClient, engine: Engine) -> None:
    reference, phone, code = _booked(api, engine)
    before = _request(engine, reference)
    offers = api.get(f"/api/v1/requests/{reference}/offers", headers={"X-Visit-Code": code})
    assert offers.status_code == 200, offers.text
    windows = offers.json()["windows"]
    assert windows and all(
        dt.datetime.fromisoformat(w["start"]) != before.window_start for w in windows
    )
    key = str(uuid.uuid4())
    move = {"offer_id": windows[-1]["offer_id"]}
    headers = {"Idempotency-Key": key, "X-Citizen-Phone": phone}
    moved = api.post(f"/api/v1/requests/{reference}/reschedule", json=move, headers=headers)
    assert moved.status_code == 200, moved.text
    assert dt.datetime.fromisoformat(moved.json()["window_start"]) == dt.datetime.fromisoformat(
        windows[-1]["start"]
    )
    assert moved.json()["sms_queued"] is True
    again = api.post(f"/api/v1/requests/{reference}/reschedule", json=move, headers=headers)
    assert again.status_code == 200 and again.json() == moved.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    after = _request(engine, reference)
    assert after.window_start == dt.datetime.fromisoformat(windows[-1]["start"])
    with read_session(engine) as session:
        assert after.id is not None
        kinds = [
            m.kind
            for m in session.exec(select(OutboxMessage).where(OutboxMessage.request_id == after.id))
        ]
    assert kinds.count("reschedule") == 1


def test_moving_or_cancelling_with_a_wrong_proof_changes_nothing(
    api: TestClient, engine: Engine
) -> None:
    reference, _, code = _booked(api, engine)
    windows = api.get(
        f"/api/v1/requests/{reference}/offers", headers={"X-Visit-Code": code}
    ).json()["windows"]
    headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Visit-Code": _wrong(code)}
    moved = api.post(
        f"/api/v1/requests/{reference}/reschedule",
        json={"offer_id": windows[0]["offer_id"]},
        headers=headers,
    )
    _assert_problem(moved, 404, "not-found")
    headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Citizen-Phone": unique_phone()}
    _assert_problem(
        api.post(f"/api/v1/requests/{reference}/cancel", headers=headers), 404, "not-found"
    )
    _assert_problem(
        api.get(f"/api/v1/requests/{reference}/offers", headers={"X-Visit-Code": _wrong(code)}),
        404,
        "not-found",
    )
    assert _request(engine, reference).status in {RequestStatus.SCHEDULED, RequestStatus.ASSIGNED}


def test_a_cancelled_request_is_waived_told_and_can_no_longer_change(
    api: TestClient, engine: Engine
) -> None:
    reference, phone, code = _booked(api, engine)
    headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Visit-Code": code}
    cancelled = api.post(
        f"/api/v1/requests/{reference}/cancel", json={"reason": "no longer needed"}, headers=headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled" and not cancelled.json()["changeable"]
    again = api.post(
        f"/api/v1/requests/{reference}/cancel", json={"reason": "no longer needed"}, headers=headers
    )
    assert again.json() == cancelled.json() and again.headers["Idempotent-Replayed"] == "true"
    request = _request(engine, reference)
    assert request.status is RequestStatus.CANCELLED
    assert request.status_reason == "no longer needed"
    with read_session(engine) as session:
        assert request.id is not None
        kinds = [e.kind for e in ledger_service.entries(session=session, request_id=request.id)]
    assert kinds == [EntryKind.CHARGE, EntryKind.WAIVE]
    status = api.get(f"/api/v1/requests/{reference}", headers={"X-Citizen-Phone": phone})
    assert status.json()["status"] == "cancelled"
    later = api.post(
        f"/api/v1/requests/{reference}/cancel",
        headers={"Idempotency-Key": str(uuid.uuid4()), "X-Visit-Code": code},
    )
    _assert_problem(later, 409, "too-late")
    _assert_problem(
        api.get(f"/api/v1/requests/{reference}/offers", headers={"X-Visit-Code": code}),
        409,
        "too-late",
    )


def test_a_cancel_body_is_optional_null_included(api: TestClient, engine: Engine) -> None:
    """No body, `null` (with or without a Content-Type) and `{}` all cancel with the default
    reason naming the channel."""
    bodies: list[dict[str, Any]] = [
        {},
        {"content": b"null", "headers": {"Content-Type": "application/json"}},
        {"content": b"null"},
        {"json": {}},
    ]
    for body in bodies:
        reference, _, code = _booked(api, engine)
        headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Visit-Code": code}
        headers.update(body.pop("headers", {}))
        cancelled = api.post(f"/api/v1/requests/{reference}/cancel", headers=headers, **body)
        assert cancelled.status_code == 200, (body, cancelled.text)
        request = _request(engine, reference)
        assert request.status is RequestStatus.CANCELLED
        assert request.status_reason.startswith("cancelled by the citizen through test-channel-")


# --- keys and rates ---------------------------------------------------------------------------


def test_no_key_a_wrong_key_or_a_revoked_key_gets_401(
    app: FastAPI, engine: Engine, key: Key
) -> None:
    anonymous = TestClient(app)
    problem = _assert_problem(anonymous.get("/api/v1/catalogue"), 401, "unauthorized")
    assert "no API key" in problem["detail"]
    assert anonymous.get("/api/v1/catalogue").headers["WWW-Authenticate"].startswith("Bearer ")
    forged = key.key[:-4] + ("AAAA" if not key.key.endswith("AAAA") else "BBBB")
    wrong = anonymous.get("/api/v1/catalogue", headers={"Authorization": f"Bearer {forged}"})
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    _assert_problem(wrong, 401, "unauthorized")
    by_header = anonymous.get("/api/v1/catalogue", headers={"X-API-Key": key.key})
    assert by_header.status_code == 200
    with write_session(engine) as session:
        channel_service.revoke(session=session, client_id=key.client_id, actor="test")
    revoked = anonymous.get("/api/v1/catalogue", headers={"X-API-Key": key.key})
    assert _assert_problem(revoked, 401, "unauthorized")["detail"] == "this API key was revoked"


def _rate_limited(app: FastAPI, engine: Engine) -> None:
    slow = make_client(engine, rate=3)
    channel = TestClient(app, headers={"Authorization": f"Bearer {slow.key}"})
    answers = [channel.get("/api/v1/places/districts") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert [a.headers["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    problem = _assert_problem(answers[3], 429, "rate-limited")
    assert "3 requests a minute" in problem["detail"]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    fresh = TestClient(app, headers={"X-API-Key": make_client(engine, rate=3).key})
    assert fresh.get("/api/v1/places/districts").status_code == 200  # each client its own count


def test_problems_carry_the_rate_limit_headers_once_the_key_is_accepted(
    api: TestClient, engine: Engine
) -> None:
    """A route that raises answers with a response of its own: the client's RateLimit-* headers
    are on it all the same (404, 422), and not on a 401 (nothing was counted)."""
    reference, _, code = _booked(api, engine)
    problems = [
        api.get("/api/v1/places/districts/NOPE/blocks"),
        api.get("/api/v1/requests/JK-39-000001-0"),
        api.get(f"/api/v1/requests/{reference}", headers={"X-Visit-Code": _wrong(code)}),
        api.post("/api/v1/requests", json={}, headers={"Idempotency-Key": str(uuid.uuid4())}),
    ]
    remaining = []
    for problem in problems:
        assert problem.status_code >= 400 and problem.headers["content-type"] == PROBLEM
        assert problem.headers["RateLimit-Limit"] == "1000"
        remaining.append(int(problem.headers["RateLimit-Remaining"]))
    assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == len(remaining)
    refused = TestClient(api.app).get("/api/v1/catalogue")
    assert refused.status_code == 401 and "RateLimit-Limit" not in refused.headers


def test_a_client_past_its_rate_gets_429_with_retry_after(app: FastAPI, engine: Engine) -> None:
    assert app.state.settings.rate_limit_url == "memory://"
    _rate_limited(app, engine)


@pytest.fixture
def redis_app(engine: Engine, settings: Settings, clock: FixedClock) -> FastAPI:
    counted = settings.model_copy(update={"rate_limit_url": "redis://127.0.0.1:6379/0"})
    application = build_app(counted, engine)
    application.dependency_overrides[get_clock] = lambda: clock
    return application


def test_the_rate_is_counted_in_redis_too(redis_app: FastAPI, engine: Engine) -> None:
    """With Redis storage the count is shared: a second app (another process) sees it."""
    _rate_limited(redis_app, engine)
    slow = make_client(engine, rate=2)
    headers = {"X-API-Key": slow.key}
    first = TestClient(redis_app, headers=headers)
    assert first.get("/api/v1/places/districts").status_code == 200
    second_process = build_app(redis_app.state.settings, engine)
    second = TestClient(second_process, headers=headers)
    assert second.get("/api/v1/places/districts").status_code == 200
    _assert_problem(first.get("/api/v1/places/districts"), 429, "rate-limited")


def test_a_rate_store_that_is_down_lets_channels_through(
    engine: Engine, settings: Settings, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis down: the citizens keep their line, and the operators are told."""
    down = settings.model_copy(update={"rate_limit_url": "redis://127.0.0.1:1/0"})
    application = build_app(down, engine)
    application.dependency_overrides[get_clock] = lambda: clock
    channel = TestClient(application, headers={"X-API-Key": make_client(engine, rate=1).key})
    answers = [channel.get("/api/v1/places/districts").status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert "rate limit not counted (ConnectionError)" in caplog.text


def test_unknown_paths_and_methods_are_problems_too(api: TestClient) -> None:
    _assert_problem(api.get("/api/v1/no-such-thing"), 404, "not-found")
    wrong_method = api.delete("/api/v1/catalogue")
    _assert_problem(wrong_method, 405, "method-not-allowed")
    assert "GET" in wrong_method.headers["Allow"]
    _assert_problem(api.get("/api/v1/requests/JK-39-000001-0"), 422, "invalid-input")


def test_only_the_api_itself_skips_the_consoles_csrf_check(app: FastAPI, key: Key) -> None:
    """`/api/v1/` has its key for proof; any other path under `/api/` is the console's, and a
    request posted there with a cookie is held to the CSRF check like any other."""
    browser = TestClient(app, headers={"X-API-Key": key.key}, cookies={"doorstep_session": "x"})
    offers = browser.post("/api/v1/offers", json={})
    assert offers.status_code == 422 and offers.headers["content-type"] == PROBLEM
    for path in ("/api/v2/offers", "/api/offers", "/api/v1"):
        assert browser.post(path, json={}).status_code == 403, path


def test_the_openapi_description_is_served_with_every_error_as_a_problem(api: TestClient) -> None:
    schema = TestClient(api.app).get("/api/v1/openapi.json").json()  # no key needed
    assert schema["servers"] == [{"url": "/api/v1"}]
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    paths = schema["paths"]
    assert {
        "/catalogue",
        "/places/districts",
        "/offers",
        "/requests",
        "/requests/{reference}",
        "/requests/{reference}/offers",
        "/requests/{reference}/reschedule",
        "/requests/{reference}/cancel",
    } <= set(paths)
    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "422", "429"} <= codes, (path, method)
            for code, answer in operation["responses"].items():
                if code[0] in "45":
                    assert list(answer["content"]) == [PROBLEM], (path, method, code)
    booking = paths["/requests"]["post"]
    assert {"400", "409"} <= set(booking["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in booking["parameters"])
    assert "X-Citizen-Phone" in schema["info"]["description"]


def test_no_phone_number_or_name_reaches_the_logs(
    api: TestClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reference, phone, code = _booked(api, engine)
    api.get(f"/api/v1/requests/{reference}", headers={"X-Visit-Code": _wrong(code)})
    api.post("/api/v1/offers", json={"citizen": {"phone": phone}})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert phone not in logged and phone[3:] not in logged and "Kamla" not in logged


def test_the_keys_last_use_is_noted(api: TestClient, engine: Engine, key: Key) -> None:
    with read_session(engine) as session:
        assert channel_service.get(session=session, client_id=key.client_id).last_used_at is None
    api.get("/api/v1/catalogue")
    with read_session(engine) as session:
        used = channel_service.get(session=session, client_id=key.client_id).last_used_at
    assert used == MONDAY


def test_the_command_record_names_the_client_and_holds_no_body(
    api: TestClient, engine: Engine, key: Key
) -> None:
    idempotency_key = str(uuid.uuid4())
    body = _booking(api, engine, unique_phone())
    _book(api, body, idempotency_key)
    with read_session(engine) as session:
        entry = session.exec(
            select(AuditEntry).where(
                AuditEntry.entity == channel_service.COMMAND,
                AuditEntry.entity_id == channel_rules.command_key(key.client_id, idempotency_key),
            )
        ).one()
    assert entry.actor == f"api:{key.name}" and entry.action == "book"
    assert set(entry.detail) == {"digest", "request_id"}


def test_production_serves_the_apis_description_but_not_its_docs_page(engine: Engine) -> None:
    """The description is the channels' contract: served in production; the pages to try it
    are a development tool."""
    client = TestClient(create_app(settings=Settings(**SAFE), engine=engine))
    assert client.get("/api/v1/openapi.json").status_code == 200
    _assert_problem(client.get("/api/v1/docs"), 404, "not-found")
    assert client.get("/openapi.json").status_code == 404  # the console's stays hidden


def test_the_docs_page_uses_the_vendored_swagger_ui(api: TestClient) -> None:
    page = api.get("/api/v1/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "/api/v1/openapi.json" in page.text and "cdn" not in page.text
    assert api.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
