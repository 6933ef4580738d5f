"""Where the agent should come: the caller's last address, or a new one the fastest way the
caller can give it, then a landmark in their own words.

A new address starts with one question: the 6-digit PIN code, or the district's name said
aloud. A PIN code names the district and the villages that share it; one key picks the
village and so confirms the place (or the caller says the village's name). The paged menus
of districts and blocks, the places callers come from most often first, are the fallback for
a caller who knows no PIN code and whose district was not understood. Every name is matched
in any script, and read back in the caller's own (`ivr.steps.words.place_name`).

A caller without caller ID keys in a mobile number first. It is a contact number for this
booking only (where the confirmation SMS goes): it never unlocks a stored address or anyone's
requests, and the address given on such a call is not offered back later."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence

from dispatch import matching, validation
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Address
from dispatch.errors import InvalidInput
from dispatch.geography import service as geography_service
from dispatch.geography.models import Block, District, PlaceNames, Village
from dispatch.requests import service as request_service
from ivr.flow import (
    PAGE_SIZE,
    Ctx,
    Item,
    Said,
    answers,
    asks,
    digits_of,
    menu_choice,
    menu_words,
    need,
)
from ivr.prompts import P
from ivr.steps import words
from ivr.twiml import Reply

LANDMARK_MAX = 120
#: How far back the requests go that order the district and block menus.
DEMAND_DAYS = 90
PINCODE = re.compile(r"[1-9]\d{5}")
#: The villages of a PIN code are read 7 to a page: 8 is "mine is not in this list".
PIN_PAGE = PAGE_SIZE - 1
NOT_LISTED_KEY = "8"

#: A district, block or village (each has an id and its names in every script).
Place = District | Block | Village


def start(ctx: Ctx) -> Reply:
    """The first question about the address."""
    if ctx.contact_phone() is None:
        return ctx.goto("phone")
    return _known_or_new(ctx)


def _known_or_new(ctx: Ctx) -> Reply:
    """The last address of a citizen proven by caller ID, or a new address."""
    citizen = ctx.citizen
    if (
        citizen is not None
        and citizen.id is not None
        and citizen_service.last_address(session=ctx.session, citizen_id=citizen.id)
    ):
        return ctx.goto("address_known")
    return _new_address(ctx)


def _new_address(ctx: Ctx) -> Reply:
    ctx.progress.page, ctx.progress.matches = 0, []
    return ctx.goto("pincode")


#: A place said aloud is taken only this sure, and this far ahead of the next best: a wrong
#: place costs the caller more than the menu does.
PLACE_THRESHOLD = 0.7
PLACE_MARGIN = 0.05


def _by_name(said: str, places: Sequence[Place]) -> int | None:
    """The id of the place whose names clearly best match what was said, if any."""
    candidates = [(str(p.id), p.spoken_names) for p in places]
    ranked = matching.rank(said, candidates, limit=2, threshold=PLACE_THRESHOLD)
    if not ranked or (len(ranked) == 2 and ranked[0].score - ranked[1].score < PLACE_MARGIN):
        return None
    return int(ranked[0].key)


def _items(ctx: Ctx, places: Sequence[Place]) -> list[Item]:
    """Places as menu items, named in the caller's script."""
    return [Item(p.id or 0, words.place_name(ctx, p)) for p in places]


def _hints(ctx: Ctx, places: Sequence[PlaceNames]) -> str:
    """Names for the speech recogniser: in the caller's script, and the Latin one."""
    names = dict.fromkeys(n for p in places for n in (words.place_name(ctx, p), p.name))
    return ", ".join(names)[:900]


@asks("phone")
def ask_phone(ctx: Ctx) -> Reply:
    return ctx.gather("phone", ctx.words(P.PHONE_ASK), num_digits=10, timeout=12)


@answers("phone")
def on_phone(ctx: Ctx, said: Said) -> Reply:
    if said.empty:
        return ctx.unclear(said)
    try:
        phone = validation.phone(said.digits)
    except InvalidInput:
        return ctx.retry(P.PHONE_INVALID)
    ctx.progress.phone = phone
    return _new_address(ctx)


@asks("address_known")
def ask_address_known(ctx: Ctx) -> Reply:
    last = _last_address(ctx)
    return ctx.gather("address_known", ctx.words(P.ADDRESS_KNOWN, place=words.place(ctx, last)))


def _last_address(ctx: Ctx) -> Address:
    citizen = need(ctx.citizen, "the caller")
    found = citizen_service.last_address(
        session=ctx.session, citizen_id=need(citizen.id, "the caller")
    )
    return need(found, "the last address")


