"""Booking on the call: the earliest windows the live plan can meet, the fee and how it is
paid, the caller's agreement (request logged with its charge and booked into the plan, in one
savepoint), and the confirmation read back with an SMS queued."""

from __future__ import annotations

from typing import Any

from dispatch.calls import service as call_service
from dispatch.calls.models import CallbackReason, CallStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.notifications import service as notification_service
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowOffer, WindowTaken
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from ivr.flow import Ctx, Item, Said, answers, asks, menu_words
from ivr.prompts import P
from ivr.speech import rupees_text
from ivr.steps import words
from ivr.twiml import Reply

#: Windows offered at once (keys 1-3).
OFFERED_WINDOWS = 3


def actor(ctx: Ctx) -> str:
    return f"ivr:{ctx.call.call_sid}"


def _offers(ctx: Ctx) -> list[WindowOffer]:
    return [WindowOffer.from_json(o) for o in ctx.progress.offers]


@asks("windows")
def ask_windows(ctx: Ctx) -> Reply:
    assert ctx.progress.address_id is not None and ctx.progress.service_id is not None
    offers = planning_service.offer_windows(
        session=ctx.session,
        address_id=ctx.progress.address_id,
        service_id=ctx.progress.service_id,
        language=ctx.lang,
        now=ctx.now,
        limit=OFFERED_WINDOWS,
    )
    ctx.progress.offers = [_json(o) for o in offers]
    ctx.progress.chosen = None
    if not offers:
        return _no_window(ctx)
    items = [
        Item(i, ctx.speech.window_short(o.start, o.end, now=ctx.now)) for i, o in enumerate(offers)
    ]
    prompts = ctx.words(P.WINDOWS_INTRO) + menu_words(ctx, items, 0)
    return ctx.gather("windows", prompts)


def _json(offer: WindowOffer) -> dict[str, Any]:
    return dict(offer.to_json())


def _no_window(ctx: Ctx) -> Reply:
    """Nothing feasible in the horizon: say so, and a person will ring back."""
    call_service.request_callback(
        session=ctx.session,
        call=ctx.call,
        phone=ctx.caller_phone() or ctx.call.from_number,
        reason=CallbackReason.NO_WINDOW,
        service_id=ctx.progress.service_id,
        address_id=ctx.progress.address_id,
        request_id=ctx.progress.change_request_id,
        now=ctx.now,
    )
    return ctx.say(P.NO_WINDOWS, days=ctx.settings.offer_horizon_days) + ctx.goodbye()


@answers("windows")
def on_windows(ctx: Ctx, said: Said) -> Reply:
    offers = ctx.progress.offers
    if not (said.digits.isdigit() and 1 <= int(said.digits) <= len(offers)):
        return ctx.unclear(said)
    ctx.progress.chosen = int(said.digits) - 1
    if ctx.progress.change_request_id is not None:
        return ctx.goto("reschedule_confirm")
    return ctx.goto("fee")


@asks("fee")
def ask_fee(ctx: Ctx) -> Reply:
    assert ctx.progress.service_id is not None
    service = catalogue_service.get(session=ctx.session, service_id=ctx.progress.service_id)
    money = ctx.speech.money
    total = service.total_fee_paise
    if total == 0:
        prompts = ctx.words(P.FEE_NONE)
    elif service.government_fee_paise and service.doorstep_fee_paise:
        prompts = ctx.words(
            P.FEE_TOTAL,
            total=money(total),
            doorstep=money(service.doorstep_fee_paise),
            government=money(service.government_fee_paise),
        )
    else:
        prompts = ctx.words(P.FEE_DOORSTEP, total=money(total))
    if total:
        prompts += ctx.words(P.FEE_PAYMENT)
    return ctx.gather("fee", prompts + ctx.words(P.FEE_AGREE) + ctx.words(P.PERSON_OPTION))


