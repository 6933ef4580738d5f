"""The console's intake: a call agent books a caller on one page, top to bottom, from the keyboard.

1. The caller: their phone (or a request's reference) finds the citizen, with their addresses
   and open requests; an unknown number gets a short register part (name, language).
2. The service: a type-ahead over names and aliases in English, Hindi and Urdu, each
   suggestion with its fee, documents and legal time limit.
3. The address: one of the citizen's, or district -> block -> village pickers and a landmark.
4. "Show windows": the windows the live plan can meet (`dispatch.planning.service.
   offer_windows`, as on the phone line), and "Confirm": one call to the booking use case
   (`dispatch.visits.service.book_visit`, channel console, the agent as actor), then the
   reference and visit code shown big, the fee, and the confirmation SMS queued (sent after
   the answer).

Routes (each needs `Permission.INTAKE`): `GET /intake` (the page; the call-back queue opens it
with `?callback=<id>` or `?call=<call session id>`, and `service=<code>&village=<id>&language=`
may add to them; never a phone number, which an access log would keep: a `phone=` in a query is
dropped — see `web.intake_page`), `POST /intake` (the page again from what the form holds;
writes nothing), `POST /intake/windows` (saves a new citizen or address, then offers windows),
`POST /intake/book`; and htmx fragments `POST /intake/citizen` (posted: it carries a phone
number), `GET /intake/services`, `/intake/blocks`, `/intake/villages`.

Plain forms work without JavaScript; htmx only swaps parts in place. The form carries an
idempotency key made when it is first shown (uuid4), so a form posted twice (a double click, a
browser retry) books once and shows the same booking again. A window taken meanwhile brings
fresh windows and writes nothing. A form for a call-back (`callback=<id>`, a hidden field)
closes it as booked once the booking has committed, in a transaction of its own, so a refusal
(someone else holds it, it is another caller's) never undoes the booking: the result says
whether it was closed, and a retried form finds it closed already.

Not here: the form, the page and its pre-filling (`web.intake_page`); citizens, addresses and
windows from a form (`web.intake_resolve`); the booking itself, windows, citizens' records, the
call-back queue (`dispatch`); the call-back page (`web.callbacks`); a request's page
(`web.requests`).
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.calls import queue as callback_queue
from dispatch.calls.rules import CallbackOutcome
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address, Citizen
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.errors import Conflict, DispatchError, InvalidInput, NotFound
from dispatch.notifications import service as notification_service
from dispatch.planning.service import WindowTaken
from dispatch.ports import Clock, SmsSender
from dispatch.requests.rules import Channel
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.states import service as state_service
from dispatch.states.models import State
from dispatch.visits import service as visits
from dispatch.visits.once import KeyReused
from ivr.deps import get_clock, get_sms_sender
from web.auth import IntakeStaff
from web.deps import EngineDep, ReadSessionDep, SettingsDep, WriteSessionDep
from web.intake_page import (
    KEY,
    Booked,
    CallbackClosing,
    IntakeForm,
    Page,
    Suggested,
    build_page,
    render,
    suggestions,
    window_label,
)
from web.intake_prefill import prefill
from web.intake_resolve import chosen_offer, language_of, resolve, show_offers, windows_for
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter(tags=["intake"])

ClockDep = Annotated[Clock, Depends(get_clock)]
SenderDep = Annotated[SmsSender, Depends(get_sms_sender)]


def _query_form(form: Annotated[IntakeForm, Query()]) -> IntakeForm:
    """The form as a query: without a phone number (a URL lands in access logs; the links name
    a call-back or a call, and the page reads the number from the database)."""
    form.phone = ""
    return form


FormDep = Annotated[IntakeForm, Form()]
QueryDep = Annotated[IntakeForm, Depends(_query_form)]


# --- the page and its parts -----------------------------------------------------------------


@router.get("/intake", response_class=HTMLResponse)
def intake_page(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: QueryDep
) -> HTMLResponse:
    """The page, empty or pre-filled (a call-back, a caller on the line)."""
    state = state_service.get(session=session, code=user.state_code)
    from_call = prefill(session, state, form, user)
    page = build_page(session, state, form, user)
    page.from_call = from_call
    return render(request, page)


@router.post("/intake", response_class=HTMLResponse)
def intake_refresh(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: FormDep
) -> HTMLResponse:
    """The page again from what the form holds (the Find buttons, without JavaScript): looks
    up, writes nothing."""
    state = state_service.get(session=session, code=user.state_code)
    return render(request, build_page(session, state, form, user))


@router.post("/intake/citizen", response_class=HTMLResponse)
def citizen_fragment(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: FormDep
) -> HTMLResponse:
    """Step 1 looked up (htmx; posted, so no phone number lands in an access log): the
    caller's panel and, out of band, their addresses in step 3, their language and, found by
    a reference, their phone in the phone field."""
    state = state_service.get(session=session, code=user.state_code)
    page = build_page(session, state, form, user)
    page.focus = "none"  # the agent is typing here: the cursor stays
    if page.caller.citizen is not None:  # the caller's own defaults, not the last caller's
        form.language = page.caller.citizen.language
        form.address = str(page.caller.addresses[0].id) if page.caller.addresses else "new"
    return templates.TemplateResponse(request, "intake/_citizen_lookup.html", {"p": page})


@router.get("/intake/services", response_class=HTMLResponse)
def services_fragment(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: QueryDep
) -> HTMLResponse:
    """Step 2's suggestions for what was typed so far (htmx)."""
    state = state_service.get(session=session, code=user.state_code)
    context = {"p": Suggested(form, suggestions(session, state, form))}
    return templates.TemplateResponse(request, "intake/_services.html", context)


