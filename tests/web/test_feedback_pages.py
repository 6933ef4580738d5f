"""The feedback and grievance pages: ratings over weeks with tiles, charts and their tables,
narrowed by district, service, agent and weeks; every table as CSV; the grievance list (open
first, overdue after a week) and one grievance closed through its form — a note required (422
with what was typed kept), a form sent twice closing once, a grievance closed by someone else
refused (409), the citizen's SMS queued; supervisors and admins only."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.db import read_session, write_session
from dispatch.fieldwork import replies
from dispatch.fieldwork.models import Feedback
from dispatch.geography.models import District
from dispatch.grievances import service as grievances
from dispatch.grievances.models import Grievance, GrievanceStatus
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import OutboxMessage
from dispatch.notifications.service import OutboxSender
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.rules import Role
from ivr.deps import get_clock
from tests import factories
from tests.console import Console, signed_in
from tests.ivr.conftest import FixedClock
from web.deps import get_read_session

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on; the district is this file's alone for the ratings shown.
BOOKED_AT = dt.datetime(2037, 7, 7, 7, 0, tzinfo=IST)
DISTRICT = "DOD"
#: The pages are looked at the next day.
LOOKED_AT = BOOKED_AT + dt.timedelta(days=1, hours=3)


def _send_queued(engine: Engine, request_id: int) -> None:
    """Send what the use cases queued, as the web process does after its commit: nothing is
    left in the shared outbox for the scheduled sender's tests to find."""
    with read_session(engine) as s:
        queued = [
            m.id or 0
            for m in notification_service.for_request(session=s, request_id=request_id)
            if m.status.value == "queued"
        ]
    for message_id in queued:
        notification_service.send(engine=engine, message_id=message_id, sender=OutboxSender())


def _rated(engine: Engine, stars: int, comment: str = "") -> DoorstepRequest:
    """A visit booked, done at the door with the citizen's code and rated by SMS (committed)."""
    with write_session(engine) as s:
        request, _ = factories.booked_request(s, district_code=DISTRICT, now=BOOKED_AT)
        s.refresh(request)
        factories.done_and_rated(
            s,
            request,
            stars=stars,
            comment=comment,
            channel="sms",
            key=f"test:feedback-pages:done:{request.id}",
            done_after=dt.timedelta(minutes=20),
            rated_after=dt.timedelta(hours=2),
        )
    assert request.id is not None
    _send_queued(engine, request.id)
    return request


@pytest.fixture(scope="module")
def visits(engine: Engine) -> dict[str, DoorstepRequest]:
    """Three rated visits in the district: 5, 4, and a 1 whose comment is a citizen's words
    that look like markup and like a spreadsheet formula."""
    return {
        "good": _rated(engine, 5, "very helpful"),
        "fine": _rated(engine, 4),
        "poor": _rated(engine, 1, "=HYPERLINK(1) <b>rude</b> & late"),
    }


def _district_id(engine: Engine) -> int:
    with read_session(engine) as s:
        district = s.exec(select(District).where(District.code == DISTRICT)).one()
        assert district.id is not None
        return district.id


def _grievance(engine: Engine, request: DoorstepRequest) -> Grievance:
    with read_session(engine) as s:
        return s.exec(select(Grievance).where(Grievance.request_id == request.id)).one()


def _console(app: FastAPI, engine: Engine, role: Role = Role.SUPERVISOR) -> Console:
    app.dependency_overrides[get_clock] = lambda: FixedClock(LOOKED_AT)
    return signed_in(app, engine, role)


def _template(response: object) -> str:
    return response.template.name  # type: ignore[attr-defined, no-any-return]


def _context(response: object) -> dict[str, object]:
    return response.context  # type: ignore[attr-defined, no-any-return]


# --- the ratings page ------------------------------------------------------------------------


