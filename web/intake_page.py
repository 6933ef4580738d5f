"""The intake page's model: the form it holds (`IntakeForm`), what it shows (`Page`: the caller,
suggestions, pickers, windows, the booking, and the call-back the form is for), and building
it from a form (looking up, writing nothing).

Not here: the routes and the booking (`web.intake`); pre-filling from the call-back queue's
links (`web.intake_prefill`); turning a form into a citizen, address and service, and windows
(`web.intake_resolve`).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, BeforeValidator, Field
from sqlmodel import Session

from dispatch import validation
from dispatch.calls import queue as callback_queue
from dispatch.calls.models import Callback, CallbackStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.service import Suggestion
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.errors import DispatchError, InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.geography.models import Block, District, Village
from dispatch.requests import service as request_service
from dispatch.requests.rules import KEYPAD_DIGITS
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.states.models import State
from web.templating import templates

#: Suggestions the type-ahead shows.
SUGGESTIONS = 6
#: Digits of an Indian mobile number: fewer is still being typed.
PHONE_DIGITS = 10
#: A form's idempotency key, as the page makes it.
KEY = re.compile(r"[0-9a-f]{32}")

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
    #: The call-back this booking is for (carried by the form: a booking closes it).
    callback: OptionalId
    #: Pre-fill only: a caller on the line (a call session's id), a service code and a
    #: village id.
    call: OptionalId
    service: str = Field("", max_length=48)
    village: OptionalId


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


@dataclass(frozen=True)
class FromCallback:
    """The call-back the form is for, as the note above the form tells it: whether it is the
    user's (then its number is filled in and a booking closes it as booked), who holds it
    otherwise, or that it is closed or not found."""

    id: int
    found: bool
    mine: bool = False
    holder: str = ""  # the username holding it; "" when nobody does
    closed: bool = False
    masked: str = ""


@dataclass(frozen=True)
class FromCall:
    """The caller on the line the page was opened for (None of it when not found)."""

    id: int
    found: bool


@dataclass(frozen=True)
class CallbackClosing:
    """After a booking for a call-back: whether the call-back is closed, and the words."""

    closed: bool
    message: str


@dataclass
class Page:
    form: IntakeForm
    caller: Caller
    suggestions: list[Suggestion]
    districts: list[District]
    blocks: list[Block]
    villages: list[Village]
    languages: list[tuple[str, str]]
    from_callback: FromCallback | None = None
    from_call: FromCall | None = None
    offers: list[ShownOffer] = field(default_factory=list)
    no_window: bool = False
    error: str = ""
    notice: str = ""
    result: Booked | None = None
    callback_closing: CallbackClosing | None = None

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
        self.error = problem(exc)
        field_name = exc.field if isinstance(exc, InvalidInput) else ""
        self.focus = _FIELD_IDS.get(field_name, "")


@dataclass
class Suggested:
    """What the services fragment needs of a page."""

    form: IntakeForm
    suggestions: list[Suggestion]

    def language_name(self, code: str) -> str:
        return LANGUAGE_NAMES.get(code, code)


def render(request: Request, page: Page, *, status_code: int = 200) -> HTMLResponse:
    """The whole page, or (htmx) the part it swaps. An htmx answer is always 200 so it is
    swapped in: its message says what went wrong."""
    if request.headers.get("hx-request"):
        return templates.TemplateResponse(request, "intake/_page.html", {"p": page})
    return templates.TemplateResponse(
        request, "intake/page.html", {"p": page}, status_code=status_code
    )


# --- building the page --------------------------------------------------------------------------


def build_page(session: Session, state: State, form: IntakeForm, user: StaffUser) -> Page:
    """The page for what the form holds (a fresh key if it has none): looks up, writes nothing."""
    if not KEY.fullmatch(form.key):
        form.key = uuid.uuid4().hex
    caller = caller_of(session, state, form)
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
        suggestions=suggestions(session, state, form),
        districts=districts,
        blocks=blocks,
        villages=villages,
        languages=languages,
        from_callback=_from_callback(session, state, form, user),
    )


def caller_of(session: Session, state: State, form: IntakeForm) -> Caller:
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
                window=window_label(open_request.window_start, open_request.window_end, tz),
            )
        )
    return caller


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def suggestions(session: Session, state: State, form: IntakeForm) -> list[Suggestion]:
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


def _from_callback(
    session: Session, state: State, form: IntakeForm, user: StaffUser
) -> FromCallback | None:
    if form.callback is None:
        return None
    callback = session.get(Callback, form.callback)
    if callback is None or callback.state_code != state.code:
        return FromCallback(form.callback, found=False)
    return FromCallback(
        id=form.callback,
        found=True,
        mine=callback.claimed_by == staff_service.actor_of(user),
        holder=callback_queue.holder_name(callback.claimed_by) if callback.claimed_by else "",
        closed=callback.status is CallbackStatus.DONE,
        masked=validation.mask_phone(callback.phone),
    )


# --- words --------------------------------------------------------------------------------------


def window_label(
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


def problem(exc: DispatchError) -> str:
    """A message the agent can act on."""
    if isinstance(exc, InvalidInput):
        label = _FIELD_LABELS.get(exc.field, exc.field.replace("_", " ").capitalize())
        return f"{label}: {exc.reason}."
    if isinstance(exc, NotFound):
        return f"The {exc.entity} was not found: look the caller up again."
    return str(exc)
