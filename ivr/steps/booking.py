"""Booking on the call: the earliest windows the live plan can meet, the fee and how it is
paid, the caller's agreement (one call to the booking use case: logged, charged, planned,
coded and confirmed by SMS, all or nothing), and the confirmation read back."""

from __future__ import annotations

from typing import Any

from dispatch.calls import service as call_service
from dispatch.calls.models import CallbackReason, CallStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowOffer, WindowTaken
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.rules import Channel
from dispatch.visits import service as visits
from ivr.flow import Ctx, Item, Said, answers, asks, menu_words, need
from ivr.prompts import P
from ivr.twiml import Reply

#: Windows offered at once (keys 1-3).
OFFERED_WINDOWS = 3


def _offers(ctx: Ctx) -> list[WindowOffer]:
    return [WindowOffer.from_json(o) for o in ctx.progress.offers]


@asks("windows")
def ask_windows(ctx: Ctx) -> Reply:
    offers = planning_service.offer_windows(
        session=ctx.session,
        settings=ctx.settings,
        address_id=need(ctx.progress.address_id, "the address"),
        service_id=need(ctx.progress.service_id, "the service"),
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
    """Nothing feasible in the horizon: a person rings back, or (a number the state may not
    call back) the caller is put through to one now."""
    days = ctx.settings.offer_horizon_days
    phone = ctx.callback_phone()
    if phone is None:
        return ctx.say(P.NO_WINDOWS_PERSON, days=days) + ctx.goto("person")
    call_service.request_callback(
        session=ctx.session,
        call=ctx.call,
        phone=phone,
        reason=CallbackReason.NO_WINDOW,
        service_id=ctx.progress.service_id,
        address_id=ctx.progress.address_id,
        request_id=ctx.progress.change_request_id,
        now=ctx.now,
    )
    return ctx.say(P.NO_WINDOWS, days=days) + ctx.goodbye()


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
    service_id = need(ctx.progress.service_id, "the service")
    service = catalogue_service.get(session=ctx.session, service_id=service_id)
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
    return _offers(ctx)[need(ctx.progress.chosen, "the window")]


def _book(ctx: Ctx) -> Reply:
    """The caller agreed: the booking use case does the rest. A window taken meanwhile
    brings fresh offers (and nothing was written)."""
    p = ctx.progress
    try:
        booked = visits.book_visit(
            session=ctx.session,
            settings=ctx.settings,
            idempotency_key=ctx.key(),
            actor=ctx.actor,
            channel=Channel.IVR,
            state_code=ctx.state.code,
            citizen_id=need(ctx.booking_citizen_id(), "the citizen"),
            address_id=need(p.address_id, "the address"),
            service_id=need(p.service_id, "the service"),
            offer=chosen_offer(ctx),
            language=ctx.lang,
            now=ctx.now,
        )
    except WindowTaken:
        return ctx.say(P.WINDOW_TAKEN) + ctx.goto("windows")
    p.request_id, p.bookings = booked.request_id, p.bookings + 1
    p.sms_queued = booked.message_id is not None
    # No SMS can carry the code (a number the state does not message): it is spoken, but
    # only to the caller whose own caller ID booked it.
    proven = ctx.call.citizen_id is not None  # then the booking is that citizen's own
    p.say_code = booked.visit_code if not p.sms_queued and proven else None
    call_service.settle(
        session=ctx.session, call=ctx.call, status=CallStatus.BOOKED, request_id=booked.request_id
    )
    if booked.message_id is not None:
        ctx.outbox.append(booked.message_id)
    return ctx.say(P.BOOKED) + ctx.goto("confirmation")


@asks("confirmation")
def ask_confirmation(ctx: Ctx) -> Reply:
    request_id = need(ctx.progress.request_id, "the booked request")
    request = request_service.get(session=ctx.session, request_id=request_id)
    digits = ctx.speech.digits(request_rules.keypad_digits(request.reference))
    prompts = ctx.words(P.REFERENCE, digits=digits)
    if request.window_start is not None and request.window_end is not None:
        window = ctx.speech.window(request.window_start, request.window_end, now=ctx.now)
        prompts += ctx.words(P.VISIT_AT, window=window)
    if request.fee_paise:
        prompts += ctx.words(P.FEE_DUE, total=ctx.speech.money(request.fee_paise))
    if ctx.progress.sms_queued:
        prompts += ctx.words(P.SMS_SENT)
    elif ctx.progress.say_code:
        prompts += ctx.words(P.VISIT_CODE, digits=ctx.speech.digits(ctx.progress.say_code))
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
