"""Domain things as the caller hears them: service and place names, documents, a request's
status, in the caller's language (or the Hindi voice where a language has no words for it)."""

from __future__ import annotations

from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address
from dispatch.geography import service as geography_service
from dispatch.geography.models import PlaceNames
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from ivr.flow import Ctx
from ivr.prompts import P, Spoken, Value

STATUS_WORDS = {
    RequestStatus.LOGGED: P.STATUS_LOGGED,
    RequestStatus.SCHEDULED: P.STATUS_SCHEDULED,
    RequestStatus.ASSIGNED: P.STATUS_ASSIGNED,
    RequestStatus.EN_ROUTE: P.STATUS_EN_ROUTE,
    RequestStatus.ARRIVED: P.STATUS_ARRIVED,
    RequestStatus.COMPLETED: P.STATUS_COMPLETED,
    RequestStatus.FAILED: P.STATUS_FAILED,
    RequestStatus.NO_SHOW: P.STATUS_NO_SHOW,
    RequestStatus.CANCELLED: P.STATUS_CANCELLED,
    RequestStatus.RESCHEDULED: P.STATUS_RESCHEDULED,
}

#: Statuses in which the visit time is worth saying.
_WITH_WINDOW = frozenset({RequestStatus.SCHEDULED, RequestStatus.ASSIGNED, RequestStatus.EN_ROUTE})


def service_name(ctx: Ctx, service: Service) -> Value:
    """Hindi and English names as they are; Urdu's own name or else the Hindi one in the
    Hindi voice (which also speaks for recorded-only languages)."""
    if ctx.lang == "en":
        return service.name_en
    if ctx.lang == "hi":
        return service.name_hi
    if ctx.lang == "ur" and service.name_ur:
        return service.name_ur
    return Spoken(service.name_hi, "hi")


def service_text(ctx: Ctx, service: Service) -> str:
    """The service's name as written in the caller's language (speech recognition hints)."""
    name = service_name(ctx, service)
    return name.text if isinstance(name, Spoken) else str(name)


def place_name(ctx: Ctx, place: PlaceNames) -> str:
    """A district, block or village as the caller's language writes it: Devanagari for Hindi
    (and the Hindi voice of recorded languages), Urdu script for Urdu, else the Latin name."""
    return place.name_in(ctx.value_lang)


def documents(ctx: Ctx, service: Service) -> Value | None:
    """The documents to keep ready, listed with "and"; None if the service needs none. Only
    English and Hindi lists exist; other languages hear the Hindi list in the Hindi voice."""
    if ctx.lang == "en":
        items, lang = service.documents_en, "en"
    else:
        items, lang = service.documents_hi or service.documents_en, "hi"
    if not items:
        return None
    word_and = ctx.prompts.text(P.WORD_AND, lang)
    text = items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word_and} {items[-1]}"
    return text if lang == ctx.lang else Spoken(text, lang)


def place(ctx: Ctx, address: Address) -> str:
    """ "Village, near landmark" (the landmark in the caller's own words)."""
    village = geography_service.get_village(session=ctx.session, village_id=address.village_id)
    if not address.landmark:
        return place_name(ctx, village)
    return ctx.prompts.text(
        P.PLACE_NEAR, ctx.value_lang, village=place_name(ctx, village), landmark=address.landmark
    )


def status(ctx: Ctx, request: DoorstepRequest) -> str:
    """The request's status in words, with the visit window when one is fixed."""
    words = ctx.prompts.text(STATUS_WORDS[request.status], ctx.value_lang)
    if request.status in _WITH_WINDOW and request.window_start and request.window_end:
        window = ctx.speech.window(request.window_start, request.window_end, now=ctx.now)
        return f"{words}, {window}"
    return words
