"""Grievances: opened by a poor rating, closed by a supervisor with a note; the citizen is told
both times by SMS in their language. And the queries of the grievance pages (the list, one
grievance with everything a supervisor needs to judge it).

- `open_for_rating` is called by `dispatch.fieldwork.replies.record_rating` (every way a rating
  arrives: the SMS reply, the feedback call, the demo history): a rating of 1-2 opens one
  grievance per feedback (the unique `feedback_id`: a repeated rating opens nothing twice),
  audited, and queues `grievance_opened` (thanks, the complaint is registered, a supervisor will
  look into it) in place of the plain thanks.
- `close` is a supervisor's: a note (internal, required) and an outcome chosen from a fixed
  list (`rules.Outcome`, told to the citizen in their language by `grievance_closed`), guarded
  by the grievance's version so two supervisors closing at once cannot both win; audited with
  before/after. The note never goes in an SMS: it may name the agent or others, it is in the
  supervisor's language, and a DLT template variable holds 30 characters.

Not here: ratings over weeks (`dispatch.grievances.ratings`), the pure rules (`rules`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from dispatch import validation
from dispatch.agents.models import Agent
from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.errors import Conflict, NotFound
from dispatch.fieldwork.models import Feedback
from dispatch.geography.models import District
from dispatch.grievances import rules
from dispatch.grievances.models import Grievance, GrievanceStatus
from dispatch.notifications import service as notification_service
from dispatch.notifications import texts as message_texts
from dispatch.notifications.models import OutboxMessage
from dispatch.requests.models import DoorstepRequest
from dispatch.states.models import State
from dispatch.visits import messages

_TABLE: sa.Table = Grievance.__table__  # type: ignore[attr-defined]
PER_PAGE = 50
MOST_PER_PAGE = 200


def _opened_key(grievance_id: int) -> str:
    return f"sms:grievance_opened:{grievance_id}"


def _closed_key(grievance_id: int) -> str:
    return f"sms:grievance_closed:{grievance_id}"


# --- opening -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    """The grievance a poor rating opened (or had opened before: `new` False), and the SMS
    telling the citizen (None when none may go to them)."""

    grievance_id: int
    message_id: int | None
    new: bool


def open_for_rating(
    *, session: Session, settings: Settings, feedback: Feedback, now: dt.datetime
) -> Opened | None:
    """Open the grievance of a rated visit if the rating is 1 or 2 (None otherwise). Once per
    feedback: a second call returns the first grievance and queues nothing new."""
    if feedback.rating is None or not rules.opens_grievance(feedback.rating):
        return None
    assert feedback.id is not None
    existing = _of_feedback(session, feedback.id)
    if existing is not None:
        assert existing.id is not None
        return Opened(existing.id, _message_id(session, _opened_key(existing.id)), new=False)
    request = session.get(DoorstepRequest, feedback.request_id)
    if request is None:
        raise NotFound("request", feedback.request_id)
    grievance = Grievance(
        state_code=request.state_code,
        request_id=feedback.request_id,
        feedback_id=feedback.id,
        # The rating's agent as the ratings count it (`ratings.rating_agent`).
        agent_id=feedback.agent_id if feedback.agent_id is not None else request.agent_id,
        rating=feedback.rating,
        comment=feedback.comment,
        opened_at=now,
    )
    try:
        with session.begin_nested():  # two ratings at once: the unique feedback_id picks one
            session.add(grievance)
            session.flush()
    except IntegrityError:
        found = _of_feedback(session, feedback.id)
        if found is None or found.id is None:
            raise
        return Opened(found.id, _message_id(session, _opened_key(found.id)), new=False)
    assert grievance.id is not None
    audit.record(
        session=session,
        actor=f"citizen:{feedback.channel or 'unknown'}",
        entity="grievance",
        entity_id=grievance.id,
        action="open",
        at=now,
        request_id=request.id,
        feedback_id=feedback.id,
        rating=feedback.rating,
    )
    message_id = messages.tell_citizen(
        session=session,
        settings=settings,
        request=request,
        key="grievance_opened",
        kind="grievance_opened",
        now=now,
        idempotency_key=_opened_key(grievance.id),
    )
    return Opened(grievance.id, message_id, new=True)


def _of_feedback(session: Session, feedback_id: int) -> Grievance | None:
    return session.exec(select(Grievance).where(Grievance.feedback_id == feedback_id)).first()


def _message_id(session: Session, idempotency_key: str) -> int | None:
    found = session.exec(
        select(OutboxMessage.id).where(OutboxMessage.idempotency_key == idempotency_key)
    ).first()
    return int(found) if found is not None else None


# --- closing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Closed:
    """A grievance closed (`replayed`: the same close sent again, nothing done twice) and the
    SMS telling the citizen its outcome (None when none may go to them)."""

    grievance: Grievance
    message_id: int | None
    replayed: bool


def get(*, session: Session, state_code: str, grievance_id: int) -> Grievance:
    """A grievance of the state (another state's does not exist for its staff)."""
    found = session.get(Grievance, grievance_id)
    if found is None or found.state_code != state_code:
        raise NotFound("grievance", grievance_id)
    return found


def close(
    *,
    session: Session,
    settings: Settings,
    state_code: str,
    grievance_id: int,
    version: int,
    note: str,
    outcome: str,
    actor: str,
    now: dt.datetime,
) -> Closed:
    """Close an open grievance with `note` (internal) and `outcome` (told to the citizen), if
    it is still at `version`. The same close sent again (same person, same note) is answered
    as done; any other close of a grievance changed or closed meanwhile is a `Conflict`."""
    grievance = get(session=session, state_code=state_code, grievance_id=grievance_id)
    cleaned = rules.clean_note(note)
    chosen = rules.outcome(outcome)
    assert grievance.id is not None
    if grievance.status is GrievanceStatus.CLOSED:
        if grievance.closed_by == actor and grievance.note == cleaned:
            message_id = _message_id(session, _closed_key(grievance.id))
            return Closed(grievance, message_id, replayed=True)
        raise Conflict("grievance", grievance_id, f"already closed by {grievance.closed_by}")
    if grievance.version != version:
        raise Conflict("grievance", grievance_id)
    updated = session.execute(
        sa.update(_TABLE)
        .where(
            _TABLE.c.id == grievance_id,
            _TABLE.c.version == version,
            _TABLE.c.status == GrievanceStatus.OPEN.value,
        )
        .values(
            status=GrievanceStatus.CLOSED.value,
            closed_at=now,
            closed_by=actor,
            note=cleaned,
            version=version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("grievance", grievance_id)
    session.refresh(grievance)
    request = session.get(DoorstepRequest, grievance.request_id)
    assert request is not None
    audit.record(
        session=session,
        actor=actor,
        entity="grievance",
        entity_id=grievance.id,
        action="close",
        at=now,
        request_id=request.id,
        before={"status": GrievanceStatus.OPEN.value, "note": "", "outcome": None},
        after={"status": GrievanceStatus.CLOSED.value, "note": cleaned, "outcome": chosen.value},
    )
    message_id = messages.tell_citizen(
        session=session,
        settings=settings,
        request=request,
        key="grievance_closed",
        kind="grievance_closed",
        now=now,
        idempotency_key=_closed_key(grievance.id),
        outcome=outcome_words(settings=settings, request=request, outcome=chosen),
    )
    return Closed(grievance, message_id, replayed=False)


def outcome_words(*, settings: Settings, request: DoorstepRequest, outcome: rules.Outcome) -> str:
    """The outcome as the citizen's SMS says it, in the request's language."""
    texts = message_texts.load(settings.seed_dir / "messages")
    return texts.text(outcome.message_key, texts.language(request.language))


def close_previews(
    *, session: Session, settings: Settings, request: DoorstepRequest
) -> dict[rules.Outcome, str]:
    """Each outcome's SMS exactly as the citizen would get it (the form shows them)."""
    return {
        chosen: messages.message_body(
            session=session,
            settings=settings,
            request=request,
            key="grievance_closed",
            outcome=outcome_words(settings=settings, request=request, outcome=chosen),
        )
        for chosen in rules.Outcome
    }


# --- the list ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    status: GrievanceStatus | None = None
    district_id: int | None = None
    agent_id: int | None = None
    service_id: int | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """One grievance as the list shows it."""

    id: int
    status: GrievanceStatus
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    rating: int
    comment: str
    request_id: int
    reference: str
    service_name: str
    district_name: str
    agent_name: str | None
    overdue: bool
    age: str


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    total: int
    number: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _filtered(stmt: Any, state_code: str, filters: Filters) -> Any:
    stmt = stmt.where(Grievance.state_code == state_code)
    if filters.status is not None:
        stmt = stmt.where(Grievance.status == filters.status)
    if filters.district_id is not None:
        stmt = stmt.where(DoorstepRequest.district_id == filters.district_id)
    if filters.service_id is not None:
        stmt = stmt.where(DoorstepRequest.service_id == filters.service_id)
    if filters.agent_id is not None:
        stmt = stmt.where(Grievance.agent_id == filters.agent_id)
    return stmt


def find(
    *,
    session: Session,
    state_code: str,
    filters: Filters,
    now: dt.datetime,
    page: int = 1,
    per_page: int | None = PER_PAGE,
) -> Page:
    """Open grievances first, the oldest first (they have waited longest); then the closed
    ones, the most recently closed first. One page of `per_page` (at most `MOST_PER_PAGE`;
    None: all of them, for an export)."""
    joined = (
        select(func.count())
        .select_from(Grievance)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(Grievance.request_id))
    )
    total = int(session.exec(_filtered(joined, state_code, filters)).one())
    is_closed = sa.case((col(Grievance.status) == GrievanceStatus.OPEN.value, 0), else_=1)
    stmt = (
        sa.select(
            Grievance,
            col(DoorstepRequest.reference),
            col(Service.name_en),
            col(District.name),
            col(Agent.name),
        )
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(Grievance.request_id))
        .join(Service, col(Service.id) == col(DoorstepRequest.service_id))
        .join(District, col(District.id) == col(DoorstepRequest.district_id))
        .outerjoin(Agent, col(Agent.id) == col(Grievance.agent_id))
    )
    stmt = _filtered(stmt, state_code, filters).order_by(
        is_closed,
        sa.case((col(Grievance.status) == GrievanceStatus.OPEN.value, col(Grievance.opened_at))),
        col(Grievance.closed_at).desc(),
        col(Grievance.id),
    )
    if per_page is None:
        number, size = 1, max(total, 1)
    else:
        size = max(1, min(per_page, MOST_PER_PAGE))
        number = min(max(page, 1), max(1, -(-total // size)))
        stmt = stmt.offset((number - 1) * size).limit(size)
    found = session.execute(stmt).all()
    rows = [
        Row(
            id=g.id or 0,
            status=g.status,
            opened_at=g.opened_at,
            closed_at=g.closed_at,
            rating=g.rating,
            comment=g.comment,
            request_id=g.request_id,
            reference=reference,
            service_name=service_name,
            district_name=district_name,
            agent_name=agent_name,
            overdue=rules.is_overdue(
                opened_at=g.opened_at, closed=g.status is GrievanceStatus.CLOSED, now=now
            ),
            age=rules.age_words(g.opened_at, g.closed_at or now),
        )
        for g, reference, service_name, district_name, agent_name in found
    ]
    return Page(rows=rows, total=total, number=number, per_page=size)


def open_count(*, session: Session, state_code: str, filters: Filters) -> int:
    stmt = (
        select(func.count())
        .select_from(Grievance)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(Grievance.request_id))
    )
    open_only = Filters(
        status=GrievanceStatus.OPEN,
        district_id=filters.district_id,
        agent_id=filters.agent_id,
        service_id=filters.service_id,
    )
    return int(session.exec(_filtered(stmt, state_code, open_only)).one())


# --- one grievance -------------------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    """Everything the grievance page shows: the grievance, its request and rating, who did the
    visit, the citizen (phone masked), what they were told, and what was done."""

    grievance: Grievance
    request: DoorstepRequest
    feedback: Feedback
    service_name: str
    district_name: str
    agent: Agent | None
    citizen_name: str
    masked_phone: str
    language: str
    #: Why no SMS can reach the citizen ("" when one can).
    unreachable: str
    #: Every SMS about the request, oldest first (the grievance's among them).
    messages: list[OutboxMessage]
    opened_message: OutboxMessage | None
    closed_message: OutboxMessage | None
    outcome: rules.Outcome | None
    history: list[AuditEntry]
    overdue: bool
    age: str


def detail(
    *, session: Session, settings: Settings, state_code: str, grievance_id: int, now: dt.datetime
) -> Detail:
    grievance = get(session=session, state_code=state_code, grievance_id=grievance_id)
    assert grievance.id is not None
    request = session.get(DoorstepRequest, grievance.request_id)
    feedback = session.get(Feedback, grievance.feedback_id)
    assert request is not None and feedback is not None
    service = session.get(Service, request.service_id)
    district = session.get(District, request.district_id)
    citizen = session.get(Citizen, request.citizen_id)
    state = session.get(State, request.state_code)
    assert service is not None and district is not None and citizen is not None
    assert state is not None
    agent = session.get(Agent, grievance.agent_id) if grievance.agent_id is not None else None
    unreachable = ""
    if not state.may_message(citizen.phone):
        unreachable = "the state sends no SMS to this number"
    elif citizen.sms_opt_out:
        unreachable = "the citizen replied STOP to SMS"
    history = audit.history(session=session, entity="grievance", entity_id=grievance.id)
    outcome = None
    for entry in history:
        after = entry.detail.get("after") if entry.action == "close" else None
        if isinstance(after, dict) and after.get("outcome") in set(rules.Outcome):
            outcome = rules.Outcome(after["outcome"])
    sent = notification_service.for_request(session=session, request_id=grievance.request_id)
    by_key = {m.idempotency_key: m for m in sent}
    texts = message_texts.load(settings.seed_dir / "messages")
    closed = grievance.status is GrievanceStatus.CLOSED
    return Detail(
        grievance=grievance,
        request=request,
        feedback=feedback,
        service_name=service.name_en,
        district_name=district.name,
        agent=agent,
        citizen_name=citizen.name or "",
        masked_phone=validation.mask_phone(citizen.phone),
        language=texts.language(request.language),
        unreachable=unreachable,
        messages=sent,
        opened_message=by_key.get(_opened_key(grievance.id)),
        closed_message=by_key.get(_closed_key(grievance.id)),
        outcome=outcome,
        history=history,
        overdue=rules.is_overdue(opened_at=grievance.opened_at, closed=closed, now=now),
        age=rules.age_words(grievance.opened_at, grievance.closed_at or now),
    )