def test_the_feedback_page_shows_tiles_charts_their_tables_and_comments(
    app: FastAPI, engine: Engine, visits: dict[str, DoorstepRequest]
) -> None:
    console = _console(app, engine)
    district_id = _district_id(engine)
    page = console.get(f"/feedback?district={district_id}&weeks=4")
    assert page.status_code == 200 and _template(page) == "feedback/page.html"
    report = _context(page)["report"]
    assert report.overall.count == 3  # type: ignore[attr-defined]
    assert report.overall.by_star == (1, 0, 0, 1, 1)  # type: ignore[attr-defined]
    assert report.open_grievances >= 1  # type: ignore[attr-defined]
    html = page.text
    for shown in ("tile-average", "tile-count", "tile-poor", "tile-open"):
        assert f'id="{shown}"' in html
    assert html.count("<svg") == 3, "three charts drawn on the server"
    assert "Average rating per week" in html and "Ratings 1 to 5" in html
    assert "up to Wed 08 Jul 2037, 10:00 (this week so far)" in html, "counted up to now"
    for table in ("table-weeks", "table-distribution", "table-services", "table-agents"):
        assert f'id="{table}"' in html and f'id="{table}-csv"' in html
    assert "Doda" in html and "3.33" in html  # the district's average of 5, 4 and 1
    assert "&lt;b&gt;rude&lt;/b&gt; &amp; late" in html, "a citizen's words are escaped"
    assert "<b>rude</b>" not in html
    assert visits["poor"].reference in html and f'href="/requests/{visits["poor"].id}"' in html


def test_the_filters_narrow_the_ratings_and_odd_values_are_refused_or_ignored(
    app: FastAPI, engine: Engine, visits: dict[str, DoorstepRequest]
) -> None:
    console = _console(app, engine)
    district_id = _district_id(engine)
    agent_id = visits["poor"].agent_id
    page = console.get(f"/feedback?district={district_id}&agent={agent_id}")
    report = _context(page)["report"]
    assert {g.id for g in report.by_agent} == {agent_id}  # type: ignore[attr-defined]
    assert _context(page)["form"]["weeks"] == "12"  # type: ignore[index]
    assert f'<option value="{agent_id}" selected' in page.text
    odd_weeks = console.get(f"/feedback?district={district_id}&weeks=7")
    assert _context(odd_weeks)["form"]["weeks"] == "12"  # type: ignore[index]
    assert console.get("/feedback?district=abc").status_code == 422
    nothing = console.get(f"/feedback?district={district_id}&weeks=4&service=999999")
    assert nothing.status_code == 200 and 'id="no-ratings"' in nothing.text
    assert "<svg" not in nothing.text


