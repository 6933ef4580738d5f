"""A webhook is acted on only where the call is: retries get their stored answer, anything
else out of place runs nothing (also after the call has ended); odd but signed input gets
TwiML, never a 500; a database that does not answer in time gets the caller a person at once."""

from __future__ import annotations

import time

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from dispatch.db import is_sqlite, read_session, write_session
from dispatch.ledger.models import LedgerEntry
from dispatch.notifications.models import OutboxMessage
from dispatch.requests.models import DoorstepRequest, RequestEvent
from ivr.standin import Call, signed_headers, twilio_params
from tests import factories
from tests.conftest import build_app
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock
from tests.ivr.test_robustness import requests_of, session_of


def _footprint(engine: Engine, request_id: int) -> tuple[int, int, int]:
    """(ledger entries, messages, lifecycle events) of a request."""
    with read_session(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(
                select(func.count()).select_from(m).where(col(m.request_id) == request_id)
            ).one()
            for m in (LedgerEntry, OutboxMessage, RequestEvent)
        )


def to_offer(call: Call, language_key: str = "2") -> None:
    """Dial and walk a new caller to the offer of the earliest window (Income Certificate,
    Achabal by its PIN code, no landmark)."""
    call.dial()
    for key in (language_key, "1", "2", "192201", "1", "1"):
        call.press(key)
    assert "/answer/offer" in str(call.gather and call.gather["action"])


def _post(call: Call, url: str, **extra: str) -> str:
    params = twilio_params(
        call.settings, call_sid=call.call_sid, caller=call.caller, called="1447", **extra
    )
    return call.post(url, params)


