"""The requests pages: the list (filters, search by reference or phone, overdue, pages), one
request with its history, and reschedule / cancel / reassign / raise priority through the
forms — each audited as the signed-in staff member, each safe to send twice, each allowed only
to the roles that carry its permission."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx2 import Response
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch.agents.models import Agent
from dispatch.alerts import deadlines
from dispatch.audit.models import AuditEntry
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.db import read_session, write_session
from dispatch.fieldwork import itinerary
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind
from dispatch.notifications import service as notification_service
from dispatch.notifications.service import OutboxSender
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning_service
from dispatch.requests import rules as request_rules
from dispatch.requests import search
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import Channel, RequestStatus
from dispatch.requests.timeline import EntryKind as TimelineKind
from dispatch.staff.rules import Role
from dispatch.visits import reoffer
from dispatch.visits import service as visits
from dispatch.visits.models import UseCase, VisitCommand
from dispatch.visits.proof import StaffActing
from ivr.deps import get_clock
from tests import factories
from tests.conftest import unique_phone
from tests.console import Console, signed_in
from tests.ivr.conftest import FixedClock
from web import requests as web_requests

IST = ZoneInfo("Asia/Kolkata")
#: Days no other test plans on; each test that books takes its own.
DAYS = {
    "reschedule": dt.datetime(2034, 3, 13, 7, 0, tzinfo=IST),
    "cancel": dt.datetime(2034, 3, 14, 7, 0, tzinfo=IST),
    "reassign": dt.datetime(2034, 3, 15, 7, 0, tzinfo=IST),
    "priority": dt.datetime(2034, 3, 16, 7, 0, tzinfo=IST),
    "roles": dt.datetime(2034, 3, 17, 7, 0, tzinfo=IST),
    "refused": dt.datetime(2034, 3, 18, 7, 0, tzinfo=IST),
    "timeline": dt.datetime(2034, 3, 20, 7, 0, tzinfo=IST),
}
#: When the list's requests were logged: long before the app's clock, so they are overdue.
LONG_AGO = dt.datetime(2029, 1, 8, 10, 0, tzinfo=IST)


def _at(app: FastAPI, now: dt.datetime) -> None:
    app.dependency_overrides[get_clock] = lambda: FixedClock(now)


def _booked(engine: Engine, district_code: str, now: dt.datetime) -> DoorstepRequest:
    with write_session(engine) as s:
        request, _ = factories.booked_request(s, district_code=district_code, now=now)
    _send_queued(engine, request.id or 0)
    return request


def _send_queued(engine: Engine, request_id: int) -> None:
    """Send the SMS a booking queued, as the web process does after its commit: nothing is
    left in the shared outbox for the scheduled sender's tests to find."""
    with read_session(engine) as s:
        queued = [
            m.id or 0 for m in notification_service.for_request(session=s, request_id=request_id)
        ]
    for message_id in queued:
        notification_service.send(engine=engine, message_id=message_id, sender=OutboxSender())


def _logged(engine: Engine, citizen: Citizen, at: dt.datetime) -> DoorstepRequest:
    """A request of `citizen` logged (no window) at `at`."""
    with write_session(engine) as s:
        address = citizen_service.last_address(session=s, citizen_id=citizen.id or 0)
        assert address is not None
        done = visits.book_visit(
            session=s,
            settings=factories.SETTINGS,
            idempotency_key=f"t:pages:{uuid.uuid4().hex}",
            actor="test",
            channel=Channel.CONSOLE,
            state_code="JK",
            citizen_id=citizen.id or 0,
            address_id=address.id or 0,
            service_id=factories.service(s).id or 0,
            offer=None,
            now=at,
        )
        request = request_service.get(session=s, request_id=done.request_id)
    _send_queued(engine, request.id or 0)
    return request


def _citizen(engine: Engine) -> Citizen:
    with write_session(engine) as s:
        return factories.citizen(s)


def _fresh(engine: Engine, request_id: int) -> DoorstepRequest:
    with read_session(engine) as s:
        return request_service.get(session=s, request_id=request_id)


