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

Routes (each needs `Permission.INTAKE`): `GET /intake` (the page; a call-back or transfer opens
it pre-filled: `?callback=<id>` takes the call-back's phone, language, service and address, and
`phone=&service=<code>&village=<id>&language=` may add to or stand for it — but a phone number
in a URL lands in access logs, so links should name the call-back), `POST /intake` (the page
again from what the form holds; writes nothing), `POST /intake/windows` (saves a new citizen or
address, then offers windows), `POST /intake/book`; and htmx fragments `POST /intake/citizen`
(posted: it carries a phone number), `GET /intake/services`, `/intake/blocks`,
`/intake/villages`.

Plain forms work without JavaScript; htmx only swaps parts in place. The form carries an
idempotency key made when it is first shown (uuid4), so a form posted twice (a double click, a
browser retry) books once and shows the same booking again. A window taken meanwhile brings
fresh windows and writes nothing.

Not here: the booking itself, windows, citizens' records (`dispatch`); the call-back queue
(`web.callbacks`); a request's page (`web.requests`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch import validation
from dispatch.calls.models import Callback
from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service
from dispatch.catalogue.service import Suggestion
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Address, Citizen
from dispatch.config import Settings
from dispatch.db import write_session
from dispatch.errors import DispatchError, InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.geography.models import Block, District, Village
from dispatch.notifications import service as notification_service
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowOffer, WindowTaken
from dispatch.ports import Clock, SmsSender
from dispatch.requests import service as request_service
from dispatch.requests.rules import KEYPAD_DIGITS, Channel
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.states import service as state_service
from dispatch.states.models import State
from dispatch.visits import service as visits
from dispatch.visits.once import KeyReused
from ivr.deps import get_clock, get_sms_sender
from web.auth import IntakeStaff
from web.deps import EngineDep, ReadSessionDep, SettingsDep, WriteSessionDep
from web.templating import templates

log = logging.getLogger(__name__)
router = APIRouter(tags=["intake"])

ClockDep = Annotated[Clock, Depends(get_clock)]
SenderDep = Annotated[SmsSender, Depends(get_sms_sender)]

#: Windows offered at once (as on the phone line).
OFFERED_WINDOWS = 3
#: Suggestions the type-ahead shows.
SUGGESTIONS = 6
#: Digits of an Indian mobile number: fewer is still being typed.
PHONE_DIGITS = 10
#: The offer value that logs a request without a window (only when none can be met).
LATER = "later"
_KEY = re.compile(r"[0-9a-f]{32}")

LANGUAGE_NAMES: dict[str, str] = {
    "hi": "Hindi · हिन्दी",
    "en": "English",
    "ur": "Urdu · اردو",
    "ks": "Kashmiri · كٲشُر",
    "doi": "Dogri · डोगरी",
    "pa": "Punjabi · ਪੰਜਾਬੀ",
}


def _blank_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


OptionalId = Annotated[int | None, BeforeValidator(_blank_none), Field(default=None, ge=1)]


class IntakeForm(BaseModel):
    """Everything the page holds; the same fields come as a form or, pre-filled, a query."""

    key: str = Field("", max_length=64)
    phone: str = Field("", max_length=32)
    reference: str = Field("", max_length=32)
    name: str = Field("", max_length=120)
    language: str = Field("", max_length=8)
    senior: bool = False
    disabled: bool = False
    #: The caller books for a number they are not calling from (the address is then kept for
    #: this request and never offered back as the citizen's own on the phone line).
    other_number: bool = False
    service_q: str = Field("", max_length=120)
    #: The text the listed suggestions were made for: another text means the choice is stale
    #: (Enter pressed before the type-ahead answered), and the best match for it is taken.
    suggested_for: str = Field("", max_length=120)
    service_id: OptionalId
    #: A known address's id, or "new" (the pickers below).
    address: str = Field("", max_length=12)
    district_id: OptionalId
    block_id: OptionalId
    village_id: OptionalId
    landmark: str = Field("", max_length=200)
    #: The chosen window: a `WindowOffer` as JSON, or `LATER`.
    offer: str = Field("", max_length=600)
    #: "citizen:address:service" the windows shown were offered for.
    windows_for: str = Field("", max_length=60)
    callback: OptionalId
    #: Pre-fill only: a service code and a village id (a call-back's or transfer's).
    service: str = Field("", max_length=48)
    village: OptionalId


