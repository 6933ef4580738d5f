"""Booking on the call: the earliest window the live plan can meet told with the fee in one
turn, one key to book it (or a short menu of later windows), one call to the booking use case
(logged, charged, planned, coded and confirmed by SMS, all or nothing), and the confirmation
read back. The offer helpers serve a reschedule too (`ivr.steps.lookup`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from dispatch.calls import service as call_service
from dispatch.calls.models import CallbackReason, CallStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowOffer, WindowTaken
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.rules import Channel
from dispatch.visits import service as visits
from ivr.flow import Ctx, Item, Said, answers, asks, menu_choice, menu_words, need
from ivr.prompts import P
from ivr.steps import words
from ivr.twiml import Prompt, Reply

#: Windows fetched for an offer: the earliest, read out first, and up to three others.
OFFERED_WINDOWS = 4


def _offers(ctx: Ctx) -> list[WindowOffer]:
    return [WindowOffer.from_json(o) for o in ctx.progress.offers]


def fresh_offers(
    ctx: Ctx,
    *,
    language: str | None = None,
    excluding: tuple[dt.datetime, dt.datetime] | None = None,
) -> list[WindowOffer]:
    """The earliest windows the live plans can meet now, kept for the caller's answer: for
    an agent who speaks `language` (the visit's; a new one's is the call's)."""
    offers = planning_service.offer_windows(
        session=ctx.session,
        settings=ctx.settings,
        address_id=need(ctx.progress.address_id, "the address"),
        service_id=need(ctx.progress.service_id, "the service"),
        language=language or ctx.lang,
        now=ctx.now,
        limit=OFFERED_WINDOWS,
        excluding=excluding,
    )
    ctx.progress.offers = [dict(o.to_json()) for o in offers]
    ctx.progress.chosen = None
    return offers


def earliest_words(ctx: Ctx, offers: list[WindowOffer], *, lead: P) -> list[Prompt]:
    """ "The earliest visit is tomorrow, between 10 and 12": the first offer, in a sentence."""
    first = offers[0]
    return ctx.words(lead, window=ctx.speech.window(first.start, first.end, now=ctx.now))


def other_times_words(ctx: Ctx, *, extra: Sequence[Prompt] = ()) -> list[Prompt]:
    """The offers after the earliest, as a menu (keys 1, 2, ...; `extra` options after)."""
    others = [
        Item(i, ctx.speech.window_short(o.start, o.end, now=ctx.now))
        for i, o in enumerate(_offers(ctx))
        if i > 0
    ]
    return ctx.words(P.OTHER_TIMES) + menu_words(ctx, others, 0, extra=extra)


Act = Callable[[Ctx], Reply]


def take_earliest(ctx: Ctx, said: Said, *, others: str, act: Act) -> Reply:
    """At the earliest offer: key 1 takes it (`act`: book, or move the visit), key 2 (when
    there are others) goes to the `others` step; anything else is asked again."""
    if said.digits == "1":
        ctx.progress.chosen = 0
        return act(ctx)
    if said.digits == "2" and len(ctx.progress.offers) > 1:
        return ctx.goto(others)
    return ctx.unclear(said)


def take_other(ctx: Ctx, said: Said, *, act: Act) -> Reply:
    """At the other times: the key of one takes it (`act`); anything else is asked again."""
    choice = menu_choice(ctx, said)
    if not isinstance(choice, int):
        return ctx.unclear(said)
    ctx.progress.chosen = choice
    return act(ctx)


@asks("offer")
def ask_offer(ctx: Ctx) -> Reply:
    """The earliest window and the fee in one turn: one key books it."""
    offers = fresh_offers(ctx)
    if not offers:
        return no_window(ctx)
    prompts = earliest_words(ctx, offers, lead=P.OFFER_FIRST) + _fee_words(ctx)
    prompts += ctx.words(P.BOOK_OPTION)
    if len(offers) > 1:
        prompts += ctx.words(P.OTHER_TIMES_OPTION)
    return ctx.gather("offer", prompts + ctx.words(P.PERSON_OPTION))


@answers("offer")
def on_offer(ctx: Ctx, said: Said) -> Reply:
    return take_earliest(ctx, said, others="windows", act=_book)


@asks("windows")
def ask_windows(ctx: Ctx) -> Reply:
    return ctx.gather("windows", other_times_words(ctx))


@answers("windows")
def on_windows(ctx: Ctx, said: Said) -> Reply:
    """A later window, booked at the fee told with the earliest one."""
    return take_other(ctx, said, act=_book)


def no_window(ctx: Ctx) -> Reply:
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


def _fee_words(ctx: Ctx) -> list[Prompt]:
    service_id = need(ctx.progress.service_id, "the service")
    service = catalogue_service.get(session=ctx.session, service_id=service_id)
    money = ctx.speech.money
    total = service.total_fee_paise
    if total == 0:
        return ctx.words(P.FEE_NONE)
    if service.government_fee_paise and service.doorstep_fee_paise:
        prompts = ctx.words(
            P.FEE_TOTAL,
            total=money(total),
            doorstep=money(service.doorstep_fee_paise),
            government=money(service.government_fee_paise),
        )
    else:
        prompts = ctx.words(P.FEE_DOORSTEP, total=money(total))
    return prompts + ctx.words(P.FEE_PAYMENT)


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
        return ctx.say(P.WINDOW_TAKEN) + ctx.goto("offer")
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
    service = catalogue_service.get(session=ctx.session, service_id=request.service_id)
    listed = words.documents(ctx, service)
    if listed is None:
        prompts += ctx.words(P.DOCUMENTS_NONE)
    else:
        prompts += ctx.words(P.DOCUMENTS, documents=listed)
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