@answers("address_known")
def on_address_known(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        ctx.progress.address_id = _last_address(ctx).id
        return ctx.goto("offer")
    if said.digits == "2":
        return _new_address(ctx)
    return ctx.unclear(said)


# --- the PIN code, or the district by name ----------------------------------------------------


@asks("pincode")
def ask_pincode(ctx: Ctx) -> Reply:
    districts = geography_service.districts(session=ctx.session, state_code=ctx.state.code)
    return ctx.gather(
        "pincode",
        ctx.words(P.PINCODE_ASK),
        speech=True,
        num_digits=6,
        timeout=10,
        hints=_hints(ctx, districts),
    )


@answers("pincode")
def on_pincode(ctx: Ctx, said: Said) -> Reply:
    """A PIN code keyed or said, or a district's name said. Silence, or "I don't know it",
    goes to the district menu: a caller without a PIN code (or without speech, in a recorded
    language) still gets there by keys."""
    digits = said.digits or spoken_number(said.speech)
    if digits:
        return _pincode(ctx, digits)
    if said.empty or _no_pincode(said.speech):
        return _district_menu(ctx)
    found = _by_name(said.speech, _districts(ctx))
    if found is None:
        return ctx.say(P.DISTRICT_NOT_FOUND) + _district_menu(ctx)
    ctx.progress.district_id, ctx.progress.page = found, 0
    return ctx.goto("district_heard")


def _pincode(ctx: Ctx, digits: str) -> Reply:
    if not PINCODE.fullmatch(digits):
        return ctx.retry(P.PINCODE_INVALID)
    places = geography_service.places_with_pincode(
        session=ctx.session, state_code=ctx.state.code, pincode=digits
    )
    if not places:  # not lost: the district menu finds the place another way
        return ctx.say(P.PINCODE_UNKNOWN) + _district_menu(ctx)
    ctx.progress.matches = [p.village.id or 0 for p in places]
    ctx.progress.page = 0
    return ctx.goto("pin_village")


#: Words of a caller who has no PIN code to give ("I don't know the PIN code").
_NO_PINCODE = frozenset(
    """
    pin pincode code know maloom malum nahi nahin not dont don
    पिन पिनकोड कोड मालूम नहीं नही
    پن کوڈ معلوم نہیں
""".split()  # noqa: SIM905
)
#: "double zero", "triple five" (as Indian callers say numbers).
REPEATS = {
    **dict.fromkeys(("double", "डबल", "ڈبل"), 2),
    **dict.fromkeys(("triple", "ट्रिपल", "ٹرپل"), 3),
}


def spoken_number(speech: str) -> str:
    """The digits of a number said aloud ("one nine zero zero zero three", "190003",
    "१९०००३", "my pin code is one nine double zero zero three"): five or more digits
    whatever is said around them, or three or four said on their own; else ""."""
    digits, others, times = "", 0, 1
    for word in matching.words(speech):
        if word in REPEATS:
            times = REPEATS[word]
            continue
        said = digits_of(word)
        if said is None:
            others, times = others + 1, 1
            continue
        digits += said[0] * times + said[1:]
        times = 1
    if len(digits) >= 5 or (len(digits) >= 3 and others <= 2):
        return digits
    return ""


def _no_pincode(speech: str) -> bool:
    return any(word in _NO_PINCODE for word in matching.words(speech))


@asks("district_heard")
def ask_district_heard(ctx: Ctx) -> Reply:
    """A district understood from speech, confirmed with one key (a wrong one is costly)."""
    district = geography_service.get_district(
        session=ctx.session, district_id=need(ctx.progress.district_id, "the district")
    )
    heard = ctx.words(P.DISTRICT_HEARD, district=words.place_name(ctx, district))
    return ctx.gather("district_heard", heard)


@answers("district_heard")
def on_district_heard(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        return ctx.goto("block")
    if said.digits == "2":
        return _district_menu(ctx)
    return ctx.unclear(said)


def _district_menu(ctx: Ctx) -> Reply:
    ctx.progress.page, ctx.progress.matches = 0, []
    return ctx.goto("district")


def _pin_places(ctx: Ctx) -> list[geography_service.Place]:
    return [
        geography_service.place_of_village(session=ctx.session, village_id=village_id)
        for village_id in ctx.progress.matches
    ]


@asks("pin_village")
def ask_pin_village(ctx: Ctx) -> Reply:
    places = _pin_places(ctx)
    if not places:
        return _district_menu(ctx)
    prompts = []
    if ctx.progress.page == 0:
        districts = list(dict.fromkeys(words.place_name(ctx, p.district) for p in places))
        prompts = ctx.words(P.PINCODE_PLACES, district=ctx.speech.listing(districts))
    items = _items(ctx, [p.village for p in places])
    not_listed = ctx.words(P.NOT_LISTED_OPTION)
    prompts += menu_words(ctx, items, ctx.progress.page, extra=not_listed, size=PIN_PAGE)
    nearby = _pin_blocks_villages(ctx, places)
    return ctx.gather("pin_village", prompts, speech=True, timeout=8, hints=_hints(ctx, nearby))


def _pin_blocks_villages(ctx: Ctx, places: Sequence[geography_service.Place]) -> list[Village]:
    """Every village of the blocks the PIN code touches: a caller may name one not listed."""
    blocks = dict.fromkeys(p.block.id or 0 for p in places)
    return [v for b in blocks for v in geography_service.villages(session=ctx.session, block_id=b)]


@answers("pin_village")
def on_pin_village(ctx: Ctx, said: Said) -> Reply:
    places = _pin_places(ctx)
    if said.speech and not said.digits:
        found = _by_name(said.speech, _pin_blocks_villages(ctx, places))
        if found is not None:
            return _village_chosen(ctx, found)
        return ctx.say(P.VILLAGE_NOT_FOUND) + _not_listed(ctx, places)
    if said.digits == NOT_LISTED_KEY:
        return _not_listed(ctx, places)
    choice = menu_choice(ctx, said)
    if choice == "more":
        ctx.progress.page += 1
        return ctx.goto("pin_village")
    if isinstance(choice, int):
        return _village_chosen(ctx, choice)
    return ctx.unclear(said)


def _not_listed(ctx: Ctx, places: Sequence[geography_service.Place]) -> Reply:
    """The village is not among those of the PIN code: the block's whole list when the PIN
    code has one block, else the district menu."""
    blocks = list(dict.fromkeys(p.block.id for p in places))
    if len(blocks) == 1:
        ctx.progress.block_id, ctx.progress.page, ctx.progress.matches = blocks[0], 0, []
        return ctx.goto("village_menu")
    return _district_menu(ctx)


def _village_chosen(ctx: Ctx, village_id: int) -> Reply:
    place = geography_service.place_of_village(session=ctx.session, village_id=village_id)
    p = ctx.progress
    p.district_id, p.block_id, p.village_id = place.district.id, place.block.id, village_id
    p.page, p.matches = 0, []
    return ctx.goto("landmark")


# --- the fallback: district and block menus, most requested first ---------------------------


def _demand(ctx: Ctx) -> dict[tuple[int, int], int]:
    since = ctx.now - dt.timedelta(days=DEMAND_DAYS)
    return request_service.demand_by_place(
        session=ctx.session, state_code=ctx.state.code, since=since
    )


def _by_demand(places: Sequence[Place], demand: dict[int, int]) -> list[Place]:
    """The places most requested first (then by name)."""
    return sorted(places, key=lambda p: (-demand.get(p.id or 0, 0), p.name))


def _districts(ctx: Ctx) -> list[Place]:
    found = geography_service.districts(session=ctx.session, state_code=ctx.state.code)
    demand: dict[int, int] = {}
    for (district, _block), count in _demand(ctx).items():
        demand[district] = demand.get(district, 0) + count
    return _by_demand(found, demand)


def _blocks(ctx: Ctx) -> list[Place]:
    district_id = need(ctx.progress.district_id, "the district")
    found = geography_service.blocks(session=ctx.session, district_id=district_id)
    demand = {block: n for (district, block), n in _demand(ctx).items() if district == district_id}
    return _by_demand(found, demand)


def _villages(ctx: Ctx, *, only_matches: bool = False) -> list[Village]:
    block_id = need(ctx.progress.block_id, "the block")
    found = geography_service.villages(session=ctx.session, block_id=block_id)
    if only_matches and ctx.progress.matches:
        found = [v for v in found if v.id in ctx.progress.matches]
    return found


@asks("district")
def ask_district(ctx: Ctx) -> Reply:
    districts = _districts(ctx)
    prompts = ctx.words(P.DISTRICT_ASK) if ctx.progress.page == 0 else []
    prompts += menu_words(ctx, _items(ctx, districts), ctx.progress.page)
    return ctx.gather("district", prompts, speech=True, timeout=8, hints=_hints(ctx, districts))


@answers("district")
def on_district(ctx: Ctx, said: Said) -> Reply:
    choice = _choose(ctx, said, _districts)
    if choice == "more":
        ctx.progress.page += 1
        return ctx.goto("district")
    if isinstance(choice, int):
        ctx.progress.district_id, ctx.progress.page = choice, 0
        return ctx.goto("block")
    return ctx.unclear(said)


@asks("block")
def ask_block(ctx: Ctx) -> Reply:
    blocks = _blocks(ctx)
    prompts = []
    if ctx.progress.page == 0:
        district = geography_service.get_district(
            session=ctx.session, district_id=need(ctx.progress.district_id, "the district")
        )
        prompts = ctx.words(P.BLOCK_ASK, district=words.place_name(ctx, district))
    prompts += menu_words(ctx, _items(ctx, blocks), ctx.progress.page)
    return ctx.gather("block", prompts, speech=True, timeout=8, hints=_hints(ctx, blocks))


@answers("block")
def on_block(ctx: Ctx, said: Said) -> Reply:
    choice = _choose(ctx, said, _blocks)
    if choice == "more":
        ctx.progress.page += 1
        return ctx.goto("block")
    if isinstance(choice, int):
        ctx.progress.block_id, ctx.progress.page = choice, 0
        return ctx.goto("village")
    return ctx.unclear(said)


def _choose(ctx: Ctx, said: Said, listing: Callable[[Ctx], list[Place]]) -> int | str | None:
    """A key from the page read out, or a name said aloud matched against the whole list."""
    if said.speech and not said.digits:
        return _by_name(said.speech, listing(ctx))
    return menu_choice(ctx, said)


# --- village and landmark ---------------------------------------------------------------------


@asks("village")
def ask_village(ctx: Ctx) -> Reply:
    villages = _villages(ctx)
    return ctx.gather(
        "village",
        ctx.words(P.VILLAGE_ASK),
        speech=True,
        num_digits=6,
        timeout=10,
        hints=_hints(ctx, villages),
    )


@answers("village")
def on_village(ctx: Ctx, said: Said) -> Reply:
    if said.empty:  # no name or PIN code to give (or no speech): the block's list
        ctx.progress.page, ctx.progress.matches = 0, []
        return ctx.goto("village_menu")
    villages = _villages(ctx)
    ctx.progress.page, ctx.progress.matches = 0, []
    if said.digits:  # a PIN code: one village, or a short menu of the villages sharing it
        found = [v.id or 0 for v in villages if v.pincode == said.digits]
        if len(found) > 1:
            ctx.progress.matches = found
            return ctx.goto("village_menu")
    else:
        best = _by_name(said.speech, villages)
        found = [best] if best is not None else []
    if not found:
        return ctx.say(P.VILLAGE_NOT_FOUND) + ctx.goto("village_menu")
    ctx.progress.village_id = found[0]
    return ctx.goto("landmark")


@asks("village_menu")
def ask_village_menu(ctx: Ctx) -> Reply:
    items = _items(ctx, _villages(ctx, only_matches=True))
    prompts = ctx.words(P.VILLAGE_CHOOSE) if ctx.progress.page == 0 else []
    return ctx.gather("village_menu", prompts + menu_words(ctx, items, ctx.progress.page))


@answers("village_menu")
def on_village_menu(ctx: Ctx, said: Said) -> Reply:
    choice = menu_choice(ctx, said)
    if choice == "more":
        ctx.progress.page += 1
        return ctx.goto("village_menu")
    if isinstance(choice, int):
        ctx.progress.village_id, ctx.progress.page, ctx.progress.matches = choice, 0, []
        return ctx.goto("landmark")
    return ctx.unclear(said)


@asks("landmark")
def ask_landmark(ctx: Ctx) -> Reply:
    return ctx.gather("landmark", ctx.words(P.LANDMARK_ASK), speech=True, timeout=8)


@answers("landmark")
def on_landmark(ctx: Ctx, said: Said) -> Reply:
    if said.digits == "1":
        landmark = ""
    elif said.speech and not said.digits:
        landmark = " ".join(said.speech.split())[:LANDMARK_MAX]
    else:
        return ctx.unclear(said)
    address = _save_address(ctx, landmark)
    return ctx.say(P.ADDRESS_NOTED, place=words.place(ctx, address)) + ctx.goto("offer")


def _save_address(ctx: Ctx, landmark: str) -> Address:
    """The address, under the citizen proven by caller ID (a new caller with a caller ID is
    registered by it); a caller without one books for the contact number they keyed in, and
    that address is kept for this booking only."""
    village_id = need(ctx.progress.village_id, "the village")
    citizen, proven = ctx.citizen, True
    if citizen is None:
        caller_id = ctx.caller_id()
        phone = need(caller_id or ctx.progress.phone, "a phone number")
        proven = caller_id is not None
        language = ctx.lang if ctx.lang in ctx.state.languages else ctx.state.languages[0]
        citizen = citizen_service.register(
            session=ctx.session,
            state_code=ctx.state.code,
            phone=phone,
            language=language,
            actor=ctx.actor,
        )
        if proven:
            ctx.call.citizen_id = citizen.id
        else:
            ctx.progress.citizen_id = citizen.id
    address = citizen_service.add_address(
        session=ctx.session,
        citizen_id=need(citizen.id, "the citizen"),
        village_id=village_id,
        landmark=landmark,
        proven=proven,
        actor=ctx.actor,
    )
    ctx.progress.address_id = address.id
    return address
