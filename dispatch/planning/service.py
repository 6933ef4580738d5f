"""Planning service: window offers and bookings against the live plan, and re-planning.

The phone line and the visit use cases (`dispatch.visits`) call these. A zone is a district
and a plan covers one local day. Offers come from exact feasible insertion into the persisted
plan (milliseconds, `routing.insertion`); a booking inserts the visit at once and saves a new
plan version; `replan` lets the solver improve the day afterwards (searching with no
transaction open, saved only if no booking came meanwhile), keeping visits with their agents
unless moving them pays. The only in-process state is a cache of derived zone-days keyed by plan
version, so every answer is as current as the database.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.agents import service as agent_service
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.errors import Conflict, InvalidInput
from dispatch.geography import service as geography_service
from dispatch.geography.models import District
from dispatch.planning import changes, locks, store, zone
from dispatch.planning.models import PlanChangeKind, ZonePlan
from dispatch.planning.store import PlanOutdated
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED, RequestStatus
from routing.insertion import SlotFinder, SlotOffer
from routing.model import TimeWindow, Visit
from routing.params import SearchParameters
from routing.plan import Result
from routing.solver import solve

S = RequestStatus
NEW_VISIT = "new"

__all__ = [
    "PlanOutdated",
    "ReplanOutcome",
    "WindowOffer",
    "WindowTaken",
    "book",
    "cancel",
    "offer_windows",
    "prepare_booking",
    "release",
    "replan",
    "zone_day",
]


#: Why a plan changed (`PlanChange.cause`), as the planning use cases say it.
BOOKING = "booking"
CANCELLED = "cancelled"
RESCHEDULED = "rescheduled"
IMPROVED = "improved"
REPORT = "report"


class WindowTaken(Conflict):
    """The window offered a moment ago can no longer be met by the live plan."""

    def __init__(self, reference: str, start: dt.datetime) -> None:
        super().__init__("window", start.isoformat(), f"no longer available for {reference}")


@dataclass(frozen=True)
class WindowOffer:
    """A visit window the live plan can meet, with the agent and arrival it would have."""

    district_id: int
    day: dt.date
    start: dt.datetime
    end: dt.datetime
    agent_id: int
    eta: dt.datetime
    added_travel_s: int

    def to_json(self) -> dict[str, object]:
        return {
            "district_id": self.district_id,
            "day": self.day.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "agent_id": self.agent_id,
            "eta": self.eta.isoformat(),
            "added_travel_s": self.added_travel_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> WindowOffer:
        return cls(
            district_id=int(str(data["district_id"])),
            day=dt.date.fromisoformat(str(data["day"])),
            start=dt.datetime.fromisoformat(str(data["start"])),
            end=dt.datetime.fromisoformat(str(data["end"])),
            agent_id=int(str(data["agent_id"])),
            eta=dt.datetime.fromisoformat(str(data["eta"])),
            added_travel_s=int(str(data["added_travel_s"])),
        )


# --- the zone-day cache -------------------------------------------------------------------
# A SlotFinder is derived data. It is valid while the zone-day's plan row is unchanged (its
# version and the moment it was saved: a rolled-back save cannot pass for a committed one)
# and the same agents are on duty with the same routes locked, and for a minute at most. A
# booking puts the grown plan in the cache itself, so the next caller in the district does
# not wait for a rebuild.
_CACHE_SECONDS = 60.0
_Key = tuple[str, int, dt.date]  # database, district, day
#: version, saved at, agents on duty, agents whose route is locked
_Stamp = tuple[int, dt.datetime | None, tuple[int, ...], tuple[int, ...]]
_cache: dict[_Key, tuple[_Stamp, float, zone.ZoneDay, SlotFinder]] = {}
_cache_lock = threading.Lock()


def _key(session: Session, district_id: int, day: dt.date) -> _Key:
    return (str(session.get_bind().engine.url), district_id, day)


def _stamp(session: Session, district_id: int, day: dt.date) -> _Stamp:
    row = session.get(ZonePlan, (district_id, day), populate_existing=True)
    agents = agent_service.available(session=session, district_id=district_id, day=day)
    return (
        row.version if row else 0,
        row.updated_at if row else None,
        tuple(a.id or 0 for a in agents),
        tuple(sorted(locks.locked_agents(session=session, district_id=district_id, day=day))),
    )


def _finder(session: Session, district_id: int, day: dt.date) -> tuple[zone.ZoneDay, SlotFinder]:
    """The zone-day and its slot finder, rebuilt when the plan or the agents on duty change."""
    stamp, key = _stamp(session, district_id, day), _key(session, district_id, day)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == stamp and time.monotonic() - hit[1] < _CACHE_SECONDS:
        return hit[2], hit[3]
    zd = zone.load(session, district_id, day)
    finder = SlotFinder(zd.problem, zd.plan, zone.DEFAULT_TRAVEL)
    _remember(session, zd, finder, stamp)
    return zd, finder


def zone_day(*, session: Session, district_id: int, day: dt.date) -> zone.ZoneDay:
    """The zone-day as the live plan has it now (cached like the slot offers' own)."""
    return _finder(session, district_id, day)[0]


def _remember(
    session: Session, zd: zone.ZoneDay, finder: SlotFinder, stamp: _Stamp | None = None
) -> None:
    """Cache a zone-day under `stamp`, or under the stamp its plan row has now."""
    stamp = stamp if stamp is not None else _stamp(session, zd.district_id, zd.day)
    with _cache_lock:
        _cache[_key(session, zd.district_id, zd.day)] = (stamp, time.monotonic(), zd, finder)


def _forget(session: Session, district_id: int, day: dt.date) -> None:
    with _cache_lock:
        _cache.pop(_key(session, district_id, day), None)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# --- offers and bookings ------------------------------------------------------------------


def candidate_windows(
    clock: zone.Clock, not_before: dt.datetime, settings: Settings
) -> list[TimeWindow]:
    """The day's bookable windows (e.g. 09-11, 11-13, 13-15, 15-17) starting after `not_before`."""
    step = settings.window_hours * 3600
    out = []
    start = settings.visits_from_hour * 3600
    while start + step <= settings.visits_until_hour * 3600:
        if clock.at(start) >= not_before:
            out.append(TimeWindow(start, start + step))
        start += step
    return out


def _days(now: dt.datetime, clock_tz: zone.Clock, horizon_days: int) -> Iterator[dt.date]:
    today = now.astimezone(clock_tz.tz).date()
    for i in range(horizon_days + 1):
        yield today + dt.timedelta(days=i)


def offer_windows(
    *,
    session: Session,
    settings: Settings,
    address_id: int,
    service_id: int,
    language: str,
    now: dt.datetime,
    limit: int = 3,
    priority: int = 0,
    excluding: tuple[dt.datetime, dt.datetime] | None = None,
) -> list[WindowOffer]:
    """The earliest `limit` distinct windows the live plans of the coming days can meet
    (never the window `excluding`, the one a visit being rescheduled already has)."""
    address = citizen_service.get_address(session=session, address_id=address_id)
    service = catalogue_service.get(session=session, service_id=service_id)
    district = geography_service.district_of_village(session=session, village_id=address.village_id)
    assert district.id is not None
    location = zone.address_location(session, address)
    not_before = now + dt.timedelta(minutes=settings.booking_lead_minutes)
    offers: list[WindowOffer] = []
    probe = zone.local_clock(session, district.id, now.date())
    for day in _days(now, probe, settings.offer_horizon_days):
        zd, finder = _finder(session, district.id, day)
        windows = candidate_windows(zd.clock, not_before, settings)
        if not windows:
            continue
        visit = zone.make_visit(
            vid=NEW_VISIT,
            location=location,
            windows=[TimeWindow(0, 86_400)],
            service=service,
            language=zone.visit_language(language, zd.problem.agents),
            priority=priority,
        )
        best: dict[TimeWindow, SlotOffer] = {}
        for offer in finder.offers(visit, windows):
            if offer.window not in best:  # offers come cheapest first
                best[offer.window] = offer
        for window in sorted(best):
            window_offer = _window_offer(zd, best[window])
            if excluding is None or (window_offer.start, window_offer.end) != excluding:
                offers.append(window_offer)
        if len(offers) >= limit:
            break
    offers.sort(key=lambda o: o.start)
    return offers[:limit]


def _window_offer(zd: zone.ZoneDay, o: SlotOffer) -> WindowOffer:
    return WindowOffer(
        district_id=zd.district_id,
        day=zd.day,
        start=zd.clock.at(o.window.start),
        end=zd.clock.at(o.window.end),
        agent_id=zone.agent_id_of(o.agent_id),
        eta=zd.clock.at(o.eta),
        added_travel_s=o.added_travel,
    )


def _visit_for(
    session: Session, zd: zone.ZoneDay, request: DoorstepRequest, window: TimeWindow
) -> Visit:
    service = catalogue_service.get(session=session, service_id=request.service_id)
    address = citizen_service.get_address(session=session, address_id=request.address_id)
    return zone.make_visit(
        vid=zone.visit_id(request.id or 0),
        location=zone.address_location(session, address),
        windows=[window],
        service=service,
        language=zone.visit_language(request.language, zd.problem.agents),
        priority=request.priority,
    )


def prepare_booking(*, session: Session, offer: WindowOffer) -> None:
    """Bring this process's copy of the offer's zone-day (and its slot finder) up to date
    before a booking takes its locks. Call it first, outside them: then the booking only
    checks the plan version it was built from (`book`), and a rebuild after a booking made
    by another process (the cache is per process) is not done while the state's reference
    counter and the zone-day are held, with every other booking of the state waiting. It
    writes nothing; `book` checks everything again (an offer for no district is left to it
    to refuse)."""
    if session.get(District, offer.district_id) is not None:
        _finder(session, offer.district_id, offer.day)


def book(
    *,
    session: Session,
    request_id: int,
    offer: WindowOffer,
    actor: str,
    cause: str = BOOKING,
) -> DoorstepRequest:
    """Put the request into the live plan in the offered window, at once.

    The window is checked again against the plan as it is now (someone may have booked in
    between); if it can no longer be met, `WindowTaken` is raised and nothing changes.
    """
    for _attempt in range(3):
        try:
            with session.begin_nested():
                return _book_once(session, request_id, offer, actor, cause)
        except PlanOutdated:
            # Someone saved the zone-day meanwhile: look again at the plan as it is now.
            _forget(session, offer.district_id, offer.day)
            session.expire_all()  # rows refreshed inside the rolled-back savepoint are stale
    request = request_service.get(session=session, request_id=request_id)
    raise WindowTaken(request.reference, offer.start)


def _book_once(
    session: Session, request_id: int, offer: WindowOffer, actor: str, cause: str
) -> DoorstepRequest:
    request = request_service.get(session=session, request_id=request_id)
    if request.district_id != offer.district_id:
        raise InvalidInput("offer", offer.district_id, "offer is for another district")
    if request.status in PLANNED:
        raise InvalidInput("request", request.reference, f"already {request.status}")
    zd, finder = _finder(session, offer.district_id, offer.day)
    window = TimeWindow(zd.clock.seconds(offer.start), zd.clock.seconds(offer.end))
    visit = _visit_for(session, zd, request, window)
    options = finder.offers(visit, [window])
    if not options:
        raise WindowTaken(request.reference, offer.start)
    chosen = next(
        (o for o in options if zone.agent_id_of(o.agent_id) == offer.agent_id), options[0]
    )
    booking = finder.commit(visit, chosen)
    request_service.transition(
        session=session,
        request_id=request_id,
        to=S.SCHEDULED,
        actor=actor,
        window_start=offer.start,
        window_end=offer.end,
    )
    requests = {**zd.requests, visit.id: request_id}
    version = store.save(
        session=session,
        district_id=zd.district_id,
        day=zd.day,
        based_on=zd.version,
        plan=booking.plan,
        clock=zd.clock,
        requests=requests,
        actor=actor,
        cause=cause,
    )
    grown = replace(
        zd, version=version, problem=booking.problem, plan=booking.plan, requests=requests
    )
    _remember(session, grown, SlotFinder(booking.problem, booking.plan, zone.DEFAULT_TRAVEL))
    session.refresh(request)
    return request


def local_day(*, session: Session, request: DoorstepRequest) -> dt.date:
    """The local date of the request's window (its zone-day); `InvalidInput` without one."""
    if request.window_start is None:
        raise InvalidInput("request", request.reference, "has no window")
    clock = zone.local_clock(session, request.district_id, request.window_start.date())
    return request.window_start.astimezone(clock.tz).date()


def current_version(*, session: Session, request: DoorstepRequest, day: dt.date) -> int:
    """The current plan version of the request's district on `day`."""
    return zone.current_version(session, request.district_id, day)


def release(*, session: Session, request_id: int, actor: str, cause: str = "released") -> None:
    """Take a request's visit out of its day's live plan (before cancelling or rescheduling),
    recorded as removed for `cause`."""
    request = request_service.get(session=session, request_id=request_id)
    if request.window_start is None:
        return
    day = local_day(session=session, request=request)
    zd = zone.load(session, request.district_id, day)
    vid = zone.visit_id(request_id)
    routes = tuple(
        type(r)(
            r.agent_id,
            tuple(s for s in r.stops if s.visit_id != vid),
            r.departure,
            r.arrival,
            r.break_start,
        )
        for r in zd.plan.routes
    )
    plan = type(zd.plan)(routes, zd.plan.unassigned)
    others = {k: v for k, v in zd.requests.items() if k != vid}
    version = store.save(
        session=session,
        district_id=zd.district_id,
        day=day,
        based_on=zd.version,
        plan=plan,
        clock=zd.clock,
        requests=others,
        actor=actor,
        cause=cause,
    )
    changes.record(
        session=session,
        request=request,
        kind=PlanChangeKind.REMOVED,
        version=version,
        day=day,
        cause=cause,
        actor=actor,
    )


def cancel(*, session: Session, request_id: int, actor: str, reason: str) -> DoorstepRequest:
    """Cancel a request: out of the plan, charge waived (or refunded), trail recorded."""
    release(session=session, request_id=request_id, actor=actor, cause=CANCELLED)
    return request_service.transition(
        session=session,
        request_id=request_id,
        to=S.CANCELLED,
        actor=actor,
        reason=reason,
        agent_id=None,
        planned_arrival=None,
    )


def reschedule(
    *, session: Session, request_id: int, actor: str, reason: str, cause: str = RESCHEDULED
) -> DoorstepRequest:
    """Free the request's window; it then waits for a new one (`offer_windows` + `book`)."""
    release(session=session, request_id=request_id, actor=actor, cause=cause)
    return request_service.transition(
        session=session,
        request_id=request_id,
        to=S.RESCHEDULED,
        actor=actor,
        reason=reason,
        agent_id=None,
        planned_arrival=None,
        window_start=None,
        window_end=None,
    )


# --- re-planning --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplanOutcome:
    district_id: int
    day: dt.date
    version: int
    assigned: int
    unassigned: int
    wall_s: float
    source: str


def prepare_replan(*, session: Session, district_id: int, day: dt.date) -> zone.ZoneDay:
    """Read what a re-plan needs (a read-only session is enough)."""
    return zone.load(session, district_id, day)


def improve(
    zd: zone.ZoneDay, *, time_limit_s: float, workers: int = 1, engine: str = "sisr"
) -> Result:
    """Let the solver improve the zone-day's plan: warm start, visits kept with their agents
    unless moving them pays. Pure computation: hold no transaction open while it runs."""
    params = SearchParameters(time_limit_s=time_limit_s, workers=workers, engine=engine)
    return solve(zd.problem, params, current=zd.plan)


def save_replan(
    *,
    session: Session,
    zd: zone.ZoneDay,
    result: Result,
    actor: str = store.ACTOR,
    cause: str = IMPROVED,
) -> ReplanOutcome:
    """Save an improved plan if its zone-day has not moved on (no booking, no route locked or
    unlocked since it was read); else `PlanOutdated`."""
    version = store.save(
        session=session,
        district_id=zd.district_id,
        day=zd.day,
        based_on=zd.version,
        plan=result.plan,
        clock=zd.clock,
        requests=zd.requests,
        actor=actor,
        improved=True,
        cause=cause,
    )
    return ReplanOutcome(
        zd.district_id,
        zd.day,
        version,
        result.plan.assigned_count,
        len(result.plan.unassigned),
        result.wall_s,
        result.source,
    )


def replan(
    *,
    engine: Engine,
    district_id: int,
    day: dt.date,
    time_limit_s: float,
    solver_engine: str = "sisr",
    actor: str = store.ACTOR,
) -> ReplanOutcome:
    """Prepare (a read), improve (no transaction open) and save (a short write, `PlanOutdated`
    if a booking landed or a route was locked meanwhile) one zone-day: the command line's
    re-plan."""
    with read_session(engine) as session:
        zd = prepare_replan(session=session, district_id=district_id, day=day)
    result = improve(zd, time_limit_s=time_limit_s, engine=solver_engine)
    with write_session(engine) as session:
        return save_replan(session=session, zd=zd, result=result, actor=actor)


# --- following the agents' reports -----------------------------------------------------------


@dataclass(frozen=True)
class Retimed:
    """A zone-day re-timed from the agents' reports: the new version, and the visits whose
    window can no longer be met by the agent they were given to (flagged `at_risk`)."""

    version: int
    at_risk: list[int]


def follow_progress(
    *, session: Session, district_id: int, day: dt.date, actor: str, cause: str = REPORT
) -> Retimed:
    """Re-time the zone-day's plan from where its agents really are (`zone.progress`: their
    last report, where and when) and save it as the next version; every request's ETA follows.

    The order of each agent's visits is kept. A visit the agent can no longer reach within its
    window is flagged `at_risk` and left out of the agent's route (it waits for a place: the
    re-plan decides; a pinned visit stays with its agent); a flagged visit that fits again is
    cleared. A plan saved meanwhile by someone else is read again (up to three times)."""
    for _attempt in range(2):
        try:
            with session.begin_nested():
                return _follow_once(session, district_id, day, actor, cause)
        except PlanOutdated:
            _forget(session, district_id, day)
            session.expire_all()  # rows refreshed inside the rolled-back savepoint are stale
    return _follow_once(session, district_id, day, actor, cause)


def _follow_once(
    session: Session, district_id: int, day: dt.date, actor: str, cause: str
) -> Retimed:
    _forget(session, district_id, day)
    zd = zone.load(session, district_id, day)
    placed = {zone.request_id_of(v) for r in zd.plan.routes for v in r.visit_ids}
    before = {
        s.request_id for s in store.current_stops(session=session, district_id=district_id, day=day)
    }
    late = sorted((before - placed) & set(zd.requests.values()))
    for request_id in late:
        request_service.update(session=session, request_id=request_id, actor=actor, at_risk=True)
    for request_id in placed:
        request = request_service.get(session=session, request_id=request_id)
        if request.at_risk:
            request_service.update(
                session=session, request_id=request_id, actor=actor, at_risk=False
            )
    version = store.save(
        session=session,
        district_id=district_id,
        day=day,
        based_on=zd.version,
        plan=zd.plan,
        clock=zd.clock,
        requests=zd.requests,
        actor=actor,
        cause=cause,
    )
    return Retimed(version, late)
