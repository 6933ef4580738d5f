"""A channel acting on an existing request for its citizen: its status, the windows it could
move to, moving it, cancelling it — each through the same use case as the phone line and the
console (`dispatch.visits.service.visit_status`, `reschedule_visit`, `cancel_visit`).

The citizen's proof comes in headers (`dispatch.visits.proof`): the phone number the channel
verified (`X-Citizen-Phone`) and/or the visit code from their SMS (`X-Visit-Code`). A
reference that is unknown, of another state, or not proven gets the same 404. When a proof was
shown, that 404 counts as a failed proof like a wrong code on the phone line: against the
client always, and against the verified phone number too when one was sent (the count the
phone line keeps for that caller ID); a 404 with no proof header counts nothing. Past either
allowance (the client's is `rules.CLIENT_PROOFS_FACTOR` times a phone number's, so that a
channel cannot buy guesses by sending a new number each time), proofs are refused until the
count falls back (429 `proofs-locked`, `Retry-After` the seconds left). Moving and cancelling
need an `Idempotency-Key` like every command (`web.api.commands`).

Not here: a new request (`web.api.booking`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Header, Path, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch import validation
from dispatch.catalogue import service as catalogue_service
from dispatch.channels import rules as channel_rules
from dispatch.channels import service as channel_service
from dispatch.channels.service import Caller
from dispatch.config import Settings
from dispatch.db import write_session
from dispatch.errors import InvalidInput, InvalidReference, NotFound
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowTaken
from dispatch.ports import SmsSender
from dispatch.requests import rules as request_rules
from dispatch.requests.models import DoorstepRequest
from dispatch.states import service as state_service
from dispatch.visits import proof as visit_proof
from dispatch.visits import rules as visit_rules
from dispatch.visits import service as visits
from dispatch.visits.once import KeyReused
from dispatch.visits.proof import Proof
from dispatch.visits.service import TooLateToChange, VisitResult
from web.api.access import ClientDep, ClockDep
from web.api.commands import (
    CANCEL,
    COMMAND_PROBLEMS,
    OFFERED_WINDOWS,
    RESCHEDULE,
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
from web.api.schemas import CancelIn, Offers, RequestOut, RescheduleIn
from web.deps import EngineDep, SettingsDep

router = APIRouter()

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


_PROVEN_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "`not-found`: no such request, another state's, or the proof does not "
        "match (the same answer for all three). Counted as a failed proof (against the client, "
        "and the phone number sent) when `X-Citizen-Phone` or `X-Visit-Code` was sent"
    },
}


@dataclass(frozen=True)
class _Shown:
    """What the channel showed for the citizen: their proof, and the verified phone number a
    wrong one counts against besides the client."""

    proof: Proof
    phone: str | None
    given: bool


def _shown(phone: str | None, code: str | None) -> _Shown:
    verified = None
    if phone:
        try:
            verified = validation.phone(phone, field="X-Citizen-Phone")
        except InvalidInput as exc:
            raise invalid(exc) from None
    return _Shown(
        proof=Proof(caller_id=verified, visit_code=code),
        phone=verified,
        given=bool(verified or code),
    )


def _normalised(client: Caller, reference: str) -> str:
    try:
        return request_rules.parse_reference(reference, default_state=client.state_code)
    except InvalidReference as exc:
        raise invalid(exc) from None


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
    wait = channel_service.proofs_locked_for(
        session=session, settings=settings, client_id=client.id, phone=shown.phone, now=now
    )
    if wait:
        raise ApiProblem(
            "proofs-locked",
            "Too many wrong visit codes or references lately: try again later, or call the "
            "state's helpline.",
            headers={"Retry-After": str(wait)},
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
            channel_service.proof_failed(
                session=session, settings=settings, client=client, phone=shown.phone, now=now
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
    shown = _shown(x_citizen_phone, x_visit_code)
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
    shown = _shown(x_citizen_phone, x_visit_code)
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
                windows=windows(found, settings, state),
            )
    if answer is None:
        raise _not_found()
    return answer


@router.post(
    "/requests/{reference}/reschedule",
    response_model=RequestOut,
    summary="Move a request",
    tags=["visits"],
    responses={**COMMAND_PROBLEMS, **_PROVEN_PROBLEMS},
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
    shown = _shown(x_citizen_phone, x_visit_code)
    normalised = _normalised(client, reference)
    command = channel_rules.command_key(client.id, idempotency_key)
    asked = {"reference": normalised, **body.model_dump(mode="json")}
    digest = channel_rules.request_digest(RESCHEDULE, asked)

    def run(session: Session, request: DoorstepRequest) -> VisitResult:
        assert request.id is not None
        offer = offer_from(body.offer_id, settings, now, request.district_id)
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
    responses={**COMMAND_PROBLEMS, **_PROVEN_PROBLEMS},
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
    citizen told by SMS. The body is optional: none, `null` or `{}` cancel with a reason that
    names the channel."""
    now = clock.now()
    shown = _shown(x_citizen_phone, x_visit_code)
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
                out = request_out(session, result, verified=False)
    except InvalidInput as exc:
        raise invalid(exc) from None
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
        raise key_reused() from None
    if result is None or out is None:
        raise _not_found()
    answered(response, background, change.engine, sender, result)
    return out