def _events(engine: Engine, request_id: int, to: RequestStatus) -> list[RequestEvent]:
    with read_session(engine) as s:
        stmt = select(RequestEvent).where(
            RequestEvent.request_id == request_id, RequestEvent.to_status == to
        )
        return list(s.exec(stmt))


def _audits(engine: Engine, request_id: int, action: str) -> list[AuditEntry]:
    with read_session(engine) as s:
        stmt = (
            select(AuditEntry)
            .where(
                AuditEntry.entity == "request",
                AuditEntry.entity_id == str(request_id),
                AuditEntry.action == action,
            )
            .order_by(col(AuditEntry.id))
        )
        return list(s.exec(stmt))


def _page(client: Console, request_id: int) -> dict[str, Any]:
    response = client.get(f"/requests/{request_id}")
    assert response.status_code == 200, response.text
    assert response.template.name == "requests/detail.html"  # type: ignore[attr-defined]
    context: dict[str, Any] = response.context  # type: ignore[attr-defined]
    return context


def _actor(client: Console) -> str:
    return f"staff:{client.user.username}"


# --- who may --------------------------------------------------------------------------------


def test_without_signing_in_every_requests_page_and_form_leads_to_the_sign_in(
    app: FastAPI, engine: Engine
) -> None:
    request = _booked(engine, "RSI", DAYS["roles"])
    anonymous = Console(app, follow_redirects=False, headers={"accept": "text/html"})
    for url in ("/requests", f"/requests/{request.id}", "/requests?citizen=1"):
        response = anonymous.get(url)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    searched = anonymous.submit("/requests/search", {"q": "98765 43210"})
    assert searched.status_code == 303
    assert searched.headers["location"] == "/login?next=%2Frequests%2Fsearch"  # no number
    for action in ("reschedule", "cancel", "reassign", "priority"):
        posted = anonymous.submit(f"/requests/{request.id}/{action}", {"key": str(uuid.uuid4())})
        assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
    assert _fresh(engine, request.id or 0).status is request.status


def test_a_call_agent_may_reschedule_but_not_reassign_or_raise_priority(
    app: FastAPI, engine: Engine
) -> None:
    now = DAYS["roles"]
    _at(app, now)
    request = _booked(engine, "RSI", now)
    agent = signed_in(app, engine, Role.CALL_AGENT)
    context = _page(agent, request.id or 0)
    assert context["may_change"] and not context["may_dispatch"] and context["offers"]
    html = agent.get(f"/requests/{request.id}").text
    assert 'id="reschedule-form"' in html and 'id="reassign-form"' not in html
    other_agent = next(a.id for a in _agents_for(engine, request) if a.id != request.agent_id)
    refused = agent.submit(
        f"/requests/{request.id}/reassign",
        {"agent_id": other_agent, "key": str(uuid.uuid4())},
    )
    assert refused.status_code == 403
    refused = agent.submit(
        f"/requests/{request.id}/priority", {"priority": "1", "key": str(uuid.uuid4())}
    )
    assert refused.status_code == 403
    assert _audits(engine, request.id or 0, "reassign") == []
    later = context["offers"][-1]
    moved = agent.submit(
        f"/requests/{request.id}/reschedule",
        {"offer": json.dumps(later.to_json()), "key": context["keys"]["reschedule"]},
    )
    assert moved.status_code == 303
    assert _fresh(engine, request.id or 0).window_start == later.start


def _agents_for(engine: Engine, request: DoorstepRequest) -> list[Agent]:
    with read_session(engine) as s:
        return planning_reassign.agents_for(session=s, request_id=request.id or 0)


# --- the list -------------------------------------------------------------------------------


def _search(client: Console, typed: str) -> Response:
    """The search box, as the page sends it: a POST, the text in the body."""
    return client.submit("/requests/search", {"q": typed})


def _no_number_in(url: str, phone: str) -> None:
    digits = re.sub(r"\D", "", unquote_plus(url))
    assert phone[-10:] not in digits and phone[-5:] not in digits, url


