"""Grievances in the domain: a rating of 1 or 2 (through `record_rating`, the SMS reply and the
feedback call alike) opens one grievance per feedback and tells the citizen in their language;
a supervisor closes it with a note and an outcome, once, version-guarded, audited; the citizen
is told the outcome and never the note. Ratings over weeks are counted by service, agent and
district. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.audit.models import AuditEntry
from dispatch.citizens import service as citizen_service
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.fieldwork import inbox, replies
from dispatch.fieldwork import service as field
from dispatch.fieldwork.models import Feedback
from dispatch.grievances import ratings, rules
from dispatch.grievances import service as grievances
from dispatch.grievances.models import Grievance, GrievanceStatus
from dispatch.notifications import texts as message_texts
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.visits import service as visits
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on.
NOW = dt.datetime(2037, 6, 2, 7, 0, tzinfo=IST)
DONE_AT = NOW.replace(hour=11)
RATED_AT = NOW.replace(hour=15)
DISTRICT = "KPW"
S = factories.SETTINGS
TEXTS = message_texts.load(S.seed_dir / "messages")


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    planning.clear_cache()


def _completed(session: Session, *, language: str = "hi") -> tuple[DoorstepRequest, Feedback]:
    """A citizen's visit booked into today's first window, done at the door with their visit
    code: its feedback request is waiting for a rating."""
    person = factories.citizen(session, district_code=DISTRICT, language=language)
    address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
    assert address is not None and address.id is not None and person.id is not None
    service = factories.service(session)
    assert service.id is not None
    offer = planning.offer_windows(
        session=session,
        settings=S,
        address_id=address.id,
        service_id=service.id,
        language=language,
        now=NOW,
    )[0]
    booked = visits.book_visit(
        session=session,
        settings=S,
        idempotency_key=f"test:grievance:{uuid.uuid4().hex}",
        actor="test",
        channel=Channel.CONSOLE,
        state_code="JK",
        citizen_id=person.id,
        address_id=address.id,
        service_id=service.id,
        offer=offer,
        now=NOW,
    )
    request = session.get(DoorstepRequest, booked.request_id)
    assert request is not None and request.agent_id is not None
    field.complete(
        session=session,
        settings=S,
        idempotency_key=f"test:grievances:done:{request.id}",
        agent_id=request.agent_id,
        request_id=booked.request_id,
        visit_code=request.visit_code or "",
        now=DONE_AT,
    )
    feedback = session.exec(select(Feedback).where(Feedback.request_id == request.id)).one()
    return request, feedback


def _rate(session: Session, feedback: Feedback, stars: int, comment: str = "") -> int | None:
    return replies.record_rating(
        session=session,
        settings=S,
        feedback=feedback,
        stars=stars,
        comment=comment,
        channel="sms",
        now=RATED_AT,
    )


def _grievance_of(session: Session, request: DoorstepRequest) -> Grievance | None:
    return session.exec(select(Grievance).where(Grievance.request_id == request.id)).first()


def _sent(session: Session, request: DoorstepRequest, kind: str) -> list[OutboxMessage]:
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.request_id == request.id, OutboxMessage.kind == kind)
            .order_by(col(OutboxMessage.id))
        )
    )


def _phone(session: Session, request: DoorstepRequest) -> str:
    return citizen_service.get(session=session, citizen_id=request.citizen_id).phone


# --- opening ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stars", [1, 2])
def test_a_poor_rating_opens_a_grievance_and_tells_the_citizen(
    session: Session, stars: int
) -> None:
    request, feedback = _completed(session)
    message_id = _rate(session, feedback, stars, "the agent was late")
    grievance = _grievance_of(session, request)
    assert grievance is not None
    assert grievance.status is GrievanceStatus.OPEN and grievance.rating == stars
    assert grievance.comment == "the agent was late"
    assert grievance.agent_id == request.agent_id and grievance.feedback_id == feedback.id
    assert grievance.opened_at == RATED_AT.astimezone(dt.UTC)
    (told,) = _sent(session, request, "grievance_opened")
    assert told.id == message_id, "the rating's answer is the grievance's message"
    assert request.reference in told.body and told.language == "hi"
    assert told.template == "grievance_opened" and told.dlt_template_id == "DEV-grievance_opened-hi"
    assert _sent(session, request, "feedback_thanks") == [], "one SMS, not thanks and then this"
    opened = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == "grievance", AuditEntry.entity_id == str(grievance.id)
        )
    ).one()
    assert opened.action == "open" and opened.actor == "citizen:sms"
    assert opened.detail["rating"] == stars and opened.detail["request_id"] == request.id


def test_a_rating_of_three_opens_nothing_and_is_thanked(session: Session) -> None:
    request, feedback = _completed(session)
    _rate(session, feedback, 3)
    assert _grievance_of(session, request) is None
    assert len(_sent(session, request, "feedback_thanks")) == 1
    assert _sent(session, request, "grievance_opened") == []


def test_an_sms_reply_of_two_opens_one_grievance_however_often_it_comes(
    session: Session,
) -> None:
    """The citizen's reply through the inbound SMS path; the provider retrying the webhook (the
    same message id), the citizen sending it again, or the use case called twice open nothing
    twice and send nothing twice."""
    request, feedback = _completed(session)
    phone = _phone(session, request)
    for _ in range(2):
        inbox.handle(
            session=session,
            settings=S,
            sender=phone,
            text="2 asked for 50 rupees extra",
            message_id="SM" + "1" * 32,
            now=RATED_AT,
        )
    inbox.handle(
        session=session,
        settings=S,
        sender=phone,
        text="1",
        message_id="SM" + "2" * 32,
        now=RATED_AT,
    )
    grievance = _grievance_of(session, request)
    assert grievance is not None and grievance.rating == 2
    assert grievance.comment == "asked for 50 rupees extra"
    session.refresh(feedback)
    again = grievances.open_for_rating(session=session, settings=S, feedback=feedback, now=RATED_AT)
    assert again is not None and not again.new and again.grievance_id == grievance.id
    count = session.exec(
        select(sa.func.count()).select_from(Grievance).where(Grievance.request_id == request.id)
    ).one()
    assert count == 1
    assert len(_sent(session, request, "grievance_opened")) == 1


def test_a_grievance_message_goes_in_the_citizens_language(session: Session) -> None:
    request, feedback = _completed(session, language="ur")
    _rate(session, feedback, 1)
    (told,) = _sent(session, request, "grievance_opened")
    assert told.language == "ur" and "شکایت" in told.body and told.encoding == "UCS-2"
    grievance = _grievance_of(session, request)
    assert grievance is not None and grievance.id is not None
    grievances.close(
        session=session,
        settings=S,
        state_code="JK",
        grievance_id=grievance.id,
        version=grievance.version,
        note="Spoke to agent Imran; fee was right.",
        outcome="no_fault",
        actor="staff:rekha",
        now=RATED_AT + dt.timedelta(days=1),
    )
    (closed,) = _sent(session, request, "grievance_closed")
    assert closed.language == "ur"
    assert TEXTS.text("outcome_no_fault", "ur") in closed.body
    assert "Imran" not in closed.body and "fee was right" not in closed.body


# --- closing ---------------------------------------------------------------------------------


def _opened(session: Session, stars: int = 2) -> tuple[DoorstepRequest, Grievance]:
    request, feedback = _completed(session)
    _rate(session, feedback, stars, "rude")
    grievance = _grievance_of(session, request)
    assert grievance is not None and grievance.id is not None
    return request, grievance


def _close(
    session: Session,
    grievance: Grievance,
    *,
    note: str = "Called the citizen and the agent.",
    outcome: str = "agent_spoken_to",
    actor: str = "staff:rekha",
    version: int | None = None,
) -> grievances.Closed:
    assert grievance.id is not None
    return grievances.close(
        session=session,
        settings=S,
        state_code="JK",
        grievance_id=grievance.id,
        version=grievance.version if version is None else version,
        note=note,
        outcome=outcome,
        actor=actor,
        now=RATED_AT + dt.timedelta(days=2),
    )


def test_a_supervisor_closes_a_grievance_with_a_note_and_the_citizen_is_told(
    session: Session,
) -> None:
    request, grievance = _opened(session)
    closed = _close(session, grievance, note="  Called the citizen.\n\n\n  Agent warned.  ")
    session.refresh(grievance)
    assert grievance.status is GrievanceStatus.CLOSED and grievance.version == 2
    assert grievance.note == "Called the citizen.\n\nAgent warned."
    assert grievance.closed_by == "staff:rekha"
    assert grievance.closed_at == (RATED_AT + dt.timedelta(days=2)).astimezone(dt.UTC)
    (told,) = _sent(session, request, "grievance_closed")
    assert told.id == closed.message_id and request.reference in told.body
    assert TEXTS.text("outcome_agent_spoken_to", "hi") in told.body
    assert "warned" not in told.body, "the internal note never goes in the SMS"
    entry = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == "grievance",
            AuditEntry.entity_id == str(grievance.id),
            AuditEntry.action == "close",
        )
    ).one()
    assert entry.actor == "staff:rekha"
    assert entry.detail["before"] == {"status": "open", "note": "", "outcome": None}
    assert entry.detail["after"] == {
        "status": "closed",
        "note": "Called the citizen.\n\nAgent warned.",
        "outcome": "agent_spoken_to",
    }


@pytest.mark.parametrize(
    ("note", "outcome", "field_name"),
    [
        ("", "put_right", "note"),
        ("   \n  ", "put_right", "note"),
        ("x" * (rules.MOST_NOTE_CHARS + 1), "put_right", "note"),
        ("Looked into it.", "", "outcome"),
        ("Looked into it.", "refund", "outcome"),
    ],
)
def test_a_close_needs_a_note_and_an_outcome(
    session: Session, note: str, outcome: str, field_name: str
) -> None:
    request, grievance = _opened(session)
    with pytest.raises(InvalidInput) as refused:
        _close(session, grievance, note=note, outcome=outcome)
    assert refused.value.field == field_name
    session.refresh(grievance)
    assert grievance.status is GrievanceStatus.OPEN and grievance.version == 1
    assert _sent(session, request, "grievance_closed") == []


def test_the_same_close_sent_again_does_nothing_twice(session: Session) -> None:
    request, grievance = _opened(session)
    first = _close(session, grievance, version=1)
    again = _close(session, grievance, version=1)
    assert again.replayed and not first.replayed
    assert again.message_id == first.message_id
    assert len(_sent(session, request, "grievance_closed")) == 1


def test_a_second_supervisor_closing_a_closed_grievance_gets_a_conflict(session: Session) -> None:
    _request, grievance = _opened(session)
    _close(session, grievance, version=1)
    with pytest.raises(Conflict, match="already closed by staff:rekha"):
        _close(session, grievance, actor="staff:asha", note="Another note.", version=1)
    with pytest.raises(Conflict):
        _close(session, grievance, actor="staff:rekha", note="A different note.", version=1)


def test_a_close_of_a_changed_grievance_is_refused_by_its_version(session: Session) -> None:
    """Two closing at once: the one whose conditional update finds the version it read wins;
    the other (here, one holding a stale copy) gets a conflict and changes nothing."""
    request, grievance = _opened(session)
    assert grievance.id is not None
    table = Grievance.__table__  # type: ignore[attr-defined]
    session.execute(  # someone else's change, behind this session's copy
        sa.update(table)
        .where(table.c.id == grievance.id)
        .values(version=2)
        .execution_options(synchronize_session=False)
    )
    assert grievance.version == 1  # the stale copy
    with pytest.raises(Conflict):
        _close(session, grievance, version=1)
    status = session.execute(sa.select(table.c.status).where(table.c.id == grievance.id)).one()
    assert status[0] == "open"
    assert _sent(session, request, "grievance_closed") == []
    with pytest.raises(Conflict):
        _close(session, grievance, version=7)


def test_another_states_grievance_does_not_exist_for_its_staff(session: Session) -> None:
    _request, grievance = _opened(session)
    assert grievance.id is not None
    with pytest.raises(NotFound):
        grievances.get(session=session, state_code="PB", grievance_id=grievance.id)


# --- the queries -------------------------------------------------------------------------------


def test_the_list_shows_open_ones_first_the_oldest_first_and_filters(session: Session) -> None:
    _r1, older = _opened(session)
    _r2, newer = _opened(session, stars=1)
    _r3, done = _opened(session)
    older.opened_at = RATED_AT.astimezone(dt.UTC) - dt.timedelta(days=9)
    session.add(older)
    session.flush()
    _close(session, done)
    mine = {older.id, newer.id, done.id}
    now = RATED_AT + dt.timedelta(days=3)
    page = grievances.find(
        session=session,
        state_code="JK",
        filters=grievances.Filters(district_id=_r1.district_id),
        now=now,
        per_page=200,
    )
    ours = [row for row in page.rows if row.id in mine]
    assert [row.id for row in ours] == [older.id, newer.id, done.id]
    assert [row.overdue for row in ours] == [True, False, False], "open > 7 days is overdue"
    assert ours[0].age == "12 days" and ours[0].reference == _r1.reference
    only_open = grievances.find(
        session=session,
        state_code="JK",
        filters=grievances.Filters(status=GrievanceStatus.OPEN, agent_id=older.agent_id),
        now=now,
        per_page=200,
    )
    assert older.id in {row.id for row in only_open.rows}
    assert done.id not in {row.id for row in only_open.rows}
    assert all(row.status is GrievanceStatus.OPEN for row in only_open.rows)
    elsewhere = grievances.find(
        session=session,
        state_code="JK",
        filters=grievances.Filters(district_id=_r1.district_id + 10_000),
        now=now,
    )
    assert elsewhere.total == 0 and elsewhere.rows == []


def test_one_grievance_with_its_request_rating_agent_and_messages(session: Session) -> None:
    request, grievance = _opened(session)
    assert grievance.id is not None
    shown = grievances.detail(
        session=session, settings=S, state_code="JK", grievance_id=grievance.id, now=RATED_AT
    )
    assert shown.request.id == request.id and shown.feedback.rating == 2
    assert shown.agent is not None and shown.agent.id == request.agent_id
    assert shown.opened_message is not None and shown.closed_message is None
    kinds = {m.kind for m in shown.messages}
    assert kinds >= {"booking", "receipt", "feedback", "grievance_opened"}
    assert shown.outcome is None and shown.unreachable == ""
    assert "•" in shown.masked_phone
    _close(session, grievance, outcome="will_call")
    shown = grievances.detail(
        session=session, settings=S, state_code="JK", grievance_id=grievance.id, now=RATED_AT
    )
    assert shown.outcome is rules.Outcome.WILL_CALL and shown.closed_message is not None
    previews = grievances.close_previews(session=session, settings=S, request=request)
    assert set(previews) == set(rules.Outcome)
    assert all(request.reference in text for text in previews.values())


def test_ratings_over_weeks_by_service_agent_and_district(session: Session) -> None:
    """Ratings counted in the state's local weeks (Monday first): this week's and two weeks
    ago, per week, per service, agent and district, with the open grievances beside them;
    a rating after this week (a clock set back) is not counted."""
    rated = []
    for stars, days_ago in ((5, 0), (4, 0), (2, 14), (1, 14), (3, -7)):
        request, feedback = _completed(session)
        replies.record_rating(
            session=session,
            settings=S,
            feedback=feedback,
            stars=stars,
            comment=f"{stars} stars",
            channel="sms",
            now=RATED_AT - dt.timedelta(days=days_ago),
        )
        rated.append(request)
    rated.pop()  # next week's
    district_id = rated[0].district_id
    report = ratings.report(
        session=session,
        state_code="JK",
        filters=ratings.Filters(district_id=district_id),
        weeks=4,
        now=RATED_AT,
    )
    assert report.weeks[-1] == dt.date(2037, 6, 1) and len(report.weeks) == 4
    assert report.weeks[0] == dt.date(2037, 5, 11)
    assert [w.count for w in report.weekly] == [0, 2, 0, 2]
    assert report.weekly[-1].average == 4.5 and report.weekly[1].average == 1.5
    assert report.overall.by_star == (1, 1, 0, 1, 1) and report.overall.poor_share == 0.5
    assert report.open_grievances >= 2
    (district,) = [g for g in report.by_district if g.id == district_id]
    assert district.tally.count == 4 and district.name == "Kupwara"
    assert [t.count for t in report.district_weekly[district_id]] == [0, 2, 0, 2]
    for weekly in (report.service_weekly, report.agent_weekly):
        assert [sum(t.count for t in week) for week in zip(*weekly.values(), strict=True)] == [
            0,
            2,
            0,
            2,
        ]
    assert sum(g.tally.count for g in report.by_service) == 4
    assert sum(g.tally.count for g in report.by_agent) == 4
    assert {r.rated.reference for r in report.recent} == {r.reference for r in rated}
    assert report.recent[0].rated.answered_at >= report.recent[-1].rated.answered_at
    agent_id = rated[0].agent_id
    narrowed = ratings.report(
        session=session,
        state_code="JK",
        filters=ratings.Filters(district_id=district_id, agent_id=agent_id),
        weeks=4,
        now=RATED_AT,
    )
    assert narrowed.overall.count == sum(1 for r in rated if r.agent_id == agent_id)
    assert all(g.id == agent_id for g in narrowed.by_agent)


def _report(session: Session, filters: ratings.Filters, now: dt.datetime) -> ratings.Report:
    return ratings.report(session=session, state_code="JK", filters=filters, weeks=4, now=now)


def test_a_rating_counts_for_one_agent_in_the_filter_and_the_table_alike(
    session: Session,
) -> None:
    """A feedback that names no agent (an older row) counts for the request's agent, and one
    naming another agent than the request's (the request moved on since) for the feedback's:
    the agent filter keeps exactly the ratings the by-agent table puts under that agent, and
    the grievance a poor one opens is against the same agent."""
    unnamed_request, unnamed = _completed(session)
    moved_request, moved = _completed(session)
    assert unnamed_request.agent_id is not None and moved_request.agent_id is not None
    unnamed.agent_id = None
    session.add(unnamed)
    other = session.exec(
        select(Agent.id).where(Agent.state_code == "JK", col(Agent.id) != moved.agent_id)
    ).first()
    assert other is not None
    did_the_visit = moved.agent_id
    moved_request.agent_id = other
    session.add(moved_request)
    session.flush()
    _rate(session, unnamed, 1)
    _rate(session, moved, 4)
    district = ratings.Filters(district_id=unnamed_request.district_id)
    whole = _report(session, district, RATED_AT)
    for request, agent_id in (
        (unnamed_request, unnamed_request.agent_id),
        (moved_request, did_the_visit),
    ):
        narrowed = _report(
            session,
            ratings.Filters(district_id=request.district_id, agent_id=agent_id),
            RATED_AT,
        )
        assert request.reference in {r.rated.reference for r in narrowed.recent}
        (row,) = [g for g in whole.by_agent if g.id == agent_id]
        assert narrowed.overall.count == row.tally.count >= 1, agent_id
        assert {g.id for g in narrowed.by_agent} == {agent_id}
    grievance = _grievance_of(session, unnamed_request)
    assert grievance is not None and grievance.agent_id == unnamed_request.agent_id
    elsewhere = _report(
        session,
        ratings.Filters(district_id=moved_request.district_id, agent_id=other),
        RATED_AT,
    )
    assert moved_request.reference not in {r.rated.reference for r in elsewhere.recent}


def test_ratings_count_up_to_the_moment_asked_about(session: Session) -> None:
    """Asked on Tuesday afternoon, a rating given on Wednesday of the same week (the clock
    set back) is not counted yet; asked on Wednesday evening, it is."""
    request, feedback = _completed(session)
    replies.record_rating(
        session=session,
        settings=S,
        feedback=feedback,
        stars=5,
        comment="",
        channel="sms",
        now=RATED_AT + dt.timedelta(days=1),
    )
    district = ratings.Filters(district_id=request.district_id)
    tuesday = _report(session, district, RATED_AT)
    assert request.reference not in {r.rated.reference for r in tuesday.recent}
    wednesday = _report(session, district, RATED_AT + dt.timedelta(days=1, hours=3))
    assert request.reference in {r.rated.reference for r in wednesday.recent}
    assert wednesday.overall.count == tuesday.overall.count + 1
    assert wednesday.weeks == tuesday.weeks, "the same weeks, counted to a later moment"