@answers("fee")
def on_fee(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        return _book(ctx)
    if said.digits == "2":
        return ctx.goto("windows")
    return ctx.unclear(said)


def chosen_offer(ctx: Ctx) -> WindowOffer:
    assert ctx.progress.chosen is not None
    return _offers(ctx)[ctx.progress.chosen]


def _book(ctx: Ctx) -> Reply:
    """The caller agreed: log the request (which charges the fee) and book it into the plan,
    both or neither. A window taken meanwhile brings fresh offers."""
    p = ctx.progress
    assert p.service_id is not None and p.address_id is not None and ctx.call.citizen_id
    key = f"call:{ctx.call.call_sid}" + (f":{p.bookings + 1}" if p.bookings else "")
    try:
        with ctx.session.begin_nested():
            logged = request_service.log(
                session=ctx.session,
                state_code=ctx.state.code,
                citizen_id=ctx.call.citizen_id,
                service_id=p.service_id,
                address_id=p.address_id,
                channel=Channel.IVR,
                actor=actor(ctx),
                language=ctx.lang,
                idempotency_key=key,
                now=ctx.now,
            )
            assert logged.id is not None
            request = planning_service.book(
                session=ctx.session, request_id=logged.id, offer=chosen_offer(ctx), actor=actor(ctx)
            )
    except WindowTaken:
        return ctx.say(P.WINDOW_TAKEN) + ctx.goto("windows")
    p.request_id, p.bookings = request.id, p.bookings + 1
    call_service.settle(
        session=ctx.session, call=ctx.call, status=CallStatus.BOOKED, request_id=request.id
    )
    send_sms(ctx, request, P.SMS_BOOKED, kind="booking")
    return ctx.say(P.BOOKED) + ctx.goto("confirmation")


def send_sms(ctx: Ctx, request: DoorstepRequest, key: P, *, kind: str) -> None:
    """Queue the SMS about `request` (sent once the call's step is committed)."""
    phone = ctx.caller_phone()
    if phone is None:
        return
    service = catalogue_service.get(session=ctx.session, service_id=request.service_id)
    window = ""
    if request.window_start is not None and request.window_end is not None:
        window = ctx.speech.sms_window(request.window_start, request.window_end)
    body = ctx.prompts.text(
        key,
        ctx.value_lang,
        service_name=ctx.state.service_name,
        reference=request.reference,
        service=words.service_text(ctx, service),
        window=window,
        total=rupees_text(request.fee_paise),
        documents=words.documents_text(ctx, service),
    )
    message = notification_service.queue(
        session=ctx.session,
        to=phone,
        body=body,
        kind=kind,
        request_id=request.id,
        idempotency_key=f"sms:{kind}:{request.id}:{ctx.call.call_sid}",
        now=ctx.now,
    )
    assert message.id is not None
    ctx.outbox.append(message.id)


@asks("confirmation")
def ask_confirmation(ctx: Ctx) -> Reply:
    assert ctx.progress.request_id is not None
    request = request_service.get(session=ctx.session, request_id=ctx.progress.request_id)
    digits = ctx.speech.digits(request_rules.keypad_digits(request.reference))
    prompts = ctx.words(P.REFERENCE, digits=digits)
    if request.window_start is not None and request.window_end is not None:
        window = ctx.speech.window(request.window_start, request.window_end, now=ctx.now)
        prompts += ctx.words(P.VISIT_AT, window=window)
    if request.fee_paise:
        prompts += ctx.words(P.FEE_DUE, total=ctx.speech.money(request.fee_paise))
    if ctx.caller_phone() is not None:
        prompts += ctx.words(P.SMS_SENT)
    return ctx.gather("confirmation", prompts + ctx.words(P.CONFIRMATION_MENU))


@answers("confirmation")
def on_confirmation(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        return ctx.goto("confirmation")
    if said.digits == "2":
        return ctx.goto("main_menu")
    if said.empty:
        return ctx.goodbye()
    return ctx.unclear(said)