def test_a_phone_search_lists_the_citizens_requests_by_their_id_with_the_phone_masked(
    app: FastAPI, engine: Engine
) -> None:
    """The number goes in the form's body; the list's address names the citizen by id."""
    citizen = _citizen(engine)
    older = _logged(engine, citizen, LONG_AGO)
    newer = _logged(engine, citizen, LONG_AGO + dt.timedelta(hours=2))
    client = signed_in(app, engine, Role.SUPERVISOR)
    national = citizen.phone.removeprefix("+91")
    searched = _search(client, f"{national[:5]} {national[5:]}")
    assert searched.status_code == 303
    assert searched.headers["location"] == f"/requests?citizen={citizen.id}"
    response = client.get(searched.headers["location"])
    assert response.status_code == 200
    assert response.template.name == "requests/list.html"  # type: ignore[attr-defined]
    page = response.context["page"]  # type: ignore[attr-defined]
    assert [r.request_id for r in page.rows] == [newer.id, older.id]
    assert response.context["citizen"].id == citizen.id  # type: ignore[attr-defined]
    assert national not in response.text  # masked in the list and in the narrowing
    assert page.rows[0].masked_phone in response.text and 'id="narrowed-citizen"' in response.text
    assert newer.reference in response.text and f'href="/requests/{newer.id}"' in response.text
    for url in re.findall(r'(?:href|action)="([^"]*)"', response.text):
        _no_number_in(url, citizen.phone)


def test_a_reference_or_phone_that_finds_one_request_opens_it(app: FastAPI, engine: Engine) -> None:
    citizen = _citizen(engine)
    only = _logged(engine, citizen, LONG_AGO)
    client = signed_in(app, engine, Role.CALL_AGENT)
    for typed in (
        only.reference,
        only.reference.replace("-", " ").removeprefix("JK "),
        citizen.phone,
    ):
        response = _search(client, typed)
        assert response.status_code == 303, typed
        assert response.headers["location"] == f"/requests/{only.id}"


def test_a_piece_of_a_reference_lists_the_references_holding_it(
    app: FastAPI, engine: Engine
) -> None:
    only = _logged(engine, _citizen(engine), LONG_AGO)
    piece = only.reference.split("-")[2]
    client = signed_in(app, engine, Role.CALL_AGENT)
    response = _search(client, piece)
    assert response.status_code == 303
    assert response.headers["location"] == f"/requests?reference={piece}"
    listed = client.get(response.headers["location"] + "&per_page=100")
    rows = listed.context["page"].rows  # type: ignore[attr-defined]
    assert only.id in {r.request_id for r in rows} and all(piece in r.reference for r in rows)
    assert 'id="narrowed-reference"' in listed.text
    assert f'name="reference" value="{piece}"' in listed.text  # the filters keep it


def test_a_search_that_is_neither_reference_nor_phone_says_so(app: FastAPI, engine: Engine) -> None:
    client = signed_in(app, engine, Role.CALL_AGENT)
    response = _search(client, "Ghulam")
    assert response.status_code == 422
    assert response.template.name == "requests/list.html"  # type: ignore[attr-defined]
    assert "reference" in response.context["error"]  # type: ignore[attr-defined]
    assert 'id="search-error"' in response.text and 'value="Ghulam"' in response.text


def test_a_search_that_matches_nothing_says_so_readably(app: FastAPI, engine: Engine) -> None:
    client = signed_in(app, engine, Role.CALL_AGENT)
    unknown = unique_phone()
    nobody = request_rules.make_reference("JK", 99, 999_999)  # nothing is logged in 2099
    for typed in (unknown, nobody):
        response = _search(client, typed)
        assert response.status_code == 200, typed
        assert response.template.name == "requests/list.html"  # type: ignore[attr-defined]
        assert response.context["error"].startswith("Nothing matches")  # type: ignore[attr-defined]
        assert response.context["page"].rows == []  # type: ignore[attr-defined]
        assert 'id="search-error"' in response.text
    assert _search(client, "   ").headers["location"] == "/requests"  # empty: the whole list


