"""The start of a call: greeting (by name for a returning caller, with their open requests),
the language menu, and the main menu."""

from __future__ import annotations

from dispatch.catalogue import service as catalogue_service
from dispatch.citizens.models import Citizen
from dispatch.requests import service as request_service
from ivr import languages
from ivr.flow import Ctx, Said, answers, asks, need
from ivr.progress import Progress
from ivr.prompts import P
from ivr.steps import agent, feedback, lookup, words
from ivr.twiml import Prompt, Reply

#: Open requests read out to a returning caller, newest first.
OPEN_REQUESTS_TOLD = 2


@asks("incoming")
def incoming(ctx: Ctx) -> Reply:
    if feedback.is_feedback_call(ctx):
        return feedback.start(ctx)
    if agent.agent_calling(ctx) is not None:
        return agent.start(ctx)
    citizen = ctx.citizen
    offered = [lang.code for lang in ctx.offered]
    if citizen is not None and citizen.language in offered:
        return welcome_back(ctx, citizen) + ctx.goto("main_menu")
    greeting = ctx.say(
        P.WELCOME,
        service_name=ctx.state.service_name,
        toll_free=" ".join(ctx.state.toll_free),
    )
    return greeting + ctx.goto("language" if len(offered) > 1 else "main_menu")


def welcome_back(ctx: Ctx, citizen: Citizen) -> Reply:
    if citizen.name:
        reply = ctx.say(P.WELCOME_BACK, name=citizen.name, service_name=ctx.state.service_name)
    else:
        reply = ctx.say(
            P.WELCOME,
            service_name=ctx.state.service_name,
            toll_free=" ".join(ctx.state.toll_free),
        )
    open_requests = request_service.open_for_citizen(
        session=ctx.session, citizen_id=need(citizen.id, "the citizen")
    )
    if not open_requests:
        return reply
    if len(open_requests) == 1:
        reply += ctx.say(P.OPEN_REQUEST_ONE)
    else:
        reply += ctx.say(P.OPEN_REQUESTS, count=len(open_requests))
    for request in list(reversed(open_requests))[:OPEN_REQUESTS_TOLD]:
        service = catalogue_service.get(session=ctx.session, service_id=request.service_id)
        reply += ctx.say(
            P.OPEN_REQUEST_ITEM,
            service=words.service_name(ctx, service),
            status=words.status(ctx, request),
        )
    return reply


@asks("language")
def ask_language(ctx: Ctx) -> Reply:
    options: list[Prompt] = []
    for lang in ctx.offered:
        if lang.has_tts:
            options += ctx.prompts.say(P.LANGUAGE_OPTION, lang.code, digit=lang.key)
        else:  # the recording names its own key: the keys of languages never move
            options.append(ctx.prompts.recording(P.LANGUAGE_OPTION, lang.code))
    return ctx.gather("language", options)


@answers("language")
def on_language(ctx: Ctx, said: Said) -> Reply:
    chosen = languages.by_key(ctx.offered, said.digits)
    if chosen is None:
        return ctx.unclear(said)
    ctx.call.language = chosen.code
    return ctx.goto("main_menu")


@asks("main_menu")
def ask_main_menu(ctx: Ctx) -> Reply:
    menu = ctx.words(P.MAIN_MENU)
    if len(ctx.offered) > 1:
        menu += ctx.words(P.MENU_LANGUAGE)
    menu += ctx.words(P.PERSON_OPTION)
    return ctx.gather("main_menu", menu)


@answers("main_menu")
def on_main_menu(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        keep = ctx.progress
        ctx.progress = Progress(
            phone=keep.phone,
            citizen_id=keep.citizen_id,
            request_id=keep.request_id,
            bookings=keep.bookings,
            failures=keep.failures,
        )
        return ctx.goto("service_menu")
    if said.digits == "2":
        return lookup.start(ctx, lookup.STATUS)
    if said.digits == "3":
        return lookup.start(ctx, lookup.CHANGE)
    if said.digits == "8" and len(ctx.offered) > 1:
        return ctx.goto("language")
    return ctx.unclear(said)
