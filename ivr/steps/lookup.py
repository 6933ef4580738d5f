"""A request by its reference number: hear its status, or change its time or cancel it.

Only its citizen may: a caller whose caller ID is the citizen's registered phone goes straight
on; anyone else is asked for the visit code from the confirmation SMS. An unknown reference
and somebody else's get the same answer, after the code, so references cannot be probed.
Three wrong references or codes on a call put the caller through to a person; too many from
one caller ID lock its proofs for a while (`dispatch.visits.proof`).
"""

from __future__ import annotations

from dispatch.calls import service as call_service
from dispatch.calls.models import CallStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.errors import InvalidReference, NotFound
from dispatch.planning.service import WindowTaken
from dispatch.requests import rules as request_rules
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import KEYPAD_DIGITS
from dispatch.visits import proof as visit_proof
from dispatch.visits import rules as visit_rules
from dispatch.visits import service as visits
from dispatch.visits.service import TooLateToChange, VisitResult
from ivr.flow import Ctx, Said, answers, asks, need
from ivr.prompts import P
from ivr.steps import booking, words
from ivr.twiml import Reply

#: Wrong references or visit codes on one call before the caller is put through to a person.
MAX_FAILURES = 3
STATUS, CHANGE = "status", "change"


def start(ctx: Ctx, purpose: str) -> Reply:
    """Ask for a reference, to hear its status (`STATUS`) or to change it (`CHANGE`)."""
    ctx.progress.purpose = purpose
    ctx.progress.reference = ctx.progress.code = None
    ctx.progress.change_request_id = None
    return ctx.goto("reference")


@asks("reference")
def ask_reference(ctx: Ctx) -> Reply:
    return ctx.gather("reference", ctx.words(P.REFERENCE_ASK), num_digits=KEYPAD_DIGITS, timeout=12)


@answers("reference")
def on_reference(ctx: Ctx, said: Said) -> Reply:
    if said.empty:
        return ctx.unclear(said)
    if _locked_out(ctx):
        return _too_many(ctx)
    try:
        reference = request_rules.parse_reference(said.digits, default_state=ctx.state.code)
    except InvalidReference:  # the check digit is public: saying so reveals nothing
        return _failed(ctx, P.REFERENCE_INVALID, audited=False)
    found = _lookup(ctx, reference)
    if found is None:  # unknown, or not this caller's: either way, the code decides
        ctx.progress.reference = reference
        return ctx.goto("visit_code")
    return _proven(ctx, found)


@asks("visit_code")
def ask_visit_code(ctx: Ctx) -> Reply:
    digits = visit_rules.CODE_DIGITS
    return ctx.gather("visit_code", ctx.words(P.CODE_ASK), num_digits=digits, timeout=10)


@answers("visit_code")
def on_visit_code(ctx: Ctx, said: Said) -> Reply:
    if said.empty:
        return ctx.unclear(said)
    if _locked_out(ctx):
        return _too_many(ctx)
    found = _lookup(ctx, need(ctx.progress.reference, "the reference"), code=said.digits)
    ctx.progress.reference = None
    if found is None:
        return _failed(ctx, P.PROOF_FAILED, audited=True)
    ctx.progress.code = said.digits
    return _proven(ctx, found)


def _lookup(ctx: Ctx, reference: str, code: str | None = None) -> DoorstepRequest | None:
    """The request, if this caller's caller ID (or `code`) proves it theirs; else None."""
    proof = visit_proof.Proof(caller_id=ctx.call.from_number, visit_code=code)
    try:
        return visit_proof.by_reference(
            session=ctx.session, reference=reference, default_state=ctx.state.code, proof=proof
        )
    except NotFound:
        return None


def _locked_out(ctx: Ctx) -> bool:
    return visit_proof.locked_out(
        session=ctx.session, settings=ctx.settings, caller=ctx.caller_id(), now=ctx.now
    )


def _failed(ctx: Ctx, problem: P, *, audited: bool) -> Reply:
    """A wrong reference or code: counted on the call (and, for codes, against the caller ID,
    audited); the third on a call puts the caller through to a person."""
    ctx.progress.failures += 1
    if audited:
        visit_proof.record_failure(
            session=ctx.session,
            settings=ctx.settings,
            caller=ctx.caller_id(),
            what="visit code",
            actor=ctx.actor,
            now=ctx.now,
        )
    if ctx.progress.failures >= MAX_FAILURES:
        return ctx.say(problem) + ctx.say(P.TO_PERSON) + ctx.goto("person")
    return ctx.say(problem) + ctx.goto("reference")