def test_a_phone_number_in_the_lists_address_is_not_used(app: FastAPI, engine: Engine) -> None:
    """Old links or hand-typed addresses: `q`, `phone` or a reference filter holding a number
    find nothing by it; the page says to use the search box and does not echo the number."""
    citizen = _citizen(engine)
    _logged(engine, citizen, LONG_AGO)
    client = signed_in(app, engine, Role.DISPATCHER)
    national = citizen.phone.removeprefix("+91")
    for params in ({"q": citizen.phone}, {"phone": national}, {"reference": national}):
        response = client.get("/requests", params=params)
        assert response.status_code == 200, params
        context = response.context  # type: ignore[attr-defined]
        assert context["filters"] == search.Filters(), params  # nothing narrowed by the number
        assert context["note"] and 'id="search-note"' in response.text
        assert national not in response.text
        for url in re.findall(r'(?:href|action)="([^"]*)"', response.text):
            _no_number_in(url, citizen.phone)
    assert client.get("/requests").context["note"] == ""  # type: ignore[attr-defined]


def test_filters_overdue_and_pages_narrow_the_list(app: FastAPI, engine: Engine) -> None:
    citizen = _citizen(engine)
    made = [_logged(engine, citizen, LONG_AGO + dt.timedelta(minutes=n)) for n in range(3)]
    booked = _booked(engine, "RSI", DAYS["roles"])
    client = signed_in(app, engine, Role.DISPATCHER)
    newest_first = [r.id for r in reversed(made)]

    def ids(**params: str) -> list[int]:
        response = client.get("/requests", params={"citizen": str(citizen.id), **params})
        assert response.status_code == 200, response.text
        return [r.request_id for r in response.context["page"].rows]  # type: ignore[attr-defined]

    assert ids() == newest_first
    assert ids(status="logged") == newest_first
    assert ids(status="cancelled") == []
    assert ids(district=str(made[0].district_id)) == newest_first
    assert ids(district=str(booked.district_id)) == []
    assert ids(service=str(made[0].service_id)) == newest_first
    assert ids(overdue="on") == newest_first  # logged in 2029, due long before the clock
    assert ids(per_page="2") == newest_first[:2]
    second = client.get(
        "/requests", params={"citizen": str(citizen.id), "per_page": "2", "page": "2"}
    )
    assert [r.request_id for r in second.context["page"].rows] == newest_first[2:]  # type: ignore[attr-defined]
    assert 'id="page-previous"' in second.text and 'id="page-next"' not in second.text
    assert f'href="/requests?citizen={citizen.id}&amp;per_page=2&amp;page=1"' in second.text
    html = client.get("/requests", params={"citizen": str(citizen.id)}).text
    assert html.count('class="overdue"') == 3 and "overdue</strong>" in html
    not_yet = _search(client, booked.reference)
    assert not_yet.status_code == 303  # one match: straight to it
    with write_session(engine) as s:
        visits.cancel_visit(
            session=s,
            settings=factories.SETTINGS,
            idempotency_key=f"t:pages:{uuid.uuid4().hex}",
            actor="test",
            request_id=made[0].id or 0,
            proof=StaffActing(client.user.id or 0),
            reason="asked on the phone",
        )
    _send_queued(engine, made[0].id or 0)
    assert ids(overdue="on") == newest_first[:2]  # a closed request is never overdue
    assert ids() == newest_first


# --- one request ----------------------------------------------------------------------------


def test_the_request_page_shows_its_facts_but_never_its_visit_code(
    app: FastAPI, engine: Engine
) -> None:
    now = DAYS["roles"]
    _at(app, now)
    request = _booked(engine, "RSI", now)
    client = signed_in(app, engine, Role.SUPERVISOR)
    response = client.get(f"/requests/{request.id}")
    context = response.context  # type: ignore[attr-defined]
    assert context["r"].id == request.id and context["has_visit_code"]
    assert request.visit_code is not None
    assert f">{request.visit_code}<" not in response.text
    assert "not shown" in response.text
    assert context["citizen"].phone in response.text  # in full for staff
    assert "₹" in response.text and context["agent"] is not None
    assert {e.kind for e in context["entries"]} >= {TimelineKind.STATE, TimelineKind.SMS}
    assert len(set(context["keys"].values())) == 4  # one idempotency key per form
    assert client.get("/requests/999999999").status_code == 404


def _plan_lines(context: dict[str, Any]) -> list[web_requests.PlanLine]:
    return [e for e in context["entries"] if e.kind == web_requests.HistoryKind.PLAN]


