"""The visit use cases: book, reschedule, cancel, and a request's status. Every adapter (today
the phone line, demo seeding and the test factories; the console, the API and agents' replies
when they come) calls these and never re-assembles them.

Each command is one call and one all-or-nothing unit (a savepoint of the caller's
transaction; the caller's unit of work commits it): the request logged with its charge, the
visit put into the live plan, the audit events, the message to the citizen queued in the
outbox (sent after the commit by `dispatch.notifications.service.send`). Each takes an
idempotency key — the phone line sends its CallSid with the step and turn; other channels
send their own — stored with what it created under a unique constraint, so a retried call
returns the first result and creates nothing twice; the same key with other arguments is
refused.

Acting on an existing request needs one of two things (`dispatch.visits.proof`):

- the citizen's `Proof`: their own caller ID or the visit code (the phone line);
- `StaffActing`: a console staff member acting on the citizen's behalf (on the phone with
  them, say). The use case checks the account itself: active, of the request's state, with a
  role that may change requests. The adapter still checks its own permission first; the
  citizen's number or code are not asked for, and nothing is counted as a failed proof.

Either way the same rules hold (`TooLateToChange` once the agent is on the way) and the citizen
is told by SMS. Rescheduling or cancelling also lets go of an agent a dispatcher chose for the
visit (`dispatch.planning.reassign.unpin`): the choice was for the old window. Messages go only
to numbers the state allows (Indian mobiles by default); the result says whether one was
queued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session

from dispatch.config import Settings
from dispatch.db import utcnow
from dispatch.errors import InvalidTransition
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning
from dispatch.planning.service import WindowOffer
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel, RequestStatus
from dispatch.visits import messages, rules
from dispatch.visits.messages import message_body
from dispatch.visits.models import UseCase
from dispatch.visits.once import KeyReused, run_once
from dispatch.visits.proof import Acting, Proof, StaffActing, authorised


class TooLateToChange(InvalidTransition):
    """The agent is on the way (or the request is closed): nobody can change it for the
    citizen now."""

    def __init__(self, request: DoorstepRequest, to: RequestStatus) -> None:
        super().__init__(request.status, to, "the visit can no longer be changed")
        self.request_id = request.id


@dataclass(frozen=True)
class VisitResult:
    """What a command did: the request as it left it, and the message it queued (if any).

    `visit_code` is given only by `book_visit`, for an adapter that may show it to the person
    who just proved to be the citizen (the phone line speaks it only when no SMS could carry
    it to the caller whose caller ID booked it)."""

    use_case: UseCase
    request_id: int
    reference: str
    status: RequestStatus
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    fee_paise: int
    message_id: int | None
    visit_code: str | None = None
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("window_start", "window_end"):
            data[name] = data[name].isoformat() if data[name] else None
        data.pop("replayed")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, replayed: bool) -> VisitResult:
        def when(value: object) -> dt.datetime | None:
            return dt.datetime.fromisoformat(str(value)) if value else None

        return cls(
            use_case=UseCase(data["use_case"]),
            request_id=int(data["request_id"]),
            reference=str(data["reference"]),
            status=RequestStatus(data["status"]),
            window_start=when(data["window_start"]),
            window_end=when(data["window_end"]),
            fee_paise=int(data["fee_paise"]),
            message_id=data["message_id"],
            visit_code=data.get("visit_code"),
            replayed=replayed,
        )


# --- the commands -----------------------------------------------------------------------------


def book_visit(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    actor: str,
    channel: Channel,
    state_code: str,
    citizen_id: int,
    address_id: int,
    service_id: int,
    offer: WindowOffer | None,
    language: str | None = None,
    now: dt.datetime | None = None,
) -> VisitResult:
    """Log a request with its charge, put it into the live plan in `offer`'s window (or leave
    it logged for a window later when `offer` is None), give it a visit code and queue the
    confirmation SMS to the citizen. `WindowTaken` if the window can no longer be met: then
    nothing at all is written."""
    now = now or utcnow()
    asked = rules.fingerprint(
        UseCase.BOOK,
        citizen=citizen_id,
        address=address_id,
        service=service_id,
        offer=offer.to_json() if offer else None,
    )

    def run() -> VisitResult:
        request = request_service.log(
            session=session,
            state_code=state_code,
            citizen_id=citizen_id,
            service_id=service_id,
            address_id=address_id,
            channel=channel,
            actor=actor,
            language=language,
            idempotency_key=idempotency_key,
            visit_code=rules.new_visit_code(),
            now=now,
        )
        assert request.id is not None  # flushed by log
        if offer is not None:
            request = planning.book(
                session=session, request_id=request.id, offer=offer, actor=actor
            )
        message = _message(
            session, settings, request, "booked" if offer else "logged", "booking", now
        )
        return _result(UseCase.BOOK, request, message, visit_code=request.visit_code)

    if offer is not None:  # the zone-day brought up to date before any lock is taken
        planning.prepare_booking(session=session, offer=offer)
    return run_once(session, idempotency_key, UseCase.BOOK, asked, actor, now, run, _replay)


def reschedule_visit(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    actor: str,
    request_id: int,
    proof: Acting,
    offer: WindowOffer,
    now: dt.datetime | None = None,
) -> VisitResult:
    """Move a request the citizen may still change to `offer`'s window and tell them by SMS.
    `proof` is the citizen's, or `StaffActing` for staff acting for them. `NotFound` without
    proof, `TooLateToChange` once the agent is on the way, `WindowTaken` if the new window can
    no longer be met (the old one is then kept)."""
    now = now or utcnow()
    asked = rules.fingerprint(UseCase.RESCHEDULE, request=request_id, offer=offer.to_json())

    def run() -> VisitResult:
        request = _changeable(session, request_id, proof, RequestStatus.RESCHEDULED, actor)
        if request.status not in (RequestStatus.LOGGED, RequestStatus.RESCHEDULED):
            planning.reschedule(
                session=session,
                request_id=request_id,
                actor=actor,
                reason="the citizen chose a new time",
            )
        moved = planning.book(session=session, request_id=request_id, offer=offer, actor=actor)
        message = _message(session, settings, moved, "rescheduled", "reschedule", now)
        return _result(UseCase.RESCHEDULE, moved, message)

    return run_once(session, idempotency_key, UseCase.RESCHEDULE, asked, actor, now, run, _replay)


def cancel_visit(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    actor: str,
    request_id: int,
    proof: Acting,
    reason: str,
    now: dt.datetime | None = None,
) -> VisitResult:
    """Cancel a request the citizen may still change: out of the plan, the charge waived and
    anything paid refunded (`dispatch.ledger.rules.settlement_on_close`), the citizen told.
    `proof` is the citizen's, or `StaffActing` for staff acting for them."""
    now = now or utcnow()
    asked = rules.fingerprint(UseCase.CANCEL, request=request_id)

    def run() -> VisitResult:
        _changeable(session, request_id, proof, RequestStatus.CANCELLED, actor)
        cancelled = planning.cancel(
            session=session, request_id=request_id, actor=actor, reason=reason
        )
        message = _message(session, settings, cancelled, "cancelled", "cancellation", now)
        return _result(UseCase.CANCEL, cancelled, message)

    return run_once(session, idempotency_key, UseCase.CANCEL, asked, actor, now, run, _replay)


