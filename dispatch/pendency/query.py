"""The two clocks in SQL: a request row's age band, legal state and promise state as `CASE`
expressions, so that the database counts tens of thousands of open requests in a grouped
query instead of handing them over one by one; and the filters as `WHERE` conditions.

The expressions apply `dispatch.pendency.rules` (its thresholds, computed once per moment by
the rules themselves, become constants of the query); the tests hold them equal to the rules
request by request. The local date of a timestamp is `timezone(zone, ts)` on PostgreSQL; on
SQLite (no time-zone database) it is the timestamp shifted by the zone's UTC offset at the
moment asked about — exact for India, which has one offset and no daylight saving.

Not here: running the queries (`dispatch.pendency.service`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import col

from dispatch.citizens.models import Address
from dispatch.geography.models import Village
from dispatch.pendency import rules
from dispatch.pendency.rules import AgeBand, LegalState, PromiseState, Stage, WorkCalendar
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import OPEN, RequestStatus

S = RequestStatus
#: Statuses whose visit has a window to keep.
WINDOWED = (S.SCHEDULED, S.ASSIGNED, S.EN_ROUTE)
#: The agent filter's value for requests no agent has yet.
UNASSIGNED = 0


def stage_of(status: RequestStatus) -> Stage:
    """Where an open request's visit stands, for the clocks."""
    if status is S.ARRIVED:
        return Stage.AT_DOOR
    if status in WINDOWED:
        return Stage.PLANNED
    return Stage.WAITING


# --- the local date of a timestamp, in SQL ----------------------------------------------------


class _LocalDate(FunctionElement[dt.date]):
    """`local_date(ts, zone, shift)`: the date of a UTC timestamp in a time zone."""

    type = sa.Date()
    name = "local_date"
    inherit_cache = True


@compiles(_LocalDate, "postgresql")
def _local_date_postgresql(element: _LocalDate, compiler: SQLCompiler, **kw: Any) -> str:
    stamp, zone, _shift = list(element.clauses)
    return (
        f"CAST(timezone({compiler.process(zone, **kw)}, {compiler.process(stamp, **kw)}) AS DATE)"
    )


@compiles(_LocalDate, "sqlite")
def _local_date_sqlite(element: _LocalDate, compiler: SQLCompiler, **kw: Any) -> str:
    stamp, _zone, shift = list(element.clauses)
    return f"date({compiler.process(stamp, **kw)}, {compiler.process(shift, **kw)})"


def local_date(stamp: Any, tz: ZoneInfo, at: dt.datetime) -> _LocalDate:
    """The local date of a UTC timestamp column (SQLite: with the zone's offset at `at`)."""
    offset = at.astimezone(tz).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return _LocalDate(
        stamp,
        sa.literal(tz.key, sa.String()),
        sa.literal(f"{minutes:+d} minutes", sa.String()),
    )


# --- the moment and the filters ---------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """When pendency is counted: the instant, the state's zone and its working-day calendar."""

    now: dt.datetime
    tz: ZoneInfo
    calendar: WorkCalendar

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    def day_start(self, day: dt.date) -> dt.datetime:
        """The UTC instant the local `day` begins."""
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.tz).astimezone(dt.UTC)

    def local_date(self, stamp: Any) -> _LocalDate:
        return local_date(stamp, self.tz, self.now)


@dataclass(frozen=True)
class Filters:
    """What the counts and lists are narrowed to; every field optional. `agent_id` may be
    `UNASSIGNED`; `legal`, `promise` and `band` narrow to requests in that state or band."""

    district_id: int | None = None
    block_id: int | None = None
    service_id: int | None = None
    agent_id: int | None = None
    legal: LegalState | None = None
    promise: PromiseState | None = None
    band: AgeBand | None = None

    @property
    def needs_place(self) -> bool:
        return self.block_id is not None


class Dimension(StrEnum):
    DISTRICT = "district"
    BLOCK = "block"
    SERVICE = "service"
    AGENT = "agent"


# --- the clocks as SQL --------------------------------------------------------------------------