def test_the_history_says_in_words_what_each_plan_change_moved_why_and_who_was_told(
    app: FastAPI, engine: Engine
) -> None:
    """Booked, moved by a dispatcher to an agent then sent their day, re-offered: each change
    is a line among the request's other records, with its cause and who was told (a call-back
    linked for a call agent, who may open the queue; in words for a dispatcher)."""
    now = DAYS["timeline"]
    _at(app, now)
    request = _booked(engine, "SXR", now)
    rid, first = request.id or 0, request.agent_id or 0
    with read_session(engine) as s:
        choices = planning_reassign.choices(session=s, request_id=rid)
    target = next(c.agent for c in choices if c.fits and not c.current)
    with write_session(engine) as s:
        moved = planning_reassign.move_visit(
            session=s, request_id=rid, agent_id=target.id or 0, actor="staff:asha"
        )
        itinerary.send_day(
            session=s,
            settings=factories.SETTINGS,
            agent_id=target.id or 0,
            on=now.date(),
            now=now,
        )
        names = {a.id: a.name for a in s.exec(select(Agent))}
    with write_session(engine) as s:
        # Its window can no longer be met: the plan leaves it out, and it is re-offered.
        found = request_service.get(session=s, request_id=rid)
        early = dt.datetime.combine(now.date(), dt.time(5, 0), IST).astimezone(dt.UTC)
        found.window_start, found.window_end = early, early + dt.timedelta(minutes=30)
        s.add(found)
        planning_service.follow_progress(
            session=s, district_id=found.district_id, day=now.date(), actor="test"
        )
        s.refresh(found)
        assert found.agent_id is None, "left out of the plan"
        done = reoffer.reoffer(
            session=s,
            settings=factories.SETTINGS,
            request_id=rid,
            cause="no agent can make the window",
            actor="planner",
            now=now,
        )
    _send_queued(engine, rid)
    assert done.message_id is not None and done.callback_id is not None

    def hhmm(at: dt.datetime | None) -> str:
        assert at is not None
        return at.astimezone(IST).strftime("%H:%M")

    caller = signed_in(app, engine, Role.CALL_AGENT)
    context = _page(caller, rid)
    lines = _plan_lines(context)
    assert (
        lines[0].title == f"Added to {names[first]}'s day (arrival {hhmm(request.planned_arrival)})"
    )
    assert lines[0].cause == "booking"
    move = next(line for line in lines if line.title.startswith("Moved"))
    assert move.title == (
        f"Moved from {names[first]} to {target.name} "
        f"(arrival {hhmm(request.planned_arrival)} → {hhmm(moved.planned_arrival)})"
    )
    assert move.cause == "dispatcher" and move.actor == "staff:asha"
    [told_agent] = move.told
    assert told_agent.text.startswith(f"{target.name} by SMS #") and told_agent.href is None
    offered = lines[-1]
    assert offered.title.startswith("Re-offered: new time ")
    assert offered.cause == "no agent can make the window"
    assert [(t.text, t.href) for t in offered.told] == [
        (f"citizen by SMS #{done.message_id}", None),
        (f"console call-back #{done.callback_id}", "/callbacks"),
    ]
    entries = context["entries"]
    assert entries == sorted(entries, key=lambda e: e.at)  # one history, oldest first
    assert {e.kind for e in entries} >= {TimelineKind.STATE, web_requests.HistoryKind.PLAN}
    html = caller.get(f"/requests/{rid}").text
    assert "cause: dispatcher — told: " in html and "cause: booking — told: " in html
    assert f'<a href="/callbacks">console call-back #{done.callback_id}</a>' in html

    dispatcher = signed_in(app, engine, Role.DISPATCHER)
    seen = _plan_lines(_page(dispatcher, rid))
    assert [line.title for line in seen] == [line.title for line in lines]
    assert all(t.href is None for t in seen[-1].told)  # no call-back queue for a dispatcher
    shown = dispatcher.get(f"/requests/{rid}").text
    assert f"console call-back #{done.callback_id}" in shown and 'href="/callbacks"' not in shown


