"""The fees pages (permission: supervise): what each agent should have taken, took and says
they hold, day by day, and the days a supervisor must look at.

- `GET /fees` — filters as a GET form (first and last local day, by default the last 7;
  district; flagged days only); the totals; a chart of the cash and UPI collected per day
  (stacked bars drawn on the server) with its numbers in a table; one row per agent and day
  with expected, cash, UPI, refunded, outstanding, declared and the flags, a flagged row marked
  by colour and by word. A filter that cannot be read is said next to its field (422), the
  form keeping what was typed.
- `GET /fees/{agent_id}/{day}` — one agent-day: its sums, its flags with their reasons, each
  visit closed that day (and any other request the agent took money for), the ledger entries,
  every declaration of the day, and the form a supervisor fills in when the agent hands the
  money over.
- `POST /fees/{agent_id}/{day}/handover` — records that count as the day's declaration (actor
  `staff:<username>`, audited); a form sent twice records once (a key drawn with the page);
  amounts typed in rupees, refused with a reason next to the field (422) and the form kept.
- `GET /fees/export/days.csv`, `/fees/export/collected.csv` (the two tables of `/fees`, same
  filters), `/fees/export/{agent_id}/{day}.csv` (the entries) and
  `/fees/export/{agent_id}/{day}/visits.csv` (the visits) — CSV downloads (`web.export`).

No citizen's name or phone appears: requests are named by their reference.
Not here: the arithmetic (`dispatch.ledger.reconcile`), the reading (`dispatch.ledger.days`),
the agents' own declarations (`web.agent_day`).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from dispatch.agents.models import Agent
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.geography.models import District
from dispatch.ledger import days as fee_days
from dispatch.ledger import reconcile
from dispatch.ledger import service as ledger_service
from dispatch.ledger.rules import MOST_DECLARED_PAISE
from dispatch.money import paise_of
from dispatch.ports import Clock
from dispatch.staff.models import StaffUser
from dispatch.staff.service import actor_of
from dispatch.states import service as state_service
from ivr.deps import get_clock
from web import charts
from web.auth import Supervisor
from web.deps import ReadSessionDep, WriteSessionDep
from web.export import csv_response, paise_cell
from web.templating import rupees, templates

router = APIRouter()

ClockDep = Annotated[Clock, Depends(get_clock)]
AgentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DateText = Annotated[str, Query(max_length=20)]
IdChoice = Annotated[str, Query(max_length=9, pattern=r"^\d*$")]

#: The span shown when none is chosen: the last week, today included.
DEFAULT_DAYS = 7
#: Labels under the chart's bars at most (a longer span labels every few days).
MOST_CHART_LABELS = 14
MOST_NOTE_CHARS = 200


@dataclass(frozen=True)
class Local:
    """Times and days as the pages show them, in the state's zone."""

    tz: ZoneInfo

    def time(self, at: dt.datetime | None) -> str:
        return f"{at.astimezone(self.tz):%H:%M}" if at else "—"

    def when(self, at: dt.datetime | None) -> str:
        return f"{at.astimezone(self.tz):%a %d %b, %H:%M}" if at else "—"

    @staticmethod
    def day(day: dt.date) -> str:
        return f"{day:%a %d %b %Y}"

    @staticmethod
    def short(day: dt.date) -> str:
        return f"{day:%a %d %b}"


def who(actor: str) -> str:
    """Who recorded something, as the pages name them: "agent", or the staff username."""
    if actor.startswith("agent:"):
        return "the agent"
    return actor.removeprefix("staff:")


def _zone(session: Session, state_code: str) -> ZoneInfo:
    return ZoneInfo(state_service.get(session=session, code=state_code).timezone)


def _today(session: Session, user: StaffUser, clock: Clock) -> tuple[dt.date, ZoneInfo]:
    tz = _zone(session, user.state_code)
    return clock.now().astimezone(tz).date(), tz


# --- the filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    first: dt.date
    last: dt.date
    district_id: int | None
    flagged: bool

    def query(self, **change: Any) -> str:
        values = {
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "district": str(self.district_id or ""),
            "flagged": "on" if self.flagged else "",
            **change,
        }
        return urlencode({k: v for k, v in values.items() if v})


def _read_day(text: str, field: str, default: dt.date, errors: dict[str, str]) -> dt.date:
    if not text.strip():
        return default
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        errors[field] = "a date like 2026-12-01"
        return default


