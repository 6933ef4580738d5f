"""Pendency queries: open requests counted by district, block, service and agent, by age band
and by the two clocks; the requests behind any count; the weekly on-time rates; and the
state's working-day calendar.

All the overview's counts are one query grouped over the clocks' SQL
(`dispatch.pendency.query`) and added up here per district, block, service and agent, never a
request at a time; a list is one page of one query; names come from four small queries
(`names`) shared by a page's tables. Queries run on the session's connection (Core rows, no
ORM objects: an export may hold every open request).

Pendency is "as of" a moment: requests logged after it are not counted (the product's clock
may be set in the past or the future for demonstrations); statuses are those of now.

Queries only: nothing here writes.

Not here: the arithmetic (`rules`), the SQL expressions (`query`), the pages (`web.pendency`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.geography.models import Block, District, Village
from dispatch.pendency import query, rules
from dispatch.pendency.query import Dimension, Filters, Moment
from dispatch.pendency.rules import AgeBand, LegalState, PromiseState, WeekRate, WorkCalendar
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import RequestStatus
from dispatch.states import service as state_service
from dispatch.states.models import State

S = RequestStatus
_R = DoorstepRequest
PER_PAGE = 50
MOST_PER_PAGE = 200


def work_calendar(*, session: Session, state: State, since: dt.date | None = None) -> WorkCalendar:
    """The state's working week less its holidays (from `since` on, when given: enough for
    counting forward from that day)."""
    days = state_service.holidays(session=session, state_code=state.code, start=since)
    return WorkCalendar.of(state.working_days, (h.day for h in days))


def moment(*, session: Session, state_code: str, now: dt.datetime) -> Moment:
    state = state_service.get(session=session, code=state_code)
    return Moment(now, ZoneInfo(state.timezone), work_calendar(session=session, state=state))


# --- names --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    """A district, block, service or agent as the tables and filters name it."""

    id: int
    name: str
    district_id: int | None = None  # of a block or an agent


@dataclass(frozen=True)
class Names:
    districts: dict[int, Named]
    blocks: dict[int, Named]
    services: dict[int, Named]
    agents: dict[int, Named]

    def of(self, dimension: Dimension) -> dict[int, Named]:
        return {
            Dimension.DISTRICT: self.districts,
            Dimension.BLOCK: self.blocks,
            Dimension.SERVICE: self.services,
            Dimension.AGENT: self.agents,
        }[dimension]

    def district_name(self, district_id: int | None) -> str:
        found = self.districts.get(district_id) if district_id is not None else None
        return found.name if found else ""


def names(*, session: Session, state_code: str) -> Names:
    """Every district, block, service (offered or not) and agent of the state, by id: four
    small queries, for the tables' names and the filters' choices."""
    districts = {
        d.id: Named(d.id, d.name)
        for d in session.exec(
            select(District).where(District.state_code == state_code).order_by(col(District.name))
        )
        if d.id is not None
    }
    blocks = {
        b.id: Named(b.id, b.name, b.district_id)
        for b in session.exec(
            select(Block)
            .where(col(Block.district_id).in_(list(districts)))
            .order_by(col(Block.name))
        )
        if b.id is not None
    }
    services = {
        s.id: Named(s.id, s.name_en)
        for s in session.exec(
            select(Service).where(Service.state_code == state_code).order_by(col(Service.name_en))
        )
        if s.id is not None
    }
    agents = {
        a.id: Named(a.id, a.name, district_id)
        for a, district_id in session.exec(
            select(Agent, Block.district_id)
            .join(Block, col(Block.id) == col(Agent.block_id))
            .where(Agent.state_code == state_code)
            .order_by(col(Agent.name))
        )
        if a.id is not None
    }
    return Names(districts, blocks, services, agents)


# --- counts ---------------------------------------------------------------------------------------


def _zeros_legal() -> dict[LegalState, int]:
    return {state: 0 for state in LegalState}


def _zeros_promise() -> dict[PromiseState, int]:
    return {state: 0 for state in PromiseState}


def _zeros_bands() -> dict[str, int]:
    return {band.key: 0 for band in rules.AGE_BANDS}


@dataclass
class Tally:
    """Open requests of one district, block, service or agent (`key` None: no agent yet):
    by age band, by legal state and by promise state."""

    key: int | None
    name: str
    district: str = ""
    total: int = 0
    bands: dict[str, int] = field(default_factory=_zeros_bands)
    legal: dict[LegalState, int] = field(default_factory=_zeros_legal)
    promise: dict[PromiseState, int] = field(default_factory=_zeros_promise)

    @property
    def breaching(self) -> int:
        """Breached, or forecast to breach."""
        return self.legal[LegalState.BREACHED] + self.legal[LegalState.FORECAST]

    def add(self, band: str, legal: LegalState, promise: PromiseState, count: int) -> None:
        self.total += count
        self.bands[band] += count
        self.legal[legal] += count
        self.promise[promise] += count


def _key_column(dimension: Dimension) -> Any:
    return {
        Dimension.DISTRICT: col(_R.district_id),
        Dimension.BLOCK: col(Village.block_id),
        Dimension.SERVICE: col(_R.service_id),
        Dimension.AGENT: col(_R.agent_id),
    }[dimension]


def tallies(
    *,
    session: Session,
    state_code: str,
    dimension: Dimension,
    filters: Filters,
    now: dt.datetime,
    m: Moment | None = None,
    known: Names | None = None,
) -> list[Tally]:
    """Open requests counted per `dimension`, worst first (most breaching, then most open,
    then by name). One grouped query; only groups with open requests appear."""
    return tallies_by(
        session=session,
        state_code=state_code,
        dimensions=(dimension,),
        filters=filters,
        now=now,
        m=m,
        known=known,
    )[dimension]


def tallies_by(
    *,
    session: Session,
    state_code: str,
    dimensions: Sequence[Dimension],
    filters: Filters,
    now: dt.datetime,
    m: Moment | None = None,
    known: Names | None = None,
) -> dict[Dimension, list[Tally]]:
    """`tallies` for several dimensions at once, from one pass over the open requests (one
    query grouped by all their keys, added up here: the groups are far fewer than the
    requests)."""
    m = m or moment(session=session, state_code=state_code, now=now)
    known = known or names(session=session, state_code=state_code)
    clocks = query.clocks(m)
    base = sa.select(
        *[_key_column(d).label(d.value) for d in dimensions],
        clocks.band.label("band"),
        clocks.legal.label("legal"),
        clocks.promise.label("promise"),
    ).select_from(_R)
    if Dimension.BLOCK in dimensions or filters.needs_place:
        base = query.with_place(base)
    inner = base.where(*query.open_where(state_code, m, filters)).subquery()
    columns = [inner.c[d.value] for d in dimensions]
    grouped = (
        sa.select(*columns, inner.c.band, inner.c.legal, inner.c.promise, sa.func.count())
        .where(*query.state_where(inner, filters))
        .group_by(*columns, inner.c.band, inner.c.legal, inner.c.promise)
    )
    found: dict[Dimension, dict[int | None, Tally]] = {d: {} for d in dimensions}
    for row in session.connection().execute(grouped):
        *keys, band, legal_value, promise_value, count = row
        legal, promise = LegalState(legal_value), PromiseState(promise_value)
        for dimension, key in zip(dimensions, keys, strict=True):
            tally = found[dimension].get(key)
            if tally is None:
                tally = found[dimension][key] = _new_tally(known, dimension, key)
            tally.add(band, legal, promise, int(count))
    return {
        d: sorted(rows.values(), key=lambda t: (-t.breaching, -t.total, t.name))
        for d, rows in found.items()
    }


def _new_tally(known: Names, dimension: Dimension, key: int | None) -> Tally:
    named = known.of(dimension).get(key) if key is not None else None
    return Tally(
        key=key,
        name=named.name if named else ("Unassigned" if key is None else f"#{key}"),
        district=known.district_name(named.district_id) if named else "",
    )


def total(rows: Sequence[Tally]) -> Tally:
    """The tallies added up (e.g. the districts': every open request has one district)."""
    whole = Tally(key=None, name="All")
    for row in rows:
        whole.total += row.total
        for key, n in row.bands.items():
            whole.bands[key] += n
        for legal, n in row.legal.items():
            whole.legal[legal] += n
        for promise, n in row.promise.items():
            whole.promise[promise] += n
    return whole


# --- the requests behind a count ----------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One open request as the drill-down lists it (times UTC; days the state's local)."""

    request_id: int
    reference: str
    status: RequestStatus
    service_name: str
    district_name: str
    block_name: str
    village_name: str
    agent_name: str | None
    logged_at: dt.datetime
    application_day: dt.date
    age_days: int
    band: AgeBand
    due_date: dt.date | None
    #: Working days from today to the due date: negative once it is past (days late).
    working_days_left: int | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    planned_arrival: dt.datetime | None
    at_risk: bool
    legal: LegalState
    promise: PromiseState


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    number: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def find(
    *,
    session: Session,
    state_code: str,
    filters: Filters,
    now: dt.datetime,
    page: int = 1,
    per_page: int | None = PER_PAGE,
    m: Moment | None = None,
    known: Names | None = None,
) -> Page:
    """The open requests matching `filters`, worst first: breached, forecast, due soon, on
    time, no limit; within each, the earliest due and then the longest waiting first. One
    page of `per_page` (None: all of them, for an export)."""
    m = m or moment(session=session, state_code=state_code, now=now)
    known = known or names(session=session, state_code=state_code)
    clocks = query.clocks(m)
    base = query.with_place(
        sa.select(
            col(_R.id).label("id"),
            col(_R.reference).label("reference"),
            col(_R.status).label("status"),
            col(_R.service_id).label("service_id"),
            col(_R.district_id).label("district_id"),
            col(Village.block_id).label("block_id"),
            col(Village.name).label("village"),
            col(_R.agent_id).label("agent_id"),
            col(_R.logged_at).label("logged_at"),
            col(_R.due_date).label("due_date"),
            col(_R.window_start).label("window_start"),
            col(_R.window_end).label("window_end"),
            col(_R.planned_arrival).label("planned_arrival"),
            col(_R.at_risk).label("at_risk"),
            clocks.band.label("band"),
            clocks.legal.label("legal"),
            clocks.promise.label("promise"),
        ).select_from(_R)
    )
    inner = base.where(*query.open_where(state_code, m, filters)).subquery()
    where = query.state_where(inner, filters)
    count = int(
        session.connection()
        .execute(sa.select(sa.func.count()).select_from(inner).where(*where))
        .one()[0]
    )
    stmt = (
        sa.select(inner)
        .where(*where)
        .order_by(
            sa.case(
                {
                    LegalState.BREACHED.value: 0,
                    LegalState.FORECAST.value: 1,
                    LegalState.DUE_SOON.value: 2,
                    LegalState.ON_TIME.value: 3,
                },
                value=inner.c.legal,
                else_=4,
            ),
            inner.c.due_date,
            inner.c.logged_at,
            inner.c.id,
        )
    )
    if per_page is None:
        number, size = 1, max(count, 1)
    else:
        size = min(max(per_page, 1), MOST_PER_PAGE)
        number = min(max(page, 1), max(1, -(-count // size)))
        stmt = stmt.offset((number - 1) * size).limit(size)
    rows = [_row(r, m, known) for r in session.connection().execute(stmt)]
    return Page(rows=rows, total=count, number=number, per_page=size)


def _row(r: Any, m: Moment, known: Names) -> Row:
    application_day = r.logged_at.astimezone(m.tz).date()
    due: dt.date | None = r.due_date
    agent = known.agents.get(r.agent_id) if r.agent_id is not None else None
    block = known.blocks.get(r.block_id)
    service = known.services.get(r.service_id)
    return Row(
        request_id=r.id,
        reference=r.reference,
        status=RequestStatus(r.status),
        service_name=service.name if service else "",
        district_name=known.district_name(r.district_id),
        block_name=block.name if block else "",
        village_name=r.village,
        agent_name=agent.name if agent else None,
        logged_at=r.logged_at,
        application_day=application_day,
        age_days=rules.age_days(application_day, m.today),
        band=rules.BAND_BY_KEY[r.band],
        due_date=due,
        working_days_left=(
            m.calendar.working_days_between(m.today, due) if due is not None else None
        ),
        window_start=r.window_start,
        window_end=r.window_end,
        planned_arrival=r.planned_arrival,
        at_risk=bool(r.at_risk),
        legal=LegalState(r.legal),
        promise=PromiseState(r.promise),
    )


# --- on-time rates ------------------------------------------------------------------------------


def weekly_rates(
    *,
    session: Session,
    state_code: str,
    filters: Filters,
    now: dt.datetime,
    m: Moment | None = None,
) -> list[WeekRate]:
    """On-time rates of the requests completed in each of the last `rules.RATE_WEEKS` weeks
    (by the local day of completion; the current week so far is the last), narrowed by place,
    service and agent (the clock-state and band filters are about open requests: not used).
    Counted in SQL: the rules' `weekly_rates` is the definition the tests hold this to."""
    m = m or moment(session=session, state_code=state_code, now=now)
    mondays = rules.rate_weeks(m.today)
    starts = [m.day_start(monday) for monday in mondays]
    event = RequestEvent.__table__.alias("done")  # type: ignore[attr-defined]
    arrival_event = RequestEvent.__table__.alias("came")  # type: ignore[attr-defined]
    arrived = (
        sa.select(sa.func.max(arrival_event.c.at))
        .where(
            arrival_event.c.request_id == col(_R.id),
            arrival_event.c.to_status == S.ARRIVED.value,
        )
        .scalar_subquery()
    )
    base = sa.select(
        event.c.at.label("completed_at"),
        col(_R.due_date).label("due_date"),
        col(_R.window_start).label("window_start"),
        col(_R.window_end).label("window_end"),
        arrived.label("arrived_at"),
    ).select_from(_R)
    base = base.join(event, event.c.request_id == col(_R.id))
    if filters.needs_place:
        base = query.with_place(base)
    done = base.where(
        col(_R.state_code) == state_code,
        col(_R.status) == S.COMPLETED.value,
        event.c.to_status == S.COMPLETED.value,
        event.c.at >= starts[0],
        event.c.at <= m.now,
        *query.place_where(filters),
    ).subquery()
    week = sa.case(
        *[(done.c.completed_at >= starts[i], i) for i in reversed(range(len(starts)))],
        else_=-1,
    )
    has_limit = done.c.due_date.is_not(None)
    judged = sa.and_(
        done.c.arrived_at.is_not(None),
        done.c.window_start.is_not(None),
        done.c.window_end.is_not(None),
    )
    kept = sa.and_(judged, done.c.arrived_at <= done.c.window_end)  # `rules.promise_kept`
    on_time = sa.and_(has_limit, m.local_date(done.c.completed_at) <= done.c.due_date)
    classified = sa.select(
        week.label("week"),
        sa.case((has_limit, 1), else_=0).label("legal_counted"),
        sa.case((on_time, 1), else_=0).label("legal_on_time"),
        sa.case((judged, 1), else_=0).label("promise_counted"),
        sa.case((kept, 1), else_=0).label("promise_kept"),
    ).subquery()
    grouped = sa.select(
        classified.c.week,
        sa.func.count(),
        sa.func.sum(classified.c.legal_counted),
        sa.func.sum(classified.c.legal_on_time),
        sa.func.sum(classified.c.promise_counted),
        sa.func.sum(classified.c.promise_kept),
    ).group_by(classified.c.week)
    counts = {
        int(w): [int(v or 0) for v in values]
        for w, *values in session.connection().execute(grouped)
    }
    return [WeekRate(monday, *counts.get(i, [0, 0, 0, 0, 0])) for i, monday in enumerate(mondays)]
