"""Choosing the service: the most requested ones by keypad (paged), or its name said aloud and
matched against names and aliases, confirmed back."""

from __future__ import annotations

from dispatch.calls import service as call_service
from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service
from ivr.flow import Ctx, Item, Said, answers, asks, menu_choice, menu_words
from ivr.progress import Progress
from ivr.prompts import P
from ivr.steps import location, words
from ivr.twiml import Reply

#: Names given to the speech recogniser as hints (the most requested services).
HINTED_SERVICES = 40


def _catalogue(ctx: Ctx) -> list[Service]:
    return catalogue_service.list_active(session=ctx.session, state_code=ctx.state.code)


def _items(ctx: Ctx, services: list[Service]) -> list[Item]:
    return [Item(s.id or 0, words.service_name(ctx, s)) for s in services]


def _hints(ctx: Ctx, services: list[Service]) -> str:
    names = [words.service_text(ctx, s) for s in services[:HINTED_SERVICES]]
    return ", ".join(n.replace(",", " ") for n in names)


def new_visit(ctx: Ctx) -> Reply:
    """Start a booking: what was chosen for an earlier one on this call is forgotten (the
    contact number, whom it is for and what was booked stay)."""
    call_service.resume(session=ctx.session, call=ctx.call)  # informed before, acting now
    keep = ctx.progress
    ctx.progress = Progress(
        phone=keep.phone,
        citizen_id=keep.citizen_id,
        request_id=keep.request_id,
        bookings=keep.bookings,
        failures=keep.failures,
    )
    return ctx.goto("service_menu")


@asks("service_menu")
def ask_service(ctx: Ctx) -> Reply:
    services = _catalogue(ctx)
    prompts = ctx.words(P.SERVICE_ASK) if ctx.progress.page == 0 else []
    prompts += menu_words(ctx, _items(ctx, services), ctx.progress.page)
    return ctx.gather("service_menu", prompts, speech=True, timeout=8, hints=_hints(ctx, services))


@answers("service_menu")
def on_service(ctx: Ctx, said: Said) -> Reply:
    if said.speech and not said.digits:
        found = catalogue_service.search(
            session=ctx.session, state_code=ctx.state.code, text=said.speech, limit=3
        )
        if not found:
            return ctx.retry(P.SERVICE_NOT_FOUND)
        ctx.progress.matches = [s.id for s in found if s.id is not None]
        return ctx.goto("service_heard")
    choice = menu_choice(ctx, said)
    if choice == "more":
        ctx.progress.page += 1
        return ctx.goto("service_menu")
    if isinstance(choice, int):
        return chosen(ctx, catalogue_service.get(session=ctx.session, service_id=choice))
    return ctx.unclear(said)


@asks("service_heard")
def ask_heard(ctx: Ctx) -> Reply:
    service = catalogue_service.get(session=ctx.session, service_id=ctx.progress.matches[0])
    heard = ctx.words(P.SERVICE_HEARD, service=words.service_name(ctx, service))
    return ctx.gather("service_heard", heard)


@answers("service_heard")
def on_heard(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        service = catalogue_service.get(session=ctx.session, service_id=ctx.progress.matches[0])
        return chosen(ctx, service)
    if said.digits == "2":
        ctx.progress.matches = ctx.progress.matches[1:]
        if ctx.progress.matches:
            return ctx.goto("service_heard")
        ctx.progress.page = 0
        return ctx.goto("service_menu")
    return ctx.unclear(said)


def chosen(ctx: Ctx, service: Service) -> Reply:
    """Say the service back and go on to the address (the documents to keep ready are told
    with the confirmation, once the visit is booked)."""
    ctx.progress.service_id = service.id
    ctx.progress.matches = []
    ctx.progress.page = 0
    reply = ctx.say(P.SERVICE_CHOSEN, service=words.service_name(ctx, service))
    return reply + location.start(ctx)