def _changeable(
    session: Session, request_id: int, proof: Acting, to: RequestStatus, actor: str
) -> DoorstepRequest:
    """The request, if `proof` allows acting on it and it may still be changed; an agent a
    dispatcher chose for its visit is let go (the choice was for the window being left)."""
    request = authorised(session=session, request_id=request_id, proof=proof)
    if request.status not in rules.CHANGEABLE:
        raise TooLateToChange(request, to)
    if request.pinned_agent_id is not None:
        request = planning_reassign.unpin(session=session, request_id=request_id, actor=actor)
    return request


# --- the query --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitStatus:
    """A request as its citizen may hear it."""

    request_id: int
    reference: str
    service_id: int
    status: RequestStatus
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    fee_paise: int
    changeable: bool


def visit_status(*, session: Session, request_id: int, proof: Proof) -> VisitStatus:
    """The request's status for someone who proved to be its citizen; `NotFound` otherwise
    (the same answer as for a request that does not exist)."""
    request = authorised(session=session, request_id=request_id, proof=proof)
    assert request.id is not None
    return VisitStatus(
        request_id=request.id,
        reference=request.reference,
        service_id=request.service_id,
        status=request.status,
        window_start=request.window_start,
        window_end=request.window_end,
        fee_paise=request.fee_paise,
        changeable=request.status in rules.CHANGEABLE,
    )


def _replay(data: dict[str, Any]) -> VisitResult:
    return VisitResult.from_json(data, replayed=True)


def _result(
    use_case: UseCase,
    request: DoorstepRequest,
    message_id: int | None,
    *,
    visit_code: str | None = None,
) -> VisitResult:
    assert request.id is not None
    return VisitResult(
        use_case=use_case,
        request_id=request.id,
        reference=request.reference,
        status=request.status,
        window_start=request.window_start,
        window_end=request.window_end,
        fee_paise=request.fee_paise,
        message_id=message_id,
        visit_code=visit_code,
    )


def _message(
    session: Session,
    settings: Settings,
    request: DoorstepRequest,
    text_key: str,
    kind: str,
    now: dt.datetime,
) -> int | None:
    return messages.tell_citizen(
        session=session, settings=settings, request=request, key=text_key, kind=kind, now=now
    )


__all__ = [
    "Acting",
    "KeyReused",
    "Proof",
    "StaffActing",
    "TooLateToChange",
    "VisitResult",
    "VisitStatus",
    "book_visit",
    "cancel_visit",
    "message_body",
    "reschedule_visit",
    "visit_status",
]