def test_the_plan_change_causes_read_as_words() -> None:
    words = web_requests.cause_words
    assert words("report:arrived") == "agent's report: arrived"
    assert words("report:no_show") == "agent's report: citizen not at home"
    assert words("improved") == "improved by the planner"
    assert words("improved after agent on leave, booking, report") == (
        "improved by the planner after agent on leave, booking, agent's report"
    )
    assert words("agent on leave") == "agent on leave"
    assert words("something new:x") == "something new:x"  # unknown: as it is


def test_a_request_marked_for_the_appeal_says_so_with_the_day(app: FastAPI, engine: Engine) -> None:
    """The facts say the day; the history says it once (the mark's own line, by the task that
    made it, not its audit record beside it)."""
    now = DAYS["timeline"]
    _at(app, now)
    request = _booked(engine, "RMB", now)
    marked = dt.datetime(2034, 3, 21, 18, 45, tzinfo=dt.UTC)  # 22 March in India
    with write_session(engine) as s:
        found = request_service.get(session=s, request_id=request.id or 0)
        assert deadlines.mark_for_appeal(session=s, request=found, now=marked)
        due = request_service.get(session=s, request_id=request.id or 0).due_date
    assert due is not None
    client = signed_in(app, engine, Role.SUPERVISOR)
    response = client.get(f"/requests/{request.id}")
    assert "Marked for the state's appeal on Wed 22 Mar 2034</dd>" in response.text
    assert 'id="request-appeal"' in response.text
    entries = response.context["entries"]  # type: ignore[attr-defined]
    [mark] = [e for e in entries if e.at == marked]
    assert (mark.kind, mark.title, mark.actor) == (
        web_requests.HistoryKind.APPEAL,
        "Marked for the state's appeal",
        deadlines.ACTOR,
    )
    assert mark.detail == f"its legal time limit ended on {due:%a %d %b %Y}, undelivered"
    assert "marked for appeal" not in response.text  # the audit record's own line
    unmarked = _booked(engine, "RMB", now)
    assert 'id="request-appeal"' not in client.get(f"/requests/{unmarked.id}").text


# --- the actions ----------------------------------------------------------------------------


def test_reschedule_through_the_page_is_audited_and_acts_once(app: FastAPI, engine: Engine) -> None:
    now = DAYS["reschedule"]
    _at(app, now)
    request = _booked(engine, "RMB", now)
    client = signed_in(app, engine, Role.CALL_AGENT)
    context = _page(client, request.id or 0)
    later = next(o for o in context["offers"] if o.start != request.window_start)
    form = {"offer": json.dumps(later.to_json()), "key": context["keys"]["reschedule"]}

    first = client.submit(f"/requests/{request.id}/reschedule", form)
    again = client.submit(f"/requests/{request.id}/reschedule", form)

    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == f"/requests/{request.id}?done=rescheduled"
    moved = _fresh(engine, request.id or 0)
    assert moved.window_start == later.start
    [event] = _events(engine, request.id or 0, RequestStatus.RESCHEDULED)
    assert event.actor == _actor(client)
    notice = client.get(first.headers["location"])
    assert "Rescheduled to" in notice.context["notice"]  # type: ignore[attr-defined]
    assert 'id="request-notice"' in notice.text


def test_cancel_through_the_page_shows_the_refund_first_waives_the_fee_and_acts_once(
    app: FastAPI, engine: Engine
) -> None:
    now = DAYS["cancel"]
    _at(app, now)
    request = _booked(engine, "RMB", now)
    client = signed_in(app, engine, Role.CALL_AGENT)
    context = _page(client, request.id or 0)
    settlement = context["settlement"]
    assert (settlement.refund_paise, settlement.waive_paise) == (0, request.fee_paise)
    html = client.get(f"/requests/{request.id}").text
    assert 'id="cancel-settlement"' in html and "waive" in html
    form = {"reason": "the citizen went to the office", "key": context["keys"]["cancel"]}

    first = client.submit(f"/requests/{request.id}/cancel", form)
    again = client.submit(f"/requests/{request.id}/cancel", form)

    assert first.status_code == again.status_code == 303
    assert _fresh(engine, request.id or 0).status is RequestStatus.CANCELLED
    [event] = _events(engine, request.id or 0, RequestStatus.CANCELLED)
    assert event.actor == _actor(client) and event.reason == form["reason"]
    with read_session(engine) as s:
        kinds = [e.kind for e in ledger_service.entries(session=s, request_id=request.id or 0)]
        command = s.exec(
            select(VisitCommand)
            .where(col(VisitCommand.idempotency_key).startswith("console:cancel:"))
            .where(VisitCommand.request_id == request.id)
        ).one()
    assert kinds == [EntryKind.CHARGE, EntryKind.WAIVE] and command.actor == _actor(client)
    entries = _page(client, request.id or 0)["entries"]
    kinds_seen = {e.kind for e in entries}
    assert {
        TimelineKind.STATE,
        TimelineKind.SMS,
        TimelineKind.LEDGER,
        TimelineKind.AUDIT,
    } <= kinds_seen
    assert any(e.kind is TimelineKind.AUDIT and e.actor == _actor(client) for e in entries)
    assert any(e.kind is TimelineKind.SMS and "cancel" in e.title for e in entries)


