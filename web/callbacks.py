"""The console's call-back queue: callers waiting on the line for a person (transferred by the
IVR, longest waiting first), then open call-backs (oldest first), each with what the caller
gave the line: language, reason, service, village/block/district, their name if known.

A call agent claims a call-back (one person at a time; a claim older than
`dispatch.calls.rules.CLAIM_LAPSES_AFTER` may be taken over), then sees the full number with a
`tel:` link, rings, and either books for the caller (the intake page, which closes the
call-back as booked once the booking is made), releases it to try later, or closes it with an
outcome and a note. Only the holder sees the full number: everyone else sees it masked.

No phone number travels in a URL (an access log would keep it): the links to intake name the
call-back (`/intake?callback=<id>`) or the call on the line (`/intake?call=<call id>`), and the
intake page reads the number from the database — for a call-back only for its holder.
`caller_phone` and `what_they_gave` are shared with the intake page for that.

Routes (each needs `Permission.CALLBACKS`): `GET /callbacks` (the page), `GET /callbacks/list`
(the list alone: the page polls it every 12 s; the holder's forms live outside it, so a
half-typed note survives), `GET /callbacks/count` (a small count for the navigation),
`POST /callbacks/{id}/claim`, `/release`, `/close`, and `GET /callbacks/waiting/{call id}/book`
(a redirect to `/intake?call=<call id>`, kept for links already given out; the list links
there directly).
Plain forms work without JavaScript (each answers with a redirect to the page); with htmx they
answer with the part that changed and the list, out of band.

Not here: claims, outcomes and the queue's contents (`dispatch.calls.queue`); booking
(`web.intake`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from dispatch import validation
from dispatch.calls import queue as callback_queue
from dispatch.calls import rules
from dispatch.calls.models import Callback, CallbackReason, CallSession
from dispatch.calls.rules import CallbackOutcome
from dispatch.errors import DispatchError, InvalidInput, NotFound
from dispatch.ports import Clock
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.states import service as state_service
from dispatch.visits.proof import caller_id_of
from ivr.deps import get_clock
from ivr.progress import Progress
from web.auth import CallbackStaff
from web.deps import ReadSessionDep, RowId, WriteSessionDep
from web.errors import status_for
from web.templating import templates

router = APIRouter()

ClockDep = Annotated[Clock, Depends(get_clock)]
#: How often the page asks for the list again.
POLL_SECONDS = 12
LANGUAGE_NAMES = {"hi": "Hindi", "en": "English", "ur": "Urdu", "ks": "Kashmiri", "doi": "Dogri"}
REASONS = {
    CallbackReason.LONG_WAIT: "Chose a call-back over the wait",
    CallbackReason.NO_WINDOW: "No visit window free",
    CallbackReason.NO_AGENT: "Nobody could take the call",
    CallbackReason.REOFFER: "Visit moved: we could not keep its time — confirm or change it",
}
ON_THE_LINE = "On the line now"
OUTCOMES = frozenset(o.value for o in CallbackOutcome)
DONE = {
    "claimed": "Claimed: the number is yours to ring.",
    "released": "Released: back in the queue.",
    "closed": "Closed.",
}


@dataclass(frozen=True)
class Row:
    """One caller in the queue, as the page shows them."""

    kind: str  # "waiting" (on the line now) or "callback"
    id: int
    since: dt.datetime
    since_local: str
    waited: str
    masked: str
    phone: str | None  # the full number: only for the person holding the call-back
    language: str
    reason: str
    service: str
    place: str
    citizen: str
    claimed_by: str | None  # a username
    mine: bool
    lapsed: bool  # someone's claim that may be taken over
    book_url: str | None
    #: A re-offered visit's request: the call agent confirms or changes its new time there.
    request_url: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"


@dataclass(frozen=True)
class Close:
    """What a close form held, shown again with its problem."""

    outcome: str = ""
    note: str = ""
    reference: str = ""
    error: str = ""


# --- building rows --------------------------------------------------------------------------


def waited(delta: dt.timedelta) -> str:
    """`4 min`, `1 h 05 min`, `2 d 3 h`: how long a caller has waited."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _local(at: dt.datetime, now: dt.datetime, zone: ZoneInfo) -> str:
    here, today = at.astimezone(zone), now.astimezone(zone).date()
    return here.strftime("%H:%M") if here.date() == today else here.strftime("%d %b %H:%M")