def test_a_booking_step_posted_again_after_the_call_ended_books_nothing(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    """The reported bug: the agreement re-posted after hang-up, as " 1" and at a later turn."""
    call = phone(app, caller=caller)
    to_offer(call)
    assert call.gather is not None
    agree = str(call.gather["action"])  # the offer: one key books it
    call.press("1")
    assert "Your visit is booked" in heard(call)
    [request] = requests_of(engine, caller)
    before = _footprint(engine, request.id or 0)
    call.hangup()
    replay = _post(call, agree, Digits=" 1")  # the same answer, spaced: its stored TwiML
    assert "Your visit is booked" in replay
    path, turn = agree.split("?t=")
    later = f"{path}?t={int(turn) + 5}"
    refused = _post(call, later, Digits="1")
    assert refused.rstrip().endswith("<Hangup /></Response>") and "booked" not in refused
    assert len(requests_of(engine, caller)) == 1
    assert _footprint(engine, request.id or 0) == before


def test_a_step_out_of_place_on_a_live_call_runs_nothing(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    to_offer(call)
    assert call.gather is not None
    at_offer = str(call.gather["action"])
    turn = at_offer.split("?t=")[1]
    base = call.settings.public_base_url
    for url in (
        f"{base}/ivr/voice/answer/windows?t={turn}",  # another step
        f"{base}/ivr/voice/answer/offer?t={int(turn) + 1}",  # a turn not reached
    ):
        answer = _post(call, url, Digits="1")
        assert f'<Redirect method="POST">{base}/ivr/voice/ask/offer?t={turn}<' in answer
    assert requests_of(engine, caller) == []
    assert session_of(engine, call).step == "offer"
    call.press("1")  # the caller's own answer still works
    assert "/answer/confirmation" in str(call.gather and call.gather["action"])
    assert len(requests_of(engine, caller)) == 1


def test_a_retried_cancellation_cancels_and_messages_once(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code="ANT", now=clock.now())
        owner = session.get(DoorstepRequest, request.id).citizen_id  # type: ignore[union-attr]
        from dispatch.citizens.models import Citizen

        number = session.get(Citizen, owner).phone  # type: ignore[union-attr]
    call = phone(app, caller=number)
    call.dial()  # the owner is told the visit's status and asked what to do with it
    assert "/answer/change_menu" in str(call.gather and call.gather["action"])
    call.press("2")
    assert call.gather is not None
    confirm = str(call.gather["action"])
    assert "/answer/cancel_confirm" in confirm
    first = _post(call, confirm, Digits="1")
    before = _footprint(engine, request.id or 0)
    for digits in ("1", " 1 "):
        assert _post(call, confirm, Digits=digits) == first
    assert _footprint(engine, request.id or 0) == before
    with read_session(engine) as session:
        kinds = session.exec(
            select(OutboxMessage.kind).where(OutboxMessage.request_id == request.id)
        ).all()
    assert sorted(kinds) == ["booking", "cancellation"]


def test_odd_but_signed_numbers_get_twiml_not_a_server_error(app: FastAPI, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("0")  # into the queue
    base = call.settings.public_base_url
    client = TestClient(app)
    for odd in ("9" * 40, "١٢٣", "-5", "3.5", ""):
        for path, field in (
            ("/ivr/voice/queue/wait", "QueuePosition"),
            ("/ivr/voice/queue/wait", "AvgQueueTime"),
            ("/ivr/voice/status", "CallDuration"),
        ):
            params = twilio_params(
                call.settings, call_sid=call.call_sid, caller=caller, called="1447"
            )
            params[field] = odd
            if path.endswith("status"):
                params["CallStatus"] = "in-progress"  # not final: the call goes on
            response = client.post(
                path, data=params, headers=signed_headers(call.settings, base + path, params)
            )
            assert response.status_code == 200, (path, field, odd, response.text)
            assert response.text.startswith("<?xml") or response.text.startswith("<Response")
    params = twilio_params(call.settings, call_sid=call.call_sid, caller=caller, called="1447")
    params |= {"CallStatus": "completed", "CallDuration": "9" * 40}
    url = base + "/ivr/voice/status"
    response = client.post(
        "/ivr/voice/status", data=params, headers=signed_headers(call.settings, url, params)
    )
    assert response.status_code == 200


def test_a_busy_database_gets_the_caller_a_person_within_seconds(
    engine: Engine, settings: object, clock: FixedClock, caller: str
) -> None:
    """Another writer holds the lock far longer than a webhook may wait: the caller hears the
    apology and is put through to a person in about `webhook_db_wait_seconds`."""
    from dispatch.config import Settings
    from ivr.deps import get_clock

    assert isinstance(settings, Settings)
    app = build_app(settings.model_copy(update={"webhook_db_wait_seconds": 1.0}), engine)
    app.dependency_overrides[get_clock] = lambda: clock
    with engine.connect() as holder, holder.begin():  # SQLite: BEGIN IMMEDIATE, the write lock
        if not is_sqlite(engine):
            holder.exec_driver_sql("LOCK TABLE call_session IN EXCLUSIVE MODE")
        call = phone(app, caller=caller)
        started = time.monotonic()
        call.dial()
        waited = time.monotonic() - started
    assert waited < 5.0
    assert "Sorry, something went wrong" in heard(call) or "माफ़ कीजिए" in heard(call)
    assert call.queued
    with read_session(engine) as session:  # nothing half-written
        assert (
            session.exec(
                sa.text("SELECT count(*) FROM call_session WHERE call_sid = :s").bindparams(
                    s=call.call_sid
                )
            ).one()[0]
            == 0
        )


def test_a_retried_reschedule_moves_and_messages_once(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    from dispatch.citizens.models import Citizen

    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code="ANT", now=clock.now())
        citizen = session.get(Citizen, request.citizen_id)
        assert citizen is not None
        number = citizen.phone
    call = phone(app, caller=number)
    call.dial()  # the owner is told the visit's status and asked what to do with it
    call.press("1")  # a new time: the earliest one is offered
    call.press("2")  # other times: a key moves the visit at once
    assert call.gather is not None
    confirm = str(call.gather["action"])
    assert "/answer/move_windows" in confirm
    first = _post(call, confirm, Digits="1")
    assert "नया समय तय हो गया" in first
    before = _footprint(engine, request.id or 0)
    for digits in ("1", "1 "):
        assert _post(call, confirm, Digits=digits) == first
    assert _footprint(engine, request.id or 0) == before
    with read_session(engine) as session:
        kinds = session.exec(
            select(OutboxMessage.kind).where(OutboxMessage.request_id == request.id)
        ).all()
        events = session.exec(
            select(RequestEvent.to_status).where(RequestEvent.request_id == request.id)
        ).all()
    assert sorted(kinds) == ["booking", "reschedule"] and events.count("rescheduled") == 1


def test_a_step_missing_what_it_needs_apologises_instead_of_failing(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    """Preconditions are checks, not asserts (which `python -O` drops): a call whose saved
    place lacks its choices gets the apology and its question again, and books nothing."""
    from dispatch.calls import service as call_service

    call = phone(app, caller=caller)
    call.dial()
    with write_session(engine) as session:  # the call stands at the offer with nothing chosen
        stored = call_service.get_for_update(session=session, call_sid=call.call_sid)
        call_service.advance(session=session, call=stored, step="offer", data={})
        turn = stored.turn
    base = call.settings.public_base_url
    answer = _post(call, f"{base}/ivr/voice/answer/offer?t={turn}", Digits="1")
    assert "something went wrong" in answer or "कुछ गड़बड़" in answer
    assert f"/ivr/voice/ask/offer?t={turn}" in answer  # asked again where it stood
    assert requests_of(engine, caller) == []
