"""Pre-filling the intake page from the call-back queue's links.

A link names a call-back (`?callback=<id>`) or a caller on the line (`?call=<call id>`), never
a phone number (an access log would keep it; `web.intake` drops a `phone=` from any query).
From a call-back the page takes the language, service and address and, only for the person
holding its claim, the phone; anyone else gets the village instead of the address, and the page
says who holds it and shows the number masked. It does not claim an unclaimed call-back for
them: a GET writes nothing, and claiming is the call-backs page's button (a booking made here
for the call-back's caller still closes an unclaimed one). From a caller on the line (a call
of the user's state that the phone line put through to a person) it takes the number they rang
from (else the one they keyed in), their language, service and village.

Not here: the page and its note about the call-back (`web.intake_page`); what a call gave the
line (`web.callbacks.what_they_gave`, shared with the call-back page).
"""

from __future__ import annotations

from sqlmodel import Session

from dispatch.calls import queue as callback_queue
from dispatch.calls.models import Callback, CallbackStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.errors import NotFound
from dispatch.geography import service as geography_service
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.states.models import State
from web import callbacks
from web.intake_page import FromCall, IntakeForm


def prefill(session: Session, state: State, form: IntakeForm, user: StaffUser) -> FromCall | None:
    """A link from the call-back queue: what a call-back or a caller on the line gave, then a
    service by code and a village by id. Returns what became of a `call=` (for the note)."""
    from_call = _prefill_from_call(session, state, form) if form.call is not None else None
    if form.callback is not None:
        _prefill_from_callback(session, state, form, user)
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
        _prefill_village(session, state, form, form.village)
    return from_call


def _prefill_from_callback(
    session: Session, state: State, form: IntakeForm, user: StaffUser
) -> None:
    """The call-back's language, service and address; its phone only for its holder (the
    address then is theirs; for anyone else only its village, as the number is not shown)."""
    callback = session.get(Callback, form.callback)
    if callback is None or callback.state_code != state.code:
        return
    if callback.status is not CallbackStatus.OPEN:
        return
    form.language = form.language or callback.language
    form.service_id = form.service_id or callback.service_id
    mine = callback.claimed_by == staff_service.actor_of(user)
    if mine:
        form.phone = callback.phone
    if callback.address_id is None or form.address:
        return
    if mine:
        form.address = str(callback.address_id)
    else:
        address = citizen_service.get_address(session=session, address_id=callback.address_id)
        form.village = form.village or address.village_id


def _prefill_from_call(session: Session, state: State, form: IntakeForm) -> FromCall:
    """A caller on the line: the number they rang from (else keyed in), language, service and
    village — only for a call of this state put through to a person."""
    assert form.call is not None
    try:
        call = callback_queue.transferred_call(
            session=session, call_id=form.call, state_code=state.code
        )
    except NotFound:
        return FromCall(form.call, found=False)
    progress, details = callbacks.what_they_gave(session, call)
    form.phone = callbacks.caller_phone(call, progress) or ""
    form.language = form.language or call.language
    if details.service is not None and form.service_id is None and not form.service:
        form.service_id = details.service.id
    if details.village is not None and form.village is None:
        form.village = details.village.id
    return FromCall(form.call, found=True)


def _prefill_village(session: Session, state: State, form: IntakeForm, village_id: int) -> None:
    """The pickers set to a village, and the caller's own address there if they have one."""
    try:
        place = geography_service.place_of_village(session=session, village_id=village_id)
    except NotFound:
        return
    if place.district.state_code != state.code:
        return
    form.district_id, form.block_id = place.district.id, place.block.id
    form.village_id = place.village.id
    if not form.address:
        form.address = "new"
        if form.phone.strip():  # the caller's own address in that village, if known
            known = _known_address_in(session, state, form.phone, village_id)
            form.address = str(known) if known is not None else "new"


def _known_address_in(session: Session, state: State, phone: str, village_id: int) -> int | None:
    citizen = citizen_service.find_by_phone(session=session, state_code=state.code, phone=phone)
    if citizen is None or citizen.id is None:
        return None
    for address in citizen_service.addresses(session=session, citizen_id=citizen.id):
        if address.village_id == village_id:
            return address.id
    return None