def _filters(
    first: str, last: str, district: str, flagged: str, today: dt.date, districts: list[District]
) -> tuple[Filters, dict[str, str]]:
    """The filters as typed, and a message per field that cannot be used."""
    errors: dict[str, str] = {}
    last_day = _read_day(last, "last", today, errors)
    first_day = _read_day(first, "first", last_day - dt.timedelta(days=DEFAULT_DAYS - 1), errors)
    if not errors:
        if last_day < first_day:
            errors["last"] = "the last day is before the first"
        elif (last_day - first_day).days + 1 > fee_days.MOST_DAYS:
            errors["last"] = f"at most {fee_days.MOST_DAYS} days at once"
    district_id = int(district) if district else None
    if district_id is not None and district_id not in {d.id for d in districts}:
        errors["district"] = "not a district of this state"
    return Filters(first_day, last_day, district_id, flagged == "on"), errors


@dataclass(frozen=True)
class Table:
    rows: list[fee_days.FeeDay]
    totals: reconcile.Totals
    per_day: list[reconcile.DayCollected]


def _table(session: Session, user: StaffUser, filters: Filters, today: dt.date) -> Table:
    rows = fee_days.fee_days(
        session=session,
        state_code=user.state_code,
        first=filters.first,
        last=filters.last,
        today=today,
        district_id=filters.district_id,
    )
    per_day = reconcile.collected_per_day([r.money for r in rows], filters.first, filters.last)
    if filters.flagged:
        rows = [r for r in rows if r.money.flags]
    return Table(rows, reconcile.totals(r.money for r in rows), per_day)


def _chart(per_day: Sequence[reconcile.DayCollected]) -> Any:
    """Cash and UPI per day, stacked, in rupees; a long span labels every few days."""
    step = max(1, math.ceil(len(per_day) / MOST_CHART_LABELS))
    labels = [f"{d.day:%d %b}" if n % step == 0 else "" for n, d in enumerate(per_day)]
    total = sum(d.total_paise for d in per_day)
    return charts.bars(
        title="Cash and UPI collected, ₹ per day",
        labels=labels,
        series={
            "Cash": [d.cash_paise / 100 for d in per_day],
            "UPI": [d.upi_paise / 100 for d in per_day],
        },
        description=(
            f"Cash and UPI collected per day from {per_day[0].day:%d %b} to "
            f"{per_day[-1].day:%d %b}, {rupees(total)} in all; the numbers are in the table "
            "beside the chart."
            if per_day
            else "Nothing collected."
        ),
        stacked=True,
    )


# --- the list -------------------------------------------------------------------------------