@router.get("/intake/blocks", response_class=HTMLResponse)
def blocks_fragment(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: QueryDep
) -> HTMLResponse:
    """The blocks of the chosen district, and an empty village picker (htmx)."""
    state = state_service.get(session=session, code=user.state_code)
    form.block_id = form.village_id = None
    return templates.TemplateResponse(
        request, "intake/_blocks_and_villages.html", {"p": build_page(session, state, form, user)}
    )


@router.get("/intake/villages", response_class=HTMLResponse)
def villages_fragment(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: QueryDep
) -> HTMLResponse:
    """The villages of the chosen block (htmx)."""
    state = state_service.get(session=session, code=user.state_code)
    form.village_id = None
    return templates.TemplateResponse(
        request, "intake/_villages.html", {"p": build_page(session, state, form, user)}
    )


# --- windows and the booking ----------------------------------------------------------------


@router.post("/intake/windows", response_class=HTMLResponse)
def show_windows(
    request: Request,
    user: IntakeStaff,
    session: WriteSessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    form: FormDep,
) -> HTMLResponse:
    """Save a new caller or address (as the phone line does before it offers windows), then
    the windows the live plan can meet."""
    state = state_service.get(session=session, code=user.state_code)
    try:
        citizen, address, service = resolve(session, state, form, user)
    except DispatchError as exc:
        session.rollback()
        page = build_page(session, state, form, user)
        page.fail(exc)
        return render(request, page, status_code=422)
    page = build_page(session, state, form, user)
    show_offers(session, settings, state, clock.now(), page, citizen, address, service)
    return render(request, page)


@dataclass
class _Attempt:
    """What a press of Confirm came to: the page to show, and what was booked (if anything)."""

    page: Page
    status_code: int = 200
    booked: Booked | None = None
    message_id: int | None = None


@router.post("/intake/book", response_class=HTMLResponse)
def book(
    request: Request,
    user: IntakeStaff,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    sender: SenderDep,
    background: BackgroundTasks,
    form: FormDep,
) -> HTMLResponse:
    """Confirm: one call to the booking use case. The same form again returns the same
    booking; a window taken meanwhile, or windows shown for another address or service,
    bring fresh windows and nothing is written. Once the booking has committed (its own
    transaction, not a dependency's that would still be open), a call-back the form is for
    is closed as booked (another transaction) and the confirmation SMS goes after the answer."""
    now = clock.now()
    with write_session(engine) as session:
        attempt = _book(session, settings, user, now, form)
    if attempt.booked is not None and form.callback is not None:
        closing = _close_callback(engine, user, form.callback, attempt.booked, now)
        attempt.page.callback_closing = closing
    if attempt.message_id is not None:
        background.add_task(_deliver, engine, sender, attempt.message_id)
    return render(request, attempt.page, status_code=attempt.status_code)