_R = DoorstepRequest


@dataclass(frozen=True)
class Clocks:
    """A request row's age band, legal state and promise state, as SQL expressions."""

    band: Any
    legal: Any
    promise: Any


def clocks(m: Moment) -> Clocks:
    """The rules' classification of a request row at `m`, as SQL expressions (kept equal to
    `rules.legal_state`, `rules.promise_state` and `rules.age_band` by the tests)."""
    cut = rules.legal_cutoffs(m.today, m.calendar)
    status, due = col(_R.status), col(_R.due_date)
    start, end, arrival = col(_R.window_start), col(_R.window_end), col(_R.planned_arrival)
    windowed = status.in_([s.value for s in WINDOWED])
    live = sa.and_(windowed, start.is_not(None), end.is_not(None), end >= m.now)
    visit_day = m.local_date(sa.func.coalesce(arrival, start))
    legal = sa.case(
        (due.is_(None), LegalState.NO_LIMIT.value),
        (due < m.today, LegalState.BREACHED.value),
        (sa.and_(live, visit_day > due), LegalState.FORECAST.value),
        (
            sa.and_(sa.not_(live), status != S.ARRIVED.value, due < cut.forecast_before),
            LegalState.FORECAST.value,
        ),
        (due < cut.due_soon_before, LegalState.DUE_SOON.value),
        else_=LegalState.ON_TIME.value,
    )
    promise = sa.case(
        (status == S.ARRIVED.value, PromiseState.ON_TRACK.value),
        (sa.or_(sa.not_(windowed), start.is_(None), end.is_(None)), PromiseState.NO_WINDOW.value),
        (end < m.now, PromiseState.MISSED.value),
        (sa.or_(col(_R.at_risk) == sa.true(), arrival > end), PromiseState.AT_RISK.value),
        else_=PromiseState.ON_TRACK.value,
    )
    logged = col(_R.logged_at)
    older_first = [(b, day) for b, day in rules.band_oldest_days(m.today) if b.low > 0][::-1]
    band = sa.case(
        *[(logged < m.day_start(day + dt.timedelta(days=1)), b.key) for b, day in older_first],
        else_=rules.AGE_BANDS[0].key,
    )
    return Clocks(band=band, legal=legal, promise=promise)


def open_where(state_code: str, m: Moment, filters: Filters) -> list[Any]:
    """Open requests of the state logged by `m`, narrowed by place, service and agent."""
    where: list[Any] = [
        col(_R.state_code) == state_code,
        col(_R.status).in_([s.value for s in OPEN]),
        col(_R.logged_at) <= m.now,
    ]
    return where + place_where(filters)


def place_where(filters: Filters) -> list[Any]:
    """Conditions for the place, service and agent filters (a block needs `with_place`)."""
    where: list[Any] = []
    if filters.district_id is not None:
        where.append(col(_R.district_id) == filters.district_id)
    if filters.block_id is not None:
        where.append(col(Village.block_id) == filters.block_id)
    if filters.service_id is not None:
        where.append(col(_R.service_id) == filters.service_id)
    if filters.agent_id == UNASSIGNED:
        where.append(col(_R.agent_id).is_(None))
    elif filters.agent_id is not None:
        where.append(col(_R.agent_id) == filters.agent_id)
    return where


def with_place(stmt: Any) -> Any:
    """`stmt` joined to the request's address and village (for its block)."""
    return stmt.join(Address, col(Address.id) == col(_R.address_id)).join(
        Village, col(Village.id) == col(Address.village_id)
    )


def state_where(inner: Any, filters: Filters) -> list[Any]:
    """Conditions for the clock-state and band filters, on a subquery holding the `clocks`
    labelled `legal`, `promise` and `band`."""
    where: list[Any] = []
    if filters.legal is not None:
        where.append(inner.c.legal == filters.legal.value)
    if filters.promise is not None:
        where.append(inner.c.promise == filters.promise.value)
    if filters.band is not None:
        where.append(inner.c.band == filters.band.key)
    return where