def intake_url(*, callback: int | None = None, call: int | None = None) -> str:
    """The intake page for a call-back or a caller on the line, named by id alone: the page
    reads the number, language, service and place from the database (a number in a URL would
    be kept by the access log)."""
    query = {"callback": callback, "call": call}
    return "/intake?" + urlencode({k: v for k, v in query.items() if v is not None})


def caller_phone(call: CallSession, progress: Progress) -> str | None:
    """Where to reach a caller on the line: their caller ID, else a number they keyed in."""
    return caller_id_of(call.from_number) or progress.phone


def what_they_gave(
    session: Session, call: CallSession
) -> tuple[Progress, callback_queue.CallerDetails]:
    """A caller's choices on the line (the IVR's record of them) and the things they name."""
    progress = Progress.from_json(call.data)
    details = callback_queue.caller_details(
        session=session,
        citizen_id=call.citizen_id or progress.citizen_id,
        service_id=progress.service_id,
        address_id=progress.address_id,
        village_id=progress.village_id,
        block_id=progress.block_id,
        district_id=progress.district_id,
    )
    return progress, details


def _waiting_row(session: Session, call: CallSession, now: dt.datetime, zone: ZoneInfo) -> Row:
    progress, details = what_they_gave(session, call)
    phone = caller_phone(call, progress)
    return Row(
        kind="waiting",
        id=call.id or 0,
        since=call.updated_at,
        since_local=_local(call.updated_at, now, zone),
        waited=waited(now - call.updated_at),
        masked=validation.mask_phone(phone) if phone else "withheld",
        phone=None,
        language=LANGUAGE_NAMES.get(call.language, call.language),
        reason=ON_THE_LINE,
        service=details.service.name_en if details.service else "",
        place=details.place,
        citizen=details.citizen.name if details.citizen else "",
        claimed_by=None,
        mine=False,
        lapsed=False,
        book_url=intake_url(call=call.id),
    )


def _callback_row(
    session: Session, callback: Callback, actor: str, now: dt.datetime, zone: ZoneInfo
) -> Row:
    details = callback_queue.caller_details(
        session=session,
        citizen_id=callback.citizen_id,
        service_id=callback.service_id,
        address_id=callback.address_id,
    )
    mine = callback.claimed_by == actor
    reoffer = callback.reason is CallbackReason.REOFFER and callback.request_id is not None
    return Row(
        kind="callback",
        id=callback.id or 0,
        since=callback.created_at,
        since_local=_local(callback.created_at, now, zone),
        waited=waited(now - callback.created_at),
        masked=validation.mask_phone(callback.phone),
        phone=callback.phone if mine else None,
        language=LANGUAGE_NAMES.get(callback.language, callback.language),
        reason=REASONS.get(callback.reason, callback.reason),
        service=details.service.name_en if details.service else "",
        place=details.place,
        citizen=details.citizen.name if details.citizen else "",
        claimed_by=callback_queue.holder_name(callback.claimed_by) if callback.claimed_by else None,
        mine=mine,
        lapsed=callback.claimed_by is not None
        and not mine
        and rules.lapsed(callback.claimed_at, now=now, lapse=rules.CLAIM_LAPSES_AFTER),
        book_url=intake_url(callback=callback.id) if mine and not reoffer else None,
        request_url=f"/requests/{callback.request_id}" if mine and reoffer else None,
    )


def _zone(session: Session, user: StaffUser) -> ZoneInfo:
    return ZoneInfo(state_service.get(session=session, code=user.state_code).timezone)


def _rows(session: Session, user: StaffUser, now: dt.datetime) -> list[Row]:
    """The queue: callers on the line (longest waiting first), then open call-backs (oldest
    first)."""
    zone, actor = _zone(session, user), staff_service.actor_of(user)
    waiting = callback_queue.waiting_calls(session=session, state_code=user.state_code, now=now)
    callbacks = callback_queue.open_callbacks(session=session, state_code=user.state_code)
    return [_waiting_row(session, call, now, zone) for call in waiting] + [
        _callback_row(session, callback, actor, now, zone) for callback in callbacks
    ]


