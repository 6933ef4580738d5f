"""A caller's own request: hear its status, change its time or cancel it.

A caller whose caller ID is a citizen's registered phone is greeted with their open requests
(`ivr.steps.entry`): one is named with its status and "1 to change the time, 2 to cancel";
several are listed by service. Anyone else keys the reference number, and is asked for the
visit code from the confirmation SMS when the caller ID does not prove the request theirs. An
unknown reference and somebody else's get the same answer, after the code, so references
cannot be probed.
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
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import KEYPAD_DIGITS
from dispatch.visits import proof as visit_proof
from dispatch.visits import rules as visit_rules
from dispatch.visits import service as visits
from dispatch.visits.service import TooLateToChange, VisitResult
from ivr.flow import Ctx, Item, Said, answers, asks, menu_choice, menu_words, need
from ivr.prompts import P, Spoken, Value
from ivr.steps import booking, services, words
from ivr.twiml import Reply

#: Wrong references or visit codes on one call before the caller is put through to a person.
MAX_FAILURES = 3
#: Open requests listed to a returning caller: keys 1-6 (7 another by its reference, 8 the
#: main menu, 9 a new visit).
LISTED = 6
#: Of those, the newest whose status is told before the list.
TOLD = 3
NEW_VISIT_KEY = "9"
MAIN_MENU_KEY = "8"
BY_REFERENCE_KEY = "7"
KEEP_TIME_KEY = "8"


def start(ctx: Ctx) -> Reply:
    """A request the caller made: a caller proven by caller ID picks from their open requests
    (the reference is still there for another one); anyone else keys its reference."""
    _acting(ctx)  # another request now: hanging up before its status is told abandons
    citizen = ctx.call.citizen_id
    if citizen is not None:
        mine = request_service.open_for_citizen(session=ctx.session, citizen_id=citizen)
        if mine:
            return open_requests(ctx, list(reversed(mine)), told=False)
    return _by_reference(ctx)


def _by_reference(ctx: Ctx) -> Reply:
    ctx.progress.reference = ctx.progress.code = None
    ctx.progress.change_request_id = None
    ctx.progress.matches = []
    return ctx.goto("reference")


def open_requests(ctx: Ctx, requests: list[DoorstepRequest], *, told: bool = True) -> Reply:
    """A returning caller's open requests (newest first): one is told at once (in the
    greeting); several are listed by service to choose from, in the greeting after the
    newest are told with their status (`told`)."""
    if len(requests) == 1 and told:
        return proven(ctx, requests[0])
    reply = ctx.say(P.OPEN_REQUESTS, count=len(requests)) if told else Reply()
    if told:
        for request in requests[:TOLD]:
            reply += _status(ctx, request)
        _informed(ctx)
    ctx.progress.matches = [r.id or 0 for r in requests[:LISTED]]
    return reply + ctx.goto("open_requests")


@asks("open_requests")
def ask_open_requests(ctx: Ctx) -> Reply:
    listed = [request_service.get(session=ctx.session, request_id=i) for i in ctx.progress.matches]
    names = [
        words.service_name(ctx, catalogue_service.get(session=ctx.session, service_id=r.service_id))
        for r in listed
    ]
    labels: list[Value] = []
    for request, name in zip(listed, names, strict=True):
        if names.count(name) > 1:  # two of one service: told apart by status and time...
            name = f"{_text(name)}, {words.status(ctx, request)}"
        labels.append(name)
    items = []
    for request, label in zip(listed, labels, strict=True):
        if labels.count(label) > 1:  # ...or by the end of their reference numbers
            ending = ctx.speech.digits(request_rules.keypad_digits(request.reference)[-3:])
            told = ctx.prompts.text(P.REFERENCE_ENDING, ctx.value_lang, digits=ending)
            label = f"{_text(label)}, {told}"
        items.append(Item(request.id or 0, label))
    extra = ctx.words(P.NEW_VISIT_OPTION) + ctx.words(P.MAIN_MENU_OPTION)
    extra += ctx.words(P.BY_REFERENCE_OPTION)
    return ctx.gather("open_requests", menu_words(ctx, items, 0, extra=extra))


def _text(value: Value) -> str:
    return value.text if isinstance(value, Spoken) else str(value)


@answers("open_requests")
def on_open_requests(ctx: Ctx, said: Said) -> Reply:
    if said.digits == NEW_VISIT_KEY:
        return _new_visit(ctx)
    if said.digits == MAIN_MENU_KEY:
        return _main_menu(ctx)
    if said.digits == BY_REFERENCE_KEY:
        return _by_reference(ctx)
    choice = menu_choice(ctx, said)
    if not isinstance(choice, int):
        return ctx.unclear(said)
    ctx.progress.matches = []
    request = request_service.get(session=ctx.session, request_id=choice)
    return proven(ctx, request)


def _informed(ctx: Ctx) -> None:
    """The caller heard what they may have called for: hanging up now is not abandoning."""
    if ctx.call.status is CallStatus.ACTIVE:
        call_service.settle(session=ctx.session, call=ctx.call, status=CallStatus.INFORMED)


def _acting(ctx: Ctx) -> None:
    """The caller goes on to change something: until that is done, hanging up abandons."""
    call_service.resume(session=ctx.session, call=ctx.call)


def _new_visit(ctx: Ctx) -> Reply:
    return services.new_visit(ctx)  # which counts the caller as acting again


def _main_menu(ctx: Ctx) -> Reply:
    ctx.progress.change_request_id = ctx.progress.code = None
    ctx.progress.matches = []
    return ctx.goto("main_menu")


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
    return proven(ctx, found)


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
    return proven(ctx, found)


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


def proven(ctx: Ctx, request: DoorstepRequest) -> Reply:
    """The caller is the request's citizen (by caller ID or visit code): its status, then
    what they may do with it. Having heard it, a caller who hangs up got what they called
    for: the call counts as informed, not abandoned."""
    status = _status(ctx, request)
    _informed(ctx)
    if request.status not in visit_rules.CHANGEABLE:
        ctx.progress.code = None
        return status + ctx.goto("after_status")
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
    menu = ctx.words(P.CHANGE_MENU) + ctx.words(P.NEW_VISIT_OPTION)
    menu += ctx.words(P.MAIN_MENU_OPTION) + ctx.words(P.PERSON_OPTION)
    return ctx.gather("change_menu", menu)


@answers("change_menu")
def on_change_menu(ctx: Ctx, said: Said) -> Reply:
    status = visits.visit_status(session=ctx.session, request_id=_changing(ctx), proof=ctx.proof())
    if said.digits == "1":
        _acting(ctx)
        ctx.progress.service_id = status.service_id
        ctx.progress.address_id = _address_of(ctx, status.request_id)
        return ctx.goto("move_offer")
    if said.digits == "2":
        _acting(ctx)
        return ctx.goto("cancel_confirm")
    if said.digits == NEW_VISIT_KEY:
        return _new_visit(ctx)
    if said.digits == MAIN_MENU_KEY:
        return _main_menu(ctx)
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
        _informed(ctx)  # nothing to do after all: what they heard is what they got
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


@asks("move_offer")
def ask_move_offer(ctx: Ctx) -> Reply:
    """The earliest new time (never the one the visit has): one key moves the visit there."""
    request = request_service.get(session=ctx.session, request_id=_changing(ctx))
    # The visit keeps its own language (a relative may call in another one).
    offers = booking.fresh_offers(
        ctx, language=request.language, excluding=visit_rules.current_window(request)
    )
    if not offers:
        return booking.no_window(ctx)
    prompts = booking.earliest_words(ctx, offers, lead=P.OFFER_MOVE) + ctx.words(P.MOVE_OPTION)
    if len(offers) > 1:
        prompts += ctx.words(P.OTHER_TIMES_OPTION)
    prompts += ctx.words(P.KEEP_TIME_OPTION)
    return ctx.gather("move_offer", prompts + ctx.words(P.PERSON_OPTION))


@answers("move_offer")
def on_move_offer(ctx: Ctx, said: Said) -> Reply:
    if said.digits == KEEP_TIME_KEY:
        return _keep_time(ctx)
    return booking.take_earliest(ctx, said, others="move_windows", act=_reschedule)


@asks("move_windows")
def ask_move_windows(ctx: Ctx) -> Reply:
    keep = ctx.words(P.KEEP_TIME_OPTION)
    return ctx.gather("move_windows", booking.other_times_words(ctx, extra=keep))


@answers("move_windows")
def on_move_windows(ctx: Ctx, said: Said) -> Reply:
    if said.digits == KEEP_TIME_KEY:
        return _keep_time(ctx)
    return booking.take_other(ctx, said, act=_reschedule)


def _reschedule(ctx: Ctx) -> Reply:
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
        return ctx.say(P.WINDOW_TAKEN) + ctx.goto("move_offer")
    ctx.progress.request_id = moved.request_id
    ctx.progress.sms_queued, ctx.progress.say_code = moved.message_id is not None, None
    _changed(ctx, moved)
    return ctx.say(P.RESCHEDULED) + ctx.goto("confirmation")


def _keep_time(ctx: Ctx) -> Reply:
    """The caller keeps the time the visit has: nothing changes, and what they heard is what
    they called for."""
    request = request_service.get(session=ctx.session, request_id=_changing(ctx))
    ctx.progress.change_request_id = ctx.progress.code = None
    ctx.progress.offers, ctx.progress.chosen = [], None
    _informed(ctx)
    return _status(ctx, request) + ctx.goto("after_status")


def _too_late(ctx: Ctx) -> Reply:
    request = ctx.session.get(DoorstepRequest, _changing(ctx))
    ctx.progress.change_request_id = ctx.progress.code = None
    _informed(ctx)  # told where it stands: nothing more to do on the phone
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