FormDep = Annotated[IntakeForm, Form()]
QueryDep = Annotated[IntakeForm, Query()]


# --- what the page shows --------------------------------------------------------------------


@dataclass(frozen=True)
class KnownAddress:
    id: int
    place: str
    landmark: str


@dataclass(frozen=True)
class OpenRequest:
    id: int
    reference: str
    service: str
    status: str
    window: str


@dataclass
class Caller:
    """Step 1: who is calling, as far as the page knows."""

    citizen: Citizen | None = None
    phone: str = ""  # E.164 once valid
    error: str = ""
    found_by_reference: bool = False
    addresses: list[KnownAddress] = field(default_factory=list)
    open_requests: list[OpenRequest] = field(default_factory=list)


@dataclass(frozen=True)
class ShownOffer:
    value: str
    label: str


@dataclass(frozen=True)
class Booked:
    request_id: int
    reference: str
    visit_code: str
    service: str
    window: str
    fee_paise: int
    sms_queued: bool
    replayed: bool


@dataclass
class Page:
    form: IntakeForm
    caller: Caller
    suggestions: list[Suggestion]
    districts: list[District]
    blocks: list[Block]
    villages: list[Village]
    languages: list[tuple[str, str]]
    offers: list[ShownOffer] = field(default_factory=list)
    no_window: bool = False
    error: str = ""
    notice: str = ""
    result: Booked | None = None

    #: The id of the field the cursor goes to: the one an error names, else the next to fill.
    focus: str = ""

    def language_name(self, code: str) -> str:
        return LANGUAGE_NAMES.get(code, code)

    @property
    def focus_id(self) -> str:
        if self.focus:
            return self.focus
        if self.offers or self.no_window:
            return "offer"
        if not self.caller.phone:
            return "phone"
        if self.caller.citizen is None and not self.form.name:
            return "name"
        if self.form.service_id is None:
            return "service_q"
        if self.form.address == "new" and self.form.village_id is None:
            return "district_id"
        return "show-windows"

    def fail(self, exc: DispatchError) -> None:
        """Say what is wrong, and put the cursor where it can be put right."""
        self.error = _problem(exc)
        field_name = exc.field if isinstance(exc, InvalidInput) else ""
        self.focus = _FIELD_IDS.get(field_name, "")


# --- the routes ---------------------------------------------------------------------------------


@router.get("/intake", response_class=HTMLResponse)
def intake_page(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: QueryDep
) -> HTMLResponse:
    """The page, empty or pre-filled (a call-back, a transfer)."""
    state = state_service.get(session=session, code=user.state_code)
    _prefill(session, state, form)
    return _render(request, _page(session, state, form))


@router.post("/intake", response_class=HTMLResponse)
def intake_refresh(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: FormDep
) -> HTMLResponse:
    """The page again from what the form holds (the Find buttons, without JavaScript): looks
    up, writes nothing."""
    state = state_service.get(session=session, code=user.state_code)
    return _render(request, _page(session, state, form))


@router.post("/intake/citizen", response_class=HTMLResponse)
def citizen_fragment(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: FormDep
) -> HTMLResponse:
    """Step 1 looked up (htmx; posted, so no phone number lands in an access log): the
    caller's panel and, out of band, their addresses in step 3, their language and, found by
    a reference, their phone in the phone field."""
    state = state_service.get(session=session, code=user.state_code)
    page = _page(session, state, form)
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
    suggestions = _suggestions(session, state, form)
    context = {"p": _Suggested(form, suggestions)}
    return templates.TemplateResponse(request, "intake/_services.html", context)


@router.get("/intake/blocks", response_class=HTMLResponse)
def blocks_fragment(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: QueryDep
) -> HTMLResponse:
    """The blocks of the chosen district, and an empty village picker (htmx)."""
    state = state_service.get(session=session, code=user.state_code)
    form.block_id = form.village_id = None
    return templates.TemplateResponse(
        request, "intake/_blocks_and_villages.html", {"p": _page(session, state, form)}
    )