def _own_callback(session: Session, user: StaffUser, callback_id: int) -> Callback:
    """A call-back of the user's state (another state's is not found)."""
    callback = callback_queue.get_callback(session=session, callback_id=callback_id)
    if callback.state_code != user.state_code:
        raise NotFound(callback_queue.CALLBACK, callback_id)
    return callback


# --- responses ------------------------------------------------------------------------------


def _htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _context(session: Session, user: StaffUser, now: dt.datetime) -> dict[str, object]:
    rows = _rows(session, user, now)
    return {
        # Each claim and release form carries the call-back's version: a form sent again after
        # the call-back was released or claimed since does nothing.
        "seen": {
            r.id: callback_queue.callback_version(session=session, callback_id=r.id)
            for r in rows
            if r.kind == "callback"
        },
        "rows": rows,
        "mine": [r for r in rows if r.mine],
        "outcomes": list(CallbackOutcome),
        "poll_seconds": POLL_SECONDS,
        "lapse_minutes": int(rules.CLAIM_LAPSES_AFTER.total_seconds() // 60),
        "forms": {},
        "done": "",
        "error": "",
    }


def _page(
    request: Request,
    session: Session,
    user: StaffUser,
    now: dt.datetime,
    *,
    status: int = 200,
    **extra: object,
) -> HTMLResponse:
    context = {**_context(session, user, now), **extra}
    return templates.TemplateResponse(request, "callbacks/index.html", context, status_code=status)


def _fragment(
    request: Request,
    name: str,
    session: Session,
    user: StaffUser,
    now: dt.datetime,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> HTMLResponse:
    """An htmx answer: `callbacks/<name>` with the list out of band (it changed too)."""
    context = {**_context(session, user, now), "oob": True, **extra}
    return templates.TemplateResponse(
        request, f"callbacks/{name}", context, status_code=status, headers=headers
    )


def _back(done: str) -> RedirectResponse:
    return RedirectResponse(f"/callbacks?done={done}", status_code=303)


# --- pages ----------------------------------------------------------------------------------


@router.get("/callbacks", response_class=HTMLResponse)
def callbacks_page(
    request: Request, user: CallbackStaff, session: ReadSessionDep, clock: ClockDep
) -> HTMLResponse:
    done = request.query_params.get("done", "")
    return _page(request, session, user, clock.now(), done=DONE.get(done, ""))


@router.get("/callbacks/list", response_class=HTMLResponse)
def callbacks_list(
    request: Request, user: CallbackStaff, session: ReadSessionDep, clock: ClockDep
) -> HTMLResponse:
    context = {**_context(session, user, clock.now()), "oob": False}
    return templates.TemplateResponse(request, "callbacks/_list.html", context)


@router.get("/callbacks/count", response_class=HTMLResponse)
def callbacks_count(
    request: Request, user: CallbackStaff, session: ReadSessionDep, clock: ClockDep
) -> HTMLResponse:
    count = callback_queue.queue_length(
        session=session, state_code=user.state_code, now=clock.now()
    )
    return templates.TemplateResponse(request, "callbacks/_count.html", {"count": count})


@router.get("/callbacks/waiting/{call_id}/book")
def book_waiting_caller(
    call_id: RowId, user: CallbackStaff, session: ReadSessionDep
) -> RedirectResponse:
    """The intake page for a caller on the line (it reads what they gave the IVR itself)."""
    call = callback_queue.transferred_call(
        session=session, call_id=call_id, state_code=user.state_code
    )
    return RedirectResponse(intake_url(call=call.id), status_code=303)


# --- commands -------------------------------------------------------------------------------


@router.post("/callbacks/{callback_id}/claim", response_class=HTMLResponse)
def claim(
    request: Request,
    callback_id: RowId,
    user: CallbackStaff,
    session: WriteSessionDep,
    clock: ClockDep,
    seen: Annotated[int | None, Form(ge=0, le=2**63 - 1)] = None,
) -> Response:
    now = clock.now()
    actor = staff_service.actor_of(user)
    try:
        held_already = _own_callback(session, user, callback_id).claimed_by == actor
        callback_queue.claim_callback(
            session=session,
            callback_id=callback_id,
            actor=actor,
            now=now,
            version=seen,
        )
    except DispatchError as exc:
        session.rollback()
        status = status_for(exc)
        if _htmx(request):
            headers = {"HX-Retarget": "#queue-message", "HX-Reswap": "innerHTML"}
            return _fragment(
                request,
                "_message.html",
                session,
                user,
                now,
                status=status,
                headers=headers,
                message=str(exc),
            )
        return _page(request, session, user, now, status=status, error=str(exc))
    if not _htmx(request):
        return _back("claimed")
    if held_already:  # a second click: the card is on the page already
        return _fragment(request, "_list.html", session, user, now)
    row = _mine(session, user, now, callback_id)
    return _fragment(request, "_card_and_list.html", session, user, now, row=row, focus=True)


@router.post("/callbacks/{callback_id}/release", response_class=HTMLResponse)
def release(
    request: Request,
    callback_id: RowId,
    user: CallbackStaff,
    session: WriteSessionDep,
    clock: ClockDep,
    seen: Annotated[int | None, Form(ge=0, le=2**63 - 1)] = None,
) -> Response:
    now = clock.now()
    try:
        _own_callback(session, user, callback_id)
        callback_queue.release_callback(
            session=session,
            callback_id=callback_id,
            actor=staff_service.actor_of(user),
            now=now,
            version=seen,
        )
    except DispatchError as exc:
        session.rollback()
        return _card_error(request, session, user, now, callback_id, exc, Close())
    if not _htmx(request):
        return _back("released")
    return _fragment(request, "_gone.html", session, user, now, message="Released to the queue.")


@router.post("/callbacks/{callback_id}/close", response_class=HTMLResponse)
def close(
    request: Request,
    callback_id: RowId,
    user: CallbackStaff,
    session: WriteSessionDep,
    clock: ClockDep,
    outcome: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    reference: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    now = clock.now()
    typed = Close(outcome=outcome, note=note, reference=reference)
    try:
        _own_callback(session, user, callback_id)
        if outcome not in OUTCOMES:
            raise InvalidInput("outcome", outcome, "choose how the call-back ended")
        closed = callback_queue.close_callback(
            session=session,
            callback_id=callback_id,
            actor=staff_service.actor_of(user),
            outcome=CallbackOutcome(outcome),
            note=note,
            reference=reference,
            now=now,
        )
    except DispatchError as exc:
        session.rollback()
        return _card_error(request, session, user, now, callback_id, exc, typed)
    if not _htmx(request):
        return _back("closed")
    label = CallbackOutcome(closed.outcome).label if closed.outcome else "closed"
    message = f"Closed: {label}." if closed.done_by == staff_service.actor_of(user) else ""
    message = message or f"Already closed by {callback_queue.holder_name(closed.done_by)}."
    return _fragment(request, "_gone.html", session, user, now, message=message)


def _card_error(
    request: Request,
    session: Session,
    user: StaffUser,
    now: dt.datetime,
    callback_id: RowId,
    exc: DispatchError,
    typed: Close,
) -> HTMLResponse:
    """A release or close refused: the card again with what was typed and why (or, when the
    call-back is no longer this person's, a note in its place: its number is not theirs)."""
    status = status_for(exc)
    typed = Close(typed.outcome, typed.note, typed.reference, str(exc))
    if not _htmx(request):
        return _page(
            request, session, user, now, status=status, error=str(exc), forms={callback_id: typed}
        )
    row = _mine(session, user, now, callback_id)
    if row is None:
        return _fragment(
            request, "_gone.html", session, user, now, status=status, message=str(exc), error=True
        )
    return _fragment(
        request, "_card_and_list.html", session, user, now, status=status, row=row, form=typed
    )


def _mine(session: Session, user: StaffUser, now: dt.datetime, callback_id: int) -> Row | None:
    """The call-back's card if it is open and this user holds it (else None)."""
    callback = session.get(Callback, callback_id)
    actor = staff_service.actor_of(user)
    if callback is None or callback.claimed_by != actor or callback.status != "open":
        return None
    return _callback_row(session, callback, actor, now, _zone(session, user))