def test_a_cancel_without_a_reason_is_refused_readably(app: FastAPI, engine: Engine) -> None:
    now = DAYS["cancel"]
    _at(app, now)
    request = _booked(engine, "RMB", now)
    client = signed_in(app, engine, Role.CALL_AGENT)
    key = _page(client, request.id or 0)["keys"]["cancel"]
    response = client.submit(f"/requests/{request.id}/cancel", {"reason": "  ", "key": key})
    assert response.status_code == 422
    assert response.template.name == "requests/detail.html"  # type: ignore[attr-defined]
    assert "say why" in response.context["error"]  # type: ignore[attr-defined]
    assert 'id="request-error"' in response.text
    forged = client.submit(f"/requests/{request.id}/cancel", {"reason": "x", "key": "not-a-key"})
    assert forged.status_code == 422
    assert _fresh(engine, request.id or 0).status is request.status


def _takes_hindi_from_nine(engine: Engine, request: DoorstepRequest) -> Agent:
    return next(
        a
        for a in _agents_for(engine, request)
        if a.id != request.agent_id and "hi" in a.languages and a.shift_start_min == 9 * 60
    )


def test_reassign_through_the_page_moves_the_visit_is_audited_and_acts_once(
    app: FastAPI, engine: Engine
) -> None:
    now = DAYS["reassign"]
    _at(app, now)
    request = _booked(engine, "SXR", now)
    client = signed_in(app, engine, Role.DISPATCHER)
    context = _page(client, request.id or 0)
    target = _takes_hindi_from_nine(engine, request)
    fits = {c.agent.id: c.fits for c in context["choices"]}
    assert fits[target.id] and request.agent_id not in fits
    with read_session(engine) as s:
        no_hindi = s.exec(select(Agent).where(Agent.name == "Mohammad Ramzan Naqash")).one()
    assert fits[no_hindi.id] is False  # shown, not choosable
    form = {"agent_id": str(target.id), "key": context["keys"]["reassign"]}

    first = client.submit(f"/requests/{request.id}/reassign", form)
    again = client.submit(f"/requests/{request.id}/reassign", form)

    assert first.status_code == again.status_code == 303
    assert _fresh(engine, request.id or 0).agent_id == target.id
    [entry] = _audits(engine, request.id or 0, "reassign")
    assert entry.actor == _actor(client) and entry.detail["to_agent"] == target.id
    with read_session(engine) as s:
        command = s.exec(
            select(VisitCommand).where(
                VisitCommand.idempotency_key == f"console:reassign:{form['key']}"
            )
        ).one()
    assert (command.use_case, command.request_id) == (UseCase.REASSIGN, request.id)
    shown = client.get(first.headers["location"])
    assert target.name in shown.context["notice"]  # type: ignore[attr-defined]
    assert shown.context["pinned_agent"].id == target.id  # type: ignore[attr-defined]
    assert shown.context["pinned_by"] == client.user.username  # type: ignore[attr-defined]
    assert f"kept with {target.name} by {client.user.username}" in shown.text
    assert 'id="request-pinned"' in shown.text


