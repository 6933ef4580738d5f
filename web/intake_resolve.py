"""From the intake form to the things a booking names: the citizen (registered with their address
when new, as the phone line does before it offers windows), the address and the service; the
windows the live plan can meet (`dispatch.planning.service.offer_windows`, as on the phone line)
and the one the form chose.

Not here: the routes and the booking (`web.intake`); the page and its form
(`web.intake_page`).
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from sqlmodel import Session

from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Address, Citizen
from dispatch.config import Settings
from dispatch.errors import InvalidInput
from dispatch.geography import service as geography_service
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowOffer
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.states.models import State
from web.intake_page import IntakeForm, Page, ShownOffer, caller_of, suggestions, window_label

#: Windows offered at once (as on the phone line).
OFFERED_WINDOWS = 3
#: The offer value that logs a request without a window (only when none can be met).
LATER = "later"


def resolve(
    session: Session, state: State, form: IntakeForm, user: StaffUser
) -> tuple[Citizen, Address, Service]:
    """The citizen, address and service the form names, saving a new citizen or address."""
    actor = staff_service.actor_of(user)
    caller = caller_of(session, state, form)
    if caller.error:
        raise InvalidInput("phone", form.phone or form.reference, caller.error.rstrip("."))
    if not caller.phone:
        raise InvalidInput("phone", form.phone, "enter the caller's 10-digit number or a reference")
    suggestions(session, state, form)  # a stale or missing choice: the best match
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
    form.windows_for = windows_for(citizen, address, service)
    form.offer = json.dumps(offers[0].to_json()) if offers else ""
    return offers


def show_offers(
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
        ShownOffer(json.dumps(o.to_json()), window_label(o.start, o.end, tz, now)) for o in offers
    ]
    page.no_window = not offers
    if not offers:
        page.form.offer = LATER
        page.notice = (
            f"No window can be met in the next {settings.offer_horizon_days} days: the request "
            "can be logged now and given a window later."
        )


def chosen_offer(session: Session, value: str, address: Address) -> WindowOffer | None:
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


def windows_for(citizen: Citizen, address: Address, service: Service) -> str:
    """What windows were offered for: another citizen, address or service needs new ones."""
    return f"{citizen.id}:{address.id}:{service.id}"


def language_of(state: State, form: IntakeForm, citizen: Citizen) -> str:
    """The language the booking (and its SMS) uses: the form's, if the state speaks it."""
    return form.language if form.language in state.languages else citizen.language
