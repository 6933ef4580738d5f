"""A new request from a channel: the windows the live plan can meet (`POST /offers`), then the
request itself (`POST /requests`) — one call each to the phone line's own use cases
(`dispatch.planning.service.offer_windows`, `dispatch.visits.service.book_visit`), channel
`api`, actor `api:<client name>`.

Offers register the citizen and their address first (found again by phone; an equal address
is reused), as the phone line and the console do before they offer windows; each window goes
out as a signed `offer_id`. A request needs an `Idempotency-Key`, namespaced by the client;
the whole body is recorded with it (`dispatch.channels.service.seen` / `remember`): a retry
returns the first answer with the same status, another body under the same key gets 409.
The confirmation SMS is sent after the answer, once its transaction has committed.

Not here: what commands share (`web.api.commands`), an existing request (`web.api.existing`).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, BackgroundTasks, Response
from sqlmodel import Session

from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service
from dispatch.channels import rules as channel_rules
from dispatch.channels import service as channel_service
from dispatch.channels.service import Caller
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import write_session
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowTaken
from dispatch.requests.rules import Channel
from dispatch.states import service as state_service
from dispatch.states.models import State
from dispatch.visits import service as visits
from dispatch.visits.once import KeyReused
from dispatch.visits.service import VisitResult
from web.api.access import ClientDep, ClockDep
from web.api.commands import (
    BOOK,
    COMMAND_PROBLEMS,
    OFFERED_WINDOWS,
    IdempotencyKey,
    SenderDep,
    answered,
    invalid,
    key_reused,
    offer_from,
    request_out,
    windows,
)
from web.api.problems import ApiProblem
from web.api.schemas import (
    NewRequestIn,
    Offers,
    OffersIn,
    RequestOut,
)
from web.deps import EngineDep, SettingsDep

router = APIRouter()


# --- offers -----------------------------------------------------------------------------------


@router.post(
    "/offers",
    response_model=Offers,
    summary="Windows for a new request",
    tags=["visits"],
    responses={400: {"description": "the body is not JSON (`bad-request`)"}},
)
def offers(
    body: OffersIn,
    client: ClientDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> Offers:
    """The earliest windows the live plan can meet for this service at this address (from the
    same planning service as the phone line). The citizen and their address are registered
    first (found again by phone; an equal address is reused), as on the phone line."""
    now = clock.now()
    try:
        with write_session(engine) as session:
            state = state_service.get(session=session, code=client.state_code)
            service = _service(session, state, body.service)
            language = _language(state, body.citizen.language)
            _village_in(session, state, body.address.village_id)
            _, address = citizen_service.register_with_address(
                session=session,
                state_code=state.code,
                phone=body.citizen.phone,
                village_id=body.address.village_id,
                landmark=body.address.landmark,
                language=language,
                proven=body.citizen.phone_verified,
                actor=client.actor,
            )
            assert address.id is not None and service.id is not None
            found = planning_service.offer_windows(
                session=session,
                settings=settings,
                address_id=address.id,
                service_id=service.id,
                language=language,
                now=now,
                limit=OFFERED_WINDOWS,
            )
    except InvalidInput as exc:
        raise invalid(exc) from None
    return Offers(
        service=service.code,
        fee_paise=service.total_fee_paise,
        windows=windows(found, settings, state),
    )


def _service(session: Session, state: State, code: str) -> Service:
    try:
        service = catalogue_service.get_by_code(session=session, state_code=state.code, code=code)
    except NotFound:
        raise InvalidInput("service", code, "not in the catalogue (see /catalogue)") from None
    if not service.active:
        raise InvalidInput("service", code, "not offered now (see /catalogue)")
    return service


def _language(state: State, language: str) -> str:
    if language not in state.languages:
        raise InvalidInput(
            "language", language, f"not spoken here: one of {', '.join(state.languages)}"
        )
    return language


def _village_in(session: Session, state: State, village_id: int) -> int:
    """The village's district, if the village is in the state."""
    try:
        place = geography_service.place_of_village(session=session, village_id=village_id)
    except NotFound:
        raise InvalidInput("village", village_id, "no such village (see /places)") from None
    if place.district.state_code != state.code:
        raise InvalidInput("village", village_id, "no such village in this state (see /places)")
    assert place.district.id is not None
    return place.district.id


# --- making a request -------------------------------------------------------------------------


@router.post(
    "/requests",
    response_model=RequestOut,
    status_code=201,
    summary="Make a request",
    tags=["visits"],
    responses={
        **COMMAND_PROBLEMS,
        201: {
            "description": "the request, booked into the window (or logged without one); the "
            "same answer again for a retry with the same `Idempotency-Key`",
            "headers": {
                "Location": {"description": "the request's status", "schema": {"type": "string"}},
                "Idempotent-Replayed": {
                    "description": "`true` on a retry's answer",
                    "schema": {"type": "string"},
                },
            },
        },
    },
)
def create_request(
    body: NewRequestIn,
    idempotency_key: IdempotencyKey,
    client: ClientDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    sender: SenderDep,
    background: BackgroundTasks,
    response: Response,
) -> RequestOut:
    """Make a request for a citizen: logged with its charge, booked into the chosen window
    of the live plan, a visit code drawn, and the confirmation SMS (reference, window, fee,
    visit code, documents) queued to the citizen — the phone line's own booking use case."""
    now = clock.now()
    command = channel_rules.command_key(client.id, idempotency_key)
    digest = channel_rules.request_digest(BOOK, body.model_dump(mode="json"))
    try:
        with write_session(engine) as session:
            result = channel_service.seen(
                session=session,
                client_id=client.id,
                key=idempotency_key,
                action=BOOK,
                digest=digest,
            )
            if result is None:
                result = _book(session, settings, client, body, command, now)
                channel_service.remember(
                    session=session,
                    client=client,
                    key=idempotency_key,
                    action=BOOK,
                    digest=digest,
                    request_id=result.request_id,
                    now=now,
                )
            out = request_out(session, result, verified=body.citizen.phone_verified)
    except InvalidInput as exc:
        raise invalid(exc) from None
    except KeyReused:
        raise key_reused() from None
    answered(response, background, engine, sender, result)
    response.headers["Location"] = f"/api/v1/requests/{result.reference}"
    return out


def _book(
    session: Session,
    settings: Settings,
    client: Caller,
    body: NewRequestIn,
    command: str,
    now: dt.datetime,
) -> VisitResult:
    state = state_service.get(session=session, code=client.state_code)
    service = _service(session, state, body.service)
    language = _language(state, body.citizen.language)
    district_id = _village_in(session, state, body.address.village_id)
    offer = offer_from(body.offer_id, settings, now, district_id) if body.offer_id else None
    citizen, address = citizen_service.register_with_address(
        session=session,
        state_code=state.code,
        phone=body.citizen.phone,
        village_id=body.address.village_id,
        landmark=body.address.landmark,
        name=body.citizen.name,
        language=language,
        proven=body.citizen.phone_verified,
        actor=client.actor,
    )
    assert citizen.id is not None and address.id is not None and service.id is not None
    try:
        return visits.book_visit(
            session=session,
            settings=settings,
            idempotency_key=command,
            actor=client.actor,
            channel=Channel.API,
            state_code=state.code,
            citizen_id=citizen.id,
            address_id=address.id,
            service_id=service.id,
            offer=offer,
            language=language,
            now=now,
        )
    except WindowTaken:
        raise ApiProblem(
            "window-taken", "The live plan can no longer meet that window: ask for offers again."
        ) from None
    except KeyReused:
        raise key_reused() from None
