"""The agents' reports from the door: arrived, done (with the citizen's visit code), failed,
no-show. Every way in — SMS commands, the phone menu, the day page — calls these.

Each report is one all-or-nothing unit under an idempotency key (`dispatch.visits.once`), so
a retried webhook or a double-pressed button changes nothing twice. An agent acts only on
their own visits of the day (someone else's visit gets the same `NotFound` as an unknown one).
Completion needs the citizen's visit code: a wrong code completes nothing and is counted
against the agent (`dispatch.fieldwork.access`). Every report:

- walks the request through the lifecycle (an agent who reports "done" without "arrived"
  passes through both; each step is an audited event);
- re-times the rest of the zone-day from where the agent really is (`planning.follow_progress`),
  flagging visits that can no longer be met;
- tells the citizen: a receipt and a feedback request on completion, what happened on a
  failure or no-show; and the next citizen that the agent is on the way, with the new time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session, select

from dispatch.config import Settings
from dispatch.db import utcnow
from dispatch.errors import DispatchError, InvalidInput, InvalidTransition, NotFound
from dispatch.fieldwork import access, day, notices
from dispatch.fieldwork import rules as field_rules
from dispatch.fieldwork.commands import FailReason
from dispatch.fieldwork.models import Feedback
from dispatch.ledger import service as ledger_service
from dispatch.notifications import texts as message_texts
from dispatch.planning import service as planning
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.visits import messages, rules
from dispatch.visits.models import UseCase
from dispatch.visits.once import run_once, stored_outcome


class WrongVisitCode(DispatchError):
    """The code keyed at the door is not the citizen's: nothing was completed."""

    def __init__(self, reference: str, tries_left: int) -> None:
        super().__init__(f"{reference}: the visit code does not match")
        self.reference = reference
        self.tries_left = tries_left


class NotToday(InvalidInput):
    """A report about a visit that is not on today's list."""

    def __init__(self, reference: str) -> None:
        super().__init__("visit", reference, "not one of today's visits")
        self.reference = reference


@dataclass(frozen=True)
class Report:
    """What a report did: the request as it left it, the money collected, the messages
    queued (the adapter sends them after its commit), and the agent's next visit."""

    use_case: UseCase
    request_id: int
    reference: str
    status: RequestStatus
    collected_paise: int = 0
    method: str | None = None  # how the citizen paid: "cash" or "upi"
    receipt: str | None = None
    message_ids: tuple[int, ...] = ()
    next_reference: str | None = None
    next_eta: str | None = None  # local HH:MM
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("replayed")
        data["message_ids"] = list(self.message_ids)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            use_case=UseCase(data["use_case"]),
            request_id=int(data["request_id"]),
            reference=str(data["reference"]),
            status=RequestStatus(data["status"]),
            collected_paise=int(data.get("collected_paise", 0)),
            method=data.get("method"),
            receipt=data.get("receipt"),
            message_ids=tuple(data.get("message_ids", ())),
            next_reference=data.get("next_reference"),
            next_eta=data.get("next_eta"),
            replayed=True,
        )


def actor_of(agent_id: int) -> str:
    return f"agent:{agent_id}"


def find_visit(
    *, session: Session, agent_id: int, reference: str, default_state: str
) -> DoorstepRequest:
    """The agent's own visit with this reference; `InvalidReference` for a mistyped one,
    `NotFound` alike for an unknown one and someone else's."""
    try:
        request = request_service.get_by_reference(
            session=session, reference=reference, default_state=default_state
        )
    except NotFound:
        raise NotFound("visit", "not found or not yours") from None
    if request.agent_id != agent_id:
        raise NotFound("visit", "not found or not yours")
    return request


def _own_visit(
    session: Session, agent_id: int, request_id: int, now: dt.datetime
) -> DoorstepRequest:
    request = session.get(DoorstepRequest, request_id)
    if request is None or request.agent_id != agent_id:
        raise NotFound("visit", "not found or not yours")
    tz = day.timezone_of(session, request.district_id)
    if request.window_start is None or day.local_day(request.window_start, tz) != day.local_day(
        now, tz
    ):
        raise NotToday(request.reference)
    return request


# --- the reports ------------------------------------------------------------------------------


def arrive(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    agent_id: int,
    request_id: int,
    now: dt.datetime | None = None,
) -> Report:
    """The agent is at the citizen's door."""
    now = now or utcnow()
    asked = rules.fingerprint(UseCase.ARRIVE, request=request_id, agent=agent_id)

    def run() -> Report:
        request = _own_visit(session, agent_id, request_id, now)
        if request.status is not RequestStatus.ARRIVED:
            request = _walk(session, request, RequestStatus.ARRIVED, agent_id, None, now)
        _follow(session, request, agent_id)
        return _report(UseCase.ARRIVE, request)

    return run_once(
        session,
        idempotency_key,
        UseCase.ARRIVE,
        asked,
        actor_of(agent_id),
        now,
        run,
        Report.from_json,
    )


