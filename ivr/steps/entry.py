"""The start of a call: a returning caller is greeted by name in their own language and taken
straight to their open requests; a new caller hears the language menu, then the main menu."""

from __future__ import annotations

from dispatch.citizens.models import Citizen
from dispatch.requests import service as request_service
from ivr import languages
from ivr.flow import Ctx, Said, answers, asks, need
from ivr.prompts import P
from ivr.steps import agent, feedback, lookup, services
from ivr.twiml import Prompt, Reply


@asks("incoming")
def incoming(ctx: Ctx) -> Reply:
    if feedback.is_feedback_call(ctx):
        return feedback.start(ctx)
    if agent.agent_calling(ctx) is not None:
        return agent.start(ctx)
    citizen = ctx.citizen
    if citizen is not None and languages.for_caller(citizen.language, ctx.offered):
        return welcome_back(ctx, citizen)  # in their language (`conversation` chose it)
    greeting = ctx.say(P.WELCOME, service_name=ctx.state.service_name)
    return greeting + ctx.goto("language" if len(ctx.offered) > 1 else "main_menu")


def welcome_back(ctx: Ctx, citizen: Citizen) -> Reply:
    """By name, then straight to their open requests, or else to the main menu."""
    if citizen.name:
        reply = ctx.say(P.WELCOME_BACK, name=citizen.name, service_name=ctx.state.service_name)
    else:
        reply = ctx.say(P.WELCOME_AGAIN, service_name=ctx.state.service_name)
    return reply + _requests_or_menu(ctx, citizen)


def _requests_or_menu(ctx: Ctx, citizen: Citizen) -> Reply:
    open_requests = request_service.open_for_citizen(
        session=ctx.session, citizen_id=need(citizen.id, "the citizen")
    )
    if not open_requests:
        return ctx.goto("main_menu")
    return lookup.open_requests(ctx, list(reversed(open_requests)))


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
    citizen = ctx.citizen  # a known caller hears their requests in the language chosen
    if citizen is not None:
        return _requests_or_menu(ctx, citizen)
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
        return services.new_visit(ctx)
    if said.digits in ("2", "3"):  # 3 was "change a visit" before both became one choice
        return lookup.start(ctx)
    if said.digits == "8" and len(ctx.offered) > 1:
        return ctx.goto("language")
    return ctx.unclear(said)