def _too_many(ctx: Ctx) -> Reply:
    return ctx.say(P.TOO_MANY_TRIES) + ctx.say(P.TO_PERSON) + ctx.goto("person")


def _proven(ctx: Ctx, request: DoorstepRequest) -> Reply:
    """The caller proved to be the request's citizen: its status, then what they came for."""
    status = _status(ctx, request)
    if ctx.progress.purpose != CHANGE:
        ctx.progress.code = None
        return status + ctx.goto("after_status")
    if request.status not in visit_rules.CHANGEABLE:
        return status + ctx.say(P.CHANGE_TOO_LATE) + ctx.goto("after_status")
    ctx.progress.change_request_id = request.id
    return status + ctx.goto("change_menu")


def _status(ctx: Ctx, request: DoorstepRequest) -> Reply:
    service = catalogue_service.get(session=ctx.session, service_id=request.service_id)
    return ctx.say(
        P.STATUS_OF, service=words.service_name(ctx, service), status=words.status(ctx, request)
    )


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


def _changing(ctx: Ctx) -> int:
    return need(ctx.progress.change_request_id, "the request to change")


@asks("change_menu")
def ask_change_menu(ctx: Ctx) -> Reply:
    return ctx.gather("change_menu", ctx.words(P.CHANGE_MENU) + ctx.words(P.PERSON_OPTION))


@answers("change_menu")
def on_change_menu(ctx: Ctx, said: Said) -> Reply:
    status = visits.visit_status(session=ctx.session, request_id=_changing(ctx), proof=ctx.proof())
    if said.digits == "1":
        ctx.progress.service_id = status.service_id
        ctx.progress.address_id = _address_of(ctx, status.request_id)
        return ctx.goto("windows")
    if said.digits == "2":
        return ctx.goto("cancel_confirm")
    return ctx.unclear(said)


def _address_of(ctx: Ctx, request_id: int) -> int:
    request = ctx.session.get(DoorstepRequest, request_id)
    return need(request, "the request").address_id


@asks("cancel_confirm")
def ask_cancel_confirm(ctx: Ctx) -> Reply:
    status = visits.visit_status(session=ctx.session, request_id=_changing(ctx), proof=ctx.proof())
    service = catalogue_service.get(session=ctx.session, service_id=status.service_id)
    question = ctx.words(P.CANCEL_CONFIRM, service=words.service_name(ctx, service))
    return ctx.gather("cancel_confirm", question)


@answers("cancel_confirm")
def on_cancel_confirm(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "2":
        ctx.progress.change_request_id = ctx.progress.code = None
        return ctx.say(P.NOT_CANCELLED) + ctx.goto("after_status")
    if said.digits != "1":
        return ctx.unclear(said)
    try:
        cancelled = visits.cancel_visit(
            session=ctx.session,
            settings=ctx.settings,
            idempotency_key=ctx.key(),
            actor=ctx.actor,
            request_id=_changing(ctx),
            proof=ctx.proof(),
            reason="cancelled by the caller on the phone",
            now=ctx.now,
        )
    except TooLateToChange:  # changed by someone else since it was read out
        return _too_late(ctx)
    _changed(ctx, cancelled)
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
    try:
        moved = visits.reschedule_visit(
            session=ctx.session,
            settings=ctx.settings,
            idempotency_key=ctx.key(),
            actor=ctx.actor,
            request_id=_changing(ctx),
            proof=ctx.proof(),
            offer=booking.chosen_offer(ctx),
            now=ctx.now,
        )
    except TooLateToChange:
        return _too_late(ctx)
    except WindowTaken:
        return ctx.say(P.WINDOW_TAKEN) + ctx.goto("windows")
    ctx.progress.request_id = moved.request_id
    ctx.progress.sms_queued, ctx.progress.say_code = moved.message_id is not None, None
    _changed(ctx, moved)
    return ctx.say(P.RESCHEDULED) + ctx.goto("confirmation")


def _too_late(ctx: Ctx) -> Reply:
    request = ctx.session.get(DoorstepRequest, _changing(ctx))
    ctx.progress.change_request_id = ctx.progress.code = None
    reply = _status(ctx, request) if request is not None else Reply()
    return reply + ctx.say(P.CHANGE_TOO_LATE) + ctx.goto("after_status")


def _changed(ctx: Ctx, result: VisitResult) -> None:
    ctx.progress.change_request_id = ctx.progress.code = None
    if ctx.call.status is not CallStatus.BOOKED:
        call_service.settle(
            session=ctx.session,
            call=ctx.call,
            status=CallStatus.CHANGED,
            request_id=result.request_id,
        )
    if result.message_id is not None:
        ctx.outbox.append(result.message_id)
