"""A channel's visits: windows offered, a request made, its status, moved or cancelled — each
one call to the same domain use case the phone line and the console use
(`dispatch.planning.service.offer_windows`, `dispatch.visits.service.book_visit`,
`visit_status`, `reschedule_visit`, `cancel_visit`), with channel `api` and the actor
`api:<client name>`.

- Offers register the citizen and their address first (find-or-register by phone; an equal
  address is reused), as the phone line and the console do before they offer windows; each
  window goes out as a signed `offer_id` (`dispatch.channels.rules.seal_offer`).
- Commands need an `Idempotency-Key`, namespaced by the client. The request body is recorded
  with it (`dispatch.channels.service.seen` / `remember`): a retry returns the first answer
  with the same status (`Idempotent-Replayed: true`), another body under the same key gets 409.
- An existing request is acted on with the citizen's proof (`dispatch.visits.proof`): the
  phone number the channel verified (`X-Citizen-Phone`) and/or the visit code from their SMS
  (`X-Visit-Code`). A reference that is unknown, of another state, or not proven gets the same
  404, and counts as a failed proof like a wrong code on the phone line: per verified phone
  number (the count the phone line keeps for that caller ID), or per client without one.
  Past the limit, proofs are refused for a while (429 `proofs-locked`).
- The SMS a command queued is sent after the answer, once its transaction has committed.

Not here: reading the catalogue and places (`web.api.reading`), keys and rate limits
(`web.api.access`), problem details (`web.api.problems`).
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Header, Path, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch import validation
from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service
from dispatch.channels import rules as channel_rules
from dispatch.channels import service as channel_service
from dispatch.channels.service import Caller
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import write_session
from dispatch.errors import InvalidInput, InvalidReference, NotFound
from dispatch.geography import service as geography_service
from dispatch.notifications import service as notification_service
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowOffer, WindowTaken
from dispatch.ports import SmsSender
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel
from dispatch.states import service as state_service
from dispatch.states.models import State
from dispatch.visits import proof as visit_proof
from dispatch.visits import rules as visit_rules
from dispatch.visits import service as visits
from dispatch.visits.once import KeyReused
from dispatch.visits.proof import Proof
from dispatch.visits.service import TooLateToChange, VisitResult
from ivr.deps import get_sms_sender
from web.api.access import ClientDep, ClockDep
from web.api.problems import ApiProblem, FieldProblem
from web.api.schemas import (
    CancelIn,
    NewRequestIn,
    Offers,
    OffersIn,
    RequestOut,
    RescheduleIn,
    WindowOut,
)
from web.deps import EngineDep, SettingsDep
from web.intake_page import window_label

log = logging.getLogger(__name__)
router = APIRouter()

#: Windows offered at once (a channel can list more than the phone line can say).
OFFERED_WINDOWS = 6
BOOK, RESCHEDULE, CANCEL = "book", "reschedule", "cancel"

SenderDep = Annotated[SmsSender, Depends(get_sms_sender)]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=channel_rules.IDEMPOTENCY_KEY.pattern,
        description="made by the channel for this command (a UUID), sent again unchanged on "
        "each retry: the command runs once; another body under the same key gets 409",
        examples=["6f1c2a1e-3c4b-4c55-9a57-1f0e8f6e2b10"],
    ),
]
Reference = Annotated[
    str,
    Path(
        min_length=9,
        max_length=24,
        description="the request's reference, e.g. JK-26-000123-7 (spaces and dashes optional)",
        examples=["JK-26-000123-7"],
    ),
]
CitizenPhone = Annotated[
    str | None,
    Header(
        alias="X-Citizen-Phone",
        max_length=20,
        description="the citizen's phone number as the CHANNEL VERIFIED IT (a WhatsApp "
        "sender, an OTP-verified login): never a number a person merely typed in",
        examples=["+919812345678"],
    ),
]
VisitCode = Annotated[
    str | None,
    Header(
        alias="X-Visit-Code",
        pattern=r"^[0-9]{4}$",
        description="the 4-digit visit code from the citizen's confirmation SMS, as they gave it",
        examples=["4821"],
    ),
]

# Beside the 401, 422 and 429 every route may give (`web.api.app.COMMON`).
_COMMAND_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "no `Idempotency-Key` (`idempotency-key-missing`), or not JSON"},
    409: {"description": "`key-reused`, `window-taken`, `too-late` or `conflict`"},
}
_PROVEN_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "`not-found`: no such request, another state's, or the proof does not "
        "match (the same answer for all three; counted as a failed proof)"
    },
}

# Where a domain check's field is in the request, to name it in a problem.
_FIELDS = {
    "phone": "body.citizen.phone",
    "name": "body.citizen.name",
    "language": "body.citizen.language",
    "landmark": "body.address.landmark",
    "lat": "body.address.village_id",
    "lon": "body.address.village_id",
    "village": "body.address.village_id",
    "service": "body.service",
    "offer_id": "body.offer_id",
    "offer": "body.offer_id",
    "request": "body.offer_id",
    "reference": "path.reference",
    "X-Citizen-Phone": "header.x-citizen-phone",
}


def _invalid(exc: InvalidInput) -> ApiProblem:
    """A domain check's refusal, naming the field in the request (never the value)."""
    field = _FIELDS.get(exc.field, exc.field)
    return ApiProblem(
        "invalid-input",
        f"{field}: {exc.reason}.",
        errors=[FieldProblem(field=field, message=exc.reason)],
    )


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
        raise _invalid(exc) from None
    return Offers(
        service=service.code,
        fee_paise=service.total_fee_paise,
        windows=_windows(found, settings, state),
    )


