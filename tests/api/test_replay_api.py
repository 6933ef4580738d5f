"""Every POST of the channels' API replayed: offers asked, a booking made under its
Idempotency-Key, moved twice, another booked and cancelled; each POST sent again 1-3 times in
order, shuffled and a day later. The replays change nothing: one request per booking, one
charge, one SMS per change, no visit moved back to a window it left."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.db import read_session
from dispatch.requests import service as request_service
from tests import factories
from tests.conftest import unique_phone
from tests.ivr.conftest import FixedClock
from tests.replay import Mode, assert_replays_change_nothing, record

COVERED = {
    "/api/v1/offers",
    "/api/v1/requests",
    "/api/v1/requests/{reference}/reschedule",
    "/api/v1/requests/{reference}/cancel",
}
SEEDS = (7, 2039)


def _book(api: TestClient, engine: Engine) -> tuple[str, str]:
    """A new citizen booked into the first window offered: the reference and the phone."""
    phone = unique_phone()
    with read_session(engine) as session:
        village = factories.village_in(session, "SMB").id
    citizen: dict[str, Any] = {"phone": phone, "phone_verified": True, "language": "hi"}
    body: dict[str, Any] = {
        "service": "INCOME_CERT",
        "citizen": citizen,
        "address": {"village_id": village, "landmark": "near the school"},
    }
    offered = api.post("/api/v1/offers", json=body)
    assert offered.status_code == 200, offered.text
    body = {**body, "citizen": {**citizen, "name": "Kamla Devi"}}
    body["offer_id"] = offered.json()["windows"][0]["offer_id"]
    made = api.post("/api/v1/requests", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert made.status_code == 201, made.text
    return made.json()["reference"], phone


def _scenario(api: TestClient, engine: Engine) -> None:
    """One booking moved to the last window offered, then to the first; another cancelled."""
    reference, phone = _book(api, engine)
    with read_session(engine) as session:
        code = request_service.get_by_reference(
            session=session, reference=reference, default_state="JK"
        ).visit_code
    assert code is not None
    for pick in (-1, 0):
        offers = api.get(f"/api/v1/requests/{reference}/offers", headers={"X-Visit-Code": code})
        assert offers.status_code == 200, offers.text
        move = {"offer_id": offers.json()["windows"][pick]["offer_id"]}
        headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Citizen-Phone": phone}
        moved = api.post(f"/api/v1/requests/{reference}/reschedule", json=move, headers=headers)
        assert moved.status_code == 200, moved.text
    other, other_phone = _book(api, engine)
    headers = {"Idempotency-Key": str(uuid.uuid4()), "X-Citizen-Phone": other_phone}
    cancelled = api.post(
        f"/api/v1/requests/{other}/cancel", json={"reason": "no longer needed"}, headers=headers
    )
    assert cancelled.status_code == 200, cancelled.text


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("seed", SEEDS)
def test_every_api_post_replayed_changes_nothing(
    app: FastAPI, api: TestClient, engine: Engine, clock: FixedClock, mode: Mode, seed: int
) -> None:
    recorder = record(app)
    _scenario(api, engine)
    assert_replays_change_nothing(
        app, engine, clock, recorder, covered=COVERED, mode=mode, seed=seed
    )