def _book(
    session: Session, settings: Settings, user: StaffUser, now: dt.datetime, form: IntakeForm
) -> _Attempt:
    state = state_service.get(session=session, code=user.state_code)
    if not KEY.fullmatch(form.key):
        page = build_page(session, state, form, user)
        page.error = "This form has expired: the page was reloaded, check it and confirm again."
        return _Attempt(page, 422)
    try:
        citizen, address, service = resolve(session, state, form, user)
        if not form.offer:
            raise InvalidInput("offer", "", "show the windows and choose one")
    except DispatchError as exc:
        return _refused(session, state, form, user, exc)
    assert citizen.id is not None and address.id is not None and service.id is not None
    if form.windows_for != windows_for(citizen, address, service):
        message = (
            "The address or service changed after the windows were shown: choose a window again."
        )
        found = (citizen, address, service)
        return _fresh_windows(session, settings, state, now, form, user, found, message)
    try:
        offer = chosen_offer(session, form.offer, address)
        booked = visits.book_visit(
            session=session,
            settings=settings,
            idempotency_key=f"console:{user.id}:{form.key}",
            actor=staff_service.actor_of(user),
            channel=Channel.CONSOLE,
            state_code=state.code,
            citizen_id=citizen.id,
            address_id=address.id,
            service_id=service.id,
            offer=offer,
            language=language_of(state, form, citizen),
            now=now,
        )
    except WindowTaken:
        session.rollback()
        message = "That window has just been taken: choose another."
        found = (citizen, address, service)
        return _fresh_windows(session, settings, state, now, form, user, found, message)
    except KeyReused:
        session.rollback()
        page = build_page(session, state, form, user)
        page.error = "This form has already booked a request: press “Next caller” to start another."
        return _Attempt(page, 409)
    except DispatchError as exc:
        return _refused(session, state, form, user, exc)
    log.info("intake: %s booked request %s", user.username, booked.request_id)
    page = build_page(session, state, form, user)
    page.result = Booked(
        request_id=booked.request_id,
        reference=booked.reference,
        visit_code=booked.visit_code or "",
        service=service.name_en,
        window=window_label(booked.window_start, booked.window_end, ZoneInfo(state.timezone), now),
        fee_paise=booked.fee_paise,
        sms_queued=booked.message_id is not None,
        replayed=booked.replayed,
    )
    return _Attempt(page, booked=page.result, message_id=booked.message_id)


def _refused(
    session: Session, state: State, form: IntakeForm, user: StaffUser, exc: DispatchError
) -> _Attempt:
    session.rollback()
    page = build_page(session, state, form, user)
    page.fail(exc)
    return _Attempt(page, 422)


def _fresh_windows(
    session: Session,
    settings: Settings,
    state: State,
    now: dt.datetime,
    form: IntakeForm,
    user: StaffUser,
    found: tuple[Citizen, Address, Service],
    message: str,
) -> _Attempt:
    """Windows offered afresh (nothing booked), with why."""
    citizen, address, service = found
    page = build_page(session, state, form, user)
    show_offers(session, settings, state, now, page, citizen, address, service)
    page.error = message
    return _Attempt(page, 409)


# --- after the booking ----------------------------------------------------------------------


def _close_callback(
    engine: Engine, user: StaffUser, callback_id: int, booked: Booked, now: dt.datetime
) -> CallbackClosing:
    """Close the call-back the booking was for, as booked with its reference, in a transaction
    of its own after the booking's. Never raises: the booking stands whatever happens here, and
    the words say what did."""
    actor = staff_service.actor_of(user)
    named = f"Call-back #{callback_id}"
    try:
        with write_session(engine) as session:
            closed = callback_queue.close_booked(
                session=session,
                callback_id=callback_id,
                state_code=user.state_code,
                request_id=booked.request_id,
                actor=actor,
                now=now,
            )
    except Conflict:
        with read_session(engine) as session:
            callback = callback_queue.get_callback(session=session, callback_id=callback_id)
        holder = callback_queue.holder_name(callback.claimed_by)
        return CallbackClosing(
            False,
            f"{named} not closed: it is claimed by {holder}. The booking stands; "
            f"{holder} closes the call-back.",
        )
    except NotFound:
        return CallbackClosing(False, f"{named} not found: there was nothing to close.")
    except InvalidInput as exc:
        return CallbackClosing(
            False, f"{named} not closed: {exc.reason}. Close it on the call-backs page."
        )
    except Exception as exc:
        # The booking has committed: say so and carry on. The type and where, not the message
        # (it may quote the caller's number).
        trace = "".join(traceback.format_tb(exc.__traceback__))
        log.error("could not close call-back %s: %s\n%s", callback_id, type(exc).__name__, trace)
        return CallbackClosing(
            False, f"{named} could not be closed just now: close it on the call-backs page."
        )
    if closed.done_by == actor and closed.outcome == CallbackOutcome.BOOKED:
        return CallbackClosing(True, f"{named} closed as booked ({booked.reference}).")
    how = CallbackOutcome(closed.outcome).label.lower() if closed.outcome else "closed"
    by = callback_queue.holder_name(closed.done_by)
    return CallbackClosing(True, f"{named} was already closed by {by} ({how}).")


def _deliver(engine: Engine, sender: SmsSender, message_id: int) -> None:
    """Send the confirmation after the answer went out and its transaction committed. A
    failure stays in the outbox for the scheduled retry; the agent never waits for it."""
    try:
        notification_service.send(engine=engine, message_id=message_id, sender=sender)
    except Exception as exc:
        # The type and where, not the message: it may quote the citizen's number.
        trace = "".join(traceback.format_tb(exc.__traceback__))
        log.error("could not deliver SMS %s: %s\n%s", message_id, type(exc).__name__, trace)
