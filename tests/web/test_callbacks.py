"""The call-back queue page: callers on the line then call-backs, oldest first, with what they
gave the IVR; one person claims a call-back and alone sees its number; release; close with an
outcome (audited, idempotent); the polled list holds no forms; who may come in."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI
from httpx import Response
from sqlalchemy.engine import Engine

from dispatch.audit import service as audit
from dispatch.calls import queue as callback_queue
from dispatch.calls import rules
from dispatch.calls.models import Callback, CallSession
from dispatch.db import read_session, write_session
from dispatch.staff import service as staff_service
from dispatch.staff.rules import Role
from dispatch.validation import mask_phone
from tests import factories
from tests.console import Console, signed_in
from tests.dispatch.test_callback_queue import make_callback, make_transfer
from tests.ivr.conftest import FixedClock


def _ago(clock: FixedClock, minutes: int) -> dt.datetime:
    return clock.at - dt.timedelta(minutes=minutes)


def _callback(engine: Engine, clock: FixedClock, minutes: int, **kwargs: Any) -> Callback:
    with write_session(engine) as session:
        return make_callback(session, at=_ago(clock, minutes), **kwargs)


def _transfer(
    engine: Engine, clock: FixedClock, minutes: int
) -> tuple[CallSession, dict[str, Any]]:
    """A caller put through to the queue after choosing a service and a village, in English."""
    with write_session(engine) as session:
        village = factories.village_in(session)
        service = factories.service(session)
        call = make_transfer(
            session,
            at=_ago(clock, minutes),
            language="en",
            service_id=service.id,
            village_id=village.id,
        )
        return call, {"village": village, "service": service}


def _rows(response: Response, *keys: str) -> list[Any]:
    """The page's rows among `keys` (other tests' callers share the database), in order."""
    return [r for r in response.context["rows"] if r.key in keys]  # type: ignore[attr-defined]


def _template(response: Response) -> str:
    name: str = response.template.name  # type: ignore[attr-defined]
    return name


def test_callers_on_the_line_come_first_then_callbacks_oldest_first(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    newer = _callback(engine, clock, 10, language="ur")
    older = _callback(engine, clock, 45)
    call, chose = _transfer(engine, clock, 4)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    response = agent.get("/callbacks")
    assert response.status_code == 200 and _template(response) == "callbacks/index.html"
    keys = (f"waiting-{call.id}", f"callback-{older.id}", f"callback-{newer.id}")
    rows = _rows(response, *keys)
    assert [r.key for r in rows] == list(keys)
    waiting, first, second = rows
    assert (waiting.reason, waiting.language, waiting.waited) == (
        "On the line now",
        "English",
        "4 min",
    )
    assert waiting.service == chose["service"].name_en
    assert waiting.place.startswith(chose["village"].name + ", ")
    assert (first.waited, second.language) == ("45 min", "Urdu")
    assert first.citizen == "Test Citizen" and first.service and first.place.count(",") == 2
    assert first.reason == "Chose a call-back over the wait"
    assert first.phone is None and first.book_url is None  # nobody holds it yet
    html = response.text
    assert mask_phone(older.phone) in html and older.phone not in html
    assert call.from_number not in html  # the caller on the line: masked too
    assert 'hx-get="/callbacks/list"' in html and 'hx-trigger="every 12s"' in html


def test_the_polled_list_holds_no_forms_to_lose(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """The page polls only the list: the holder's close form (a half-typed note) is outside it."""
    callback = _callback(engine, clock, 5)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    agent.submit(f"/callbacks/{callback.id}/claim")
    page = agent.get("/callbacks")
    assert f'id="note-{callback.id}"' in page.text
    listed = agent.get("/callbacks/list")
    assert listed.status_code == 200 and _template(listed) == "callbacks/_list.html"
    assert 'name="note"' not in listed.text and "hx-swap-oob" not in listed.text
    assert _rows(listed, f"callback-{callback.id}")[0].mine