@router.get("/intake/villages", response_class=HTMLResponse)
def villages_fragment(
    request: Request, user: IntakeStaff, session: ReadSessionDep, form: QueryDep
) -> HTMLResponse:
    """The villages of the chosen block (htmx)."""
    state = state_service.get(session=session, code=user.state_code)
    form.village_id = None
    return templates.TemplateResponse(
        request, "intake/_villages.html", {"p": _page(session, state, form)}
    )


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
        citizen, address, service = _resolve(session, state, form, user)
    except DispatchError as exc:
        session.rollback()
        page = _page(session, state, form)
        page.fail(exc)
        return _render(request, page, status_code=422)
    page = _page(session, state, form)
    _show_offers(session, settings, state, clock.now(), page, citizen, address, service)
    return _render(request, page)


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
    bring fresh windows and nothing is written. The confirmation SMS goes after the answer,
    once the booking is committed (its own transaction, not a dependency's that would still
    be open)."""
    with write_session(engine) as session:
        response, message_id = _book(request, session, settings, user, clock.now(), form)
    if message_id is not None:
        background.add_task(_deliver, engine, sender, message_id)
    return response


def _book(
    request: Request,
    session: Session,
    settings: Settings,
    user: StaffUser,
    now: dt.datetime,
    form: IntakeForm,
) -> tuple[HTMLResponse, int | None]:
    state = state_service.get(session=session, code=user.state_code)
    if not _KEY.fullmatch(form.key):
        page = _page(session, state, form)
        page.error = "This form has expired: the page was reloaded, check it and confirm again."
        return _render(request, page, status_code=422), None
    try:
        citizen, address, service = _resolve(session, state, form, user)
        if not form.offer:
            raise InvalidInput("offer", "", "show the windows and choose one")
    except DispatchError as exc:
        session.rollback()
        page = _page(session, state, form)
        page.fail(exc)
        return _render(request, page, status_code=422), None
    assert citizen.id is not None and address.id is not None and service.id is not None
    if form.windows_for != _windows_for(citizen, address, service):
        return _fresh_windows(
            request,
            session,
            settings,
            state,
            now,
            form,
            citizen,
            address,
            service,
            "The address or service changed after the windows were shown: choose a window again.",
        ), None
    try:
        offer = _chosen_offer(session, form.offer, address)
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
            language=_language(state, form, citizen),
            now=now,
        )
    except WindowTaken:
        session.rollback()
        return _fresh_windows(
            request,
            session,
            settings,
            state,
            now,
            form,
            citizen,
            address,
            service,
            "That window has just been taken: choose another.",
        ), None
    except KeyReused:
        session.rollback()
        page = _page(session, state, form)
        page.error = "This form has already booked a request: press “Next caller” to start another."
        return _render(request, page, status_code=409), None
    except DispatchError as exc:
        session.rollback()
        page = _page(session, state, form)
        page.fail(exc)
        return _render(request, page, status_code=422), None
    log.info("intake: %s booked request %s", user.username, booked.request_id)
    tz = ZoneInfo(state.timezone)
    page = _page(session, state, form)
    page.result = Booked(
        request_id=booked.request_id,
        reference=booked.reference,
        visit_code=booked.visit_code or "",
        service=service.name_en,
        window=_window_label(booked.window_start, booked.window_end, tz, now),
        fee_paise=booked.fee_paise,
        sms_queued=booked.message_id is not None,
        replayed=booked.replayed,
    )
    return _render(request, page), booked.message_id


# --- building the page --------------------------------------------------------------------------


@dataclass
class _Suggested:
    """What the services fragment needs of a page."""

    form: IntakeForm
    suggestions: list[Suggestion]

    def language_name(self, code: str) -> str:
        return LANGUAGE_NAMES.get(code, code)


def _render(request: Request, page: Page, *, status_code: int = 200) -> HTMLResponse:
    """The whole page, or (htmx) the part it swaps. An htmx answer is always 200 so it is
    swapped in: its message says what went wrong."""
    if request.headers.get("hx-request"):
        return templates.TemplateResponse(request, "intake/_page.html", {"p": page})
    return templates.TemplateResponse(
        request, "intake/page.html", {"p": page}, status_code=status_code
    )


def _page(session: Session, state: State, form: IntakeForm) -> Page:
    if not _KEY.fullmatch(form.key):
        form.key = uuid.uuid4().hex
    caller = _caller(session, state, form)
    if form.address not in {"new", *(str(a.id) for a in caller.addresses)}:
        form.address = str(caller.addresses[0].id) if caller.addresses else "new"
    districts = geography_service.districts(session=session, state_code=state.code)
    blocks: list[Block] = []
    villages: list[Village] = []
    if form.district_id is not None and any(d.id == form.district_id for d in districts):
        blocks = geography_service.blocks(session=session, district_id=form.district_id)
    if form.block_id is not None and any(b.id == form.block_id for b in blocks):
        villages = geography_service.villages(session=session, block_id=form.block_id)
    if not any(v.id == form.village_id for v in villages):
        form.village_id = None
    languages = [(code, LANGUAGE_NAMES.get(code, code)) for code in state.languages]
    if form.language not in state.languages:
        citizen = caller.citizen
        form.language = citizen.language if citizen is not None else state.languages[0]
    return Page(
        form=form,
        caller=caller,
        suggestions=_suggestions(session, state, form),
        districts=districts,
        blocks=blocks,
        villages=villages,
        languages=languages,
    )


def _caller(session: Session, state: State, form: IntakeForm) -> Caller:
    """The citizen by phone or, without one, by a request's reference (which fills the phone)."""
    caller = Caller()
    if form.phone.strip():
        try:
            caller.phone = validation.phone(form.phone)
        except InvalidInput:
            if _digits(form.phone) >= PHONE_DIGITS:  # fewer: still typing, no error yet
                caller.error = "Not a valid phone number: 10 digits, e.g. 98765 43210."
            return caller
        caller.citizen = citizen_service.find_by_phone(
            session=session, state_code=state.code, phone=caller.phone
        )
    elif form.reference.strip():
        try:
            found = request_service.get_by_reference(
                session=session, reference=form.reference, default_state=state.code
            )
        except InvalidInput as exc:
            if _digits(form.reference) >= KEYPAD_DIGITS:  # fewer: still typing, no error yet
                caller.error = f"Reference: {exc.reason}."
            return caller
        except NotFound:
            found = None
        if found is None or found.state_code != state.code:
            caller.error = "No request has this reference."
            return caller
        caller.citizen = citizen_service.get(session=session, citizen_id=found.citizen_id)
        caller.phone = form.phone = caller.citizen.phone
        caller.found_by_reference = True
    citizen = caller.citizen
    if citizen is None or citizen.id is None:
        return caller
    for address in citizen_service.addresses(session=session, citizen_id=citizen.id):
        assert address.id is not None
        # As on the phone line, an address given for a number the caller was not calling
        # from is not offered back; only the form that gave it keeps it.
        if not address.proven and str(address.id) != form.address:
            continue
        place = geography_service.place_of_village(session=session, village_id=address.village_id)
        caller.addresses.append(KnownAddress(address.id, place.label, address.landmark))
    tz = ZoneInfo(state.timezone)
    for open_request in request_service.open_for_citizen(session=session, citizen_id=citizen.id):
        assert open_request.id is not None
        service = catalogue_service.get(session=session, service_id=open_request.service_id)
        caller.open_requests.append(
            OpenRequest(
                id=open_request.id,
                reference=open_request.reference,
                service=service.name_en,
                status=open_request.status.value.replace("_", " "),
                window=_window_label(open_request.window_start, open_request.window_end, tz),
            )
        )
    return caller


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _suggestions(session: Session, state: State, form: IntakeForm) -> list[Suggestion]:
    """Step 2's list: matches for the typed text, the chosen service kept in it and chosen
    (else the best match is)."""
    found = catalogue_service.suggest(
        session=session, state_code=state.code, text=form.service_q, limit=SUGGESTIONS
    )
    if form.suggested_for.strip() != form.service_q.strip():
        form.service_id = None
    form.suggested_for = form.service_q
    if form.service_id is not None and not any(s.service.id == form.service_id for s in found):
        try:
            chosen = catalogue_service.get(session=session, service_id=form.service_id)
        except NotFound:
            chosen = None
        if chosen is not None and chosen.state_code == state.code and chosen.active:
            found = [Suggestion(chosen, chosen.name_en, 1.0), *found[: SUGGESTIONS - 1]]
    if found and not any(s.service.id == form.service_id for s in found):
        form.service_id = found[0].service.id if form.service_q.strip() else None
    return found


