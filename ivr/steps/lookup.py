"""A request by its reference number (keyed, check digit verified): hear its status, or change
its time or cancel it — the latter only from the phone number that made it."""

from __future__ import annotations

from dispatch.calls import service as call_service
from dispatch.calls.models import CallStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.errors import InvalidReference, NotFound
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowTaken
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import KEYPAD_DIGITS, RequestStatus
from ivr.flow import Ctx, Said, answers, asks
from ivr.prompts import P
from ivr.steps import booking, words
from ivr.twiml import Reply

S = RequestStatus
#: Requests a caller may still move or cancel by phone (the agent is not yet on the way).
CHANGEABLE = frozenset({S.LOGGED, S.SCHEDULED, S.ASSIGNED, S.RESCHEDULED})


def _find(ctx: Ctx, said: Said) -> DoorstepRequest | P:
    """The request keyed in, or the prompt saying what is wrong with the number."""
    if said.empty:
        return P.NO_INPUT
    try:
        request = request_service.get_by_reference(
            session=ctx.session, reference=said.digits, default_state=ctx.state.code
        )
    except InvalidReference:
        return P.REFERENCE_INVALID
    except NotFound:
        return P.REFERENCE_UNKNOWN
    return request


def _status(ctx: Ctx, request: DoorstepRequest) -> Reply:
    service = catalogue_service.get(session=ctx.session, service_id=request.service_id)
    return ctx.say(
        P.STATUS_OF, service=words.service_name(ctx, service), status=words.status(ctx, request)
    )


def _ask_reference(ctx: Ctx, step: str) -> Reply:
    return ctx.gather(step, ctx.words(P.REFERENCE_ASK), num_digits=KEYPAD_DIGITS, timeout=12)


@asks("status_ref")
def ask_status_ref(ctx: Ctx) -> Reply:
    return _ask_reference(ctx, "status_ref")


@answers("status_ref")
def on_status_ref(ctx: Ctx, said: Said) -> Reply:
    found = _find(ctx, said)
    if isinstance(found, P):
        return ctx.retry(found)
    return _status(ctx, found) + ctx.goto("after_status")


@asks("after_status")
def ask_after_status(ctx: Ctx) -> Reply:
    return ctx.gather("after_status", ctx.words(P.AFTER_STATUS) + ctx.words(P.PERSON_OPTION))


@answers("after_status")
def on_after_status(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        return ctx.goto("main_menu")
    if said.empty:
        return ctx.goodbye()
    return ctx.unclear(said)


@asks("change_ref")
def ask_change_ref(ctx: Ctx) -> Reply:
    return _ask_reference(ctx, "change_ref")


@answers("change_ref")
def on_change_ref(ctx: Ctx, said: Said) -> Reply:
    found = _find(ctx, said)
    if isinstance(found, P):
        return ctx.retry(found)
    citizen = citizen_service.get(session=ctx.session, citizen_id=found.citizen_id)
    if citizen.phone != ctx.caller_phone():
        return ctx.say(P.CHANGE_NOT_YOURS) + ctx.goto("after_status")
    if found.status not in CHANGEABLE:
        return _status(ctx, found) + ctx.say(P.CHANGE_TOO_LATE) + ctx.goto("after_status")
    ctx.progress.change_request_id = found.id
    return _status(ctx, found) + ctx.goto("change_menu")


def _changing(ctx: Ctx) -> DoorstepRequest:
    assert ctx.progress.change_request_id is not None
    return request_service.get(session=ctx.session, request_id=ctx.progress.change_request_id)


@asks("change_menu")
def ask_change_menu(ctx: Ctx) -> Reply:
    return ctx.gather("change_menu", ctx.words(P.CHANGE_MENU) + ctx.words(P.PERSON_OPTION))


@answers("change_menu")
def on_change_menu(ctx: Ctx, said: Said) -> Reply:
    request = _changing(ctx)
    if said.digits == "1":
        ctx.progress.service_id = request.service_id
        ctx.progress.address_id = request.address_id
        return ctx.goto("windows")
    if said.digits == "2":
        return ctx.goto("cancel_confirm")
    return ctx.unclear(said)


@asks("cancel_confirm")
def ask_cancel_confirm(ctx: Ctx) -> Reply:
    service = catalogue_service.get(session=ctx.session, service_id=_changing(ctx).service_id)
    question = ctx.words(P.CANCEL_CONFIRM, service=words.service_name(ctx, service))
    return ctx.gather("cancel_confirm", question)


@answers("cancel_confirm")
def on_cancel_confirm(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "2":
        ctx.progress.change_request_id = None
        return ctx.say(P.NOT_CANCELLED) + ctx.goto("after_status")
    if said.digits != "1":
        return ctx.unclear(said)
    request = _changing(ctx)
    if request.status not in CHANGEABLE:  # changed by someone else since it was read out
        return _status(ctx, request) + ctx.say(P.CHANGE_TOO_LATE) + ctx.goto("after_status")
    assert request.id is not None
    cancelled = planning_service.cancel(
        session=ctx.session,
        request_id=request.id,
        actor=booking.actor(ctx),
        reason="cancelled by the caller on the phone",
    )
    _changed(ctx, cancelled, P.SMS_CANCELLED, kind="cancellation")
    return ctx.say(P.CANCELLED) + ctx.goto("after_status")


@asks("reschedule_confirm")
def ask_reschedule_confirm(ctx: Ctx) -> Reply:
    offer = booking.chosen_offer(ctx)
    window = ctx.speech.window_short(offer.start, offer.end, now=ctx.now)
    return ctx.gather("reschedule_confirm", ctx.words(P.RESCHEDULE_CONFIRM, window=window))


@answers("reschedule_confirm")
def on_reschedule_confirm(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "2":
        return ctx.goto("windows")
    if said.digits != "1":
        return ctx.unclear(said)
    request = _changing(ctx)
    if request.status not in CHANGEABLE:
        return _status(ctx, request) + ctx.say(P.CHANGE_TOO_LATE) + ctx.goto("after_status")
    assert request.id is not None
    try:
        with ctx.session.begin_nested():
            if request.status is not S.LOGGED and request.status is not S.RESCHEDULED:
                planning_service.reschedule(
                    session=ctx.session,
                    request_id=request.id,
                    actor=booking.actor(ctx),
                    reason="the caller chose a new time on the phone",
                )
            moved = planning_service.book(
                session=ctx.session,
                request_id=request.id,
                offer=booking.chosen_offer(ctx),
                actor=booking.actor(ctx),
            )
    except WindowTaken:
        return ctx.say(P.WINDOW_TAKEN) + ctx.goto("windows")
    ctx.progress.request_id = moved.id
    _changed(ctx, moved, P.SMS_RESCHEDULED, kind="reschedule")
    return ctx.say(P.RESCHEDULED) + ctx.goto("confirmation")


def _changed(ctx: Ctx, request: DoorstepRequest, sms: P, *, kind: str) -> None:
    ctx.progress.change_request_id = None
    if ctx.call.status not in (CallStatus.BOOKED,):
        call_service.settle(
            session=ctx.session, call=ctx.call, status=CallStatus.CHANGED, request_id=request.id
        )
    booking.send_sms(ctx, request, sms, kind=kind)