def test_one_agent_claims_and_alone_sees_the_number(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    callback = _callback(engine, clock, 20)
    anita = signed_in(app, engine, Role.CALL_AGENT)
    bilal = signed_in(app, engine, Role.SUPERVISOR)
    response = anita.submit(f"/callbacks/{callback.id}/claim")
    assert response.status_code == 303 and response.headers["location"] == "/callbacks?done=claimed"
    mine = anita.get("/callbacks")
    row = _rows(mine, f"callback-{callback.id}")[0]
    assert row.mine and row.phone == callback.phone
    assert f'href="tel:{callback.phone}"' in mine.text
    assert [r.id for r in mine.context["mine"]] == [callback.id]  # type: ignore[attr-defined]
    assert row.book_url == f"/intake?callback={callback.id}"  # the number stays out of URLs
    assert f'href="/intake?callback={callback.id}"' in mine.text

    theirs = bilal.get("/callbacks")
    other = _rows(theirs, f"callback-{callback.id}")[0]
    assert other.phone is None and other.claimed_by == anita.user.username
    assert callback.phone not in theirs.text and f'id="claim-{callback.id}"' not in theirs.text
    refused = bilal.submit(f"/callbacks/{callback.id}/claim")
    assert refused.status_code == 409 and _template(refused) == "callbacks/index.html"
    assert anita.user.username in refused.context["error"]  # type: ignore[attr-defined]
    assert callback.phone not in refused.text
    fragment = bilal.htmx("POST", f"/callbacks/{callback.id}/claim")
    assert fragment.status_code == 409 and _template(fragment) == "callbacks/_message.html"
    assert fragment.headers["HX-Retarget"] == "#queue-message"
    assert 'hx-swap-oob="innerHTML"' in fragment.text and callback.phone not in fragment.text


def test_claiming_with_htmx_answers_the_card_and_the_list(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    callback = _callback(engine, clock, 3)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    response = agent.htmx("POST", f"/callbacks/{callback.id}/claim")
    assert response.status_code == 200 and _template(response) == "callbacks/_card_and_list.html"
    assert f'<article id="callback-{callback.id}"' in response.text
    assert f'href="tel:{callback.phone}"' in response.text
    assert 'hx-swap-oob="innerHTML"' in response.text
    twice = agent.htmx("POST", f"/callbacks/{callback.id}/claim")  # a double click
    assert twice.status_code == 200 and _template(twice) == "callbacks/_list.html"
    assert "<article" not in twice.text  # no second card


def test_a_lapsed_claim_may_be_taken_over(app: FastAPI, engine: Engine, clock: FixedClock) -> None:
    callback = _callback(engine, clock, 50)
    with write_session(engine) as session:
        callback_queue.claim_callback(
            session=session,
            callback_id=callback.id or 0,
            actor="staff:gone_home",
            now=clock.at - rules.CLAIM_LAPSES_AFTER,
        )
    agent = signed_in(app, engine, Role.CALL_AGENT)
    page = agent.get("/callbacks")
    row = _rows(page, f"callback-{callback.id}")[0]
    assert (row.claimed_by, row.lapsed) == ("gone_home", True)
    assert f'id="claim-{callback.id}">Take over' in page.text
    assert agent.submit(f"/callbacks/{callback.id}/claim").status_code == 303
    with read_session(engine) as session:
        last = audit.history(session=session, entity="callback", entity_id=callback.id)[-1]
    assert (last.action, last.detail) == ("taken_over", {"from": "staff:gone_home"})


def test_releasing_puts_it_back_for_anyone(app: FastAPI, engine: Engine, clock: FixedClock) -> None:
    callback = _callback(engine, clock, 8)
    anita = signed_in(app, engine, Role.CALL_AGENT)
    anita.submit(f"/callbacks/{callback.id}/claim")
    response = anita.submit(f"/callbacks/{callback.id}/release")
    assert (
        response.status_code == 303 and response.headers["location"] == "/callbacks?done=released"
    )
    bilal = signed_in(app, engine, Role.CALL_AGENT)
    assert bilal.htmx("POST", f"/callbacks/{callback.id}/claim").status_code == 200
    gone = anita.htmx("POST", f"/callbacks/{callback.id}/release")  # not hers any more
    assert gone.status_code == 409 and _template(gone) == "callbacks/_gone.html"
    assert callback.phone not in gone.text


def test_closing_with_an_outcome_is_audited_and_leaves_the_queue(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    callback = _callback(engine, clock, 30)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    agent.submit(f"/callbacks/{callback.id}/claim")
    form = {"outcome": "resolved_on_phone", "note": "documents explained"}
    response = agent.submit(f"/callbacks/{callback.id}/close", form)
    assert response.status_code == 303 and response.headers["location"] == "/callbacks?done=closed"
    assert agent.submit(f"/callbacks/{callback.id}/close", form).status_code == 303  # twice: fine
    again = agent.htmx("POST", f"/callbacks/{callback.id}/close", data=form)
    assert again.status_code == 200 and _template(again) == "callbacks/_gone.html"
    with read_session(engine) as session:
        closed = callback_queue.get_callback(session=session, callback_id=callback.id or 0)
        history = audit.history(session=session, entity="callback", entity_id=callback.id)
    actor = staff_service.actor_of(agent.user)
    assert (closed.outcome, closed.note, closed.done_by) == (
        "resolved_on_phone",
        "documents explained",
        actor,
    )
    assert [(e.actor, e.action) for e in history] == [(actor, "claimed"), (actor, "closed")]
    page = agent.get("/callbacks")
    assert _rows(page, f"callback-{callback.id}") == [] and page.context["mine"] == []  # type: ignore[attr-defined]


def test_a_refused_close_keeps_what_was_typed(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    callback = _callback(engine, clock, 12)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    agent.submit(f"/callbacks/{callback.id}/claim")
    no_outcome = agent.htmx(
        "POST", f"/callbacks/{callback.id}/close", data={"note": "half a thought"}
    )
    assert (
        no_outcome.status_code == 422 and _template(no_outcome) == "callbacks/_card_and_list.html"
    )
    assert "half a thought</textarea>" in no_outcome.text
    mistyped = {"outcome": "booked", "reference": "JK-26-000000-0", "note": "booked income cert"}
    page = agent.submit(f"/callbacks/{callback.id}/close", mistyped)  # its check digit is wrong
    assert page.status_code == 422 and _template(page) == "callbacks/index.html"
    assert "check digit" in page.context["error"]  # type: ignore[attr-defined]
    assert "booked income cert</textarea>" in page.text
    with read_session(engine) as session:
        assert (
            callback_queue.get_callback(session=session, callback_id=callback.id or 0).status
            == "open"
        )


def _intake_links(html: str) -> list[str]:
    return re.findall(r'href="(/intake[^"]*)"', html)


def test_no_phone_number_travels_in_a_link_to_intake(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """Access logs keep URLs: the links name the call-back or the call, never the number."""
    callback = _callback(engine, clock, 7)
    call, _ = _transfer(engine, clock, 2)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    agent.submit(f"/callbacks/{callback.id}/claim")  # now the holder's card shows the number
    page = agent.get("/callbacks")
    assert f'href="tel:{callback.phone}"' in page.text
    links = _intake_links(page.text)
    assert f"/intake?callback={callback.id}" in links and f"/intake?call={call.id}" in links
    for link in links:
        query = parse_qs(urlsplit(html.unescape(link)).query)
        assert set(query) <= {"callback", "call"}, link
        for number in (callback.phone, call.from_number):
            assert number[-10:] not in link, link


def test_a_caller_on_the_line_is_booked_through_intake(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    call, chose = _transfer(engine, clock, 1)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    row = _rows(agent.get("/callbacks"), f"waiting-{call.id}")[0]
    assert row.book_url == f"/intake?call={call.id}"
    response = agent.get(f"/callbacks/waiting/{call.id}/book")  # the older link: a redirect
    assert response.status_code == 303
    assert response.headers["location"] == f"/intake?call={call.id}"
    page = agent.get(response.headers["location"])
    assert page.status_code == 200 and _template(page) == "intake/page.html"
    form = page.context["p"].form  # type: ignore[attr-defined]
    assert form.phone == call.from_number and form.language == "en"
    assert form.service_id == chose["service"].id and form.village_id == chose["village"].id
    assert 'id="call-note"' in page.text
    assert agent.get("/callbacks/waiting/999999999/book").status_code == 404


def test_the_count_for_the_navigation(app: FastAPI, engine: Engine, clock: FixedClock) -> None:
    _callback(engine, clock, 2)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    response = agent.get("/callbacks/count")
    assert response.status_code == 200 and _template(response) == "callbacks/_count.html"
    with read_session(engine) as session:
        expected = callback_queue.queue_length(session=session, state_code="JK", now=clock.at)
    assert response.context["count"] == expected >= 1  # type: ignore[attr-defined]


def test_who_may_come_in(app: FastAPI, engine: Engine, clock: FixedClock) -> None:
    callback = _callback(engine, clock, 6)
    dispatcher = signed_in(app, engine, Role.DISPATCHER)
    assert dispatcher.get("/callbacks").status_code == 403
    assert dispatcher.submit(f"/callbacks/{callback.id}/claim").status_code == 403
    anonymous = Console(app, follow_redirects=False, headers={"accept": "text/html"})
    response = anonymous.get("/callbacks")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    agent = signed_in(app, engine, Role.CALL_AGENT)
    no_token = agent.post(f"/callbacks/{callback.id}/claim", data={})
    assert no_token.status_code == 403
    with read_session(engine) as session:
        assert (
            callback_queue.get_callback(session=session, callback_id=callback.id or 0).claimed_by
            is None
        )


def test_an_id_past_what_the_database_holds_is_bad_input(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """SQLite cannot bind an integer past 2**63: such an id is refused as bad input (422)
    before anything looks it up, never a 500."""
    agent = signed_in(app, engine, Role.CALL_AGENT)
    huge = "99999999999999999999"
    assert agent.submit(f"/callbacks/{huge}/claim").status_code == 422
    assert agent.htmx("POST", f"/callbacks/{huge}/release").status_code == 422
    assert agent.get(f"/callbacks/waiting/{huge}/book").status_code == 422


def test_a_re_offer_call_back_leads_to_its_request_not_to_a_new_booking(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """The planner moved the visit: the call agent confirms or changes it on its request."""
    from dispatch.calls import service as call_service
    from dispatch.calls.models import CallbackReason
    from dispatch.citizens import service as citizen_service

    with write_session(engine) as session:
        request = factories.request(session)
        citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
        made = call_service.callback_for_request(
            session=session,
            request=request,
            phone=citizen.phone,
            reason=CallbackReason.REOFFER,
            key=f"reoffer:r{request.id}:test",
            now=_ago(clock, 5),
        )
        assert made is not None
        callback_id, request_id = made.id, request.id
    anita = signed_in(app, engine, Role.CALL_AGENT)
    listed = _rows(anita.get("/callbacks"), f"callback-{callback_id}")[0]
    assert listed.reason.startswith("Visit moved") and listed.request_url is None
    anita.submit(f"/callbacks/{callback_id}/claim")
    page = anita.get("/callbacks")
    row = _rows(page, f"callback-{callback_id}")[0]
    assert row.request_url == f"/requests/{request_id}" and row.book_url is None
    assert f'href="/requests/{request_id}"' in page.text
    assert f'id="book-callback-{callback_id}"' not in page.text