def _csv(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff"), "a byte-order mark, for spreadsheets"
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_every_table_exports_as_csv_with_the_pages_filters(
    app: FastAPI, engine: Engine, visits: dict[str, DoorstepRequest]
) -> None:
    console = _console(app, engine)
    district_id = _district_id(engine)
    query = f"?district={district_id}&weeks=4"
    districts = console.get(f"/feedback/export/districts.csv{query}")
    assert districts.status_code == 200
    assert districts.headers["content-type"].startswith("text/csv")
    assert "attachment" in districts.headers["content-disposition"]
    header, *rows = _csv(districts.text)
    assert header[:3] == ["district", "ratings", "average"]
    assert rows[0][:3] == ["Doda", "3", "3.33"]
    recent = _csv(console.get(f"/feedback/export/recent.csv{query}").text)
    comments = [row[6] for row in recent[1:]]
    assert "'=HYPERLINK(1) <b>rude</b> & late" in comments, "a formula is defused"
    weeks = _csv(console.get(f"/feedback/export/weeks.csv{query}").text)
    assert weeks[0] == ["week starting", "by", "name", "ratings", "average"]
    assert ["2037-07-06", "district", "Doda", "3", "3.33"] in weeks[1:]
    assert ["2037-07-06", "all", "", "3", "3.33"] in weeks[1:]
    this_week = [row for row in weeks[1:] if row[0] == "2037-07-06"]
    for kind in ("service", "agent"):
        assert sum(int(row[3]) for row in this_week if row[1] == kind) == 3, kind
    distribution = _csv(console.get(f"/feedback/export/distribution.csv{query}").text)
    counts = [row[:2] for row in distribution[1:]]
    assert counts == [["1", "1"], ["2", "0"], ["3", "0"], ["4", "1"], ["5", "1"]]
    assert distribution[1][2] == "33"
    for table in ("services", "agents"):
        assert len(_csv(console.get(f"/feedback/export/{table}.csv{query}").text)) >= 2
    listed = _csv(console.get(f"/feedback/export/grievances.csv?district={district_id}").text)
    assert visits["poor"].reference in {row[5] for row in listed[1:]}
    assert console.get("/feedback/export/passwords.csv").status_code == 404


def _poor_ratings(session: Session, n: int, district_code: str) -> list[DoorstepRequest]:
    """`n` citizens' requests logged by the booking use case, each rated 1 by SMS through
    `record_rating`, which opens its grievance through the grievance service. The visit
    itself is left out (its feedback row stands for the completion that would have made it):
    cheap enough for hundreds."""
    made = []
    for i in range(n):
        request = factories.request(session, district_code=district_code)
        assert request.id is not None
        feedback = Feedback(request_id=request.id, asked_at=BOOKED_AT)
        session.add(feedback)
        session.flush()
        replies.record_rating(
            session=session,
            settings=factories.SETTINGS,
            feedback=feedback,
            stars=1,
            comment=f"poor visit {i}",
            channel="sms",
            now=BOOKED_AT + dt.timedelta(hours=8),
        )
        made.append(request)
    return made


@pytest.fixture
def supervisor(app: FastAPI, engine: Engine) -> Console:
    """A supervisor signed in (the account committed) before a test's `session` fixture
    holds SQLite's write lock: list it before `session`."""
    return _console(app, engine)


def test_the_grievance_export_has_every_row_past_the_largest_page(
    app: FastAPI, supervisor: Console, session: Session
) -> None:
    """More grievances than the list's largest page (200): the CSV lists every one of them.
    The route reads through the test's own session, rolled back afterwards, so the shared
    database does not keep 205 grievances (and their queued SMS)."""
    console = supervisor
    made = _poor_ratings(session, grievances.MOST_PER_PAGE + 5, "PNC")
    district_id = made[0].district_id
    app.dependency_overrides[get_read_session] = lambda: session
    export = console.get(f"/feedback/export/grievances.csv?district={district_id}")
    assert export.status_code == 200
    header, *rows = _csv(export.text)
    assert header[:2] == ["grievance", "status"]
    every = grievances.find(
        session=session,
        state_code="JK",
        filters=grievances.Filters(district_id=district_id),
        now=LOOKED_AT,
        per_page=None,
    )
    assert len(rows) == every.total == len(every.rows) >= len(made)
    assert {r.reference for r in made} <= {row[5] for row in rows}
    one_page = grievances.find(
        session=session,
        state_code="JK",
        filters=grievances.Filters(district_id=district_id),
        now=LOOKED_AT,
        per_page=10_000,
    )
    assert len(one_page.rows) == grievances.MOST_PER_PAGE, "a page is still capped"


# --- grievances -------------------------------------------------------------------------------


def test_the_grievance_list_puts_open_ones_first_and_marks_the_overdue(
    app: FastAPI, engine: Engine, visits: dict[str, DoorstepRequest]
) -> None:
    grievance = _grievance(engine, visits["poor"])
    console = _console(app, engine)
    district_id = _district_id(engine)
    page = console.get(f"/grievances?district={district_id}&status=open")
    assert page.status_code == 200 and _template(page) == "feedback/grievances.html"
    rows = _context(page)["page"].rows  # type: ignore[attr-defined]
    assert grievance.id in [row.id for row in rows]
    assert all(row.status is GrievanceStatus.OPEN for row in rows)
    assert f'href="/grievances/{grievance.id}"' in page.text
    assert "&lt;b&gt;rude" in page.text and "<b>rude" not in page.text
    mine = next(row for row in rows if row.id == grievance.id)
    assert not mine.overdue
    app.dependency_overrides[get_clock] = lambda: FixedClock(LOOKED_AT + dt.timedelta(days=8))
    later = console.get(f"/grievances?district={district_id}")
    mine = next(r for r in _context(later)["page"].rows if r.id == grievance.id)  # type: ignore[attr-defined]
    assert mine.overdue and f'id="grievance-row-{grievance.id}"' in later.text
    assert 'class="overdue status-row-open"' in later.text


def test_a_supervisor_closes_a_grievance_through_its_form(
    app: FastAPI, engine: Engine, visits: dict[str, DoorstepRequest]
) -> None:
    request = _rated(engine, 2, "agent did not come inside")
    grievance = _grievance(engine, request)
    console = _console(app, engine)
    page = console.get(f"/grievances/{grievance.id}")
    assert page.status_code == 200 and _template(page) == "feedback/grievance.html"
    assert 'id="close-form"' in page.text and f'href="/requests/{request.id}"' in page.text
    assert f'name="version" value="{grievance.version}"' in page.text
    assert "agent did not come inside" in page.text
    assert f"कोड {request.visit_code}" not in page.text, "the visit code is the citizen's proof"
    assert "मुलाक़ात कोड ••••" in page.text
    previews = _context(page)["previews"]
    assert all(request.reference in text for text in previews.values())  # type: ignore[attr-defined]

    url = f"/grievances/{grievance.id}/close"
    refused = console.submit(url, {"note": "   ", "outcome": "put_right", "version": "1"})
    assert refused.status_code == 422
    assert _context(refused)["errors"] == {"note": "write what was found and done"}
    assert 'id="close-note-error"' in refused.text
    assert 'value="put_right" id="outcome-put_right" required checked' in refused.text
    no_outcome = console.submit(url, {"note": "Spoke to the agent.", "version": "1"})
    assert no_outcome.status_code == 422 and "Spoke to the agent." in no_outcome.text
    assert 'id="close-outcome-error"' in no_outcome.text

    form = {"note": "Spoke to the agent; he apologised.", "outcome": "agent_spoken_to"}
    done = console.submit(url, {**form, "version": "1"})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=closed")
    again = console.submit(url, {**form, "version": "1"})
    assert again.status_code == 303, "the same form sent twice closes once"
    shown = console.get(done.headers["location"])
    assert 'id="grievance-notice"' in shown.text and 'id="close-form"' not in shown.text
    assert "Spoke to the agent; he apologised." in shown.text
    assert console.user.username in shown.text
    with read_session(engine) as s:
        told = list(
            s.exec(
                select(OutboxMessage)
                .where(
                    OutboxMessage.request_id == request.id,
                    OutboxMessage.kind == "grievance_closed",
                )
                .order_by(col(OutboxMessage.id))
            )
        )
        closed = s.get(Grievance, grievance.id)
    assert len(told) == 1 and told[0].body in shown.text
    assert "apologised" not in told[0].body
    assert told[0].status.value == "sent", "sent after the commit"
    assert closed is not None and closed.status is GrievanceStatus.CLOSED
    assert closed.closed_by == f"staff:{console.user.username}"

    other = _console(app, engine)
    late = other.submit(url, {"note": "I looked too.", "outcome": "put_right", "version": "1"})
    assert late.status_code == 409
    assert "already closed by" in late.text and 'id="close-form"' not in late.text


def test_an_unknown_grievance_is_not_found(app: FastAPI, engine: Engine) -> None:
    console = _console(app, engine)
    assert console.get("/grievances/2147483000").status_code == 404
    assert console.get("/grievances/0").status_code == 422


@pytest.mark.parametrize("role", [Role.CALL_AGENT, Role.DISPATCHER])
def test_call_agents_and_dispatchers_may_not_see_feedback_or_close_grievances(
    app: FastAPI, engine: Engine, visits: dict[str, DoorstepRequest], role: Role
) -> None:
    grievance = _grievance(engine, visits["poor"])
    console = _console(app, engine, role)
    for url in (
        "/feedback",
        "/feedback/export/recent.csv",
        "/grievances",
        f"/grievances/{grievance.id}",
    ):
        assert console.get(url).status_code == 403, url
    closing = console.submit(
        f"/grievances/{grievance.id}/close",
        {"note": "x", "outcome": "put_right", "version": str(grievance.version)},
    )
    assert closing.status_code == 403
    assert _grievance(engine, visits["poor"]).status is GrievanceStatus.OPEN
    admin = _console(app, engine, Role.ADMIN)
    assert admin.get("/feedback").status_code == 200
