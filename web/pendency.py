"""The pendency pages (permission: supervise): open requests against the legal time limit and
the promised visit window, by district, block, service and agent, by age.

- `GET /pendency` — filters (district, block, service, agent, the legal clock's state, the
  promise's state) as a GET form; tiles (open, breached, forecast to breach, due soon, promise
  missed, at risk); two charts drawn on the server (pendency by age band per district — per
  block once a district is chosen — and the on-time rates of the last twelve weeks) with
  their numbers in tables; a table per district, block, service and agent with age-band
  columns and the clocks' counts. Rows breaching or forecast to breach are marked in words
  and with a sign, not by colour alone; every count links to the requests behind it.
- `GET /pendency/requests` — those requests (the same filters, plus an age band), worst first,
  50 a page; each row opens the request's own page (`/requests/{id}`), where a supervisor
  reassigns, reschedules, cancels or raises its priority.
- `GET /pendency/export/{table}.csv` — every table as CSV with the same filters: districts,
  blocks, services, agents, weeks, requests (all of them, not one page). No citizen's name or
  number in any of them.

Not here: the counting (`dispatch.pendency`), the charts' drawing (`web.charts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from dispatch.errors import NotFound
from dispatch.pendency import query, rules
from dispatch.pendency import service as pendency
from dispatch.pendency.query import Dimension, Filters, Moment
from dispatch.pendency.rules import AGE_BANDS, LegalState, PromiseState, WeekRate
from dispatch.pendency.service import Names, Tally
from dispatch.states import service as state_service
from web import charts
from web.auth import Supervisor
from web.deps import ReadSessionDep
from web.export import csv_response
from web.requests import ClockDep, LocalTime
from web.templating import templates

router = APIRouter()

#: A filter's id: empty for "any", else at most nine digits (below the tables' largest key).
IdChoice = Annotated[str, Query(max_length=9, pattern=r"^\d*$")]
#: Districts (or blocks) the age chart draws one by one; the rest are added up as "others".
CHART_PLACES = 8
TABLES = ("districts", "blocks", "services", "agents", "weeks", "requests")
DIMENSION_OF = {
    "districts": Dimension.DISTRICT,
    "blocks": Dimension.BLOCK,
    "services": Dimension.SERVICE,
    "agents": Dimension.AGENT,
}
#: The query parameter that narrows the list to one row of each table.
PARAM_OF = {
    Dimension.DISTRICT: "district",
    Dimension.BLOCK: "block",
    Dimension.SERVICE: "service",
    Dimension.AGENT: "agent",
}
TITLES = {
    Dimension.DISTRICT: "By district",
    Dimension.BLOCK: "By block",
    Dimension.SERVICE: "By service",
    Dimension.AGENT: "By agent",
}
HEADINGS = {
    Dimension.DISTRICT: "District",
    Dimension.BLOCK: "Block",
    Dimension.SERVICE: "Service",
    Dimension.AGENT: "Agent",
}
#: The clocks' counts each table shows, in order (legal states first).
LEGAL_COLUMNS = (LegalState.BREACHED, LegalState.FORECAST, LegalState.DUE_SOON)
PROMISE_COLUMNS = (PromiseState.MISSED, PromiseState.AT_RISK)
#: The exports have every state, the worst first.
LEGAL_ORDER = (*LEGAL_COLUMNS, LegalState.ON_TIME, LegalState.NO_LIMIT)
PROMISE_ORDER = (*PROMISE_COLUMNS, PromiseState.ON_TRACK, PromiseState.NO_WINDOW)


@dataclass(frozen=True)
class Chosen:
    """The filters as read from the address: the domain's `Filters`, and the values as they
    were given (kept in every link and export, so a drill-down keeps its narrowing)."""

    filters: Filters
    kept: dict[str, str]

    def url(self, path: str, **changes: object) -> str:
        """`path` with the kept filters, changed by `changes` (None or "" drops one)."""
        merged = dict(self.kept)
        for name, value in changes.items():
            if value is None or value == "":
                merged.pop(name, None)
            else:
                merged[name] = str(value)
        return f"{path}?{urlencode(merged)}" if merged else path

    def without_band(self) -> Chosen:
        """The same filters but any age (the overview's tables have a column per band)."""
        kept = {k: v for k, v in self.kept.items() if k != "band"}
        return Chosen(replace(self.filters, band=None), kept)


def read_filters(
    district: IdChoice = "",
    block: IdChoice = "",
    service: IdChoice = "",
    agent: Annotated[str, Query(max_length=9, pattern=r"^(\d*|none)$")] = "",
    legal: Annotated[str, Query(max_length=16)] = "",
    promise: Annotated[str, Query(max_length=16)] = "",
    band: Annotated[str, Query(max_length=8)] = "",
) -> Chosen:
    """The filters of every pendency page and export; an unknown clock state or band is left
    out (any), as a stale link's would be."""
    legal_state = LegalState(legal) if legal in set(LegalState) else None
    promise_state = PromiseState(promise) if promise in set(PromiseState) else None
    age = rules.BAND_BY_KEY.get(band)
    filters = Filters(
        district_id=int(district) if district else None,
        block_id=int(block) if block else None,
        service_id=int(service) if service else None,
        agent_id=query.UNASSIGNED if agent == "none" else (int(agent) if agent else None),
        legal=legal_state,
        promise=promise_state,
        band=age,
    )
    kept = {
        "district": district,
        "block": block,
        "service": service,
        "agent": agent,
        "legal": legal_state.value if legal_state else "",
        "promise": promise_state.value if promise_state else "",
        "band": age.key if age else "",
    }
    return Chosen(filters, {k: v for k, v in kept.items() if v})


ChosenDep = Annotated[Chosen, Depends(read_filters)]


@dataclass(frozen=True)
class Table:
    """One of the page's four tables."""

    dimension: Dimension
    rows: list[Tally]

    @property
    def title(self) -> str:
        return TITLES[self.dimension]

    @property
    def heading(self) -> str:
        return HEADINGS[self.dimension]

    @property
    def param(self) -> str:
        return PARAM_OF[self.dimension]

    @property
    def export(self) -> str:
        return f"{self.dimension.value}s"

    @property
    def with_district(self) -> bool:
        return self.dimension in (Dimension.BLOCK, Dimension.AGENT)


def row_value(tally: Tally) -> str:
    """The filter value that narrows to this row (`none`: the agent column's unassigned)."""
    if tally.key is None:
        return "none"
    return str(tally.key)


# --- the page -------------------------------------------------------------------------------


@router.get("/pendency", response_class=HTMLResponse)
def pendency_page(
    request: Request, user: Supervisor, session: ReadSessionDep, clock: ClockDep, chosen: ChosenDep
) -> Response:
    chosen = chosen.without_band()
    now = clock.now()
    m = pendency.moment(session=session, state_code=user.state_code, now=now)
    known = pendency.names(session=session, state_code=user.state_code)
    counted = pendency.tallies_by(
        session=session,
        state_code=user.state_code,
        dimensions=tuple(Dimension),
        filters=chosen.filters,
        now=now,
        m=m,
        known=known,
    )
    tables = [Table(dimension, counted[dimension]) for dimension in Dimension]
    weeks = pendency.weekly_rates(
        session=session, state_code=user.state_code, filters=chosen.filters, now=now, m=m
    )
    whole = pendency.total(tables[0].rows)
    by_place = tables[1] if chosen.filters.district_id is not None else tables[0]
    context = {
        **_common(session, user.state_code, m, known, chosen),
        "tables": tables,
        "summary": whole,
        "tiles": _tiles(whole, chosen),
        "weeks": weeks,
        "overall": rules.overall(weeks),
        "band_chart": _band_chart(by_place) if whole.total else None,
        "band_chart_of": by_place,
        "rates_chart": _rates_chart(weeks) if rules.overall(weeks).completed else None,
        "legal_columns": LEGAL_COLUMNS,
        "promise_columns": PROMISE_COLUMNS,
        "row_value": row_value,
    }
    return templates.TemplateResponse(request, "pendency/index.html", context)


@dataclass(frozen=True)
class Tile:
    label: str
    count: int
    url: str
    kind: str  # for the page's style: "breached", "forecast", ...
    note: str = ""


def _tiles(whole: Tally, chosen: Chosen) -> list[Tile]:
    drill = "/pendency/requests"
    return [
        Tile("Open requests", whole.total, chosen.url(drill), "open"),
        Tile(
            "Breached",
            whole.legal[LegalState.BREACHED],
            chosen.url(drill, legal=LegalState.BREACHED.value),
            "breached",
            "past the legal time limit",
        ),
        Tile(
            "Forecast to breach",
            whole.legal[LegalState.FORECAST],
            chosen.url(drill, legal=LegalState.FORECAST.value),
            "forecast",
            "the visit comes too late",
        ),
        Tile(
            "Due soon",
            whole.legal[LegalState.DUE_SOON],
            chosen.url(drill, legal=LegalState.DUE_SOON.value),
            "due-soon",
            f"{rules.DUE_SOON_WORKING_DAYS} working days left or fewer",
        ),
        Tile(
            "Promise missed",
            whole.promise[PromiseState.MISSED],
            chosen.url(drill, promise=PromiseState.MISSED.value),
            "missed",
            "window over, nobody came",
        ),
        Tile(
            "Visit at risk",
            whole.promise[PromiseState.AT_RISK],
            chosen.url(drill, promise=PromiseState.AT_RISK.value),
            "at-risk",
            "the agent will be late",
        ),
    ]


def _band_chart(table: Table) -> Markup:
    """Open requests per place (the worst `CHART_PLACES`, the rest as "others"), stacked by
    age band."""
    rows = sorted(table.rows, key=lambda t: (-t.total, t.name))
    shown, rest = rows[:CHART_PLACES], rows[CHART_PLACES:]
    labels = [t.name for t in shown]
    series = {band.label: [float(t.bands[band.key]) for t in shown] for band in AGE_BANDS}
    if rest:
        labels.append(f"{len(rest)} others")
        for band in AGE_BANDS:
            series[band.label].append(float(sum(t.bands[band.key] for t in rest)))
    place = "district" if table.dimension is Dimension.DISTRICT else "block"
    return charts.bars(
        title=f"Open requests by age and {place}",
        labels=labels,
        series=series,
        description=(
            f"Stacked bars: open requests of each {place}, split by how many calendar days "
            "they have waited. The numbers are in the table below."
        ),
        stacked=True,
        horizontal=True,
    )


def _rates_chart(weeks: Sequence[WeekRate]) -> Markup:
    return charts.lines(
        title="Completed on time, per week",
        labels=[f"{w.week:%d %b}" for w in weeks],
        series={
            "Legal time limit": [w.legal_rate for w in weeks],
            "Promised window": [w.promise_rate for w in weeks],
        },
        description=(
            "Lines: the share of requests completed each week that were within their legal "
            "time limit, and whose agent arrived by the end of the promised window. The "
            "numbers are in the table below."
        ),
        percent=True,
    )


def _common(
    session: ReadSessionDep, state_code: str, m: Moment, known: Names, chosen: Chosen
) -> dict[str, Any]:
    """What both pages show: the filters with their choices, the moment, the calendar."""
    state = state_service.get(session=session, code=state_code)
    year = m.today.year
    holidays = state_service.holidays(
        session=session,
        state_code=state_code,
        start=dt.date(year, 1, 1),
        end=dt.date(year, 12, 31),
    )
    return {
        "state": state,
        "now_local": f"{m.now.astimezone(m.tz):%a %d %b %Y, %H:%M}",
        "today": m.today,
        "working_week": _working_week(state.working_days),
        "holidays_this_year": len(holidays),
        # No holiday on record after today: due dates ahead take none off (say so).
        "holidays_run_out": not m.calendar.knows_holidays_after(m.today),
        "last_holiday": m.calendar.last_holiday,
        "form": chosen.kept,
        "chosen": chosen,
        "names": known,
        "districts": list(known.districts.values()),
        "blocks_by_district": _grouped(known, known.blocks),
        "services": list(known.services.values()),
        "agents_by_district": _grouped(known, known.agents),
        "legal_states": [s for s in LegalState],
        "promise_states": [s for s in PromiseState],
        "bands": AGE_BANDS,
        "local": LocalTime(m.tz),
        "export_url": lambda table: chosen.url(f"/pendency/export/{table}.csv"),
        "drill": lambda **changes: chosen.url("/pendency/requests", **changes),
        "due_soon_days": rules.DUE_SOON_WORKING_DAYS,
    }


def _grouped(known: Names, items: dict[int, pendency.Named]) -> list[tuple[str, list[Any]]]:
    """Blocks or agents under their district's name (the filters' option groups)."""
    groups: dict[str, list[Any]] = {}
    for item in items.values():
        groups.setdefault(known.district_name(item.district_id), []).append(item)
    return sorted(groups.items())


def _working_week(days: Sequence[str]) -> str:
    order = rules.WEEKDAYS
    picked = [d for d in order if d in days]
    if picked and picked == list(order[order.index(picked[0]) : order.index(picked[-1]) + 1]):
        return f"{picked[0].title()}–{picked[-1].title()}"
    return ", ".join(d.title() for d in picked)


# --- the requests behind a count -----------------------------------------------------------------


@router.get("/pendency/requests", response_class=HTMLResponse)
def pendency_requests(
    request: Request,
    user: Supervisor,
    session: ReadSessionDep,
    clock: ClockDep,
    chosen: ChosenDep,
    page: Annotated[int, Query(ge=1, le=2**31 - 1)] = 1,
) -> Response:
    now = clock.now()
    m = pendency.moment(session=session, state_code=user.state_code, now=now)
    known = pendency.names(session=session, state_code=user.state_code)
    found = pendency.find(
        session=session,
        state_code=user.state_code,
        filters=chosen.filters,
        now=now,
        page=page,
        m=m,
        known=known,
    )
    context = {
        **_common(session, user.state_code, m, known, chosen),
        "page": found,
        "narrowed": _narrowed(chosen, known),
        "page_url": lambda n: chosen.url("/pendency/requests", page=n),
        "left_text": left_text,
    }
    return templates.TemplateResponse(request, "pendency/requests.html", context)


@dataclass(frozen=True)
class Narrowing:
    """One filter in force, said in words, with the link that drops it."""

    label: str
    value: str
    without: str


def _narrowed(chosen: Chosen, known: Names) -> list[Narrowing]:
    f = chosen.filters
    said: list[tuple[str, str, str]] = []
    if f.district_id is not None:
        said.append(("district", "District", _name(known.districts, f.district_id)))
    if f.block_id is not None:
        said.append(("block", "Block", _name(known.blocks, f.block_id)))
    if f.service_id is not None:
        said.append(("service", "Service", _name(known.services, f.service_id)))
    if f.agent_id is not None:
        agent = "unassigned" if f.agent_id == query.UNASSIGNED else None
        said.append(("agent", "Agent", agent or _name(known.agents, f.agent_id)))
    if f.band is not None:
        said.append(("band", "Waiting", f.band.label))
    if f.legal is not None:
        said.append(("legal", "Legal time limit", f.legal.label))
    if f.promise is not None:
        said.append(("promise", "Promised window", f.promise.label))
    return [
        Narrowing(label, value, chosen.url("/pendency/requests", **{param: None}))
        for param, label, value in said
    ]


def _name(items: dict[int, pendency.Named], key: int) -> str:
    found = items.get(key)
    return found.name if found else f"#{key} (not of this state)"


def left_text(days: int | None) -> str:
    """Working days to the due date, in words."""
    if days is None:
        return "no time limit"
    if days < 0:
        return f"{-days} working day{'s' if days != -1 else ''} late"
    if days == 0:
        return "due today"
    return f"{days} working day{'s' if days != 1 else ''} left"


# --- exports -----------------------------------------------------------------------------------

TableName = Annotated[str, Path(max_length=16)]


@router.get("/pendency/export/{table}.csv")
def pendency_export(
    user: Supervisor, session: ReadSessionDep, clock: ClockDep, chosen: ChosenDep, table: TableName
) -> Response:
    if table not in TABLES:
        raise NotFound("table", table)
    now = clock.now()
    m = pendency.moment(session=session, state_code=user.state_code, now=now)
    known = pendency.names(session=session, state_code=user.state_code)
    filename = f"pendency-{table}-{m.today.isoformat()}.csv"
    if table in DIMENSION_OF:
        dimension = DIMENSION_OF[table]
        rows = pendency.tallies(
            session=session,
            state_code=user.state_code,
            dimension=dimension,
            filters=chosen.filters,
            now=now,
            m=m,
            known=known,
        )
        header, cells = _tally_csv(dimension, rows)
        return csv_response(filename, header, cells)
    if table == "weeks":
        weeks = pendency.weekly_rates(
            session=session, state_code=user.state_code, filters=chosen.filters, now=now, m=m
        )
        return csv_response(filename, WEEK_HEADER, [_week_cells(w) for w in weeks])
    found = pendency.find(
        session=session,
        state_code=user.state_code,
        filters=chosen.filters,
        now=now,
        per_page=None,
        m=m,
        known=known,
    )
    local = LocalTime(m.tz)
    return csv_response(filename, REQUEST_HEADER, [_request_cells(r, local) for r in found.rows])


def _tally_csv(dimension: Dimension, rows: Sequence[Tally]) -> tuple[list[str], list[list[object]]]:
    with_district = dimension in (Dimension.BLOCK, Dimension.AGENT)
    header = [HEADINGS[dimension], *(["District"] if with_district else [])]
    header += [band.label for band in AGE_BANDS]
    header += ["Open", *[s.label.capitalize() for s in LEGAL_ORDER]]
    header += [f"Promise {s.label}" for s in PROMISE_ORDER]
    cells: list[list[object]] = []
    for t in rows:
        line: list[object] = [t.name, *([t.district] if with_district else [])]
        line += [t.bands[band.key] for band in AGE_BANDS]
        line += [t.total, *[t.legal[s] for s in LEGAL_ORDER]]
        line += [t.promise[s] for s in PROMISE_ORDER]
        cells.append(line)
    return header, cells


WEEK_HEADER = [
    "Week starting",
    "Completed",
    "With a time limit",
    "Within the time limit",
    "Within the time limit (%)",
    "With a window and an arrival",
    "Arrived by the window's end",
    "Arrived by the window's end (%)",
]


def _week_cells(w: WeekRate) -> list[object]:
    return [
        w.week.isoformat(),
        w.completed,
        w.legal_counted,
        w.legal_on_time,
        w.legal_rate,
        w.promise_counted,
        w.promise_kept,
        w.promise_rate,
    ]


REQUEST_HEADER = [
    "Reference",
    "Service",
    "District",
    "Block",
    "Village",
    "Agent",
    "Status",
    "Applied on",
    "Days waiting",
    "Age band",
    "Due date",
    "Working days left",
    "Legal time limit",
    "Window",
    "Planned arrival",
    "Promised window",
]


def _request_cells(r: pendency.Row, local: LocalTime) -> list[object]:
    return [
        r.reference,
        r.service_name,
        r.district_name,
        r.block_name,
        r.village_name,
        r.agent_name or "",
        r.status.value.replace("_", " "),
        r.application_day.isoformat(),
        r.age_days,
        r.band.label,
        r.due_date.isoformat() if r.due_date else "",
        r.working_days_left,
        r.legal.label,
        local.window(r.window_start, r.window_end) if r.window_start else "",
        local.when(r.planned_arrival) if r.planned_arrival else "",
        r.promise.label,
    ]