def complete(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    agent_id: int,
    request_id: int,
    visit_code: str,
    upi_reference: str | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """The service is done at the door: proven by the citizen's visit code, the fee collected
    (cash, or UPI with its reference), a receipt and a feedback request sent to the citizen,
    the agent's next citizen told they are on the way. `WrongVisitCode` (counted) or
    `AgentLockedOut` complete nothing."""
    now = now or utcnow()
    upi = (upi_reference or "").strip() or None
    asked = rules.fingerprint(
        UseCase.COMPLETE, request=request_id, agent=agent_id, code=visit_code, upi=upi
    )
    if done := stored_outcome(session, idempotency_key, UseCase.COMPLETE, asked, Report.from_json):
        return done
    access.ensure_not_locked(session=session, settings=settings, agent_id=agent_id, now=now)
    request = _own_visit(session, agent_id, request_id, now)
    if request.status not in field_rules.WAY:  # done, failed, cancelled: nothing to complete
        raise InvalidTransition(request.status, RequestStatus.COMPLETED, "the visit is closed")
    if not rules.code_matches(request.visit_code, visit_code):
        access.record_failure(
            session=session,
            agent_id=agent_id,
            action=access.CODE_FAILED,
            now=now,
            key=idempotency_key,
        )
        left = settings.agent_failures_allowed - access.recent_failures(
            session=session, settings=settings, agent_id=agent_id, now=now
        )
        raise WrongVisitCode(request.reference, max(left, 0))

    def run() -> Report:
        visit = _own_visit(session, agent_id, request_id, now)
        visit = _walk(session, visit, RequestStatus.COMPLETED, agent_id, None, now)
        assert visit.id is not None
        owed = ledger_service.balance(session=session, request_id=visit.id).outstanding
        receipt = None
        if owed > 0:
            entry = ledger_service.collect(
                session=session,
                request_id=visit.id,
                agent_id=agent_id,
                amount_paise=owed,
                method="upi" if upi else "cash",
                upi_reference=upi,
                actor=actor_of(agent_id),
                idempotency_key=f"collect:{visit.id}",
                at=now,  # the money moved when the visit was done: the same local day
            )
            receipt = f"R{entry.id}"
        texts = message_texts.load(settings.seed_dir / "messages")
        language = texts.language(visit.language)
        ids = [
            messages.tell_citizen(
                session=session,
                settings=settings,
                request=visit,
                key="receipt",
                kind="receipt",
                now=now,
                amount=texts.money(owed, language),
                method=texts.text("method_upi" if upi else "method_cash", language),
                receipt=receipt or "-",
            ),
            _ask_feedback(session, settings, visit, agent_id, now),
        ]
        _follow(session, visit, agent_id)
        return _finished(
            session,
            settings,
            UseCase.COMPLETE,
            visit,
            agent_id,
            now,
            ids,
            owed,
            receipt,
            "upi" if upi else "cash",
        )

    return run_once(
        session,
        idempotency_key,
        UseCase.COMPLETE,
        asked,
        actor_of(agent_id),
        now,
        run,
        Report.from_json,
    )


def fail(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    agent_id: int,
    request_id: int,
    reason: FailReason,
    now: dt.datetime | None = None,
) -> Report:
    """The visit could not deliver the service (documents missing, portal down, ...): the
    citizen is told why and how to book again; nothing is collected."""
    return _closing(
        session,
        settings,
        idempotency_key,
        agent_id,
        request_id,
        now or utcnow(),
        UseCase.FAIL,
        RequestStatus.FAILED,
        reason.description,
        "failed",
        f"reason_{reason.value}",
    )


def no_show(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    agent_id: int,
    request_id: int,
    now: dt.datetime | None = None,
) -> Report:
    """Nobody was at the door: the citizen is told how to book again."""
    return _closing(
        session,
        settings,
        idempotency_key,
        agent_id,
        request_id,
        now or utcnow(),
        UseCase.NO_SHOW,
        RequestStatus.NO_SHOW,
        "nobody at the door",
        "no_show",
        None,
    )


def _closing(
    session: Session,
    settings: Settings,
    key: str,
    agent_id: int,
    request_id: int,
    now: dt.datetime,
    use_case: UseCase,
    to: RequestStatus,
    reason: str,
    text_key: str,
    reason_key: str | None,
) -> Report:
    asked = rules.fingerprint(use_case, request=request_id, agent=agent_id, reason=reason)

    def run() -> Report:
        visit = _own_visit(session, agent_id, request_id, now)
        visit = _walk(session, visit, to, agent_id, reason, now)
        texts = message_texts.load(settings.seed_dir / "messages")
        said = texts.text(reason_key, visit.language) if reason_key else ""
        ids = [
            messages.tell_citizen(
                session=session,
                settings=settings,
                request=visit,
                key=text_key,
                kind=text_key,
                now=now,
                reason=said,
            )
        ]
        _follow(session, visit, agent_id)
        return _finished(session, settings, use_case, visit, agent_id, now, ids, 0, None)

    return run_once(session, key, use_case, asked, actor_of(agent_id), now, run, Report.from_json)


# --- one entry for every way in ---------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What an agent reports about a visit, however they report it (SMS, phone menu, page)."""

    use_case: UseCase
    visit_code: str = ""  # COMPLETE: the citizen's code
    upi_reference: str | None = None  # COMPLETE: paid by UPI (None: cash)
    reason: FailReason | None = None  # FAIL: why


def report(
    *,
    session: Session,
    settings: Settings,
    idempotency_key: str,
    agent_id: int,
    request_id: int,
    outcome: Outcome,
    now: dt.datetime | None = None,
) -> Report:
    """Carry out `outcome` with the report it names (`arrive`, `complete`, `fail`, `no_show`)."""
    key, use_case = idempotency_key, outcome.use_case
    if use_case is UseCase.COMPLETE:
        return complete(
            session=session,
            settings=settings,
            idempotency_key=key,
            agent_id=agent_id,
            request_id=request_id,
            visit_code=outcome.visit_code,
            upi_reference=outcome.upi_reference,
            now=now,
        )
    if use_case is UseCase.FAIL:
        if outcome.reason is None:
            raise InvalidInput("reason", None, "a failed visit needs its reason")
        return fail(
            session=session,
            settings=settings,
            idempotency_key=key,
            agent_id=agent_id,
            request_id=request_id,
            reason=outcome.reason,
            now=now,
        )
    if use_case in (UseCase.ARRIVE, UseCase.NO_SHOW):
        simple = arrive if use_case is UseCase.ARRIVE else no_show
        return simple(
            session=session,
            settings=settings,
            idempotency_key=key,
            agent_id=agent_id,
            request_id=request_id,
            now=now,
        )
    raise InvalidInput("outcome", outcome.use_case, "not a report from the door")


# --- shared steps -----------------------------------------------------------------------------


def _walk(
    session: Session,
    request: DoorstepRequest,
    to: RequestStatus,
    agent_id: int,
    reason: str | None,
    now: dt.datetime,
) -> DoorstepRequest:
    """Move the request to `to` through what the agent did not report (`rules.path`), each
    step an audited event; `InvalidTransition` where the lifecycle does not allow it."""
    assert request.id is not None
    for step in field_rules.path(request.status, to):
        request = request_service.transition(
            session=session,
            request_id=request.id,
            to=step,
            actor=actor_of(agent_id),
            reason=reason if step is to else None,
            now=now,
        )
    return request


def _follow(session: Session, request: DoorstepRequest, agent_id: int) -> None:
    """Re-time the zone-day from the agent's report."""
    assert request.window_start is not None
    tz = day.timezone_of(session, request.district_id)
    planning.follow_progress(
        session=session,
        district_id=request.district_id,
        day=day.local_day(request.window_start, tz),
        actor=actor_of(agent_id),
        cause=f"{planning.REPORT}:{request.status.value}",
    )


def _ask_feedback(
    session: Session, settings: Settings, visit: DoorstepRequest, agent_id: int, now: dt.datetime
) -> int | None:
    assert visit.id is not None
    asked = session.exec(select(Feedback).where(Feedback.request_id == visit.id)).first()
    if asked is None:
        session.add(Feedback(request_id=visit.id, agent_id=agent_id, asked_at=now))
        session.flush()
    return messages.tell_citizen(
        session=session,
        settings=settings,
        request=visit,
        key="feedback_ask",
        kind="feedback",
        now=now,
    )


def _finished(
    session: Session,
    settings: Settings,
    use_case: UseCase,
    visit: DoorstepRequest,
    agent_id: int,
    now: dt.datetime,
    ids: list[int | None],
    collected: int,
    receipt: str | None,
    method: str | None = None,
) -> Report:
    """The agent leaves this door: the next citizen hears they are on the way."""
    nxt = notices.set_off(session=session, settings=settings, agent_id=agent_id, now=now)
    if nxt is not None:
        ids.append(nxt.message_id)
    session.refresh(visit)
    return _report(
        use_case,
        visit,
        collected_paise=collected,
        method=method,
        receipt=receipt,
        message_ids=tuple(i for i in ids if i is not None),
        next_reference=nxt.reference if nxt else None,
        next_eta=nxt.eta if nxt else None,
    )


def _report(use_case: UseCase, request: DoorstepRequest, **more: Any) -> Report:
    assert request.id is not None
    return Report(
        use_case=use_case,
        request_id=request.id,
        reference=request.reference,
        status=request.status,
        **more,
    )
