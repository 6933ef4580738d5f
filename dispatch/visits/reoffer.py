"""Re-offering a visit the plan can no longer make in the window promised to its citizen.

A promised window is hard: the planner never moves a visit outside it. When no agent can make
it any more (an agent away, late, a visit that ran long), the visit is re-offered, as one
use case and one all-or-nothing unit (a savepoint of the caller's transaction):

1. the earliest window the live plans offer is booked for it (`planning.reschedule` then
   `planning.book`, acting as the planner: `PlannerActing`);
2. the citizen is told by SMS (`reoffered`), with the next windows they may have instead by
   calling the line; with no window left in the horizon, the visit waits and the SMS says so
   (`reoffer_waiting`);
3. a call-back is opened for the console (`CallbackReason.REOFFER`), so a call agent rings the
   citizen to confirm or change the time;
4. the change is recorded on the request's timeline (`PlanChange`, re-offered) with who was
   told: the citizen's SMS, the console's call-back.

Once per promised window: the idempotency key names the window left, so a retried re-plan
re-offers nothing twice. Visits the agent is already on the way to or at are never re-offered
(`TooLateToChange`: their agent deals with it at the door).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from dispatch.calls import service as call_service
from dispatch.calls.models import CallbackReason
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.notifications import texts as message_texts
from dispatch.planning import changes
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning
from dispatch.planning.models import PlanChangeKind
from dispatch.planning.service import WindowOffer, WindowTaken
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.states import service as state_service
from dispatch.visits import messages
from dispatch.visits import rules as visit_rules
from dispatch.visits.models import UseCase
from dispatch.visits.once import run_once
from dispatch.visits.proof import PlannerActing, authorised
from dispatch.visits.service import TooLateToChange, VisitResult

#: The cause of the re-offer's own plan changes (taken out of the window, into the new one).
REOFFER = "reoffer"
#: Windows offered in the SMS besides the one booked.
OTHERS = 2
ATTEMPTS = 3


@dataclass(frozen=True)
class Reoffered:
    """A visit re-offered: its new window (None: it waits for a call), the SMS, the call-back."""

    request_id: int
    reference: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    message_id: int | None
    callback_id: int | None
    replayed: bool = False


def reoffer(
    *,
    session: Session,
    settings: Settings,
    request_id: int,
    cause: str,
    actor: str,
    now: dt.datetime,
) -> Reoffered:
    """Re-offer the request's visit (see the module's steps): only a visit with a window and
    no agent (scheduled, left out of its plan). A request that has an agent again (a dispatcher
    moved it, a newer plan placed it) or is no longer planned is returned as it is, with no SMS
    and no call-back; `TooLateToChange` for one the agent is already on the way to or at."""
    request = request_service.get(session=session, request_id=request_id)
    window = visit_rules.current_window(request)
    if window is None or not _unplaced(request):
        return Reoffered(request_id, request.reference, None, None, None, None)
    # The request's version too: the same window booked again later is a new promise.
    key = f"reoffer:r{request_id}:v{request.version}:{window[0].isoformat()}"
    asked = visit_rules.fingerprint(UseCase.REOFFER, request=request_id, cause=cause)

    def run() -> VisitResult:
        current = authorised(session=session, request_id=request_id, proof=PlannerActing(cause))
        if current.status not in visit_rules.CHANGEABLE:
            raise TooLateToChange(current, RequestStatus.RESCHEDULED)
        return _move(session, settings, request_id, window, cause, actor, key, now)

    result = run_once(session, key, UseCase.REOFFER, asked, actor, now, run, _replay)
    callback = call_service.find_callback(session=session, key=key)
    return Reoffered(
        request_id,
        result.reference,
        result.window_start,
        result.window_end,
        result.message_id,
        callback.id if callback is not None else None,
        replayed=result.replayed,
    )


def _unplaced(request: DoorstepRequest) -> bool:
    return request.status is RequestStatus.SCHEDULED and request.agent_id is None


def _replay(data: dict[str, Any]) -> VisitResult:
    return VisitResult.from_json(data, replayed=True)


def _move(
    session: Session,
    settings: Settings,
    request_id: int,
    window: tuple[dt.datetime, dt.datetime],
    cause: str,
    actor: str,
    key: str,
    now: dt.datetime,
) -> VisitResult:
    before = request_service.get(session=session, request_id=request_id)
    day = planning.local_day(session=session, request=before)
    # What the visit had, read now: the same row is changed by what follows.
    was_agent, was_arrival = before.agent_id, before.planned_arrival
    if before.pinned_agent_id is not None:  # the dispatcher chose them for the window left
        planning_reassign.unpin(session=session, request_id=request_id, actor=actor)
    why = f"{REOFFER}:{cause}"
    planning.reschedule(
        session=session, request_id=request_id, actor=actor, reason=cause, cause=why
    )
    offers = _offers(session, settings, request_id, window, now)
    booked = None
    for offer in offers[:ATTEMPTS]:
        try:
            booked = planning.book(
                session=session, request_id=request_id, offer=offer, actor=actor, cause=why
            )
            break
        except WindowTaken:
            continue
    request = booked or request_service.get(session=session, request_id=request_id)
    if request.at_risk:  # the new window is one the plan can meet
        request = request_service.update(
            session=session, request_id=request_id, actor=actor, at_risk=False
        )
    others = [o for o in offers if booked is None or o.start != booked.window_start][:OTHERS]
    if booked is not None:
        message_id = messages.tell_citizen(
            session=session,
            settings=settings,
            request=request,
            key="reoffered",
            kind="reoffer",
            now=now,
            idempotency_key=f"sms:{key}",
            others=_windows(session, settings, request.state_code, request.language, others),
        )
    else:
        message_id = messages.tell_citizen(
            session=session,
            settings=settings,
            request=request,
            key="reoffer_waiting",
            kind="reoffer",
            now=now,
            idempotency_key=f"sms:{key}",
        )
    citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
    callback = call_service.callback_for_request(
        session=session,
        request=request,
        phone=citizen.phone,
        reason=CallbackReason.REOFFER,
        key=key,
        now=now,
    )
    change = changes.record(
        session=session,
        request=before,
        kind=PlanChangeKind.REOFFERED,
        version=planning.current_version(session=session, request=before, day=day),
        day=day,
        cause=cause,
        actor=actor,
    )
    change.from_agent_id, change.from_arrival = was_agent, was_arrival
    change.to_arrival = request.planned_arrival
    change.to_agent_id = request.agent_id
    told = []
    if message_id is not None:
        told.append({"who": "citizen", "how": "sms", "id": message_id, "at": now.isoformat()})
    if callback is not None:
        told.append({"who": "console", "how": "callback", "id": callback.id, "at": now.isoformat()})
    change.notified = told
    session.add(change)
    session.flush()
    assert request.id is not None
    return VisitResult(
        use_case=UseCase.REOFFER,
        request_id=request.id,
        reference=request.reference,
        status=request.status,
        window_start=request.window_start,
        window_end=request.window_end,
        fee_paise=request.fee_paise,
        message_id=message_id,
    )


def _offers(
    session: Session,
    settings: Settings,
    request_id: int,
    window: tuple[dt.datetime, dt.datetime],
    now: dt.datetime,
) -> list[WindowOffer]:
    request = request_service.get(session=session, request_id=request_id)
    return planning.offer_windows(
        session=session,
        settings=settings,
        address_id=request.address_id,
        service_id=request.service_id,
        language=request.language,
        now=now,
        limit=ATTEMPTS + OTHERS,
        priority=request.priority,
        excluding=window,
    )


def _windows(
    session: Session, settings: Settings, state_code: str, language: str, offers: list[WindowOffer]
) -> str:
    texts = message_texts.load(settings.seed_dir / "messages")
    lang = texts.language(language)
    tz = state_service.get(session=session, code=state_code).timezone
    return texts.listing([texts.window(o.start, o.end, lang, tz) for o in offers], lang) or "-"