def _prefill(session: Session, state: State, form: IntakeForm) -> None:
    """A call-back's or transfer's link: what the call-back row holds (its phone, language,
    service and address), then a service by code and a village by id."""
    callback = session.get(Callback, form.callback) if form.callback is not None else None
    if callback is not None and callback.state_code == state.code:
        form.phone = form.phone or callback.phone
        form.language = form.language or callback.language
        form.service_id = form.service_id or callback.service_id
        if callback.address_id is not None and not form.address:
            form.address = str(callback.address_id)
    if form.service_id is not None and not form.service_q:
        try:
            chosen = catalogue_service.get(session=session, service_id=form.service_id)
        except NotFound:
            chosen = None
        if chosen is not None:
            form.service_q = chosen.name_en
    form.suggested_for = form.service_q
    if form.service and form.service_id is None:
        try:
            service = catalogue_service.get_by_code(
                session=session, state_code=state.code, code=form.service
            )
        except NotFound:
            service = None
        if service is not None:
            form.service_id, form.service_q = service.id, service.name_en
            form.suggested_for = form.service_q
    if form.village is not None and form.village_id is None:
        try:
            place = geography_service.place_of_village(session=session, village_id=form.village)
        except NotFound:
            return
        if place.district.state_code == state.code:
            form.district_id, form.block_id = place.district.id, place.block.id
            form.village_id = place.village.id
            if not form.address:
                form.address = "new"
                if form.phone.strip():  # the caller's own address in that village, if known
                    known = _known_address_in(session, state, form.phone, form.village)
                    form.address = str(known) if known is not None else "new"