def test_a_reassignment_the_agent_cannot_take_is_refused_readably(
    app: FastAPI, engine: Engine
) -> None:
    now = DAYS["refused"]
    _at(app, now)
    request = _booked(engine, "SXR", now)
    client = signed_in(app, engine, Role.DISPATCHER)
    with read_session(engine) as s:
        no_hindi = s.exec(select(Agent).where(Agent.name == "Mohammad Ramzan Naqash")).one()
    key = _page(client, request.id or 0)["keys"]["reassign"]
    response = client.submit(
        f"/requests/{request.id}/reassign", {"agent_id": str(no_hindi.id), "key": key}
    )
    assert response.status_code == 409
    assert response.template.name == "requests/detail.html"  # type: ignore[attr-defined]
    assert request.reference in response.context["error"]  # type: ignore[attr-defined]
    assert _fresh(engine, request.id or 0).agent_id == request.agent_id


def test_raise_priority_through_the_page_is_audited_and_acts_once(
    app: FastAPI, engine: Engine
) -> None:
    now = DAYS["priority"]
    _at(app, now)
    request = _booked(engine, "RMB", now)
    client = signed_in(app, engine, Role.SUPERVISOR)
    context = _page(client, request.id or 0)
    assert context["priorities"] == [1, 2]
    form = {"priority": "2", "key": context["keys"]["priority"]}

    first = client.submit(f"/requests/{request.id}/priority", form)
    again = client.submit(f"/requests/{request.id}/priority", form)

    assert first.status_code == again.status_code == 303
    assert _fresh(engine, request.id or 0).priority == 2
    [entry] = _audits(engine, request.id or 0, "raise_priority")
    assert entry.actor == _actor(client)
    after = _page(client, request.id or 0)
    assert (
        after["priorities"] == []
        and 'id="priority-form"' not in client.get(f"/requests/{request.id}").text
    )


@pytest.mark.parametrize("role", [Role.CALL_AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN])
def test_every_role_that_views_requests_sees_the_list(
    app: FastAPI, engine: Engine, role: Role
) -> None:
    client = signed_in(app, engine, role)
    response = client.get("/requests")
    assert response.status_code == 200
    assert response.template.name == "requests/list.html"  # type: ignore[attr-defined]


def test_ids_past_what_the_database_holds_are_refused_not_an_error(
    app: FastAPI, engine: Engine
) -> None:
    """An id beyond 2**63 cannot even be bound on SQLite: every id a page's address or form
    names is bounded, so such an id is a 422 (or 404), never a 500."""
    request = _booked(engine, "RSI", DAYS["refused"])
    client = signed_in(app, engine, Role.SUPERVISOR)
    huge = "99999999999999999999"
    for url in (
        f"/requests/{huge}",
        "/requests/0",
        f"/requests?district={huge}",
        f"/requests?service={huge}",
        f"/requests?citizen={huge}",
        f"/requests?page={huge}",
        f"/requests?per_page={huge}",
    ):
        assert client.get(url).status_code == 422, url
    assert client.get(f"/requests/{2**31 - 1}").status_code == 404
    for action, form in (
        ("cancel", {"reason": "no longer needed"}),
        ("reschedule", {"offer": "{}"}),
        ("reassign", {"agent_id": "1"}),
        ("priority", {"priority": "1"}),
    ):
        posted = client.submit(f"/requests/{huge}/{action}", {**form, "key": str(uuid.uuid4())})
        assert posted.status_code == 422, action
    forged = client.submit(
        f"/requests/{request.id}/reassign", {"agent_id": huge, "key": str(uuid.uuid4())}
    )
    assert forged.status_code == 422
    assert _fresh(engine, request.id or 0).agent_id == request.agent_id


def test_an_sms_that_cannot_be_sent_is_logged_without_its_message(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The exception's text may quote the citizen's number: the log keeps its type and where
    it came from, not its words."""
    number = unique_phone()

    def refuses(**_: object) -> None:
        raise RuntimeError(f"the provider refused {number}")

    monkeypatch.setattr(notification_service, "send", refuses)
    with caplog.at_level(logging.ERROR, logger="web.requests"):
        web_requests._deliver(engine, OutboxSender(), 12345)
    [record] = [r for r in caplog.records if r.name == "web.requests"]
    logged = record.getMessage() + (record.exc_text or "")
    assert "could not deliver SMS 12345: RuntimeError" in logged and "refuses" in logged
    assert number[-10:] not in logged and record.exc_info is None
