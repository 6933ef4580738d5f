"""Where the agent should come: the caller's last address, or district and block by paged
keypad menus (or by name), then the village by name or PIN code, and a landmark in the
caller's own words.

A caller without caller ID keys in a mobile number first. It is a contact number for this
booking only (where the confirmation SMS goes): it never unlocks a stored address or anyone's
requests, and the address given on such a call is not offered back later."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dispatch import validation
from dispatch.catalogue import rules as matching
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Address
from dispatch.errors import InvalidInput
from dispatch.geography import service as geography_service
from ivr.flow import Ctx, Item, Said, answers, asks, menu_choice, menu_words, need
from ivr.prompts import P
from ivr.steps import words
from ivr.twiml import Reply

LANDMARK_MAX = 120


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
    ctx.progress.page = 0
    return ctx.goto("district")


def _by_name(said: str, items: Sequence[Item], names: dict[int, list[str]]) -> Item | None:
    """The item whose names best match what was said, if any matches well enough."""
    ranked = matching.rank(said, [(str(i.id), names[i.id]) for i in items], limit=1)
    if not ranked:
        return None
    return next(i for i in items if str(i.id) == ranked[0].key)


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
    ctx.progress.page = 0
    return ctx.goto("district")


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
        return ctx.goto("windows")
    if said.digits == "2":
        ctx.progress.page = 0
        return ctx.goto("district")
    return ctx.unclear(said)


# --- district and block: paged menus, or the name said aloud ----------------------------------


def _districts(ctx: Ctx) -> tuple[list[Item], dict[int, list[str]]]:
    found = geography_service.districts(session=ctx.session, state_code=ctx.state.code)
    items = [Item(d.id or 0, words.district_name(ctx, d)) for d in found]
    return items, {d.id or 0: [d.name, d.name_hi] for d in found}


def _blocks(ctx: Ctx) -> tuple[list[Item], dict[int, list[str]]]:
    district_id = need(ctx.progress.district_id, "the district")
    found = geography_service.blocks(session=ctx.session, district_id=district_id)
    return [Item(b.id or 0, b.name) for b in found], {b.id or 0: [b.name] for b in found}


def _villages(ctx: Ctx, *, only_matches: bool = False) -> tuple[list[Item], dict[int, list[str]]]:
    block_id = need(ctx.progress.block_id, "the block")
    found = geography_service.villages(session=ctx.session, block_id=block_id)
    if only_matches and ctx.progress.matches:
        found = [v for v in found if v.id in ctx.progress.matches]
    return [Item(v.id or 0, v.name) for v in found], {v.id or 0: [v.name] for v in found}


def _hints(names: dict[int, list[str]]) -> str:
    return ", ".join(n for group in names.values() for n in group if n)[:900]


@asks("district")
def ask_district(ctx: Ctx) -> Reply:
    items, names = _districts(ctx)
    prompts = ctx.words(P.DISTRICT_ASK) if ctx.progress.page == 0 else []
    prompts += menu_words(ctx, items, ctx.progress.page)
    return ctx.gather("district", prompts, speech=True, timeout=8, hints=_hints(names))


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
    items, names = _blocks(ctx)
    prompts = ctx.words(P.BLOCK_ASK) if ctx.progress.page == 0 else []
    prompts += menu_words(ctx, items, ctx.progress.page)
    return ctx.gather("block", prompts, speech=True, timeout=8, hints=_hints(names))


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


Listing = Callable[[Ctx], tuple[list[Item], dict[int, list[str]]]]


def _choose(ctx: Ctx, said: Said, listing: Listing) -> int | str | None:
    """A key from the page read out, or a name said aloud matched against the whole list."""
    if said.speech and not said.digits:
        items, names = listing(ctx)
        found = _by_name(said.speech, items, names)
        return found.id if found else None
    return menu_choice(ctx, said)


# --- village and landmark ---------------------------------------------------------------------


@asks("village")
def ask_village(ctx: Ctx) -> Reply:
    _, names = _villages(ctx)
    return ctx.gather(
        "village",
        ctx.words(P.VILLAGE_ASK),
        speech=True,
        num_digits=6,
        timeout=10,
        hints=_hints(names),
    )


@answers("village")
def on_village(ctx: Ctx, said: Said) -> Reply:
    if said.empty:
        return ctx.unclear(said)
    items, names = _villages(ctx)
    ctx.progress.page, ctx.progress.matches = 0, []
    if said.digits:  # a PIN code: one village, or a short menu of the villages sharing it
        by_pin = geography_service.villages_by_pincode(session=ctx.session, pincode=said.digits)
        ids = {v.id for v in by_pin if v.block_id == ctx.progress.block_id}
        found = [i for i in items if i.id in ids]
        if len(found) > 1:
            ctx.progress.matches = [i.id for i in found]
            return ctx.goto("village_menu")
    else:
        best = _by_name(said.speech, items, names)
        found = [best] if best else []
    if not found:
        return ctx.say(P.VILLAGE_NOT_FOUND) + ctx.goto("village_menu")
    ctx.progress.village_id = found[0].id
    return ctx.goto("landmark")


@asks("village_menu")
def ask_village_menu(ctx: Ctx) -> Reply:
    items, _ = _villages(ctx, only_matches=True)
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
    return ctx.say(P.ADDRESS_NOTED, place=words.place(ctx, address)) + ctx.goto("windows")


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