def _known_address_in(session: Session, state: State, phone: str, village_id: int) -> int | None:
    citizen = citizen_service.find_by_phone(session=session, state_code=state.code, phone=phone)
    if citizen is None or citizen.id is None:
        return None
    for address in citizen_service.addresses(session=session, citizen_id=citizen.id):
        if address.village_id == village_id:
            return address.id
    return None


# --- resolving and offering ---------------------------------------------------------------------


def _resolve(
    session: Session, state: State, form: IntakeForm, user: StaffUser
) -> tuple[Citizen, Address, Service]:
    """The citizen, address and service the form names, saving a new citizen or address."""
    actor = staff_service.actor_of(user)
    caller = _caller(session, state, form)
    if caller.error:
        raise InvalidInput("phone", form.phone or form.reference, caller.error.rstrip("."))
    if not caller.phone:
        raise InvalidInput("phone", form.phone, "enter the caller's 10-digit number or a reference")
    _suggestions(session, state, form)  # a stale or missing choice: the best match
    if form.service_id is None:
        raise InvalidInput("service", "", "choose a service")
    service = catalogue_service.get(session=session, service_id=form.service_id)
    if service.state_code != state.code or not service.active:
        raise InvalidInput("service", form.service_id, "not offered in this state")
    citizen = caller.citizen
    if citizen is not None and form.address.isdigit():
        assert citizen.id is not None
        address = citizen_service.address_of(
            session=session, citizen_id=citizen.id, address_id=int(form.address)
        )
        if form.name.strip() and not citizen.name:
            citizen_service.fill_in_name(
                session=session, citizen_id=citizen.id, name=form.name, actor=actor
            )
        return citizen, address, service
    if form.village_id is None:
        if caller.addresses:
            raise InvalidInput(
                "address",
                "",
                "choose one of the caller's addresses, or a district, block and village",
            )
        raise InvalidInput("village", "", "choose the district, block and village")
    place = geography_service.place_of_village(session=session, village_id=form.village_id)
    if place.district.state_code != state.code:
        raise InvalidInput("village", form.village_id, "not in this state")
    citizen, address = citizen_service.register_with_address(
        session=session,
        state_code=state.code,
        phone=caller.phone,
        village_id=form.village_id,
        landmark=form.landmark,
        name=form.name,
        language=form.language if form.language in state.languages else state.languages[0],
        senior=form.senior,
        disabled=form.disabled,
        proven=not form.other_number,
        actor=actor,
    )
    form.address = str(address.id)
    return citizen, address, service


def _offer(
    session: Session,
    settings: Settings,
    now: dt.datetime,
    form: IntakeForm,
    citizen: Citizen,
    address: Address,
    service: Service,
) -> list[WindowOffer]:
    assert address.id is not None and service.id is not None
    offers = planning_service.offer_windows(
        session=session,
        settings=settings,
        address_id=address.id,
        service_id=service.id,
        language=form.language or citizen.language,
        now=now,
        limit=OFFERED_WINDOWS,
    )
    form.windows_for = _windows_for(citizen, address, service)
    form.offer = json.dumps(offers[0].to_json()) if offers else ""
    return offers