def _windows(found: list[WindowOffer], settings: Settings, state: State) -> list[WindowOut]:
    secret = settings.secret_key.get_secret_value()
    tz = ZoneInfo(state.timezone)
    return [
        WindowOut(
            offer_id=channel_rules.seal_offer(o.to_json(), secret),
            start=o.start,
            end=o.end,
            label=window_label(o.start, o.end, tz),
        )
        for o in found
    ]


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


def _offer(offer_id: str, settings: Settings, now: dt.datetime, district_id: int) -> WindowOffer:
    """The window an `offer_id` stands for: made by this server, for this district, not past."""
    data = channel_rules.open_offer(offer_id, settings.secret_key.get_secret_value())
    try:
        offer = WindowOffer.from_json(data)
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("offer_id", offer_id, "not an offer from /offers") from None
    if offer.district_id != district_id:
        raise InvalidInput(
            "offer_id", offer_id, "this window is for another district: ask for offers again"
        )
    if offer.start <= now:
        raise ApiProblem("window-taken", "That window has begun or passed: ask for offers again.")
    return offer


# --- making a request -------------------------------------------------------------------------


@router.post(
    "/requests",
    response_model=RequestOut,
    status_code=201,
    summary="Make a request",
    tags=["visits"],
    responses={
        **_COMMAND_PROBLEMS,
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
            out = _out(session, result, verified=body.citizen.phone_verified)
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except KeyReused:
        raise _key_reused() from None
    _answered(response, background, engine, sender, result)
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
    offer = _offer(body.offer_id, settings, now, district_id) if body.offer_id else None
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
        raise _key_reused() from None


def _key_reused() -> ApiProblem:
    return ApiProblem(
        "key-reused",
        "This Idempotency-Key was used for another command or another body: make a new key "
        "for a new command.",
    )


# --- an existing request ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Shown:
    """What the channel showed for the citizen: their proof, and whose failures a wrong one
    counts against."""

    proof: Proof
    counted_as: str
    given: bool


def _shown(client: Caller, phone: str | None, code: str | None) -> _Shown:
    verified = None
    if phone:
        try:
            verified = validation.phone(phone, field="X-Citizen-Phone")
        except InvalidInput as exc:
            raise _invalid(exc) from None
    return _Shown(
        proof=Proof(caller_id=verified, visit_code=code),
        counted_as=verified or f"api-client:{client.id}",
        given=bool(verified or code),
    )


def _normalised(client: Caller, reference: str) -> str:
    try:
        return request_rules.parse_reference(reference, default_state=client.state_code)
    except InvalidReference as exc:
        raise _invalid(exc) from None


def _find(
    session: Session,
    settings: Settings,
    client: Caller,
    reference: str,
    shown: _Shown,
    now: dt.datetime,
) -> DoorstepRequest | None:
    """The request, if it is of the client's state and the proof shown is its citizen's; else
    None, with the failure counted (a request asked for with no proof at all counts nothing:
    nothing was guessed)."""
    if visit_proof.locked_out(session=session, settings=settings, caller=shown.counted_as, now=now):
        raise ApiProblem(
            "proofs-locked",
            "Too many wrong visit codes or references lately: try again later, or call the "
            "state's helpline.",
            headers={"Retry-After": str(settings.proof_lockout_minutes * 60)},
        )
    request = None
    if shown.given:
        try:
            request = visit_proof.by_reference(
                session=session,
                reference=reference,
                default_state=client.state_code,
                proof=shown.proof,
            )
        except NotFound:
            request = None
        if request is not None and request.state_code != client.state_code:
            request = None
        if request is None:
            visit_proof.record_failure(
                session=session,
                settings=settings,
                caller=shown.counted_as,
                what="visit code (api)",
                actor=client.actor,
                now=now,
            )
    return request


def _not_found() -> ApiProblem:
    return ApiProblem(
        "not-found",
        "No request with this reference for this citizen's proof (X-Citizen-Phone or "
        "X-Visit-Code).",
    )


@router.get(
    "/requests/{reference}",
    response_model=RequestOut,
    summary="A request's status",
    tags=["visits"],
    responses=_PROVEN_PROBLEMS,
)
def request_status(
    reference: Reference,
    client: ClientDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    x_citizen_phone: CitizenPhone = None,
    x_visit_code: VisitCode = None,
) -> RequestOut:
    """A request's status, window and fee, for its citizen (`X-Citizen-Phone` verified by the
    channel, and/or `X-Visit-Code`)."""
    now = clock.now()
    shown = _shown(client, x_citizen_phone, x_visit_code)
    normalised = _normalised(client, reference)
    out = None
    with write_session(engine) as session:  # a failed proof is recorded
        request = _find(session, settings, client, normalised, shown, now)
        if request is not None:
            assert request.id is not None
            status = visits.visit_status(session=session, request_id=request.id, proof=shown.proof)
            service = catalogue_service.get(session=session, service_id=status.service_id)
            out = RequestOut(
                reference=status.reference,
                service=service.code,
                status=status.status,
                window_start=status.window_start,
                window_end=status.window_end,
                fee_paise=status.fee_paise,
                changeable=status.changeable,
            )
    if out is None:
        raise _not_found()
    return out


@router.get(
    "/requests/{reference}/offers",
    response_model=Offers,
    summary="Windows to move a request to",
    tags=["visits"],
    responses={**_PROVEN_PROBLEMS, 409: {"description": "`too-late` to move it"}},
)
def move_offers(
    reference: Reference,
    client: ClientDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    x_citizen_phone: CitizenPhone = None,
    x_visit_code: VisitCode = None,
) -> Offers:
    """The windows the request's visit could move to (never the one it has), for its citizen."""
    now = clock.now()
    shown = _shown(client, x_citizen_phone, x_visit_code)
    normalised = _normalised(client, reference)
    answer = None
    with write_session(engine) as session:
        request = _find(session, settings, client, normalised, shown, now)
        if request is not None:
            if request.status not in visit_rules.CHANGEABLE:
                raise ApiProblem("too-late", "This request can no longer be moved.")
            state = state_service.get(session=session, code=request.state_code)
            service = catalogue_service.get(session=session, service_id=request.service_id)
            found = planning_service.offer_windows(
                session=session,
                settings=settings,
                address_id=request.address_id,
                service_id=request.service_id,
                language=request.language,
                now=now,
                limit=OFFERED_WINDOWS,
                excluding=visit_rules.current_window(request),
            )
            answer = Offers(
                service=service.code,
                fee_paise=request.fee_paise,
                windows=_windows(found, settings, state),
            )
    if answer is None:
        raise _not_found()
    return answer


@router.post(
    "/requests/{reference}/reschedule",
    response_model=RequestOut,
    summary="Move a request",
    tags=["visits"],
    responses={**_COMMAND_PROBLEMS, **_PROVEN_PROBLEMS},
)
def reschedule(
    reference: Reference,
    body: RescheduleIn,
    idempotency_key: IdempotencyKey,
    client: ClientDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    sender: SenderDep,
    background: BackgroundTasks,
    response: Response,
    x_citizen_phone: CitizenPhone = None,
    x_visit_code: VisitCode = None,
) -> RequestOut:
    """Move the visit to a window from `/requests/{reference}/offers`; the citizen is told by
    SMS. The old window is kept if the new one can no longer be met (409 `window-taken`)."""
    now = clock.now()
    shown = _shown(client, x_citizen_phone, x_visit_code)
    normalised = _normalised(client, reference)
    command = channel_rules.command_key(client.id, idempotency_key)
    asked = {"reference": normalised, **body.model_dump(mode="json")}
    digest = channel_rules.request_digest(RESCHEDULE, asked)

    def run(session: Session, request: DoorstepRequest) -> VisitResult:
        assert request.id is not None
        offer = _offer(body.offer_id, settings, now, request.district_id)
        return visits.reschedule_visit(
            session=session,
            settings=settings,
            idempotency_key=command,
            actor=client.actor,
            request_id=request.id,
            proof=shown.proof,
            offer=offer,
            now=now,
        )

    return _change(
        _Change(engine, settings, client, normalised, shown, now, RESCHEDULE, idempotency_key),
        digest,
        run,
        response,
        background,
        sender,
    )


@router.post(
    "/requests/{reference}/cancel",
    response_model=RequestOut,
    summary="Cancel a request",
    tags=["visits"],
    responses={**_COMMAND_PROBLEMS, **_PROVEN_PROBLEMS},
)
def cancel(
    reference: Reference,
    idempotency_key: IdempotencyKey,
    client: ClientDep,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    sender: SenderDep,
    background: BackgroundTasks,
    response: Response,
    body: Annotated[CancelIn | None, Body()] = None,
    x_citizen_phone: CitizenPhone = None,
    x_visit_code: VisitCode = None,
) -> RequestOut:
    """Cancel the request: out of the plan, the charge waived and anything paid refunded, the
    citizen told by SMS."""
    now = clock.now()
    shown = _shown(client, x_citizen_phone, x_visit_code)
    normalised = _normalised(client, reference)
    command = channel_rules.command_key(client.id, idempotency_key)
    reason = (body.reason if body else "") or f"cancelled by the citizen through {client.name}"
    digest = channel_rules.request_digest(CANCEL, {"reference": normalised, "reason": reason})

    def run(session: Session, request: DoorstepRequest) -> VisitResult:
        assert request.id is not None
        return visits.cancel_visit(
            session=session,
            settings=settings,
            idempotency_key=command,
            actor=client.actor,
            request_id=request.id,
            proof=shown.proof,
            reason=reason,
            now=now,
        )

    return _change(
        _Change(engine, settings, client, normalised, shown, now, CANCEL, idempotency_key),
        digest,
        run,
        response,
        background,
        sender,
    )


@dataclass(frozen=True)
class _Change:
    """A command on an existing request: who asks, about which, with what proof, when."""

    engine: Engine
    settings: Settings
    client: Caller
    reference: str
    shown: _Shown
    now: dt.datetime
    action: str
    key: str


def _change(
    change: _Change,
    digest: str,
    run: Any,
    response: Response,
    background: BackgroundTasks,
    sender: SmsSender,
) -> RequestOut:
    """Replay the first answer under the key, or find the request by its proof and run the use
    case (recording the key with it); a failed proof is recorded even though nothing ran."""
    client = change.client
    result: VisitResult | None = None
    out = None
    try:
        with write_session(change.engine) as session:
            result = channel_service.seen(
                session=session,
                client_id=client.id,
                key=change.key,
                action=change.action,
                digest=digest,
            )
            if result is None:
                request = _find(
                    session, change.settings, client, change.reference, change.shown, change.now
                )
                if request is not None:
                    result = run(session, request)
                    assert result is not None
                    channel_service.remember(
                        session=session,
                        client=client,
                        key=change.key,
                        action=change.action,
                        digest=digest,
                        request_id=result.request_id,
                        now=change.now,
                    )
            if result is not None:
                out = _out(session, result, verified=False)
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except TooLateToChange:
        raise ApiProblem(
            "too-late", "The agent is on the way, or the request is closed: it cannot be changed."
        ) from None
    except WindowTaken:
        raise ApiProblem(
            "window-taken",
            "The live plan can no longer meet that window; the visit keeps its time. Ask for "
            "offers again.",
        ) from None
    except KeyReused:
        raise _key_reused() from None
    if result is None or out is None:
        raise _not_found()
    _answered(response, background, change.engine, sender, result)
    return out


# --- answers ----------------------------------------------------------------------------------


def _out(session: Session, result: VisitResult, *, verified: bool) -> RequestOut:
    request = request_service.get(session=session, request_id=result.request_id)
    service = catalogue_service.get(session=session, service_id=request.service_id)
    # The code goes to the channel only as the phone line speaks it: no SMS could carry it,
    # and the number that booked is the citizen's own (verified by the channel).
    code = result.visit_code if verified and result.message_id is None else None
    return RequestOut(
        reference=result.reference,
        service=service.code,
        status=result.status,
        window_start=result.window_start,
        window_end=result.window_end,
        fee_paise=result.fee_paise,
        changeable=result.status in visit_rules.CHANGEABLE,
        sms_queued=result.message_id is not None,
        visit_code=code,
    )


def _answered(
    response: Response,
    background: BackgroundTasks,
    engine: Engine,
    sender: SmsSender,
    result: VisitResult,
) -> None:
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    elif result.message_id is not None:
        background.add_task(_deliver, engine, sender, result.message_id)


def _deliver(engine: Engine, sender: SmsSender, message_id: int) -> None:
    """Send the SMS once the answer is out and its transaction committed. A failure stays in
    the outbox for the scheduled retry."""
    try:
        notification_service.send(engine=engine, message_id=message_id, sender=sender)
    except Exception as exc:
        # The type and where, not the message: it may quote the citizen's number.
        trace = "".join(traceback.format_tb(exc.__traceback__))
        log.error("api: could not deliver SMS %s: %s\n%s", message_id, type(exc).__name__, trace)
