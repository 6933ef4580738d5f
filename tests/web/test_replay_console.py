"""The console's desk replayed: a call agent's intake booking (the form's refresh, the caller
found, the windows shown, the booking), the request moved twice, reassigned, its priority
raised, another request cancelled, a call-back claimed, released, claimed and closed, a search,
an uncertain SMS resent; each POST sent again 1-3 times in order, shuffled and a day later, as
a double click, a browser's retry or a form left open would. The replays change nothing: one
request, one charge, one SMS per change, one audit entry, no visit moved back."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import OutboxMessage
from dispatch.ports import SmsOutcomeUnknown
from dispatch.staff.rules import Role
from tests import factories
from tests.console import Console, signed_in
from tests.ivr.conftest import FixedClock
from tests.replay import Mode, assert_replays_change_nothing, ok, record, waiting_callback

IST = ZoneInfo("Asia/Kolkata")
#: 07:30 on a Monday no other test books on.
MONDAY = dt.datetime(2036, 3, 3, 7, 30, tzinfo=IST)
DISTRICT = "KPW"
COVERED = {
    "/intake",
    "/intake/citizen",
    "/intake/windows",
    "/intake/book",
    "/requests/{request_id}/reschedule",
    "/requests/{request_id}/reassign",
    "/requests/{request_id}/priority",
    "/requests/{request_id}/cancel",
    "/requests/search",
    "/callbacks/{callback_id}/claim",
    "/callbacks/{callback_id}/release",
    "/callbacks/{callback_id}/close",
    "/outbox/{message_id}/resend",
}
SEEDS = (7, 2036)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


class TimingOut:
    def send(
        self, *, to: str, body: str, template_id: str | None = None, reference: str | None = None
    ) -> str:
        raise SmsOutcomeUnknown("read timed out")


def _intake(desk: Console, engine: Engine) -> int:
    """A known caller booked through the intake form; the request's id."""
    with write_session(engine) as session:
        person = factories.citizen(session, district_code=DISTRICT)
        address = citizen_service.addresses(session=session, citizen_id=person.id or 0)[0]
        service = catalogue_service.get_by_code(
            session=session, state_code="JK", code="INCOME_CERT"
        )
        phone, citizen_id = person.phone, person.id
    form: dict[str, Any] = {
        "key": desk.get("/intake").context["p"].form.key,  # type: ignore[attr-defined]
        "phone": phone,
        "language": "hi",
        "service_q": "income",
        "suggested_for": "income",
        "service_id": service.id,
        "address": str(address.id),
    }
    ok(desk.submit("/intake", form))
    ok(desk.htmx("POST", "/intake/citizen", data={"phone": phone[3:]}))
    page = ok(desk.submit("/intake/windows", form)).context["p"]
    form |= {
        "address": page.form.address,
        "windows_for": page.form.windows_for,
        "offer": page.offers[0].value,
    }
    booked = ok(desk.submit("/intake/book", form)).context["p"].result
    assert booked is not None and booked.request_id, "the intake booked nothing"
    with read_session(engine) as session:
        assert citizen_service.get(session=session, citizen_id=citizen_id or 0).phone == phone
    return int(booked.request_id)


def _detail(desk: Console, request_id: int) -> Any:
    return ok(desk.get(f"/requests/{request_id}")).context


def _requests(desk: Console, engine: Engine, clock: FixedClock) -> None:
    request_id = _intake(desk, engine)
    for pick in (-1, 0):  # moved to the last window offered, then back to the first
        context = _detail(desk, request_id)
        offer = context["offers"][pick]
        form = {"offer": json.dumps(offer.to_json()), "key": context["keys"]["reschedule"]}
        ok(desk.submit(f"/requests/{request_id}/reschedule", form))
    context = _detail(desk, request_id)
    choices = [c for c in context["choices"] if c.fits]
    if choices:
        form = {"agent_id": str(choices[0].agent.id), "key": context["keys"]["reassign"]}
        ok(desk.submit(f"/requests/{request_id}/reassign", form))
    else:  # nobody else fits: the refusal is replayed too
        form = {"agent_id": "1", "key": context["keys"]["reassign"]}
        desk.submit(f"/requests/{request_id}/reassign", form)
    context = _detail(desk, request_id)
    ok(
        desk.submit(
            f"/requests/{request_id}/priority",
            {"priority": "2", "key": context["keys"]["priority"]},
        )
    )
    with write_session(engine) as session:
        other, _ = factories.booked_request(session, district_code=DISTRICT, now=clock.now())
    context = _detail(desk, other.id or 0)
    form = {"reason": "the citizen went to the office", "key": context["keys"]["cancel"]}
    ok(desk.submit(f"/requests/{other.id}/cancel", form))
    ok(desk.submit("/requests/search", {"q": other.reference}))


def _callbacks(desk: Console, engine: Engine) -> None:
    callback_id = waiting_callback(engine, district_code=DISTRICT)
    for action in ("claim", "release", "claim"):  # each form as the queue page draws it
        seen = ok(desk.get("/callbacks")).context["seen"][callback_id]
        ok(desk.submit(f"/callbacks/{callback_id}/{action}", {"seen": str(seen)}))
    form = {"outcome": "resolved_on_phone", "note": "documents explained"}
    ok(desk.submit(f"/callbacks/{callback_id}/close", form))


def _outbox(desk: Console, engine: Engine) -> None:
    with write_session(engine) as session:
        message = notification_service.queue(
            session=session, to=factories.citizen(session).phone, body="Your visit.", kind="test"
        )
    assert message.id is not None
    notification_service.send(engine=engine, message_id=message.id, sender=TimingOut())
    with read_session(engine) as session:
        assert session.get(OutboxMessage, message.id).status.value == "uncertain"  # type: ignore[union-attr]
    ok(desk.submit(f"/outbox/{message.id}/resend", {"status": "uncertain"}))


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("seed", SEEDS)
def test_every_desk_form_replayed_changes_nothing(
    app: FastAPI, engine: Engine, clock: FixedClock, mode: Mode, seed: int
) -> None:
    recorder = record(app)
    desk = signed_in(app, engine, Role.SUPERVISOR)
    _requests(desk, engine, clock)
    _callbacks(desk, engine)
    _outbox(desk, engine)
    assert_replays_change_nothing(
        app, engine, clock, recorder, covered=COVERED, mode=mode, seed=seed
    )