@router.get("/fees", response_class=HTMLResponse)
def fees_page(
    request: Request,
    user: Supervisor,
    session: ReadSessionDep,
    clock: ClockDep,
    first: DateText = "",
    last: DateText = "",
    district: IdChoice = "",
    flagged: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    today, tz = _today(session, user, clock)
    districts = geography_service.districts(session=session, state_code=user.state_code)
    filters, errors = _filters(first, last, district, flagged, today, districts)
    context: dict[str, Any] = {
        "form": {"first": first, "last": last, "district": district, "flagged": flagged == "on"},
        "errors": errors,
        "districts": districts,
        "filters": filters,
        "today": today,
        "local": Local(tz),
        "who": who,
        "table": None,
        "chart": None,
    }
    if not errors:
        table = _table(session, user, filters, today)
        context.update(
            table=table,
            chart=_chart(table.per_day),
            query=filters.query(),
            district_name=next((d.name for d in districts if d.id == filters.district_id), ""),
        )
    status = 422 if errors else 200
    return templates.TemplateResponse(request, "fees/index.html", context, status_code=status)


def _filtered(
    session: Session,
    user: StaffUser,
    clock: Clock,
    first: str,
    last: str,
    district: str,
    flagged: str,
) -> tuple[Filters, Table]:
    """The table of `/fees` for an export (a filter that cannot be read: 422)."""
    today, _tz = _today(session, user, clock)
    districts = geography_service.districts(session=session, state_code=user.state_code)
    filters, errors = _filters(first, last, district, flagged, today, districts)
    if errors:
        field, reason = next(iter(errors.items()))
        typed = {"first": first, "last": last, "district": district}
        raise InvalidInput(field, typed.get(field, ""), reason)
    return filters, _table(session, user, filters, today)


def _span(filters: Filters) -> str:
    return f"{filters.first.isoformat()}-to-{filters.last.isoformat()}"


@router.get("/fees/export/days.csv")
def export_days(
    user: Supervisor,
    session: ReadSessionDep,
    clock: ClockDep,
    first: DateText = "",
    last: DateText = "",
    district: IdChoice = "",
    flagged: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    filters, table = _filtered(session, user, clock, first, last, district, flagged)
    header = [
        "Day",
        "Agent",
        "CSC ID",
        "District",
        "Visits completed",
        "Visits closed",
        "Expected (Rs)",
        "Cash (Rs)",
        "UPI (Rs)",
        "Refunded (Rs)",
        "Net (Rs)",
        "Outstanding (Rs)",
        "Over-collected (Rs)",
        "Declared cash (Rs)",
        "Declared UPI (Rs)",
        "Declared by",
        "Flags",
    ]
    rows = []
    for r in table.rows:
        m, declared = r.money, r.money.declared
        rows.append(
            [
                m.day.isoformat(),
                r.agent.name,
                r.agent.csc_id,
                r.agent.district,
                m.completed,
                m.closed,
                paise_cell(m.expected_paise),
                paise_cell(m.cash_paise),
                paise_cell(m.upi_paise),
                paise_cell(m.refunded_paise),
                paise_cell(m.net_paise),
                paise_cell(m.outstanding_paise),
                paise_cell(m.over_paise),
                paise_cell(declared.cash_paise) if declared else "",
                paise_cell(declared.upi_paise) if declared else "",
                who(declared.actor) if declared else "",
                "; ".join(f"{f.kind.label}: {f.reason}" for f in m.flags),
            ]
        )
    return csv_response(f"fees-{_span(filters)}.csv", header, rows)


@router.get("/fees/export/collected.csv")
def export_collected(
    user: Supervisor,
    session: ReadSessionDep,
    clock: ClockDep,
    first: DateText = "",
    last: DateText = "",
    district: IdChoice = "",
    flagged: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    filters, table = _filtered(session, user, clock, first, last, district, flagged)
    rows = [
        [
            d.day.isoformat(),
            paise_cell(d.cash_paise),
            paise_cell(d.upi_paise),
            paise_cell(d.total_paise),
        ]
        for d in table.per_day
    ]
    return csv_response(
        f"fees-collected-{_span(filters)}.csv", ["Day", "Cash (Rs)", "UPI (Rs)", "Total (Rs)"], rows
    )


# --- one agent's day ------------------------------------------------------------------------


def _agent_day(
    session: Session, user: StaffUser, agent_id: int, day: dt.date, today: dt.date
) -> fee_days.AgentDayDetail:
    """The agent-day, if the agent is of the supervisor's state (else the same 404 as none)."""
    agent = session.get(Agent, agent_id)
    if agent is None or agent.state_code != user.state_code:
        raise NotFound("agent", agent_id)
    return fee_days.agent_day(session=session, agent_id=agent_id, day=day, today=today)


def _detail_context(
    session: Session, user: StaffUser, clock: Clock, agent_id: int, day: dt.date
) -> dict[str, Any]:
    today, tz = _today(session, user, clock)
    detail = _agent_day(session, user, agent_id, day, today)
    flags_of: dict[str, list[reconcile.Flag]] = {}
    for flag in detail.money.flags:
        if flag.reference:
            flags_of.setdefault(flag.reference, []).append(flag)
    return {
        "d": detail,
        "m": detail.money,
        "flags_of": flags_of,
        "day_flags": [f for f in detail.money.flags if not f.reference],
        "today": today,
        "may_record": day <= today,
        "local": Local(tz),
        "who": who,
        "key": str(uuid.uuid4()),
        "form": {"cash": "", "upi": "", "note": ""},
        "errors": {},
        "notice": "",
        "back": Filters(day, day, None, False).query(),
    }


@router.get("/fees/{agent_id}/{day}", response_class=HTMLResponse)
def agent_day_page(
    request: Request,
    agent_id: AgentId,
    day: dt.date,
    user: Supervisor,
    session: ReadSessionDep,
    clock: ClockDep,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    context = _detail_context(session, user, clock, agent_id, day)
    latest: reconcile.Declared | None = context["m"].declared
    if done == "handover" and latest is not None:
        context["notice"] = (
            f"Recorded: cash {rupees(latest.cash_paise)}, UPI {rupees(latest.upi_paise)} "
            "handed over. It now counts as the day's declaration."
        )
    return templates.TemplateResponse(request, "fees/agent_day.html", context)


def _handover_key(key: str) -> str:
    try:
        parsed = uuid.UUID(key)
    except ValueError:
        raise InvalidInput("key", key, "reload the page and try again") from None
    return f"console:handover:{parsed}"


@router.post("/fees/{agent_id}/{day}/handover", response_class=HTMLResponse)
def record_handover(
    request: Request,
    agent_id: AgentId,
    day: dt.date,
    user: Supervisor,
    session: WriteSessionDep,
    clock: ClockDep,
    cash: Annotated[str, Form(max_length=40)] = "",
    upi: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    key: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    """The money the agent handed over, counted by the supervisor: the day's declaration."""
    today, _tz = _today(session, user, clock)
    _agent_day(session, user, agent_id, day, today)  # 404 before anything is read
    errors: dict[str, str] = {}
    amounts: dict[str, int] = {}
    for field, typed in (("cash", cash), ("upi", upi)):
        try:
            amounts[field] = paise_of(typed, field=field, most=MOST_DECLARED_PAISE)
        except InvalidInput as exc:
            errors[field] = exc.reason
    if not errors and not (cash.strip() or upi.strip()):
        errors["cash"] = "type the cash handed over (0 if none), and the UPI"
    if len(note.strip()) > MOST_NOTE_CHARS:
        errors["note"] = f"at most {MOST_NOTE_CHARS} characters"
    if not errors:
        try:
            ledger_service.declare(
                session=session,
                agent_id=agent_id,
                day=day,
                cash_paise=amounts["cash"],
                upi_paise=amounts["upi"],
                actor=actor_of(user),
                note=note,
                today=today,
                idempotency_key=_handover_key(key),
                now=clock.now(),
            )
        except InvalidInput as exc:  # a day still to come, a note too long
            named = {"cash_paise": "cash", "upi_paise": "upi", "note": "note"}
            errors[named.get(exc.field, "form")] = exc.reason
    if errors:
        context = _detail_context(session, user, clock, agent_id, day)
        context.update(
            form={"cash": cash, "upi": upi, "note": note},
            errors=errors,
            key=key if _key_ok(key) else context["key"],
        )
        return templates.TemplateResponse(request, "fees/agent_day.html", context, status_code=422)
    return RedirectResponse(f"/fees/{agent_id}/{day.isoformat()}?done=handover", status_code=303)


def _key_ok(key: str) -> bool:
    try:
        uuid.UUID(key)
    except ValueError:
        return False
    return True


@router.get("/fees/export/{agent_id}/{day}.csv")
def export_entries(
    agent_id: AgentId, day: dt.date, user: Supervisor, session: ReadSessionDep, clock: ClockDep
) -> Response:
    today, tz = _today(session, user, clock)
    detail = _agent_day(session, user, agent_id, day, today)
    rows = [
        [
            f"{e.at.astimezone(tz):%Y-%m-%d %H:%M}",
            e.reference,
            e.kind.value,
            e.method.value if e.method else "",
            paise_cell(e.amount_paise),
            e.upi_reference or "",
            who(e.actor),
        ]
        for e in detail.entries
    ]
    return csv_response(
        f"fees-{detail.agent.csc_id}-{day.isoformat()}-entries.csv",
        ["Time", "Reference", "Kind", "Method", "Amount (Rs)", "UPI reference", "Recorded by"],
        rows,
    )


@router.get("/fees/export/{agent_id}/{day}/visits.csv")
def export_visits(
    agent_id: AgentId, day: dt.date, user: Supervisor, session: ReadSessionDep, clock: ClockDep
) -> Response:
    today, tz = _today(session, user, clock)
    detail = _agent_day(session, user, agent_id, day, today)
    flags = {f.reference: f for f in detail.money.flags if f.reference}
    rows = [
        [
            v.money.reference,
            v.service,
            v.status.value,
            f"{v.closed_at.astimezone(tz):%Y-%m-%d %H:%M}" if v.closed_at else "",
            paise_cell(v.money.expected_paise),
            paise_cell(v.money.collected_paise),
            paise_cell(v.money.refunded_paise),
            paise_cell(v.money.outstanding_paise),
            paise_cell(v.money.over_paise),
            flags[v.money.reference].reason if v.money.reference in flags else "",
        ]
        for v in detail.visits
    ]
    return csv_response(
        f"fees-{detail.agent.csc_id}-{day.isoformat()}-visits.csv",
        [
            "Reference",
            "Service",
            "Status",
            "Closed at",
            "Expected (Rs)",
            "Collected (Rs)",
            "Refunded (Rs)",
            "Outstanding (Rs)",
            "Over-collected (Rs)",
            "Flag",
        ],
        rows,
    )