def _show_offers(
    session: Session,
    settings: Settings,
    state: State,
    now: dt.datetime,
    page: Page,
    citizen: Citizen,
    address: Address,
    service: Service,
) -> None:
    """Offer windows again (the page's form now names the saved address) and list them."""
    offers = _offer(session, settings, now, page.form, citizen, address, service)
    tz = ZoneInfo(state.timezone)
    page.offers = [
        ShownOffer(json.dumps(o.to_json()), _window_label(o.start, o.end, tz, now)) for o in offers
    ]
    page.no_window = not offers
    if not offers:
        page.form.offer = LATER
        page.notice = (
            f"No window can be met in the next {settings.offer_horizon_days} days: the request "
            "can be logged now and given a window later."
        )


def _fresh_windows(
    request: Request,
    session: Session,
    settings: Settings,
    state: State,
    now: dt.datetime,
    form: IntakeForm,
    citizen: Citizen,
    address: Address,
    service: Service,
    message: str,
) -> HTMLResponse:
    page = _page(session, state, form)
    _show_offers(session, settings, state, now, page, citizen, address, service)
    page.error = message
    return _render(request, page, status_code=409)


def _chosen_offer(session: Session, value: str, address: Address) -> WindowOffer | None:
    """The window the form chose (None: log without one), checked to be in the address's
    district (the plan checks it can still be met)."""
    if value == LATER:
        return None
    try:
        offer = WindowOffer.from_json(json.loads(value))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("offer", value, "show the windows and choose one") from exc
    district = geography_service.district_of_village(session=session, village_id=address.village_id)
    if offer.district_id != district.id:
        raise InvalidInput("offer", value, "show the windows again and choose one")
    return offer


def _windows_for(citizen: Citizen, address: Address, service: Service) -> str:
    return f"{citizen.id}:{address.id}:{service.id}"


def _language(state: State, form: IntakeForm, citizen: Citizen) -> str:
    return form.language if form.language in state.languages else citizen.language


def _window_label(
    start: dt.datetime | None, end: dt.datetime | None, tz: ZoneInfo, now: dt.datetime | None = None
) -> str:
    """`Today 09:00–11:00`, `Tomorrow …`, or `Wed 5 Jun 09:00–11:00`, in the state's time."""
    if start is None or end is None:
        return "no window yet"
    local, until = start.astimezone(tz), end.astimezone(tz)
    day = f"{local:%a} {local.day} {local:%b}"
    if now is not None:
        today = now.astimezone(tz).date()
        day = {today: "Today", today + dt.timedelta(days=1): "Tomorrow"}.get(local.date(), day)
    return f"{day} {local:%H:%M}–{until:%H:%M}"


_FIELD_IDS = {
    "phone": "phone",
    "name": "name",
    "language": "language",
    "service": "service_q",
    "village": "district_id",
    "address": "district_id",
    "lat": "district_id",
    "landmark": "landmark",
    "offer": "show-windows",
}
_FIELD_LABELS = {
    "phone": "Phone",
    "name": "Name",
    "language": "Language",
    "service": "Service",
    "village": "Address",
    "address": "Address",
    "landmark": "Landmark",
    "offer": "Window",
    "lat": "Address",
}


def _problem(exc: DispatchError) -> str:
    """A message the agent can act on."""
    if isinstance(exc, InvalidInput):
        label = _FIELD_LABELS.get(exc.field, exc.field.replace("_", " ").capitalize())
        return f"{label}: {exc.reason}."
    if isinstance(exc, NotFound):
        return f"The {exc.entity} was not found: look the caller up again."
    return str(exc)


def _deliver(engine: Engine, sender: SmsSender, message_id: int) -> None:
    """Send the confirmation after the answer went out and its transaction committed. A
    failure stays in the outbox for the scheduled retry; the agent never waits for it."""
    try:
        notification_service.send(engine=engine, message_id=message_id, sender=sender)
    except Exception as exc:
        # The type and where, not the message: it may quote the citizen's number.
        trace = "".join(traceback.format_tb(exc.__traceback__))
        log.error("could not deliver SMS %s: %s\n%s", message_id, type(exc).__name__, trace)
